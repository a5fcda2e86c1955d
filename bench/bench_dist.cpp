// Data-parallel scaling on one machine: the ViT fine-tune step (ecg_classifier = vit_patchx,
// 384-d x 3 blocks, 12 x 2500 input, attention pooling, BCE over 26 classes, AdamW) at a global
// batch of 32, as 1 rank x 2 intra-op threads against 2 ranks x 1 thread (batch 16 each, plus
// the gradient all-reduce, after the backward pass or overlapped with it, in 25 MB or 4 MB
// buckets), and the all-reduce alone for the model's 5.5 M gradients.
//
// The ranks are threads of this process over an in-memory store and Gloo on loopback (the
// same collectives as separate processes; ATen's OpenMP thread count is per thread). Each
// benchmark runs a fixed number of iterations, which rank 1 mirrors in its own thread.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "bench_common.h"
#include "cardiotorch/core/config.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/dist/data_parallel.h"
#include "cardiotorch/dist/process_group.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/train/amp.h"
#include "cardiotorch/train/objective.h"
#include "cardiotorch/train/optim.h"

namespace ct = cardiotorch;
namespace tr = cardiotorch::train;

namespace {

constexpr int64_t kGlobalBatch = 32, kLeads = 12, kLen = 2500, kClasses = 26;
constexpr int kIterations = 4;

struct Rank {
  ct::models::ModelPtr model;
  tr::ObjectivePtr objective;
  tr::OptimizerPtr opt;
  ct::data::Batch batch;
  std::unique_ptr<ct::dist::GradientSync> sync;
  double sync_s = 0;

  Rank(int64_t rank, int64_t world) {
    ct::manual_seed(0);
    ct::models::ModelContext mc;
    mc.in_channels = kLeads;
    mc.fs = 500;
    mc.seq_len = kLen;
    mc.num_classes = kClasses;
    model = ct::models::build_model(ct::ConfigNode::parse("{name: ecg_classifier, global_pool: attention_pool}"), mc);
    model->train();
    tr::ObjectiveContext oc;
    for (int64_t k = 0; k < kClasses; ++k) oc.class_names.push_back("c" + std::to_string(k));
    objective = tr::objective_registry().build(ct::ConfigNode::parse("{name: multilabel}"), oc);
    tr::OptimizerContext octx;
    octx.params = tr::trainable_parameters(*model);
    octx.module = model.get();
    opt = tr::optimizer_registry().build(ct::ConfigNode::parse("{name: adamw, lr: 1.0e-4, weight_decay: 0.05}"), octx);
    ct::manual_seed(static_cast<uint64_t>(100 + rank));
    batch.x = at::randn({kGlobalBatch / world, kLeads, kLen});
    batch.y = (at::rand({kGlobalBatch / world, kClasses}) < 0.1).to(at::kFloat);
    batch.indices.resize(static_cast<size_t>(kGlobalBatch / world));
  }
  void step() {
    opt->zero_grad();
    tr::StepOutput out = objective->step(*model, batch, true);
    if (sync) sync->arm();  // a no-op unless the sync overlaps
    out.loss.backward();
    if (sync) {
      const auto t0 = std::chrono::steady_clock::now();
      sync->sync();
      sync_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    tr::clip_grad_norm(opt->parameters(), 5.0);
    opt->step();
  }
};

// Runs `body(rank, group)` for rank 1 in a thread and rank 0 here.
template <class F0, class F1>
void two_ranks(F0&& rank0, F1&& rank1) {
  auto store = ct::dist::Store::in_memory();
  ct::dist::DistOptions o;
  o.backend = "gloo";
  o.timeout_s = 600;
  std::thread other([&] {
    ct::set_num_threads(1);
    auto g = ct::dist::ProcessGroup::create(store, 1, 2, o);
    rank1(g);
  });
  ct::set_num_threads(1);
  auto g = ct::dist::ProcessGroup::create(store, 0, 2, o);
  rank0(g);
  other.join();
}

// Arg: 0 = one rank with 1 thread (the reference); 1 = one rank with 2 intra-op threads;
// 2 ranks with 1 thread each: 2 = all-reduce after backward, 25 MB buckets (one for this
// model); 3 = overlapped with backward, 25 MB; 4 = after backward, 4 MB buckets (8); 5 =
// overlapped, 4 MB buckets.
void BM_VitFinetuneStep(benchmark::State& state) {
  const int64_t arg = state.range(0);
  const int64_t world = arg >= 2 ? 2 : 1;
  const bool overlap = arg == 3 || arg == 5;
  const double bucket_mb = arg >= 4 ? 4 : 25;
  static const char* const labels[] = {"1 rank x 1 thread; batch 32",
                                       "1 rank x 2 threads; batch 32",
                                       "2 ranks x 1 thread; 16 + 16; after backward; 25 MB buckets",
                                       "2 ranks x 1 thread; 16 + 16; overlapped; 25 MB buckets",
                                       "2 ranks x 1 thread; 16 + 16; after backward; 4 MB buckets",
                                       "2 ranks x 1 thread; 16 + 16; overlapped; 4 MB buckets"};
  state.SetLabel(labels[arg]);
  if (world == 1) {
    ct::set_num_threads(arg == 0 ? 1 : 2);
    Rank r(0, 1);
    r.step();  // first-touch allocations, optimizer state
    for (auto _ : state) r.step();
  } else {
    if (!ct::dist::backend_available("gloo")) {
      state.SkipWithError("this build has no Gloo backend");
      return;
    }
    double sync_s = 0;
    int64_t buckets = 0, in_backward = 0;
    two_ranks(
        [&](const ct::dist::ProcessGroupPtr& g) {
          Rank r(0, 2);
          r.sync = std::make_unique<ct::dist::GradientSync>(g, r.opt->parameters(), bucket_mb, overlap);
          r.step();
          r.sync_s = 0;
          for (auto _ : state) r.step();
          sync_s = r.sync_s;
          buckets = r.sync->num_buckets();
          in_backward = r.sync->launched_in_backward();
        },
        [&](const ct::dist::ProcessGroupPtr& g) {
          Rank r(1, 2);
          r.sync = std::make_unique<ct::dist::GradientSync>(g, r.opt->parameters(), bucket_mb, overlap);
          for (int i = 0; i < kIterations + 1; ++i) r.step();
        });
    state.counters["allreduce_ms/step"] = 1e3 * sync_s / static_cast<double>(state.iterations());
    state.counters["buckets"] = static_cast<double>(buckets);
    state.counters["started_in_backward"] = static_cast<double>(in_backward);
  }
  // Google Benchmark's CSV output needs the same counters in every row.
  for (const char* c : {"allreduce_ms/step", "buckets", "started_in_backward"})
    if (!state.counters.count(c)) state.counters[c] = 0;
  state.counters["MB"] = 0;
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kGlobalBatch), benchmark::Counter::kIsRate);
}

// The gradient all-reduce of the ViT's 5.5 M parameters (22 MB float32) in 25 MB buckets.
void BM_GradientAllReduce(benchmark::State& state) {
  if (!ct::dist::backend_available("gloo")) {
    state.SkipWithError("this build has no Gloo backend");
    return;
  }
  constexpr int kReps = 20;
  double mb = 0;
  two_ranks(
      [&](const ct::dist::ProcessGroupPtr& g) {
        Rank r(0, 2);
        for (auto& p : r.opt->parameters()) p.mutable_grad() = at::randn_like(p);
        ct::dist::GradientSync sync(g, r.opt->parameters(), 25);
        mb = static_cast<double>(sync.bytes()) / 1e6;
        sync.sync();
        for (auto _ : state) sync.sync();
      },
      [&](const ct::dist::ProcessGroupPtr& g) {
        Rank r(1, 2);
        for (auto& p : r.opt->parameters()) p.mutable_grad() = at::randn_like(p);
        ct::dist::GradientSync sync(g, r.opt->parameters(), 25);
        for (int i = 0; i < kReps + 1; ++i) sync.sync();
      });
  state.counters["MB"] = mb;
  state.counters["allreduce_ms/step"] = 0;  // the row's own time is the all-reduce
  state.counters["samples/s"] = 0;
  state.counters["buckets"] = 1;
  state.counters["started_in_backward"] = 0;
}

}  // namespace

BENCHMARK(BM_VitFinetuneStep)->DenseRange(0, 5)->Iterations(kIterations)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GradientAllReduce)->Iterations(20)->UseRealTime()->Unit(benchmark::kMillisecond);

CT_BENCHMARK_MAIN();
