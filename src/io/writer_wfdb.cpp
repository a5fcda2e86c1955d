// Records as WFDB (format 16 .dat + .hea) in physical units with a per-lead gain.
#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>

#include "cardiotorch/io/wfdb.h"
#include "cardiotorch/io/writer.h"

namespace fs = std::filesystem;

namespace cardiotorch::io {
namespace {

// Format 16 with a per-lead gain: the largest of 1000, 500, 200, ..., 1 adu/unit at which the
// lead fits in 16 bits (exact for the usual 1000/mV and 200/mV sources and for integer uV),
// else whatever gain makes the peak fit.
class WfdbWriter : public RecordWriter {
 public:
  std::vector<std::string> extensions() const override { return {".hea"}; }
  void write(const Record& r, const std::string& path, const WriteRecordOptions&) const override {
    CT_CHECK(r.fs > 0, ArgumentError, path, ": WFDB needs a sampling rate (fs is unknown; pass --fs)");
    wfdb::Header h;
    h.record_name = fs::path(path).stem().string();
    h.fs = r.fs;
    h.fs_given = true;
    h.n_signals = static_cast<int>(r.n_leads());
    h.n_samples = r.n_samples();
    h.comments = r.comments;
    const at::Tensor s = r.signal.to(at::kDouble).contiguous();
    std::vector<std::vector<int32_t>> samples(static_cast<size_t>(r.n_leads()));
    for (int64_t c = 0; c < r.n_leads(); ++c) {
      const double* p = s.data_ptr<double>() + c * r.n_samples();
      double maxabs = 0;
      for (int64_t i = 0; i < r.n_samples(); ++i)
        if (std::isfinite(p[i])) maxabs = std::max(maxabs, std::abs(p[i]));
      double gain = 0.0;
      for (double g : {1000.0, 500.0, 200.0, 100.0, 50.0, 20.0, 10.0, 5.0, 2.0, 1.0})
        if (maxabs * g <= 32766.0) {
          gain = g;
          break;
        }
      if (gain == 0.0) gain = 32766.0 / maxabs;
      wfdb::SignalSpec spec;
      spec.adc_gain = gain;
      spec.gain_given = true;
      spec.baseline = 0;
      spec.baseline_given = true;
      spec.units = c < static_cast<int64_t>(r.units.size()) && !r.units[c].empty() ? r.units[c] : "mV";
      spec.units_given = true;
      spec.adc_resolution = 16;
      spec.description = c < static_cast<int64_t>(r.leads.size()) ? r.leads[static_cast<size_t>(c)] : "";
      h.signals.push_back(spec);
      auto& out = samples[static_cast<size_t>(c)];
      out.resize(static_cast<size_t>(r.n_samples()));
      for (int64_t i = 0; i < r.n_samples(); ++i)
        out[static_cast<size_t>(i)] =
            std::isfinite(p[i]) ? static_cast<int32_t>(std::lround(p[i] * gain)) : wfdb::kInvalidSample;
    }
    const std::string dir = fs::path(path).parent_path().empty() ? "." : fs::path(path).parent_path().string();
    wfdb::write_record(dir, h, samples);
  }
};

}  // namespace

CT_REGISTER(writer_registry(), "wfdb", make_writer<WfdbWriter>,
            ".hea: WFDB format 16 (.dat beside), per-lead gain exact for 1000/mV and 200/mV sources")

}  // namespace cardiotorch::io
