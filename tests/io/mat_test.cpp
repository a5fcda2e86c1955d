#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <filesystem>
#include <fstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/mat.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/wfdb.h"
#include "support/test_util.h"

namespace fs = std::filesystem;

namespace cardiotorch::io {
namespace {

std::string fixture(const std::string& name) { return test::source_path("tests/fixtures/io/" + name); }
std::string sample(const std::string& name) { return test::source_path("data/sample/cinc2021/" + name); }

at::Tensor base(std::vector<int64_t> shape, double scale = 1.0, double offset = 0.0) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return at::arange(n, at::kDouble).reshape(shape) * scale + offset;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void expect_same_record(const Record& a, const Record& b) {
  EXPECT_EQ(a.fs, b.fs);
  EXPECT_EQ(a.leads, b.leads);
  EXPECT_EQ(a.units, b.units);
  EXPECT_EQ(a.comments, b.comments);
  EXPECT_EQ(a.name, b.name);
  ASSERT_EQ(a.signal.sizes(), b.signal.sizes());
  EXPECT_EQ(a.signal.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(a.signal, b.signal));
}

TEST(MatRecord, CinC2021MatAndWfdbPathsAgree) {
  // The .mat is also declared in the header as format 16x1+24: matio + header gains and the
  // WFDB decoder must give the same float32 signal, bit for bit, for every source database.
  for (const char* name : {"E07500", "HR06000", "JS20019"}) {
    SCOPED_TRACE(name);
    const Record via_mat = read_mat_record(sample(std::string(name) + ".mat"));
    const Record via_hea = read_record(sample(name));
    expect_same_record(via_mat, via_hea);
    const Record via_dispatch = read_record(sample(std::string(name) + ".mat"));
    expect_same_record(via_dispatch, via_hea);
    EXPECT_EQ(via_mat.n_leads(), 12);
    EXPECT_EQ(via_mat.n_samples(), 5000);
    EXPECT_EQ(via_mat.leads.front(), "I");
    EXPECT_EQ(via_mat.leads.back(), "V6");
  }
}

TEST(MatRecord, InvalidSamplesAreNanOnBothPaths) {
  // Patch two samples of a CinC .mat to WFDB's invalid value -32768. v4 layout: a 20-byte
  // header, "val\0", then int16 data column by column (12 leads per column).
  const std::string dir = test::make_temp_dir("mat_nan");
  std::string mat = slurp(sample("E07500.mat"));
  auto poke = [&](int lead, int sample_index) {
    const size_t at = 24 + 2 * static_cast<size_t>(sample_index * 12 + lead);
    mat[at] = '\x00';
    mat[at + 1] = '\x80';
  };
  poke(0, 0);
  poke(3, 10);
  test::write_file(dir + "/E07500.mat", mat);
  test::write_file(dir + "/E07500.hea", slurp(sample("E07500.hea")));
  const Record a = read_record(dir + "/E07500.mat");
  const Record b = read_record(dir + "/E07500");
  EXPECT_TRUE(std::isnan(a.signal[0][0].item<float>()));
  EXPECT_TRUE(std::isnan(a.signal[3][10].item<float>()));
  EXPECT_EQ(a.signal.isnan().sum().item<int64_t>(), 2);
  EXPECT_TRUE(at::equal(a.signal.isnan(), b.signal.isnan()));
  EXPECT_TRUE(at::equal(a.signal.nan_to_num(0), b.signal.nan_to_num(0)));
}

TEST(MatRecord, ConcurrentReadsMatchSerialOnes) {
  // Data loaders read from several threads; matio calls are serialised inside read_mat_record.
  const std::vector<std::string> names = {"E07503", "E07504", "HR06001", "HR06002", "JS20006", "JS20007"};
  std::vector<at::Tensor> serial;
  for (const auto& n : names) serial.push_back(read_mat_record(sample(n + ".mat")).signal);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < 12; ++k) {
        const size_t i = static_cast<size_t>((t + k) % static_cast<int>(names.size()));
        if (!at::equal(read_mat_record(sample(names[i] + ".mat")).signal, serial[i])) ++mismatches;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(MatRecord, CinCValuesFollowHeaderGainAndInitialValues) {
  const Record r = read_mat_record(sample("E07500.mat"));
  const wfdb::Header h = wfdb::read_header(sample("E07500"));
  ASSERT_EQ(h.signals.size(), 12u);
  const at::Tensor raw = read_mat_array(sample("E07500.mat"), "val");
  ASSERT_EQ(raw.sizes(), (std::vector<int64_t>{12, 5000}));
  for (int c = 0; c < 12; ++c) {
    // The header's initial-value field is the first sample of each lead.
    EXPECT_EQ(raw[c][0].item<double>(), static_cast<double>(h.signals[c].initial_value)) << c;
    EXPECT_FLOAT_EQ(r.signal[c][0].item<float>(), static_cast<float>(h.signals[c].initial_value / 1000.0)) << c;
  }
  EXPECT_TRUE(at::allclose(r.signal.to(at::kDouble), raw / 1000.0, 1e-7, 1e-9));  // float32 rounding only
  EXPECT_EQ(r.meta.at("age"), "78");
  EXPECT_EQ(r.meta.at("sex"), "Male");
  EXPECT_EQ(r.meta.at("dx"), "67741000119109,426177001");
  EXPECT_EQ(r.units, std::vector<std::string>(12, "mV"));
}

TEST(MatRecord, MatchesRdsampOnA103l) {
  // target-output/record-1b is `rdsamp -r a103l -f 50 -t 160 -s 2 0 -P` from the C WFDB tools:
  // samples 12500-40000 of channels PLETH and II, physical. Read here through matio + header.
  CT_REQUIRE_SHARED("wfdb-python/target-output/record-1b");
  ReadOptions o;
  o.from = 12500;
  o.to = 40000;
  o.channels = {"2", "0"};
  const Record r = read_record(test::shared_data("wfdb-python/sample-data/a103l.mat"), o);
  EXPECT_EQ(r.meta.at("format"), "mat+wfdb");
  EXPECT_EQ(r.leads, (std::vector<std::string>{"PLETH", "II"}));
  EXPECT_EQ(r.units, (std::vector<std::string>{"NU", "mV"}));
  ASSERT_EQ(r.signal.sizes(), (std::vector<int64_t>{2, 27500}));
  std::ifstream f(test::shared_data("wfdb-python/target-output/record-1b"));
  std::vector<double> ref;
  for (double v; f >> v;) ref.push_back(v);
  ASSERT_EQ(ref.size(), 2u * 27500u);
  const at::Tensor want = at::tensor(ref, at::kDouble).reshape({27500, 2}).t();
  // rdsamp prints 8 decimals; float32 adds at most ~1e-7 on values of order 1.
  EXPECT_LT((r.signal.to(at::kDouble) - want).abs().max().item<double>(), 2e-7);
}

TEST(MatRecord, Cpsc2018StructLayout) {
  const Record r = read_mat_record(fixture("cpsc2018_like.mat"));
  EXPECT_EQ(r.fs, 500.0);
  EXPECT_EQ(r.leads,
            (std::vector<std::string>{"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"}));
  EXPECT_EQ(r.meta.at("sex"), "Female");
  EXPECT_EQ(r.meta.at("age"), "63");
  EXPECT_EQ(r.meta.at("variable"), "ECG.data");
  EXPECT_TRUE(at::allclose(r.signal.to(at::kDouble), base({12, 500}, 0.001, -2.0), 0, 1e-6));
  EXPECT_EQ(r.units.front(), "mV");
  EXPECT_EQ(read_mat_array(fixture("cpsc2018_like.mat"), "ECG.data").sizes(), (std::vector<int64_t>{12, 500}));
}

TEST(MatRecord, BareV4AndV5Files) {
  EXPECT_EQ(mat_variable_names(fixture("bare_v5.mat")), (std::vector<std::string>{"ecg", "other"}));
  // Column-major storage: MATLAB's [[0 1];[2 3]] must come back in the same C-order layout.
  EXPECT_TRUE(at::equal(read_mat_array(fixture("bare_v5.mat"), "other"), base({2, 2})));

  MatOptions o;
  o.fs = 250;
  const Record col = read_mat_record(fixture("bare_v5.mat"), o);  // 400 x 1 "ecg" column -> 1 lead
  EXPECT_EQ(col.signal.sizes(), (std::vector<int64_t>{1, 400}));
  EXPECT_EQ(col.fs, 250.0);
  EXPECT_EQ(col.units, std::vector<std::string>{"mV"});
  EXPECT_EQ(col.leads, std::vector<std::string>{"ch0"});
  EXPECT_TRUE(at::allclose(col.signal[0].to(at::kDouble), base({400}, 0.01, -2.0), 0, 1e-6));

  const Record v4 = read_mat_record(fixture("bare_v4.mat"));
  EXPECT_EQ(v4.signal.sizes(), (std::vector<int64_t>{2, 300}));
  EXPECT_EQ(v4.units, (std::vector<std::string>{"adu", "adu"}));
  EXPECT_TRUE(at::equal(v4.signal, base({2, 300}, 3.0, -450.0).to(at::kFloat)));
  EXPECT_EQ(v4.fs, 0.0);

  o.variable = "other";
  o.leads = {"ii", "avr"};
  const Record named = read_mat_record(fixture("bare_v5.mat"), o);
  EXPECT_EQ(named.leads, (std::vector<std::string>{"II", "aVR"}));
}

TEST(MatRecord, Cpsc2019SharedFile) {
  CT_REQUIRE_SHARED("cpsc2019/data/data_00014.mat");
  ReadOptions o;
  o.fs = 500;
  const Record r = read_record(test::shared_data("cpsc2019/data/data_00014.mat"), o);
  EXPECT_EQ(r.signal.sizes(), (std::vector<int64_t>{1, 5000}));
  EXPECT_EQ(r.fs, 500.0);
  EXPECT_EQ(r.units, std::vector<std::string>{"mV"});
  // In mV: an R wave is a few tenths to a few mV, never hundreds (which would be adu).
  const double peak = r.signal.abs().max().item<double>();
  EXPECT_GT(peak, 0.2);
  EXPECT_LT(peak, 10.0);
  EXPECT_EQ(r.meta.at("variable"), "ecg");
}

TEST(MatRecord, CorruptAndMismatchedFilesNameTheFile) {
  const std::string dir = test::make_temp_dir("mat_bad");
  auto expect_error = [](const std::function<void()>& f, const std::string& file, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error for " << file;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string mat = slurp(sample("E07500.mat"));
  const std::string hea = slurp(sample("E07500.hea"));

  const std::string cut = dir + "/cut.mat";
  test::write_file(cut, mat.substr(0, 1000));
  expect_error([&] { read_mat_record(cut); }, cut, "truncated or corrupt");

  const std::string text = dir + "/text.mat";
  test::write_file(text, "this is not a MATLAB file, just text long enough to look like a header....\n");
  expect_error([&] { read_mat_record(text); }, text, "MATLAB");

  // A CinC header beside a .mat without `val`.
  fs::create_directories(dir + "/noval");
  fs::copy_file(fixture("bare_v5.mat"), dir + "/noval/E07500.mat");
  test::write_file(dir + "/noval/E07500.hea", hea);
  expect_error([&] { read_mat_record(dir + "/noval/E07500.mat"); }, "E07500.mat", "no variable 'val'");

  // Header and matrix disagree on the number of samples.
  fs::create_directories(dir + "/len");
  test::write_file(dir + "/len/E07500.mat", mat);
  std::string longer = hea;
  longer.replace(longer.find("5000"), 4, "6000");
  test::write_file(dir + "/len/E07500.hea", longer);
  expect_error([&] { read_mat_record(dir + "/len/E07500.mat"); }, "E07500.mat", "declares 6000");

  expect_error([&] { read_mat_array(fixture("bare_v5.mat"), "ecgg"); }, "bare_v5.mat", "did you mean 'ecg'?");
  expect_error([&] { read_mat_array(fixture("cpsc2018_like.mat"), "ECG.sex"); }, "cpsc2018_like.mat", "char array");
  expect_error([&] { read_mat_record(dir + "/absent.mat"); }, "absent.mat", "no such file");
}

}  // namespace
}  // namespace cardiotorch::io
