// log_metrics writes what the plots and TensorBoard read back.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "cardiotorch/core/error.h"
#include "cardiotorch/report/metrics_log.h"
#include "cardiotorch/report/tensorboard.h"
#include "cardiotorch/train/metric_log.h"
#include "support/test_util.h"

namespace tr = cardiotorch::train;
namespace rp = cardiotorch::report;

TEST(MetricLog, JsonlAndTensorBoardCarryTheSameValues) {
  const std::string dir = cardiotorch::test::make_temp_dir("metric_log");
  std::string tb_path;
  {
    cardiotorch::MetricsWriter jsonl(dir + "/metrics.jsonl");
    rp::TensorBoardWriter tb(dir + "/tb");
    tb_path = tb.path();
    tr::log_metrics(jsonl, &tb, "train", 100, 0, {{"loss", 0.5}, {"lr", 1e-3}});
    tr::log_metrics(jsonl, &tb, "val", 100, 0, {{"loss", 0.6}, {"auroc_macro", NAN}, {"f1/AF", 0.25}});
    tr::log_metrics(jsonl, nullptr, "test", -1, 3, {{"auroc_macro", 0.9}});
    EXPECT_THROW(tr::log_metrics(jsonl, nullptr, "val", 1, 0, {{"split", 1.0}}), cardiotorch::ConfigError);
    EXPECT_THROW(tr::log_metrics(jsonl, nullptr, "val", -1, -1, {}), cardiotorch::ConfigError);
  }
  const rp::MetricsLog log = rp::read_metrics_log(dir + "/metrics.jsonl");
  ASSERT_EQ(log.records.size(), 3u);
  EXPECT_EQ(log.records[1].split, "val");
  EXPECT_EQ(log.records[1].step, 100);
  EXPECT_TRUE(std::isnan(log.records[1].values.at("auroc_macro")));  // NaN -> null -> NaN
  EXPECT_EQ(log.records[1].values.at("f1/AF"), 0.25);
  EXPECT_GT(log.records[0].time, 1.6e9);
  EXPECT_EQ(log.records[2].step, -1);
  EXPECT_EQ(log.records[2].epoch, 3);
  const auto events = rp::read_tensorboard_events(tb_path);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].values[1].tag, "train/lr");
  EXPECT_FLOAT_EQ(static_cast<float>(events[1].values[1].scalar), 1e-3f);
  EXPECT_NEAR(events[2].wall_time, log.records[1].time, 1e-6);
}
