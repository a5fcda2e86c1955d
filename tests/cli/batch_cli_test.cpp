// `convert` and `preprocess` over directories: one process, all cores, a progress bar, a summary,
// a manifest, and --on-error skip.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "cardiotorch/core/file.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/reader.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace fs = std::filesystem;
using ct::test::run_cli;

namespace {

std::string sample_dir() { return ct::test::source_path("data/sample/cinc2021"); }

int64_t lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

}  // namespace

TEST(CliBatch, ConvertsADirectoryInOneProcessWithProgressAndManifest) {
  const std::string out = ct::test::make_temp_dir("cli_batch_convert") + "/out";
  std::string log;
  ASSERT_EQ(run_cli("convert " + sample_dir() + " -o " + out + " --format npz -j 2", &log), 0) << log;
  EXPECT_NE(log.find("converted 50 of 50 records in "), std::string::npos) << log;
  EXPECT_NE(log.find("2 threads"), std::string::npos) << log;
  EXPECT_NE(log.find("convert 100% 50/50 rec"), std::string::npos) << "no progress bar:\n" << log;
  const std::string manifest = ct::read_file(out + "/manifest.csv");
  EXPECT_EQ(lines(manifest), 51);
  EXPECT_NE(manifest.find(sample_dir() + "/E07500.hea,E07500.npz,ok,500,12x5000,I II III aVR"), std::string::npos)
      << manifest;
  const auto z = ct::io::read_npz(out + "/JS20019.npz");
  EXPECT_TRUE(at::equal(z.at("signal"), ct::io::read_record(sample_dir() + "/JS20019").signal));
  EXPECT_EQ(z.at("fs").item<double>(), 500.0);
}

TEST(CliBatch, SkipCountsAndListsBadRecords) {
  const std::string dir = ct::test::make_temp_dir("cli_batch_skip");
  fs::create_directories(dir + "/in/sub");
  for (const char* r : {"E07500", "E07501"})
    for (const char* e : {".hea", ".mat"}) fs::copy_file(sample_dir() + "/" + r + e, dir + "/in/sub/" + r + e);
  ct::test::write_file(dir + "/in/broken.hea", "broken 12 500 5000\nno signal lines here\n");
  std::string log;
  // raise (the default): exit 1 naming the file, like a single conversion.
  EXPECT_EQ(run_cli("convert " + dir + "/in -o " + dir + "/out1", &log), 1) << log;
  EXPECT_NE(log.find(dir + "/in/broken.hea"), std::string::npos) << log;
  ASSERT_EQ(run_cli("convert " + dir + "/in -o " + dir + "/out2 --on-error skip --leads II,V1 --duration 2", &log), 0)
      << log;
  EXPECT_NE(log.find("converted 2 of 3 records"), std::string::npos) << log;
  EXPECT_NE(log.find("1 skipped:\n  " + dir + "/in/broken.hea"), std::string::npos) << log;
  EXPECT_EQ(ct::io::read_npy(dir + "/out2/sub/E07501.npy").sizes(), (std::vector<int64_t>{2, 1000}));
  const std::string manifest = ct::read_file(dir + "/out2/manifest.csv");
  EXPECT_NE(manifest.find(dir + "/in/broken.hea,broken.npy,failed,"), std::string::npos) << manifest;
  EXPECT_FALSE(fs::exists(dir + "/out2/broken.npy"));
}

TEST(CliBatch, PreprocessesADirectory) {
  const std::string dir = ct::test::make_temp_dir("cli_batch_pre");
  ct::test::write_file(dir + "/p.yaml", "- {name: nan_to_num}\n- {name: resample, fs: 250}\n- {name: zscore}\n");
  std::string log;
  ASSERT_EQ(run_cli("preprocess -c " + dir + "/p.yaml " + sample_dir() + "/E07500 " + sample_dir() + "/E07501.hea -o " +
                        dir + "/out",
                    &log),
            0)
      << log;
  EXPECT_NE(log.find("preprocessed 2 of 2 records"), std::string::npos) << log;
  const at::Tensor y = ct::io::read_npy(dir + "/out/E07501.npy");
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{12, 2500}));
  EXPECT_NEAR(y[3].mean().item<double>(), 0.0, 1e-5);
  EXPECT_NE(ct::read_file(dir + "/out/manifest.csv").find("E07500.npy,ok,250,12x2500"), std::string::npos);
}

TEST(CliBatch, UsageErrors) {
  const std::string dir = ct::test::make_temp_dir("cli_batch_usage");
  std::string log;
  // A directory into a file name; --format on a single conversion; an unknown format.
  EXPECT_EQ(run_cli("convert " + sample_dir() + " -o " + dir + "/x.npy", &log), 2) << log;
  EXPECT_NE(log.find("x.npy: several records (or a directory) are converted into an output directory"),
            std::string::npos)
      << log;
  EXPECT_EQ(run_cli("convert " + sample_dir() + "/E07500 -o " + dir + "/x.npy --format csv", &log), 2) << log;
  EXPECT_EQ(run_cli("convert " + sample_dir() + " -o " + dir + "/o --format xls", &log), 2) << log;
  EXPECT_NE(log.find("--format xls: expected one of .csv, .npy, .npz or .hea"), std::string::npos) << log;
  EXPECT_EQ(run_cli("convert " + dir + "/nothing -o " + dir + "/o", &log), 2) << log;
}
