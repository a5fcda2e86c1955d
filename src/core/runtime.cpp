#include "cardiotorch/core/runtime.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cardiotorch/core/error.h"

namespace cardiotorch {

namespace {
// openblas_get_parallel(): 0 sequential, 1 its own pthread pool, 2 OpenMP; -1 when the loaded BLAS
// is not OpenBLAS.
int openblas_threading() {
  using GetFn = int (*)();
  auto fn = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  return fn ? fn() : -1;
}
}  // namespace

void set_num_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  // The OpenMP build of OpenBLAS (the one CMake puts first on the binaries' search path) runs on
  // ATen's own OpenMP team. The pthread build keeps a second pool beside it: size it to match,
  // although the two pools still contend (OpenMP threads spin after every parallel region while
  // OpenBLAS's want the same cores: ViT batch-1 latency 82-120 ms at 2 threads against 24 ms with
  // one pool, bench_vit).
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(n);
}

int num_threads() { return at::get_num_threads(); }

void set_worker_threads(int n) {
  // ATen sets a thread's OpenMP team size lazily from the global value the first time the
  // thread runs parallel work; run that now, then override it for this thread only.
  at::internal::lazy_init_num_threads();
#ifdef _OPENMP
  omp_set_num_threads(std::max(1, n));
#endif
}

namespace {
int hardware_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }
std::atomic<int> g_budget_cores{0};  // 0: not set, all hardware threads
}  // namespace

ThreadBudget split_threads(int cores) {
  ThreadBudget b;
  b.cores = cores > 0 ? cores : hardware_cores();
  b.loader_workers = std::clamp(b.cores / 4, 1, 8);
  // The model gets every core: loader workers wait on a full queue nearly all the time (one
  // worker delivers 30-50k cached or 8-16k augmented samples/s, models consume tens to
  // thousands), so reserving cores for them halved training throughput on 2 cores (MAE loop
  // 8.6-9.4 samples/s with 1 intra-op thread against the model step's 15-25 with 2).
  b.intra_op = b.cores;
  return b;
}

void set_thread_budget(int cores) {
  g_budget_cores.store(cores > 0 ? cores : 0);
  set_num_threads(split_threads(cores).intra_op);
}

ThreadBudget thread_budget() { return split_threads(g_budget_cores.load()); }

void manual_seed(uint64_t seed) { at::manual_seed(seed); }

uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  // splitmix64 steps over the inputs: cheap and well mixed.
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  uint64_t h = mix(seed);
  h = mix(h ^ a);
  h = mix(h ^ b);
  h = mix(h ^ c);
  return h;
}

void set_deterministic(bool on) { at::globalContext().setDeterministicAlgorithms(on, /*warn_only=*/false); }

std::string version_string() { return CARDIOTORCH_VERSION_STRING; }
std::string torch_version_string() { return TORCH_VERSION; }

std::string build_id() {
  static const std::string id = [] {
    std::string out = str_cat("cardiotorch ", version_string(), "; torch ", torch_version_string());
    Dl_info info{};
    struct stat st {};
    if (dladdr(reinterpret_cast<void*>(&build_id), &info) != 0 && info.dli_fname != nullptr &&
        ::stat(info.dli_fname, &st) == 0)
      out += str_cat("; lib ", st.st_size, "@",
                     static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec);
    return out;
  }();
  return id;
}

std::string build_summary() {
  const int ob = openblas_threading();
  const char* blas = ob == 2   ? "OpenBLAS/OpenMP"
                     : ob == 1 ? "OpenBLAS/pthreads (a second thread pool: install libopenblas0-openmp)"
                     : ob == 0 ? "OpenBLAS/sequential"
                               : "reference/other";
  return str_cat("cardiotorch ", version_string(), " (LibTorch ", torch_version_string(), ", BLAS ", blas, ", threads ",
                 num_threads(), ", CUDA ", at::hasCUDA() ? "yes" : "no", "; ", allocator_summary(), ")");
}

}  // namespace cardiotorch
