#include "cardiotorch/signal/normalize.h"

#include <limits>

#include "signal/signal_test_util.h"

namespace ct = cardiotorch;
namespace sig = cardiotorch::signal;
using ct::test::close_rel_max;
using ct::test::run_step;

namespace {

at::Tensor noisy(std::vector<int64_t> shape) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(7);
  return at::randn(shape, g, at::TensorOptions().dtype(at::kDouble)) * 3.0 + 1.5;
}

TEST(SignalNormalize, ZScorePerLeadHasMeanZeroStdOne) {
  at::Tensor x = noisy({2, 3, 12, 300});
  at::Tensor y = run_step("{name: zscore}", x, 500).x;
  EXPECT_LT(y.mean(-1).abs().max().item<double>(), 1e-12);
  // unbiased std 1 up to eps = 1e-7
  EXPECT_LT((y.std(-1, true) - 1).abs().max().item<double>(), 1e-6);
  at::Tensor y0 = run_step("{name: zscore, ddof: 0, eps: 0}", x, 500).x;
  EXPECT_LT((y0.std(-1, false) - 1).abs().max().item<double>(), 1e-12);
}

TEST(SignalNormalize, ZScorePerRecordAndTargets) {
  at::Tensor x = noisy({4, 12, 200});
  at::Tensor y = run_step("{name: zscore, axis: record, mean: 2, std: 0.5, eps: 0}", x, 500).x;
  at::Tensor flat = y.flatten(-2);
  EXPECT_LT((flat.mean(-1) - 2).abs().max().item<double>(), 1e-12);
  EXPECT_LT((flat.std(-1, true) - 0.5).abs().max().item<double>(), 1e-12);
  // per lead means differ (statistics were shared across leads)
  EXPECT_GT((y.mean(-1) - 2).abs().max().item<double>(), 1e-3);
}

TEST(SignalNormalize, GroupwiseZScorePerGroup) {
  at::Tensor x = noisy({3, 12, 250});
  x.narrow(1, 6, 6).mul_(10);  // precordial leads much larger
  at::Tensor y = run_step("{name: groupwise_zscore, eps: 0}", x, 500).x;
  for (auto g : std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {3, 6}, {6, 12}}) {
    at::Tensor part = y.narrow(1, g.first, g.second - g.first).flatten(1);
    EXPECT_LT(part.mean(1).abs().max().item<double>(), 1e-12);
    EXPECT_LT((part.std(1, true) - 1).abs().max().item<double>(), 1e-12);
  }
  // leads outside every group are untouched
  at::Tensor z = run_step("{name: groupwise_zscore, groups: [[0, 2]]}", x, 500).x;
  EXPECT_TRUE(at::equal(z.narrow(1, 2, 10), x.narrow(1, 2, 10)));
  EXPECT_THROW(run_step("{name: groupwise_zscore, groups: [[0, 13]]}", x, 500), ct::ShapeError);
  EXPECT_THROW(sig::build_step(ct::ConfigNode::parse("{name: groupwise_zscore, groups: [[0, 4], [3, 6]]}")),
               ct::ConfigError);
}

TEST(SignalNormalize, MinMaxAndRobust) {
  at::Tensor x = noisy({2, 5, 101});
  at::Tensor y = run_step("{name: minmax, eps: 0}", x, 500).x;
  EXPECT_LT(std::get<0>(y.min(-1)).abs().max().item<double>(), 1e-15);
  EXPECT_LT((std::get<0>(y.max(-1)) - 1).abs().max().item<double>(), 1e-15);
  // robust: numpy percentile semantics on a known vector
  at::Tensor v = at::tensor({4.0, 1.0, 3.0, 2.0, 10.0, 6.0}, at::kDouble);  // median 3.5, q25 2.25, q75 5.5
  at::Tensor r = run_step("{name: robust_scale, eps: 0}", v, 500).x;
  EXPECT_TRUE(close_rel_max(r, (v - 3.5) / (5.5 - 2.25), 1e-15));
  // selection (CPU kernel) and sort (NaN/Inf path) agree with numpy.percentile
  at::Tensor w = at::tensor({4.0, 1.0, 3.0, 2.0, 10.0, 6.0, 7.0}, at::kDouble);  // sorted 1 2 3 4 6 7 10
  at::Tensor qs = sig::quantiles_last(w, {0.0, 0.1, 0.5, 0.9, 1.0});
  EXPECT_TRUE(close_rel_max(qs, at::tensor({1.0, 1.6, 4.0, 8.2, 10.0}, at::kDouble), 1e-15));
  at::Tensor w_inf = at::cat({w, at::full({1}, std::numeric_limits<double>::infinity(), at::kDouble)});
  EXPECT_NEAR(sig::quantile_last(w_inf, 0.5).item<double>(), 5.0, 1e-15);  // 1 2 3 4 6 7 10 inf
  // per record: the median of every record becomes 0
  at::Tensor rr = run_step("{name: robust_scale, axis: record}", x, 500).x;
  EXPECT_LT(sig::quantile_last(rr.flatten(-2), 0.5).abs().max().item<double>(), 1e-12);
}

TEST(SignalNormalize, FixedMeanStdPerLead) {
  at::Tensor x = at::ones({2, 3, 4}, at::kDouble);
  at::Tensor y = run_step("{name: normalize, mean: [1, 0, -1], std: [1, 2, 4]}", x, 500).x;
  EXPECT_TRUE(close_rel_max(y[0].select(-1, 0), at::tensor({0.0, 0.5, 0.5}, at::kDouble), 1e-15));
  EXPECT_THROW(run_step("{name: normalize, mean: [1, 2]}", x, 500), ct::ShapeError);
  EXPECT_THROW(sig::build_step(ct::ConfigNode::parse("{name: normalize, std: 0}")), ct::ConfigError);
}

TEST(SignalNormalize, ClipAtKStd) {
  at::Tensor x = at::zeros({1, 1001}, at::kDouble);
  x[0][500] = 1000.0;
  at::Tensor y = run_step("{name: clip, k: 3}", x, 500).x;
  const double m = 1000.0 / 1001, s = x.std(-1, true).item<double>();
  EXPECT_NEAR(y[0][500].item<double>(), m + 3 * s, 1e-9);
  EXPECT_EQ(y[0][0].item<double>(), 0.0);
}

TEST(SignalNormalize, NanToNum) {
  const double inf = std::numeric_limits<double>::infinity();
  at::Tensor x = at::tensor({1.0, std::nan(""), inf, -inf}, at::kDouble);
  at::Tensor y = run_step("{name: nan_to_num, nan: -5, posinf: 9}", x, 500).x;
  EXPECT_EQ(y[1].item<double>(), -5.0);
  EXPECT_EQ(y[2].item<double>(), 9.0);
  EXPECT_EQ(y[3].item<double>(), std::numeric_limits<double>::lowest());
}

}  // namespace
