#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/reader.h"
#include "support/test_util.h"

namespace cardiotorch {
namespace {

using test::run_cli;

std::string sample(const std::string& rel) { return test::source_path("data/sample/cinc2021/" + rel); }

TEST(CliConvert, WfdbRoundTripIsExactFor1000PerMv) {
  const std::string dir = test::make_temp_dir("cli_convert");
  std::string out;
  ASSERT_EQ(run_cli("convert " + sample("JS20003") + " -o " + dir + "/JS.hea", &out), 0) << out;
  const io::Record orig = io::read_record(sample("JS20003"));
  const io::Record back = io::read_record(dir + "/JS");
  EXPECT_EQ(back.fs, orig.fs);
  EXPECT_EQ(back.leads, orig.leads);
  EXPECT_EQ(back.units, orig.units);
  EXPECT_EQ(back.comments, orig.comments);
  EXPECT_TRUE(at::equal(back.signal, orig.signal));
}

TEST(CliConvert, NpyNpzAndCsvWithWindowAndLeads) {
  const std::string dir = test::make_temp_dir("cli_convert2");
  const io::Record orig = io::read_record(sample("E07501"));
  std::string out;
  ASSERT_EQ(
      run_cli("convert " + sample("E07501.mat") + " --from 2 --duration 1.5 --leads V2,II -o " + dir + "/w.npy", &out),
      0)
      << out;
  const at::Tensor w = io::read_npy(dir + "/w.npy");
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{2, 750}));
  EXPECT_TRUE(at::equal(w[0], orig.signal[7].slice(0, 1000, 1750)));
  EXPECT_TRUE(at::equal(w[1], orig.signal[1].slice(0, 1000, 1750)));

  ASSERT_EQ(run_cli("convert " + sample("E07501") + " -o " + dir + "/all.npz", &out), 0) << out;
  const auto z = io::read_npz(dir + "/all.npz");
  EXPECT_TRUE(at::equal(z.at("signal"), orig.signal));
  EXPECT_EQ(z.at("fs").item<double>(), 500.0);

  ASSERT_EQ(run_cli("convert " + sample("E07501") + " --from 1 --duration 0.01 --leads I -o " + dir + "/c.csv", &out),
            0)
      << out;
  std::ifstream f(dir + "/c.csv");
  std::string line;
  std::getline(f, line);
  EXPECT_EQ(line, "time_s,I");
  int rows = 0;
  double first_t = -1, first_v = 0;
  while (std::getline(f, line)) {
    if (rows == 0) {
      first_t = std::stod(line.substr(0, line.find(',')));
      first_v = std::stod(line.substr(line.find(',') + 1));
    }
    ++rows;
  }
  EXPECT_EQ(rows, 5);
  EXPECT_DOUBLE_EQ(first_t, 1.0);
  EXPECT_NEAR(first_v, orig.signal[0][500].item<float>(), 1e-6);
}

TEST(CliConvert, UsageAndDataErrors) {
  const std::string dir = test::make_temp_dir("cli_convert3");
  std::string out;
  EXPECT_EQ(run_cli("convert " + sample("E07500") + " -o " + dir + "/x.txt", &out), 2);
  EXPECT_NE(out.find("x.txt: output must end in .csv, .npy, .npz or .hea"), std::string::npos) << out;
  EXPECT_EQ(run_cli("convert " + sample("E07500"), &out), 2);  // -o missing
  EXPECT_EQ(run_cli("convert " + sample("E07500.mat") + " --leads V9 -o " + dir + "/x.npy", &out), 2);
  EXPECT_NE(out.find("E07500.mat: no channel 'V9'"), std::string::npos) << out;
  EXPECT_EQ(run_cli("convert " + sample("E07500") + " --from 20 -o " + dir + "/x.npy", &out), 2);
  EXPECT_NE(out.find("past the end"), std::string::npos) << out;
  // A .npy has no rate: WFDB output needs --fs.
  ASSERT_EQ(run_cli("convert " + sample("E07500") + " -o " + dir + "/x.npy", &out), 0) << out;
  EXPECT_EQ(run_cli("convert " + dir + "/x.npy -o " + dir + "/x.hea", &out), 2);
  EXPECT_NE(out.find("pass --fs"), std::string::npos) << out;
  ASSERT_EQ(run_cli("convert " + dir + "/x.npy --fs 500 -o " + dir + "/x.hea", &out), 0) << out;
  const io::Record back = io::read_record(dir + "/x.hea");
  EXPECT_EQ(back.fs, 500.0);
  EXPECT_TRUE(at::equal(back.signal, io::read_record(sample("E07500")).signal));
}

}  // namespace
}  // namespace cardiotorch
