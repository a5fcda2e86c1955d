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

// Max |got - want| in units of the largest |want|, 0 when identical.
double rel_err(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>() /
         want.to(at::kDouble).abs().max().item<double>();
}

TEST(SignalResample, LinearReproducesTorchEcgResample) {
  // Fixtures: torch 1.13 F.interpolate(mode="linear", align_corners=True, scale_factor=dst/src,
  // recompute_scale_factor=True) or size=siglen, on PTB-XL 00001_hr II and V2.
  const at::Tensor x = fixture("input");
  const at::Tensor x32 = x.to(at::kFloat);
  auto b = run_step("{name: resample, fs: 360, method: linear}", x32, kFs);
  EXPECT_EQ(b.x.scalar_type(), at::kFloat);
  EXPECT_DOUBLE_EQ(b.fs, 360.0);
  EXPECT_EQ(rel_err(b.x, fixture("linear_360_f32")), 0.0);
  b = run_step("{name: resample, fs: 250, method: linear}", x, kFs);
  EXPECT_EQ(rel_err(b.x, fixture("linear_250_f64")), 0.0);
  // 1500 samples to 333.3 Hz: floor(1500 * 0.6666) = 999 samples (the ratio is not rational enough
  // for poly, and ceil would give 1000).
  b = run_step("{name: resample, fs: 333.3, method: linear}", x32.narrow(1, 0, 1500), kFs);
  EXPECT_EQ(rel_err(b.x, fixture("linear_333_f32")), 0.0);
  EXPECT_DOUBLE_EQ(b.fs, 333.3);
  b = run_step("{name: resample, fs: 1000, method: linear}", x32.narrow(1, 0, 700), kFs);
  EXPECT_EQ(rel_err(b.x, fixture("linear_up_f32")), 0.0);
  b = run_step("{name: resample, length: 2999, method: linear}", x32, kFs);
  EXPECT_EQ(rel_err(b.x, fixture("linear_len_f32")), 0.0);
  EXPECT_DOUBLE_EQ(b.fs, kFs * 2999 / 5000);
  // Any leading dims: the rows of a 4-D batch resample like the 2-D record.
  const at::Tensor batch = x32.unsqueeze(0).unsqueeze(0).expand({2, 3, 2, 5000}).contiguous();
  b = run_step("{name: resample, fs: 360, method: linear}", batch, kFs);
  ASSERT_EQ(b.x.sizes(), (std::vector<int64_t>{2, 3, 2, 3600}));
  EXPECT_EQ(rel_err(b.x[1][2], fixture("linear_360_f32")), 0.0);
}

TEST(SignalResample, LinearPositionsInDoubleWouldMissTorchEcg) {
  // The sentinel for the test above: interpolating float32 at positions computed wholly in double
  // (the obvious implementation) is off by ~1e-5 of the range on a 10 s record; the float scale
  // is what makes the match exact.
  const at::Tensor x32 = fixture("input").to(at::kFloat);
  const int64_t n = 5000, num = 3600;
  const at::Tensor pos = at::arange(num, at::kDouble) * (static_cast<double>(n - 1) / (num - 1));
  const at::Tensor i0 = pos.floor().to(at::kLong), i1 = (i0 + 1).clamp_max(n - 1);
  const at::Tensor w = (pos - i0.to(at::kDouble)).to(at::kFloat);
  const at::Tensor naive = x32.index_select(1, i0) * (1 - w) + x32.index_select(1, i1) * w;
  EXPECT_GT(rel_err(naive, fixture("linear_360_f32")), 5e-6);
}

TEST(SignalResample, LinearEdgeCases) {
  at::Tensor x = at::tensor({0.0, 1.0, 4.0, 9.0}, at::kDouble);
  EXPECT_TRUE(at::equal(sig::resample_linear(x, 4), x));                               // identity copies
  EXPECT_TRUE(at::equal(sig::resample_linear(x, 1), at::tensor({0.0}, at::kDouble)));  // first sample
  EXPECT_EQ(sig::linear_resample_length(10, 3, 7), 23);  // floor(10 * 2.333...), torch_ecg measured
  EXPECT_EQ(sig::linear_resample_length(10, 10, 5), 5);
  EXPECT_THROW(sig::resample_linear(x, 0), ct::ArgumentError);
  EXPECT_THROW(sig::linear_resample_length(10, 0, 5), ct::ArgumentError);
  // Too few samples for the new rate: a shape error naming the step, not an empty tensor.
  EXPECT_THROW(run_step("{name: resample, fs: 10, method: linear}", at::randn({1, 20}), kFs), ct::ShapeError);
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
