// Preprocessing throughput on a (128, 12, 5000) float32 batch at 500 Hz (torch_ecg's perf-test
// shape), with 1 and 2 intra-op threads. Reference on this machine (research/torch_ecg.md §6):
// torch_ecg BandPass 0.068 s, BaselineRemove 2.03 s for the same batch.
//
//   ./build/bench/bench_signal --benchmark_filter='pipeline|baseline'
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "cardiotorch/core/runtime.h"
#include "cardiotorch/signal/pipeline.h"
#include "bench_common.h"

namespace ct = cardiotorch;
namespace sig = cardiotorch::signal;

namespace {

at::Tensor batch() {
  static at::Tensor x = [] {
    auto g = at::make_generator<at::CPUGeneratorImpl>(0);
    return at::randn({128, 12, 5000}, g, at::TensorOptions().dtype(at::kFloat));
  }();
  return x;
}

void run(benchmark::State& state, const std::string& yaml) {
  ct::set_num_threads(static_cast<int>(state.range(0)));
  sig::Pipeline p = sig::Pipeline::from_config(ct::ConfigNode::parse(yaml));
  sig::StepContext ctx;
  ctx.generator = at::make_generator<at::CPUGeneratorImpl>(1);
  std::vector<std::string> leads = {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};
  auto once = [&] {
    sig::SignalBatch b;
    b.x = batch();
    b.fs = 500;
    b.leads = leads;
    p.apply(b, ctx);
    benchmark::DoNotOptimize(b.x.data_ptr());
  };
  // Warm-up, untimed: first touches of the input, and the heap's layout settling (with glibc
  // it grows for a few batches before freed blocks fit the next ones).
  for (int i = 0; i < 5; ++i) once();
  const long faults0 = ct::bench::minor_faults();
  for (auto _ : state) once();
  state.SetItemsProcessed(state.iterations() * batch().numel());
  ct::bench::report_faults(state, faults0, static_cast<double>(state.iterations()), "batch");
}

struct Case {
  const char* name;
  const char* yaml;
  int iterations;
};

const Case kCases[] = {
    {"pipeline/bandpass_fft+baseline_ma+zscore",
     "[{name: bandpass, lowcut: 0.5, highcut: 45}, {name: baseline_remove}, {name: zscore}]", 5},
    {"bandpass/fft", "[{name: bandpass}]", 5},
    {"bandpass/butter5", "[{name: bandpass, method: butter}]", 3},
    {"notch/50Hz+harmonics", "[{name: notch}]", 3},
    {"baseline/moving_average", "[{name: baseline_remove}]", 5},
    {"baseline/median", "[{name: baseline_remove, method: median}]", 1},
    {"baseline/als", "[{name: baseline_remove, method: als}]", 1},
    {"resample/poly_500_to_360", "[{name: resample, fs: 360}]", 3},
    {"resample/fft_500_to_360", "[{name: resample, fs: 360, method: fft}]", 3},
    {"resample/linear_500_to_250", "[{name: resample, fs: 250, method: linear}]", 5},
    {"zscore/lead", "[{name: zscore}]", 5},
    {"groupwise_zscore", "[{name: groupwise_zscore}]", 5},
    {"minmax", "[{name: minmax}]", 5},
    {"robust_scale", "[{name: robust_scale}]", 3},
    {"normalize", "[{name: normalize}]", 5},
    {"clip", "[{name: clip}]", 5},
    {"nan_to_num", "[{name: nan_to_num}]", 5},
    {"crop/random", "[{name: crop, length: 2500, mode: random}]", 5},
    {"ncrop/3", "[{name: ncrop, length: 2500, n: 3}]", 5},
    {"select_leads/derive", "[{name: select_leads, leads: [I, II, III, aVR, aVL, aVF]}]", 5},
};

}  // namespace

int main(int argc, char** argv) {
  for (const auto& c : kCases) {
    benchmark::RegisterBenchmark(c.name, [yaml = std::string(c.yaml)](benchmark::State& s) { run(s, yaml); })
        ->Arg(1)
        ->Arg(2)
        ->ArgName("threads")
        ->Iterations(c.iterations)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  ct::bench::add_context();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
