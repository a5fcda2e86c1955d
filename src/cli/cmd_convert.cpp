// cardiotorch convert RECORD -o OUT.{npy,npz,csv,hea}
#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/wfdb.h"
#include "cli/command.h"
#include "cli/record_args.h"

namespace fs = std::filesystem;

namespace cardiotorch::cli {
namespace {

// Times are seconds from the record start (the window keeps its offset); 7 significant
// digits (.npy is the lossless choice).
void write_csv(const io::Record& r, const std::string& path, double start_s) {
  std::ofstream f(path);
  CT_CHECK(f.good(), Error, path, ": cannot open for writing");
  f << "time_s";
  for (const auto& l : r.leads) f << "," << l;
  f << "\n";
  const at::Tensor s = r.signal.to(at::kFloat).contiguous();
  const float* p = s.data_ptr<float>();
  const int64_t n = r.n_samples(), nl = r.n_leads();
  char buf[64];
  for (int64_t i = 0; i < n; ++i) {
    if (r.fs > 0) std::snprintf(buf, sizeof buf, "%.6f", start_s + static_cast<double>(i) / r.fs);
    else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(i));
    f << buf;
    for (int64_t c = 0; c < nl; ++c) {
      const float v = p[c * n + i];
      if (std::isnan(v)) f << ",NaN";
      else {
        std::snprintf(buf, sizeof buf, ",%.7g", static_cast<double>(v));
        f << buf;
      }
    }
    f << "\n";
  }
  f.close();
  CT_CHECK(!f.fail(), Error, path, ": write failed");
}

// Format 16 with a per-lead gain: 1000 adu/unit when the lead fits in 16 bits at that gain
// (exact for the usual 1000/mV and 200/mV sources), else the largest gain that fits.
void write_wfdb(const io::Record& r, const std::string& path) {
  CT_CHECK(r.fs > 0, UsageError, path, ": WFDB needs a sampling rate; pass --fs");
  io::wfdb::Header h;
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
    double gain = 1000.0;
    if (maxabs * gain > 32766.0) gain = std::floor(32766.0 / maxabs);
    if (gain < 1.0) gain = 32766.0 / maxabs;
    io::wfdb::SignalSpec spec;
    spec.adc_gain = gain;
    spec.gain_given = true;
    spec.baseline = 0;
    spec.baseline_given = true;
    spec.units = c < static_cast<int64_t>(r.units.size()) && !r.units[c].empty() ? r.units[c] : "mV";
    spec.units_given = true;
    spec.adc_resolution = 16;
    spec.description = r.leads[static_cast<size_t>(c)];
    h.signals.push_back(spec);
    auto& out = samples[static_cast<size_t>(c)];
    out.resize(static_cast<size_t>(r.n_samples()));
    for (int64_t i = 0; i < r.n_samples(); ++i)
      out[static_cast<size_t>(i)] = std::isfinite(p[i]) ? static_cast<int32_t>(std::lround(p[i] * gain))
                                                        : io::wfdb::kInvalidSample;
  }
  const std::string dir = fs::path(path).parent_path().empty() ? "." : fs::path(path).parent_path().string();
  io::wfdb::write_record(dir, h, samples);
}

class ConvertCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    args_.add(app);
    app.add_option("-o,--output", output_,
                   "output: .npy (float32 [leads, samples]), .npz (signal + fs), .csv, or .hea (WFDB format 16 + .dat)")
        ->required();
  }

  int run() override {
    const std::string ext = to_lower(fs::path(output_).extension().string());
    CT_CHECK(ext == ".npy" || ext == ".npz" || ext == ".csv" || ext == ".hea", UsageError, output_,
             ": output must end in .npy, .npz, .csv or .hea");
    const io::Record r = args_.read();
    const auto parent = fs::path(output_).parent_path();
    std::error_code ec;
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ext == ".npy") {
      io::write_npy(output_, r.signal);
    } else if (ext == ".npz") {
      io::write_npz(output_, {{"signal", r.signal}, {"fs", at::scalar_tensor(r.fs, at::kDouble)}});
    } else if (ext == ".csv") {
      write_csv(r, output_, args_.from_s);
    } else {
      write_wfdb(r, output_);
    }
    std::cout << "wrote " << output_ << " (" << r.n_leads() << " leads x " << r.n_samples() << " samples";
    if (r.fs > 0) std::cout << ", " << r.fs << " Hz";
    std::cout << ")\n";
    return 0;
  }

 private:
  RecordArgs args_;
  std::string output_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("convert", "convert a record to .npy/.npz/.csv or a WFDB record (physical units)",
               "cardiotorch convert /data/mitdb/100 --from 10 --duration 60 --leads MLII -o out/100.hea",
               cardiotorch::cli::ConvertCommand)
