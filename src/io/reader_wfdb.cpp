// WFDB records as a RecordReader: "dir/100", "dir/100.hea" (signal files named in the header).
#include <filesystem>

#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/wfdb.h"
#include "io/reader_util.h"
#include "io/record_util.h"

namespace fs = std::filesystem;

namespace cardiotorch::io {

RecordInfo info_from_wfdb_header(const std::string& path, const wfdb::Header& h, const std::string& format) {
  RecordInfo info;
  info.path = path;
  info.name = fs::path(wfdb::header_path(path)).stem().string();
  info.format = format;
  info.fs = h.fs;
  info.n_samples = h.n_samples;
  info.comments = h.comments;
  for (const auto& s : h.signals) {
    info.leads.push_back(normalize_lead_name(s.description));
    info.units.push_back(normalize_units(s.units));
    info.gains.push_back(s.adc_gain);
  }
  if (h.is_multi_segment()) {
    // The master header has no signal lines; the first segment with signals names them.
    for (const auto& seg : h.segments) {
      if (seg.name == "~") continue;
      const wfdb::Header sh = wfdb::read_header((fs::path(wfdb::record_dir(path)) / seg.name).string());
      if (sh.signals.empty()) continue;
      for (const auto& s : sh.signals) {
        info.leads.push_back(normalize_lead_name(s.description));
        info.units.push_back(normalize_units(s.units));
        info.gains.push_back(s.adc_gain);
      }
      break;
    }
  }
  meta_from_comments(info.comments, info.meta);
  return info;
}

namespace {

class WfdbReader : public RecordReader {
 public:
  std::vector<std::string> extensions() const override { return {".hea"}; }
  // A record named without its extension: "dir/100" when dir/100.hea exists.
  bool sniff(const std::string& path, const std::string& head) const override {
    std::error_code ec;
    return head.empty() && !fs::is_regular_file(path, ec) && fs::is_regular_file(path + ".hea", ec);
  }
  int listing_rank() const override { return 0; }
  // wfdb::read_record is the reader proper; this adds what every reader provides (Key: value
  // comments as meta, the format tag).
  Record read(const std::string& path, const ReadOptions& options) const override {
    Record r = wfdb::read_record(path, options);
    meta_from_comments(r.comments, r.meta);
    r.meta["format"] = "wfdb";
    return r;
  }
  RecordInfo info(const std::string& path) const override {
    return info_from_wfdb_header(path, wfdb::read_header(path), "wfdb");
  }
};

}  // namespace

CT_REGISTER(reader_registry(), "wfdb", make_reader<WfdbReader>,
            "WFDB records (.hea + signal files: every format incl. FLAC, multi-segment)")

}  // namespace cardiotorch::io
