// WFDB reader conformance: every record of ../shared/data/wfdb-python against the reference
// outputs of the C WFDB tools (rdsamp), with the reader arguments of wfdb-python's tests.
// Digital output must match exactly; physical output to the 8 decimals rdsamp -P prints.
#include <gtest/gtest.h>

#include <cmath>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/wfdb.h"
#include "io/wfdb_test_util.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace wf = cardiotorch::io::wfdb;
using ct::test::read_table;
using ct::test::shared_data;
using ct::test::Table;

namespace {

const char* kSample = "wfdb-python/sample-data/";
const char* kTarget = "wfdb-python/target-output/";

std::string rec(const std::string& name) { return shared_data(std::string(kSample) + name + ".hea"); }
Table target(const std::string& name) { return read_table(shared_data(std::string(kTarget) + name)); }

wf::SignalReadOptions window(int64_t from, int64_t to, std::vector<int> ch = {}, bool expand = false) {
  wf::SignalReadOptions o;
  o.from = from;
  o.to = to;
  o.channels = std::move(ch);
  o.expand_frames = expand;
  return o;
}

// Compares the first `nrows` rows. `invalid_as` replaces kInvalidSample in our output
// (some reference files had -32768 rewritten by sed, see the data README).
::testing::AssertionResult digital_equal(const std::vector<std::vector<int32_t>>& ch, const Table& t, size_t nrows,
                                         int32_t invalid_as = wf::kInvalidSample) {
  if (t.rows != nrows) return ::testing::AssertionFailure() << "target has " << t.rows << " rows, expected " << nrows;
  if (t.cols != ch.size())
    return ::testing::AssertionFailure() << "target has " << t.cols << " cols, we have " << ch.size();
  size_t bad = 0;
  std::ostringstream first;
  for (size_t c = 0; c < ch.size(); ++c) {
    if (ch[c].size() < nrows)
      return ::testing::AssertionFailure() << "channel " << c << " has " << ch[c].size() << " samples";
    for (size_t r = 0; r < nrows; ++r) {
      const int32_t ours = ch[c][r] == wf::kInvalidSample ? invalid_as : ch[c][r];
      if (static_cast<double>(ours) != t.at(r, c)) {
        if (bad++ == 0) first << "row " << r << " col " << c << ": ours " << ours << " target " << t.at(r, c);
      }
    }
  }
  if (bad) return ::testing::AssertionFailure() << bad << " mismatches, first " << first.str();
  return ::testing::AssertionSuccess();
}

// rdsamp -P prints 8 decimals: a match is |ours - target| within half a unit of the last
// printed digit (plus 1e-9 relative for large values).
::testing::AssertionResult physical_equal(const std::vector<std::vector<double>>& ch, const Table& t, size_t nrows) {
  if (t.rows != nrows) return ::testing::AssertionFailure() << "target has " << t.rows << " rows, expected " << nrows;
  if (t.cols != ch.size())
    return ::testing::AssertionFailure() << "target has " << t.cols << " cols, we have " << ch.size();
  size_t bad = 0;
  std::ostringstream first;
  for (size_t c = 0; c < ch.size(); ++c) {
    if (ch[c].size() < nrows)
      return ::testing::AssertionFailure() << "channel " << c << " has " << ch[c].size() << " samples";
    for (size_t r = 0; r < nrows; ++r) {
      const double tv = t.at(r, c), ov = ch[c][r];
      const bool same = std::isnan(tv) ? std::isnan(ov) : std::fabs(ov - tv) <= 5.0000001e-9 + 1e-9 * std::fabs(tv);
      if (!same) {
        if (bad++ == 0) first << "row " << r << " col " << c << ": ours " << ov << " target " << tv;
      }
    }
  }
  if (bad) return ::testing::AssertionFailure() << bad << " mismatches, first " << first.str();
  return ::testing::AssertionSuccess();
}

#define WFDB_REQUIRE() CT_REQUIRE_SHARED("wfdb-python/sample-data")

}  // namespace

TEST(WfdbConformance, Record1aFormat16Digital) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("test01_00s"), {}, false);
  EXPECT_TRUE(digital_equal(s.samples, target("record-1a"), 4000));
}

TEST(WfdbConformance, Record1bByteOffsetWindowChannelsPhysical) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("a103l"), window(12500, 40000, {2, 0}));
  EXPECT_EQ(s.names, (std::vector<std::string>{"PLETH", "II"}));
  EXPECT_TRUE(physical_equal(s.physical, target("record-1b"), 27500));
}

TEST(WfdbConformance, Record1cFromDigital) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("a103l"), window(20000, -1, {0, 1}, true), false);
  EXPECT_TRUE(digital_equal(s.samples, target("record-1c"), 62500));
}

TEST(WfdbConformance, Record1dFormat80Physical) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("3000003_0003"), window(125, 1000, {1}));
  EXPECT_TRUE(physical_equal(s.physical, target("record-1d"), 875));
}

TEST(WfdbConformance, Record1fAllBinaryFormatsAndWindows) {
  WFDB_REQUIRE();
  const Table t = target("record-1f.gz");
  auto all = wf::read_signals(rec("binformats"), {}, false);
  ASSERT_EQ(all.n_frames, 499);
  EXPECT_TRUE(digital_equal(all.samples, t, 499));
  // Every window [from, to) near both ends, including the difference format 8 (decoded from
  // the file start) and the packed formats whose first sample is mid-unit.
  for (int64_t from = 0; from < 3; ++from)
    for (int64_t to = 496; to < 499; ++to) {
      auto w = wf::read_signals(rec("binformats"), window(from, to), false);
      ASSERT_EQ(w.n_frames, to - from);
      for (size_t c = 0; c < w.samples.size(); ++c)
        for (int64_t i = 0; i < to - from; ++i)
          ASSERT_EQ(w.samples[c][static_cast<size_t>(i)], all.samples[c][static_cast<size_t>(from + i)])
              << "format " << all.header.signals[c].format << " window " << from << ".." << to;
    }
}

TEST(WfdbConformance, RecordFlacFormats) {
  WFDB_REQUIRE();
  if (!wf::flac_available()) {
    EXPECT_THROW(wf::read_signals(rec("flacformats")), ct::DataError);
    GTEST_SKIP() << "built without libFLAC";
  }
  const auto all = wf::read_signals(rec("flacformats"), {}, false);
  EXPECT_TRUE(digital_equal(all.samples, target("record-flac.gz"), 499));
  for (int64_t from = 0; from < 3; ++from)
    for (int64_t to = 496; to < 499; ++to) {
      auto w = wf::read_signals(rec("flacformats"), window(from, to), false);
      for (size_t c = 0; c < w.samples.size(); ++c)
        for (int64_t i = 0; i < to - from; ++i)
          ASSERT_EQ(w.samples[c][static_cast<size_t>(i)], all.samples[c][static_cast<size_t>(from + i)]);
    }
}

TEST(WfdbConformance, FlacLongDurationConstant) {
  WFDB_REQUIRE();
  if (!wf::flac_available()) GTEST_SKIP() << "built without libFLAC";
  const auto s = wf::read_signals(rec("flac_3_constant"));
  ASSERT_EQ(s.n_frames, 5600000);
  const double expect[3] = {0.125, 0.25, 0.375};
  for (size_t c = 0; c < 3; ++c) {
    size_t bad = 0;
    for (double v : s.physical[c]) bad += v != expect[c];
    EXPECT_EQ(bad, 0u) << "channel " << c;
  }
  // A window deep in the stream (seek) gives the same values.
  auto w = wf::read_signals(rec("flac_3_constant"), window(5000000, 5000010));
  for (size_t c = 0; c < 3; ++c)
    for (double v : w.physical[c]) EXPECT_EQ(v, expect[c]);
}

TEST(WfdbConformance, MixedSignalsFlacFramesSmoothEqualsMeanOfExpanded) {
  WFDB_REQUIRE();
  if (!wf::flac_available()) GTEST_SKIP() << "built without libFLAC";
  const auto hi = wf::read_signals(rec("mixedsignals"), window(0, -1, {}, true), false);
  const auto lo = wf::read_signals(rec("mixedsignals"), {}, false);
  ASSERT_EQ(hi.samples_per_frame, (std::vector<int>{4, 4, 4, 2, 2, 1}));
  ASSERT_EQ(lo.n_frames, 14400);
  for (size_t c = 0; c < 6; ++c) {
    const int spf = hi.samples_per_frame[c];
    ASSERT_EQ(hi.samples[c].size(), static_cast<size_t>(14400 * spf));
    for (int64_t i = 0; i < 14400; ++i) {
      int64_t sum = 0;
      for (int q = 0; q < spf; ++q) sum += hi.samples[c][static_cast<size_t>(i * spf + q)];
      ASSERT_EQ(lo.samples[c][static_cast<size_t>(i)], static_cast<int32_t>(sum / spf)) << c << " " << i;
    }
  }
}

TEST(WfdbConformance, Record2bFormat212WindowChannel) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("100"), window(1, 10800, {1}), false);
  EXPECT_EQ(s.names, std::vector<std::string>{"V5"});
  EXPECT_TRUE(digital_equal(s.samples, target("record-2b"), 10799));
}

TEST(WfdbConformance, Record2cFormat212OddSamplesPhysical) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("100_3chan"));
  EXPECT_TRUE(physical_equal(s.physical, target("record-2c"), 999));
}

TEST(WfdbConformance, Record2dFormat310) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("310derive"), window(2, -1), false);
  EXPECT_TRUE(digital_equal(s.samples, target("record-2d"), 1024));
}

TEST(WfdbConformance, Record2eFormat311Physical) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("311derive"), window(1, 978));
  EXPECT_TRUE(physical_equal(s.physical, target("record-2e"), 977));
}

TEST(WfdbConformance, Record3bTwoSignalFilesPhysical) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("s0010_re"), window(5000, 38000, {13, 0, 4, 8, 3}));
  EXPECT_EQ(s.names, (std::vector<std::string>{"vy", "i", "avl", "v3", "avr"}));
  EXPECT_TRUE(physical_equal(s.physical, target("record-3b"), 33000));
}

TEST(WfdbConformance, Record4aSkewAndFramesDigital) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("test01_00s_skewframe"), {}, false);
  ASSERT_EQ(s.n_frames, 4000);
  // rdsamp stops where the skewed signal runs out (3 frames early); we fill those with invalid.
  EXPECT_TRUE(digital_equal(s.samples, target("record-4a"), 3997));
  for (int64_t i = 3997; i < 4000; ++i) EXPECT_EQ(s.samples[0][static_cast<size_t>(i)], wf::kInvalidSample);
  EXPECT_NE(s.samples[1][3999], wf::kInvalidSample);
}

TEST(WfdbConformance, Record4bFormat212FramesAndSkew) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("03700181"), {}, false);
  ASSERT_EQ(s.n_frames, 75000);
  EXPECT_TRUE(digital_equal(s.samples, target("record-4b"), 74996));
}

TEST(WfdbConformance, Record4cFramesSkewWindowPhysical) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("03700181"), window(1000, 16000, {0, 2}));
  EXPECT_TRUE(physical_equal(s.physical, target("record-4c"), 15000));
}

TEST(WfdbConformance, Record4dExpandedFramesPhysical) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("test01_00s_skewframe"), window(0, -1, {}, true));
  ASSERT_EQ(s.samples_per_frame, (std::vector<int>{1, 2, 1}));
  // rdsamp -H: one row per high-resolution sample, signals with 1 sample/frame repeated.
  std::vector<std::vector<double>> hi(3);
  for (int c : {0, 2})
    for (size_t i = 0; i + 3 < s.physical[c].size(); ++i) hi[c].insert(hi[c].end(), 2, s.physical[c][i]);
  hi[1].assign(s.physical[1].begin(), s.physical[1].end() - 6);
  EXPECT_TRUE(physical_equal(hi, target("record-4d"), 7994));
}

TEST(WfdbConformance, MultiSegmentFixedWindowAcrossSegments) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("multi-segment/fixed1/v102s"), window(70000, 80000, {1, 0, 3}));
  EXPECT_EQ(s.names, (std::vector<std::string>{"V", "II", "RESP"}));
  EXPECT_TRUE(physical_equal(s.physical, target("record-multi-fixed-c"), 10000));
  const auto m = wf::read_physical(rec("multi-segment/fixed1/v102s"), window(70000, 80000, {1, 0, 3}));
  ASSERT_EQ(m.rows, 3);
  ASSERT_EQ(m.cols, 10000);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < 10000; i += 7) {
      const double a = m(c, i), b = s.physical[static_cast<size_t>(c)][static_cast<size_t>(i)];
      ASSERT_TRUE(std::isnan(a) ? std::isnan(b) : a == b) << c << " " << i;
    }
}

TEST(WfdbConformance, MultiSegmentFixedExpandedFrames) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("multi-segment/041s/041s"), window(0, -1, {3, 2, 1}, true), false);
  ASSERT_EQ(s.n_frames, 2000);
  std::vector<std::vector<int32_t>> hi(3);
  for (size_t c = 0; c < 3; ++c) {
    const size_t rep = static_cast<size_t>(4 / s.samples_per_frame[c]);
    for (int32_t v : s.samples[c]) hi[c].insert(hi[c].end(), rep, v);
  }
  // The reference had rdsamp's -32768 rewritten to -2048 (format 212's sentinel).
  EXPECT_TRUE(digital_equal(hi, target("record-multi-fixed-d.gz"), 8000, -2048));
}

TEST(WfdbConformance, MultiSegmentVariableLayoutDigital) {
  WFDB_REQUIRE();
  auto s = wf::read_signals(rec("multi-segment/p000878/p000878-2137-10-26-16-57"), window(3550, 7500, {0, 1}), false);
  EXPECT_EQ(s.names, (std::vector<std::string>{"PLETH", "II"}));
  // The first 3750 samples are a null segment ('~'): invalid, written as -128 in the reference.
  EXPECT_EQ(s.samples[0][0], wf::kInvalidSample);
  EXPECT_TRUE(digital_equal(s.samples, target("record-multi-variable-d"), 3950, -128));
  // Physical: NaN where invalid, (d - baseline) / gain elsewhere.
  auto p = wf::read_signals(rec("multi-segment/p000878/p000878-2137-10-26-16-57"), window(3550, 7500, {0, 1}));
  EXPECT_TRUE(std::isnan(p.physical[0][0]));
  EXPECT_DOUBLE_EQ(p.physical[0][3949], (s.samples[0][3949] - p.baseline[0]) / p.gain[0]);
}

TEST(WfdbConformance, NoLengthHeadersEqualFullHeaders) {
  WFDB_REQUIRE();
  for (const char* pair : {"100", "a103l"}) {
    auto a = wf::read_signals(rec(pair), {}, false);
    auto b = wf::read_signals(rec(std::string(pair) + "-no-len"), {}, false);
    EXPECT_EQ(b.header.n_samples, -1);
    EXPECT_EQ(a.n_frames, b.n_frames) << pair;
    EXPECT_EQ(a.samples, b.samples) << pair;
  }
}

TEST(WfdbConformance, SkewShiftsSignal) {
  WFDB_REQUIRE();
  auto a = wf::read_signals(rec("100"), {}, false);
  auto b = wf::read_signals(rec("100skew"), {}, false);
  ASSERT_EQ(b.header.signals[1].skew, 3);
  for (size_t i = 0; i + 3 < 650000; i += 997) ASSERT_EQ(b.samples[1][i], a.samples[1][i + 3]) << i;
  EXPECT_EQ(b.samples[0], a.samples[0]);
  auto ns = wf::read_signals(
      rec("100skew"),
      [] {
        wf::SignalReadOptions o;
        o.ignore_skew = true;
        return o;
      }(),
      false);
  EXPECT_EQ(ns.samples[1], a.samples[1]);
}

TEST(WfdbConformance, FrameAndSkewVariantsOfTest01) {
  WFDB_REQUIRE();
  auto base = wf::read_signals(rec("test01_00s"), {}, false);
  auto frame = wf::read_signals(rec("test01_00s_frame"), window(0, -1, {}, true), false);
  auto skew = wf::read_signals(rec("test01_00s_skew"), {}, false);
  // Each variant re-labels the same bytes; decoded values must be a re-arrangement of base's.
  EXPECT_GT(frame.n_frames, 0);
  EXPECT_EQ(skew.n_frames, base.n_frames);
  int64_t total_frame = 0;
  for (auto& r : frame.samples) total_frame += static_cast<int64_t>(r.size());
  EXPECT_EQ(
      total_frame, frame.n_frames * [&] {
        int t = 0;
        for (auto& s : frame.header.signals) t += s.samples_per_frame;
        return t;
      }());
}

TEST(WfdbConformance, DigitalAndPhysicalMatricesAgree) {
  WFDB_REQUIRE();
  auto d = wf::read_digital(rec("100"), window(100, 200));
  auto p = wf::read_physical(rec("100"), window(100, 200));
  ASSERT_EQ(d.rows, 2);
  ASSERT_EQ(d.cols, 100);
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < 100; ++i) EXPECT_DOUBLE_EQ(p(c, i), (d(c, i) - 1024) / 200.0);
}
