#pragma once
// A run's metrics.jsonl: one JSON object per line, e.g.
//
//   {"split": "train", "step": 120, "epoch": 1, "loss": 0.53, "lr": 0.0003}
//   {"split": "val", "step": 120, "epoch": 1, "loss": 0.61, "auroc_macro": 0.91, "f1/AF": 0.80}
//
// "split" (a string) marks a metric record; lines without it (the run's stage records) are
// skipped. "step" (optimizer steps so far) and/or "epoch" (0-based) are integers; every other
// number is a value of series "<split>/<key>"; null is a missing value (NaN); other types are
// ignored. "time" (Unix seconds) is kept as TensorBoard's wall time, not plotted.
// docs/metrics.md has the full schema.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cardiotorch/report/html.h"

namespace cardiotorch::report {

struct MetricRecord {
  std::string split;
  int64_t step = -1;   ///< -1 when absent
  int64_t epoch = -1;  ///< -1 when absent
  double time = -1;    ///< Unix seconds when given
  std::map<std::string, double> values;
};

struct MetricsLog {
  std::string source;
  std::vector<MetricRecord> records;
  /// Splits in order of first appearance.
  std::vector<std::string> splits() const;
  /// Value keys (sorted) of one split, or of all splits when `split` is "".
  std::vector<std::string> keys(const std::string& split = "") const;
  /// "step" when every record of the log has a step, else "epoch" (when every record has one).
  std::string default_x() const;
  /// The series of `key` in `split` against x ("step" or "epoch"), labelled `split`; records
  /// without the key are left out, null values are NaN (gaps).
  Series series(const std::string& split, const std::string& key, const std::string& x) const;
};

/// Parses metrics.jsonl text; a malformed line is a DataError "origin:line: ...".
MetricsLog parse_metrics_log(const std::string& text, const std::string& origin = "<metrics>");
MetricsLog read_metrics_log(const std::string& path);

/// Writes every record's values as TensorBoard scalars "<split>/<key>" at its step (or epoch
/// when the log has no steps) into a new event file in `log_dir`; returns the file's path.
std::string write_tensorboard(const MetricsLog& log, const std::string& log_dir);

}  // namespace cardiotorch::report
