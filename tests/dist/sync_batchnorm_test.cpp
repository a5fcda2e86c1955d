// SyncBatchNorm: over 2 ranks with different batch sizes, the output, the input's gradient,
// the summed weight and bias gradients and the running statistics equal torch's BatchNorm on the
// concatenated batch (1-d and 2-d); the modules of an unchanged model are synchronised through
// aten::batch_norm while a SyncBatchNorm lives, and only then; a joining rank adds nothing.
// Ranks are threads of this process (Gloo over an in-memory store).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <mutex>

#include "cardiotorch/core/error.h"
#include "cardiotorch/dist/sync_batchnorm.h"
#include "dist/ranks.h"

namespace ct = cardiotorch;
namespace dist = cardiotorch::dist;

namespace {

struct Reference {
  at::Tensor y, grad_x, grad_w, grad_b, running_mean, running_var;
};

// torch's BatchNorm (training mode) over the whole batch x with loss sum(y * w_out).
template <class BN, class Options>
Reference torch_batch_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           const at::Tensor& w_out, double momentum) {
  BN bn(Options(x.size(1)).momentum(momentum));
  {
    at::NoGradGuard ng;
    bn->weight.copy_(weight);
    bn->bias.copy_(bias);
  }
  at::Tensor xin = x.clone().requires_grad_(true);
  at::Tensor y = bn->forward(xin);
  (y * w_out).sum().backward();
  return {
      y.detach(), xin.grad(), bn->weight.grad(), bn->bias.grad(), bn->running_mean.clone(), bn->running_var.clone()};
}

// The same through dist::sync_batch_norm, rank r holding rows [begin_r, end_r) of x; gradients
// of weight and bias summed over ranks (as the gradient sync does).
void check_against_reference(const at::Tensor& x, const std::vector<int64_t>& rows, const Reference& ref,
                             const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& w_out,
                             double momentum) {
  ct::test::run_ranks(2, [&](const dist::ProcessGroupPtr& g) {
    const int64_t r = g->rank();
    const int64_t begin = r == 0 ? 0 : rows[0], len = rows[static_cast<size_t>(r)];
    at::Tensor xr = x.narrow(0, begin, len).clone().requires_grad_(true);
    at::Tensor w = weight.clone().requires_grad_(true), b = bias.clone().requires_grad_(true);
    at::Tensor rm = at::zeros({x.size(1)}), rv = at::ones({x.size(1)});
    at::Tensor y = dist::sync_batch_norm(xr, w, b, rm, rv, momentum, 1e-5, *g);
    (y * w_out.narrow(0, begin, len)).sum().backward();
    EXPECT_TRUE(at::allclose(y.detach(), ref.y.narrow(0, begin, len), 1e-5, 1e-5)) << "output, rank " << r;
    EXPECT_TRUE(at::allclose(xr.grad(), ref.grad_x.narrow(0, begin, len), 1e-4, 1e-5))
        << "input gradient, rank " << r << ": max |diff| "
        << (xr.grad() - ref.grad_x.narrow(0, begin, len)).abs().max().item<double>();
    at::Tensor gw = w.grad().clone(), gb = b.grad().clone();
    g->allreduce_(gw);
    g->allreduce_(gb);
    EXPECT_TRUE(at::allclose(gw, ref.grad_w, 1e-4, 1e-5)) << "weight gradient, rank " << r;
    EXPECT_TRUE(at::allclose(gb, ref.grad_b, 1e-4, 1e-5)) << "bias gradient, rank " << r;
    EXPECT_TRUE(at::allclose(rm, ref.running_mean, 1e-5, 1e-6)) << "running mean, rank " << r;
    EXPECT_TRUE(at::allclose(rv, ref.running_var, 1e-5, 1e-6)) << "running var, rank " << r;
  });
}

}  // namespace

TEST(SyncBatchNorm, MatchesBatchNormOverTheConcatenatedBatch1d) {
  CT_SKIP_WITHOUT_GLOO();
  // 5 samples of 3 channels x 7, split 3 + 2; an offset and scale per channel so that the
  // statistics matter, a loss weighting every output differently.
  torch::manual_seed(21);
  const at::Tensor x = torch::randn({5, 3, 7}) * at::tensor({1.0f, 3.0f, 0.5f}).view({1, 3, 1}) +
                       at::tensor({2.0f, -1.0f, 0.0f}).view({1, 3, 1});
  const at::Tensor w = torch::randn({3}), b = torch::randn({3}), w_out = torch::randn({5, 3, 7});
  const auto ref = torch_batch_norm<torch::nn::BatchNorm1d, torch::nn::BatchNorm1dOptions>(x, w, b, w_out, 0.1);
  check_against_reference(x, {3, 2}, ref, w, b, w_out, 0.1);
  // A control: rank 0's rows normalised alone give another output.
  const auto alone = torch_batch_norm<torch::nn::BatchNorm1d, torch::nn::BatchNorm1dOptions>(
      x.narrow(0, 0, 3), w, b, w_out.narrow(0, 0, 3), 0.1);
  EXPECT_FALSE(at::allclose(alone.y, ref.y.narrow(0, 0, 3), 1e-3, 1e-3));
}

TEST(SyncBatchNorm, MatchesBatchNormOverTheConcatenatedBatch2d) {
  CT_SKIP_WITHOUT_GLOO();
  // (N, C, H, W) with one sample on rank 1: the statistics run over N x H x W.
  torch::manual_seed(22);
  const at::Tensor x = torch::randn({3, 2, 4, 5}) + at::tensor({1.0f, -3.0f}).view({1, 2, 1, 1});
  const at::Tensor w = torch::randn({2}), b = torch::randn({2}), w_out = torch::randn({3, 2, 4, 5});
  const auto ref = torch_batch_norm<torch::nn::BatchNorm2d, torch::nn::BatchNorm2dOptions>(x, w, b, w_out, 0.3);
  check_against_reference(x, {2, 1}, ref, w, b, w_out, 0.3);
}

TEST(SyncBatchNorm, ModulesOfAnUnchangedModelAreSynchronisedWhileRegistered) {
  CT_SKIP_WITHOUT_GLOO();
  // A conv -> BatchNorm1d -> ReLU -> BatchNorm1d stack, as a model holds it (a Sequential calls
  // the layers' forward directly). Reference: the same stack on the concatenated batch.
  torch::manual_seed(23);
  auto make = [] {
    torch::manual_seed(5);
    return torch::nn::Sequential(torch::nn::Conv1d(torch::nn::Conv1dOptions(2, 4, 3)), torch::nn::BatchNorm1d(4),
                                 torch::nn::ReLU(),
                                 torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(4).affine(false)));
  };
  const at::Tensor x = torch::randn({6, 2, 9}) * 2 + 1;
  const at::Tensor w_out = torch::randn({6, 4, 7});
  auto ref_net = make();
  at::Tensor ref_x = x.clone().requires_grad_(true);
  const at::Tensor ref_y = ref_net->forward(ref_x);
  (ref_y * w_out).sum().backward();
  std::mutex mu;
  ct::test::run_ranks(2, [&](const dist::ProcessGroupPtr& g) {
    torch::nn::Sequential net;
    {
      std::lock_guard<std::mutex> lock(mu);  // the global generator seeds both ranks' copies alike
      net = make();
    }
    const int64_t r = g->rank(), begin = r == 0 ? 0 : 4, len = r == 0 ? 4 : 2;
    at::Tensor xr = x.narrow(0, begin, len).clone().requires_grad_(true);
    {
      dist::SyncBatchNorm sync({net.ptr().get()}, g);
      EXPECT_EQ(sync.num_layers(), 2);
      const at::Tensor y = net->forward(xr);
      (y * w_out.narrow(0, begin, len)).sum().backward();
      EXPECT_TRUE(at::allclose(y.detach(), ref_y.detach().narrow(0, begin, len), 1e-5, 1e-5)) << "rank " << r;
      EXPECT_TRUE(at::allclose(xr.grad(), ref_x.grad().narrow(0, begin, len), 1e-4, 1e-5)) << "rank " << r;
      const auto params = net->named_parameters(), ref_params = ref_net->named_parameters();
      for (const auto& kv : params) {
        at::Tensor summed = kv.value().grad().clone();
        g->allreduce_(summed);
        EXPECT_TRUE(at::allclose(summed, ref_params[kv.key()].grad(), 1e-4, 1e-5)) << kv.key() << ", rank " << r;
      }
      const auto bufs = net->named_buffers(), ref_bufs = ref_net->named_buffers();
      for (const auto& kv : bufs)
        EXPECT_TRUE(at::allclose(kv.value().to(at::kDouble), ref_bufs[kv.key()].to(at::kDouble), 1e-5, 1e-6))
            << kv.key() << ", rank " << r;
      // Eval mode uses the running statistics: no collective (rank 1 does not even call it).
      if (r == 0) {
        net->eval();
        ref_net->eval();
        EXPECT_TRUE(at::allclose(net->forward(xr.detach()), ref_net->forward(xr.detach()), 1e-5, 1e-5));
        net->train();
      }
      g->barrier();
    }
    // Unregistered: the same layers normalise by this rank's batch alone again.
    torch::nn::Sequential local;
    {
      std::lock_guard<std::mutex> lock(mu);
      local = make();
    }
    at::NoGradGuard ng;
    EXPECT_TRUE(at::allclose(net->forward(xr.detach()), local->forward(xr.detach()), 1e-5, 1e-5)) << "rank " << r;
  });
}

TEST(SyncBatchNorm, AJoiningRankAddsNothing) {
  CT_SKIP_WITHOUT_GLOO();
  // Rank 1 has no samples left and joins with a stand-in batch: rank 0's output and gradient are
  // those of BatchNorm over rank 0's rows alone, rank 1's gradients are zero.
  torch::manual_seed(24);
  const at::Tensor x = torch::randn({4, 3, 5});
  const at::Tensor w = torch::randn({3}), b = torch::randn({3}), w_out = torch::randn({4, 3, 5});
  const auto ref = torch_batch_norm<torch::nn::BatchNorm1d, torch::nn::BatchNorm1dOptions>(x, w, b, w_out, 0.1);
  ct::test::run_ranks(2, [&](const dist::ProcessGroupPtr& g) {
    const int64_t r = g->rank();
    at::Tensor xr = (r == 0 ? x : torch::randn({2, 3, 5}) * 100).clone().requires_grad_(true);
    at::Tensor wr = w.clone().requires_grad_(true), br = b.clone().requires_grad_(true);
    at::Tensor rm = at::zeros({3}), rv = at::ones({3});
    std::optional<dist::SyncBatchNorm::Join> join;
    if (r == 1) join.emplace();
    const at::Tensor y = dist::sync_batch_norm(xr, wr, br, rm, rv, 0.1, 1e-5, *g);
    ((r == 0 ? w_out : at::zeros({2, 3, 5})) * y).sum().backward();
    if (r == 0) {
      EXPECT_TRUE(at::allclose(y.detach(), ref.y, 1e-5, 1e-5));
      EXPECT_TRUE(at::allclose(xr.grad(), ref.grad_x, 1e-4, 1e-5));
      EXPECT_TRUE(at::allclose(wr.grad(), ref.grad_w, 1e-4, 1e-5));
    } else {
      EXPECT_EQ(xr.grad().abs().max().item<double>(), 0.0);
      EXPECT_EQ(wr.grad().abs().max().item<double>(), 0.0);
      EXPECT_EQ(br.grad().abs().max().item<double>(), 0.0);
    }
    // Both ranks' running statistics move with the global (rank 0's) batch.
    EXPECT_TRUE(at::allclose(rm, ref.running_mean, 1e-5, 1e-6)) << "rank " << r;
    EXPECT_TRUE(at::allclose(rv, ref.running_var, 1e-5, 1e-6)) << "rank " << r;
  });
}

TEST(SyncBatchNorm, OneValuePerChannelOverAllRanksIsAnError) {
  CT_SKIP_WITHOUT_GLOO();
  ct::test::run_ranks(2, [&](const dist::ProcessGroupPtr& g) {
    std::optional<dist::SyncBatchNorm::Join> join;
    if (g->rank() == 1) join.emplace();
    at::Tensor rm = at::zeros({3}), rv = at::ones({3});
    try {
      dist::sync_batch_norm(at::randn({1, 3}), at::ones({3}), at::zeros({3}), rm, rv, 0.1, 1e-5, *g);
      ADD_FAILURE() << "expected a ShapeError on rank " << g->rank();
    } catch (const ct::ShapeError& e) {
      EXPECT_NE(std::string(e.what()).find("more than 1 value per channel"), std::string::npos) << e.what();
    }
  });
}
