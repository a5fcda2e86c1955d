#include "app/training_data.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/progress.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/train/trainer.h"

namespace cardiotorch::app {

namespace {
TrainingData prepare_training_data_local(ConfigNode saved, const ExperimentOptions& opts);
}

DistRun start_distributed(const ExperimentOptions& opts) {
  DistRun d;
  d.env = dist::env_from_process();
  if (!d.env.distributed()) return d;
  // Ranks on one machine share its cores: each takes its share unless told otherwise
  // (torchrun exports OMP_NUM_THREADS=1).
  const char* omp = std::getenv("OMP_NUM_THREADS");
  const bool cli_threads = thread_budget().cores != split_threads(0).cores;
  if (opts.threads == 0 && !cli_threads) {
    if (omp && *omp && std::atoi(omp) > 0) set_num_threads(std::atoi(omp));
    else set_thread_budget(dist::rank_threads(split_threads(0).cores, d.env.local_world_size));
  }
  if (!d.env.is_main()) {
    if (log_level() < LogLevel::kWarn) set_log_level(LogLevel::kWarn);
    ProgressBar::set_enabled(false);
  }
  d.group = dist::ProcessGroup::create(d.env, opts.dist);
  CT_LOG_INFO("distributed: ", d.env.describe(), ", backend ", d.group->backend(), ", ", num_threads(),
              " intra-op thread(s) per rank");
  return d;
}

TrainingData prepare_training_data(ConfigNode saved, const ExperimentOptions& opts, const DistRun& dist) {
  const auto setup_timeout = std::chrono::milliseconds(static_cast<int64_t>(opts.dist.setup_timeout_s * 1000));
  // Rank 0 first: it builds the preprocessed cache that the others then open.
  if (dist.group && !dist.is_main()) dist.group->barrier(setup_timeout);
  TrainingData td = prepare_training_data_local(saved, opts);
  if (dist.group && dist.is_main()) dist.group->barrier(setup_timeout);
  if (dist.group) {
    td.train_opts.rank = dist.group->rank();
    td.train_opts.world_size = dist.group->world_size();
    // One GPU per local rank.
    if (td.device.is_cuda()) {
      td.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(dist.env.local_rank));
      td.train_opts.device = td.eval_opts.device = td.device.str();
    }
  }
  return td;
}

namespace {

TrainingData prepare_training_data_local(ConfigNode saved, const ExperimentOptions& opts) {
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

}  // namespace

void truncate_metrics_log(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::ostringstream kept;
  std::string line;
  int64_t dropped = 0;
  while (std::getline(in, line)) {
    try {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() > step) {
        ++dropped;
        continue;
      }
    } catch (const std::exception&) {
      ++dropped;  // a line cut by the kill
      continue;
    }
    kept << line << '\n';
  }
  in.close();
  if (dropped == 0) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << kept.str();
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace cardiotorch::app
