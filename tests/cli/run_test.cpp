// The `cardiotorch run` command on the vendored sample: its data stage and report (the model
// stages are tested in smoke mode by tests/app/run_test.cpp).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cardiotorch/core/config.h"
#include "support/test_util.h"

namespace ctt = cardiotorch::test;

namespace {
std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
std::string run_args(const std::string& dir, const std::string& extra = "") {
  return "run " + ctt::source_path("configs/demo.yaml") + " --set output_dir=" + dir +
         " --set data.dataset.root=" + ctt::source_path("data/sample/cinc2021") + " --set data.cache.dir=" + dir +
         "/cache --set 'stages=[data, report]' --max-batches 2 -q " + extra;
}
}  // namespace

TEST(RunCommand, DemoSmokeRunWritesRunDirectory) {
  const std::string dir = ctt::make_temp_dir("run_demo");
  std::string out;
  ASSERT_EQ(ctt::run_cli(run_args(dir), &out), 0) << out;
  EXPECT_NE(out.find("Report: " + dir + "/demo/report.html"), std::string::npos) << out;
  for (const char* f : {"config.yaml", "run.log", "metrics.jsonl", "report.html", "stages/data.json"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/demo/" + f)) << f;
  const std::string report = slurp(dir + "/demo/report.html");
  EXPECT_NE(report.find("What ran"), std::string::npos);
  EXPECT_NE(report.find("Labels per split"), std::string::npos);
  EXPECT_NE(report.find("<svg"), std::string::npos) << "the report should embed the ECG figures";
  // The saved config is the resolved one: seeds propagated, defaults filled.
  auto cfg = cardiotorch::ConfigNode::load(dir + "/demo/config.yaml");
  EXPECT_EQ(cfg["data"]["loader"]["seed"].as_int(), cfg["seed"].as_int());
  EXPECT_EQ(cfg["data"]["loader"]["batch_size"].as_int(), 8);
  EXPECT_EQ(cfg["data"]["split"]["by_patient"].as_bool(), true);
  EXPECT_EQ(cfg["preprocess"][2]["method"].as_string(), "als");  // step options kept
  EXPECT_EQ(cfg["optimizer"]["name"].as_string(), "adamw");      // defaults filled in
  EXPECT_EQ(cfg["stages"].as_string_list(), (std::vector<std::string>{"data", "report"}));
  const std::string metrics = slurp(dir + "/demo/metrics.jsonl");
  for (const char* s : {"\"data\"", "\"report\""})
    EXPECT_NE(metrics.find(s), std::string::npos) << s << " missing from metrics.jsonl:\n" << metrics;
}

TEST(RunCommand, SameSeedSameBatchesAndCacheIsReused) {
  const std::string dir = ctt::make_temp_dir("run_repeat");
  std::string a, b, c;
  ASSERT_EQ(ctt::run_cli(run_args(dir, "--set name=a"), &a), 0) << a;
  ASSERT_EQ(ctt::run_cli(run_args(dir, "--set name=b"), &b), 0) << b;
  ASSERT_EQ(ctt::run_cli(run_args(dir, "--set name=c --set seed=5"), &c), 0) << c;
  // The data stage's record: statistics of the augmented training batches, the cache status.
  auto record = [&](const std::string& name) { return slurp(dir + "/" + name + "/stages/data.json"); };
  auto field = [](const std::string& rec, const std::string& key) {
    const size_t p = rec.find("\"" + key + "\"");
    return p == std::string::npos ? std::string() : rec.substr(p, rec.find('\n', p) - p);
  };
  EXPECT_EQ(field(record("a"), "train_loader/mean"), field(record("b"), "train_loader/mean"));
  EXPECT_EQ(field(record("a"), "train_loader/std"), field(record("b"), "train_loader/std"));
  EXPECT_NE(field(record("a"), "train_loader/mean"), field(record("c"), "train_loader/mean"))
      << "a different seed should give different augmented batches";
  EXPECT_NE(field(record("a"), "cache_status").find("built"), std::string::npos) << record("a");
  EXPECT_NE(field(record("b"), "cache_status").find("hit"), std::string::npos) << record("b");
  // The same command again: the finished data stage is skipped.
  std::string again;
  ASSERT_EQ(ctt::run_cli(run_args(dir, "--set name=a"), &again), 0) << again;
  EXPECT_NE(again.find("(earlier session)"), std::string::npos) << again;
}

TEST(RunCommand, ConfigErrorsExit2) {
  const std::string dir = ctt::make_temp_dir("run_bad");
  std::string out;
  EXPECT_EQ(ctt::run_cli(run_args(dir, "--set data.dataset.name=cinc2012"), &out), 2) << out;
  EXPECT_NE(out.find("unknown dataset 'cinc2012'"), std::string::npos) << out;
  EXPECT_EQ(ctt::run_cli(run_args(dir, "--set preprocess[3].grops=1"), &out), 2) << out;
  EXPECT_NE(out.find("did you mean 'groups'"), std::string::npos) << out;
  EXPECT_EQ(ctt::run_cli(run_args(dir, "--set data.dataset.root=/nonexistent"), &out), 1) << out;
  EXPECT_NE(out.find("/nonexistent"), std::string::npos) << out;
  EXPECT_EQ(ctt::run_cli(run_args(dir, "--set 'stages=[data, reprot]'"), &out), 2) << out;
  EXPECT_NE(out.find("unknown stage 'reprot'"), std::string::npos) << out;
}
