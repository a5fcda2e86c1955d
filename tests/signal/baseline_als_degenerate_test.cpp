// ALS baseline removal of leads it fits exactly: an absent lead stored as zeros (two CinC 2021
// sample records), a constant or a straight line. Every weight of the reweighting vanishes
// there; the baseline must stay the lead itself, never NaN, on the row and the tensor paths.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cardiotorch/signal/baseline.h"

namespace cs = cardiotorch::signal;

TEST(SignalBaselineAls, ExactlyFittedLeadsStayFinite) {
  at::Tensor x = at::randn({4, 600}, at::kDouble).cumsum(1);
  x[1].zero_();                                  // absent lead
  x[2].fill_(0.75);                              // constant
  x[3] = at::linspace(-1, 2, 600, at::kDouble);  // straight
  for (const bool tensor_ops : {false, true}) {
    const at::Tensor z =
        tensor_ops ? cs::detail::als_baseline_tensor_ops(x, 1e7, 0.3, 5) : cs::als_baseline(x, 1e7, 0.3, 5);
    ASSERT_TRUE(at::isfinite(z).all().item<bool>()) << (tensor_ops ? "tensor ops" : "rows");
    // Exact up to the conditioning of W + 1e7·DᵀD.
    for (int r = 1; r < 4; ++r)
      EXPECT_LT((z[r] - x[r]).abs().max().item<double>(), 1e-6) << "row " << r << (tensor_ops ? " (tensor ops)" : "");
  }
  // The ordinary row is untouched by the guard: both paths agree.
  const at::Tensor a = cs::als_baseline(x, 1e7, 0.3, 5)[0], b = cs::detail::als_baseline_tensor_ops(x, 1e7, 0.3, 5)[0];
  EXPECT_LT((a - b).abs().max().item<double>(), 1e-6 * a.abs().max().item<double>());
}
