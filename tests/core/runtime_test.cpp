#include "cardiotorch/core/runtime.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <thread>

#include "cardiotorch/core/log.h"
#include "cardiotorch/core/progress.h"
#include "cardiotorch/core/run_dir.h"
#include "support/test_util.h"

namespace ct = cardiotorch;

TEST(Runtime, DeriveSeedIsStableAndSpreads) {
  EXPECT_EQ(ct::derive_seed(1, 2, 3), ct::derive_seed(1, 2, 3));
  std::set<uint64_t> seen;
  for (uint64_t e = 0; e < 10; ++e)
    for (uint64_t i = 0; i < 100; ++i) seen.insert(ct::derive_seed(42, e, i));
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_NE(ct::derive_seed(1, 2, 3), ct::derive_seed(1, 3, 2));
}

TEST(Runtime, ManualSeedReproducesTorchRandomness) {
  ct::manual_seed(7);
  at::Tensor a = at::randn({16});
  ct::manual_seed(7);
  at::Tensor b = at::randn({16});
  EXPECT_TRUE(a.equal(b));
}

TEST(Runtime, SetNumThreads) {
  const int before = ct::num_threads();
  ct::set_num_threads(2);
  EXPECT_EQ(ct::num_threads(), 2);
  ct::set_num_threads(before);
  EXPECT_EQ(ct::num_threads(), before);
}

TEST(Runtime, VersionStrings) {
  EXPECT_EQ(ct::version_string(), CARDIOTORCH_VERSION_STRING);
  EXPECT_FALSE(ct::torch_version_string().empty());
  EXPECT_NE(ct::build_summary().find("LibTorch"), std::string::npos);
}

TEST(Progress, PlainRenderHasRateAndEta) {
  ct::ProgressBar::force_tty(0);
  ct::ProgressBar::set_enabled(false);
  ct::ProgressBar bar("epoch 1", 100, "batch");
  bar.tick(25);
  bar.set_postfix("loss 0.5");
  const std::string line = bar.render(5.0);
  EXPECT_NE(line.find(" 25% 25/100 batch"), std::string::npos) << line;
  EXPECT_NE(line.find("5.0 batch/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 15s"), std::string::npos) << line;
  EXPECT_NE(line.find("| loss 0.5"), std::string::npos) << line;
  EXPECT_EQ(line.find('['), std::string::npos) << "no bar drawing when not a TTY";
  ct::ProgressBar::force_tty(-1);
  ct::ProgressBar::set_enabled(true);
}

TEST(Progress, FormatDuration) {
  EXPECT_EQ(ct::ProgressBar::format_duration(12), "12s");
  EXPECT_EQ(ct::ProgressBar::format_duration(185), "3m05s");
  EXPECT_EQ(ct::ProgressBar::format_duration(3720), "1h02m");
  EXPECT_EQ(ct::ProgressBar::format_duration(-1), "?");
}

TEST(RunDir, WritesConfigLogAndMetrics) {
  const std::string dir = ct::test::make_temp_dir("rundir") + "/run";
  {
    ct::RunDir run(dir, ct::ConfigNode::parse("name: x\nseed: 3\n"));
    CT_LOG_INFO("hello from the test");
    run.metrics().write({{"step", int64_t{1}}, {"loss", 0.25}, {"phase", std::string("train")}});
  }
  std::ifstream m(dir + "/metrics.jsonl");
  std::string line;
  std::getline(m, line);
  EXPECT_EQ(line, R"({"loss":0.25,"phase":"train","step":1})");
  EXPECT_EQ(ct::ConfigNode::load(dir + "/config.yaml")["seed"].as_int(), 3);
  std::ifstream log(dir + "/run.log");
  std::string all((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("hello from the test"), std::string::npos);
}

TEST(Runtime, WorkerThreadsAreLimitedPerThread) {
  const int before = ct::num_threads();
  ct::set_num_threads(2);
  int in_worker = -1;
  std::thread t([&] {
    ct::set_worker_threads(1);
    in_worker = ct::num_threads();
  });
  t.join();
  EXPECT_EQ(in_worker, 1);
  EXPECT_EQ(ct::num_threads(), 2) << "the process-wide setting must not change";
  ct::set_num_threads(before);
}
