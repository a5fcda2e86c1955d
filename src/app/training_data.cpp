#include "app/training_data.h"

#include "cardiotorch/core/error.h"
#include "cardiotorch/train/trainer.h"

namespace cardiotorch::app {

TrainingData prepare_training_data(ConfigNode saved, const ExperimentOptions& opts) {
  TrainingData td;
  td.dataset = data::build_dataset(saved["data"]["dataset"]);
  const data::DatasetInfo& dinfo = td.dataset->info();
  {
    ConfigNode full = ConfigNode::map();
    full.set("name", ConfigNode::string(dinfo.name));
    full.merge(ConfigNode::parse(dinfo.config, "dataset options"));
    ConfigNode data_node = saved["data"];
    data_node.set("dataset", full);
  }
  CT_CHECK(td.dataset->size() > 0, DataError, saved["data"]["dataset"].where(), ": the dataset has no items");
  td.split = data::make_split(*td.dataset, opts.data.split);
  CT_CHECK(!td.split.train.empty(), ConfigError, "data.split: the training part is empty");
  const signal::Pipeline preprocess = signal::Pipeline::from_config(saved["preprocess"]);
  td.augment = signal::Pipeline::from_config(saved["augment"]);
  td.cached =
      std::make_shared<data::CachedDataset>(td.dataset, preprocess, saved["preprocess"].to_yaml(), opts.data.cache);

  td.device = train::resolve_device(opts.train.device);
  td.train_opts = opts.data.loader;
  td.train_opts.training = true;
  td.train_opts.device = td.device.str();
  td.eval_opts = td.train_opts;
  td.eval_opts.training = false;
  td.eval_opts.shuffle = false;
  td.eval_opts.drop_last = false;
  return td;
}

}  // namespace cardiotorch::app
