#pragma once
// Learning-rate schedules evaluated per optimizer step, and the momentum schedule of teacher
// networks.
//
// A schedule maps the optimizer step (0-based: the step about to be taken) to the base lr; the
// trainer sets each parameter group's lr to that value times the group's lr_scale (layer-wise
// decay). Durations are in epochs (fractional, evaluated per iteration as the MAE anchor's
// adjust_learning_rate does) or in steps (`unit: step`). Every schedule except plateau is a
// pure function of the step, so resuming needs no state; plateau keeps its reductions in the
// checkpoint.
//
//   scheduler: {name: warmup_cosine, warmup: 5, min_lr: 1e-6}      # MAE / pl_bolts style
//   scheduler: {name: multistep, milestones: [30, 60], gamma: 0.1}  # torch MultiStepLR
//
// Registered in scheduler_registry() (`cardiotorch list scheduler`); the build context holds
// the base lr and the step counts of the run.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/registry.h"

namespace cardiotorch::train {

struct SchedulerContext {
  double base_lr = 1e-3;        ///< the optimizer's base lr (after batch scaling)
  int64_t steps_per_epoch = 1;  ///< optimizer steps per epoch
  int64_t total_steps = 1;      ///< optimizer steps of the whole run
};

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual std::string name() const = 0;
  /// Base lr for optimizer step `step` (0-based).
  virtual double lr(int64_t step) const = 0;
  /// A validation result of the monitored metric (ReduceLROnPlateau reacts to it).
  virtual void on_validation(double /*value*/, bool /*higher_is_better*/) {}
  /// State as JSON text ("{}" for stateless schedules) and back.
  virtual std::string state() const { return "{}"; }
  virtual void load_state(const std::string& /*json*/) {}
};

using LrSchedulePtr = std::shared_ptr<LrSchedule>;

Registry<LrSchedule, SchedulerContext>& scheduler_registry();
struct SchedulerCategory {
  static constexpr const char* category = "scheduler";
};
using SchedulerConfig = Component<SchedulerCategory>;

/// Options shared by the schedules: the unit of their durations.
struct ScheduleUnit {
  std::string unit = "epoch";  ///< epoch (fractional, per iteration) | step
  template <class V>
  void unit_field(V& v) {
    v("unit", unit, "unit of the durations below: epoch (evaluated per iteration) | step");
  }
  void validate_unit() const;
  /// Position of `step` in this unit (fractional epochs).
  double position(int64_t step, const SchedulerContext& c) const;
  /// Length of the whole run in this unit.
  double total(const SchedulerContext& c) const;
};

/// Linear warmup from warmup_start_lr to the base lr, then a half-cycle cosine to min_lr at the
/// end of the run: the MAE anchor's adjust_learning_rate and pl_bolts' LinearWarmupCosineAnnealingLR.
struct WarmupCosineOptions : ScheduleUnit {
  double warmup = 0.0;           ///< warmup length (unit)
  double min_lr = 0.0;           ///< lr at the end of the run
  double warmup_start_lr = 0.0;  ///< lr at step 0
  template <class V>
  void fields(V& v) {
    unit_field(v);
    v("warmup", warmup, "linear warmup length");
    v("min_lr", min_lr, "final learning rate");
    v("warmup_start_lr", warmup_start_lr, "learning rate at the first step");
  }
  void validate() const;
};

/// torch CosineAnnealingLR: eta_min + (base - eta_min)(1 + cos(pi t / T_max)) / 2.
struct CosineOptions : ScheduleUnit {
  double t_max = 0.0;  ///< half period (unit); 0 = the whole run
  double eta_min = 0.0;
  template <class V>
  void fields(V& v) {
    unit_field(v);
    v("t_max", t_max, "half period (0 = the whole run)");
    v("eta_min", eta_min, "minimum learning rate");
  }
  void validate() const;
};

/// torch StepLR: base x gamma^floor(t / step_size), t in whole units.
struct StepOptions : ScheduleUnit {
  int64_t step_size = 30;
  double gamma = 0.1;
  template <class V>
  void fields(V& v) {
    unit_field(v);
    v("step_size", step_size, "period of the decay");
    v("gamma", gamma, "multiplicative factor");
  }
  void validate() const;
};

/// torch MultiStepLR: base x gamma^(number of milestones <= t), t in whole units.
struct MultiStepOptions : ScheduleUnit {
  std::vector<int64_t> milestones = {30, 60, 90};
  double gamma = 0.1;
  template <class V>
  void fields(V& v) {
    unit_field(v);
    v("milestones", milestones, "increasing positions of the decays");
    v("gamma", gamma, "multiplicative factor");
  }
  void validate() const;
};

/// torch OneCycleLR (anneal cos, two phases, no momentum cycling) over the whole run, with the
/// optimizer's lr as max_lr.
struct OneCycleOptions {
  double pct_start = 0.3;
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  template <class V>
  void fields(V& v) {
    v("pct_start", pct_start, "share of the run spent increasing the lr");
    v("div_factor", div_factor, "initial lr = max lr / div_factor");
    v("final_div_factor", final_div_factor, "final lr = initial lr / final_div_factor");
  }
  void validate() const;
};

/// torch ReduceLROnPlateau, stepped after each validation on the trainer's monitored metric.
struct PlateauOptions {
  double factor = 0.1;
  int64_t patience = 10;  ///< validations without improvement before a reduction
  double threshold = 1e-4;
  std::string threshold_mode = "rel";  ///< rel | abs
  int64_t cooldown = 0;
  double min_lr = 0.0;
  double eps = 1e-8;
  template <class V>
  void fields(V& v) {
    v("factor", factor, "multiplicative factor of a reduction");
    v("patience", patience, "validations without improvement before reducing");
    v("threshold", threshold, "least change that counts as an improvement");
    v("threshold_mode", threshold_mode, "rel | abs");
    v("cooldown", cooldown, "validations to wait after a reduction");
    v("min_lr", min_lr, "lower bound of the learning rate");
    v("eps", eps, "reductions smaller than this are ignored");
  }
  void validate() const;
};

/// A constant lr, optionally after a linear warmup.
struct ConstantOptions : ScheduleUnit {
  double warmup = 0.0;
  template <class V>
  void fields(V& v) {
    unit_field(v);
    v("warmup", warmup, "linear warmup length from 0");
  }
  void validate() const;
};

/// The closed forms, for tests and other users.
double warmup_cosine_lr(double t, double total, double warmup, double base_lr, double min_lr, double start_lr = 0.0);
double one_cycle_lr(int64_t step, int64_t total_steps, double max_lr, const OneCycleOptions& o);

/// The momentum of an EMA teacher (BYOL, DINO, JEPA, MoCo v3) at optimizer step `step` of
/// `total_steps`: cosine (BYOL: final - (final - base)(cos(pi k / K) + 1) / 2), linear (JEPA:
/// base + (final - base) k / K) or constant.
struct MomentumSchedule {
  std::string kind = "cosine";  ///< cosine | linear | constant
  double base = 0.996;
  double final_value = 1.0;
  template <class V>
  void fields(V& v) {
    v("kind", kind, "cosine | linear | constant");
    v("base", base, "momentum at the first step");
    v("final", final_value, "momentum at the end of the run");
  }
  void validate() const;
  double value(int64_t step, int64_t total_steps) const;
};

}  // namespace cardiotorch::train
