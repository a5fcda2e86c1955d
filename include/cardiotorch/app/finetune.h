#pragma once
// `cardiotorch finetune --config F [--init CKPT] [--resume [RUN|CKPT]]`: trains a registered
// model (or an encoder + a new head) on a dataset's labels and evaluates the best checkpoint.
//
// The run directory <output_dir>/<name> holds config.yaml, run.log, metrics.jsonl,
// tensorboard/, plots/, checkpoints/{step-*,last,best}.safetensors and, at the end,
// eval_val/ and eval_test/ (metrics.json, per-class table, confusion matrix).
#include <map>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/train/trainer.h"

namespace cardiotorch::app {

struct FinetuneRequest {
  std::string config_file;
  std::vector<std::string> overrides;  ///< --set a.b=c
  std::string init;                    ///< --init CKPT: sets init.path
  std::string resume;                  ///< --resume RUN_DIR|CKPT ("" = a fresh run)
  bool allow_version_mismatch = false;
  bool overwrite = false;  ///< replace a previous run in the same run directory
  /// An already-loaded experiment tree (a stage of `cardiotorch run`); used instead of
  /// config_file when set (overrides still apply).
  const ConfigNode* config = nullptr;
};

struct FinetuneResult {
  std::string run_dir;
  /// False on ranks other than 0 of a multi-process run: they train, rank 0 writes and reports
  /// (the other fields are then left empty), so only rank 0 prints a summary.
  bool main_rank = true;
  std::string best_checkpoint;  ///< "" when no validation ran
  std::string last_checkpoint;
  train::TrainState state;
  std::map<std::string, double> val;   ///< metrics of the best checkpoint on the validation split
  std::map<std::string, double> test;  ///< ... on the test split (empty without one)
};

FinetuneResult finetune(const FinetuneRequest& request);

}  // namespace cardiotorch::app
