#pragma once
// Helpers for the WFDB tests: reading the C WFDB tools' reference outputs.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cardiotorch::test {

/// Whole file as bytes; ".gz" files are decompressed with gzip -dc (the test binary does not link zlib).
inline std::string slurp_maybe_gz(const std::string& path) {
  std::string out;
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    FILE* p = ::popen(("gzip -dc '" + path + "'").c_str(), "r");
    if (!p) return out;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
    return out;
  }
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// Whitespace table (rows of numbers) as rows x cols, row-major.
struct Table {
  size_t rows = 0, cols = 0;
  std::vector<double> v;
  double at(size_t r, size_t c) const { return v[r * cols + c]; }
};

inline Table read_table(const std::string& path) {
  Table t;
  std::istringstream in(slurp_maybe_gz(path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<double> row;
    std::string tok;
    // rdsamp -P prints "-" for an invalid sample.
    while (ls >> tok) row.push_back(tok == "-" ? std::nan("") : std::strtod(tok.c_str(), nullptr));
    if (row.empty()) continue;
    if (t.rows == 0) t.cols = row.size();
    if (row.size() != t.cols) return Table{};  // ragged: the caller's size checks fail
    t.v.insert(t.v.end(), row.begin(), row.end());
    ++t.rows;
  }
  return t;
}

}  // namespace cardiotorch::test
