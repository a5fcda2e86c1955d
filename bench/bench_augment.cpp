// Throughput of every registered augmenter on a (128, 12, 5000) float32 batch (10 s at 500 Hz),
// p = 1 so every slice is transformed, with 1 and 2 intra-op threads (the benchmark argument).
//   ./build/bench/bench_augment --benchmark_min_time=0.2
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/signal/pipeline.h"

namespace {

using namespace cardiotorch;

void run_augmenter(benchmark::State& state, const std::string& name) {
  set_num_threads(static_cast<int>(state.range(0)));
  auto step = signal::augmenter_registry().build(ConfigNode::parse("{name: " + name + ", p: 1}"));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
  const at::Tensor x = at::randn({128, 12, 5000}, gen, at::TensorOptions().dtype(at::kFloat));
  const at::Tensor y = at::softmax(at::randn({128, 5}, gen, at::TensorOptions().dtype(at::kFloat)), -1);
  signal::StepContext ctx;
  ctx.training = true;
  ctx.generator = gen;
  for (auto _ : state) {
    signal::SignalBatch b;
    b.x = x;
    b.y = y;
    b.fs = 500.0;
    step->apply(b, ctx);
    benchmark::DoNotOptimize(b.x.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * x.size(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(x.numel() * x.element_size()));
}

}  // namespace

int main(int argc, char** argv) {
  for (const auto& name : signal::augmenter_registry().names())
    benchmark::RegisterBenchmark(("augment/" + name).c_str(), run_augmenter, name)
        ->Arg(1)
        ->Arg(2)
        ->ArgName("threads")
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
