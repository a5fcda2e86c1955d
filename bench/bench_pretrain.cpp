// MAE-ECG pretraining through the real `pretrain` loop (app::pretrain: cached dataset, loader
// workers with the anchor's augmentations and random 5 s crops, the mae objective, AdamW,
// per-step warmup-cosine, logging; no validation, no plots, no checkpoints between epochs'
// ends), and the two halves of its step time measured apart:
//   BM_PretrainLoop     samples/s of training (TrainState samples / training seconds) and the
//                       process's peak RSS, at batch 32, mae_vit_patchx (384-d x 3 encoder,
//                       256-d x 2 decoder), mask ratio 0.8, CT_BENCH_THREADS threads (default 2)
//   BM_PretrainDataPath the loader alone: the same batches (cache read, augmentations, crop)
//   BM_PretrainModelStep forward_mae + backward + AdamW on one fixed batch (no loader)
// The data is the bundled sample (data/sample/cinc2021, 50 records of 10 s at 500 Hz; all 50 in
// training so that one epoch is one drop_last batch of 32) through the anchor's preprocessing,
// cached once before timing.
//
//   bench/spread.sh 3 samples/s build/bench/bench_pretrain --benchmark_filter=Loop
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "bench_common.h"
#include "cardiotorch/app/experiment.h"
#include "cardiotorch/app/pretrain.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/data/cache.h"
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/models/mae.h"
#include "cardiotorch/signal/pipeline.h"
#include "cardiotorch/train/objective.h"
#include "cardiotorch/train/optim.h"

namespace ct = cardiotorch;
namespace fs = std::filesystem;

namespace {

int threads() {
  const char* t = std::getenv("CT_BENCH_THREADS");
  return t ? std::atoi(t) : 2;
}

double process_cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

const std::string& work_dir() {
  static const std::string dir = [] {
    const fs::path d = fs::temp_directory_path() / ("ct_bench_pretrain_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d.string();
  }();
  return dir;
}

std::string config_path(int64_t steps) {
  const std::string path = work_dir() + "/mae.yaml";
  std::ofstream(path) << "defaults: " << CT_SOURCE_DIR << "/configs/pretrain/mae_ecg.yaml\n"
                      << "name: bench\noutput_dir: " << work_dir() << "/runs\nthreads: " << threads() << "\n"
                      << "data:\n  dataset: {name: cinc2021, root: " << CT_SOURCE_DIR << "/data/sample/cinc2021}\n"
                      << "  split: {method: fractions, val: 0.0, test: 0.0}\n"
                      << "  cache: {dir: " << CT_SOURCE_DIR << "/runs/cache, progress: false}\n"
                      << "  loader: {batch_size: 32, drop_last: true}\n"
                      << "train: {steps: " << steps << ", progress: false, log_every: 1000}\n"
                      << "pretrain: {plot_every: 0, export_encoder: false}\n";
  return path;
}

ct::app::PretrainResult run_pretrain(int64_t steps) {
  ct::app::PretrainRequest req;
  req.config_file = config_path(steps);
  req.overwrite = true;
  return ct::app::pretrain(req);
}

void BM_PretrainLoop(benchmark::State& state) {
  ct::set_log_level(ct::LogLevel::kWarn);
  const int64_t steps = state.range(0);
  run_pretrain(1);  // fills the preprocessed cache, touches every allocator path once
  double samples = 0, seconds = 0, cpu = 0;
  for (auto _ : state) {
    const double c0 = process_cpu_s();
    const ct::app::PretrainResult r = run_pretrain(steps);
    cpu += process_cpu_s() - c0;
    samples += static_cast<double>(r.state.samples);
    seconds += r.state.elapsed_s;
    state.SetIterationTime(r.state.elapsed_s);
  }
  state.counters["samples/s"] = samples / seconds;
  state.counters["s/step"] = seconds / (samples / 32.0);
  state.counters["peak_rss_MB"] = peak_rss_mb();
  state.counters["threads"] = threads();
  // Whole pretrain() calls (dataset index, model build, the loop): an upper bound of the loop's.
  state.counters["samples/cpu_s"] = samples / cpu;
  state.SetLabel(ct::str_cat("mae_vit_patchx batch 32, ", steps, " steps per run"));
  fs::remove_all(work_dir() + "/runs");
}

void BM_PretrainDataPath(benchmark::State& state) {
  ct::set_log_level(ct::LogLevel::kWarn);
  run_pretrain(1);
  ct::ExperimentOptions o;
  const ct::ConfigNode cfg = ct::resolve_experiment(config_path(1), {}, &o);
  ct::set_num_threads(threads());
  auto ds = ct::data::build_dataset(cfg["data"]["dataset"]);
  const auto pre = ct::signal::Pipeline::from_config(cfg["preprocess"]);
  auto cached = std::make_shared<ct::data::CachedDataset>(ds, pre, cfg["preprocess"].to_yaml(), o.data.cache);
  ct::data::LoaderOptions lo = o.data.loader;
  lo.training = true;
  ct::data::Loader loader(cached, ct::signal::Pipeline::from_config(cfg["augment"]), lo);
  int64_t epoch = 0, batches = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    loader.start_epoch(epoch++);
    while (auto b = loader.next()) {
      benchmark::DoNotOptimize(b->x.data_ptr());
      ++batches;
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.counters["ms/batch"] = 1000.0 * s / static_cast<double>(std::max<int64_t>(1, batches));
  state.counters["workers"] = static_cast<double>(lo.num_workers);
}

void BM_PretrainModelStep(benchmark::State& state) {
  ct::set_num_threads(threads());
  ct::manual_seed(0);
  auto m = ct::models::make_mae(ct::models::MaeOptions::patchx(), ct::models::ModelContext{});
  m->train();
  ct::train::OptimizerContext oc;
  oc.params = ct::train::trainable_parameters(*m);
  oc.module = m.get();
  auto opt = ct::train::optimizer_registry().build(
      ct::ConfigNode::parse("{name: adamw, lr: 1.0e-4, betas: [0.9, 0.95], weight_decay: 0.05}"), oc);
  const at::Tensor x = at::randn({32, 12, 2500});
  for (auto _ : state) {
    opt->zero_grad();
    m->forward_mae(x, 0.8).loss.backward();
    opt->step();
  }
  state.counters["samples/s"] =
      benchmark::Counter(32.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

// CPU columns are the whole process's (every intra-op and loader thread): on a loaded machine
// the CPU-seconds per sample are the robust figure, wall time depends on what else runs.
BENCHMARK(BM_PretrainLoop)
    ->Arg(6)
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->MeasureProcessCPUTime()
    ->Iterations(1);
BENCHMARK(BM_PretrainDataPath)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime()->Iterations(4);
BENCHMARK(BM_PretrainModelStep)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime()->Iterations(3);

CT_BENCHMARK_MAIN();
