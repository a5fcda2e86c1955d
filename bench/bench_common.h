#pragma once
// Shared by the benchmark binaries: the allocator in the report's context, and page faults as a
// counter (first touches of fresh memory are what made timings depend on the allocator's state).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <string>

#include "cardiotorch/core/runtime.h"

namespace cardiotorch::bench {

/// Minor page faults of this process so far.
inline long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

/// Adds "faults/<unit>": minor page faults per item between `start` and now.
inline void report_faults(benchmark::State& state, long start, double items, const char* unit) {
  state.counters[std::string("faults/") + unit] = items > 0 ? static_cast<double>(minor_faults() - start) / items : 0.0;
}

/// Puts the allocator policy (core/runtime.h) and the thread budget in the report's header.
inline void add_context() {
  benchmark::AddCustomContext("allocator", allocator_summary());
  const ThreadBudget b = thread_budget();
  benchmark::AddCustomContext("thread_budget", std::to_string(b.cores) + " cores: " + std::to_string(b.loader_workers) +
                                                   " loader worker(s) + " + std::to_string(b.intra_op) + " intra-op");
}

}  // namespace cardiotorch::bench

/// BENCHMARK_MAIN with the context lines above.
#define CT_BENCHMARK_MAIN()                                             \
  int main(int argc, char** argv) {                                     \
    ::benchmark::Initialize(&argc, argv);                               \
    if (::benchmark::ReportUnrecognizedArguments(argc, argv)) return 1; \
    ::cardiotorch::bench::add_context();                                \
    ::benchmark::RunSpecifiedBenchmarks();                              \
    ::benchmark::Shutdown();                                            \
    return 0;                                                           \
  }
