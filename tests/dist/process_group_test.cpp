// The c10d process group and data parallelism with Gloo, ranks as threads of this process
// sharing an in-memory store: collectives, bucketed gradient sums, the all-gather's gradient
// against a single-process reference, 2 ranks x B against 1 rank x 2B, and timeouts.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <exception>
#include <functional>
#include <thread>

#include "cardiotorch/core/error.h"
#include "cardiotorch/dist/data_parallel.h"
#include "cardiotorch/dist/process_group.h"
#include "dist/ranks.h"

namespace ct = cardiotorch;
namespace dist = cardiotorch::dist;
using Clock = std::chrono::steady_clock;

namespace {

dist::DistOptions options(double timeout_s = 20, double bucket_mb = 25) {
  dist::DistOptions o;
  o.backend = "gloo";
  o.timeout_s = timeout_s;
  o.bucket_mb = bucket_mb;
  return o;
}

// test::run_ranks with one intra-op thread per rank (two ranks share this machine's cores).
void run_ranks(int world, const std::function<void(const dist::ProcessGroupPtr&)>& body,
               const dist::DistOptions& o = options()) {
  ct::test::run_ranks(
      world,
      [&](const dist::ProcessGroupPtr& g) {
        at::set_num_threads(1);
        body(g);
      },
      o);
}

bool have_gloo() { return dist::backend_available("gloo"); }

}  // namespace

#define SKIP_WITHOUT_GLOO() \
  if (!have_gloo()) GTEST_SKIP() << "this build has no Gloo backend"

TEST(ProcessGroup, CollectivesOverTwoRanks) {
  SKIP_WITHOUT_GLOO();
  run_ranks(2, [](const dist::ProcessGroupPtr& g) {
    const double r = static_cast<double>(g->rank());
    at::Tensor t = at::full({3}, r + 1.0);
    g->allreduce_(t);
    EXPECT_TRUE(at::allclose(t, at::full({3}, 3.0)));
    at::Tensor m = at::full({2}, r);
    g->allreduce_(m, dist::ReduceOp::kMax);
    EXPECT_EQ(m[0].item<double>(), 1.0);
    at::Tensor b = at::full({4}, r * 10 + 5);
    g->broadcast_(b, 1);
    EXPECT_TRUE(at::equal(b, at::full({4}, 15.0)));
    const auto parts = g->all_gather(at::full({2, 2}, r));
    ASSERT_EQ(parts.size(), 2u);
    EXPECT_TRUE(at::equal(parts[0], at::zeros({2, 2})));
    EXPECT_TRUE(at::equal(parts[1], at::ones({2, 2})));
    g->barrier();
  });
}

TEST(ProcessGroup, MissingBackendIsAClearError) {
  if (dist::backend_available("nccl")) GTEST_SKIP() << "this build has NCCL";
  auto o = options();
  o.backend = "nccl";
  try {
    dist::ProcessGroup::create(dist::Store::in_memory(), 0, 1, o);
    FAIL() << "expected an error";
  } catch (const ct::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("nccl"), std::string::npos) << e.what();
  }
}

TEST(ProcessGroup, BroadcastModuleMakesRanksIdentical) {
  SKIP_WITHOUT_GLOO();
  run_ranks(2, [](const dist::ProcessGroupPtr& g) {
    torch::nn::Sequential net(torch::nn::Linear(4, 3), torch::nn::BatchNorm1d(3));
    {
      torch::NoGradGuard ng;
      for (auto& p : net->parameters()) p.fill_(static_cast<double>(g->rank() + 1));
      for (auto& b : net->buffers()) b.fill_(static_cast<double>(g->rank() + 7));
    }
    dist::broadcast_module(*net, *g);
    for (auto& p : net->parameters()) EXPECT_TRUE(at::equal(p, at::ones_like(p)));
    for (auto& b : net->buffers()) EXPECT_TRUE(at::equal(b, at::full_like(b, 7)));
  });
}

TEST(ProcessGroup, BucketedGradientSumEqualsTheSum) {
  SKIP_WITHOUT_GLOO();
  // Tiny buckets (0.00005 MB = 52 bytes) so that the 4 parameters (60, 28, 16 and 12 bytes,
  // bucketed last first) span 3 of them: {12 + 16}, {28}, {60}.
  run_ranks(
      2,
      [](const dist::ProcessGroupPtr& g) {
        const double r = static_cast<double>(g->rank());
        std::vector<at::Tensor> params = {at::zeros({5, 3}, at::requires_grad()), at::zeros({7}, at::requires_grad()),
                                          at::zeros({2, 2}, at::requires_grad()), at::zeros({3}, at::requires_grad())};
        for (size_t k = 0; k < 3; ++k)
          params[k].mutable_grad() = at::arange(params[k].numel(), at::kFloat).view(params[k].sizes()) * (r + 1);
        // params[3] has a gradient on rank 1 only.
        if (r == 1) params[3].mutable_grad() = at::ones({3});
        dist::GradientSync sync(g, params, 0.00005);
        EXPECT_EQ(sync.num_buckets(), 3);
        const at::Tensor extra = sync.sync(at::tensor({r, 2.0}, at::kDouble));
        EXPECT_EQ(extra[0].item<double>(), 1.0);
        EXPECT_EQ(extra[1].item<double>(), 4.0);
        for (size_t k = 0; k < 3; ++k)
          EXPECT_TRUE(
              at::allclose(params[k].grad(), at::arange(params[k].numel(), at::kFloat).view(params[k].sizes()) * 3))
              << k;
        ASSERT_TRUE(params[3].grad().defined()) << "rank " << r;
        EXPECT_TRUE(at::equal(params[3].grad(), at::ones({3})));
        // A parameter without a gradient on every rank stays without one.
        std::vector<at::Tensor> unused = {at::zeros({2}, at::requires_grad())};
        dist::GradientSync(g, unused).sync();
        EXPECT_FALSE(unused[0].grad().defined());
      },
      options());
}

TEST(ProcessGroup, AllGatherGradientMatchesSingleProcess) {
  SKIP_WITHOUT_GLOO();
  // Reference: one process holds both ranks' rows X = [x0; x1]; rank r's loss is
  // sum(w_r * tanh(X)); the gradient of loss_0 + loss_1 w.r.t. X, sliced per rank, is what
  // each rank must receive through all_gather_with_grad.
  torch::manual_seed(5);
  const at::Tensor x_all = torch::randn({4, 3});
  const std::vector<at::Tensor> w = {torch::randn({4, 3}), torch::randn({4, 3})};
  at::Tensor ref = x_all.clone().requires_grad_(true);
  ((w[0] * at::tanh(ref)).sum() + (w[1] * at::tanh(ref)).sum()).backward();
  run_ranks(2, [&](const dist::ProcessGroupPtr& g) {
    const int64_t r = g->rank();
    at::Tensor x = x_all.narrow(0, 2 * r, 2).clone().requires_grad_(true);
    const at::Tensor gathered = dist::all_gather_with_grad(x, g);
    ASSERT_EQ(gathered.sizes(), x_all.sizes());
    EXPECT_TRUE(at::allclose(gathered.detach(), x_all));
    (w[static_cast<size_t>(r)] * at::tanh(gathered)).sum().backward();
    ASSERT_TRUE(x.grad().defined());
    EXPECT_TRUE(at::allclose(x.grad(), ref.grad().narrow(0, 2 * r, 2), 1e-6, 1e-6)) << "rank " << r;
  });
}

TEST(ProcessGroup, TwoRanksOfBatchBEqualOneRankOfBatch2B) {
  SKIP_WITHOUT_GLOO();
  // An MLP without BatchNorm (per-rank batch statistics would differ from the global batch's)
  // and without dropout, K SGD steps on the same data: the global batch of 8 split 4 + 4 over
  // two ranks (each rank's loss is the mean over its rows x 4/8, gradients summed) against one
  // process on all 8. Equal to float tolerance, not bitwise: the sums are taken in a
  // different order (two partial sums, then the all-reduce).
  constexpr int kSteps = 5, kGlobal = 8;
  torch::manual_seed(11);
  const at::Tensor data = torch::randn({kSteps, kGlobal, 6});
  const at::Tensor target = torch::randn({kSteps, kGlobal, 2});
  auto make_net = [] {
    torch::manual_seed(3);
    return torch::nn::Sequential(torch::nn::Linear(6, 16), torch::nn::Tanh(), torch::nn::Linear(16, 2));
  };
  auto train = [&](torch::nn::Sequential net, int64_t rank, int64_t world, dist::GradientSync* sync) {
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
    for (int s = 0; s < kSteps; ++s) {
      opt.zero_grad();
      // The loader's sharding: rank r takes positions r, r + world, ... of the global batch.
      const at::Tensor idx = at::arange(rank, kGlobal, world);
      const at::Tensor x = data[s].index_select(0, idx), y = target[s].index_select(0, idx);
      const at::Tensor loss = torch::mse_loss(net->forward(x), y) * (static_cast<double>(x.size(0)) / kGlobal);
      loss.backward();
      if (sync) sync->sync();
      opt.step();
    }
    return torch::nn::utils::parameters_to_vector(net->parameters()).detach();
  };
  const at::Tensor single = train(make_net(), 0, 1, nullptr);
  std::vector<at::Tensor> results(2);
  std::mutex mu;
  torch::nn::Sequential base = make_net();
  run_ranks(2, [&](const dist::ProcessGroupPtr& g) {
    torch::nn::Sequential net;
    {
      std::lock_guard<std::mutex> lock(mu);
      net = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(base->clone());
      // Rank 1 starts elsewhere: the broadcast must bring it to rank 0's weights.
      if (g->rank() == 1) {
        torch::NoGradGuard ng;
        for (auto& p : net->parameters()) p.add_(1.0);
      }
    }
    dist::broadcast_module(*net, *g);
    dist::GradientSync sync(g, net->parameters(), 0.001);
    results[static_cast<size_t>(g->rank())] = train(net, g->rank(), 2, &sync);
  });
  EXPECT_TRUE(at::equal(results[0], results[1])) << "ranks diverged";
  EXPECT_TRUE(at::allclose(results[0], single, 1e-5, 1e-6))
      << "max |diff| " << (results[0] - single).abs().max().item<double>();
  // Negative control: the same two ranks without the gradient sum do not match.
  EXPECT_FALSE(at::allclose(train(make_net(), 0, 2, nullptr), single, 1e-5, 1e-6));
}

TEST(ProcessGroup, DeadRankEndsTheOthersWithAnError) {
  SKIP_WITHOUT_GLOO();
  // Rank 1 leaves (its group is destroyed: sockets close) while rank 0 all-reduces.
  const auto t0 = Clock::now();
  try {
    run_ranks(
        2,
        [](const dist::ProcessGroupPtr& g) {
          g->barrier();
          if (g->rank() == 1) return;
          at::Tensor t = at::ones({4});
          g->allreduce_(t);
        },
        options(2.0));
    FAIL() << "expected an error on rank 0";
  } catch (const ct::DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("all-reduce failed on rank 0"), std::string::npos) << m;
  }
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 4.0);
}

TEST(ProcessGroup, HungRankTimesOut) {
  SKIP_WITHOUT_GLOO();
  // Rank 1 is alive but never joins the all-reduce: rank 0 fails after the 1.5 s timeout.
  std::atomic<bool> done{false};
  const auto t0 = Clock::now();
  try {
    run_ranks(
        2,
        [&](const dist::ProcessGroupPtr& g) {
          g->barrier();
          if (g->rank() == 1) {
            while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
            return;
          }
          at::Tensor t = at::ones({4});
          try {
            g->allreduce_(t);
          } catch (...) {
            done = true;
            throw;
          }
          done = true;
        },
        options(1.5));
    FAIL() << "expected a timeout";
  } catch (const ct::DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("timeout 1.5 s"), std::string::npos) << m;
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_GE(s, 1.4);
  EXPECT_LT(s, 4.0);
}

TEST(ProcessGroup, BarrierTimesOutNamingWhoArrived) {
  SKIP_WITHOUT_GLOO();
  std::atomic<bool> done{false};
  try {
    run_ranks(2, [&](const dist::ProcessGroupPtr& g) {
      if (g->rank() == 1) {
        while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return;
      }
      try {
        g->barrier(std::chrono::milliseconds(500));
      } catch (...) {
        done = true;
        throw;
      }
    });
    FAIL() << "expected a timeout";
  } catch (const ct::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("1 of 2 ranks arrived"), std::string::npos) << e.what();
  }
}

TEST(DistOptions, Validation) {
  dist::DistOptions o;
  EXPECT_NO_THROW(o.validate());
  o.backend = "mpi";
  EXPECT_THROW(o.validate(), ct::ConfigError);
  o = dist::DistOptions();
  o.timeout_s = 0;
  EXPECT_THROW(o.validate(), ct::ConfigError);
  o = dist::DistOptions();
  o.bucket_mb = -1;
  EXPECT_THROW(o.validate(), ct::ConfigError);
}
