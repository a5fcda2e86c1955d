#pragma once
// The training loop: a small Trainer that runs an Objective over a model with an Optimizer and
// an LrSchedule, and a few callbacks around it.
//
// One optimizer step is: `accumulate` batches (forward under autocast, loss x its share of the
// window's samples, backward), a non-finite guard (a window whose loss or gradients are NaN/inf
// is skipped and counted; `max_nonfinite` skipped windows in a row abort with a message), the
// gradient scaler's unscale (fp16), clipping by global norm, the scheduled lr (x each group's
// layer-decay scale) and the update. Then, in this order: the objective's after_step, callbacks'
// on_step_end, a validation when due (every `val_every` epochs and/or `val_every_steps` steps,
// and at the end of the run), callbacks' on_epoch_end at an epoch's end, and a checkpoint when
// due. A checkpoint is taken only there, after everything that changes state, so resuming from
// it continues exactly as the uninterrupted run would (see train/checkpoint.h).
//
// Callbacks see the trainer and may read its state, log, or request a stop (early stopping);
// their own state goes into checkpoints through state()/load_state().
//
// Data parallel (TrainContext::group with several ranks, docs/distributed.md): rank 0's
// weights are broadcast at construction; each batch's loss is weighted by its share of the
// global window (all ranks' samples), gradients are summed over ranks in flat buckets before
// the non-finite guard and clipping (so every rank decides alike), the window's loss and
// scalars are summed with them, and rank 0's buffers are broadcast after each update. Ranks
// other than 0 draw from their own generator streams (dist.same_seed_on_all_ranks), which
// checkpoints keep per rank; validation is sharded (evaluate()); dist.sync_batchnorm
// synchronises the BatchNorm layers (dist/sync_batchnorm.h), a rank without a batch joining
// its peers' passes.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/dist/process_group.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/train/amp.h"
#include "cardiotorch/train/ema.h"
#include "cardiotorch/train/metric_set.h"
#include "cardiotorch/train/objective.h"
#include "cardiotorch/train/optim.h"
#include "cardiotorch/train/schedule.h"

namespace cardiotorch::weights {
struct CheckpointData;
}
namespace cardiotorch::dist {
class GradientSync;
class SyncBatchNorm;
}  // namespace cardiotorch::dist

namespace cardiotorch::train {

class CheckpointFiles;

/// The `train:` section of an experiment.
struct TrainOptions {
  int64_t epochs = 10;          ///< epochs to train (ignored when steps > 0)
  int64_t steps = 0;            ///< > 0: train for this many optimizer steps instead
  int64_t accumulate = 1;       ///< batches per optimizer step
  double clip_grad_norm = 0.0;  ///< max global gradient norm (0 = no clipping)
  std::string amp = "auto";     ///< auto | fp32 | bf16 | fp16 (CUDA only; CPU trains in fp32)
  std::string device = "auto";  ///< auto (cuda when present) | cpu | cuda[:N]
  EmaOptions ema;
  int64_t val_every = 1;               ///< validate every N epochs (0 = only at the end)
  int64_t val_every_steps = 0;         ///< also validate every N optimizer steps (0 = off)
  std::string monitor = "val/loss";    ///< split/key deciding the best checkpoint and early stopping
  std::string mode = "auto";           ///< auto (from the metric) | min | max
  int64_t patience = 0;                ///< early stopping: validations without improvement (0 = off)
  double min_delta = 0.0;              ///< least change that counts as an improvement
  int64_t checkpoint_every_steps = 0;  ///< also checkpoint every N steps (0 = at validations and epoch ends)
  int64_t keep_last = 2;               ///< step checkpoints kept (besides best and last)
  int64_t log_every = 20;              ///< train metrics every N optimizer steps
  int64_t max_nonfinite = 10;          ///< consecutive skipped (non-finite) steps before aborting
  bool progress = true;                ///< progress bars

  template <class V>
  void fields(V& v) {
    v("epochs", epochs, "epochs to train (ignored when steps > 0)");
    v("steps", steps, "optimizer steps to train (0 = use epochs)");
    v("accumulate", accumulate, "batches accumulated per optimizer step");
    v("clip_grad_norm", clip_grad_norm, "clip gradients to this global 2-norm (0 = off)");
    v("amp", amp, "auto | fp32 | bf16 | fp16: autocast precision on CUDA (the CPU trains in fp32)");
    v("device", device, "auto | cpu | cuda[:N]");
    v("ema", ema, "exponential moving average of the weights");
    v("val_every", val_every, "validate every N epochs (0 = only at the end)");
    v("val_every_steps", val_every_steps, "also validate every N optimizer steps (0 = off)");
    v("monitor", monitor, "metric for the best checkpoint and early stopping, e.g. val/loss, val/f1_macro");
    v("mode", mode, "auto | min | max: whether the monitored value should fall or rise");
    v("patience", patience, "early stopping after N validations without improvement (0 = off)");
    v("min_delta", min_delta, "least change of the monitored value that counts as an improvement");
    v("checkpoint_every_steps", checkpoint_every_steps, "also checkpoint every N optimizer steps (0 = off)");
    v("keep_last", keep_last, "step checkpoints kept besides best and last");
    v("log_every", log_every, "log training loss and lr every N optimizer steps");
    v("max_nonfinite", max_nonfinite, "abort after N consecutive steps with a non-finite loss or gradient");
    v("progress", progress, "show progress bars");
  }
  void validate() const;
};

/// Where the run is. Serialised into checkpoints (the "trainer" section).
struct TrainState {
  int64_t epoch = 0;                                       ///< current epoch (0-based)
  int64_t batch = 0;                                       ///< batches of the current epoch consumed
  int64_t step = 0;                                        ///< optimizer steps applied
  int64_t samples = 0;                                     ///< training samples consumed
  int64_t nonfinite_total = 0;                             ///< windows skipped for a non-finite loss or gradient
  int64_t nonfinite_run = 0;                               ///< ... in a row, up to now
  int64_t overflow_skips = 0;                              ///< fp16 steps skipped by the gradient scaler
  double best = std::numeric_limits<double>::quiet_NaN();  ///< best monitored value
  int64_t best_step = -1;
  int64_t best_epoch = -1;
  bool improved = false;  ///< the last validation improved `best`
  int64_t validations = 0;
  bool finished = false;
  std::string stop_reason;  ///< why training stopped ("" while running)
  double elapsed_s = 0.0;   ///< training time so far (all sessions)

  std::string to_json() const;
  static TrainState from_json(const std::string& text);
};

/// One optimizer step as callbacks see it.
struct StepInfo {
  int64_t step = 0;   ///< steps applied so far (after this one)
  int64_t epoch = 0;  ///< epoch of the window
  int64_t batch = 0;  ///< batches of that epoch consumed
  int64_t batches_in_epoch = 0;
  bool applied = true;  ///< false: skipped (non-finite loss/gradients or fp16 overflow)
  at::Tensor loss;      ///< mean loss of the window (0-dim, detached; NaN when skipped)
  std::vector<std::pair<std::string, at::Tensor>> scalars;  ///< the objective's extra values
  double lr = 0.0;                                          ///< base lr used
  double grad_norm = 0.0;  ///< global gradient norm before clipping (NaN when not finite)
  int64_t samples = 0;     ///< samples in the window
  double seconds = 0.0;    ///< wall time of the window
};

/// A validation pass.
struct EvalResult {
  double loss = std::numeric_limits<double>::quiet_NaN();  ///< sample-weighted mean
  int64_t samples = 0;
  MetricValues metrics;                   ///< the MetricSet's values (empty without one)
  std::map<std::string, double> scalars;  ///< the objective's extra values, sample-weighted means
  double seconds = 0.0;
  /// loss and metrics in one map ("loss", "f1_macro", ...), as logged under "val/".
  std::map<std::string, double> all() const;
};

class Trainer;

class Callback {
 public:
  virtual ~Callback() = default;
  virtual std::string name() const = 0;
  virtual void on_fit_start(Trainer&) {}
  virtual void on_step_end(Trainer&, const StepInfo&) {}
  virtual void on_validation_start(Trainer&) {}
  virtual void on_validation_end(Trainer&, const EvalResult&) {}
  virtual void on_epoch_end(Trainer&) {}
  virtual void on_fit_end(Trainer&) {}
  /// State to checkpoint, as JSON text ("" = none) and back.
  virtual std::string state() const { return ""; }
  virtual void load_state(const std::string& /*json*/) {}
};

using CallbackPtr = std::shared_ptr<Callback>;

/// Everything a fit needs. The train loader may be rebuilt per epoch (class-balanced sampling);
/// the function is called at the start of every epoch.
struct TrainContext {
  models::ModelPtr model;
  ObjectivePtr objective;
  OptimizerPtr optimizer;
  LrSchedulePtr schedule;
  std::function<data::Loader&(int64_t epoch)> train_loader;
  data::Loader* val_loader = nullptr;      ///< null: no validation
  std::shared_ptr<MetricSet> val_metrics;  ///< null: loss only
  TrainOptions options;
  c10::Device device = c10::Device(c10::kCPU);
  /// Checkpoint metadata: the resolved config, registry names, further JSON sections.
  std::string config_yaml;
  std::map<std::string, std::string> registry;
  std::map<std::string, std::string> sections;
  /// Where checkpoints go ("" = none are written).
  std::string checkpoint_dir;
  /// Data parallel (docs/distributed.md): this rank's group; null or a world of 1 = one
  /// process. The train loader must shard by the group's rank and world size. A val loader
  /// that shards alike is validated sharded (evaluate(): the metrics of the whole set, computed
  /// by rank 0 and shared, so every rank takes the same early-stopping and best-checkpoint
  /// decisions); an unsharded one is validated whole on every rank. Only the caller decides
  /// who writes: give rank 0 alone a checkpoint_dir and the logging callbacks.
  dist::ProcessGroupPtr group;
  dist::DistOptions dist;
};

class Trainer {
 public:
  Trainer(TrainContext context, std::vector<CallbackPtr> callbacks = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Trains until the configured steps/epochs are done or a callback stops it. Returns the
  /// final state. Resumed trainers continue where the checkpoint left off.
  const TrainState& fit();

  /// Loads a checkpoint written by this trainer's configuration (train/checkpoint.h checks
  /// compatibility first): model, objective, optimizer, schedule, scaler, EMA, RNG states,
  /// trainer state and callbacks' states.
  void resume(const weights::CheckpointData& checkpoint);
  /// The complete state as a checkpoint.
  weights::CheckpointData snapshot() const;

  /// One validation pass now (eval mode, no grad; EMA weights when configured).
  EvalResult validate();

  void request_stop(const std::string& reason);
  const TrainState& state() const { return state_; }
  const TrainContext& context() const { return ctx_; }
  TrainContext& context() { return ctx_; }
  /// Optimizer steps of the whole run (steps, or epochs x windows per epoch).
  int64_t total_steps() const { return total_steps_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  /// Whether the monitored metric improves upwards.
  bool monitor_higher_is_better() const { return higher_is_better_; }
  const std::string& monitor_key() const { return monitor_key_; }
  at::ScalarType precision() const { return precision_; }
  ModelEma* ema() { return ema_.get(); }
  /// Written checkpoints (path of the last one, "" before any).
  const std::string& last_checkpoint() const { return last_checkpoint_; }

 private:
  struct Window;
  void run_epoch();
  void train_window(data::Loader& loader, Window& w);
  void after_window(Window& w, int64_t batches_in_epoch);
  void save_checkpoint();
  bool done() const;
  int64_t window_samples(const data::Loader& loader, int64_t first_batch, int64_t n_batches) const;
  void reduce_window(Window& w);
  void inject_fault() const;
  bool parallel() const { return sync_ != nullptr; }
  void reseed_rank_streams(int64_t step);
  void join_step();
  std::vector<std::pair<std::string, at::Tensor>> gather_rank_streams();

  TrainContext ctx_;
  std::vector<CallbackPtr> callbacks_;
  TrainState state_;
  GradScaler scaler_;
  std::unique_ptr<ModelEma> ema_;
  at::ScalarType precision_ = at::kFloat;
  int64_t steps_per_epoch_ = 1;
  int64_t total_steps_ = 1;
  std::string monitor_split_, monitor_key_;
  bool higher_is_better_ = false;
  std::string last_checkpoint_;
  int64_t last_checkpoint_step_ = -1;
  std::vector<at::Tensor> params_;  // every trainable tensor (model + objective)
  std::unique_ptr<CheckpointFiles> files_;
  std::chrono::steady_clock::time_point fit_start_ = std::chrono::steady_clock::now();
  double elapsed_base_ = 0.0;
  std::unique_ptr<dist::GradientSync> sync_;  // data parallel only
  std::vector<std::string> scalar_keys_;      // the objective's scalars, in the order ranks reduce them
  bool has_buffers_ = false;
  bool rank_streams_ = false;  // ranks draw from their own generator streams (dist.same_seed_on_all_ranks: false)
  std::unique_ptr<dist::SyncBatchNorm> sync_bn_;  // dist.sync_batchnorm
  std::optional<data::Batch> stand_in_;           // with sync_bn_: the batch a rank without one joins with
};

/// Copies `tensors` into `module`'s parameters and buffers by name; every name and shape must
/// match exactly (a resume restores the same model, so anything else is a corrupt checkpoint).
/// DataError naming `what` and the tensor otherwise.
void load_exact_state(torch::nn::Module& module, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::string& what);

/// One pass over `loader` (eval mode, no grad, autocast as given): loss, metrics, scalars.
///
/// Sharded (a `group` of several ranks and a loader that shards by its rank): each rank
/// evaluates its shard; rank 0 gathers the loss and scalar sums and the output and target rows
/// (shards may differ by a sample), computes the metrics on the rows in dataset order, every
/// sample once, and sends the result to every rank. So the values are those of one process
/// over the whole loader (to float tolerance: the loss sums are added in another order), and
/// every rank returns the same ones. Every rank must call it (it is a collective).
EvalResult evaluate(models::ModelImpl& model, Objective& objective, data::Loader& loader, MetricSet* metrics,
                    const c10::Device& device, at::ScalarType precision = at::kFloat, const std::string& label = "",
                    int64_t epoch = 0, bool progress = true, const dist::ProcessGroupPtr& group = nullptr);

/// Batches per epoch that every rank steps through: those of the largest shard (rank 0's; a
/// rank whose shard ends a batch earlier joins the last window without samples). With one
/// process, loader.num_batches().
int64_t epoch_batches(const data::Loader& loader);

/// The device `train.device` names ("auto": CUDA when available).
c10::Device resolve_device(const std::string& device);

}  // namespace cardiotorch::train
