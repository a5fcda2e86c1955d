#pragma once
// Process-wide runtime settings: threads, seeds, determinism, version information.
#include <cstdint>
#include <string>

#include <torch/version.h>  // TORCH_VERSION_MAJOR/MINOR for CT_TORCH_AT_LEAST

#include "cardiotorch/build_info.h"

// True when building against LibTorch >= maj.min (1.13 Debian, 2.x wheels).
#define CT_TORCH_AT_LEAST(maj, min) \
  (TORCH_VERSION_MAJOR > (maj) || (TORCH_VERSION_MAJOR == (maj) && TORCH_VERSION_MINOR >= (min)))

namespace cardiotorch {

/// Sets intra-op threads for ATen/OpenMP and OpenBLAS together (so they do not
/// oversubscribe each other). n <= 0 means all hardware threads.
/// LibTorch 1.13 defaults to hardware_concurrency()/2 = 1 on a 2-core machine.
void set_num_threads(int n);
int num_threads();
/// For the first line of a worker thread (loader, cache build): intra-op parallelism started
/// from this thread uses `n` threads, leaving the process-wide setting alone. Without it every
/// worker fans out to all cores and W workers oversubscribe a W-core machine (measured: 2
/// loader workers x 2 threads ran at 40% of 2 workers x 1 thread on 2 cores).
void set_worker_threads(int n = 1);

/// How a process uses its cores: the model's intra-op threads on every core, and data-loading
/// workers beside them. Each loader worker runs its intra-op work on one thread
/// (set_worker_threads(1)) and spends nearly all its time waiting on a full queue: one worker
/// delivers 30-50k cached (8-16k augmented) samples/s, far more than a model consumes, so
/// reserving cores for the workers only idled them (MAE pretraining on 2 cores: 8.6-9.4
/// samples/s with 1 intra-op thread + 1 worker, 20-24 with 2 + 1; bench_pretrain).
struct ThreadBudget {
  int cores = 1;           ///< the cores this process may use
  int loader_workers = 1;  ///< default data-loader workers (LoaderOptions::num_workers = -1)
  int intra_op = 1;        ///< ATen/OpenMP/OpenBLAS threads of the consumer (the model)
};
/// The budget of `cores` (<= 0: all hardware threads): intra_op = cores, loader_workers = a
/// quarter of the cores, at least 1 and at most 8. 2 cores: 2 + 1 worker; 8: 8 + 2; 16: 16 + 4.
ThreadBudget split_threads(int cores = 0);
/// Sets the process's budget: intra-op threads (set_num_threads(intra_op)) and the loader's
/// default number of workers. The CLI calls it with --threads (0 = all cores).
void set_thread_budget(int cores);
/// The budget in force: the last set_thread_budget, else split_threads() of all cores.
ThreadBudget thread_budget();

/// The process's heap allocator and its policy, one line (e.g. "glibc malloc: large blocks kept
/// (mmap off, trim off)"). libcardiotorch applies its policy when it is loaded (see
/// apply_allocator_policy); the line says which allocator actually serves malloc.
std::string allocator_summary();
/// Keeps freed large blocks in the process instead of returning them to the OS, so that
/// buffers of the same size (a record, a batch, an activation) are reused without page faults.
/// With glibc: mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, -1), i.e. large blocks come
/// from the heap and the heap is never trimmed; the resident size stays at its peak. Runs once
/// per process, from a static initialiser of libcardiotorch, before main(). Does nothing when
/// another allocator (jemalloc, mimalloc, tcmalloc) serves malloc, or when the environment has
/// CARDIOTORCH_ALLOCATOR=system (the C library's defaults). Returns whether the policy is on.
bool apply_allocator_policy();

/// Seeds every global random source (torch CPU/CUDA generators).
void manual_seed(uint64_t seed);
/// A well-mixed 64-bit seed derived from (seed, a, b, c) — e.g. (seed, epoch, sample index).
/// Per-sample randomness uses this, so results do not depend on thread count or order.
uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0);
/// Enables deterministic algorithms in ATen (and disables non-deterministic fast paths).
void set_deterministic(bool on);

std::string version_string();        ///< "0.1.0"
std::string torch_version_string();  ///< "1.13.0"
std::string build_summary();         ///< one line: versions, BLAS, threads, CUDA
/// Identity of the code that is running: cardiotorch and LibTorch versions plus the size and
/// modification time of the loaded libcardiotorch file, so it changes with every rebuild or
/// upgrade (caches of preprocessed data key on it: changed preprocessing code never serves old
/// results). E.g. "cardiotorch 0.1.0; torch 1.13.0; lib 8123456@1733440000123456789".
std::string build_id();

}  // namespace cardiotorch
