// WFDB decode throughput: mitdb (format 212, 2 x 650,000 samples per record) and PTB-XL
// records500 (format 16, 12 x 5,000). Counters: records/s and signal-file MB/s. Benchmarks
// whose data is absent are skipped. Run briefly, e.g.
//   build/bench/bench_wfdb --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "cardiotorch/io/annotation.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/record.h"
#include "cardiotorch/io/wfdb.h"

namespace fs = std::filesystem;
namespace wf = cardiotorch::io::wfdb;

namespace {

struct Corpus {
  std::vector<std::string> records;  // paths without .hea
  double bytes = 0;                  // signal file bytes
};

Corpus find_records(const std::string& rel, size_t limit) {
  Corpus c;
  const fs::path root = fs::path(CT_SHARED_DATA_DIR) / rel;
  if (!fs::exists(root)) return c;
  std::vector<fs::path> heads;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.path().extension() == ".hea") heads.push_back(e.path());
  std::sort(heads.begin(), heads.end());
  for (const auto& h : heads) {
    if (c.records.size() >= limit) break;
    fs::path dat = h;
    dat.replace_extension(".dat");
    if (!fs::exists(dat)) continue;
    c.records.push_back((h.parent_path() / h.stem()).string());
    c.bytes += static_cast<double>(fs::file_size(dat));
  }
  return c;
}

void run(benchmark::State& state, const Corpus& c, bool physical) {
  if (c.records.empty()) {
    state.SkipWithError("data not present under ../shared/data");
    return;
  }
  int64_t samples = 0;
  for (auto _ : state) {
    for (const auto& r : c.records) {
      auto s = wf::read_signals(r, {}, physical);
      samples += s.n_frames * static_cast<int64_t>(s.samples.size());
      benchmark::DoNotOptimize(s.samples.data());
    }
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["records/s"] = benchmark::Counter(iters * c.records.size(), benchmark::Counter::kIsRate);
  state.counters["MB/s"] = benchmark::Counter(iters * c.bytes / 1e6, benchmark::Counter::kIsRate);
  state.counters["Msamples/s"] = benchmark::Counter(static_cast<double>(samples) / 1e6, benchmark::Counter::kIsRate);
}

const Corpus& mitdb() {
  static const Corpus c = find_records("mitdb", 1000);
  return c;
}
const Corpus& ptbxl500() {
  static const Corpus c = find_records("ptbxl/records500", 1000);
  return c;
}

void BM_Mitdb212Digital(benchmark::State& s) { run(s, mitdb(), false); }
void BM_Mitdb212Physical(benchmark::State& s) { run(s, mitdb(), true); }
void BM_Ptbxl500Format16Digital(benchmark::State& s) { run(s, ptbxl500(), false); }
void BM_Ptbxl500Format16Physical(benchmark::State& s) { run(s, ptbxl500(), true); }

// A 10 s window from the middle of each mitdb record (seek, no whole-file read).
void BM_Mitdb212Window10s(benchmark::State& state) {
  const Corpus& c = mitdb();
  if (c.records.empty()) {
    state.SkipWithError("mitdb not present");
    return;
  }
  wf::SignalReadOptions o;
  o.from = 300000;
  o.to = 303600;
  for (auto _ : state)
    for (const auto& r : c.records) benchmark::DoNotOptimize(wf::read_signals(r, o, true).physical.data());
  state.counters["records/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * c.records.size(), benchmark::Counter::kIsRate);
}

// The io::Record path (float32 tensor) that datasets use.
void record_bench(benchmark::State& state, const Corpus& c) {
  if (c.records.empty()) {
    state.SkipWithError("data not present under ../shared/data");
    return;
  }
  for (auto _ : state)
    for (const auto& r : c.records) benchmark::DoNotOptimize(wf::read_record(r, {}).signal.data_ptr());
  const double iters = static_cast<double>(state.iterations());
  state.counters["records/s"] = benchmark::Counter(iters * c.records.size(), benchmark::Counter::kIsRate);
  state.counters["MB/s"] = benchmark::Counter(iters * c.bytes / 1e6, benchmark::Counter::kIsRate);
}
void BM_Mitdb212Record(benchmark::State& s) { record_bench(s, mitdb()); }
void BM_Ptbxl500Format16Record(benchmark::State& s) { record_bench(s, ptbxl500()); }

void BM_MitdbAnnotations(benchmark::State& state) {
  const Corpus& c = mitdb();
  if (c.records.empty()) {
    state.SkipWithError("mitdb not present");
    return;
  }
  int64_t n = 0;
  for (auto _ : state)
    for (const auto& r : c.records)
      n += static_cast<int64_t>(cardiotorch::io::read_annotations(r, "atr").annotations.size());
  state.counters["annotations/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_Mitdb212Digital)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Mitdb212Physical)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Ptbxl500Format16Digital)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Ptbxl500Format16Physical)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Mitdb212Record)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Ptbxl500Format16Record)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Mitdb212Window10s)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MitdbAnnotations)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
