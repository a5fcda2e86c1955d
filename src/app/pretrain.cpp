#include "cardiotorch/app/pretrain.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cardiotorch/app/experiment.h"
#include "app/training_data.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/run_dir.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/data/cache.h"
#include "cardiotorch/data/split.h"
#include "cardiotorch/ssl/callbacks.h"
#include "cardiotorch/ssl/objective.h"
#include "cardiotorch/train/callbacks.h"
#include "cardiotorch/train/checkpoint.h"
#include "cardiotorch/weights/save.h"

namespace fs = std::filesystem;

namespace cardiotorch::app {

namespace {

// Records the last logged values (training every step, validation at each validation).
class FinalValues final : public train::Callback {
 public:
  std::map<std::string, double> values;
  std::string name() const override { return "final_values"; }
  void on_step_end(train::Trainer&, const train::StepInfo& s) override {
    if (!s.applied) return;
    values["loss"] = s.loss.item<double>();
    values["lr"] = s.lr;
    for (const auto& [k, v] : s.scalars) values[k] = v.item<double>();
  }
  void on_validation_end(train::Trainer&, const train::EvalResult& r) override {
    for (const auto& [k, v] : r.all()) values["val/" + k] = v;
  }
};

}  // namespace

PretrainResult pretrain(const PretrainRequest& req) {
  ExperimentOptions opts;
  const std::string origin = req.config != nullptr ? std::string("the experiment config") : req.config_file;
  ConfigNode saved = req.config != nullptr ? resolve_experiment(*req.config, req.overrides, &opts)
                                           : resolve_experiment(req.config_file, req.overrides, &opts);
  if (req.max_steps > 0 && (opts.train.steps == 0 || opts.train.steps > req.max_steps)) {
    opts.train.steps = req.max_steps;
    ConfigNode t = saved["train"];
    t.set_scalar("steps", std::to_string(req.max_steps));
  }
  apply_runtime_options(opts);
  CT_CHECK(!opts.data.dataset.is_null(), ConfigError, origin,
           ": data.dataset is required, e.g. data: {dataset: {name: cinc2021, root: data/sample/cinc2021}}");
  CT_CHECK(!opts.model.empty(), ConfigError, origin, ": model is required, e.g. model: {name: mae_vit_patchx}");
  CT_CHECK(!opts.objective.empty(), ConfigError, origin,
           ": objective is required for pretraining, e.g. objective: {name: mae} (`cardiotorch list objective`)");

  PretrainResult result;
  result.run_dir = (fs::path(opts.output_dir) / opts.name).string();

  // Validation measures reconstruction on unseen patients; labels are not used.
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
              split.val.size(), " (test ", split.test.size(), " unused); cache ", cached->path());
  data::LoaderOptions& train_opts = td.train_opts;
  data::LoaderOptions& eval_opts = td.eval_opts;
  eval_opts.views = 1;

  // The objective, then the model it trains, built for the input the loader delivers.
  ConfigNode objective_node = opts.objective.node.clone();
  if (objective_node.has("seed") && objective_node["seed"].as_int() == -1)
    objective_node.set_scalar("seed", std::to_string(opts.seed));  // the experiment seed
  // The label set goes in so that a supervised objective named here by mistake builds and is
  // then refused as such, rather than failing on its empty context.
  train::ObjectiveContext octx_obj;
  octx_obj.class_names = dinfo.class_names;
  octx_obj.label_kind = dinfo.label_kind;
  octx_obj.fs = dinfo.fs;
  train::ObjectivePtr objective = train::objective_registry().build(objective_node, octx_obj);
  ssl::SslObjective& ssl = ssl::as_ssl(*objective);
  CT_CHECK(train_opts.views >= ssl.views(), ConfigError, "data.loader.views: objective ", objective->objective_name(),
           " needs ", ssl.views(), " augmented views per sample, got ", train_opts.views);

  data::Loader probe(std::make_shared<data::SubsetDataset>(
                         cached, std::vector<int64_t>{split.val.empty() ? split.train.front() : split.val.front()}),
                     augment, eval_opts);
  const data::Sample s0 = probe.prepare(0, 0);
  models::ModelContext mctx;
  mctx.in_channels = s0.signal.size(0);
  mctx.fs = s0.fs;
  mctx.seq_len = s0.signal.size(1);
  models::ModelPtr model = models::build_model(saved["model"], mctx);
  ssl.check_model(*model);
  CT_LOG_INFO("model: ", model->summary());
  CT_LOG_INFO("objective: ", objective->objective_name(), "; input ", mctx.in_channels, " x ", mctx.seq_len, " at ",
              mctx.fs, " Hz");

  const int64_t frozen = train::freeze_parameters(*model, ssl.frozen_parameters(*model));
  std::vector<train::NamedParam> params = train::trainable_parameters(*model);
  for (auto& p : train::trainable_parameters(*objective, "objective.")) params.push_back(p);
  CT_LOG_INFO("trainable: ", models::format_count(models::count_parameters(*model, true)), " of ",
              models::format_count(models::count_parameters(*model)), " parameters",
              frozen > 0 ? str_cat(" (", frozen, " tensors frozen by the objective)") : std::string());

  auto train_loader_ptr =
      std::make_shared<data::Loader>(std::make_shared<data::SubsetDataset>(cached, split.train), augment, train_opts);
  std::function<data::Loader&(int64_t)> train_loader = [train_loader_ptr](int64_t) -> data::Loader& {
    return *train_loader_ptr;
  };
  const std::unique_ptr<data::Loader> val_loader = make_val_loader(td);

  // An export that cannot happen is refused now, not after the training.
  if (opts.pretrain.export_encoder) {
    CT_CHECK(opts.pretrain.export_from != "ema" || opts.train.ema.enabled, ConfigError,
             "pretrain.export_from: ema needs train.ema.enabled: true");
    CT_CHECK(opts.pretrain.export_from != "best" || val_loader, ConfigError,
             "pretrain.export_from: best needs a validation set to pick the best checkpoint (data.split.val is empty)");
  }

  const int64_t nb = train::epoch_batches(*train_loader_ptr);
  CT_CHECK(nb > 0, ConfigError, "data.loader: no training batch (", split.train.size(), " items, batch_size ",
           train_opts.batch_size, train_opts.drop_last ? ", drop_last" : "", ")");
  const Optimization optim = build_optimization(opts, params, model.get(), nb, train_opts);
  CT_LOG_INFO("optimizer: ", opts.optimizer.name(), " lr ", optim.optimizer->base_lr(), " (effective batch ",
              optim.effective_batch, "); ", optim.total_steps, " steps, ", optim.steps_per_epoch, " per epoch");

  const ResumePoint resume =
      resume_or_start(req.resume, req.allow_version_mismatch, req.overwrite, result.run_dir, saved, main_rank,
                      {"checkpoints", "tensorboard", "plots", "encoder.safetensors", "metrics.jsonl", "run.log"});
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
  ctx.sections["pretrain"] = nlohmann::json{
      {"objective", objective->objective_name()},
      {"fs", mctx.fs},
      {"leads", s0.leads},
      {"in_channels", mctx.in_channels},
      {"seq_len", mctx.seq_len}}.dump();

  std::vector<train::CallbackPtr> callbacks = standard_callbacks(opts, val_loader != nullptr, result.run_dir, run_ptr);
  if (main_rank && opts.pretrain.plot_every > 0 && !opts.pretrain.plot_formats.empty()) {
    ssl::ReconstructionPlotOptions po;
    po.dir = run->file("plots");
    po.every = opts.pretrain.plot_every;
    po.formats = opts.pretrain.plot_formats;
    po.input = s0.signal;  // a validation record (centre crop) when there is one
    po.fs = s0.fs;
    po.leads = s0.leads;
    po.seed = derive_seed(static_cast<uint64_t>(opts.seed), 0x706c6f74 /* "plot" */);
    callbacks.push_back(std::make_shared<ssl::ReconstructionPlots>(po));
  }
  auto final_values = std::make_shared<FinalValues>();
  callbacks.push_back(final_values);

  train::Trainer trainer(ctx, callbacks);
  if (!resume.path.empty()) trainer.resume(resume.checkpoint);
  result.state = trainer.fit();
  result.final = final_values->values;
  if (!main_rank) return result;  // rank 0 exports and reports

  const train::CheckpointFiles files(run->file("checkpoints"), opts.train.keep_last);
  result.last_checkpoint = files.last();
  result.reconstruction_plots = ssl::list_reconstruction_plots(run->file("plots"));

  if (opts.pretrain.export_encoder) {
    // The encoder of the chosen weights: they are loaded into the model for the export (the run
    // is over; the checkpoints keep the final state for a resume).
    const std::string& from = opts.pretrain.export_from;
    std::string source = "the final weights";
    if (from == "ema") {
      CT_CHECK(trainer.ema() != nullptr, ConfigError,
               "pretrain.export_from: ema needs train.ema.enabled: true (this run kept no averaged weights)");
      trainer.ema()->swap(*model);
      source = "the averaged (EMA) weights";
    } else if (from == "best") {
      const std::string best = files.best();
      CT_CHECK(!best.empty(), ConfigError,
               "pretrain.export_from: best needs a best checkpoint, and this run has none (no validation set?); "
               "use last or ema");
      auto ck = weights::load_checkpoint(best);
      const bool use_ema = opts.train.ema.enabled && opts.train.ema.validate && ck.groups.count("ema");
      weights::NamedTensors w;
      for (auto& [name, t] : ck.groups.at(use_ema ? "ema" : "model"))
        if (name != "__num_updates__") w.emplace_back(name, t);
      train::load_exact_state(*model, w, best);
      source = str_cat("the best checkpoint (", best, use_ema ? ", averaged weights)" : ")");
    }
    weights::NamedTensors encoder;
    for (auto& [name, t] : ssl.encoder_state(*model)) encoder.emplace_back(name, t.detach().to(at::kCPU).contiguous());
    result.encoder_checkpoint = run->file("encoder.safetensors");
    weights::save_safetensors(result.encoder_checkpoint, encoder,
                              {{"format", "pt"},
                               {"cardiotorch", "encoder"},
                               {"objective", objective->objective_name()},
                               {"model", opts.model.name()},
                               {"step", std::to_string(result.state.step)},
                               {"weights", from}});
    CT_LOG_INFO("encoder (", encoder.size(), " tensors, ", source, ") written to ", result.encoder_checkpoint,
                "; fine-tune from it with --init");
  }
  return result;
}

}  // namespace cardiotorch::app
