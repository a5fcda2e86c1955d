#include "cardiotorch/train/schedule.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "cardiotorch/core/error.h"

namespace cardiotorch::train {

namespace {
constexpr double kPi = 3.14159265358979323846;
}

Registry<LrSchedule, SchedulerContext>& scheduler_registry() {
  static Registry<LrSchedule, SchedulerContext> r("scheduler", "learning-rate schedules, evaluated per optimizer step");
  return r;
}

void ScheduleUnit::validate_unit() const { check_choice("unit", unit, {"epoch", "step"}); }

double ScheduleUnit::position(int64_t step, const SchedulerContext& c) const {
  return unit == "step" ? static_cast<double>(step)
                        : static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, c.steps_per_epoch));
}

double ScheduleUnit::total(const SchedulerContext& c) const { return position(c.total_steps, c); }

void WarmupCosineOptions::validate() const {
  validate_unit();
  CT_CHECK(warmup >= 0, ConfigError, "warmup must be >= 0, got ", warmup);
  CT_CHECK(min_lr >= 0 && warmup_start_lr >= 0, ConfigError, "min_lr and warmup_start_lr must be >= 0");
}
void CosineOptions::validate() const {
  validate_unit();
  CT_CHECK(t_max >= 0, ConfigError, "t_max must be >= 0, got ", t_max);
  CT_CHECK(eta_min >= 0, ConfigError, "eta_min must be >= 0, got ", eta_min);
}
void StepOptions::validate() const {
  validate_unit();
  CT_CHECK(step_size >= 1, ConfigError, "step_size must be >= 1, got ", step_size);
  CT_CHECK(gamma > 0, ConfigError, "gamma must be > 0, got ", gamma);
}
void MultiStepOptions::validate() const {
  validate_unit();
  for (size_t i = 1; i < milestones.size(); ++i)
    CT_CHECK(milestones[i] > milestones[i - 1], ConfigError, "milestones must increase, got ", milestones[i - 1],
             " then ", milestones[i]);
  CT_CHECK(gamma > 0, ConfigError, "gamma must be > 0, got ", gamma);
}
void OneCycleOptions::validate() const {
  CT_CHECK(pct_start > 0 && pct_start < 1, ConfigError, "pct_start must be in (0, 1), got ", pct_start);
  CT_CHECK(div_factor > 0 && final_div_factor > 0, ConfigError, "div_factor and final_div_factor must be > 0");
}
void PlateauOptions::validate() const {
  CT_CHECK(factor > 0 && factor < 1, ConfigError, "factor must be in (0, 1), got ", factor);
  CT_CHECK(patience >= 0 && cooldown >= 0, ConfigError, "patience and cooldown must be >= 0");
  check_choice("threshold_mode", threshold_mode, {"rel", "abs"});
  CT_CHECK(min_lr >= 0, ConfigError, "min_lr must be >= 0, got ", min_lr);
}
void ConstantOptions::validate() const {
  validate_unit();
  CT_CHECK(warmup >= 0, ConfigError, "warmup must be >= 0, got ", warmup);
}
void MomentumSchedule::validate() const {
  check_choice("kind", kind, {"cosine", "linear", "constant"});
  CT_CHECK(base >= 0 && base <= 1 && final_value >= 0 && final_value <= 1, ConfigError,
           "base and final momentum must be in [0, 1]");
}

double MomentumSchedule::value(int64_t step, int64_t total_steps) const {
  if (kind == "constant" || total_steps <= 0) return base;
  const double k = std::min(1.0, static_cast<double>(step) / static_cast<double>(total_steps));
  if (kind == "linear") return base + (final_value - base) * k;
  return final_value - (final_value - base) * (std::cos(kPi * k) + 1.0) / 2.0;
}

double warmup_cosine_lr(double t, double total, double warmup, double base_lr, double min_lr, double start_lr) {
  if (t < warmup) return start_lr + (base_lr - start_lr) * t / warmup;
  const double span = total - warmup;
  if (span <= 0) return base_lr;
  const double p = std::min(1.0, (t - warmup) / span);
  return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(kPi * p));
}

double one_cycle_lr(int64_t step, int64_t total_steps, double max_lr, const OneCycleOptions& o) {
  // torch.optim.lr_scheduler.OneCycleLR (three_phase=False, anneal_strategy='cos').
  const double initial = max_lr / o.div_factor, minimum = initial / o.final_div_factor;
  const double end1 = o.pct_start * static_cast<double>(total_steps) - 1.0;
  const double end2 = static_cast<double>(total_steps) - 1.0;
  const double s = static_cast<double>(step);
  auto anneal = [](double from, double to, double pct) { return to + (from - to) / 2.0 * (std::cos(kPi * pct) + 1.0); };
  if (s <= end1) return anneal(initial, max_lr, s / end1);
  return anneal(max_lr, minimum, (s - end1) / (end2 - end1));
}

namespace {

class WarmupCosine final : public LrSchedule {
 public:
  WarmupCosine(WarmupCosineOptions o, SchedulerContext c) : o_(std::move(o)), c_(c) {}
  std::string name() const override { return "warmup_cosine"; }
  double lr(int64_t step) const override {
    return warmup_cosine_lr(o_.position(step, c_), o_.total(c_), o_.warmup, c_.base_lr, o_.min_lr, o_.warmup_start_lr);
  }

 private:
  WarmupCosineOptions o_;
  SchedulerContext c_;
};

class Cosine final : public LrSchedule {
 public:
  Cosine(CosineOptions o, SchedulerContext c) : o_(std::move(o)), c_(c) {}
  std::string name() const override { return "cosine"; }
  double lr(int64_t step) const override {
    const double tmax = o_.t_max > 0 ? o_.t_max : o_.total(c_);
    if (tmax <= 0) return c_.base_lr;
    return o_.eta_min + (c_.base_lr - o_.eta_min) * (1.0 + std::cos(kPi * o_.position(step, c_) / tmax)) / 2.0;
  }

 private:
  CosineOptions o_;
  SchedulerContext c_;
};

class StepDecay final : public LrSchedule {
 public:
  StepDecay(StepOptions o, SchedulerContext c) : o_(std::move(o)), c_(c) {}
  std::string name() const override { return "step"; }
  double lr(int64_t step) const override {
    const auto t = static_cast<int64_t>(std::floor(o_.position(step, c_) + 1e-9));
    return c_.base_lr * std::pow(o_.gamma, static_cast<double>(t / o_.step_size));
  }

 private:
  StepOptions o_;
  SchedulerContext c_;
};

class MultiStep final : public LrSchedule {
 public:
  MultiStep(MultiStepOptions o, SchedulerContext c) : o_(std::move(o)), c_(c) {}
  std::string name() const override { return "multistep"; }
  double lr(int64_t step) const override {
    const auto t = static_cast<int64_t>(std::floor(o_.position(step, c_) + 1e-9));
    const auto n = std::count_if(o_.milestones.begin(), o_.milestones.end(), [&](int64_t m) { return m <= t; });
    return c_.base_lr * std::pow(o_.gamma, static_cast<double>(n));
  }

 private:
  MultiStepOptions o_;
  SchedulerContext c_;
};

class OneCycle final : public LrSchedule {
 public:
  OneCycle(OneCycleOptions o, SchedulerContext c) : o_(std::move(o)), c_(c) {}
  std::string name() const override { return "onecycle"; }
  double lr(int64_t step) const override { return one_cycle_lr(step, c_.total_steps, c_.base_lr, o_); }

 private:
  OneCycleOptions o_;
  SchedulerContext c_;
};

class Plateau final : public LrSchedule {
 public:
  Plateau(PlateauOptions o, SchedulerContext c) : o_(std::move(o)), lr_(c.base_lr) {}
  std::string name() const override { return "plateau"; }
  double lr(int64_t) const override { return lr_; }
  void on_validation(double value, bool higher_is_better) override {
    // torch ReduceLROnPlateau.step(metric) with mode from the monitor.
    if (std::isnan(value)) return;
    const double rel = higher_is_better ? 1.0 + o_.threshold : 1.0 - o_.threshold;
    bool better;
    if (!seen_) {
      better = true;
    } else if (o_.threshold_mode == "rel") {
      better = higher_is_better ? value > best_ * rel : value < best_ * rel;
    } else {
      better = higher_is_better ? value > best_ + o_.threshold : value < best_ - o_.threshold;
    }
    if (better) {
      best_ = value;
      seen_ = true;
      bad_ = 0;
    } else {
      ++bad_;
    }
    if (cooldown_ > 0) {
      --cooldown_;
      bad_ = 0;
    }
    if (bad_ > o_.patience) {
      const double next = std::max(lr_ * o_.factor, o_.min_lr);
      if (lr_ - next > o_.eps) lr_ = next;
      cooldown_ = o_.cooldown;
      bad_ = 0;
    }
  }
  std::string state() const override {
    nlohmann::json j{{"lr", lr_},
                     {"best", seen_ ? nlohmann::json(best_) : nlohmann::json()},
                     {"bad", bad_},
                     {"cooldown", cooldown_}};
    return j.dump();
  }
  void load_state(const std::string& text) override {
    const auto j = nlohmann::json::parse(text);
    lr_ = j.at("lr").get<double>();
    seen_ = !j.at("best").is_null();
    best_ = seen_ ? j.at("best").get<double>() : 0.0;
    bad_ = j.at("bad").get<int64_t>();
    cooldown_ = j.at("cooldown").get<int64_t>();
  }

 private:
  PlateauOptions o_;
  double lr_;
  double best_ = 0.0;
  bool seen_ = false;
  int64_t bad_ = 0, cooldown_ = 0;
};

class Constant final : public LrSchedule {
 public:
  Constant(ConstantOptions o, SchedulerContext c) : o_(std::move(o)), c_(c) {}
  std::string name() const override { return "constant"; }
  double lr(int64_t step) const override {
    const double t = o_.position(step, c_);
    return t < o_.warmup ? c_.base_lr * t / o_.warmup : c_.base_lr;
  }

 private:
  ConstantOptions o_;
  SchedulerContext c_;
};

template <class S, class O>
auto maker() {
  return options_factory<LrSchedule, O>(
      [](const O& o, const SchedulerContext& c) { return std::make_shared<S>(o, c); });
}

}  // namespace

CT_REGISTER(scheduler_registry(), "warmup_cosine", (maker<WarmupCosine, WarmupCosineOptions>()),
            "linear warmup, then half-cycle cosine to min_lr at the end of the run (MAE, pl_bolts)")
CT_REGISTER(scheduler_registry(), "cosine", (maker<Cosine, CosineOptions>()),
            "cosine annealing (torch CosineAnnealingLR)")
CT_REGISTER(scheduler_registry(), "step", (maker<StepDecay, StepOptions>()),
            "step decay every step_size (torch StepLR)")
CT_REGISTER(scheduler_registry(), "multistep", (maker<MultiStep, MultiStepOptions>()),
            "decay at milestones (torch MultiStepLR)")
CT_REGISTER(scheduler_registry(), "onecycle", (maker<OneCycle, OneCycleOptions>()),
            "one-cycle policy over the run (torch OneCycleLR, cos annealing)")
CT_REGISTER(scheduler_registry(), "plateau", (maker<Plateau, PlateauOptions>()),
            "reduce on plateau of the monitored validation metric (torch ReduceLROnPlateau)")
CT_REGISTER(scheduler_registry(), "constant", (maker<Constant, ConstantOptions>()),
            "constant learning rate, optional linear warmup")

}  // namespace cardiotorch::train
