// The main job (`cardiotorch run`) on the vendored sample, in smoke mode.
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
         "/cache --max-batches 2 -q " + extra;
}
}  // namespace

TEST(RunCommand, DemoSmokeRunWritesRunDirectory) {
  const std::string dir = ctt::make_temp_dir("run_demo");
  std::string out;
  ASSERT_EQ(ctt::run_cli(run_args(dir), &out), 0) << out;
  EXPECT_NE(out.find("Report: " + dir + "/demo/report.html"), std::string::npos) << out;
  for (const char* f : {"config.yaml", "run.log", "metrics.jsonl", "report.html"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/demo/" + f)) << f;
  const std::string report = slurp(dir + "/demo/report.html");
  EXPECT_NE(report.find("What ran"), std::string::npos);
  EXPECT_NE(report.find("train loader"), std::string::npos);
  EXPECT_NE(report.find("<svg"), std::string::npos) << "the report should embed the ECG figures";
  // The saved config is the resolved one: seeds propagated, defaults filled.
  auto cfg = cardiotorch::ConfigNode::load(dir + "/demo/config.yaml");
  EXPECT_EQ(cfg["data"]["loader"]["seed"].as_int(), cfg["seed"].as_int());
  EXPECT_EQ(cfg["data"]["loader"]["batch_size"].as_int(), 16);
  EXPECT_EQ(cfg["data"]["dataset"]["classes"].as_string(), "scored");        // adapter defaults filled in
  EXPECT_DOUBLE_EQ(cfg["preprocess"][1]["window1"].as_double(), 0.2);        // step defaults filled in
  const std::string metrics = slurp(dir + "/demo/metrics.jsonl");
  for (const char* s : {"\"dataset\"", "\"split\"", "\"cache\"", "\"train loader\"", "\"eval loader\""})
    EXPECT_NE(metrics.find(s), std::string::npos) << s << " missing from metrics.jsonl:\n" << metrics;
}

TEST(RunCommand, SameSeedSameBatchesAndCacheIsReused) {
  const std::string dir = ctt::make_temp_dir("run_repeat");
  std::string a, b, c;
  ASSERT_EQ(ctt::run_cli(run_args(dir, "--set name=a"), &a), 0) << a;
  ASSERT_EQ(ctt::run_cli(run_args(dir, "--set name=b"), &b), 0) << b;
  ASSERT_EQ(ctt::run_cli(run_args(dir, "--set name=c --set seed=5"), &c), 0) << c;
  auto line = [](const std::string& s, const std::string& key) {
    const size_t p = s.find("\n" + key);
    return p == std::string::npos ? std::string() : s.substr(p + 1, s.find('\n', p + 1) - p - 1);
  };
  auto stats = [&](const std::string& s) {  // "... mean X std Y" of the train loader line
    const std::string l = line(s, "train loader");
    return l.substr(l.find("mean"));
  };
  EXPECT_EQ(stats(a), stats(b)) << a << "\n---\n" << b;
  EXPECT_NE(stats(a), stats(c)) << "a different seed should give different augmented batches";
  EXPECT_NE(line(a, "cache").find("built"), std::string::npos) << a;
  EXPECT_NE(line(b, "cache").find("hit"), std::string::npos) << b;
}

TEST(RunCommand, ConfigErrorsExit2) {
  const std::string dir = ctt::make_temp_dir("run_bad");
  std::string out;
  EXPECT_EQ(ctt::run_cli(run_args(dir, "--set data.dataset.name=cinc2012"), &out), 2) << out;
  EXPECT_NE(out.find("unknown dataset 'cinc2012'"), std::string::npos) << out;
  EXPECT_EQ(ctt::run_cli(run_args(dir, "--set preprocess[0].lowcat=1"), &out), 2) << out;
  EXPECT_NE(out.find("did you mean 'lowcut'"), std::string::npos) << out;
  EXPECT_EQ(ctt::run_cli(run_args(dir, "--set data.dataset.root=/nonexistent"), &out), 1) << out;
  EXPECT_NE(out.find("/nonexistent"), std::string::npos) << out;
}
