#include "cardiotorch/app/finetune.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cardiotorch/app/experiment.h"
#include "app/training_data.h"
#include "cardiotorch/app/inference.h"
#include "cardiotorch/app/task.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/run_dir.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/data/cache.h"
#include "cardiotorch/data/sampling.h"
#include "cardiotorch/data/split.h"
#include "cardiotorch/train/callbacks.h"
#include "cardiotorch/train/checkpoint.h"
#include "cardiotorch/train/downstream.h"
#include "cardiotorch/weights/save.h"

namespace fs = std::filesystem;

namespace cardiotorch::app {

namespace {

std::vector<int64_t> count_classes(const data::Dataset& ds, const std::vector<int64_t>& idx, size_t n_classes) {
  std::vector<int64_t> c(n_classes, 0);
  for (int64_t i : idx)
    for (int64_t k : ds.item(i).classes)
      if (k >= 0 && static_cast<size_t>(k) < n_classes) ++c[static_cast<size_t>(k)];
  return c;
}

}  // namespace

FinetuneResult finetune(const FinetuneRequest& req) {
  ExperimentOptions opts;
  ConfigNode saved = req.config ? resolve_experiment(*req.config, req.overrides, &opts)
                                : resolve_experiment(req.config_file, req.overrides, &opts);
  if (!req.init.empty()) {
    opts.init.path = req.init;
    ConfigNode init = saved["init"];
    init.set("path", ConfigNode::string(req.init));
  }
  if (opts.threads > 0) set_num_threads(static_cast<int>(opts.threads));
  if (opts.deterministic) set_deterministic(true);
  manual_seed(static_cast<uint64_t>(opts.seed));
  CT_CHECK(!opts.data.dataset.is_null(), ConfigError, req.config_file,
           ": data.dataset is required, e.g. data: {dataset: {name: mitdb, root: ../shared/data/mitdb}}");
  CT_CHECK(!opts.model.empty(), ConfigError, req.config_file, ": model is required, e.g. model: {name: ...}");

  FinetuneResult result;
  result.run_dir = (fs::path(opts.output_dir) / opts.name).string();
  // Several ranks (cardiotorch launch, torchrun, srun): only rank 0 writes the run directory.
  const DistRun dist = start_distributed(opts);
  const bool main_rank = dist.is_main();
  result.main_rank = main_rank;

  // Data: the shared preamble of every training command (app/training_data.h).
  TrainingData td = prepare_training_data(saved, opts, dist);
  const std::shared_ptr<const data::Dataset>& dataset = td.dataset;
  const data::DatasetInfo& dinfo = dataset->info();
  const data::Split& split = td.split;
  const signal::Pipeline& augment = td.augment;
  std::shared_ptr<data::CachedDataset>& cached = td.cached;
  CT_LOG_INFO(dinfo.name, ": ", dataset->size(), " items; split train ", split.train.size(), " / val ",
              split.val.size(), " / test ", split.test.size(), "; cache ", cached->path());
  const c10::Device device = td.device;
  data::LoaderOptions& train_opts = td.train_opts;
  data::LoaderOptions& eval_opts = td.eval_opts;

  // The task: what the model sees (after preprocessing and cropping) and what it predicts.
  TaskInfo task;
  {
    const data::Sample s0 =
        data::Loader(std::make_shared<data::SubsetDataset>(cached, std::vector<int64_t>{split.train.front()}), augment,
                     eval_opts)
            .prepare(0, 0);
    task.class_names = dinfo.class_names;
    task.class_codes = dinfo.class_codes;
    task.label_kind = data::label_kind_name(dinfo.label_kind);
    task.dataset = dinfo.name;
    task.data_root = saved["data"]["dataset"]["root"].is_null() ? "" : saved["data"]["dataset"]["root"].as_string();
    task.fs = s0.fs;
    task.leads = s0.leads;
    task.in_channels = s0.signal.size(0);
    task.seq_len = s0.signal.size(1);
    task.train_label_counts = count_classes(*dataset, split.train, dinfo.class_names.size());
    task.train_size = static_cast<int64_t>(split.train.size());
  }
  ConfigNode objective_node =
      opts.objective.empty()
          ? train::objective_registry().resolve(ConfigNode::string(train::default_objective(dinfo.label_kind)))
          : opts.objective.node;
  saved.set("objective", objective_node);
  task.objective = objective_node["name"].as_string();
  train::ObjectivePtr objective = train::objective_registry().build(objective_node, task.objective_context());
  const auto task_kind = objective->task();
  models::ModelPtr model =
      build_task_model(opts, task, objective->num_outputs(), task_kind == train::TaskKind::kSegmentation);
  auto* downstream = dynamic_cast<train::DownstreamModelImpl*>(model.get());
  CT_LOG_INFO("model: ", model->summary());

  // Initial weights (a pretrained encoder or a checkpoint of the same model), then freezing.
  if (!opts.init.path.empty()) {
    models::ModelImpl& target = downstream ? downstream->encoder() : *model;
    // The model's own rules first (a ViT expects an MAE checkpoint's decoder* and mask_token and
    // leaves them unused). A checkpoint of a fine-tuned encoder + head names the encoder's
    // tensors "encoder.*"; its head is not this task's.
    weights::MatchRules rules = target.weight_rules();
    if (downstream) {
      rules.prefixes.push_back({"encoder.", ""});
      rules.skip_source.push_back("head.*");
    }
    const weights::LoadReport rep = weights::load_into(target, opts.init, rules);
    CT_LOG_INFO("init: ", rep.to_string());
  }
  const FinetuneSection& ft = opts.finetune;
  if (ft.mode == "linear_probe") {
    CT_INTERNAL_ASSERT(downstream != nullptr, "a linear probe is always a downstream model");
    downstream->freeze_encoder();
  } else if (ft.mode == "partial") {
    train::freeze_below_last_layers(*model, ft.unfreeze_last);
  }
  train::freeze_parameters(*model, ft.freeze);
  std::vector<train::NamedParam> params = train::trainable_parameters(*model);
  for (auto& p : train::trainable_parameters(*objective, "objective.")) params.push_back(p);
  CT_LOG_INFO("trainable: ", models::format_count(models::count_parameters(*model, true)), " of ",
              models::format_count(models::count_parameters(*model)), " parameters (mode ", ft.mode, ")");

  // Loaders: the training loader is rebuilt per epoch for class-balanced sampling.
  CT_CHECK(ft.sampling != "balanced" || dinfo.label_kind == data::LabelKind::kClassIndex, ConfigError,
           "finetune.sampling: balanced sampling needs single-label data (", dinfo.name, " labels are ",
           data::label_kind_name(dinfo.label_kind), ")");
  struct TrainLoaders {
    std::unique_ptr<data::Loader> loader;
    int64_t epoch = -1;
  };
  auto holder = std::make_shared<TrainLoaders>();
  std::function<data::Loader&(int64_t)> train_loader;
  if (ft.sampling == "balanced") {
    train_loader = [=](int64_t epoch) -> data::Loader& {
      if (holder->epoch != epoch) {
        auto idx = data::class_balanced_draw(*cached, split.train, train_opts.seed, epoch);
        const auto drawn = count_classes(*cached, idx, dinfo.class_names.size());
        std::string per_class;
        for (size_t c = 0; c < drawn.size(); ++c)
          per_class += str_cat(c ? ", " : "", dinfo.class_names[c], " ", drawn[c], "/", task.train_label_counts[c]);
        CT_LOG_INFO("epoch ", epoch, ": class-balanced draw of ", idx.size(), " items (drawn/available: ", per_class,
                    ")");
        holder->loader =
            std::make_unique<data::Loader>(std::make_shared<data::SubsetDataset>(cached, idx), augment, train_opts);
        holder->epoch = epoch;
      }
      return *holder->loader;
    };
  } else {
    holder->loader =
        std::make_unique<data::Loader>(std::make_shared<data::SubsetDataset>(cached, split.train), augment, train_opts);
    train_loader = [=](int64_t) -> data::Loader& { return *holder->loader; };
  }
  // Validation is sharded like training: each rank evaluates its share, rank 0 the metrics of
  // the gathered outputs (train::evaluate).
  data::LoaderOptions val_opts = eval_opts;
  val_opts.rank = train_opts.rank;
  val_opts.world_size = train_opts.world_size;
  std::unique_ptr<data::Loader> val_loader;
  if (!split.val.empty())
    val_loader =
        std::make_unique<data::Loader>(std::make_shared<data::SubsetDataset>(cached, split.val), augment, val_opts);

  const int64_t nb = train::epoch_batches(train_loader(0));
  const int64_t spe = (nb + opts.train.accumulate - 1) / opts.train.accumulate;
  const int64_t total = opts.train.steps > 0 ? opts.train.steps : opts.train.epochs * spe;
  train::OptimizerContext octx;
  octx.params = params;
  octx.module = model.get();
  octx.effective_batch = train_opts.batch_size * opts.train.accumulate * train_opts.world_size;
  train::OptimizerPtr optimizer = train::optimizer_registry().build(opts.optimizer.node, octx);
  train::SchedulerContext sctx;
  sctx.base_lr = optimizer->base_lr();
  sctx.steps_per_epoch = spe;
  sctx.total_steps = std::max<int64_t>(1, total);
  train::LrSchedulePtr schedule = train::scheduler_registry().build(opts.scheduler.node, sctx);
  std::shared_ptr<train::MetricSet> metrics;
  if (task_kind && val_loader) metrics = make_metric_set(saved["metrics"], *task_kind, task);

  // Resuming: the checkpoint is checked against this config before anything is written.
  weights::CheckpointData resume_from;
  std::string resume_path;
  if (!req.resume.empty()) {
    resume_path = train::find_resume_checkpoint(req.resume == "auto" ? result.run_dir : req.resume);
    resume_from = weights::load_checkpoint(resume_path);
    train::check_resume_compatible(resume_from, resume_path, saved, req.allow_version_mismatch);
    const auto st = train::TrainState::from_json(resume_from.sections.at("trainer"));
    if (main_rank) truncate_metrics_log((fs::path(result.run_dir) / "metrics.jsonl").string(), st.step);
  }

  // A fresh run never mixes with an old one in the same directory (its checkpoints would
  // outrank the new ones, its metrics.jsonl records would interleave).
  if (resume_path.empty()) {
    const fs::path ckdir = fs::path(result.run_dir) / "checkpoints";
    bool old_run = false;
    if (fs::is_directory(ckdir))
      for (const auto& e : fs::directory_iterator(ckdir)) old_run = old_run || e.path().extension() == ".safetensors";
    if (old_run && req.overwrite) {
      if (main_rank)
        for (const char* p :
             {"checkpoints", "tensorboard", "plots", "eval_val", "eval_test", "metrics.jsonl", "run.log"})
          fs::remove_all(fs::path(result.run_dir) / p);
      CT_LOG_INFO("removed the previous run in ", result.run_dir, " (--overwrite)");
    } else {
      CT_CHECK(
          !old_run, UsageError, result.run_dir, " already holds a run (", ckdir.string(),
          "); continue it with --resume, start another with --set name=<new name>, or replace it with --overwrite");
    }
  }
  std::optional<RunDir> run;
  if (main_rank) run.emplace(result.run_dir, saved);
  CT_LOG_INFO(build_summary());
  train::TrainContext ctx;
  ctx.model = model;
  ctx.objective = objective;
  ctx.optimizer = optimizer;
  ctx.schedule = schedule;
  ctx.train_loader = train_loader;
  ctx.val_loader = val_loader.get();
  ctx.val_metrics = metrics;
  ctx.options = opts.train;
  ctx.device = device;
  ctx.config_yaml = saved.to_yaml();
  ctx.registry = {{"model", opts.model.name()}, {"dataset", dinfo.name}};
  ctx.sections["task"] = task.to_json();
  ctx.checkpoint_dir = main_rank ? run->file("checkpoints") : "";
  ctx.options.progress = opts.train.progress && main_rank;
  ctx.group = dist.group;
  ctx.dist = opts.dist;
  std::vector<train::CallbackPtr> callbacks;
  if (opts.train.patience > 0 && val_loader)
    callbacks.push_back(std::make_shared<train::EarlyStopping>(opts.train.patience, opts.train.min_delta));
  if (main_rank) {
    train::RunLoggerOptions lo;
    lo.run_dir = result.run_dir;
    lo.metrics = &run->metrics();
    lo.progress = opts.train.progress;
    callbacks.push_back(std::make_shared<train::RunLogger>(lo));
  }
  train::Trainer trainer(ctx, callbacks);
  if (!resume_path.empty()) trainer.resume(resume_from);
  result.state = trainer.fit();
  if (!main_rank) return result;  // rank 0 evaluates and reports

  const train::CheckpointFiles files(run->file("checkpoints"), opts.train.keep_last);
  result.last_checkpoint = files.last();
  result.best_checkpoint = files.best();

  // The best checkpoint, reloaded from its file alone (as `evaluate` would), on val and test.
  const std::string final_ckpt = !result.best_checkpoint.empty() ? result.best_checkpoint : result.last_checkpoint;
  if (!final_ckpt.empty() && task_kind && ft.evaluate_best) {
    TrainedModel tm = load_trained(final_ckpt);
    auto eval_part = [&](const std::vector<int64_t>& idx, const std::string& part) {
      data::Loader loader(std::make_shared<data::SubsetDataset>(cached, idx), augment, eval_opts);
      auto ms = make_metric_set(saved["metrics"], *task_kind, task);
      tm.model->to(device);
      tm.objective->to(device);
      const train::EvalResult r = train::evaluate(*tm.model, *tm.objective, loader, ms.get(), device,
                                                  trainer.precision(), part, 0, opts.train.progress);
      const EvaluationReport rep = write_evaluation(r, *ms, task, run->file("eval_" + part),
                                                    str_cat(opts.name, ": ", part, " split (", idx.size(), " items, ",
                                                            fs::path(final_ckpt).filename().string(), ")"));
      CT_LOG_INFO(part, " split, ", fs::path(final_ckpt).filename().string(), ": loss ", r.loss, "\n", rep.table);
      return rep.metrics;
    };
    if (!split.val.empty()) result.val = eval_part(split.val, "val");
    if (!split.test.empty()) result.test = eval_part(split.test, "test");
  }
  return result;
}

}  // namespace cardiotorch::app
