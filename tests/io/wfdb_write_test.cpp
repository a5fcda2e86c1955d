// WFDB writer: byte-exact re-encoding of real records, header round-trip, invalid samples.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/wfdb.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace wf = cardiotorch::io::wfdb;

namespace {
std::string bytes_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
std::string sample(const std::string& f) { return ct::test::shared_data("wfdb-python/sample-data") + "/" + f; }
}  // namespace

// Re-encoding a whole single-file record must reproduce its .dat byte for byte, and the
// computed checksums / initial values must equal the original header's.
TEST(WfdbWrite, ReencodesRealRecordsByteForByte) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/100.dat");
  const std::string dir = ct::test::make_temp_dir("wfdb_write");
  struct Case {
    const char* rec;
    int fmt;
  };
  for (const Case& c : {Case{"100", 212}, Case{"100_3chan", 212}, Case{"test01_00s", 16}}) {
    const auto s = wf::read_signals(sample(c.rec), {}, false);
    wf::Header h = s.header;
    h.record_name = std::string("out_") + c.rec;
    wf::WriteOptions wo;
    wo.format = c.fmt;
    const wf::Header written = wf::write_record(dir, h, s.samples, wo);
    EXPECT_EQ(bytes_of(dir + "/" + h.record_name + ".dat"), bytes_of(sample(std::string(c.rec) + ".dat"))) << c.rec;
    const wf::Header back = wf::read_header(dir + "/" + h.record_name);
    ASSERT_EQ(back.signals.size(), s.header.signals.size());
    EXPECT_EQ(back.n_samples, s.header.n_samples);
    EXPECT_EQ(back.fs, s.header.fs);
    EXPECT_EQ(back.comments, s.header.comments);
    for (size_t i = 0; i < back.signals.size(); ++i) {
      const auto &o = s.header.signals[i], &b = back.signals[i];
      EXPECT_EQ(static_cast<int16_t>(b.checksum), static_cast<int16_t>(o.checksum))
          << c.rec << " " << i;  // some headers write it unsigned
      EXPECT_EQ(b.initial_value, o.initial_value) << c.rec << " " << i;
      EXPECT_EQ(b.adc_gain, o.adc_gain);
      EXPECT_EQ(b.baseline, o.baseline);
      EXPECT_EQ(b.adc_zero, o.adc_zero);
      EXPECT_EQ(b.units, o.units);
      EXPECT_EQ(b.description, o.description);
      EXPECT_EQ(b.format, c.fmt);
      // The returned header is what was written.
      EXPECT_EQ(written.signals[i].checksum, b.checksum);
    }
    EXPECT_EQ(wf::read_signals(dir + "/" + h.record_name, {}, false).samples, s.samples) << c.rec;
  }
}

TEST(WfdbWrite, RoundTripsBothFormatsWithInvalidSamplesAndOddLength) {
  const std::string dir = ct::test::make_temp_dir("wfdb_write_rt");
  for (int fmt : {16, 212}) {
    wf::Header h;
    h.record_name = "syn" + std::to_string(fmt);
    h.fs = 500;
    h.base_time = "10:11:12";
    h.base_date = "01/02/2020";
    h.comments = {"Age: 50", "Dx: 426783006"};
    const int32_t lim = fmt == 16 ? 32767 : 2047;
    std::vector<std::vector<int32_t>> x(3, std::vector<int32_t>(1001));
    for (size_t c = 0; c < 3; ++c) {
      wf::SignalSpec s;
      s.adc_gain = 100.0 * (c + 1);
      s.baseline = static_cast<int64_t>(c) - 1;
      s.baseline_given = true;
      s.units = c == 2 ? "uV" : "mV";
      s.description = c == 0 ? "I" : c == 1 ? "lead II" : "V1";
      h.signals.push_back(s);
      for (size_t i = 0; i < x[c].size(); ++i)
        x[c][i] =
            static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + static_cast<int64_t>(c) * 104729) % (2 * lim + 1)) -
            lim;
    }
    x[1][5] = wf::kInvalidSample;
    x[2][1000] = -lim;
    wf::WriteOptions wo;
    wo.format = fmt;
    wf::write_record(dir, h, x, wo);
    const auto back = wf::read_signals(dir + "/" + h.record_name);
    EXPECT_EQ(back.samples, x) << fmt;
    EXPECT_TRUE(std::isnan(back.physical[1][5]));
    EXPECT_DOUBLE_EQ(back.physical[0][3], (x[0][3] - (-1)) / 100.0);
    EXPECT_EQ(back.header.base_time, "10:11:12");
    EXPECT_EQ(back.header.base_date, "01/02/2020");
    EXPECT_EQ(back.header.comments, h.comments);
    EXPECT_EQ(back.names, (std::vector<std::string>{"I", "lead II", "V1"}));
    EXPECT_EQ(back.units, (std::vector<std::string>{"mV", "mV", "uV"}));
    EXPECT_EQ(back.gain, (std::vector<double>{100, 200, 300}));
    EXPECT_EQ(back.baseline, (std::vector<int64_t>{-1, 0, 1}));
  }
}

TEST(WfdbWrite, RejectsValuesThatDoNotFitAndBadShapes) {
  const std::string dir = ct::test::make_temp_dir("wfdb_write_bad");
  wf::Header h;
  h.record_name = "bad";
  h.fs = 100;
  h.signals.resize(1);
  wf::WriteOptions wo;
  wo.format = 212;
  try {
    wf::write_record(dir, h, {{0, 1, 2048}}, wo);
    ADD_FAILURE() << "no error";
  } catch (const ct::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("sample 2 = 2048 does not fit format 212"), std::string::npos) << e.what();
  }
  EXPECT_THROW(wf::write_record(dir, h, {{0}, {1}}, wo), ct::ArgumentError);
  wo.format = 80;
  EXPECT_THROW(wf::write_record(dir, h, {{0}}, wo), ct::ArgumentError);
}
