// Forward and forward+backward throughput (samples/s) of every registered model and backbone,
// batch 32 of 12 x 5000 (10 s at 500 Hz) or the model's native input, 2 intra-op threads.
// Generated from the registries: a new model is benchmarked as soon as it registers.
//
//   build/bench/bench_models --benchmark_filter='/resnet_nature_comm/'       # one model, both passes
//   build/bench/bench_models --benchmark_filter='^forward/' --batch=8          # every model, forward only
//
// Counters: params; peak_rss_MB = the process's peak resident set so far (getrusage), so run
// one model per process (a filter matching one name) to read that model's peak.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstring>
#include <string>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/models/model.h"

namespace {

using namespace cardiotorch;
using namespace cardiotorch::models;

int64_t g_batch = 32;
int g_threads = 2;

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

Shape bench_input(const ModelImpl& m) {
  Shape s = m.input_shape();
  s[0] = g_batch;
  for (size_t d = 2; d < s.size(); ++d)
    if (s[d] < 0) s[d] = s.size() == 3 ? 5000 : 224;
  return s;
}

void run_model(benchmark::State& state, const std::string& name, bool backward) {
  set_num_threads(g_threads);
  manual_seed(0);
  ModelContext ctx;
  ctx.in_channels = 12;
  ctx.fs = 500.0;
  ctx.num_classes = 5;
  const ModelPtr m = build_model(ConfigNode::string(name), ctx);
  const at::Tensor x = at::randn(bench_input(*m));
  if (backward) {
    m->train();
    for (auto _ : state) {
      m->zero_grad();
      const at::Tensor y = m->forward(x);
      y.pow(2).mean().backward();
      benchmark::ClobberMemory();
    }
  } else {
    m->eval();
    at::NoGradGuard no_grad;
    for (auto _ : state) {
      const at::Tensor y = m->forward(x);
      benchmark::DoNotOptimize(y.data_ptr());
    }
  }
  state.SetItemsProcessed(state.iterations() * x.size(0));
  state.counters["params"] = static_cast<double>(count_parameters(*m));
  state.counters["peak_rss_MB"] = peak_rss_mb();
}

}  // namespace

int main(int argc, char** argv) {
  // Our own flags first (--batch=N, --threads=N); the rest go to Google Benchmark.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--batch=", 8) == 0) g_batch = std::stoll(argv[i] + 8);
    else if (std::strncmp(argv[i], "--threads=", 10) == 0) g_threads = std::stoi(argv[i] + 10);
    else argv[kept++] = argv[i];
  }
  argc = kept;
  std::vector<std::string> names = backbone_registry().names();
  for (const auto& n : model_registry().names()) names.push_back(n);
  for (const auto& name : names) {
    benchmark::RegisterBenchmark(("forward/" + name).c_str(), run_model, name, false)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(1.0);
    benchmark::RegisterBenchmark(("forward_backward/" + name).c_str(), run_model, name, true)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(1.0);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
