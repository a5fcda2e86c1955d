// The gradient all-reduce overlapped with backward (GradientSync with overlap: buckets start
// from AccumulateGrad post hooks) gives the sums of the all-reduce after backward: with several
// buckets, a parameter without a gradient, gradient accumulation, and through the trainer.
// Ranks are threads of this process (Gloo over an in-memory store).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <mutex>

#include "cardiotorch/dist/data_parallel.h"
#include "dist/ranks.h"

namespace ct = cardiotorch;
namespace dist = cardiotorch::dist;

namespace {

torch::nn::Sequential make_net() {
  torch::nn::Sequential net(torch::nn::Linear(6, 16), torch::nn::Tanh(), torch::nn::Linear(16, 16), torch::nn::Tanh(),
                            torch::nn::Linear(16, 2));
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(9);
  at::NoGradGuard ng;
  for (auto& p : net->parameters()) p.copy_(at::randn(p.sizes(), g, at::kFloat) * 0.5);
  return net;
}

// One optimizer step's gradients on rank r: `micro` backward passes over rank-specific data
// (the last one armed when overlapping); `skip_last_layer` leaves the last Linear unused in
// the final pass, so its parameters' bucket waits for sync(). Returns the summed gradients and
// how many buckets the backward pass started.
std::pair<std::vector<at::Tensor>, int64_t> step_gradients(const dist::ProcessGroupPtr& g, bool overlap, int micro,
                                                           bool skip_last_layer, bool freeze_a_bias = false) {
  auto net = make_net();
  // A frozen tensor among the parameters (the middle bias, in the first bucket) takes no
  // gradient and must not hold its bucket back.
  if (freeze_a_bias) net->parameters()[3].requires_grad_(false);
  // 0.0005 MB = 524 bytes: 3 buckets, {last layer, middle bias}, {16 x 16 weight}, {first layer}.
  dist::GradientSync sync(g, net->parameters(), 0.0005, overlap);
  EXPECT_EQ(sync.num_buckets(), 3);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(100 + static_cast<uint64_t>(g->rank()));
  for (int m = 0; m < micro; ++m) {
    if (m == micro - 1) sync.arm();
    const at::Tensor x = at::randn({5, 6}, gen, at::kFloat);
    at::Tensor h = x;
    const bool skip = skip_last_layer && m == micro - 1;
    auto layer = net->begin();
    for (size_t i = 0; i < net->size() - (skip ? 1 : 0); ++i, ++layer) h = layer->forward(h);
    h.pow(2).mean().backward();
  }
  sync.sync();
  std::vector<at::Tensor> grads;
  for (const auto& p : net->parameters()) grads.push_back(p.grad().defined() ? p.grad().clone() : at::Tensor());
  return {grads, sync.launched_in_backward()};
}

void expect_same(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].defined(), b[i].defined()) << what << ", parameter " << i;
    if (a[i].defined()) {
      EXPECT_TRUE(at::equal(a[i], b[i])) << what << ", parameter " << i;
    }
  }
}

}  // namespace

TEST(OverlappedGradientSync, EqualsTheSyncAfterBackward) {
  CT_SKIP_WITHOUT_GLOO();
  struct Case {
    int micro;
    bool skip;
  };
  for (const Case c : {Case{1, false}, Case{3, false}, Case{2, true}}) {
    const std::string what =
        ct::str_cat(c.micro, " backward pass(es)", c.skip ? ", last layer unused in the last" : "");
    std::vector<std::vector<at::Tensor>> after(2), overlapped(2);
    std::vector<int64_t> launched(2);
    ct::test::run_ranks(2, [&](const dist::ProcessGroupPtr& g) {
      const size_t r = static_cast<size_t>(g->rank());
      after[r] = step_gradients(g, false, c.micro, c.skip).first;
      std::tie(overlapped[r], launched[r]) = step_gradients(g, true, c.micro, c.skip);
    });
    for (size_t r = 0; r < 2; ++r) expect_same(overlapped[r], after[r], ct::str_cat(what, ", rank ", r));
    expect_same(after[0], after[1], what + ", ranks");
    if (!c.skip) {
      // Every bucket started inside the backward pass.
      EXPECT_EQ(launched[0], 3) << what;
    } else {
      // The unused layer's bucket (the first: the last layers come first) holds the others back
      // until sync(); its gradient, from the earlier passes, is still summed.
      EXPECT_EQ(launched[0], 0) << what;
    }
  }
}

TEST(OverlappedGradientSync, AFrozenParameterDoesNotHoldItsBucketBack) {
  CT_SKIP_WITHOUT_GLOO();
  std::vector<std::vector<at::Tensor>> after(2), overlapped(2);
  std::vector<int64_t> launched(2);
  ct::test::run_ranks(2, [&](const dist::ProcessGroupPtr& g) {
    const size_t r = static_cast<size_t>(g->rank());
    after[r] = step_gradients(g, false, 1, false, true).first;
    std::tie(overlapped[r], launched[r]) = step_gradients(g, true, 1, false, true);
  });
  for (size_t r = 0; r < 2; ++r) expect_same(overlapped[r], after[r], ct::str_cat("rank ", r));
  EXPECT_FALSE(after[0][3].defined());
  EXPECT_EQ(launched[0], 3);
}

TEST(OverlappedGradientSync, SumsAcrossRanksMatchTheSingleProcessGradient) {
  CT_SKIP_WITHOUT_GLOO();
  // The control that the overlapped sums are sums: rank 0's and rank 1's losses added in one
  // process give the same gradient (to float tolerance).
  auto ref = make_net();
  for (uint64_t r = 0; r < 2; ++r) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(100 + r);
    ref->forward(at::randn({5, 6}, gen, at::kFloat)).pow(2).mean().backward();
  }
  std::vector<at::Tensor> got;
  std::mutex mu;
  ct::test::run_ranks(2, [&](const dist::ProcessGroupPtr& g) {
    auto grads = step_gradients(g, true, 1, false).first;
    std::lock_guard<std::mutex> lock(mu);
    if (g->rank() == 0) got = grads;
  });
  const auto params = ref->parameters();
  ASSERT_EQ(got.size(), params.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(at::allclose(got[i], params[i].grad(), 1e-5, 1e-6)) << i;
}

TEST(OverlappedGradientSync, TheFirstBucketIsSmallSoItCanStartEarly) {
  CT_SKIP_WITHOUT_GLOO();
  // 1.125 MiB of float parameters (768 + 256 + 128 KiB) in 25 MB buckets: after backward that is
  // one bucket; with overlap the first bucket (the last parameters, ready first) stops before
  // 1 MiB, as in DDP: {128 + 256 KiB}, then {768 KiB}.
  std::vector<at::Tensor> params = {at::zeros({3 * 65536}), at::zeros({65536}), at::zeros({32768})};
  std::vector<int64_t> plain(2), overlapped(2);
  ct::test::run_ranks(2, [&](const dist::ProcessGroupPtr& g) {
    const size_t r = static_cast<size_t>(g->rank());
    plain[r] = dist::GradientSync(g, params, 25, false).num_buckets();
    overlapped[r] = dist::GradientSync(g, params, 25, true).num_buckets();
  });
  EXPECT_EQ(plain[0], 1);
  EXPECT_EQ(overlapped[0], 2);
  // A bucket size under 1 MiB is the cap for the first bucket too.
  std::vector<int64_t> small(2);
  ct::test::run_ranks(2, [&](const dist::ProcessGroupPtr& g) {
    small[static_cast<size_t>(g->rank())] = dist::GradientSync(g, params, 0.2, true).num_buckets();
  });
  EXPECT_EQ(small[0], 3);
}
