#include "cardiotorch/signal/crop.h"

#include "signal/signal_test_util.h"

namespace ct = cardiotorch;
namespace sig = cardiotorch::signal;
using ct::test::close_rel_max;
using ct::test::run_step;

namespace {

at::Tensor ramp(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return at::arange(n, at::TensorOptions().dtype(at::kDouble)).reshape(shape);
}

TEST(SignalCrop, FixedModes) {
  at::Tensor x = ramp({2, 3, 10});
  EXPECT_TRUE(at::equal(run_step("{name: crop, length: 4, mode: start}", x, 500).x, x.narrow(-1, 0, 4)));
  EXPECT_TRUE(at::equal(run_step("{name: crop, length: 4, mode: centre}", x, 500).x, x.narrow(-1, 3, 4)));
  EXPECT_TRUE(at::equal(run_step("{name: crop, length: 4, mode: end}", x, 500).x, x.narrow(-1, 6, 4)));
}

TEST(SignalCrop, PadsShortSignals) {
  at::Tensor x = at::ones({2, 3}, at::kDouble);
  at::Tensor y = run_step("{name: crop, length: 7, pad: both, pad_value: -1}", x, 500).x;
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 7}));
  EXPECT_TRUE(at::equal(y[0], at::tensor({-1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0}, at::kDouble)));
  EXPECT_TRUE(
      at::equal(run_step("{name: crop, length: 5}", x, 500).x[1], at::tensor({1.0, 1.0, 1.0, 0.0, 0.0}, at::kDouble)));
}

TEST(SignalCrop, RandomCropIsDeterministicPerSeedAndIndependentPerElement) {
  at::Tensor x = ramp({8, 2, 100});
  const char* yaml = "{name: crop, length: 10, mode: random}";
  at::Tensor a = run_step(yaml, x, 500, {}, true, 42).x;
  at::Tensor b = run_step(yaml, x, 500, {}, true, 42).x;
  at::Tensor c = run_step(yaml, x, 500, {}, true, 43).x;
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(a, c));
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{8, 2, 10}));
  // each crop is a contiguous window of its own row; leads of one element share the start
  at::Tensor start = a.select(-1, 0) - x.select(-1, 0);
  EXPECT_TRUE(at::equal(a - a.select(-1, 0).unsqueeze(-1), at::arange(10, at::kDouble).expand({8, 2, 10})));
  EXPECT_TRUE(at::equal(start.select(1, 0), start.select(1, 1)));
  EXPECT_GT(start.max().item<double>(), start.min().item<double>());
  // in eval, a random crop falls back to eval_mode
  at::Tensor e = run_step("{name: crop, length: 10, mode: random, eval_mode: start}", x, 500, {}, false, 42).x;
  EXPECT_TRUE(at::equal(e, x.narrow(-1, 0, 10)));
}

TEST(SignalCrop, NCropAddsLeadingDim) {
  at::Tensor x = ramp({2, 3, 10});
  at::Tensor y = run_step("{name: ncrop, length: 4, n: 3}", x, 500).x;
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{3, 2, 3, 4}));
  EXPECT_TRUE(at::equal(y[0], x.narrow(-1, 0, 4)));
  EXPECT_TRUE(at::equal(y[1], x.narrow(-1, 3, 4)));
  EXPECT_TRUE(at::equal(y[2], x.narrow(-1, 6, 4)));
}

TEST(SignalLeads, SelectReorderAndDerive) {
  at::Tensor x = ramp({2, 3, 5}) * 0.5 - 3.0;
  std::vector<std::string> names = {"i", "II", "V1"};
  auto b = run_step("{name: select_leads, leads: [V1, I, II, III, aVR, aVL, aVF]}", x, 500, names);
  ASSERT_EQ(b.x.sizes(), (std::vector<int64_t>{2, 7, 5}));
  EXPECT_EQ(b.leads, (std::vector<std::string>{"V1", "I", "II", "III", "aVR", "aVL", "aVF"}));
  at::Tensor I = x.select(1, 0), II = x.select(1, 1);
  EXPECT_TRUE(at::equal(b.x.select(1, 0), x.select(1, 2)));
  EXPECT_TRUE(close_rel_max(b.x.select(1, 3), II - I, 1e-15));
  EXPECT_TRUE(close_rel_max(b.x.select(1, 4), -(I + II) / 2, 1e-15));
  EXPECT_TRUE(close_rel_max(b.x.select(1, 5), I - II / 2, 1e-15));
  EXPECT_TRUE(close_rel_max(b.x.select(1, 6), II - I / 2, 1e-15));
  // Einthoven / Goldberger identities
  EXPECT_LT((b.x.select(1, 3) - (b.x.select(1, 2) - b.x.select(1, 1))).abs().max().item<double>(), 1e-12);
  EXPECT_LT((b.x.select(1, 4) + b.x.select(1, 5) + b.x.select(1, 6)).abs().max().item<double>(), 1e-12);
}

TEST(SignalLeads, MissingLeadErrors) {
  at::Tensor x = at::zeros({2, 5});
  EXPECT_THROW(run_step("{name: select_leads, leads: [V2]}", x, 500, {"I", "II"}), ct::DataError);
  EXPECT_THROW(run_step("{name: select_leads, leads: [III], derive: false}", x, 500, {"I", "II"}), ct::DataError);
  EXPECT_THROW(run_step("{name: select_leads, leads: [III]}", x, 500, {"I", "V1"}), ct::DataError);
  EXPECT_THROW(run_step("{name: select_leads, leads: [I]}", x, 500, {}), ct::DataError);
  EXPECT_THROW(run_step("{name: select_leads, leads: [I]}", x, 500, {"I"}), ct::ShapeError);
}

}  // namespace

TEST(SignalCrop, CentreAndCenterAreOneMode) {
  at::Tensor x = ramp({2, 3, 10});
  const at::Tensor want = x.narrow(-1, 3, 4);
  EXPECT_TRUE(at::equal(run_step("{name: crop, length: 4, mode: center}", x, 500).x, want));
  EXPECT_TRUE(at::equal(run_step("{name: crop, length: 4, mode: random, eval_mode: center}", x, 500).x, want));
  EXPECT_TRUE(sig::is_centre("centre"));
  EXPECT_TRUE(sig::is_centre("center"));
  EXPECT_FALSE(sig::is_centre("start"));
  EXPECT_THROW(run_step("{name: crop, length: 4, mode: centr}", x, 500), ct::ConfigError);
}

// crop_start + crop_window are the step on one signal: the loader uses them for its windows.
TEST(SignalCrop, CropStartAndWindowAreTheStep) {
  at::Tensor x = ramp({3, 100});
  sig::CropOptions o;
  o.length = 10;
  o.mode = "random";
  for (uint64_t seed : {1, 2, 3}) {
    auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
    const int64_t start = sig::crop_start(o, 100, /*training=*/true, g);
    EXPECT_TRUE(at::equal(sig::crop_window(x, o, start),
                          run_step("{name: crop, length: 10, mode: random}", x, 500, {}, true, seed).x));
  }
  EXPECT_EQ(sig::crop_start(o, 100, /*training=*/false, at::Generator()), 45);  // eval_mode centre
  o.mode = "end";
  EXPECT_EQ(sig::crop_start(o, 100, true, at::Generator()), 90);
  o.length = 120;  // shorter signals are padded, whatever the start
  EXPECT_EQ(sig::crop_start(o, 100, true, at::Generator()), 0);
  EXPECT_EQ(sig::crop_window(x, o, 0).size(-1), 120);
  o.length = 10;
  EXPECT_THROW(sig::crop_window(x, o, 95), ct::ShapeError);
}
