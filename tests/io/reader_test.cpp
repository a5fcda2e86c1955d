#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/reader.h"
#include "support/test_util.h"

namespace fs = std::filesystem;

namespace cardiotorch::io {
namespace {

std::string sample(const std::string& name) { return test::source_path("data/sample/cinc2021/" + name); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(ReadRecord, FormatByExtensionAndContent) {
  const std::string dir = test::make_temp_dir("reader_fmt");
  EXPECT_EQ(record_format(sample("E07500")), "wfdb");
  EXPECT_EQ(record_format(sample("E07500.hea")), "wfdb");
  EXPECT_EQ(record_format(sample("E07500.mat")), "mat");
  // Content sniffing for files without a telling extension.
  fs::copy_file(test::source_path("tests/fixtures/io/f4_c.npy"), dir + "/array.bin");
  fs::copy_file(test::source_path("tests/fixtures/io/stored.npz"), dir + "/archive.bin");
  fs::copy_file(test::source_path("tests/fixtures/io/cpsc2018_like.mat"), dir + "/struct.bin");
  test::write_file(dir + "/notes.xyz", "hello\n");
  EXPECT_EQ(record_format(dir + "/array.bin"), "npy");
  EXPECT_EQ(record_format(dir + "/archive.bin"), "npz");
  EXPECT_EQ(record_format(dir + "/struct.bin"), "mat");
  EXPECT_EQ(record_format(dir + "/notes.xyz"), "");
  EXPECT_EQ(record_format(dir), "");
  EXPECT_EQ(read_record(dir + "/struct.bin").n_leads(), 12);
  EXPECT_EQ(read_record(dir + "/array.bin").signal.sizes(), (std::vector<int64_t>{3, 5}));

  EXPECT_EQ(error_of([&] {
              read_record(dir + "/notes.xyz");
            }).rfind(dir + "/notes.xyz: unknown record format; expected a record file (.", 0),
            0u);
  EXPECT_NE(error_of([&] { read_record(dir + "/nothing"); }).find("nothing: no such record"), std::string::npos);
  EXPECT_NE(error_of([&] { read_record(dir); }).find("is a directory"), std::string::npos);
}

TEST(ReadRecord, WindowAndChannelSelectionAgreeAcrossPaths) {
  ReadOptions o;
  o.from = 1000;
  o.to = 1500;
  o.channels = {"V1", "0", "avf"};
  const Record a = read_record(sample("JS20000"), o);      // WFDB decoder
  const Record b = read_record(sample("JS20000.mat"), o);  // matio + header
  const Record full = read_record(sample("JS20000"));
  EXPECT_EQ(a.leads, (std::vector<std::string>{"V1", "I", "aVF"}));
  EXPECT_EQ(b.leads, a.leads);
  ASSERT_EQ(a.signal.sizes(), (std::vector<int64_t>{3, 500}));
  EXPECT_TRUE(at::equal(a.signal, b.signal));
  EXPECT_TRUE(at::equal(a.signal[0], full.signal[6].slice(0, 1000, 1500)));
  EXPECT_TRUE(at::equal(a.signal[2], full.signal[5].slice(0, 1000, 1500)));
  EXPECT_TRUE(a.signal.is_contiguous());

  ReadOptions bad;
  bad.channels = {"V7"};
  EXPECT_THROW(read_record(sample("JS20000.mat"), bad), ConfigError);  // a bad option, not bad data
  EXPECT_THROW(read_record(sample("JS20000"), bad), ConfigError);
  EXPECT_NE(error_of([&] { read_record(sample("JS20000.mat"), bad); }).find("no channel 'V7' (did you mean"),
            std::string::npos);
  bad.channels = {"12"};
  EXPECT_NE(error_of([&] { read_record(sample("JS20000.mat"), bad); }).find("channel index 12 out of range"),
            std::string::npos);
  ReadOptions window;
  window.from = 4000;
  window.to = 6000;
  EXPECT_THROW(read_record(sample("JS20000.mat"), window), ConfigError);
  EXPECT_THROW(read_record(sample("JS20000"), window), ConfigError);
  EXPECT_NE(error_of([&] { read_record(sample("JS20000.mat"), window); }).find("outside the record (5000 samples)"),
            std::string::npos);
}

TEST(ReadRecord, NpyAndNpzRecords) {
  const std::string dir = test::make_temp_dir("reader_npy");
  const at::Tensor x = at::arange(2 * 300, at::kFloat).reshape({2, 300}) / 100;
  write_npy(dir + "/x.npy", x);
  ReadOptions o;
  o.fs = 100;
  const Record r = read_record(dir + "/x.npy", o);
  EXPECT_EQ(r.fs, 100.0);
  EXPECT_EQ(r.leads, (std::vector<std::string>{"ch0", "ch1"}));
  EXPECT_TRUE(at::equal(r.signal, x));
  EXPECT_DOUBLE_EQ(r.duration_s(), 3.0);

  write_npz(dir + "/x.npz", {{"signal", x.to(at::kDouble)}, {"fs", at::scalar_tensor(250.0, at::kDouble)}});
  const Record z = read_record(dir + "/x.npz");
  EXPECT_EQ(z.fs, 250.0);
  EXPECT_TRUE(at::equal(z.signal, x));
  write_npz(dir + "/two.npz", {{"a", x}, {"b", x * 2}});
  ReadOptions pick;
  pick.variable = "b";
  EXPECT_TRUE(at::equal(read_record(dir + "/two.npz", pick).signal, x * 2));
  pick.variable = "c";
  EXPECT_THROW(read_record(dir + "/two.npz", pick), ConfigError);
  pick.variable = "other";  // a named .mat variable
  EXPECT_EQ(read_record(test::source_path("tests/fixtures/io/bare_v5.mat"), pick).signal.sizes(),
            (std::vector<int64_t>{2, 2}));
  EXPECT_NE(error_of([&] { read_record(dir + "/two.npz"); }).find("cannot tell which array is the signal"),
            std::string::npos);
  write_npy(dir + "/cube.npy", at::zeros({2, 2, 2}));
  EXPECT_NE(error_of([&] { read_record(dir + "/cube.npy"); }).find("array has 3 dims"), std::string::npos);
}

TEST(FindRecords, CountsEachCinCRecordOnce) {
  const auto recs = find_records(test::source_path("data/sample/cinc2021"));
  ASSERT_EQ(recs.size(), 50u);
  for (const auto& r : recs) EXPECT_EQ(fs::path(r).extension(), ".hea") << r;
  EXPECT_EQ(fs::path(recs.front()).filename(), "E07500.hea");

  const std::string dir = test::make_temp_dir("find_rec");
  fs::create_directories(dir + "/a/b");
  fs::copy_file(test::source_path("tests/fixtures/io/f4_c.npy"), dir + "/top.npy");
  fs::copy_file(test::source_path("tests/fixtures/io/f4_c.npy"), dir + "/a/b/deep.npy");
  test::write_file(dir + "/a/notes.txt", "x");
  EXPECT_EQ(find_records(dir).size(), 1u);
  const auto all = find_records(dir, true);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(fs::path(all[1]).filename(), "deep.npy");
}

}  // namespace
}  // namespace cardiotorch::io
