// A training-sized workload for the allocator policy (core/runtime.h): forward + backward + SGD
// step of a small 1-D CNN on a (32, 12, 5000) float32 batch (10 s of 12-lead ECG at 500 Hz).
// Model training allocates activations and gradients of this size every step: the first
// conv's output alone is 32 x 64 x 5000 x 4 B = 41 MB, above the largest block glibc's
// default policy keeps (32 MiB), so without a policy every step maps and faults it in anew.
//
//   conv1d(12 -> 64, k 15) ReLU maxpool(2)  conv1d(64 -> 64, k 7) ReLU maxpool(2)
//   conv1d(64 -> 128, k 7) ReLU  global average pool  linear(128 -> 5)
//
// The argument is the intra-op thread count. The batch is fixed (seeded) and so is the model:
// each iteration is one optimiser step (4 timed, after one warm-up step); counters give steps/s
// and page faults per step.
//
//   ./build/bench/bench_train
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "bench_common.h"
#include "cardiotorch/core/runtime.h"

namespace ct = cardiotorch;

namespace {

struct SmallCnnImpl : torch::nn::Module {
  SmallCnnImpl()
      : c1(register_module("c1", torch::nn::Conv1d(torch::nn::Conv1dOptions(12, 64, 15).padding(7)))),
        c2(register_module("c2", torch::nn::Conv1d(torch::nn::Conv1dOptions(64, 64, 7).padding(3)))),
        c3(register_module("c3", torch::nn::Conv1d(torch::nn::Conv1dOptions(64, 128, 7).padding(3)))),
        fc(register_module("fc", torch::nn::Linear(128, 5))) {}
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool1d(torch::relu(c1->forward(x)), 2);
    x = torch::max_pool1d(torch::relu(c2->forward(x)), 2);
    x = torch::relu(c3->forward(x)).mean(-1);
    return fc->forward(x);
  }
  torch::nn::Conv1d c1, c2, c3;
  torch::nn::Linear fc;
};
TORCH_MODULE(SmallCnn);

void BM_TrainStep(benchmark::State& state) {
  ct::set_num_threads(static_cast<int>(state.range(0)));
  torch::manual_seed(0);
  SmallCnn model;
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  const torch::Tensor x = torch::randn({32, 12, 5000});
  const torch::Tensor y = torch::randint(0, 5, {32}, torch::kLong);
  auto step = [&] {
    opt.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    return loss.item<float>();
  };
  step();  // warm-up: the first step allocates the momentum buffers and grows the heap
  const long faults0 = ct::bench::minor_faults();
  for (auto _ : state) benchmark::DoNotOptimize(step());
  state.counters["steps/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * 32), benchmark::Counter::kIsRate);
  ct::bench::report_faults(state, faults0, static_cast<double>(state.iterations()), "step");
}
BENCHMARK(BM_TrainStep)->Arg(1)->Arg(2)->Iterations(4)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

CT_BENCHMARK_MAIN()
