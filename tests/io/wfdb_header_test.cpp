// WFDB header parsing: every field, defaults, real-world quirks, format/parse round-trip.
#include <gtest/gtest.h>

#include <filesystem>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/wfdb.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace wf = cardiotorch::io::wfdb;

namespace {

std::string parse_error(const std::string& text, const std::string& origin = "x.hea") {
  try {
    wf::parse_header(text, origin);
  } catch (const ct::DataError& e) {
    return e.what();
  }
  return "<no error>";
}

void expect_same_header(const wf::Header& a, const wf::Header& b, const std::string& what) {
  EXPECT_EQ(a.record_name, b.record_name) << what;
  EXPECT_EQ(a.n_segments, b.n_segments) << what;
  EXPECT_EQ(a.n_signals, b.n_signals) << what;
  EXPECT_EQ(a.fs, b.fs) << what;
  EXPECT_EQ(a.counter_freq, b.counter_freq) << what;
  EXPECT_EQ(a.base_counter, b.base_counter) << what;
  EXPECT_EQ(a.n_samples, b.n_samples) << what;
  EXPECT_EQ(a.base_time, b.base_time) << what;
  EXPECT_EQ(a.base_date, b.base_date) << what;
  EXPECT_EQ(a.comments, b.comments) << what;
  ASSERT_EQ(a.segments.size(), b.segments.size()) << what;
  for (size_t i = 0; i < a.segments.size(); ++i) {
    EXPECT_EQ(a.segments[i].name, b.segments[i].name) << what;
    EXPECT_EQ(a.segments[i].n_samples, b.segments[i].n_samples) << what;
  }
  ASSERT_EQ(a.signals.size(), b.signals.size()) << what;
  for (size_t i = 0; i < a.signals.size(); ++i) {
    const auto &x = a.signals[i], &y = b.signals[i];
    EXPECT_EQ(x.file_name, y.file_name) << what << " signal " << i;
    EXPECT_EQ(x.format, y.format) << what << " signal " << i;
    EXPECT_EQ(x.samples_per_frame, y.samples_per_frame) << what << " signal " << i;
    EXPECT_EQ(x.skew, y.skew) << what << " signal " << i;
    EXPECT_EQ(x.byte_offset, y.byte_offset) << what << " signal " << i;
    EXPECT_EQ(x.adc_gain, y.adc_gain) << what << " signal " << i;
    EXPECT_EQ(x.baseline, y.baseline) << what << " signal " << i;
    EXPECT_EQ(x.units, y.units) << what << " signal " << i;
    EXPECT_EQ(x.adc_zero, y.adc_zero) << what << " signal " << i;
    EXPECT_EQ(x.initial_value, y.initial_value) << what << " signal " << i;
    EXPECT_EQ(x.checksum, y.checksum) << what << " signal " << i;
    EXPECT_EQ(x.block_size, y.block_size) << what << " signal " << i;
    EXPECT_EQ(x.description, y.description) << what << " signal " << i;
  }
}

}  // namespace

TEST(WfdbHeader, AllFieldsOfRecordAndSignalLines) {
  const auto h = wf::parse_header(
      "# leading comment\r\n"
      "rec01 2 360/720(5) 1000 12:34:56.5 01/02/2003\r\n"
      "rec01.dat 16x2:3+24 1000.5(-7)/mv 15 5 6 -123 512 ECG lead II\r\n"
      "\r\n"
      "rec01.dat 16 2.5e+03/uV 16 0 0 0 0 V1\r\n"
      "#   trailing comment  \r\n",
      "rec01.hea");
  EXPECT_EQ(h.record_name, "rec01");
  EXPECT_FALSE(h.is_multi_segment());
  EXPECT_EQ(h.n_signals, 2);
  EXPECT_DOUBLE_EQ(h.fs, 360);
  EXPECT_DOUBLE_EQ(h.counter_freq, 720);
  EXPECT_DOUBLE_EQ(h.base_counter, 5);
  EXPECT_EQ(h.n_samples, 1000);
  EXPECT_EQ(h.base_time, "12:34:56.5");
  EXPECT_EQ(h.base_date, "01/02/2003");
  EXPECT_DOUBLE_EQ(h.base_time_seconds(), 12 * 3600 + 34 * 60 + 56.5);
  ASSERT_EQ(h.signals.size(), 2u);
  const auto& s = h.signals[0];
  EXPECT_EQ(s.file_name, "rec01.dat");
  EXPECT_EQ(s.format, 16);
  EXPECT_EQ(s.samples_per_frame, 2);
  EXPECT_EQ(s.skew, 3);
  EXPECT_EQ(s.byte_offset, 24);
  EXPECT_DOUBLE_EQ(s.adc_gain, 1000.5);
  EXPECT_TRUE(s.gain_given);
  EXPECT_EQ(s.baseline, -7);
  EXPECT_EQ(s.units, "mv");
  EXPECT_EQ(s.adc_resolution, 15);
  EXPECT_EQ(s.adc_zero, 5);
  EXPECT_EQ(s.initial_value, 6);
  EXPECT_EQ(s.checksum, -123);
  EXPECT_EQ(s.block_size, 512);
  EXPECT_EQ(s.description, "ECG lead II");
  EXPECT_EQ(s.line, 3);
  EXPECT_DOUBLE_EQ(h.signals[1].adc_gain, 2500);
  EXPECT_EQ(h.signals[1].units, "uV");
  EXPECT_EQ(h.signals[1].line, 5);
  EXPECT_EQ(h.comments, (std::vector<std::string>{"leading comment", "  trailing comment"}));
}

TEST(WfdbHeader, DefaultsWhenFieldsAreOmitted) {
  const auto h = wf::parse_header("r 1\nr.dat 212\n", "r.hea");
  EXPECT_DOUBLE_EQ(h.fs, 250);
  EXPECT_FALSE(h.fs_given);
  EXPECT_EQ(h.n_samples, -1);
  const auto& s = h.signals[0];
  EXPECT_DOUBLE_EQ(s.adc_gain, 200);
  EXPECT_FALSE(s.gain_given);
  EXPECT_EQ(s.units, "mV");
  EXPECT_EQ(s.baseline, 0);
  EXPECT_EQ(s.description, "");
  // Baseline defaults to ADC zero; gain 0 means uncalibrated (default 200).
  const auto z = wf::parse_header("r 1 100 10\nr.dat 16 0 12 1024\n");
  EXPECT_EQ(z.signals[0].baseline, 1024);
  EXPECT_EQ(z.signals[0].initial_value, 1024);
  EXPECT_DOUBLE_EQ(z.signals[0].adc_gain, 200);
  EXPECT_FALSE(z.signals[0].gain_given);
}

TEST(WfdbHeader, MultiSegmentFixedAndVariableLayouts) {
  const auto v = wf::parse_header("big/4 2 125 300 16:57:09.000 26/10/2137\nbig_layout 0\n~ 100\nseg1 150\nseg2 50\n");
  EXPECT_TRUE(v.is_multi_segment());
  EXPECT_EQ(v.n_segments, 4);
  EXPECT_TRUE(v.has_layout_segment());
  EXPECT_EQ(v.segments[1].name, "~");
  EXPECT_EQ(v.segments[2].n_samples, 150);
  const auto f = wf::parse_header("fx/2 4 250 200\nfx_1 100\nfx_2 100\n# note\n");
  EXPECT_FALSE(f.has_layout_segment());
  EXPECT_EQ(f.comments, std::vector<std::string>{"note"});
  EXPECT_NE(parse_error("m/2 1 250 300\na 100\nb 100\n").find("segment lengths sum to 200"), std::string::npos);
  EXPECT_NE(parse_error("m/2 1 250\na 100\nb 0\n").find("x.hea:3: field 'segment length'"), std::string::npos);
}

TEST(WfdbHeader, RealWorldQuirks) {
  // CinC 2020: ".mat" record name on line 1, date before time.
  const auto c =
      wf::parse_header("E00001.mat 1 500 5000 05-May-2020 12:33:59\nE00001.mat 16+24 1000/mv 16 0 28 -1716 0 I\n");
  EXPECT_EQ(c.record_name, "E00001.mat");
  EXPECT_EQ(c.base_time, "12:33:59");
  EXPECT_EQ(c.base_date, "05-May-2020");
  EXPECT_EQ(c.signals[0].byte_offset, 24);
  EXPECT_EQ(c.signals[0].units, "mv");
  // UTF-8 BOM, tabs, no final newline, blank lines.
  const auto b = wf::parse_header("\xEF\xBB\xBFr\t1\t500\n\n  \nr.dat\t16\t200/mV\t16\t0\t0\t0\t0\tII");
  EXPECT_EQ(b.record_name, "r");
  EXPECT_EQ(b.signals[0].description, "II");
}

TEST(WfdbHeader, ErrorsNameFileLineAndField) {
  EXPECT_NE(parse_error("r 1 250 10\nr.dat 999 200\n").find("x.hea:2: field 'format': unknown WFDB signal format 999"),
            std::string::npos);
  EXPECT_NE(parse_error("r 1 250 10\nr.dat 16 abc/mV\n").find("x.hea:2: field 'ADC gain'"), std::string::npos);
  EXPECT_NE(parse_error("r 1 250 10\nr.dat 16 -5/mV\n").find("x.hea:2: field 'ADC gain'"), std::string::npos);
  EXPECT_NE(parse_error("r 1 250 10\nr.dat 16 1e400/mV\n").find("field 'ADC gain'"), std::string::npos);
  EXPECT_NE(parse_error("r 1 0 10\nr.dat 16\n").find("x.hea:1: field 'sampling frequency'"), std::string::npos);
  EXPECT_NE(parse_error("r 1 -3 10\nr.dat 16\n").find("'sampling frequency'"), std::string::npos);
  EXPECT_NE(parse_error("r x 250\n").find("x.hea:1: field 'number of signals'"), std::string::npos);
  EXPECT_NE(parse_error("r 1 250 ten\nr.dat 16\n").find("field 'number of samples'"), std::string::npos);
  EXPECT_NE(parse_error("r 3 250 10\nr.dat 16\nr.dat 16\n").find("announces 3 signals, found only 2"),
            std::string::npos);
  EXPECT_NE(parse_error("r 1 250 10\nr.dat 16\nr.dat 16\n").find("x.hea:3: unexpected line"), std::string::npos);
  EXPECT_NE(parse_error("r 1 250 10\nr.dat 16x0\n").find("field 'samples per frame'"), std::string::npos);
  EXPECT_NE(parse_error("r 1 250 10\nr.dat 16q\n").find("field 'format'"), std::string::npos);
  EXPECT_NE(parse_error("r 1 250 10\nr.dat 16 200(1x)/mV\n").find("field 'baseline'"), std::string::npos);
  EXPECT_NE(parse_error("r 1 250 10 noon\nr.dat 16\n").find("field 'base time'"), std::string::npos);
  EXPECT_NE(parse_error("r 1 250 10 1:00:00 1/2\nr.dat 16\n").find("field 'base date'"), std::string::npos);
  EXPECT_NE(parse_error("r 1 250 10\nr.dat 16 200 12 0 0 x\n").find("field 'checksum'"), std::string::npos);
  EXPECT_NE(parse_error("").find("x.hea: no record line"), std::string::npos);
  EXPECT_NE(parse_error(std::string("r 1\0 250", 8)).find("NUL byte"), std::string::npos);
  EXPECT_NE(parse_error("r 1 250/0 10\nr.dat 16\n").find("counter frequency"), std::string::npos);
}

TEST(WfdbHeader, FormatParseRoundTrip) {
  const std::string text = "rec/3 2 360/720(5) 1000 12:34:56.5 01/02/2003\nrec_layout 0\nrec_1 600\nrec_2 400\n# c1\n";
  const auto a = wf::parse_header(text);
  expect_same_header(a, wf::parse_header(wf::format_header(a)), "multi");
  const auto s =
      wf::parse_header("r 2 500 10\nr.dat 16x2:3+24 1000.5(-7)/mv 15 5 6 -123 512 ECG lead II\nr.dat 212 0 12 3\n");
  expect_same_header(s, wf::parse_header(wf::format_header(s)), "single");
}

TEST(WfdbHeader, EverySharedHeaderParsesAndRoundTrips) {
  CT_REQUIRE_SHARED("wfdb-python");
  namespace fs = std::filesystem;
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(ct::test::shared_data("."))) {
    if (e.path().extension() != ".hea") continue;
    const std::string path = e.path().string();
    wf::Header h;
    ASSERT_NO_THROW(h = wf::read_header(path)) << path;
    expect_same_header(h, wf::parse_header(wf::format_header(h), path), path);
    ++n;
  }
  EXPECT_GT(n, 1000u);
}

TEST(WfdbHeader, MitdbHeaderIsCrlf) {
  CT_REQUIRE_SHARED("mitdb/101.hea");
  const auto h = wf::read_header(ct::test::shared_data("mitdb/101.hea"));
  EXPECT_EQ(h.record_name, "101");
  EXPECT_DOUBLE_EQ(h.fs, 360);
  EXPECT_EQ(h.n_samples, 650000);
  ASSERT_EQ(h.signals.size(), 2u);
  EXPECT_EQ(h.signals[0].format, 212);
  EXPECT_EQ(h.signals[0].description, "MLII");
  EXPECT_EQ(h.signals[0].baseline, 1024);
  EXPECT_DOUBLE_EQ(h.signals[0].adc_gain, 200);
  for (const auto& c : h.comments) EXPECT_EQ(c.find('\r'), std::string::npos);
}
