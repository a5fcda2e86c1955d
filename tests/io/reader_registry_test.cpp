// A record format, a writer and a dataset layout added from one file each, as a new format
// (cardiac MRI next) would be: nothing else in the library changes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "cardiotorch/core/file.h"
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/writer.h"
#include "io/reader_util.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace io = cardiotorch::io;

namespace {

// "ECGTXT <fs>" then one line of samples per lead.
class TextReader : public io::RecordReader {
 public:
  std::vector<std::string> extensions() const override { return {".ecgtxt"}; }
  bool sniff(const std::string&, const std::string& head) const override { return head.rfind("ECGTXT ", 0) == 0; }
  io::Record read(const std::string& path, const io::ReadOptions& options) const override {
    std::istringstream in(ct::read_file(path));
    std::string magic;
    io::Record r;
    in >> magic >> r.fs;
    CT_CHECK(magic == "ECGTXT", ct::DataError, path, ": not an ECGTXT file");
    std::vector<at::Tensor> rows;
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::vector<float> v;
      for (float f; ls >> f;) v.push_back(f);
      rows.push_back(at::tensor(v, at::kFloat));
      r.leads.push_back("L" + std::to_string(rows.size()));
    }
    r.signal = at::stack(rows);
    r.units.assign(rows.size(), "mV");
    r.name = std::filesystem::path(path).stem().string();
    r.source = path;
    io::apply_window_and_channels(r, options);
    return r;
  }
};

class TextWriter : public io::RecordWriter {
 public:
  std::vector<std::string> extensions() const override { return {".ecgtxt"}; }
  void write(const io::Record& r, const std::string& path, const io::WriteRecordOptions&) const override {
    std::ostringstream out;
    out << "ECGTXT " << r.fs << "\n";
    const at::Tensor s = r.signal.to(at::kFloat).contiguous();
    for (int64_t c = 0; c < s.size(0); ++c) {
      for (int64_t i = 0; i < s.size(1); ++i) out << (i ? " " : "") << s[c][i].item<float>();
      out << "\n";
    }
    ct::write_file(path, out.str());
  }
};

struct MarkerDetector : ct::data::DatasetDetector {
  std::string detect(const std::string& dir) const override {
    return std::filesystem::exists(std::filesystem::path(dir) / "ECGTXT_DATASET") ? "folder" : "";
  }
};

}  // namespace

CT_REGISTER(io::reader_registry(), "ecgtxt", io::make_reader<TextReader>, "test-only text records")
CT_REGISTER(io::writer_registry(), "ecgtxt", io::make_writer<TextWriter>, "test-only text records")
CT_REGISTER(ct::data::dataset_detector_registry(), "zz_ecgtxt", ct::data::make_detector<MarkerDetector>,
            "test-only marker file")

TEST(ReaderRegistry, ANewFormatIsOneRegistration) {
  const std::string dir = ct::test::make_temp_dir("reader_registry");
  ct::test::write_file(dir + "/a.ecgtxt", "ECGTXT 4\n1 2 3 4 5\n-1 -2 -3 -4 -5\n");
  ct::test::write_file(dir + "/noext", "ECGTXT 2\n7 8\n");
  ct::test::write_file(dir + "/sub/b.ecgtxt", "ECGTXT 4\n0 0\n");
  EXPECT_EQ(io::record_format(dir + "/a.ecgtxt"), "ecgtxt");
  EXPECT_EQ(io::record_format(dir + "/noext"), "ecgtxt");  // by content
  io::ReadOptions o;
  o.channels = {"L2"};
  o.from = 1;
  o.to = 4;
  const io::Record r = io::read_record(dir + "/a.ecgtxt", o);
  EXPECT_EQ(r.fs, 4.0);
  EXPECT_EQ(r.leads, std::vector<std::string>{"L2"});
  EXPECT_TRUE(at::equal(r.signal, at::tensor({-2.0f, -3.0f, -4.0f}).reshape({1, 3})));
  // Header-level info falls back to decoding; directory listings and summaries include it.
  const io::RecordInfo info = io::read_record_info(dir + "/a.ecgtxt");
  EXPECT_EQ(info.format, "ecgtxt");
  EXPECT_EQ(info.n_samples, 5);
  EXPECT_EQ(io::find_records(dir, true), (std::vector<std::string>{dir + "/a.ecgtxt", dir + "/sub/b.ecgtxt"}));
  const auto exts = io::record_extensions();
  EXPECT_NE(std::find(exts.begin(), exts.end(), ".ecgtxt"), exts.end());
}

TEST(ReaderRegistry, WritersAreARegistryToo) {
  const std::string dir = ct::test::make_temp_dir("writer_registry");
  io::Record r;
  r.fs = 250;
  r.signal = at::arange(6, at::kFloat).reshape({2, 3});
  r.leads = {"I", "II"};
  io::write_record(r, dir + "/out/x.ecgtxt");  // creates out/
  EXPECT_EQ(ct::read_file(dir + "/out/x.ecgtxt"), "ECGTXT 250\n0 1 2\n3 4 5\n");
  EXPECT_TRUE(at::equal(io::read_record(dir + "/out/x.ecgtxt").signal, r.signal));
  EXPECT_EQ(io::writer_format(dir + "/y.NPY"), "npy");
  EXPECT_EQ(io::writer_format(dir + "/y.txt"), "");
  try {
    io::write_record(r, dir + "/y.txt");
    ADD_FAILURE();
  } catch (const ct::ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("y.txt: no writer for this extension (writers: .csv, .ecgtxt, .npy"),
              std::string::npos)
        << e.what();
  }
}

TEST(ReaderRegistry, DatasetLayoutsAreDetectedByRegisteredDetectors) {
  const std::string dir = ct::test::make_temp_dir("detector_registry");
  EXPECT_EQ(ct::data::detect_dataset(dir), "");
  ct::test::write_file(dir + "/ECGTXT_DATASET", "");
  EXPECT_EQ(ct::data::detect_dataset(dir), "folder");
  EXPECT_EQ(ct::data::detect_dataset(dir + "/missing"), "");
  const auto names = ct::data::dataset_detector_registry().names();
  for (const char* n : {"cinc2017", "cinc2020", "ludb", "mitdb", "ptbxl", "zz_ecgtxt"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
}
