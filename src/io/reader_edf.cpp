// EDF, EDF+, BDF and BDF+ files as a RecordReader (through EDFlib; see edf.h).
#include <filesystem>

#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/edf.h"
#include "cardiotorch/io/reader.h"

namespace fs = std::filesystem;

namespace cardiotorch::io {
namespace {

class EdfReader : public RecordReader {
 public:
  std::vector<std::string> extensions() const override { return {".edf", ".bdf", ".rec"}; }
  bool sniff(const std::string&, const std::string& head) const override {
    return head.compare(0, 8, "0       ") == 0 || head.compare(0, 8,
                                                               "\xff"
                                                               "BIOSEMI") == 0;
  }
  // ".rec" is EDF's old extension, recognised when named but not listed: other databases use it
  // for other things.
  bool lists(const std::string& file) const override { return to_lower(fs::path(file).extension().string()) != ".rec"; }
  Record read(const std::string& path, const ReadOptions& options) const override { return read_edf(path, options); }
  RecordInfo info(const std::string& path) const override {
    const EdfHeader h = read_edf_header(path);
    RecordInfo info;
    info.path = path;
    info.name = fs::path(path).stem().string();
    info.format = "edf";
    info.meta["file_type"] = h.file_type;
    info.meta["start"] = h.start;
    if (!h.signals.empty()) {
      info.fs = h.signals[0].fs;
      info.n_samples = h.signals[0].n_samples;
    }
    for (const auto& s : h.signals) {
      info.leads.push_back(s.lead);
      info.units.push_back(s.units);
      const double span = s.physical_max - s.physical_min;
      info.gains.push_back(span != 0 ? (static_cast<double>(s.digital_max) - s.digital_min) / span : 0.0);
      if (s.fs != info.fs) info.meta["mixed_rates"] = "yes";
    }
    return info;
  }
};

}  // namespace

CT_REGISTER(reader_registry(), "edf", make_reader<EdfReader>, "EDF, EDF+, BDF and BDF+ (EDFlib)")

}  // namespace cardiotorch::io
