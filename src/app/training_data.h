#pragma once
// The data preamble every training command shares (finetune, pretrain): the dataset from the
// config, its resolved options written back into the saved config, the patient-level split, the
// preprocessing cache and the train/eval loader options on the resolved device. Internal to app/.
#include <c10/core/Device.h>

#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/app/experiment.h"
#include "cardiotorch/core/config.h"
#include "cardiotorch/core/run_dir.h"
#include "cardiotorch/data/cache.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/data/split.h"
#include "cardiotorch/dist/env.h"
#include "cardiotorch/dist/process_group.h"
#include "cardiotorch/signal/pipeline.h"
#include "cardiotorch/train/callbacks.h"
#include "cardiotorch/train/optim.h"
#include "cardiotorch/train/schedule.h"
#include "cardiotorch/train/trainer.h"
#include "cardiotorch/weights/save.h"

namespace cardiotorch::app {

struct TrainingData {
  std::shared_ptr<const data::Dataset> dataset;
  data::Split split;
  signal::Pipeline augment;
  std::shared_ptr<data::CachedDataset> cached;  ///< the dataset through the preprocessing cache
  c10::Device device{c10::kCPU};
  data::LoaderOptions train_opts;  ///< training: augmentation, shuffling
  data::LoaderOptions eval_opts;   ///< evaluation: in order, no augmentation, no dropped batch
};

/// The job's ranks, from a launcher's environment (cardiotorch launch, torchrun, srun).
struct DistRun {
  dist::DistEnv env;
  dist::ProcessGroupPtr group;  ///< null: one process
  bool is_main() const { return env.rank == 0; }
};

/// Reads the environment; with several ranks it creates the process group, gives each rank its
/// share of the machine's cores (unless `threads:`, --threads or OMP_NUM_THREADS say otherwise)
/// and keeps ranks other than 0 to warnings and errors, without progress bars.
DistRun start_distributed(const ExperimentOptions& opts);

/// Drops metrics.jsonl records of steps after `step` (a killed run logged past its last
/// checkpoint; the resumed run logs those steps again), and lines the kill cut short.
void truncate_metrics_log(const std::string& path, int64_t step);

/// `saved` is the resolved experiment config; its data.dataset gains the dataset's full options
/// (ConfigNode is a handle: the caller's config changes), so the run's config.yaml records them.
/// With several ranks, rank 0 goes first (it builds the preprocessed cache) while the others
/// wait at a barrier (dist.setup_timeout_s), and the train loader shards by rank.
TrainingData prepare_training_data(ConfigNode saved, const ExperimentOptions& opts, const DistRun& dist = {});

/// The process-wide settings of the experiment (threads:, deterministic:, seed:), applied before
/// anything random or parallel runs.
void apply_runtime_options(const ExperimentOptions& opts);

/// The loader over the validation part, sharded like the training loader (each rank evaluates
/// its share, rank 0 the metrics of the gathered outputs: train::evaluate); null when the split
/// has no validation part.
std::unique_ptr<data::Loader> make_val_loader(const TrainingData& td);

struct Optimization {
  train::OptimizerPtr optimizer;
  train::LrSchedulePtr schedule;
  int64_t steps_per_epoch = 1;  ///< optimizer steps per epoch (batches / accumulate, rounded up)
  int64_t total_steps = 0;      ///< train.steps, else train.epochs x steps_per_epoch
  int64_t effective_batch = 1;  ///< batch x accumulate x world size
};

/// The optimizer (optimizer:) over `params` of `model`, and its schedule (scheduler:) over the
/// run's steps; `batches_per_epoch` is the training loader's (train::epoch_batches).
Optimization build_optimization(const ExperimentOptions& opts, const std::vector<train::NamedParam>& params,
                                const torch::nn::Module* model, int64_t batches_per_epoch,
                                const data::LoaderOptions& train_opts);

/// The checkpoint a run resumes from; an empty path: a fresh run.
struct ResumePoint {
  std::string path;
  weights::CheckpointData checkpoint;
};

/// `resume` is the request's --resume: "" (a fresh run), "auto" (the latest checkpoint in
/// `run_dir`) or a checkpoint or run directory. The checkpoint is checked against the resolved
/// config `saved` before anything is written; rank 0 drops the metrics logged past it.
/// A fresh run never mixes with an old one in the same directory (its checkpoints would outrank
/// the new ones, its metrics.jsonl records would interleave): an old run is refused, or with
/// `overwrite` rank 0 removes its `outputs` (names in `run_dir`).
ResumePoint resume_or_start(const std::string& resume, bool allow_version_mismatch, bool overwrite,
                            const std::string& run_dir, const ConfigNode& saved, bool main_rank,
                            const std::vector<std::string>& outputs);

/// The trainer context as every training command fills it, but for what it trains (model,
/// objective, optimizer, schedule, loaders, metrics, sections). `run` is rank 0's run directory
/// (null on the other ranks: they write no checkpoint).
train::TrainContext make_train_context(const ExperimentOptions& opts, const ConfigNode& saved, const TrainingData& td,
                                       const DistRun& dist, RunDir* run);

/// Early stopping (train.patience, with a validation set) and, on rank 0 (`run` not null), the
/// run logger.
std::vector<train::CallbackPtr> standard_callbacks(const ExperimentOptions& opts, bool has_val,
                                                   const std::string& run_dir, RunDir* run);

}  // namespace cardiotorch::app
