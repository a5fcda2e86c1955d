#include <filesystem>

#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/report/ecg_plot.h"
#include "signal/signal_test_util.h"

namespace ct = cardiotorch;
namespace fs = std::filesystem;

namespace {

const char* kPipeline =
    "pipeline:\n"
    "  - {name: bandpass, lowcut: 0.5, highcut: 45}\n"
    "  - {name: baseline_remove}\n"
    "  - {name: resample, fs: 250}\n"
    "  - {name: select_leads, leads: [I, II, III, aVF]}\n"
    "  - {name: zscore}\n";

TEST(SignalCli, PreprocessWritesWhatThePipelineComputes) {
  const std::string dir = ct::test::make_temp_dir("preprocess");
  const std::string rec = ct::test::source_path("data/sample/cinc2021/E07500");
  ct::test::write_file(dir + "/p.yaml", kPipeline);
  std::string out;
  const int rc = ct::test::run_cli("preprocess --config " + dir + "/p.yaml " + rec + " -o " + dir + "/out.npy", &out);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("at 250 Hz"), std::string::npos) << out;
  at::Tensor got = ct::io::read_npy(dir + "/out.npy");

  ct::io::Record r = ct::io::read_record(rec);
  auto p = ct::signal::Pipeline::from_config(ct::ConfigNode::parse(kPipeline)["pipeline"]);
  ct::signal::SignalBatch b;
  b.x = r.signal;
  b.fs = r.fs;
  b.leads = r.leads;
  ct::signal::StepContext ctx;
  p.apply(b, ctx);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{4, r.n_samples() / 2}));
  EXPECT_TRUE(at::equal(got, b.x.to(at::kFloat)));
}

TEST(SignalCli, PreprocessPlotsBeforeAfter) {
  if (!ct::report::plot_supported()) GTEST_SKIP() << "built without cairo";
  const std::string dir = ct::test::make_temp_dir("preprocess_plot");
  ct::test::write_file(dir + "/p.yaml", kPipeline);
  std::string out;
  const int rc =
      ct::test::run_cli("preprocess -c " + dir + "/p.yaml " + ct::test::source_path("data/sample/cinc2021/E07500") +
                            " -o " + dir + "/out.npy --plot " + dir + "/ba.svg --plot-leads II,aVF",
                        &out);
  ASSERT_EQ(rc, 0) << out;
  ASSERT_TRUE(fs::exists(dir + "/ba.svg"));
  EXPECT_GT(fs::file_size(dir + "/ba.svg"), 1000u);
}

TEST(SignalCli, PreprocessConfigErrorsExitWith2) {
  const std::string dir = ct::test::make_temp_dir("preprocess_err");
  ct::test::write_file(dir + "/p.yaml", "- {name: bandpas}\n");
  std::string out;
  EXPECT_EQ(ct::test::run_cli("preprocess -c " + dir + "/p.yaml " +
                                  ct::test::source_path("data/sample/cinc2021/E07500") + " -o " + dir + "/o.npy",
                              &out),
            2);
  EXPECT_NE(out.find("did you mean 'bandpass'"), std::string::npos) << out;
}

}  // namespace
