// Checkpoint I/O at a realistic size: a ViT-S-shaped ECG encoder state_dict (timm names, width
// 384, depth 12, patch (1, 100) on 12 x 2500 inputs; 21.4 M float32 parameters, 86 MB), written
// once as a torch.save archive and as safetensors. Reading is disk-cache warm after the first
// iteration, so the figures are parsing + copying, not the disk.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <filesystem>

#include "cardiotorch/core/log.h"
#include "cardiotorch/weights/archive.h"
#include "cardiotorch/weights/loader.h"
#include "cardiotorch/weights/save.h"

namespace cw = cardiotorch::weights;

namespace {

std::string tmp(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "cardiotorch_bench_weights";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

cw::NamedTensors vit_small() {
  at::manual_seed(0);
  const int64_t d = 384, h = 1536, tokens = 12 * 25 + 1;
  cw::NamedTensors sd = {{"cls_token", at::randn({1, 1, d})},
                         {"pos_embed", at::randn({1, tokens, d})},
                         {"patch_embed.proj.weight", at::randn({d, 1, 1, 100})},
                         {"patch_embed.proj.bias", at::randn({d})}};
  for (int b = 0; b < 12; ++b) {
    const std::string p = "blocks." + std::to_string(b) + ".";
    for (const auto& [name, shape] :
         std::vector<std::pair<std::string, std::vector<int64_t>>>{{"norm1.weight", {d}},
                                                                   {"norm1.bias", {d}},
                                                                   {"attn.qkv.weight", {3 * d, d}},
                                                                   {"attn.qkv.bias", {3 * d}},
                                                                   {"attn.proj.weight", {d, d}},
                                                                   {"attn.proj.bias", {d}},
                                                                   {"norm2.weight", {d}},
                                                                   {"norm2.bias", {d}},
                                                                   {"mlp.fc1.weight", {h, d}},
                                                                   {"mlp.fc1.bias", {h}},
                                                                   {"mlp.fc2.weight", {d, h}},
                                                                   {"mlp.fc2.bias", {d}}})
      sd.emplace_back(p + name, at::randn(shape));
  }
  sd.emplace_back("norm.weight", at::randn({d}));
  sd.emplace_back("norm.bias", at::randn({d}));
  return sd;
}

int64_t nbytes(const cw::NamedTensors& sd) {
  int64_t n = 0;
  for (const auto& kv : sd) n += kv.second.numel() * kv.second.element_size();
  return n;
}

const cw::NamedTensors& reference() {
  static const cw::NamedTensors sd = vit_small();
  return sd;
}

const std::string& pt_file() {
  static const std::string p = [] {
    const std::string path = tmp("vit_s.pt");
    cw::save_torch(path, reference());
    return path;
  }();
  return p;
}

const std::string& st_file() {
  static const std::string p = [] {
    const std::string path = tmp("vit_s.safetensors");
    cw::save_safetensors(path, reference());
    return path;
  }();
  return p;
}

// A module with exactly the reference's names, built from the dotted keys.
std::shared_ptr<torch::nn::Module> module_like(const cw::NamedTensors& sd) {
  auto root = std::make_shared<torch::nn::Module>();
  for (const auto& [key, t] : sd) {
    torch::nn::Module* m = root.get();
    size_t start = 0;
    for (size_t dot = key.find('.'); dot != std::string::npos; start = dot + 1, dot = key.find('.', start)) {
      const std::string part = key.substr(start, dot - start);
      auto children = m->named_children();
      if (!children.contains(part)) m->register_module(part, std::make_shared<torch::nn::Module>());
      m = m->named_children()[part].get();
    }
    m->register_parameter(key.substr(start), at::zeros_like(t));
  }
  return root;
}

void BM_ReadTorchZip(benchmark::State& st) {
  const std::string p = pt_file();
  for (auto _ : st) benchmark::DoNotOptimize(cw::read_state_dict(p));
  st.SetBytesProcessed(st.iterations() * nbytes(reference()));
}
BENCHMARK(BM_ReadTorchZip)->Unit(benchmark::kMillisecond);

void BM_ReadSafetensors(benchmark::State& st) {
  const std::string p = st_file();
  for (auto _ : st) benchmark::DoNotOptimize(cw::read_state_dict(p));
  st.SetBytesProcessed(st.iterations() * nbytes(reference()));
}
BENCHMARK(BM_ReadSafetensors)->Unit(benchmark::kMillisecond);

void BM_InspectTreeOnly(benchmark::State& st) {
  const std::string p = pt_file();
  cw::ReadOptions ro;
  ro.load_tensors = false;
  for (auto _ : st) benchmark::DoNotOptimize(cw::read_checkpoint(p, ro));
}
BENCHMARK(BM_InspectTreeOnly)->Unit(benchmark::kMicrosecond);

void BM_LoadIntoModule(benchmark::State& st) {
  const std::string p = pt_file();
  auto m = module_like(reference());
  cardiotorch::set_log_level(cardiotorch::LogLevel::kWarn);  // the report is logged at info on every load
  cw::LoadOptions o;
  o.path = p;
  for (auto _ : st) benchmark::DoNotOptimize(cw::load_into(*m, o));
  st.SetBytesProcessed(st.iterations() * nbytes(reference()));
}
BENCHMARK(BM_LoadIntoModule)->Unit(benchmark::kMillisecond);

void BM_SaveTorchZip(benchmark::State& st) {
  for (auto _ : st) cw::save_torch(tmp("out.pt"), reference());
  st.SetBytesProcessed(st.iterations() * nbytes(reference()));
}
BENCHMARK(BM_SaveTorchZip)->Unit(benchmark::kMillisecond);

void BM_SaveSafetensors(benchmark::State& st) {
  for (auto _ : st) cw::save_safetensors(tmp("out.safetensors"), reference());
  st.SetBytesProcessed(st.iterations() * nbytes(reference()));
}
BENCHMARK(BM_SaveSafetensors)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
