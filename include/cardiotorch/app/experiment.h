#pragma once
// The top-level experiment configuration: what a YAML file under configs/ maps onto.
// Every section is typed (unknown keys are errors); registry-built sections (pipeline
// steps, datasets) are checked by building their options.
#include <cstdint>
#include <string>

#include "cardiotorch/core/config.h"
#include "cardiotorch/data/cache.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/data/split.h"
#include "cardiotorch/dist/process_group.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/train/metric_set.h"
#include "cardiotorch/train/objective.h"
#include "cardiotorch/train/optim.h"
#include "cardiotorch/train/schedule.h"
#include "cardiotorch/train/trainer.h"
#include "cardiotorch/weights/loader.h"

namespace cardiotorch {

/// The `data:` section: which dataset, how to split it, how to cache and load it.
struct DataSection {
  ConfigNode dataset;          // {name: cinc2021, root: ..., ...}: see `cardiotorch list dataset`
  data::SplitOptions split;    // seed defaults to the experiment seed
  data::CacheOptions cache;    // where preprocessed shards live (dir is required)
  data::LoaderOptions loader;  // seed defaults to the experiment seed

  template <class V>
  void fields(V& v) {
    v("dataset", dataset, "dataset adapter: {name: ..., root: ..., options}");
    v("split", split, "train/val/test split (patient-level, stratified, seeded)");
    v("cache", cache, "preprocessed-sample cache");
    v("loader", loader, "batching, workers, cropping");
  }
};

/// The `finetune:` section: how the model is adapted to the task.
struct FinetuneSection {
  std::string mode = "full";         ///< full | linear_probe | partial
  int64_t unfreeze_last = 1;         ///< partial: the last k blocks (and everything above them) train
  std::vector<std::string> freeze;   ///< further parameter globs kept frozen ("patch_embed.*")
  std::string sampling = "shuffle";  ///< shuffle | balanced (class-balanced draws with replacement, per epoch)
  double head_dropout = 0.0;         ///< dropout before a new head (backbones, linear probes)
  bool evaluate_best = true;         ///< evaluate the best checkpoint on the val and test splits at the end
  train::DecisionTuning decisions;   ///< per-class decision rules tuned on the val split after training

  template <class V>
  void fields(V& v) {
    v("mode", mode, "full | linear_probe (frozen encoder, BatchNorm+Linear head) | partial (last k blocks)");
    v("unfreeze_last", unfreeze_last, "partial: number of final blocks that train");
    v("freeze", freeze, "parameter name globs kept frozen, e.g. ['patch_embed.*']");
    v("sampling", sampling, "shuffle | balanced: class-balanced sampling with replacement (single-label data)");
    v("head_dropout", head_dropout, "dropout before a new head");
    v("evaluate_best", evaluate_best, "evaluate the best checkpoint on the val and test splits after training");
    v("decisions", decisions,
      "decision rules tuned on the val split after training and stored in the best checkpoint: "
      "{tune: none | f1 | youden, min_positives, max_offset}");
  }
  void validate() const;
};

/// The `pretrain:` section: what `cardiotorch pretrain` writes besides checkpoints.
struct PretrainSection {
  int64_t plot_every = 1;  ///< reconstruction plots every N epochs (0 = off)
  std::vector<std::string> plot_formats = {"svg", "png"};
  bool export_encoder = true;        ///< write <run>/encoder.safetensors at the end
  std::string export_from = "last";  ///< last | best | ema: which weights the encoder file holds

  template <class V>
  void fields(V& v) {
    v("plot_every", plot_every, "reconstruction plots (plots/reconstruction_epoch<N>.*) every N epochs (0 = off)");
    v("plot_formats", plot_formats, "formats of the reconstruction plots: svg, png");
    v("export_encoder", export_encoder,
      "write the downstream encoder alone to <run>/encoder.safetensors (finetune --init)");
    v("export_from", export_from,
      "weights of the exported encoder: last (the final step), best (the best checkpoint by train.monitor, "
      "its averaged weights when train.ema.validate), ema (the final averaged weights; needs train.ema)");
  }
  void validate() const;
};

struct ExperimentOptions {
  std::string name = "experiment";  // run name: outputs go to <output_dir>/<name>
  std::string output_dir = "runs";
  int64_t seed = 0;                  // seeds torch, data order and augmentation
  bool deterministic = false;        // deterministic ATen algorithms
  int64_t threads = 0;               // cores (loader workers + intra-op threads, core/runtime.h); 0 = all
  DataSection data;                  // dataset, split, cache and loader (see docs/data.md)
  ConfigNode preprocess;             // pipeline steps applied to every record
  ConfigNode augment;                // augmenters applied in training only
  models::ModelConfig model;         // {name: <model or backbone>, options}; validated, not built
  train::ObjectiveConfig objective;  // the loss; ~ = from the dataset's labels (multiclass, multilabel, segmentation)
  train::OptimizerConfig optimizer = train::OptimizerConfig::named("adamw");
  train::SchedulerConfig scheduler = train::SchedulerConfig::named("warmup_cosine");
  train::TrainOptions train;  // the loop: epochs/steps, accumulation, amp, EMA, validation, checkpoints
  ConfigNode metrics;         // validation metrics (names or {name: ..., options}); ~ = the task's defaults
  FinetuneSection finetune;   // mode, freezing, sampling
  weights::LoadOptions init;  // initial weights (finetune --init): path and key-matching rules
  PretrainSection pretrain;   // reconstruction plots, encoder export (cardiotorch pretrain)
  dist::DistOptions dist;     // several ranks (cardiotorch launch, torchrun, srun): backend, timeouts, buckets
  std::vector<std::string> stages = {"data", "report"};  // `cardiotorch run`: the stages, in order
  ConfigNode per_stage;  // `cardiotorch run`: per-stage sections merged over this file ({finetune: {...}})

  template <class V>
  void fields(V& v) {
    v("name", name, "run name; outputs go to <output_dir>/<name>");
    v("output_dir", output_dir, "parent directory of run directories");
    v("seed", seed, "seed for every random source (torch, data order, augmentation)");
    v("deterministic", deterministic, "use deterministic ATen algorithms");
    v("threads", threads, "cores to use, split between loader workers and intra-op threads (0 = all)");
    v("data", data, "dataset and loader options");
    v("preprocess", preprocess, "preprocessing pipeline: a list of {name: step, ...}");
    v("augment", augment, "training-time augmentation pipeline");
    v("model", model, "the network: {name: ..., options} from `cardiotorch list model` / `list backbone`");
    v("objective", objective, "training objective (~ = from the labels: multiclass, multilabel or segmentation)");
    v("optimizer", optimizer, "optimizer and its parameter groups (weight decay, layer-wise lr decay)");
    v("scheduler", scheduler, "learning-rate schedule, evaluated per optimizer step");
    v("train", train, "the training loop");
    v("metrics", metrics, "validation metrics, e.g. [f1_macro, auroc_macro] (~ = defaults for the task)");
    v("finetune", finetune, "fine-tuning mode, freezing and sampling");
    v("init", init, "initial weights: {path: ckpt, key, skip, rename, ...} (finetune --init sets path)");
    v("pretrain", pretrain, "self-supervised pretraining: reconstruction plots, encoder export");
    v("dist", dist, "multi-process training (docs/distributed.md): backend, timeouts, gradient buckets");
    v("stages", stages,
      "cardiotorch run: stages in order (`cardiotorch list stage`), e.g. [data, pretrain, finetune, report]");
    v("per_stage", per_stage,
      "cardiotorch run: sections per stage merged over the rest, e.g. {pretrain: {model: ...}}");
  }
  void validate() const;
};

/// Loads FILE (with defaults:/include: composition), applies --set overrides, validates
/// every section and returns the resolved tree (what `config show` prints and runs save).
ConfigNode resolve_experiment(const std::string& file, const std::vector<std::string>& overrides,
                              ExperimentOptions* typed = nullptr);
/// The same over an already loaded tree (a resolved config, a stage of a larger job).
ConfigNode resolve_experiment(ConfigNode root, const std::vector<std::string>& overrides,
                              ExperimentOptions* typed = nullptr);

}  // namespace cardiotorch
