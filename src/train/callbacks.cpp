#include "cardiotorch/train/callbacks.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cardiotorch/core/log.h"
#include "cardiotorch/core/progress.h"
#include "cardiotorch/core/run_dir.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/train/metric_log.h"
#include "cardiotorch/report/ecg_plot.h"
#include "cardiotorch/report/metrics_log.h"
#include "cardiotorch/report/tensorboard.h"
#include "cardiotorch/report/training_plots.h"

namespace cardiotorch::train {

namespace {
using Clock = std::chrono::steady_clock;

std::string fmt(double v, const char* spec = "%.4g") {
  char b[64];
  std::snprintf(b, sizeof b, spec, v);
  return b;
}
}  // namespace

// ------------------------------------------------------------------------ early stopping

EarlyStopping::EarlyStopping(int64_t patience, double min_delta)
    : patience_(patience), min_delta_(min_delta), best_(std::nan("")) {}

void EarlyStopping::on_validation_end(Trainer& trainer, const EvalResult& result) {
  const auto all = result.all();
  auto it = all.find(trainer.monitor_key());
  if (it == all.end()) return;
  Monitor m{"val", trainer.monitor_key(), trainer.monitor_higher_is_better()};
  if (m.improved(best_, it->second, min_delta_)) {
    best_ = it->second;
    wait_ = 0;
    return;
  }
  if (++wait_ >= patience_)
    trainer.request_stop(str_cat("early stopping: val/", trainer.monitor_key(), " did not improve by more than ",
                                 min_delta_, " in ", wait_, " validations (best ", fmt(best_), ")"));
}

std::string EarlyStopping::state() const {
  return nlohmann::json{{"best", std::isfinite(best_) ? nlohmann::json(best_) : nlohmann::json()}, {"wait", wait_}}
      .dump();
}

void EarlyStopping::load_state(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  best_ = j.at("best").is_null() ? std::nan("") : j.at("best").get<double>();
  wait_ = j.at("wait").get<int64_t>();
}

// ------------------------------------------------------------------------------- logger

struct RunLogger::Impl {
  RunLoggerOptions o;
  std::unique_ptr<report::TensorBoardWriter> tb;
  std::unique_ptr<ProgressBar> bar;
  int64_t bar_epoch = -1;
  Clock::time_point start = Clock::now(), last_postfix{};
  // The current log window (log_every applied steps).
  at::Tensor loss_sum;
  int64_t loss_steps = 0, samples = 0, applied = 0;
  double seconds = 0, grad_norm_sum = 0;
  std::map<std::string, at::Tensor> scalar_sums;
  // The current epoch.
  at::Tensor epoch_loss_sum;
  int64_t epoch_steps = 0, epoch_samples = 0;
  double epoch_seconds = 0;
  int64_t first_step = 0;  // the step this session started from (a resume starts later)

  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start).count(); }
  void record(const std::string& split, const Trainer& t, const std::map<std::string, double>& values) {
    // A validation right after an epoch's last step belongs to that epoch.
    const int64_t epoch =
        split == "val" && t.state().batch == 0 && t.state().epoch > 0 ? t.state().epoch - 1 : t.state().epoch;
    if (o.metrics) log_metrics(*o.metrics, tb.get(), split, t.state().step, epoch, values);
    else if (tb) tb->add_scalars(values, t.state().step, split);
  }
};

RunLogger::RunLogger(RunLoggerOptions options) : impl_(std::make_unique<Impl>()) { impl_->o = std::move(options); }
RunLogger::~RunLogger() = default;

void RunLogger::on_fit_start(Trainer& t) {
  auto& I = *impl_;
  I.start = Clock::now();
  I.first_step = t.state().step;
  if (I.o.tensorboard && !I.o.run_dir.empty() && !I.tb) {
    try {
      I.tb = std::make_unique<report::TensorBoardWriter>(I.o.run_dir + "/tensorboard");
    } catch (const std::exception& e) {
      CT_LOG_WARN("tensorboard: ", e.what(), "; continuing without event files");
    }
  }
  const auto& c = t.context();
  const auto& o = c.options;
  const data::Loader& loader = c.train_loader(t.state().epoch);
  CT_LOG_INFO("training ", c.model->model_name(), " (", models::format_count(models::count_parameters(*c.model, true)),
              " trainable of ", models::format_count(models::count_parameters(*c.model)), " parameters) with ",
              c.objective->objective_name(), ", ", c.optimizer->name(), " (base lr ", fmt(c.optimizer->base_lr()), ", ",
              c.optimizer->groups().size(), " parameter groups), ", c.schedule->name(), " schedule: ", t.total_steps(),
              " steps", o.steps > 0 ? "" : str_cat(" (", o.epochs, " epochs x ", t.steps_per_epoch(), ")"), ", batch ",
              loader.options().batch_size,
              loader.options().world_size > 1 ? str_cat(" x ", loader.options().world_size, " ranks") : "",
              o.accumulate > 1 ? str_cat(" x ", o.accumulate, " accumulated") : "", ", ", precision_name(t.precision()),
              " on ", c.device.str());
  if (t.state().step > 0) CT_LOG_INFO("continuing from step ", t.state().step);
  if (I.tb && t.state().step == 0) I.tb->add_text("config", "```\n" + c.config_yaml + "\n```", 0);
}

void RunLogger::on_step_end(Trainer& t, const StepInfo& s) {
  auto& I = *impl_;
  const auto& o = t.context().options;
  if (I.o.progress && o.progress && (!I.bar || I.bar_epoch != s.epoch)) {
    if (I.bar) I.bar->finish();
    const int64_t done_windows = (s.batch - 1) / o.accumulate;  // windows of this epoch before this one
    I.bar = std::make_unique<ProgressBar>(
        o.steps > 0 ? str_cat("epoch ", s.epoch + 1) : str_cat("epoch ", s.epoch + 1, "/", o.epochs),
        t.steps_per_epoch() - done_windows, "step");
    I.bar_epoch = s.epoch;
  }
  I.seconds += s.seconds;
  I.samples += s.samples;
  I.epoch_seconds += s.seconds;
  I.epoch_samples += s.samples;
  if (s.applied) {
    ++I.applied;
    I.loss_sum = I.loss_sum.defined() ? I.loss_sum + s.loss : s.loss.clone();
    I.epoch_loss_sum = I.epoch_loss_sum.defined() ? I.epoch_loss_sum + s.loss : s.loss.clone();
    ++I.loss_steps;
    ++I.epoch_steps;
    I.grad_norm_sum += s.grad_norm;
    for (const auto& [k, v] : s.scalars) {
      auto it = I.scalar_sums.find(k);
      if (it == I.scalar_sums.end()) I.scalar_sums.emplace(k, v.clone());
      else it->second = it->second + v;
    }
  }
  if (I.bar) {
    I.bar->tick();
    const auto now = Clock::now();
    if (std::chrono::duration<double>(now - I.last_postfix).count() >= 1.0 && s.applied) {
      I.last_postfix = now;
      // Wall time per step over this session (validations included), times the steps left.
      const int64_t done = s.step - I.first_step;
      const double remaining =
          done > 0 ? static_cast<double>(t.total_steps() - s.step) * I.elapsed() / static_cast<double>(done)
                   : std::nan("");
      I.bar->set_postfix(str_cat("loss ", fmt(s.loss.item<double>()), ", lr ", fmt(s.lr, "%.2e"), ", ",
                                 fmt(I.epoch_seconds > 0 ? I.epoch_samples / I.epoch_seconds : 0, "%.1f"),
                                 " samples/s, run ETA ", ProgressBar::format_duration(remaining)));
    }
  }
  if (s.applied && (s.step % o.log_every == 0 || s.step == t.total_steps())) {
    std::map<std::string, double> v;
    v["loss"] = I.loss_steps ? (I.loss_sum / static_cast<double>(I.loss_steps)).item<double>() : std::nan("");
    v["lr"] = s.lr;
    v["grad_norm"] = I.loss_steps ? I.grad_norm_sum / static_cast<double>(I.loss_steps) : std::nan("");
    v["samples_per_s"] = I.seconds > 0 ? static_cast<double>(I.samples) / I.seconds : 0.0;
    for (const auto& [k, sum] : I.scalar_sums) v[k] = (sum / static_cast<double>(I.loss_steps)).item<double>();
    // Per-group learning rates when layer decay spreads them.
    const auto& groups = t.context().optimizer->groups();
    if (groups.size() > 1 && groups.front().lr_scale != groups.back().lr_scale)
      v["lr_min_group"] =
          std::min_element(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.lr < b.lr; })->lr;
    v["nonfinite_total"] = static_cast<double>(t.state().nonfinite_total);
    I.record("train", t, v);
    I.loss_sum = at::Tensor();
    I.loss_steps = I.samples = 0;
    I.seconds = I.grad_norm_sum = 0;
    I.scalar_sums.clear();
  }
}

void RunLogger::on_validation_end(Trainer& t, const EvalResult& r) {
  auto& I = *impl_;
  const auto all = r.all();
  I.record("val", t, all);
  std::vector<std::string> parts;
  parts.push_back(str_cat("loss ", fmt(r.loss)));
  const std::string& key = t.monitor_key();
  if (key != "loss" && all.count(key)) parts.push_back(str_cat(key, " ", fmt(all.at(key))));
  int shown = 0;
  for (const auto& [k, v] : r.metrics) {
    if (k == key || k.find('/') != std::string::npos || shown >= 4) continue;
    parts.push_back(str_cat(k, " ", fmt(v)));
    ++shown;
  }
  CT_LOG_INFO("validation at step ", t.state().step, ": ", join(parts), t.state().improved ? " (best so far)" : "",
              " [", r.samples, " samples, ", fmt(r.seconds, "%.1f"), " s]");
}

void RunLogger::on_epoch_end(Trainer& t) {
  auto& I = *impl_;
  if (I.bar) {
    I.bar->finish();
    I.bar.reset();
  }
  const double loss =
      I.epoch_steps ? (I.epoch_loss_sum / static_cast<double>(I.epoch_steps)).item<double>() : std::nan("");
  CT_LOG_INFO(
      "epoch ", t.state().epoch, " done: train loss ", fmt(loss), ", ",
      fmt(I.epoch_seconds > 0 ? I.epoch_samples / I.epoch_seconds : 0, "%.1f"), " samples/s, ",
      ProgressBar::format_duration(I.epoch_seconds),
      t.state().nonfinite_total ? str_cat(", ", t.state().nonfinite_total, " non-finite steps skipped so far") : "");
  if (I.tb) I.tb->add_scalar("train/epoch_loss", loss, t.state().step);
  I.epoch_loss_sum = at::Tensor();
  I.epoch_steps = I.epoch_samples = 0;
  I.epoch_seconds = 0;
}

void RunLogger::on_fit_end(Trainer& t) {
  auto& I = *impl_;
  if (I.bar) {
    I.bar->finish();
    I.bar.reset();
  }
  if (I.tb) I.tb->flush();
  const auto& s = t.state();
  CT_LOG_INFO(
      "training ended (", s.stop_reason, ") at step ", s.step, " after ", ProgressBar::format_duration(s.elapsed_s),
      std::isfinite(s.best) ? str_cat("; best val/", t.monitor_key(), " ", fmt(s.best), " at step ", s.best_step) : "");
  if (I.o.plots && I.o.metrics && report::plot_supported()) {
    try {
      const auto log = report::read_metrics_log(I.o.metrics->path());
      const auto files = report::save_training_figures(log, I.o.run_dir + "/plots");
      CT_LOG_INFO("figures: ", files.size(), " curves in ", I.o.run_dir, "/plots");
    } catch (const std::exception& e) {
      CT_LOG_WARN("training figures: ", e.what());
    }
  }
}

}  // namespace cardiotorch::train
