#include "cardiotorch/train/metric_log.h"

#include <chrono>

#include "cardiotorch/core/error.h"

namespace cardiotorch::train {

void log_metrics(MetricsWriter& jsonl, report::TensorBoardWriter* tensorboard, const std::string& split, int64_t step,
                 int64_t epoch, const MetricValues& values) {
  CT_CHECK(!split.empty(), ConfigError, "log_metrics: empty split name");
  CT_CHECK(step >= 0 || epoch >= 0, ConfigError, "log_metrics: give a step or an epoch (", split, ")");
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::map<std::string, MetricsWriter::Value> rec{{"split", split}, {"time", now}};
  if (step >= 0) rec["step"] = step;
  if (epoch >= 0) rec["epoch"] = epoch;
  for (const auto& [k, v] : values) {
    CT_CHECK(rec.count(k) == 0 && k != "step" && k != "epoch", ConfigError, "log_metrics: '", k,
             "' is a reserved key of metrics.jsonl");
    rec[k] = v;
  }
  jsonl.write(rec);
  if (tensorboard) tensorboard->add_scalars(values, step >= 0 ? step : epoch, split, now);
}

}  // namespace cardiotorch::train
