// End-of-epoch metric cost at validation-set scale: a PTB-XL-sized multilabel epoch (21 837
// records x 71 statements is the largest; 20 000 x 26 here, the CinC 2021 scored classes) and a
// MIT-BIH DS2-sized multiclass beat epoch (~50 000 beats x 5 AAMI classes).
//   ./build/bench/bench_metrics --benchmark_min_time=0.5
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include "cardiotorch/core/config.h"
#include "cardiotorch/train/metric_set.h"
#include "cardiotorch/train/metrics.h"
#include "cardiotorch/train/metrics_ecg.h"

namespace {

namespace tr = cardiotorch::train;

struct Epoch {
  at::Tensor logits, targets;
};

Epoch multilabel(int64_t n, int64_t c) {
  at::manual_seed(0);
  Epoch e;
  e.targets = (at::rand({n, c}) < 0.1).to(at::kFloat);
  e.logits = (e.targets * 2 - 1) + at::randn({n, c});  // informative scores with noise
  return e;
}

void per_class_auroc(benchmark::State& state) {
  const Epoch e = multilabel(state.range(0), 26);
  const at::Tensor p = at::sigmoid(e.logits.to(at::kDouble));
  for (auto _ : state) benchmark::DoNotOptimize(tr::auroc(p, e.targets, tr::Average::kMacro));
  state.SetItemsProcessed(state.iterations() * p.numel());
}

void challenge_score(benchmark::State& state) {
  const auto w = tr::load_challenge_weights(std::string(CT_SOURCE_DIR) + "/data/sample/cinc2021/weights.csv");
  const Epoch e = multilabel(state.range(0), w.size());
  const at::Tensor out = (e.logits > 0).to(at::kByte), lab = e.targets.to(at::kByte);
  for (auto _ : state) benchmark::DoNotOptimize(tr::challenge_score(w, lab, out));
  state.SetItemsProcessed(state.iterations() * lab.size(0));
}

// The whole set a multilabel config would list, fed in batches of 128 and computed once.
void multilabel_set(benchmark::State& state) {
  const int64_t n = state.range(0), c = 26;
  const Epoch e = multilabel(n, c);
  tr::MetricContext ctx;
  ctx.task = tr::TaskKind::kMultilabel;
  for (int64_t k = 0; k < c; ++k) ctx.class_names.push_back("c" + std::to_string(k));
  const auto metrics =
      cardiotorch::ConfigNode::parse("[auroc_macro, auroc_micro, auprc_macro, f1_macro, f1_per_class, accuracy, mcc]");
  for (auto _ : state) {
    tr::MetricSet set(ctx, metrics);
    for (int64_t i = 0; i < n; i += 128) set.update(e.logits.slice(0, i, i + 128), e.targets.slice(0, i, i + 128));
    benchmark::DoNotOptimize(set.compute());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void multiclass_set(benchmark::State& state) {
  const int64_t n = state.range(0);
  at::manual_seed(0);
  const at::Tensor y = at::randint(0, 5, {n}, at::kLong);
  const at::Tensor logits = at::one_hot(y, 5).to(at::kFloat) * 2 + at::randn({n, 5});
  tr::MetricContext ctx;
  ctx.class_names = {"N", "S", "V", "F", "Q"};
  const auto metrics =
      cardiotorch::ConfigNode::parse("[accuracy, balanced_accuracy, f1_macro, auroc_macro, mcc, aami]");
  for (auto _ : state) {
    tr::MetricSet set(ctx, metrics);
    for (int64_t i = 0; i < n; i += 256) set.update(logits.slice(0, i, i + 256), y.slice(0, i, i + 256));
    benchmark::DoNotOptimize(set.compute());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

}  // namespace

BENCHMARK(per_class_auroc)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK(challenge_score)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK(multilabel_set)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK(multiclass_set)->Arg(50000)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
