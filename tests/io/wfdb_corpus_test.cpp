// Whole-corpus invariants: every single-segment WFDB record under ../shared/data decodes, and
// the decoded samples reproduce each signal's header checksum (16-bit sum of all samples) and
// initial value. This checks every format, offset and frame layout present in the data.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cardiotorch/io/wfdb.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace wf = cardiotorch::io::wfdb;
namespace fs = std::filesystem;

TEST(WfdbCorpus, ChecksumsAndInitialValuesOfEveryRecord) {
  CT_REQUIRE_SHARED("wfdb-python");
  size_t records = 0, checked = 0;
  for (const auto& e : fs::recursive_directory_iterator(ct::test::shared_data("."))) {
    if (e.path().extension() != ".hea") continue;
    const wf::Header h = wf::read_header(e.path().string());
    if (h.is_multi_segment() || h.signals.empty() || h.n_samples == 0) continue;
    bool files = true;
    for (const auto& s : h.signals) files &= fs::exists(e.path().parent_path() / s.file_name);
    if (!files) continue;  // e.g. layout headers, records whose data was not copied
    bool flac = false;
    for (const auto& s : h.signals) flac |= wf::is_flac_format(s.format);
    if (flac && !wf::flac_available()) continue;
    wf::SignalReadOptions o;
    o.expand_frames = true;
    o.ignore_skew = true;  // the checksum covers the samples as stored
    wf::DigitalSignals d;
    ASSERT_NO_THROW(d = wf::read_signals(e.path().string(), o, false)) << e.path();
    ++records;
    for (size_t c = 0; c < h.signals.size(); ++c) {
      const auto& s = h.signals[c];
      const int32_t sentinel = wf::format_invalid_value(s.format);
      if (s.checksum_given && s.checksum != 0) {  // 0: never computed (e.g. all of cinc2017)
        int64_t sum = 0;
        for (int32_t v : d.samples[c]) sum += (v == wf::kInvalidSample && s.format != 8) ? sentinel : v;
        EXPECT_EQ(static_cast<int16_t>(static_cast<uint16_t>(sum & 0xFFFF)), static_cast<int16_t>(s.checksum))
            << e.path() << " signal " << c << " (format " << s.format << ")";
        ++checked;
      }
      // Initial values are only trustworthy in headers whose checksums were computed, and
      // test01_00s_frame/_skewframe are hand edits that kept signal 2's old initial value.
      const bool hand_edited = e.path().filename().string().rfind("test01_00s_", 0) == 0;
      if (s.initial_value_given && s.checksum != 0 && !hand_edited && !d.samples[c].empty() &&
          d.samples[c][0] != wf::kInvalidSample) {
        EXPECT_EQ(d.samples[c][0], s.initial_value) << e.path() << " signal " << c;
      }
    }
  }
  EXPECT_GT(records, 1000u);
  EXPECT_GT(checked, 5000u);
}
