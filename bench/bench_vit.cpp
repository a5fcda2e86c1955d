// ViT ECG encoder and MAE-ECG throughput, 1 and 2 intra-op threads (the benchmark argument).
//
//   BM_VitForward/T          vit_patchx (attention_pool), batch 32, eval, no grad: samples/s
//   BM_VitForwardBackward/T  the same in training mode, forward + backward of sum(features²)
//   BM_MaeStep/T             mae_vit_patchx pre-training step, batch 32, ratio 0.8: forward_mae +
//                            backward + AdamW (β 0.9/0.95, wd 0.15) step: samples/s
//   BM_VitLatency/T          vit_patchx forward of one (1, 12, 2500) record, eval: ms/record
//
// References on this machine (the lead's notes): ONNX Runtime runs vit_patchX batch 1 in ~21 ms;
// PyTorch eager 28-46 ms; MAE pre-training in PyTorch eager 12.7-15.4 samples/s at batch 32.
//
//   ./build/bench/bench_vit --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <benchmark/benchmark.h>
#include <torch/optim/adamw.h>

#include "cardiotorch/core/runtime.h"
#include "cardiotorch/models/mae.h"
#include "cardiotorch/models/vit.h"

namespace ct = cardiotorch;
namespace cm = cardiotorch::models;

namespace {

at::Tensor batch(int64_t n) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(0);
  return at::randn({n, 12, 2500}, g, at::TensorOptions().dtype(at::kFloat));
}

std::shared_ptr<cm::VisionTransformerImpl> vit() {
  ct::manual_seed(0);
  return cm::make_vit(cm::VitOptions::patchx(), cm::ModelContext{});
}

void BM_VitForward(benchmark::State& state) {
  ct::set_num_threads(static_cast<int>(state.range(0)));
  auto m = vit();
  m->eval();
  const at::Tensor x = batch(32);
  at::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(m->forward(x).data_ptr());
  state.SetItemsProcessed(state.iterations() * 32);
}

void BM_VitForwardBackward(benchmark::State& state) {
  ct::set_num_threads(static_cast<int>(state.range(0)));
  auto m = vit();
  m->train();
  const at::Tensor x = batch(32);
  for (auto _ : state) {
    m->zero_grad();
    m->forward(x).square().sum().backward();
  }
  state.SetItemsProcessed(state.iterations() * 32);
}

void BM_MaeStep(benchmark::State& state) {
  ct::set_num_threads(static_cast<int>(state.range(0)));
  ct::manual_seed(0);
  auto m = cm::make_mae(cm::MaeOptions::patchx(), cm::ModelContext{});
  m->train();
  torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(1e-4).betas({0.9, 0.95}).weight_decay(0.15));
  const at::Tensor x = batch(32);
  for (auto _ : state) {
    opt.zero_grad();
    const cm::MaeOutput out = m->forward_mae(x, 0.8);
    out.loss.backward();
    opt.step();
    benchmark::DoNotOptimize(out.loss.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * 32);
}

void BM_VitLatency(benchmark::State& state) {
  ct::set_num_threads(static_cast<int>(state.range(0)));
  auto m = vit();
  m->eval();
  const at::Tensor x = batch(1);
  at::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(m->forward(x).data_ptr());
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_VitForward)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_VitForwardBackward)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_MaeStep)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_VitLatency)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

BENCHMARK_MAIN();
