// The process-wide heap policy (see core/runtime.h: apply_allocator_policy).
//
// Why: glibc malloc serves blocks above its mmap threshold (128 KiB at start, raised
// dynamically up to 32 MiB as such blocks are freed) with fresh mmap()s and returns freed heap
// tops to the OS above its trim threshold. A record (12 x 5000 float = 234 KiB), a batch or an
// activation then costs a page fault per 4 KiB page every time it is allocated, and whether it
// does depends on what the process allocated and freed before: the same benchmark ran at 290,
// 750 or 1,450 records/s depending only on that history. Keeping freed blocks makes the
// steady state allocation-free whatever came before.
#include <dlfcn.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "cardiotorch/core/runtime.h"

namespace cardiotorch {

namespace {

// The shared object that serves malloc in this process ("" if unknown).
std::string malloc_provider() {
  Dl_info info{};
  void* fn = dlsym(RTLD_DEFAULT, "malloc");
  if (fn && dladdr(fn, &info) && info.dli_fname) return info.dli_fname;
  return "";
}

bool provider_is_glibc(const std::string& lib) {
  return lib.find("/libc.so") != std::string::npos || lib.find("/libc-") != std::string::npos;
}

bool opted_out() {
  const char* v = std::getenv("CARDIOTORCH_ALLOCATOR");
  return v && std::strcmp(v, "system") == 0;
}

bool g_policy_on = false;

// Applied when libcardiotorch is loaded, so the CLI, the tests, the benchmarks and any program
// linking the library run under the same policy without calling anything.
const bool g_applied = apply_allocator_policy();

}  // namespace

bool apply_allocator_policy() {
  static const bool on = [] {
    if (opted_out() || !provider_is_glibc(malloc_provider())) return false;
    // Order matters little; both also switch off glibc's dynamic threshold adjustment.
    const bool a = mallopt(M_MMAP_MAX, 0) == 1;
    const bool b = mallopt(M_TRIM_THRESHOLD, -1) == 1;
    return a && b;
  }();
  g_policy_on = on;
  return on;
}

std::string allocator_summary() {
  (void)g_applied;
  const std::string lib = malloc_provider();
  if (provider_is_glibc(lib))
    return g_policy_on
               ? "glibc malloc, large blocks kept (mmap off, trim off)"
               : (opted_out() ? "glibc malloc, defaults (CARDIOTORCH_ALLOCATOR=system)" : "glibc malloc, defaults");
  const auto slash = lib.find_last_of('/');
  return (lib.empty() ? std::string("unknown allocator") : lib.substr(slash == std::string::npos ? 0 : slash + 1)) +
         " (preloaded; policy left to it)";
}

}  // namespace cardiotorch
