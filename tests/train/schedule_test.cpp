// Learning-rate schedules against torch's schedulers (tests/fixtures/train/schedules.json) and
// against their closed forms.
#include <gtest/gtest.h>

#include <cmath>

#include "cardiotorch/train/schedule.h"
#include "train/fixture_util.h"

namespace ct = cardiotorch;
namespace tr = cardiotorch::train;

namespace {

tr::LrSchedulePtr make(const std::string& yaml, double base, int64_t spe, int64_t total) {
  tr::SchedulerContext c;
  c.base_lr = base;
  c.steps_per_epoch = spe;
  c.total_steps = total;
  return tr::scheduler_registry().build(ct::ConfigNode::parse(yaml), c);
}

void expect_series(const tr::LrSchedule& s, const nlohmann::json& ref, const std::string& what) {
  for (size_t i = 0; i < ref.size(); ++i)
    EXPECT_NEAR(s.lr(static_cast<int64_t>(i)), ref[i].get<double>(), 1e-12) << what << " step " << i;
}

}  // namespace

TEST(Schedules, MatchTorchSchedulers) {
  const auto fx = ct::test::load_json_fixture("schedules.json");
  const double base = fx["base_lr"].get<double>();
  // torch steps these per epoch; one step per epoch here.
  expect_series(*make("{name: cosine, t_max: 10, eta_min: 1.0e-3}", base, 1, 11), fx["cosine"], "cosine");
  expect_series(*make("{name: step, step_size: 3, gamma: 0.5}", base, 1, 10), fx["step"], "step");
  expect_series(*make("{name: multistep, milestones: [2, 5], gamma: 0.1}", base, 1, 8), fx["multistep"], "multistep");
  expect_series(*make("{name: onecycle}", base, 1, 20), fx["onecycle"], "onecycle");
}

TEST(Schedules, PlateauMatchesTorch) {
  const auto fx = ct::test::load_json_fixture("schedules.json");
  auto s = make("{name: plateau, factor: 0.5, patience: 2, cooldown: 1}", fx["base_lr"].get<double>(), 1, 100);
  const auto& metrics = fx["plateau_metrics"];
  const auto& ref = fx["plateau"];
  for (size_t i = 0; i < metrics.size(); ++i) {
    EXPECT_NEAR(s->lr(0), ref[i].get<double>(), 1e-15) << "validation " << i;
    s->on_validation(metrics[i].get<double>(), /*higher_is_better=*/false);
  }
  // Its state survives a checkpoint.
  auto t = make("{name: plateau, factor: 0.5, patience: 2, cooldown: 1}", 0.1, 1, 100);
  t->load_state(s->state());
  EXPECT_DOUBLE_EQ(t->lr(0), s->lr(0));
  EXPECT_EQ(t->state(), s->state());
}

TEST(Schedules, WarmupCosinePerIterationAsTheMaeAnchor) {
  // MAE's adjust_learning_rate: epoch = it / iters_per_epoch + epoch; linear warmup, then
  // min_lr + (lr - min_lr) * 0.5 * (1 + cos(pi * (epoch - warmup) / (epochs - warmup))).
  const double base = 1e-3, min_lr = 1e-6;
  const int64_t spe = 7, epochs = 10, warmup = 2;
  auto s = make("{name: warmup_cosine, warmup: 2, min_lr: 1.0e-6}", base, spe, epochs * spe);
  for (int64_t step = 0; step < epochs * spe; ++step) {
    const double e = static_cast<double>(step) / spe;
    const double ref = e < warmup
                           ? base * e / warmup
                           : min_lr + (base - min_lr) * 0.5 *
                                          (1.0 + std::cos(M_PI * (e - warmup) / static_cast<double>(epochs - warmup)));
    EXPECT_NEAR(s->lr(step), ref, 1e-15) << "step " << step;
  }
  EXPECT_DOUBLE_EQ(s->lr(0), 0.0);
  EXPECT_NEAR(s->lr(warmup * spe), base, 1e-15);
  // In steps: warmup 3 steps from warmup_start_lr.
  auto t = make("{name: warmup_cosine, unit: step, warmup: 3, warmup_start_lr: 1.0e-4}", base, spe, 20);
  EXPECT_DOUBLE_EQ(t->lr(0), 1e-4);
  EXPECT_NEAR(t->lr(3), base, 1e-15);
  EXPECT_NEAR(t->lr(20), 0.0, 1e-15);
}

TEST(Schedules, EpochUnitsHoldWithinAnEpoch) {
  // StepLR stepped per epoch: constant inside an epoch of 5 optimizer steps.
  auto s = make("{name: step, step_size: 2, gamma: 0.1}", 1.0, 5, 50);
  for (int64_t i = 0; i < 10; ++i) EXPECT_DOUBLE_EQ(s->lr(i), 1.0);
  EXPECT_DOUBLE_EQ(s->lr(10), 0.1);
  auto c = make("{name: constant, warmup: 1}", 0.5, 4, 40);
  EXPECT_DOUBLE_EQ(c->lr(2), 0.25);
  EXPECT_DOUBLE_EQ(c->lr(39), 0.5);
}

TEST(Schedules, MomentumSchedule) {
  tr::MomentumSchedule m;  // cosine 0.996 -> 1
  EXPECT_DOUBLE_EQ(m.value(0, 100), 0.996);
  EXPECT_DOUBLE_EQ(m.value(100, 100), 1.0);
  EXPECT_NEAR(m.value(50, 100), 0.998, 1e-12);
  m.kind = "linear";
  m.base = 0.99;
  EXPECT_NEAR(m.value(25, 100), 0.99 + 0.01 * 0.25, 1e-12);
}

TEST(Schedules, OptionErrors) {
  EXPECT_THROW(make("{name: multistep, milestones: [5, 2]}", 1, 1, 10), ct::ConfigError);
  EXPECT_THROW(make("{name: warmup_cosine, unit: epochs}", 1, 1, 10), ct::ConfigError);
  EXPECT_THROW(make("{name: cosine, tmax: 3}", 1, 1, 10), ct::ConfigError);
  EXPECT_THROW(make("{name: cosin}", 1, 1, 10), ct::ConfigError);
}
