#pragma once
// Shared helpers for the test binary.
#include <gtest/gtest.h>

#include <string>

namespace cardiotorch::test {

/// Absolute path under the repository (tests/fixtures/..., data/...).
std::string source_path(const std::string& rel);
/// Absolute path under ../shared/data, or "" when that tree is absent.
std::string shared_data(const std::string& rel);
/// A fresh empty directory under the build tree, removed by the fixture's TearDown.
std::string make_temp_dir(const std::string& tag);
/// Runs the CLI with `args`; returns the exit code; stdout+stderr go to *output.
int run_cli(const std::string& args, std::string* output = nullptr);
/// Writes `text` to `path` (creating parent dirs).
void write_file(const std::string& path, const std::string& text);

}  // namespace cardiotorch::test

/// Skips the current test when ../shared/data (or a file under it) is absent.
#define CT_REQUIRE_SHARED(rel)                                                                                       \
  do {                                                                                                               \
    if (::cardiotorch::test::shared_data(rel).empty()) GTEST_SKIP() << "../shared/data/" << (rel) << " not present"; \
  } while (0)
