#pragma once
// One call per (split, step) for a training loop: a metrics.jsonl line in the schema that
// report/metrics_log.h reads back (plots, `cardiotorch curves`) and, when a writer is given, the
// same values as TensorBoard scalars "<split>/<key>".
#include <cstdint>
#include <string>

#include "cardiotorch/core/run_dir.h"
#include "cardiotorch/report/tensorboard.h"
#include "cardiotorch/train/metric_set.h"

namespace cardiotorch::train {

/// Writes {"split": split, "step": step, "epoch": epoch, "time": <now>, key: value...} (NaN as
/// null) and the TensorBoard scalars at `step`. `step` or `epoch` may be -1 (left out), not both.
/// Throws ConfigError when a value key collides with split/step/epoch/time.
void log_metrics(MetricsWriter& jsonl, report::TensorBoardWriter* tensorboard, const std::string& split, int64_t step,
                 int64_t epoch, const MetricValues& values);

}  // namespace cardiotorch::train
