#pragma once
// The data preamble every training command shares (finetune, pretrain): the dataset from the
// config, its resolved options written back into the saved config, the patient-level split, the
// preprocessing cache and the train/eval loader options on the resolved device. Internal to app/.
#include <c10/core/Device.h>

#include <memory>

#include "cardiotorch/app/experiment.h"
#include "cardiotorch/core/config.h"
#include "cardiotorch/data/cache.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/data/split.h"
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

/// `saved` is the resolved experiment config; its data.dataset gains the dataset's full options
/// (ConfigNode is a handle: the caller's config changes), so the run's config.yaml records them.
TrainingData prepare_training_data(ConfigNode saved, const ExperimentOptions& opts);

}  // namespace cardiotorch::app
