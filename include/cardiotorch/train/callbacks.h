#pragma once
// The trainer's standard callbacks: early stopping and the run logger (metrics.jsonl,
// TensorBoard event files, progress bars with loss / lr / throughput / ETA, the human log, and
// the training figures at the end).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cardiotorch/train/trainer.h"

namespace cardiotorch {
class MetricsWriter;
}
namespace cardiotorch::report {
class TensorBoardWriter;
}

namespace cardiotorch::train {

/// Stops training after `patience` validations without an improvement of the trainer's
/// monitored value by more than `min_delta`.
class EarlyStopping final : public Callback {
 public:
  EarlyStopping(int64_t patience, double min_delta);
  std::string name() const override { return "early_stopping"; }
  void on_validation_end(Trainer& trainer, const EvalResult& result) override;
  std::string state() const override;
  void load_state(const std::string& json) override;
  int64_t wait() const { return wait_; }

 private:
  int64_t patience_;
  double min_delta_;
  double best_;
  int64_t wait_ = 0;
};

struct RunLoggerOptions {
  std::string run_dir;               ///< where tensorboard/ and plots/ go
  MetricsWriter* metrics = nullptr;  ///< metrics.jsonl (may be null)
  bool tensorboard = true;
  bool plots = true;  ///< loss/metric/lr curves at the end (plots/*.svg)
  bool progress = true;
};

/// Writes what the run does: a "train" record every log_every steps (loss, lr, grad_norm,
/// samples/s) and a "val" record per validation (loss and every metric) to metrics.jsonl and
/// TensorBoard, a progress bar per epoch, one log line per validation and epoch, and the
/// curves at the end.
class RunLogger final : public Callback {
 public:
  explicit RunLogger(RunLoggerOptions options);
  ~RunLogger() override;
  std::string name() const override { return "logger"; }
  void on_fit_start(Trainer& trainer) override;
  void on_step_end(Trainer& trainer, const StepInfo& step) override;
  void on_validation_end(Trainer& trainer, const EvalResult& result) override;
  void on_epoch_end(Trainer& trainer) override;
  void on_fit_end(Trainer& trainer) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A callback from lambdas (tests, small hooks in applications).
class LambdaCallback final : public Callback {
 public:
  std::string label = "lambda";
  std::function<void(Trainer&, const StepInfo&)> step_end;
  std::function<void(Trainer&, const EvalResult&)> validation_end;
  std::function<void(Trainer&)> epoch_end;
  std::string name() const override { return label; }
  void on_step_end(Trainer& t, const StepInfo& s) override {
    if (step_end) step_end(t, s);
  }
  void on_validation_end(Trainer& t, const EvalResult& r) override {
    if (validation_end) validation_end(t, r);
  }
  void on_epoch_end(Trainer& t) override {
    if (epoch_end) epoch_end(t);
  }
};

}  // namespace cardiotorch::train
