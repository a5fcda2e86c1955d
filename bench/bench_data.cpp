// Loader throughput from the preprocessed cache: PTB-XL 500 Hz records (12 x 5000) are
// band-passed, z-scored and centre-cropped to 12 x 2600 once into the cache; the loader then
// serves batches of 64 x 12 x 2500 with 1 or 2 worker threads: a random 2500-sample crop plus
// either a bare per-sample tensor op (BM_LoaderFromCache) or the registered augmenters
// rescaling + gaussian_noise (BM_LoaderFromCacheAugmented), all seeded per sample. An epoch
// takes the 88 cached records 10 times (880 samples, 14 batches): with 88 (2 batches) the
// consumer's wake-up at every epoch boundary, not the loading, set the pace.
//
//   ./build/bench/bench_data --benchmark_min_time=2
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <filesystem>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/data/adapters.h"
#include "cardiotorch/data/cache.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/signal/pipeline.h"
#include "bench_common.h"

namespace ct = cardiotorch;
namespace cd = cardiotorch::data;

namespace {

const char* kPreprocess =
    "- {name: bandpass, lowcut: 0.5, highcut: 45}\n"
    "- {name: zscore}\n"
    "- {name: crop, length: 2600, mode: centre}\n";

std::shared_ptr<cd::CachedDataset> cached() {
  static std::shared_ptr<cd::CachedDataset> ds = [] {
    const std::string root = std::string(CT_SHARED_DATA_DIR) + "/ptbxl";
    if (!std::filesystem::exists(root + "/ptbxl_database.csv")) return std::shared_ptr<cd::CachedDataset>();
    cd::PtbxlOptions o;
    o.root = root;
    o.fs = 500;
    o.on_error = "skip";  // only records 1-100 have 500 Hz files here
    auto src = cd::make_ptbxl(o);
    const auto pipe = ct::signal::Pipeline::from_config(ct::ConfigNode::parse(kPreprocess));
    cd::CacheOptions co;
    co.dir = (std::filesystem::temp_directory_path() / "cardiotorch_bench_cache").string();
    return std::make_shared<cd::CachedDataset>(src, pipe, kPreprocess, co);
  }();
  return ds;
}

// The cached records, each 10 times: a training-like epoch of 880 samples.
cd::DatasetPtr epoch_set(const std::shared_ptr<cd::CachedDataset>& ds) {
  std::vector<int64_t> idx;
  for (int rep = 0; rep < 10; ++rep)
    for (int64_t i = 0; i < ds->size(); ++i) idx.push_back(i);
  return std::make_shared<cd::SubsetDataset>(ds, idx);
}

// A per-sample tensor op drawn from the sample's generator (amplitude scale).
class RandomScale : public ct::signal::Step {
 public:
  std::string name() const override { return "bench_scale"; }
  bool is_augmentation() const override { return true; }
  void apply(ct::signal::SignalBatch& b, ct::signal::StepContext& ctx) const override {
    const float s = 0.9f + 0.2f * at::rand({1}, ctx.generator).item<float>();
    b.x.mul_(s);
  }
};

void BM_LoaderFromCache(benchmark::State& state) {
  ct::set_num_threads(1);
  auto ds = cached();
  if (!ds) {
    state.SkipWithError("../shared/data/ptbxl not present");
    return;
  }
  ct::signal::Pipeline aug;
  aug.add(std::make_shared<RandomScale>());
  cd::LoaderOptions o;
  o.batch_size = 64;
  o.num_workers = state.range(0);
  o.prefetch = 4;
  o.crop = 2500;
  o.seed = 1;
  cd::Loader loader(epoch_set(ds), aug, o);
  int64_t samples = 0, epoch = 0;
  const long faults0 = ct::bench::minor_faults();
  for (auto _ : state) {
    loader.start_epoch(epoch++);
    while (auto b = loader.next()) {
      benchmark::DoNotOptimize(b->x.data_ptr<float>());
      samples += b->size();
    }
  }
  state.SetItemsProcessed(samples);
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
  ct::bench::report_faults(state, faults0, static_cast<double>(samples), "sample");
}
// Process CPU time (all threads): the CPU each sample costs, whatever share of the cores the
// process gets on a shared machine.
BENCHMARK(BM_LoaderFromCache)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

void BM_LoaderFromCacheAugmented(benchmark::State& state) {
  ct::set_num_threads(1);
  auto ds = cached();
  if (!ds) {
    state.SkipWithError("../shared/data/ptbxl not present");
    return;
  }
  const auto aug = ct::signal::Pipeline::from_config(
      ct::ConfigNode::parse("- {name: rescaling, p: 0.5}\n- {name: gaussian_noise, p: 0.5, std: 0.05}\n"));
  cd::LoaderOptions o;
  o.batch_size = 64;
  o.num_workers = state.range(0);
  o.crop = 2500;
  o.seed = 1;
  cd::Loader loader(epoch_set(ds), aug, o);
  int64_t samples = 0, epoch = 0;
  const long faults0 = ct::bench::minor_faults();
  for (auto _ : state) {
    loader.start_epoch(epoch++);
    while (auto b = loader.next()) {
      benchmark::DoNotOptimize(b->x.data_ptr<float>());
      samples += b->size();
    }
  }
  state.SetItemsProcessed(samples);
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
  ct::bench::report_faults(state, faults0, static_cast<double>(samples), "sample");
}
BENCHMARK(BM_LoaderFromCacheAugmented)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

void BM_CacheGet(benchmark::State& state) {
  auto ds = cached();
  if (!ds) {
    state.SkipWithError("../shared/data/ptbxl not present");
    return;
  }
  int64_t i = 0;
  for (auto _ : state) {
    auto s = ds->get(i++ % ds->size());
    benchmark::DoNotOptimize(s.signal.data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CacheGet);

}  // namespace

CT_BENCHMARK_MAIN()
