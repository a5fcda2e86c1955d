// Corrupted WFDB inputs written by the test: each must raise a DataError (never crash) whose
// one-line message names the file and the line/field at fault.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/annotation.h"
#include "cardiotorch/io/wfdb.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace wf = cardiotorch::io::wfdb;

namespace {

class WfdbBadInput : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = ct::test::make_temp_dir("wfdb_bad"); }

  std::string put(const std::string& name, const std::string& bytes) {
    ct::test::write_file(dir_ + "/" + name, bytes);
    return dir_ + "/" + name;
  }
  // A valid 2-signal format-16 record of n frames.
  void good_record(const std::string& name, int n, const std::string& extra_header = "") {
    put(name + ".hea", name + " 2 250 " + std::to_string(n) + "\n" + name + ".dat 16 200/mV 16 0 0 0 0 I\n" + name +
                           ".dat 16 200/mV 16 0 0 0 0 II\n" + extra_header);
    put(name + ".dat", std::string(static_cast<size_t>(n) * 4, '\x01'));
  }
  // Reads `rec` and returns the DataError message ("" and a test failure when none is thrown).
  std::string read_error(const std::string& rec) {
    try {
      wf::read_signals(dir_ + "/" + rec, {}, true);
    } catch (const ct::DataError& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.find('\n'), std::string::npos) << "multi-line message: " << m;
      return m;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a DataError: " << e.what();
      return "";
    }
    ADD_FAILURE() << "no error reading " << rec;
    return "";
  }
  std::string dir_;
};

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

}  // namespace

TEST_F(WfdbBadInput, MissingHeaderAndMissingSignalFile) {
  EXPECT_HAS(read_error("nothere"), "nothere.hea: cannot open (No such file or directory)");
  put("nodat.hea", "nodat 1 250 10\nnodat.dat 16\n");
  const std::string m = read_error("nodat");
  EXPECT_HAS(m, "nodat.dat: cannot open signal file");
  EXPECT_HAS(m, "nodat.hea:2");
}

TEST_F(WfdbBadInput, TruncatedDatAndLengthMismatch) {
  good_record("trunc", 100);
  put("trunc.dat", std::string(399, '\x02'));  // 99.75 frames
  const std::string m = read_error("trunc");
  EXPECT_HAS(m, "trunc.dat: holds 99 frames");
  EXPECT_HAS(m, "trunc.hea says 100 samples");
  // 212 with a header claiming more samples than the bytes hold.
  put("p212.hea", "p212 2 360 1000\np212.dat 212 200 11 1024 0 0 0 MLII\np212.dat 212 200 11 1024 0 0 0 V5\n");
  put("p212.dat", std::string(2999, '\0'));
  EXPECT_HAS(read_error("p212"), "p212.dat: holds 999 frames");
  // Byte offset past the end of the file.
  put("off.hea", "off 1 250 10\noff.dat 16+5000\n");
  put("off.dat", std::string(100, '\0'));
  EXPECT_HAS(read_error("off"), "less than the byte offset 5000");
}

TEST_F(WfdbBadInput, HeaderFieldErrorsNameLineAndField) {
  struct Case {
    const char* header;
    const char* expect;
  };
  const Case cases[] = {
      {"f 1 250 10\nf.dat 1234 200\n", "f.hea:2: field 'format': unknown WFDB signal format 1234"},
      {"f 1 250 10\nf.dat 16 gain/mV\n", "f.hea:2: field 'ADC gain': expected a number, got 'gain'"},
      {"f 1 250 10\nf.dat 16 1e999/mV\n", "f.hea:2: field 'ADC gain'"},
      {"f 1 250 10\nf.dat 16 -200/mV\n", "f.hea:2: field 'ADC gain': must be >= 0"},
      {"f 1 0 10\nf.dat 16\n", "f.hea:1: field 'sampling frequency': must be > 0"},
      {"f 1 abc 10\nf.dat 16\n", "f.hea:1: field 'sampling frequency': expected a number"},
      {"f one 250\n", "f.hea:1: field 'number of signals'"},
      {"f 1 250 -4\nf.dat 16\n", "f.hea:1: field 'number of samples'"},
      {"f 1 250 10\nf.dat 16 200 12 zero\n", "f.hea:2: field 'ADC zero'"},
      {"f 1 250 10\nf.dat 16 200 bits\n", "f.hea:2: field 'ADC resolution'"},
      {"f 1 250 10\nf.dat 16 200 12 0 x\n", "f.hea:2: field 'initial value'"},
      {"f 1 250 10\nf.dat 16 200 12 0 0 0 -1\n", "f.hea:2: field 'block size'"},
      {"f 1 250 10\nf.dat 16x\n", "f.hea:2: field 'samples per frame'"},
      {"f 1 250 10\nf.dat 16:abc\n", "f.hea:2: field 'skew'"},
      {"# only a comment\n\n", "f.hea: no record line"},
      {"f 2 250 10\nf.dat 16\n# c\n", "f.hea:3: record line announces 2 signals, found only 1"},
      {"f/2 1 250 10\nf_1 5\n", "announces 2 segments, found only 1"},
  };
  for (const Case& c : cases) {
    put("f.hea", c.header);
    EXPECT_HAS(read_error("f"), c.expect);
  }
}

TEST_F(WfdbBadInput, BinaryGarbageAsHeader) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::string junk(200, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng() & 0xFF);
    put("junk.hea", junk);
    const std::string m = read_error("junk");
    EXPECT_HAS(m, "junk.hea");
  }
}

TEST_F(WfdbBadInput, FlacFormatWithNonFlacBytes) {
  put("fl.hea", "fl 1 250 10\nfl.dat 516 200/mV 16 0 0 0 0 I\n");
  put("fl.dat", std::string(64, 'x'));
  const std::string m = read_error("fl");
  EXPECT_HAS(m, "fl.dat");
  if (wf::flac_available()) {
    EXPECT_HAS(m, "not a FLAC stream");
  } else {
    EXPECT_HAS(m, "needs libFLAC");
  }
}

TEST_F(WfdbBadInput, MultiSegmentWithMissingSegment) {
  good_record("seg_1", 10);
  put("ms.hea", "ms/2 2 250 20\nseg_1 10\nseg_2 10\n");
  EXPECT_HAS(read_error("ms"), "seg_2.hea: cannot open (No such file or directory)");
  // A segment shorter than the master header says.
  good_record("seg_2", 5);
  EXPECT_HAS(read_error("ms"), "seg_2.hea: has 5 samples but");
}

TEST_F(WfdbBadInput, WindowOutsideRecordIsConfigError) {
  good_record("w", 10);
  wf::SignalReadOptions o;
  o.from = 5;
  o.to = 11;
  EXPECT_THROW(wf::read_signals(dir_ + "/w", o), ct::ConfigError);
  o.from = 6;
  o.to = 5;
  EXPECT_THROW(wf::read_signals(dir_ + "/w", o), ct::ConfigError);
  o = {};
  o.channels = {2};
  EXPECT_THROW(wf::read_signals(dir_ + "/w", o), ct::ConfigError);
}

TEST_F(WfdbBadInput, BadAnnotationFiles) {
  const std::string p = put("a.atr", std::string("\x05\x04\x10\xFC"
                                                 "ab",
                                                 6));  // AUX of 16 bytes, 2 present
  try {
    ct::io::read_annotations(p);
    ADD_FAILURE() << "no error";
  } catch (const ct::DataError& e) {
    EXPECT_HAS(std::string(e.what()), "a.atr: byte 2: AUX of 16 bytes runs past the end");
  }
  // Random bytes: either parse or DataError, never anything else.
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<uint8_t> b(1 + rng() % 64);
    for (auto& x : b) x = static_cast<uint8_t>(rng() & 0xFF);
    try {
      ct::io::parse_annotations(b.data(), b.size(), "r.atr");
    } catch (const ct::DataError& e) {
      EXPECT_HAS(std::string(e.what()), "r.atr");
    }
  }
}

TEST_F(WfdbBadInput, TruncatedRealRecordEveryLength) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/100_3chan.dat");
  // Every truncation of a real 212 file: a DataError naming the .dat, never a crash or a read
  // past the buffer.
  const std::string src = ct::test::shared_data("wfdb-python/sample-data/100_3chan.hea");
  std::string hea, dat;
  {
    std::ifstream h(src, std::ios::binary),
        d(ct::test::shared_data("wfdb-python/sample-data/100_3chan.dat"), std::ios::binary);
    hea.assign(std::istreambuf_iterator<char>(h), {});
    dat.assign(std::istreambuf_iterator<char>(d), {});
  }
  put("100_3chan.hea", hea);
  for (size_t len = 0; len < dat.size(); len += 37) {
    put("100_3chan.dat", dat.substr(0, len));
    EXPECT_HAS(read_error("100_3chan"), "100_3chan.dat: holds");
  }
}
