#pragma once
// A run directory: runs/<name>/ holding config.yaml (the resolved config), run.log and
// metrics.jsonl (one JSON object per line, machine-readable).
#include <map>
#include <memory>
#include <string>
#include <variant>

#include "cardiotorch/core/config.h"

namespace cardiotorch {

class MetricsWriter {
 public:
  explicit MetricsWriter(const std::string& path);
  ~MetricsWriter();
  using Value = std::variant<int64_t, double, std::string>;
  /// Appends one JSON line {"k": v, ...} and flushes.
  void write(const std::map<std::string, Value>& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class RunDir {
 public:
  /// Creates `dir` (and parents); writes config.yaml; opens run.log as the log file.
  RunDir(const std::string& dir, const ConfigNode& resolved_config);
  ~RunDir();
  const std::string& path() const { return dir_; }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  MetricsWriter& metrics() { return *metrics_; }

 private:
  std::string dir_;
  std::unique_ptr<MetricsWriter> metrics_;
};

}  // namespace cardiotorch
