// MIT-format annotations: rdann reference outputs, round-trips, AAMI counts on mitdb.
#include "cardiotorch/io/annotation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cardiotorch/core/error.h"
#include "io/wfdb_test_util.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace io = cardiotorch::io;
using ct::test::shared_data;

namespace {

struct RdannLine {
  int64_t sample;
  std::string symbol;
  int sub, chan, num;
  std::string aux;
};

// rdann prints: TIME SAMPLE SYMBOL SUB CHAN NUM[\tAUX]
std::vector<RdannLine> read_rdann(const std::string& path) {
  std::vector<RdannLine> out;
  std::istringstream in(ct::test::slurp_maybe_gz(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const size_t tab = line.find('\t');
    std::istringstream ls(line.substr(0, tab));
    RdannLine r;
    std::string time;
    ls >> time >> r.sample >> r.symbol >> r.sub >> r.chan >> r.num;
    r.aux = tab == std::string::npos ? "" : line.substr(tab + 1);
    out.push_back(r);
  }
  return out;
}

void expect_matches_rdann(const io::AnnotationSet& set, const std::string& target, bool compare_aux = true) {
  const auto ref = read_rdann(target);
  ASSERT_EQ(set.annotations.size(), ref.size());
  size_t bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const io::Annotation& a = set.annotations[i];
    const bool ok = a.sample == ref[i].sample && a.symbol == ref[i].symbol && a.subtype == ref[i].sub &&
                    a.chan == ref[i].chan && a.num == ref[i].num && (!compare_aux || a.aux == ref[i].aux);
    if (!ok && bad++ < 3)
      ADD_FAILURE() << "annotation " << i << ": ours " << a.sample << " " << a.symbol << " " << a.subtype << " "
                    << a.chan << " " << a.num << " '" << a.aux << "' vs " << ref[i].sample << " " << ref[i].symbol
                    << " " << ref[i].sub << " " << ref[i].chan << " " << ref[i].num << " '" << ref[i].aux << "'";
  }
  EXPECT_EQ(bad, 0u);
}

std::string sample(const std::string& f) { return shared_data("wfdb-python/sample-data") + "/" + f; }
std::string target(const std::string& f) { return shared_data("wfdb-python/target-output/" + f); }

}  // namespace

TEST(WfdbAnnotation, Ann1Record100Atr) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/100.atr");
  auto set = io::read_annotations(sample("100"), "atr");
  EXPECT_EQ(set.annotations.front().aux, "(N");  // stored with a trailing NUL in a 3-byte field
  expect_matches_rdann(set, target("ann-1"));
}

TEST(WfdbAnnotation, Ann2AuxChanAndSkip) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/12726.anI");
  auto set = io::read_annotations(sample("12726.anI"));
  EXPECT_EQ(set.annotations.front().chan, 255);
  expect_matches_rdann(set, target("ann-2"));
}

TEST(WfdbAnnotation, Ann3CustomDefinitionsBlock) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/1003.atr");
  auto set = io::read_annotations(sample("1003"), "atr");
  ASSERT_EQ(set.definitions.size(), 6u);
  EXPECT_EQ(set.definitions.at(15).first, "c");
  EXPECT_EQ(set.definitions.at(15).second, "calibration pulse");
  expect_matches_rdann(set, target("ann-3"));
}

TEST(WfdbAnnotation, HugeSkipsReachTenBillion) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/huge.qrs");
  auto set = io::read_annotations(sample("huge.qrs"));
  ASSERT_EQ(set.annotations.size(), 1u);
  EXPECT_EQ(set.annotations[0].sample, 10000000000LL);
  EXPECT_EQ(set.annotations[0].symbol, "N");
}

TEST(WfdbAnnotation, DetectorOutputsParseAndAreSorted) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/03700181.sqrs");
  // 03700181: 75000 frames at 125 Hz, 4 samples per frame in signal 0. gqrs -H writes
  // high-resolution times (500/s), sqrs works at 250/s; both say so in their header.
  const std::map<std::string, double> res = {{"gqrsh", 500.0}, {"gqrsl", 0.0}, {"sqrs", 250.0}};
  for (const auto& [ext, r] : res) {
    auto set = io::read_annotations(sample("03700181"), ext);
    EXPECT_EQ(set.time_resolution, r) << ext;
    ASSERT_GT(set.annotations.size(), 50u) << ext;
    EXPECT_NE(set.annotations.front().code, 0) << ext;
    for (size_t i = 1; i < set.annotations.size(); ++i)
      ASSERT_LE(set.annotations[i - 1].sample, set.annotations[i].sample) << ext;
    // Beats run to the end of the 600 s record.
    const double end = 75000.0 * (r > 0 ? r / 125.0 : 1.0);
    EXPECT_LT(set.annotations.back().sample, end) << ext;
    EXPECT_GT(set.annotations.back().sample, 0.95 * end) << ext;
  }
}

TEST(WfdbAnnotation, TimeResolutionIsAppliedToGetRecordSamples) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/03700181.sqrs");
  // The same record annotated at 500/s (gqrs -H), 250/s (sqrs) and the frame rate 125 Hz (gqrs):
  // in record samples, all three run to the record's 75000 frames, and gqrs at high and at low
  // resolution finds the same beats within a frame.
  auto high = io::read_annotations(sample("03700181"), "gqrsh");
  auto low = io::read_annotations(sample("03700181"), "gqrsl");
  auto sqrs = io::read_annotations(sample("03700181"), "sqrs");
  for (auto* set : {&high, &low, &sqrs}) {
    io::to_sample_rate(*set, 125.0);
    EXPECT_EQ(set->time_resolution, 0.0);
    EXPECT_LT(set->annotations.back().sample, 75000);
    EXPECT_GT(set->annotations.back().sample, 0.95 * 75000);
  }
  auto beats = [](const io::AnnotationSet& set) {
    std::vector<int64_t> out;
    for (const auto& a : set.annotations)
      if (io::is_beat_code(a.code)) out.push_back(a.sample);
    return out;
  };
  // Fraction of `a`'s beats with one of `b`'s within a frame.
  auto matched = [](const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    size_t m = 0;
    for (int64_t t : a) {
      auto it = std::lower_bound(b.begin(), b.end(), t - 1);
      m += it != b.end() && *it <= t + 1;
    }
    return static_cast<double>(m) / static_cast<double>(a.size());
  };
  const std::vector<int64_t> hb = beats(high), lb = beats(low);
  ASSERT_GT(hb.size(), 50u);
  EXPECT_GT(matched(hb, lb), 0.9);
  // Unconverted, the high-resolution ticks line up with nothing.
  EXPECT_LT(matched(beats(io::read_annotations(sample("03700181"), "gqrsh")), lb), 0.1);
  // Written at 720/s, read back and converted to 360 Hz: exact halves, rounded.
  const std::string dir = ct::test::make_temp_dir("wfdb_ann_res");
  std::vector<io::Annotation> anns(3);
  const int64_t ticks[3] = {720, 1441, 7203};
  for (int k = 0; k < 3; ++k) anns[k].sample = ticks[k], anns[k].code = 1;
  io::write_annotations(dir + "/r.atr", anns, {}, 720.0);
  auto set = io::read_annotations(dir + "/r.atr");
  io::to_sample_rate(set, 360.0);
  EXPECT_EQ(set.annotations[0].sample, 360);
  EXPECT_EQ(set.annotations[1].sample, 721);  // 720.5 rounds away from zero
  EXPECT_EQ(set.annotations[2].sample, 3602);
  io::to_sample_rate(set, 360.0);  // a second call changes nothing
  EXPECT_EQ(set.annotations[2].sample, 3602);
}

TEST(WfdbAnnotation, RoundTripAllSampleFilesByteSemantics) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/100.atr");
  const std::string dir = ct::test::make_temp_dir("wfdb_ann_rt");
  for (const char* f : {"100.atr", "100.qrs", "1003.atr", "12726.anI", "huge.qrs", "03700181.gqrsh"}) {
    auto a = io::read_annotations(sample(f));
    const std::string out = dir + "/" + f;
    io::write_annotations(out, a.annotations, a.definitions, a.time_resolution);
    auto b = io::read_annotations(out);
    ASSERT_EQ(a.annotations.size(), b.annotations.size()) << f;
    EXPECT_EQ(a.definitions, b.definitions) << f;
    EXPECT_EQ(a.time_resolution, b.time_resolution) << f;
    for (size_t i = 0; i < a.annotations.size(); ++i) {
      const auto &x = a.annotations[i], &y = b.annotations[i];
      ASSERT_TRUE(x.sample == y.sample && x.code == y.code && x.symbol == y.symbol && x.subtype == y.subtype &&
                  x.chan == y.chan && x.num == y.num && x.aux == y.aux)
          << f << " annotation " << i;
    }
  }
}

TEST(WfdbAnnotation, EncodeUsesSkipForLargeGapsAndStickyFields) {
  std::vector<io::Annotation> v(3);
  v[0].sample = 5;
  v[0].code = 1;
  v[0].num = -3;
  v[0].chan = 2;
  v[1].sample = 5 + 5000;
  v[1].code = 5;
  v[1].num = -3;
  v[1].chan = 2;
  v[1].subtype = 7;
  v[2].sample = 5 + 5000 + 10;
  v[2].code = 28;
  v[2].aux = "(AFIB";
  v[2].num = 0;
  v[2].chan = 2;
  const auto bytes = io::encode_annotations(v);
  auto set = io::parse_annotations(bytes.data(), bytes.size(), "mem");
  ASSERT_EQ(set.annotations.size(), 3u);
  EXPECT_EQ(set.annotations[1].sample, 5005);
  EXPECT_EQ(set.annotations[1].symbol, "V");
  EXPECT_EQ(set.annotations[1].num, -3);  // sticky
  EXPECT_EQ(set.annotations[1].subtype, 7);
  EXPECT_EQ(set.annotations[2].subtype, 0);  // not sticky
  EXPECT_EQ(set.annotations[2].num, 0);
  EXPECT_EQ(set.annotations[2].aux, "(AFIB");
  EXPECT_EQ(set.annotations[2].symbol, "+");
}

TEST(WfdbAnnotation, SymbolTableRoundTripsAndAliases) {
  for (int c = 0; c < 50; ++c) EXPECT_EQ(io::annotation_code(io::annotation_symbol(c)), c) << c;
  const char* expected = "NLRaVFJASEj/Q~|sT*D\"=pBt+u?![]e@nxf()r";
  for (const char* p = expected; *p; ++p) EXPECT_GT(io::annotation_code(std::string(1, *p)), 0) << *p;
  EXPECT_EQ(io::annotation_code("`"), 39);
  EXPECT_EQ(io::annotation_code("'"), 40);
  EXPECT_EQ(io::annotation_code("^"), 26);
  EXPECT_EQ(io::annotation_code("zz"), -1);
}

TEST(WfdbAnnotation, AamiMapping) {
  for (const char* s : {"N", "L", "R", "e", "j"}) EXPECT_EQ(io::aami_class(s), 'N') << s;
  for (const char* s : {"A", "a", "J", "S"}) EXPECT_EQ(io::aami_class(s), 'S') << s;
  for (const char* s : {"V", "E"}) EXPECT_EQ(io::aami_class(s), 'V') << s;
  EXPECT_EQ(io::aami_class("F"), 'F');
  for (const char* s : {"/", "f", "Q"}) EXPECT_EQ(io::aami_class(s), 'Q') << s;
  for (const char* s : {"+", "~", "|", "x", "!", "[", "]", "\"", "(", ")", "p", "t", "B", "r", "n", ""})
    EXPECT_EQ(io::aami_class(s), 0) << s;
}

TEST(WfdbAnnotation, MitdbAamiCountsAllAndDs1) {
  CT_REQUIRE_SHARED("mitdb/RECORDS");
  const std::vector<int> ds1 = {101, 106, 108, 109, 112, 114, 115, 116, 118, 119, 122,
                                124, 201, 203, 205, 207, 208, 209, 215, 220, 223, 230};
  const std::vector<int> paced = {102, 104, 107, 217};
  std::map<char, int64_t> all, d1;
  for (int r : ds1) {
    auto c = io::aami_counts(io::read_annotations(shared_data("mitdb") + "/" + std::to_string(r), "atr").annotations);
    for (auto& [k, n] : c) {
      all[k] += n;
      d1[k] += n;
    }
  }
  for (int r : paced) {
    auto c = io::aami_counts(io::read_annotations(shared_data("mitdb") + "/" + std::to_string(r), "atr").annotations);
    for (auto& [k, n] : c) all[k] += n;
  }
  EXPECT_EQ(all, (std::map<char, int64_t>{{'N', 46372}, {'S', 944}, {'V', 4015}, {'F', 415}, {'Q', 8036}}));
  EXPECT_EQ(d1, (std::map<char, int64_t>{{'N', 45866}, {'S', 944}, {'V', 3788}, {'F', 415}, {'Q', 8}}));
}

TEST(WfdbAnnotation, MalformedBytesGiveDataErrorWithOffset) {
  auto expect_error = [](std::vector<uint8_t> b, const char* needle) {
    try {
      io::parse_annotations(b.data(), b.size(), "bad.atr");
      ADD_FAILURE() << "no error for " << needle;
    } catch (const ct::DataError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("bad.atr: byte "), std::string::npos) << m;
      EXPECT_NE(m.find(needle), std::string::npos) << m;
    }
  };
  expect_error({0x00, 0xEC, 0x01}, "SKIP");                                    // SKIP with 1 of 4 bytes
  expect_error({0x05, 0x04, 0x10, 0xFC, 'a', 'b'}, "AUX");                     // AUX of 16 bytes, 2 present
  expect_error({0x03, 0xF4}, "SUB before");                                    // modifier first
  expect_error({0x05, 0x04, 0x07}, "odd trailing byte");                       // truncated mid-word
  expect_error({0x00, 0xEC, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x04}, "negative");  // SKIP of -65536
}

TEST(WfdbAnnotation, MissingFileIsDataError) {
  EXPECT_THROW(io::read_annotations("/nonexistent/rec", "atr"), ct::DataError);
}
