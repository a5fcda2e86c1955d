#include "cardiotorch/signal/baseline.h"

#include <limits>

#include "signal/signal_test_util.h"

namespace ct = cardiotorch;
namespace sig = cardiotorch::signal;
using ct::test::close_rel_max;
using ct::test::fixture;
using ct::test::run_step;

namespace {

constexpr double kFs = 500.0;

TEST(SignalBaseline, MovingAverageMatchesTorchEcgSemanticsOnPtbxl) {
  at::Tensor x = fixture("input");
  at::Tensor y = run_step("{name: baseline_remove}", x, kFs).x;
  EXPECT_TRUE(close_rel_max(y, fixture("ma_baseline"), 1e-9));
  at::Tensor y32 = run_step("{name: baseline_remove}", x.to(at::kFloat), kFs).x;
  EXPECT_EQ(y32.scalar_type(), at::kFloat);
  EXPECT_TRUE(close_rel_max(y32, fixture("ma_baseline"), 1e-5));
}

TEST(SignalBaseline, MovingAverageTensorPathMatchesToo) {
  // The cumulative-sum tensor-op version (used off CPU) on the same record: windows 99 and 299.
  at::Tensor x = fixture("input");
  at::Tensor base = sig::moving_average(sig::moving_average(x, 99), 299);
  EXPECT_TRUE(close_rel_max(x - base, fixture("ma_baseline"), 1e-9));
}

TEST(SignalBaseline, MovingAverageGoldenValues) {
  // torch_ecg measured: constant -> 0; ramp 0..999 -> 0 in the interior, +-77.48 at the ends.
  EXPECT_EQ(
      run_step("{name: baseline_remove}", at::full({2, 1000}, 3.5, at::kDouble), kFs).x.abs().max().item<double>(),
      0.0);
  at::Tensor ramp = at::arange(1000, at::TensorOptions().dtype(at::kDouble));
  at::Tensor y = run_step("{name: baseline_remove}", ramp, kFs).x;
  EXPECT_LT(y.narrow(0, 300, 400).abs().max().item<double>(), 1e-9);
  EXPECT_NEAR(y[0].item<double>(), -77.48, 0.01);
  EXPECT_NEAR(y[999].item<double>(), 77.48, 0.01);
  // short signal (L < kernel) keeps its shape
  EXPECT_EQ(run_step("{name: baseline_remove}", at::randn({3, 2, 12, 50}), kFs).x.sizes(),
            (std::vector<int64_t>{3, 2, 12, 50}));
}

TEST(SignalBaseline, MovingAverageWindowsAreOddRounded) {
  // k = round(w*fs) made odd: 0.2 s at 500 Hz -> 99 samples; an impulse spreads over exactly 99.
  at::Tensor imp = at::zeros({1001}, at::kDouble);
  imp[500] = 1.0;
  at::Tensor ma = sig::moving_average(imp, 99);
  EXPECT_EQ((ma > 0).sum().item<int64_t>(), 99);
  EXPECT_NEAR(ma[500].item<double>(), 1.0 / 99, 1e-15);
  EXPECT_THROW(sig::moving_average(imp, 98), ct::ShapeError);
}

TEST(SignalBaseline, MedianDefaultsToTorchEcgNearestPadding) {
  // torch_ecg's numpy BaselineRemove: scipy.ndimage.median_filter(mode="nearest"), kernels 101, 301.
  at::Tensor x = fixture("input");
  const at::Tensor want = fixture("median_baseline_nearest");
  EXPECT_TRUE(at::equal(run_step("{name: baseline_remove, method: median}", x, kFs).x, want));
  EXPECT_TRUE(at::equal(run_step("{name: baseline_remove, method: median, pad: nearest}", x, kFs).x, want));
  // float32 input: the medians are input values, so only the subtraction rounds.
  EXPECT_TRUE(close_rel_max(run_step("{name: baseline_remove, method: median}", x.to(at::kFloat), kFs).x, want, 1e-6));
  // The padding matters only near the ends: the zero-padded result agrees in the interior only.
  const at::Tensor zero = fixture("median_baseline");
  const int64_t reach = 50 + 150;  // half-widths of the two kernels
  EXPECT_TRUE(at::equal(zero.narrow(1, reach, 5000 - 2 * reach), want.narrow(1, reach, 5000 - 2 * reach)));
  EXPECT_FALSE(at::allclose(zero.narrow(1, 0, reach), want.narrow(1, 0, reach), 0, 1e-3));
}

TEST(SignalBaseline, MedianZeroPaddingMatchesScipyMedfilt) {
  at::Tensor x = fixture("input");
  EXPECT_TRUE(close_rel_max(run_step("{name: baseline_remove, method: median, pad: zero}", x, kFs).x,
                            fixture("median_baseline"), 1e-12));
}

TEST(SignalBaseline, MedianReflectPaddingMatchesNdimageMirror) {
  // 250 samples with a 301 window: the reflection wraps past both ends.
  at::Tensor x = fixture("input").narrow(1, 1000, 250).contiguous();
  EXPECT_TRUE(at::equal(run_step("{name: baseline_remove, method: median, pad: reflect}", x, kFs).x,
                        fixture("median_baseline_reflect_short")));
}

TEST(SignalBaseline, MedianPaddingsAgreeOnTheTensorPath) {
  // A NaN in one row sends the tensor through the unfold+median path; the finite rows must equal
  // the sorted-window kernel's for every padding.
  at::Tensor x = fixture("input").narrow(1, 0, 700).contiguous();
  at::Tensor with_nan = at::cat({x, x.narrow(0, 0, 1)}, 0);
  with_nan[2][5] = std::numeric_limits<double>::quiet_NaN();
  for (const char* pad : {"nearest", "zero", "reflect"}) {
    for (int64_t k : {101, 301, 1401}) {
      const at::Tensor fast = sig::median_filter(x, k, pad);
      const at::Tensor slow = sig::median_filter(with_nan, k, pad);
      EXPECT_TRUE(at::equal(slow.narrow(0, 0, 2), fast)) << pad << " k=" << k;
    }
  }
  EXPECT_EQ(sig::median_filter(at::tensor({3.0, 1.0, 2.0}, at::kDouble), 3, "nearest")[0].item<double>(), 3.0);
  EXPECT_EQ(sig::median_filter(at::tensor({3.0, 1.0, 2.0}, at::kDouble), 3, "reflect")[0].item<double>(), 1.0);
  EXPECT_THROW(sig::median_filter(x, 100, "nearest"), ct::ArgumentError);
  EXPECT_THROW(sig::median_filter(x, 101, "wrap"), ct::ArgumentError);
  EXPECT_THROW(run_step("{name: baseline_remove, method: median, pad: edge}", x, kFs), ct::ConfigError);
}

TEST(SignalBaseline, MedianTensorPathEqualsSortedWindowKernel) {
  // A row with Inf sends the whole tensor through the unfold+median path.
  at::Tensor x = fixture("input").narrow(1, 0, 800).clone();
  at::Tensor fast = sig::medfilt(x, 101);
  at::Tensor with_inf = at::cat({x, x.narrow(0, 0, 1)}, 0);
  with_inf[2][5] = std::numeric_limits<double>::infinity();
  at::Tensor slow = sig::medfilt(with_inf, 101);
  EXPECT_TRUE(at::equal(slow.narrow(0, 0, 2), fast));
  EXPECT_EQ(sig::medfilt(at::tensor({3.0, 1.0, 2.0}, at::kDouble), 3)[1].item<double>(), 2.0);
  EXPECT_EQ(sig::medfilt(at::tensor({3.0, 1.0, 2.0}, at::kDouble), 3)[0].item<double>(), 1.0);  // zero padded
}

TEST(SignalBaseline, AlsMatchesScipySparse) {
  at::Tensor x = fixture("input");
  EXPECT_TRUE(close_rel_max(run_step("{name: baseline_remove, method: als, lam: 1e5, p: 0.05, niter: 10}", x, kFs).x,
                            fixture("als_1e5"), 1e-6));
  EXPECT_TRUE(close_rel_max(run_step("{name: baseline_remove, method: als, lam: 1e8, p: 0.05, niter: 10}", x, kFs).x,
                            fixture("als_1e8"), 1e-6));
}

TEST(SignalBaseline, AlsTensorOpPathEqualsCpuKernel) {
  at::Tensor x = fixture("input").narrow(1, 0, 300);
  at::Tensor a = sig::als_baseline(x, 1e4, 0.1, 4);
  at::Tensor b = sig::detail::als_baseline_tensor_ops(x, 1e4, 0.1, 4);
  EXPECT_TRUE(close_rel_max(b, a, 1e-10));
}

TEST(SignalBaseline, AlsRemovesALinearTrendExactly) {
  // A straight line has zero second differences: with symmetric weights it is its own baseline.
  at::Tensor line = at::arange(500, at::TensorOptions().dtype(at::kDouble)) * 0.01 - 2.0;
  at::Tensor z = sig::als_baseline(line, 1e6, 0.5, 3);
  EXPECT_LT((z - line).abs().max().item<double>(), 1e-8);
}

TEST(SignalBaseline, InvalidOptions) {
  EXPECT_THROW(sig::build_step(ct::ConfigNode::parse("{name: baseline_remove, method: mean}")), ct::ConfigError);
  EXPECT_THROW(sig::build_step(ct::ConfigNode::parse("{name: baseline_remove, method: als, p: 1.5}")), ct::ConfigError);
  EXPECT_THROW(sig::build_step(ct::ConfigNode::parse("{name: baseline_remove, window1: 0}")), ct::ConfigError);
}

}  // namespace
