#include "cardiotorch/signal/resample.h"

#include "signal/signal_test_util.h"

namespace ct = cardiotorch;
namespace sig = cardiotorch::signal;
using ct::test::close_rel_max;
using ct::test::fixture;
using ct::test::run_step;

namespace {

constexpr double kFs = 500.0;

TEST(SignalResample, PolyMatchesScipyResamplePoly) {
  at::Tensor x = fixture("input");
  auto b = run_step("{name: resample, fs: 250}", x, kFs);
  EXPECT_TRUE(close_rel_max(b.x, fixture("poly_250"), 1e-6));
  EXPECT_DOUBLE_EQ(b.fs, 250.0);
  b = run_step("{name: resample, fs: 360}", x, kFs);
  EXPECT_TRUE(close_rel_max(b.x, fixture("poly_360"), 1e-6));
  EXPECT_DOUBLE_EQ(b.fs, 360.0);
  // odd length, upsampling
  b = run_step("{name: resample, fs: 1000}", x.narrow(1, 0, 777), kFs);
  EXPECT_TRUE(close_rel_max(b.x, fixture("poly_1000_short"), 1e-6));
  // the tensor-op path used off CPU
  EXPECT_TRUE(close_rel_max(sig::detail::resample_poly_tensor_ops(x, 18, 25), fixture("poly_360"), 1e-6));
  EXPECT_TRUE(close_rel_max(sig::detail::resample_poly_tensor_ops(x.narrow(1, 0, 777), 2, 1),
                            fixture("poly_1000_short"), 1e-6));
  // float32 in, float32 out
  EXPECT_TRUE(close_rel_max(sig::resample_poly(x.to(at::kFloat), 18, 25), fixture("poly_360"), 1e-5));
}

TEST(SignalResample, FftMatchesScipyResample) {
  at::Tensor x = fixture("input");
  EXPECT_TRUE(close_rel_max(sig::resample_fft(x, 3600), fixture("fft_3600"), 1e-9));
  EXPECT_TRUE(close_rel_max(sig::resample_fft(x.narrow(1, 0, 1000), 4000), fixture("fft_4000"), 1e-9));
  EXPECT_TRUE(close_rel_max(sig::resample_fft(x, 2501), fixture("fft_2501"), 1e-9));
  auto b = run_step("{name: resample, length: 2501, method: fft}", x, kFs);
  EXPECT_DOUBLE_EQ(b.fs, kFs * 2501 / 5000);
}

TEST(SignalResample, LinearIsAlignCornersInterpolation) {
  at::Tensor x = at::tensor({0.0, 1.0, 4.0, 9.0}, at::kDouble);
  at::Tensor y = sig::resample_linear(x, 7);  // positions 0, .5, 1, ..., 3
  at::Tensor want = at::tensor({0.0, 0.5, 1.0, 2.5, 4.0, 6.5, 9.0}, at::kDouble);
  EXPECT_TRUE(close_rel_max(y, want, 1e-15));
  auto b = run_step("{name: resample, fs: 250, method: linear}", at::randn({2, 3, 12, 1000}), kFs);
  EXPECT_EQ(b.x.sizes(), (std::vector<int64_t>{2, 3, 12, 500}));
}

TEST(SignalResample, RationalRatio) {
  EXPECT_EQ(sig::rational_ratio(500, 360), (std::pair<int64_t, int64_t>(18, 25)));
  EXPECT_EQ(sig::rational_ratio(257, 128.5), (std::pair<int64_t, int64_t>(1, 2)));
  EXPECT_THROW(sig::rational_ratio(500, M_PI), ct::ConfigError);
}

TEST(SignalResample, FilterIsKaiserFirwin) {
  // DC gain is `up` and the filter is symmetric with 2*10*max(up, down) + 1 taps.
  auto h = sig::resample_poly_filter(3, 2);
  ASSERT_EQ(h.size(), 61u);
  double s = 0;
  for (double v : h) s += v;
  EXPECT_NEAR(s, 3.0, 1e-12);
  for (size_t i = 0; i < h.size(); ++i) EXPECT_DOUBLE_EQ(h[i], h[h.size() - 1 - i]);
}

TEST(SignalResample, OptionsNeedExactlyOneTarget) {
  EXPECT_THROW(sig::build_step(ct::ConfigNode::parse("{name: resample}")), ct::ConfigError);
  EXPECT_THROW(sig::build_step(ct::ConfigNode::parse("{name: resample, fs: 250, length: 100}")), ct::ConfigError);
  EXPECT_THROW(sig::build_step(ct::ConfigNode::parse("{name: resample, length: 100}")), ct::ConfigError);  // poly
}

}  // namespace
