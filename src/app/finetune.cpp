#include "cardiotorch/app/finetune.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cardiotorch/app/experiment.h"
#include "app/decisions.h"
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

// finetune.decisions: the checkpoint's per-class decision rule tuned on the validation loader's
// items, set in `task` and written into the checkpoint's task section.
void tune_decisions_into(const std::string& checkpoint, data::Loader& val_loader, const train::DecisionTuning& tuning,
                         const c10::Device& device, at::ScalarType precision, bool progress, TaskInfo& task) {
  weights::CheckpointData ck = weights::load_checkpoint(checkpoint);
  TrainedModel tm = load_trained(ck, checkpoint);
  const int64_t n = val_loader.dataset().size();
  const std::string summary = tune_decisions(tm, val_loader, tuning, device, precision, progress,
                                             str_cat("the val split (", n, " items)"), task);
  // Rewritten atomically (temp file + rename): best.safetensors then holds the tuned rule and
  // no longer shares its file with the step checkpoint, which keeps the training-time rule.
  ck.sections["task"] = task.to_json();
  weights::save_checkpoint(checkpoint, ck);
  CT_LOG_INFO("decisions tuned on the val split (", n, " items): ", summary, "; written to ", checkpoint);
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
  apply_runtime_options(opts);
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
  const std::unique_ptr<data::Loader> val_loader = make_val_loader(td);

  const Optimization optim =
      build_optimization(opts, params, model.get(), train::epoch_batches(train_loader(0)), train_opts);
  std::shared_ptr<train::MetricSet> metrics;
  if (task_kind && val_loader) metrics = make_metric_set(saved["metrics"], *task_kind, task);

  const ResumePoint resume =
      resume_or_start(req.resume, req.allow_version_mismatch, req.overwrite, result.run_dir, saved, main_rank,
                      {"checkpoints", "tensorboard", "plots", "eval_val", "eval_test", "metrics.jsonl", "run.log"});
  std::optional<RunDir> run;
  if (main_rank) run.emplace(result.run_dir, saved);
  CT_LOG_INFO(build_summary());
  RunDir* const run_ptr = run ? &*run : nullptr;
  train::TrainContext ctx = make_train_context(opts, saved, td, dist, run_ptr);
  ctx.model = model;
  ctx.objective = objective;
  ctx.optimizer = optim.optimizer;
  ctx.schedule = optim.schedule;
  ctx.train_loader = train_loader;
  ctx.val_loader = val_loader.get();
  ctx.val_metrics = metrics;
  ctx.sections["task"] = task.to_json();
  train::Trainer trainer(ctx, standard_callbacks(opts, val_loader != nullptr, result.run_dir, run_ptr));
  if (!resume.path.empty()) trainer.resume(resume.checkpoint);
  result.state = trainer.fit();
  if (!main_rank) return result;  // rank 0 evaluates and reports

  const train::CheckpointFiles files(run->file("checkpoints"), opts.train.keep_last);
  result.last_checkpoint = files.last();
  result.best_checkpoint = files.best();

  // The best checkpoint, reloaded from its file alone (as `evaluate` would), on val and test.
  const std::string final_ckpt = !result.best_checkpoint.empty() ? result.best_checkpoint : result.last_checkpoint;
  if (!final_ckpt.empty() && ft.decisions.enabled()) {
    CT_CHECK(task_kind == train::TaskKind::kMulticlass || task_kind == train::TaskKind::kMultilabel, ConfigError,
             "finetune.decisions.tune: decisions are tuned for multiclass and multilabel tasks, not ",
             task_kind ? train::task_name(*task_kind) : objective->objective_name().c_str());
    CT_CHECK(!split.val.empty(), ConfigError,
             "finetune.decisions.tune: needs a validation split to tune on (data.split gives none)");
    data::Loader loader(std::make_shared<data::SubsetDataset>(cached, split.val), augment, eval_opts);
    tune_decisions_into(final_ckpt, loader, ft.decisions, device, trainer.precision(), opts.train.progress, task);
  }
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
