// Readers and writers of the 'formats' area on real or realistic records (single-threaded).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <filesystem>

#include "cardiotorch/io/mat.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/report/ecg_plot.h"

namespace {

const std::string kSample = std::string(CT_SOURCE_DIR) + "/data/sample/cinc2021/";

std::string tmp(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "cardiotorch_bench_formats";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

void BM_ReadCinCMatWithHeader(benchmark::State& st) {
  for (auto _ : st) benchmark::DoNotOptimize(cardiotorch::io::read_mat_record(kSample + "E07500.mat"));
}
BENCHMARK(BM_ReadCinCMatWithHeader)->Unit(benchmark::kMicrosecond);

void BM_ReadCinCViaDispatchWfdb(benchmark::State& st) {
  for (auto _ : st) benchmark::DoNotOptimize(cardiotorch::io::read_record(kSample + "E07500"));
}
BENCHMARK(BM_ReadCinCViaDispatchWfdb)->Unit(benchmark::kMicrosecond);

void BM_NpyWriteRead12x5000(benchmark::State& st) {
  const at::Tensor x = at::randn({12, 5000});
  const std::string p = tmp("x.npy");
  for (auto _ : st) {
    cardiotorch::io::write_npy(p, x);
    benchmark::DoNotOptimize(cardiotorch::io::read_npy(p));
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * 2 * x.numel() * 4);
}
BENCHMARK(BM_NpyWriteRead12x5000)->Unit(benchmark::kMicrosecond);

void BM_NpzDeflateRead(benchmark::State& st) {
  const std::string p = std::string(CT_SOURCE_DIR) + "/tests/fixtures/io/deflate.npz";
  for (auto _ : st) benchmark::DoNotOptimize(cardiotorch::io::read_npz(p));
}
BENCHMARK(BM_NpzDeflateRead)->Unit(benchmark::kMicrosecond);

void BM_Plot12LeadPng(benchmark::State& st) {
  if (!cardiotorch::report::plot_supported()) {
    st.SkipWithError("built without cairo");
    return;
  }
  const auto r = cardiotorch::io::read_record(kSample + "E07500");
  const std::string p = tmp("e.png");
  for (auto _ : st) cardiotorch::report::plot_ecg(r, p);
}
BENCHMARK(BM_Plot12LeadPng)->Unit(benchmark::kMillisecond);

void BM_Plot12LeadSvg(benchmark::State& st) {
  if (!cardiotorch::report::plot_supported()) {
    st.SkipWithError("built without cairo");
    return;
  }
  const auto r = cardiotorch::io::read_record(kSample + "E07500");
  const std::string p = tmp("e.svg");
  for (auto _ : st) cardiotorch::report::plot_ecg(r, p);
}
BENCHMARK(BM_Plot12LeadSvg)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
