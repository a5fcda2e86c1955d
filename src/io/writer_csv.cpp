// Records as CSV: a time column and one column per lead.
#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "cardiotorch/io/writer.h"

namespace cardiotorch::io {
namespace {

// Times are seconds from the recording's start (a window keeps its offset); 7 significant
// digits (.npy is the lossless choice).
class CsvWriter : public RecordWriter {
 public:
  std::vector<std::string> extensions() const override { return {".csv"}; }
  void write(const Record& r, const std::string& path, const WriteRecordOptions& o) const override {
    std::ofstream f(path);
    CT_CHECK(f.good(), IoError, path, ": cannot write");
    f << "time_s";
    for (const auto& l : r.leads) f << "," << l;
    f << "\n";
    const at::Tensor s = r.signal.to(at::kFloat).contiguous();
    const float* p = s.data_ptr<float>();
    const int64_t n = r.n_samples(), nl = r.n_leads();
    char buf[64];
    for (int64_t i = 0; i < n; ++i) {
      if (r.fs > 0) std::snprintf(buf, sizeof buf, "%.6f", o.time_offset_s + static_cast<double>(i) / r.fs);
      else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(i));
      f << buf;
      for (int64_t c = 0; c < nl; ++c) {
        const float v = p[c * n + i];
        if (std::isnan(v)) {
          f << ",NaN";
        } else {
          std::snprintf(buf, sizeof buf, ",%.7g", static_cast<double>(v));
          f << buf;
        }
      }
      f << "\n";
    }
    f.close();
    CT_CHECK(!f.fail(), IoError, path, ": cannot write (disk full?)");
  }
};

}  // namespace

CT_REGISTER(writer_registry(), "csv", make_writer<CsvWriter>, ".csv: time_s and one column per lead (7 digits)")

}  // namespace cardiotorch::io
