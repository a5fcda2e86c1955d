#pragma once
// `cardiotorch pretrain --config F [--resume [RUN|CKPT]] [--overwrite] [--set k=v]`: trains a
// model with a self-supervised objective (ssl/: mae, ...) on a dataset's signals, labels unused.
//
// The run directory <output_dir>/<name> holds config.yaml, run.log, metrics.jsonl,
// tensorboard/, checkpoints/{step-*,last,best}.safetensors (the whole training state: exact
// resume), plots/reconstruction_epoch<N>.{svg,png} (reconstructing objectives, every
// pretrain.plot_every epochs) and, at the end, encoder.safetensors: the downstream encoder
// alone under the names the encoder model loads by, so
//   cardiotorch finetune --config F --init runs/<name>/encoder.safetensors
// starts from it (model vit_patchx or ecg_classifier for the MAE's ViT).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/train/trainer.h"

namespace cardiotorch::app {

struct PretrainRequest {
  std::string config_file;
  std::vector<std::string> overrides;  ///< --set a.b=c
  std::string resume;                  ///< --resume RUN_DIR|CKPT|auto ("" = a fresh run)
  bool overwrite = false;              ///< replace a previous run in the same run directory
  bool allow_version_mismatch = false;
  const ConfigNode* config = nullptr;  ///< already-resolved experiment config; overrides config_file when set
  int64_t max_steps = 0;               ///< > 0 caps the run, for smoke tests
};

struct PretrainResult {
  std::string run_dir;
  /// False on ranks other than 0 of a multi-process run: they train, rank 0 writes and reports
  /// (the other fields are then left empty), so only rank 0 prints a summary.
  bool main_rank = true;
  std::string last_checkpoint;
  /// A safetensors of the downstream encoder alone, names as `finetune --init` expects ("" when
  /// pretrain.export_encoder is off).
  std::string encoder_checkpoint;
  train::TrainState state;
  /// Last logged values: training "loss", "ncc", "mse", ... and validation "val/loss", "val/ncc", ...
  std::map<std::string, double> final;
  std::vector<std::string> reconstruction_plots;  ///< in epoch order
};

PretrainResult pretrain(const PretrainRequest& request);

}  // namespace cardiotorch::app
