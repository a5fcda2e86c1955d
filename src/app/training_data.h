#pragma once
// The data preamble every training command shares (finetune, pretrain): the dataset from the
// config, its resolved options written back into the saved config, the patient-level split, the
// preprocessing cache and the train/eval loader options on the resolved device. Internal to app/.
#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "cardiotorch/app/experiment.h"
#include "cardiotorch/core/config.h"
#include "cardiotorch/data/cache.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/data/split.h"
#include "cardiotorch/dist/env.h"
#include "cardiotorch/dist/process_group.h"
#include "cardiotorch/signal/pipeline.h"

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

}  // namespace cardiotorch::app
