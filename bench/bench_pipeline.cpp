// End-to-end decode + preprocess, one record at a time, as a training-data preparation step
// would do it: io::read_record (physical units, float32) of every PTB-XL 500 Hz record present
// (records500/, 88 records of 12 x 5000, format 16) and of the first 20 LUDB records present (12 x 5000
// at 500 Hz), then the pipeline
//   bandpass {lowcut: 0.5, highcut: 45, method: fft}      (torch_ecg BandPass, torch path)
//   baseline_remove {method: moving_average}              (torch_ecg BaselineRemove, 0.2 s / 0.6 s)
//   zscore {axis: lead}                                   (torch_ecg ZScoreNormalize, per_channel)
// The argument is the intra-op thread count (cardiotorch::set_num_threads); records are processed
// sequentially. BM_DecodePreprocessRecordParallel/W/T instead runs W workers over the records
// with T intra-op threads each. bench/README.md has the figures and the Python comparison.
//
//   ./build/bench/bench_pipeline --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/signal/pipeline.h"
#include "bench_common.h"

namespace ct = cardiotorch;

namespace {

const char* kPipeline =
    "- {name: bandpass, lowcut: 0.5, highcut: 45, method: fft}\n"
    "- {name: baseline_remove, method: moving_average}\n"
    "- {name: zscore}\n";

const std::vector<std::string>& record_paths() {
  static const std::vector<std::string> paths = [] {
    std::vector<std::string> out;
    const std::string root = CT_SHARED_DATA_DIR;
    const std::string ptbxl = root + "/ptbxl/records500";
    if (std::filesystem::is_directory(ptbxl)) out = ct::io::find_records(ptbxl, /*recursive=*/true);
    // The shared LUDB copy holds 150 of the 200 records: take the first 20 present, by number.
    for (int i = 1, found = 0; i <= 200 && found < 20; ++i) {
      const std::string rec = root + "/ludb/data/" + std::to_string(i);
      if (std::filesystem::exists(rec + ".hea")) {
        out.push_back(rec);
        ++found;
      }
    }
    return out;
  }();
  return paths;
}

const ct::signal::Pipeline& pipeline() {
  static const ct::signal::Pipeline p = ct::signal::Pipeline::from_config(ct::ConfigNode::parse(kPipeline));
  return p;
}

bool have_data(benchmark::State& state) {
  if (record_paths().empty()) {
    state.SkipWithError("../shared/data (ptbxl/records500, ludb/data) not present");
    return false;
  }
  return true;
}

at::Tensor process(const std::string& path) {
  const auto rec = ct::io::read_record(path);
  ct::signal::SignalBatch b;
  b.x = rec.signal;
  b.fs = rec.fs;
  b.leads = rec.leads;
  ct::signal::StepContext ctx;
  pipeline().apply(b, ctx);
  return b.x;
}

// `faults0`: ct::bench::minor_faults() before the timed loop.
void report(benchmark::State& state, int64_t records, long faults0) {
  state.SetItemsProcessed(records);
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
  ct::bench::report_faults(state, faults0, static_cast<double>(records), "record");
}

void BM_Decode(benchmark::State& state) {
  ct::set_num_threads(static_cast<int>(state.range(0)));
  if (!have_data(state)) return;
  int64_t n = 0;
  const long faults0 = ct::bench::minor_faults();
  for (auto _ : state) {
    for (const auto& p : record_paths()) {
      auto rec = ct::io::read_record(p);
      benchmark::DoNotOptimize(rec.signal.data_ptr<float>());
      ++n;
    }
  }
  report(state, n, faults0);
}
BENCHMARK(BM_Decode)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Preprocess(benchmark::State& state) {
  ct::set_num_threads(static_cast<int>(state.range(0)));
  if (!have_data(state)) return;
  std::vector<ct::io::Record> recs;
  for (const auto& p : record_paths()) recs.push_back(ct::io::read_record(p));
  int64_t n = 0;
  const long faults0 = ct::bench::minor_faults();
  for (auto _ : state) {
    for (const auto& r : recs) {
      ct::signal::SignalBatch b;
      b.x = r.signal.clone();  // the pipeline may work in place; keep the decoded input intact
      b.fs = r.fs;
      ct::signal::StepContext ctx;
      pipeline().apply(b, ctx);
      benchmark::DoNotOptimize(b.x.data_ptr<float>());
      ++n;
    }
  }
  report(state, n, faults0);
}
BENCHMARK(BM_Preprocess)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// One pipeline step at a time on the decoded records: {step index, threads}.
void BM_Step(benchmark::State& state) {
  ct::set_num_threads(static_cast<int>(state.range(1)));
  if (!have_data(state)) return;
  const auto& step = pipeline().steps().at(static_cast<size_t>(state.range(0)));
  state.SetLabel(step->name());
  std::vector<at::Tensor> xs;
  for (const auto& p : record_paths()) xs.push_back(ct::io::read_record(p).signal);
  int64_t n = 0;
  const long faults0 = ct::bench::minor_faults();
  for (auto _ : state) {
    for (const auto& x : xs) {
      ct::signal::SignalBatch b;
      b.x = x.clone();
      b.fs = 500;
      ct::signal::StepContext ctx;
      step->apply(b, ctx);
      benchmark::DoNotOptimize(b.x.data_ptr<float>());
      ++n;
    }
  }
  report(state, n, faults0);
}
BENCHMARK(BM_Step)->ArgsProduct({{0, 1, 2}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DecodePreprocess(benchmark::State& state) {
  ct::set_num_threads(static_cast<int>(state.range(0)));
  if (!have_data(state)) return;
  int64_t n = 0;
  const long faults0 = ct::bench::minor_faults();
  for (auto _ : state) {
    for (const auto& p : record_paths()) {
      auto x = process(p);
      benchmark::DoNotOptimize(x.data_ptr<float>());
      ++n;
    }
  }
  report(state, n, faults0);
}
BENCHMARK(BM_DecodePreprocess)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Record-level parallelism: {workers, intra-op threads}: `workers` std::threads take records from a
// shared counter (as the cache build and the loader do). {2, 1} uses the cores once; {2, 2} shows
// the cost of also leaving intra-op threads on (4 busy threads on 2 cores).
void BM_DecodePreprocessRecordParallel(benchmark::State& state) {
  ct::set_num_threads(static_cast<int>(state.range(1)));
  if (!have_data(state)) return;
  const auto& paths = record_paths();
  const int workers = static_cast<int>(state.range(0));
  int64_t n = 0;
  const long faults0 = ct::bench::minor_faults();
  for (auto _ : state) {
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w) {
      pool.emplace_back([&] {
        for (size_t i; (i = next.fetch_add(1)) < paths.size();) {
          auto x = process(paths[i]);
          benchmark::DoNotOptimize(x.data_ptr<float>());
        }
      });
    }
    for (auto& t : pool) t.join();
    n += static_cast<int64_t>(paths.size());
  }
  report(state, n, faults0);
}
BENCHMARK(BM_DecodePreprocessRecordParallel)->Args({2, 1})->Args({2, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

CT_BENCHMARK_MAIN()
