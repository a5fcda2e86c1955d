#include "support/test_util.h"

#include <ATen/Parallel.h>
#include <sys/wait.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace cardiotorch::test {

std::string source_path(const std::string& rel) { return std::string(CT_SOURCE_DIR) + "/" + rel; }

std::string shared_data(const std::string& rel) {
  const std::string p = std::string(CT_SHARED_DATA_DIR) + "/" + rel;
  return fs::exists(p) ? fs::weakly_canonical(p).string() : std::string();
}

std::string make_temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  const fs::path p =
      fs::path(CT_BUILD_DIR) / "test_tmp" / (tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

int run_cli(const std::string& args, std::string* output) {
  const std::string cmd = std::string(CT_CLI_PATH) + " " + args + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void write_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f << text;
}

}  // namespace cardiotorch::test

// Tests run single-threaded by default: deterministic timing, no oversubscription under ctest -j.
namespace {
struct SingleThreaded {
  SingleThreaded() { at::set_num_threads(1); }
} single_threaded;
}  // namespace
