// Training-step throughput of the engine: samples/s and peak RSS for one optimizer step
// (objective forward, loss, backward, clipping, scheduled lr, the optimizer's update) on a
// fixed batch of 32 x 12 leads x 5000 samples (10 s at 500 Hz; 2500 for the ViT), multi-label BCE over 26
// classes, AdamW, 2 intra-op threads by default. Models are named by registry entry, so the
// benchmark covers the model zoo as it lands:
//   ecg_crnn                        torch_ecg's ECG_CRNN default config (model branch `cnn`)
//   ecg_classifier (attention pool) the vit_patchX classifier, layer-wise lr decay 0.75 (branch `vit`)
//   plain_cnn                       the small CNN available today
// Entries whose model is not registered in this build are skipped with a message.
//
//   ./build/bench/bench_trainer --benchmark_min_time=20 --benchmark_repetitions=3
//   CT_BENCH_THREADS=1 ./build/bench/bench_trainer      # another thread count
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <time.h>

#include <cstdlib>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/train/amp.h"
#include "cardiotorch/train/objective.h"
#include "cardiotorch/train/optim.h"
#include "cardiotorch/train/schedule.h"
#include "cardiotorch/train/trainer.h"

namespace ct = cardiotorch;
namespace tr = cardiotorch::train;

namespace {

struct Case {
  const char* label;
  const char* model;      // model node (YAML)
  const char* optimizer;  // optimizer node (YAML)
  int64_t samples;        // input length (the ViT's positional embedding fixes 2500)
};

const Case kCases[] = {
    {"ecg_crnn", "{name: ecg_crnn}", "{name: adamw, lr: 1.0e-3, weight_decay: 0.01}", 5000},
    {"vit_attention_pool", "{name: ecg_classifier, global_pool: attention_pool}",
     "{name: adamw, lr: 1.0e-3, weight_decay: 0.05, layer_decay: 0.75}", 2500},
    {"plain_cnn", "{name: plain_cnn, channels: [32, 64, 128, 128], kernels: [15, 9, 7, 5], base_fs: 500, pool: 4}",
     "{name: adamw, lr: 1.0e-3, weight_decay: 0.01}", 5000},
};

double process_cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: kB
}

int threads() {
  const char* t = std::getenv("CT_BENCH_THREADS");
  return t ? std::atoi(t) : 2;
}

void BM_TrainStep(benchmark::State& state) {
  const Case& c = kCases[state.range(0)];
  state.SetLabel(std::string(c.label) + (state.range(1) == 1 ? " step" : " fwd+bwd"));
  ct::set_num_threads(threads());
  ct::manual_seed(0);
  constexpr int64_t kBatch = 32, kLeads = 12, kClasses = 26;
  const int64_t kLen = c.samples;
  ct::models::ModelContext mc;
  mc.in_channels = kLeads;
  mc.fs = 500;
  mc.seq_len = kLen;
  mc.num_classes = kClasses;
  ct::models::ModelPtr model;
  try {
    model = ct::models::build_model(ct::ConfigNode::parse(c.model), mc);
  } catch (const std::exception& e) {
    state.SkipWithError((std::string("not available in this build: ") + e.what()).c_str());
    return;
  }
  // A backbone without a head gets none here: the loss then reads its pooled embedding.
  const bool headless = ct::models::backbone_registry().contains(ct::ConfigNode::parse(c.model)["name"].as_string());
  tr::ObjectiveContext oc;
  for (int64_t k = 0; k < kClasses; ++k) oc.class_names.push_back("c" + std::to_string(k));
  auto objective = tr::objective_registry().build(ct::ConfigNode::parse("{name: multilabel}"), oc);
  struct Head : ct::models::ModelImpl {
    ct::models::ModelPtr enc;
    at::Tensor w;
    Head(ct::models::ModelPtr e, int64_t n) : enc(std::move(e)) {
      register_module("encoder", enc);
      w = register_parameter("head", at::randn({n, enc->embed_dim()}) * 0.01);
    }
    at::Tensor forward(const at::Tensor& x) override { return at::matmul(enc->embed(x), w.t()); }
    ct::models::Shape output_shape(const ct::models::Shape& in) const override { return {in[0], w.size(0)}; }
    int64_t embed_dim() const override { return enc->embed_dim(); }
  };
  if (headless) model = std::make_shared<Head>(model, kClasses);
  model->train();
  tr::OptimizerContext ctx;
  ctx.params = tr::trainable_parameters(*model);
  ctx.module = model.get();
  auto opt = tr::optimizer_registry().build(ct::ConfigNode::parse(c.optimizer), ctx);
  tr::SchedulerContext sc;
  sc.base_lr = opt->base_lr();
  sc.total_steps = 1000;
  auto schedule =
      tr::scheduler_registry().build(ct::ConfigNode::parse("{name: warmup_cosine, unit: step, warmup: 10}"), sc);
  const std::vector<at::Tensor> params = opt->parameters();
  ct::data::Batch b;
  b.x = at::randn({kBatch, kLeads, kLen});
  b.y = (at::rand({kBatch, kClasses}) < 0.1).to(at::kFloat);
  const bool full_step = state.range(1) == 1;
  int64_t step = 0;
  {
    // One step outside the timing (first-touch allocations, optimizer state).
    tr::StepOutput out = objective->step(*model, b, true);
    out.loss.backward();
    if (full_step) opt->step();
    opt->zero_grad();
  }
  const double cpu0 = process_cpu_s();
  for (auto _ : state) {
    opt->zero_grad();
    tr::StepOutput out = objective->step(*model, b, true);
    out.loss.backward();
    if (!full_step) continue;  // the model's forward + backward alone, for the engine's overhead
    const double norm = tr::clip_grad_norm(params, 5.0);
    benchmark::DoNotOptimize(norm);
    tr::set_learning_rate(*opt, schedule->lr(step++));
    opt->step();
  }
  // Process CPU time (every thread): robust on a loaded machine, where wall time is not.
  state.counters["samples/cpu_s"] = static_cast<double>(state.iterations() * kBatch) / (process_cpu_s() - cpu0);
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch), benchmark::Counter::kIsRate);
  state.counters["peak_rss_MB"] = peak_rss_mb();
  state.counters["params_M"] = static_cast<double>(ct::models::count_parameters(*model)) / 1e6;
  state.counters["threads"] = ct::num_threads();
}

}  // namespace

// Args: case, 1 = the whole training step | 0 = forward + backward only.
BENCHMARK(BM_TrainStep)
    ->ArgsProduct({{0, 1, 2}, {1, 0}})
    ->ArgNames({"case", "step"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(5.0);

BENCHMARK_MAIN();
