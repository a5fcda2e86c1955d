#include "cardiotorch/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/core/grad_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>
#include <thread>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/progress.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/dist/data_parallel.h"
#include "cardiotorch/dist/sync_batchnorm.h"
#include "cardiotorch/models/random_state.h"
#include "cardiotorch/train/checkpoint.h"
#include "cardiotorch/weights/loader.h"
#include "cardiotorch/weights/save.h"

namespace cardiotorch::train {

using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
double number_of(const nlohmann::json& j) { return j.is_null() ? std::nan("") : j.get<double>(); }

}  // namespace

void load_exact_state(torch::nn::Module& module, const weights::NamedTensors& tensors, const std::string& what) {
  std::map<std::string, const at::Tensor*> by_name;
  for (const auto& [k, t] : tensors) by_name[k] = &t;
  at::NoGradGuard no_grad;
  const auto own = weights::module_state_dict(module);
  CT_CHECK(own.size() == tensors.size(), DataError, "checkpoint: the ", what, " has ", tensors.size(),
           " tensors, this model ", own.size());
  for (const auto& [name, t] : own) {
    auto it = by_name.find(name);
    CT_CHECK(it != by_name.end(), DataError, "checkpoint: ", what, " tensor '", name, "' is missing");
    CT_CHECK(it->second->sizes() == t.sizes(), DataError, "checkpoint: ", what, " tensor '", name, "' has shape ",
             it->second->sizes(), ", the model ", t.sizes());
    at::Tensor dst = t;
    dst.detach().copy_(*it->second);
  }
}

namespace {

int64_t num_cuda_devices() { return at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0; }

// Generators owned by modules (models::GeneratorOwner) under "<prefix><module path>.<name>".
std::vector<std::pair<std::string, at::Generator>> module_generators(torch::nn::Module& root,
                                                                     const std::string& prefix) {
  std::vector<std::pair<std::string, at::Generator>> out;
  for (const auto& item : root.named_modules("", /*include_self=*/true))
    if (auto* owner = dynamic_cast<models::GeneratorOwner*>(item.value().get()))
      for (auto& [name, gen] : owner->generators())
        out.emplace_back(str_cat(prefix, item.key().empty() ? "" : item.key() + ".", name), gen);
  return out;
}

// Every generator training draws from: the global CPU and CUDA ones (dropout, drop-path,
// batch-level augmentation) and those modules own, under their checkpoint names.
std::vector<std::pair<std::string, at::Generator>> training_generators(torch::nn::Module& model,
                                                                       torch::nn::Module& objective) {
  std::vector<std::pair<std::string, at::Generator>> out;
  out.emplace_back("cpu", at::detail::getDefaultCPUGenerator());
  for (int64_t i = 0; i < num_cuda_devices(); ++i)
    out.emplace_back(str_cat("cuda.", i),
                     at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i))));
  for (auto& g : module_generators(model, "model:")) out.push_back(g);
  for (auto& g : module_generators(objective, "objective:")) out.push_back(g);
  return out;
}

constexpr uint64_t kRankStreamTag = 0x72616e6b;  // "rank"

}  // namespace

// ------------------------------------------------------------------------------- options

void TrainOptions::validate() const {
  CT_CHECK(epochs >= 1 || steps >= 1, ConfigError, "train: set epochs >= 1 or steps >= 1");
  CT_CHECK(epochs >= 0 && steps >= 0, ConfigError, "epochs and steps must be >= 0");
  CT_CHECK(accumulate >= 1, ConfigError, "accumulate must be >= 1, got ", accumulate);
  CT_CHECK(clip_grad_norm >= 0, ConfigError, "clip_grad_norm must be >= 0, got ", clip_grad_norm);
  check_choice("amp", amp, {"auto", "fp32", "bf16", "fp16"});
  CT_CHECK(device == "auto" || device == "cpu" || starts_with(device, "cuda"), ConfigError,
           "device must be auto, cpu or cuda[:N], got '", device, "'");
  ema.validate_options();
  CT_CHECK(val_every >= 0 && val_every_steps >= 0, ConfigError, "val_every and val_every_steps must be >= 0");
  check_choice("mode", mode, {"auto", "min", "max"});
  CT_CHECK(patience >= 0 && min_delta >= 0, ConfigError, "patience and min_delta must be >= 0");
  CT_CHECK(checkpoint_every_steps >= 0 && keep_last >= 0, ConfigError,
           "checkpoint_every_steps and keep_last must be >= 0");
  CT_CHECK(log_every >= 1, ConfigError, "log_every must be >= 1, got ", log_every);
  CT_CHECK(max_nonfinite >= 1, ConfigError, "max_nonfinite must be >= 1, got ", max_nonfinite);
}

c10::Device resolve_device(const std::string& device) {
  if (device == "auto") return at::hasCUDA() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  c10::Device d(device);
  CT_CHECK(!d.is_cuda() || at::hasCUDA(), ConfigError, "train.device: '", device,
           "' requested, but this build or machine has no CUDA");
  return d;
}

std::string TrainState::to_json() const {
  return nlohmann::json{{"epoch", epoch},
                        {"batch", batch},
                        {"step", step},
                        {"samples", samples},
                        {"nonfinite_total", nonfinite_total},
                        {"nonfinite_run", nonfinite_run},
                        {"overflow_skips", overflow_skips},
                        {"best", number_or_null(best)},
                        {"best_step", best_step},
                        {"best_epoch", best_epoch},
                        {"improved", improved},
                        {"validations", validations},
                        {"finished", finished},
                        {"stop_reason", stop_reason},
                        {"elapsed_s", elapsed_s}}
      .dump();
}

TrainState TrainState::from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  TrainState s;
  s.epoch = j.at("epoch").get<int64_t>();
  s.batch = j.at("batch").get<int64_t>();
  s.step = j.at("step").get<int64_t>();
  s.samples = j.at("samples").get<int64_t>();
  s.nonfinite_total = j.at("nonfinite_total").get<int64_t>();
  s.nonfinite_run = j.at("nonfinite_run").get<int64_t>();
  s.overflow_skips = j.at("overflow_skips").get<int64_t>();
  s.best = number_of(j.at("best"));
  s.best_step = j.at("best_step").get<int64_t>();
  s.best_epoch = j.at("best_epoch").get<int64_t>();
  s.improved = j.at("improved").get<bool>();
  s.validations = j.at("validations").get<int64_t>();
  s.finished = j.at("finished").get<bool>();
  s.stop_reason = j.at("stop_reason").get<std::string>();
  s.elapsed_s = j.at("elapsed_s").get<double>();
  return s;
}

std::map<std::string, double> EvalResult::all() const {
  std::map<std::string, double> out(metrics.begin(), metrics.end());
  for (const auto& [k, v] : scalars) out[k] = v;
  out["loss"] = loss;
  return out;
}

// ------------------------------------------------------------------------------ evaluate

namespace {

// What one rank of a sharded validation hands to rank 0: its loss and scalar sums and the rows
// the metrics need, with the dataset index of each row.
struct ShardOutputs {
  std::vector<at::Tensor> outputs, targets;
  std::vector<int64_t> indices;
  bool indexed = true;  // one output row per sample (else the rows cannot be put in dataset order)
};

at::Tensor cat_or_undefined(const std::vector<at::Tensor>& parts) {
  return parts.empty() ? at::Tensor() : at::cat(parts, 0);
}

// Rank 0 gathers every rank's sums and rows, computes the metrics on the rows in dataset order
// (as one process would see them: every sample once, none padded) and sends the result to all
// ranks, so every rank takes the same early-stopping and best-checkpoint decisions.
void reduce_sharded_eval(EvalResult& r, double loss_sum, const std::map<std::string, double>& scalar_sums,
                         ShardOutputs& shard, MetricSet* metrics, int64_t batch_size, dist::ProcessGroup& group) {
  nlohmann::json mine{{"samples", r.samples}, {"loss_sum", number_or_null(loss_sum)}, {"indexed", shard.indexed}};
  nlohmann::json sums = nlohmann::json::object();
  for (const auto& [k, v] : scalar_sums) sums[k] = number_or_null(v);
  mine["scalars"] = sums;
  const std::vector<std::string> stats = dist::gather_strings(mine.dump(), group);
  std::vector<at::Tensor> outputs, targets, indices;
  if (metrics) {
    outputs = dist::gather_rows(cat_or_undefined(shard.outputs), group);
    targets = dist::gather_rows(cat_or_undefined(shard.targets), group);
    at::Tensor idx;
    if (!shard.indices.empty()) idx = at::tensor(at::ArrayRef<int64_t>(shard.indices), at::kLong);
    indices = dist::gather_rows(idx, group);
  }
  std::string result;
  if (group.is_main()) {
    EvalResult g;
    double loss_total = 0;
    std::map<std::string, double> scalar_total;
    bool indexed = true;
    for (const auto& text : stats) {
      const auto j = nlohmann::json::parse(text);
      g.samples += j.at("samples").get<int64_t>();
      loss_total += number_of(j.at("loss_sum"));
      for (const auto& [k, v] : j.at("scalars").items()) scalar_total[k] += number_of(v);
      indexed = indexed && j.at("indexed").get<bool>();
    }
    if (g.samples > 0) {
      g.loss = loss_total / static_cast<double>(g.samples);
      for (const auto& [k, v] : scalar_total) g.scalars[k] = v / static_cast<double>(g.samples);
    }
    if (metrics) {
      metrics->reset();
      std::vector<at::Tensor> o, t, i;
      for (size_t k = 0; k < outputs.size(); ++k) {
        if (!outputs[k].defined()) continue;
        o.push_back(outputs[k].to(at::kCPU));
        t.push_back(targets[k].to(at::kCPU));
        if (indices[k].defined()) i.push_back(indices[k].to(at::kCPU));
      }
      if (!o.empty()) {
        at::Tensor out = at::cat(o, 0), tgt = at::cat(t, 0);
        if (indexed && !i.empty()) {
          // Dataset order, as one process evaluates: the metrics see the same rows in the same
          // order (streaming sums included), whatever the number of ranks.
          const at::Tensor idx = at::cat(i, 0);
          CT_CHECK(idx.size(0) == out.size(0), InternalError, "validation: ", idx.size(0), " indices for ", out.size(0),
                   " output rows");
          const at::Tensor order = std::get<1>(idx.sort(/*stable=*/true, 0, false));
          const at::Tensor sorted = idx.index_select(0, order);
          CT_CHECK(
              sorted.size(0) < 2 || (sorted.narrow(0, 1, sorted.size(0) - 1) > sorted.narrow(0, 0, sorted.size(0) - 1))
                                        .all()
                                        .item<bool>(),
              InternalError, "validation: the ranks' shards overlap (a sample was evaluated twice)");
          out = out.index_select(0, order);
          tgt = tgt.index_select(0, order);
        }
        const int64_t n = out.size(0), bs = std::max<int64_t>(1, batch_size);
        for (int64_t a = 0; a < n; a += bs) {
          const int64_t len = std::min(bs, n - a);
          metrics->update(out.narrow(0, a, len), tgt.narrow(0, a, len));
        }
      }
      g.metrics = metrics->compute();
    }
    nlohmann::json m = nlohmann::json::object(), sc = nlohmann::json::object();
    for (const auto& [k, v] : g.metrics) m[k] = number_or_null(v);
    for (const auto& [k, v] : g.scalars) sc[k] = number_or_null(v);
    result = nlohmann::json{{"samples", g.samples}, {"loss", number_or_null(g.loss)}, {"metrics", m}, {"scalars", sc}}
                 .dump();
  }
  // Every rank takes rank 0's numbers (JSON numbers round-trip doubles exactly).
  dist::broadcast_string(result, group);
  const auto j = nlohmann::json::parse(result);
  r.samples = j.at("samples").get<int64_t>();
  r.loss = number_of(j.at("loss"));
  r.metrics.clear();
  r.scalars.clear();
  for (const auto& [k, v] : j.at("metrics").items()) r.metrics[k] = number_of(v);
  for (const auto& [k, v] : j.at("scalars").items()) r.scalars[k] = number_of(v);
}

}  // namespace

EvalResult evaluate(models::ModelImpl& model, Objective& objective, data::Loader& loader, MetricSet* metrics,
                    const c10::Device& device, at::ScalarType precision, const std::string& label, int64_t epoch,
                    bool progress, const dist::ProcessGroupPtr& group) {
  const auto t0 = Clock::now();
  const data::LoaderOptions& lo = loader.options();
  const bool sharded = group && group->world_size() > 1 && lo.world_size > 1;
  if (sharded)
    CT_CHECK(lo.rank == group->rank() && lo.world_size == group->world_size(), InternalError,
             "evaluate: the loader shards as rank ", lo.rank, " of ", lo.world_size, ", the process group is rank ",
             group->rank(), " of ", group->world_size());
  const bool was_training = model.is_training(), obj_training = objective.is_training();
  model.eval();
  objective.eval();
  at::NoGradGuard no_grad;
  if (metrics) metrics->reset();
  EvalResult r;
  double loss_sum = 0;
  std::map<std::string, double> scalar_sums;
  ShardOutputs shard;
  loader.start_epoch(epoch);
  std::unique_ptr<ProgressBar> bar;
  if (progress && !label.empty()) bar = std::make_unique<ProgressBar>(label, loader.num_batches(), "batch");
  while (auto b = loader.next()) {
    StepOutput out;
    {
      AutocastScope ac(device, precision);
      out = objective.step(model, *b, false);
    }
    const double n = static_cast<double>(b->size());
    loss_sum += out.loss.to(at::kDouble).item<double>() * n;
    for (const auto& [k, v] : out.scalars) scalar_sums[k] += v.to(at::kDouble).item<double>() * n;
    if (metrics && out.outputs.defined()) {
      if (sharded) {
        shard.outputs.push_back(out.outputs.detach().to(at::kCPU));
        shard.targets.push_back(out.targets.detach().to(at::kCPU));
        shard.indexed = shard.indexed && out.outputs.size(0) == b->size();
        shard.indices.insert(shard.indices.end(), b->indices.begin(), b->indices.end());
      } else {
        metrics->update(out.outputs.to(at::kCPU), out.targets.to(at::kCPU));
      }
    }
    r.samples += b->size();
    if (bar) bar->tick();
  }
  if (bar) bar->finish();
  if (sharded) {
    reduce_sharded_eval(r, loss_sum, scalar_sums, shard, metrics, lo.batch_size, *group);
  } else {
    if (r.samples > 0) {
      r.loss = loss_sum / static_cast<double>(r.samples);
      for (const auto& [k, v] : scalar_sums) r.scalars[k] = v / static_cast<double>(r.samples);
    }
    if (metrics) r.metrics = metrics->compute();
  }
  model.train(was_training);
  objective.train(obj_training);
  r.seconds = seconds_since(t0);
  return r;
}

// ------------------------------------------------------------------------------- trainer

struct Trainer::Window {
  int64_t epoch = 0, first = 0, n = 0;
  int64_t samples = 0;
  double total = 0;  // samples the window will hold
  at::Tensor loss_sum;
  std::map<std::string, at::Tensor> scalar_sums;
  bool poisoned = false;
  double bad_loss = 0;
  Clock::time_point start;
};

Trainer::Trainer(TrainContext context, std::vector<CallbackPtr> callbacks)
    : ctx_(std::move(context)), callbacks_(std::move(callbacks)) {
  const TrainOptions& o = ctx_.options;
  o.validate();
  CT_INTERNAL_ASSERT(ctx_.model && ctx_.objective && ctx_.optimizer && ctx_.schedule && ctx_.train_loader);
  precision_ = resolve_precision(o.amp, ctx_.device);
  scaler_ = GradScaler(precision_ == at::kHalf);
  ctx_.model->to(ctx_.device);
  ctx_.objective->to(ctx_.device);
  params_ = ctx_.optimizer->parameters();
  if (ctx_.group && ctx_.group->world_size() > 1) {
    const data::LoaderOptions& lo = ctx_.train_loader(0).options();
    CT_CHECK(lo.rank == ctx_.group->rank() && lo.world_size == ctx_.group->world_size(), InternalError,
             "train: the training loader shards as rank ", lo.rank, " of ", lo.world_size,
             ", the process group is rank ", ctx_.group->rank(), " of ", ctx_.group->world_size());
    CT_CHECK(ctx_.train_loader(0).dataset().size() >= ctx_.group->world_size(), DataError,
             "train: ", ctx_.train_loader(0).dataset().size(), " training samples cannot be shared by ",
             ctx_.group->world_size(), " ranks");
    ctx_.dist.validate();
    // Every rank starts from rank 0's weights (models built from one seed agree already; this
    // also covers initialisers that draw from thread-local or unseeded sources).
    dist::broadcast_module(*ctx_.model, *ctx_.group);
    dist::broadcast_module(*ctx_.objective, *ctx_.group);
    sync_ = std::make_unique<dist::GradientSync>(ctx_.group, params_, ctx_.dist.bucket_mb, ctx_.dist.overlap_backward);
    has_buffers_ = !ctx_.model->buffers().empty();
    // Data order and per-sample augmentation are global (seeded by sample); what the model
    // draws (dropout, drop-path, masks) is per rank unless pinned: otherwise every rank would
    // draw rank 0's patterns, on other samples.
    rank_streams_ = !ctx_.dist.same_seed_on_all_ranks;
    if (rank_streams_) reseed_rank_streams(0);
    if (ctx_.dist.sync_batchnorm) {
      sync_bn_ = std::make_unique<dist::SyncBatchNorm>(
          std::vector<torch::nn::Module*>{ctx_.model.get(), ctx_.objective.get()}, ctx_.group);
      if (sync_bn_->num_layers() == 0) {
        CT_LOG_WARN("dist.sync_batchnorm: the model has no BatchNorm layer to synchronise");
        sync_bn_.reset();
      } else {
        CT_LOG_INFO("dist.sync_batchnorm: ", sync_bn_->num_layers(), " BatchNorm layer(s) normalise over all ranks");
      }
    }
  }
  const int64_t nb = epoch_batches(ctx_.train_loader(0));
  CT_CHECK(nb > 0, DataError, "train: the training loader has no batches (", ctx_.train_loader(0).shard_size(),
           " samples, batch_size ", ctx_.train_loader(0).options().batch_size, ", drop_last ",
           ctx_.train_loader(0).options().drop_last ? "true" : "false", ")");
  steps_per_epoch_ = (nb + o.accumulate - 1) / o.accumulate;
  total_steps_ = o.steps > 0 ? o.steps : o.epochs * steps_per_epoch_;
  if (o.ema.enabled) ema_ = std::make_unique<ModelEma>(*ctx_.model, o.ema.decay, o.ema.warmup);

  // What decides "best": a validation value, when there is a validation set.
  const size_t slash = o.monitor.find('/');
  CT_CHECK(slash != std::string::npos && slash > 0 && slash + 1 < o.monitor.size(), ConfigError,
           "train.monitor: expected 'split/key' such as 'val/loss' or 'val/f1_macro', got '", o.monitor, "'");
  monitor_split_ = o.monitor.substr(0, slash);
  monitor_key_ = o.monitor.substr(slash + 1);
  CT_CHECK(monitor_split_ == "val", ConfigError,
           "train.monitor: only validation values can be monitored ('val/...'), got '", o.monitor, "'");
  // The key is the loss, one of the objective's own values (MAE's "ncc"), or a metric.
  std::optional<bool> objective_direction;
  std::vector<std::string> objective_keys;
  for (const auto& [key, higher] : ctx_.objective->scalar_keys()) {
    objective_keys.push_back(key);
    if (key == monitor_key_) objective_direction = higher;
  }
  if (monitor_key_ == "loss") {
    higher_is_better_ = false;
  } else if (objective_direction) {
    higher_is_better_ = *objective_direction;
    if (!ctx_.val_loader)
      CT_LOG_WARN("train.monitor ", o.monitor, ": there is no validation set, so no best checkpoint");
  } else if (!ctx_.val_loader) {
    CT_LOG_WARN("train.monitor ", o.monitor, ": there is no validation set, so no best checkpoint");
  } else {
    CT_CHECK(ctx_.val_metrics != nullptr, ConfigError, "train.monitor '", o.monitor, "': the objective '",
             ctx_.objective->objective_name(), "' logs ",
             objective_keys.empty() ? std::string("no values of its own") : join(objective_keys),
             " and there are no metrics; set metrics: or monitor val/loss");
    higher_is_better_ = ctx_.val_metrics->higher_is_better(monitor_key_);
  }
  if (o.mode != "auto") higher_is_better_ = o.mode == "max";
  if (!ctx_.val_loader && o.patience > 0)
    CT_LOG_WARN("train.patience is set but there is no validation set: early stopping is off");
  if (!ctx_.checkpoint_dir.empty()) files_ = std::make_unique<CheckpointFiles>(ctx_.checkpoint_dir, o.keep_last);
}

Trainer::~Trainer() = default;

void Trainer::request_stop(const std::string& reason) {
  if (state_.stop_reason.empty()) state_.stop_reason = reason;
}

bool Trainer::done() const {
  if (state_.finished || !state_.stop_reason.empty()) return true;
  const TrainOptions& o = ctx_.options;
  return o.steps > 0 ? state_.step >= o.steps : state_.epoch >= o.epochs;
}

int64_t Trainer::window_samples(const data::Loader& loader, int64_t first, int64_t n) const {
  // Over every rank's shard (data/loader.h): the loss of a window is the mean over the global
  // window, so 2 ranks x batch B compute the same update as 1 rank x batch 2B.
  const data::LoaderOptions& lo = loader.options();
  const int64_t bs = lo.batch_size, size = loader.dataset().size(), world = lo.world_size;
  int64_t total = 0;
  for (int64_t r = 0; r < world; ++r) {
    const int64_t shard = size / world + (r < size % world ? 1 : 0);
    const int64_t nb = lo.drop_last ? shard / bs : (shard + bs - 1) / bs;
    for (int64_t i = first; i < std::min(first + n, nb); ++i)
      total += std::max<int64_t>(0, std::min(bs, shard - i * bs));
  }
  return total;
}

int64_t epoch_batches(const data::Loader& loader) {
  // Rank 0 holds the largest shard, so it has the most batches.
  const data::LoaderOptions& lo = loader.options();
  const int64_t size = loader.dataset().size(), world = lo.world_size, bs = lo.batch_size;
  const int64_t shard0 = size / world + (size % world > 0 ? 1 : 0);
  return lo.drop_last ? shard0 / bs : (shard0 + bs - 1) / bs;
}

const TrainState& Trainer::fit() {
  const auto t0 = Clock::now();
  const double elapsed0 = state_.elapsed_s;
  fit_start_ = t0;
  elapsed_base_ = elapsed0;
  for (auto& cb : callbacks_) cb->on_fit_start(*this);
  ctx_.model->train();
  ctx_.objective->train();
  while (!done()) run_epoch();
  if (state_.stop_reason.empty()) state_.stop_reason = "completed";
  state_.finished = true;
  state_.elapsed_s = elapsed0 + seconds_since(t0);
  for (auto& cb : callbacks_) cb->on_fit_end(*this);
  return state_;
}

void Trainer::run_epoch() {
  const int64_t epoch = state_.epoch;
  data::Loader& loader = ctx_.train_loader(epoch);
  const int64_t nb = epoch_batches(loader);
  CT_CHECK(state_.batch < nb, DataError, "train: resume position batch ", state_.batch, " is past the ", nb,
           " batches of epoch ", epoch, " (did the training data change?)");
  // Resuming mid-epoch: the order is a function of (seed, epoch), so skipping is exact and the
  // skipped batches are never decoded.
  loader.start_epoch(epoch, std::min(state_.batch, loader.num_batches()));
  if (sync_bn_ && !stand_in_ && state_.batch >= loader.num_batches() && loader.num_batches() > 0) {
    // Resumed where this rank's shard has no batch left: its last batch stands in (join_step).
    loader.start_epoch(epoch, loader.num_batches() - 1);
    stand_in_ = loader.next();
  }
  while (state_.epoch == epoch && !done()) {
    Window w;
    w.epoch = epoch;
    w.first = state_.batch;
    w.n = std::min(ctx_.options.accumulate, nb - state_.batch);
    train_window(loader, w);
    after_window(w, nb);
  }
}

void Trainer::train_window(data::Loader& loader, Window& w) {
  w.start = Clock::now();
  w.total = static_cast<double>(window_samples(loader, w.first, w.n));
  ctx_.optimizer->zero_grad();
  const int64_t local_nb = loader.num_batches();
  // The window's last backward pass on this rank (a rank whose shard ends early has fewer,
  // unless it joins its peers' passes): its gradients are final, so with overlap their
  // all-reduce may start as they become ready.
  const int64_t last_backward = sync_bn_ ? w.n - 1 : std::clamp<int64_t>(local_nb - w.first, 0, w.n) - 1;
  for (int64_t i = 0; i < w.n; ++i) {
    if (sync_ && i == last_backward) sync_->arm();
    if (w.first + i >= local_nb) {  // this rank's shard ended one batch before rank 0's
      if (!sync_bn_) break;
      join_step();
      continue;
    }
    std::optional<data::Batch> b = loader.next();
    CT_INTERNAL_ASSERT(b.has_value(), "the loader ended before batch ", w.first + i);
    if (sync_bn_) stand_in_ = *b;
    StepOutput out;
    {
      AutocastScope ac(ctx_.device, precision_);
      out = ctx_.objective->step(*ctx_.model, *b, true);
    }
    const at::Tensor loss = out.loss.to(at::kFloat);
    w.samples += b->size();
    const double value = loss.item<double>();
    if (!std::isfinite(value)) {
      // The rest of the window is still read (the data position stays exact) but not used.
      w.poisoned = true;
      w.bad_loss = value;
      // Synchronised BatchNorm layers reduce in backward: every rank runs it (the gradients
      // of a poisoned window are discarded on every rank).
      if (sync_bn_) (loss * 0.0).backward();
      continue;
    }
    // Each batch's mean loss weighted by its share of the window's samples: the accumulated
    // gradient equals the gradient of the mean over the whole window.
    scaler_.scale(loss * (static_cast<double>(b->size()) / w.total)).backward();
    const at::Tensor weighted = loss.detach() * static_cast<double>(b->size());
    w.loss_sum = w.loss_sum.defined() ? w.loss_sum + weighted : weighted;
    for (const auto& [k, v] : out.scalars) {
      const at::Tensor s = v.detach().to(at::kFloat) * static_cast<double>(b->size());
      auto it = w.scalar_sums.find(k);
      if (it == w.scalar_sums.end()) w.scalar_sums.emplace(k, s);
      else it->second = it->second + s;
    }
  }
}

void Trainer::join_step() {
  // Synchronised BatchNorm layers gather statistics in forward and reduce in backward, so this
  // rank takes part in the peers' pass with its last batch, adding no samples to the
  // statistics and no gradient (SyncBatchNorm::Join).
  CT_CHECK(stand_in_.has_value(), DataError, "dist.sync_batchnorm: rank ", ctx_.group->rank(),
           " has no training batch this epoch to join the other ranks' BatchNorm statistics with (its shard has "
           "fewer samples than batch_size with drop_last: true); lower batch_size or set drop_last: false");
  dist::SyncBatchNorm::Join join;
  StepOutput out;
  {
    AutocastScope ac(ctx_.device, precision_);
    out = ctx_.objective->step(*ctx_.model, *stand_in_, true);
  }
  (out.loss.to(at::kFloat) * 0.0).backward();
}

void Trainer::reduce_window(Window& w) {
  // One round: the gradients, and beside them the window's sample count, whether any rank
  // saw a non-finite loss, the loss sum and the objective's scalar sums.
  if (!w.scalar_sums.empty() && scalar_keys_.empty())
    for (const auto& kv : w.scalar_sums) scalar_keys_.push_back(kv.first);
  std::vector<double> extra = {static_cast<double>(w.samples), w.poisoned ? 1.0 : 0.0,
                               w.loss_sum.defined() ? w.loss_sum.item<double>() : 0.0};
  for (const auto& k : scalar_keys_) {
    auto it = w.scalar_sums.find(k);
    extra.push_back(it == w.scalar_sums.end() ? 0.0 : it->second.item<double>());
  }
  const at::Tensor summed = sync_->sync(at::tensor(at::ArrayRef<double>(extra), at::dtype(at::kDouble))).contiguous();
  const double* v = summed.data_ptr<double>();
  w.samples = static_cast<int64_t>(std::llround(v[0]));
  if (v[1] > 0 && !w.poisoned) {
    w.poisoned = true;
    w.bad_loss = std::nan("");
  }
  w.loss_sum = at::scalar_tensor(v[2], at::kFloat);
  w.scalar_sums.clear();
  for (size_t k = 0; k < scalar_keys_.size(); ++k)
    w.scalar_sums.emplace(scalar_keys_[k], at::scalar_tensor(v[3 + k], at::kFloat));
}

void Trainer::inject_fault() const {
  // A testing aid (docs/distributed.md): CT_DIST_FAULT="rank=1,step=2,action=kill|hang|throw"
  // makes that rank die, hang or fail right after that optimizer step.
  const char* spec = std::getenv("CT_DIST_FAULT");
  if (!spec || !*spec) return;
  int64_t rank = -1, step = -1;
  std::string action = "kill";
  for (const auto& part : split(spec, ',')) {
    const size_t eq = part.find('=');
    CT_CHECK(eq != std::string::npos, ConfigError, "CT_DIST_FAULT='", spec, "': expected key=value items");
    const std::string k = part.substr(0, eq), val = part.substr(eq + 1);
    if (k == "rank") rank = std::stoll(val);
    else if (k == "step") step = std::stoll(val);
    else if (k == "action") action = val;
    else throw ConfigError(str_cat("CT_DIST_FAULT='", spec, "': unknown key '", k, "' (rank, step, action)"));
  }
  const int64_t me = ctx_.group ? ctx_.group->rank() : 0;
  if (me != rank || state_.step != step) return;
  std::fprintf(stderr, "CT_DIST_FAULT: rank %lld %s at step %lld\n", static_cast<long long>(me), action.c_str(),
               static_cast<long long>(step));
  std::fflush(stderr);
  if (action == "kill") std::raise(SIGKILL);
  if (action == "hang")
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  if (action == "throw") throw DataError(str_cat("CT_DIST_FAULT: rank ", me, " failed at step ", step));
  throw ConfigError(str_cat("CT_DIST_FAULT='", spec, "': action must be kill, hang or throw"));
}

void Trainer::after_window(Window& w, int64_t nb) {
  const TrainOptions& o = ctx_.options;
  if (parallel()) reduce_window(w);
  StepInfo info;
  info.epoch = w.epoch;
  info.batches_in_epoch = nb;
  info.samples = w.samples;
  info.grad_norm = std::nan("");
  bool nonfinite = w.poisoned;
  std::string why = w.poisoned ? str_cat("loss ", w.bad_loss) : "";
  if (!w.poisoned) {
    const bool overflow = scaler_.enabled() && scaler_.unscale(params_);
    if (overflow) {
      // fp16 overflow: expected now and then; the scaler backs off and the step is skipped.
      scaler_.update(true);
      ++state_.overflow_skips;
    } else {
      info.grad_norm = clip_grad_norm(params_, o.clip_grad_norm);
      if (!std::isfinite(info.grad_norm)) {
        nonfinite = true;
        why = str_cat("gradient norm ", info.grad_norm);
      } else {
        info.lr = ctx_.schedule->lr(state_.step);
        set_learning_rate(*ctx_.optimizer, info.lr);
        ctx_.optimizer->step();
        if (parallel() && has_buffers_ && ctx_.dist.broadcast_buffers)
          dist::broadcast_buffers(*ctx_.model, *ctx_.group);
        scaler_.update(false);
        info.applied = true;
        ++state_.step;
      }
    }
  }
  ctx_.optimizer->zero_grad();
  if (nonfinite) {
    ++state_.nonfinite_total;
    ++state_.nonfinite_run;
    CT_LOG_WARN("step ", state_.step, " (epoch ", w.epoch, ", batches ", w.first, "-", w.first + w.n - 1,
                "): non-finite ", why, "; the update was skipped (", state_.nonfinite_run, " in a row, ",
                state_.nonfinite_total, " in total)");
    CT_CHECK(state_.nonfinite_run < o.max_nonfinite, Error, "training stopped at step ", state_.step, " (epoch ",
             w.epoch, "): ", state_.nonfinite_run, " consecutive steps had a non-finite loss or gradient (last: ", why,
             "). Lower optimizer.lr, set train.clip_grad_norm, use amp: fp32, or check the data for NaN "
             "(`cardiotorch info DIR`)");
  } else if (info.applied) {
    state_.nonfinite_run = 0;
  }
  state_.batch += w.n;
  state_.samples += w.samples;
  info.step = state_.step;
  info.batch = state_.batch;
  info.loss = w.loss_sum.defined() && !nonfinite ? w.loss_sum / static_cast<double>(w.samples)
                                                 : at::scalar_tensor(std::nan(""), at::kFloat);
  for (auto& [k, v] : w.scalar_sums) info.scalars.emplace_back(k, v / static_cast<double>(w.samples));
  info.seconds = seconds_since(w.start);

  if (info.applied) {
    ctx_.objective->after_step(*ctx_.model, state_.step, total_steps_);
    if (ema_) ema_->update(*ctx_.model);
  }
  for (auto& cb : callbacks_) cb->on_step_end(*this, info);

  const bool epoch_end = state_.batch >= nb;
  const bool finishing = o.steps > 0 ? state_.step >= o.steps : (epoch_end && w.epoch + 1 >= o.epochs);
  const bool validate_now =
      ctx_.val_loader && (finishing || (epoch_end && o.val_every > 0 && (w.epoch + 1) % o.val_every == 0) ||
                          (info.applied && o.val_every_steps > 0 && state_.step % o.val_every_steps == 0));
  state_.improved = false;
  if (validate_now) validate();
  if (epoch_end) {
    ++state_.epoch;
    state_.batch = 0;
    for (auto& cb : callbacks_) cb->on_epoch_end(*this);
  }
  if (finishing) state_.finished = true;
  const bool checkpoint_now =
      validate_now || epoch_end || finishing || !state_.stop_reason.empty() ||
      (info.applied && o.checkpoint_every_steps > 0 && state_.step % o.checkpoint_every_steps == 0);
  if (checkpoint_now) save_checkpoint();
  if (info.applied) inject_fault();
}

EvalResult Trainer::validate() {
  CT_CHECK(ctx_.val_loader != nullptr, UsageError, "validate: no validation loader");
  for (auto& cb : callbacks_) cb->on_validation_start(*this);
  const bool swap = ema_ && ctx_.options.ema.validate;
  if (swap) ema_->swap(*ctx_.model);
  EvalResult r;
  try {
    r = evaluate(*ctx_.model, *ctx_.objective, *ctx_.val_loader, ctx_.val_metrics.get(), ctx_.device, precision_,
                 ctx_.options.progress ? "validation" : "", 0, ctx_.options.progress, ctx_.group);
  } catch (...) {
    if (swap) ema_->swap(*ctx_.model);
    throw;
  }
  if (swap) ema_->swap(*ctx_.model);
  ++state_.validations;
  const auto all = r.all();
  auto it = all.find(monitor_key_);
  CT_CHECK(it != all.end(), ConfigError, "train.monitor: validation gave no value '", monitor_key_, "'; it gave ",
           join([&] {
             std::vector<std::string> k;
             for (const auto& kv : all) k.push_back(kv.first);
             return k;
           }()));
  const double value = it->second;
  Monitor m{monitor_split_, monitor_key_, higher_is_better_};
  if (m.improved(state_.best, value)) {
    state_.best = value;
    state_.best_step = state_.step;
    state_.best_epoch = state_.epoch;
    state_.improved = true;
  }
  ctx_.schedule->on_validation(value, higher_is_better_);
  for (auto& cb : callbacks_) cb->on_validation_end(*this, r);
  return r;
}

weights::CheckpointData Trainer::snapshot() const {
  weights::CheckpointData d;
  d.groups["model"] = weights::module_state_dict(*ctx_.model);
  auto obj = weights::module_state_dict(*ctx_.objective);
  if (!obj.empty()) d.groups["objective"] = std::move(obj);
  d.groups["optimizer"] = ctx_.optimizer->state_dict();
  if (ema_) d.groups["ema"] = ema_->state_dict();
  weights::NamedTensors rng;
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng.emplace_back("cpu", gen.get_state());
  }
  for (int64_t i = 0; i < num_cuda_devices(); ++i) {
    auto gen = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i)));
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng.emplace_back(str_cat("cuda.", i), gen.get_state());
  }
  for (auto& [name, gen] : module_generators(*ctx_.model, "model:")) {
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng.emplace_back(name, gen.get_state());
  }
  for (auto& [name, gen] : module_generators(*ctx_.objective, "objective:")) {
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng.emplace_back(name, gen.get_state());
  }
  d.groups["rng"] = std::move(rng);

  TrainState s = state_;
  s.elapsed_s = elapsed_base_ + seconds_since(fit_start_);
  d.sections["trainer"] = s.to_json();
  d.sections["scheduler"] = ctx_.schedule->state();
  d.sections["scaler"] = scaler_.state();
  nlohmann::json cbs = nlohmann::json::object();
  for (const auto& cb : callbacks_) {
    const std::string st = cb->state();
    cbs[cb->name()] = st.empty() ? nlohmann::json() : nlohmann::json::parse(st);
  }
  d.sections["callbacks"] = cbs.dump();
  const data::Loader& loader = ctx_.train_loader(state_.epoch);
  // The position is global: batch k of an epoch is the same samples for any world size with
  // the same global batch (batch_size x world_size), so a run resumes on a different number
  // of ranks.
  d.sections["data"] = nlohmann::json{{"seed", loader.options().seed},
                                      {"epoch", state_.epoch},
                                      {"batch", state_.batch},
                                      {"batch_size", loader.options().batch_size},
                                      {"shard_size", loader.shard_size()},
                                      {"world_size", loader.options().world_size},
                                      {"global_batch", loader.options().batch_size * loader.options().world_size},
                                      {"train_size", loader.dataset().size()}}
                           .dump();
  for (const auto& [k, v] : ctx_.sections) d.sections[k] = v;
  d.config_yaml = ctx_.config_yaml;
  d.registry = ctx_.registry;
  d.registry["optimizer"] = ctx_.optimizer->name();
  d.registry["scheduler"] = ctx_.schedule->name();
  d.registry["objective"] = ctx_.objective->objective_name();
  return d;
}

void Trainer::reseed_rank_streams(int64_t step) {
  const int64_t rank = ctx_.group->rank();
  if (rank == 0) return;  // rank 0 keeps the seed's own streams (those of a single process)
  for (auto& [name, gen] : training_generators(*ctx_.model, *ctx_.objective)) {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(
        derive_seed(gen.current_seed(), kRankStreamTag, static_cast<uint64_t>(rank), static_cast<uint64_t>(step)));
  }
}

weights::NamedTensors Trainer::gather_rank_streams() {
  // Every rank's generator states go into rank 0's checkpoint ("rank<r>/<name>"), so a resume on
  // as many ranks continues every rank's draws exactly.
  std::vector<at::Tensor> states;
  std::vector<std::string> names;
  for (auto& [name, gen] : training_generators(*ctx_.model, *ctx_.objective)) {
    std::lock_guard<std::mutex> lock(gen.mutex());
    states.push_back(gen.get_state().reshape({-1}));
    names.push_back(name);
  }
  const at::Tensor flat = at::cat(states);
  const std::vector<at::Tensor> all = dist::gather_rows(flat, *ctx_.group);
  weights::NamedTensors out;
  for (size_t r = 1; r < all.size(); ++r) {
    CT_CHECK(all[r].defined() && all[r].numel() == flat.numel(), InternalError, "checkpoint: rank ", r,
             " has generator states of ", all[r].defined() ? all[r].numel() : 0, " bytes, rank 0 ", flat.numel());
    int64_t off = 0;
    for (size_t k = 0; k < states.size(); ++k) {
      out.emplace_back(str_cat("rank", r, "/", names[k]), all[r].narrow(0, off, states[k].numel()).clone());
      off += states[k].numel();
    }
  }
  return out;
}

void Trainer::save_checkpoint() {
  weights::NamedTensors rank_rng;
  if (parallel() && rank_streams_) rank_rng = gather_rank_streams();  // a collective: every rank takes part
  if (!files_) return;
  weights::CheckpointData d = snapshot();
  for (auto& kv : rank_rng) d.groups["rng"].push_back(std::move(kv));
  last_checkpoint_ = files_->save(d, state_.step, state_.improved);
  last_checkpoint_step_ = state_.step;
  CT_LOG_DEBUG("checkpoint ", last_checkpoint_, state_.improved ? " (best)" : "");
}

void Trainer::resume(const weights::CheckpointData& ck) {
  auto group = [&](const std::string& name) -> const weights::NamedTensors& {
    static const weights::NamedTensors none;
    auto it = ck.groups.find(name);
    return it == ck.groups.end() ? none : it->second;
  };
  auto section = [&](const std::string& name) -> const std::string& {
    auto it = ck.sections.find(name);
    CT_CHECK(it != ck.sections.end(), DataError, "checkpoint: missing section '", name,
             "' (not a training checkpoint?)");
    return it->second;
  };
  // Check everything that can be checked before changing anything.
  const TrainState s = TrainState::from_json(section("trainer"));
  const auto data = nlohmann::json::parse(section("data"));
  const data::Loader& loader = ctx_.train_loader(s.epoch);
  if (data.contains("global_batch")) {
    const int64_t size = loader.dataset().size(), global = loader.options().batch_size * loader.options().world_size;
    CT_CHECK(data.at("train_size").get<int64_t>() == size, DataError, "checkpoint: it was written for ",
             data.at("train_size").get<int64_t>(), " training samples, the training set now has ", size,
             " (did the data change?)");
    CT_CHECK(data.at("global_batch").get<int64_t>() == global, DataError, "checkpoint: global batch ",
             data.at("global_batch").get<int64_t>(), " (batch_size ", data.at("batch_size").get<int64_t>(), " x ",
             data.at("world_size").get<int64_t>(), " ranks) vs ", global, " now (batch_size ",
             loader.options().batch_size, " x ", loader.options().world_size,
             " ranks); resume on another number of ranks with batch_size x ranks unchanged");
  } else {
    CT_CHECK(data.at("shard_size").get<int64_t>() == loader.shard_size(), DataError, "checkpoint: it was written for ",
             data.at("shard_size").get<int64_t>(), " training samples, the training set now has ", loader.shard_size(),
             " (did the data change?)");
    CT_CHECK(data.at("batch_size").get<int64_t>() == loader.options().batch_size, DataError, "checkpoint: batch_size ",
             data.at("batch_size").get<int64_t>(), " vs ", loader.options().batch_size, " now");
  }

  std::map<std::string, at::Generator> owned;
  for (auto& [name, gen] : module_generators(*ctx_.model, "model:")) owned.emplace(name, gen);
  for (auto& [name, gen] : module_generators(*ctx_.objective, "objective:")) owned.emplace(name, gen);
  for (const auto& kv : owned) {
    bool found = false;
    for (const auto& [name, t] : group("rng")) found = found || name == kv.first;
    CT_CHECK(found, DataError, "checkpoint: no state for the generator '", kv.first,
             "' (written by a model without it?)");
  }

  load_exact_state(*ctx_.model, group("model"), "model");
  load_exact_state(*ctx_.objective, group("objective"), "objective");
  ctx_.optimizer->load_state_dict(group("optimizer"));
  if (ema_) {
    CT_CHECK(ck.groups.count("ema"), DataError, "checkpoint: train.ema is enabled but the checkpoint has no EMA");
    ema_->load_state_dict(group("ema"));
  }
  for (const auto& [name, t] : group("rng")) {
    if (auto it = owned.find(name); it != owned.end()) {
      std::lock_guard<std::mutex> lock(it->second.mutex());
      it->second.set_state(t);
    } else if (name == "cpu") {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(t);
    } else if (starts_with(name, "cuda.")) {
      const int64_t i = std::stoll(name.substr(5));
      if (i < num_cuda_devices()) {
        auto gen = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i)));
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(t);
      }
    }
  }
  if (parallel() && rank_streams_ && ctx_.group->rank() > 0) {
    // This rank's own states when the checkpoint has them (written on at least as many
    // ranks); else streams derived afresh from (seed, rank, step): a resume on more ranks than
    // wrote the checkpoint continues those ranks' draws differently than any earlier run.
    const std::string prefix = str_cat("rank", ctx_.group->rank(), "/");
    std::map<std::string, const at::Tensor*> saved;
    for (const auto& [name, t] : group("rng"))
      if (starts_with(name, prefix)) saved[name.substr(prefix.size())] = &t;
    bool all_found = true;
    for (auto& [name, gen] : training_generators(*ctx_.model, *ctx_.objective)) {
      auto it = saved.find(name);
      if (it == saved.end()) {
        all_found = false;
        continue;
      }
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(*it->second);
    }
    if (!all_found) {
      CT_LOG_WARN("resume: the checkpoint has no generator states of rank ", ctx_.group->rank(),
                  "; its dropout/mask streams are derived afresh from (seed, rank, step)");
      reseed_rank_streams(s.step);
    }
  }
  ctx_.schedule->load_state(section("scheduler"));
  scaler_.load_state(section("scaler"));
  const auto cbs = nlohmann::json::parse(section("callbacks"));
  for (auto& cb : callbacks_) {
    auto it = cbs.find(cb->name());
    if (it != cbs.end() && !it->is_null()) cb->load_state(it->dump());
  }
  state_ = s;
  // A finished run resumed with more epochs or steps continues.
  if (state_.finished && state_.stop_reason == "completed") {
    state_.finished = false;
    state_.stop_reason.clear();
  }
  CT_LOG_INFO("resumed at step ", state_.step, " (epoch ", state_.epoch, ", batch ", state_.batch, ")");
}

}  // namespace cardiotorch::train
