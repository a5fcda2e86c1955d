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

/// Seeds every global random source (torch CPU/CUDA generators).
void manual_seed(uint64_t seed);
/// A well-mixed 64-bit seed derived from (seed, a, b, c) — e.g. (seed, epoch, sample index).
/// Per-sample randomness uses this, so results do not depend on thread count or order.
uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0);
/// Enables deterministic algorithms in ATen (and disables non-deterministic fast paths).
void set_deterministic(bool on);

std::string version_string();       ///< "0.1.0"
std::string torch_version_string(); ///< "1.13.0"
std::string build_summary();        ///< one line: versions, BLAS, threads, CUDA
/// Identity of the code that is running: cardiotorch and LibTorch versions plus the size and
/// modification time of the loaded libcardiotorch file, so it changes with every rebuild or
/// upgrade (caches of preprocessed data key on it: changed preprocessing code never serves old
/// results). E.g. "cardiotorch 0.1.0; torch 1.13.0; lib 8123456@1733440000123456789".
std::string build_id();

}  // namespace cardiotorch
