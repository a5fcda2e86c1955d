#include "app/training_data.h"

#include <algorithm>
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
#include "cardiotorch/train/checkpoint.h"
#include "cardiotorch/train/trainer.h"

namespace cardiotorch::app {

namespace {
TrainingData prepare_training_data_local(ConfigNode saved, const ExperimentOptions& opts);
}

DistRun start_distributed(const ExperimentOptions& opts) {
  DistRun d;
  d.env = dist::env_from_process();
  if (!d.env.distributed()) {
    if (!d.env.note.empty()) CT_LOG_WARN(d.env.note);
    return d;
  }
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

void apply_runtime_options(const ExperimentOptions& opts) {
  if (opts.threads > 0) set_num_threads(static_cast<int>(opts.threads));
  if (opts.deterministic) set_deterministic(true);
  manual_seed(static_cast<uint64_t>(opts.seed));
}

std::unique_ptr<data::Loader> make_val_loader(const TrainingData& td) {
  if (td.split.val.empty()) return nullptr;
  data::LoaderOptions val_opts = td.eval_opts;
  val_opts.rank = td.train_opts.rank;
  val_opts.world_size = td.train_opts.world_size;
  return std::make_unique<data::Loader>(std::make_shared<data::SubsetDataset>(td.cached, td.split.val), td.augment,
                                        val_opts);
}

Optimization build_optimization(const ExperimentOptions& opts, const std::vector<train::NamedParam>& params,
                                const torch::nn::Module* model, int64_t batches_per_epoch,
                                const data::LoaderOptions& train_opts) {
  Optimization o;
  o.steps_per_epoch = (batches_per_epoch + opts.train.accumulate - 1) / opts.train.accumulate;
  o.total_steps = opts.train.steps > 0 ? opts.train.steps : opts.train.epochs * o.steps_per_epoch;
  o.effective_batch = train_opts.batch_size * opts.train.accumulate * train_opts.world_size;
  train::OptimizerContext octx;
  octx.params = params;
  octx.module = model;
  octx.effective_batch = o.effective_batch;
  o.optimizer = train::optimizer_registry().build(opts.optimizer.node, octx);
  train::SchedulerContext sctx;
  sctx.base_lr = o.optimizer->base_lr();
  sctx.steps_per_epoch = o.steps_per_epoch;
  sctx.total_steps = std::max<int64_t>(1, o.total_steps);
  o.schedule = train::scheduler_registry().build(opts.scheduler.node, sctx);
  return o;
}

ResumePoint resume_or_start(const std::string& resume, bool allow_version_mismatch, bool overwrite,
                            const std::string& run_dir, const ConfigNode& saved, bool main_rank,
                            const std::vector<std::string>& outputs) {
  namespace fs = std::filesystem;
  ResumePoint rp;
  if (!resume.empty()) {
    rp.path = train::find_resume_checkpoint(resume == "auto" ? run_dir : resume);
    rp.checkpoint = weights::load_checkpoint(rp.path);
    train::check_resume_compatible(rp.checkpoint, rp.path, saved, allow_version_mismatch);
    const auto st = train::TrainState::from_json(rp.checkpoint.sections.at("trainer"));
    if (main_rank) truncate_metrics_log((fs::path(run_dir) / "metrics.jsonl").string(), st.step);
    return rp;
  }
  const fs::path ckdir = fs::path(run_dir) / "checkpoints";
  bool old_run = false;
  if (fs::is_directory(ckdir))
    for (const auto& e : fs::directory_iterator(ckdir)) old_run = old_run || e.path().extension() == ".safetensors";
  if (old_run && overwrite) {
    if (main_rank)
      for (const std::string& p : outputs) fs::remove_all(fs::path(run_dir) / p);
    CT_LOG_INFO("removed the previous run in ", run_dir, " (--overwrite)");
  } else {
    CT_CHECK(!old_run, UsageError, run_dir, " already holds a run (", ckdir.string(),
             "); continue it with --resume, start another with --set name=<new name>, or replace it with --overwrite");
  }
  return rp;
}

train::TrainContext make_train_context(const ExperimentOptions& opts, const ConfigNode& saved, const TrainingData& td,
                                       const DistRun& dist, RunDir* run) {
  train::TrainContext ctx;
  ctx.options = opts.train;
  ctx.device = td.device;
  ctx.config_yaml = saved.to_yaml();
  ctx.registry = {{"model", opts.model.name()}, {"dataset", td.dataset->info().name}};
  ctx.checkpoint_dir = run ? run->file("checkpoints") : "";
  ctx.options.progress = opts.train.progress && run != nullptr;
  ctx.group = dist.group;
  ctx.dist = opts.dist;
  return ctx;
}

std::vector<train::CallbackPtr> standard_callbacks(const ExperimentOptions& opts, bool has_val,
                                                   const std::string& run_dir, RunDir* run) {
  std::vector<train::CallbackPtr> callbacks;
  if (opts.train.patience > 0 && has_val)
    callbacks.push_back(std::make_shared<train::EarlyStopping>(opts.train.patience, opts.train.min_delta));
  if (run) {
    train::RunLoggerOptions lo;
    lo.run_dir = run_dir;
    lo.metrics = &run->metrics();
    lo.progress = opts.train.progress;
    callbacks.push_back(std::make_shared<train::RunLogger>(lo));
  }
  return callbacks;
}

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
