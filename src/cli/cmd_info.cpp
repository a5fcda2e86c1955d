// cardiotorch info RECORD|DIR [--json]
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/summary.h"
#include "cli/command.h"
#include "cli/record_args.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cardiotorch::cli {
namespace {

struct LeadStats {
  double min = NAN, max = NAN;
  int64_t nan = 0;
};

std::vector<LeadStats> lead_stats(const io::Record& r) {
  std::vector<LeadStats> out;
  for (int64_t c = 0; c < r.n_leads(); ++c) {
    const at::Tensor row = r.signal[c];
    const at::Tensor bad = row.isnan();
    LeadStats s;
    s.nan = bad.sum().item<int64_t>();
    const at::Tensor ok = row.masked_select(bad.logical_not());
    if (ok.numel() > 0) {
      s.min = ok.min().item<double>();
      s.max = ok.max().item<double>();
    }
    out.push_back(s);
  }
  return out;
}

std::string num(double v, int prec = 4) {
  if (!std::isfinite(v)) return "-";
  char b[48];
  std::snprintf(b, sizeof b, "%.*g", prec, v);
  return b;
}

std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s + " " : s + std::string(w - s.size(), ' '); }

json json_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

class InfoCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("path", path_, "a record (WFDB, .mat, .edf, .npy) or a directory of records")->required();
    app.add_flag("--json", json_, "print JSON instead of text");
    app.add_flag("-r,--recursive", recursive_, "for a directory: include the records of its subdirectories");
    app.add_option("--fs", fs_, "sampling rate for files that do not store one")->check(CLI::NonNegativeNumber);
  }

  int run() override {
    std::error_code ec;
    if (fs::is_directory(path_, ec)) return directory();
    return record();
  }

 private:
  int record() {
    io::RecordInfo info = io::read_record_info(path_);
    io::ReadOptions ro;
    ro.fs = fs_;
    io::Record r;
    std::vector<LeadStats> stats;
    std::vector<double> lead_fs;
    std::vector<int64_t> lead_samples;
    const bool mixed = info.meta.count("mixed_rates") > 0;
    if (mixed) {
      // One Record holds one rate, so an EDF with several reads lead by lead.
      for (size_t i = 0; i < info.leads.size(); ++i) {
        ro.channels = {std::to_string(i)};
        const io::Record one = io::read_record(path_, ro);
        stats.push_back(lead_stats(one)[0]);
        lead_fs.push_back(one.fs);
        lead_samples.push_back(one.n_samples());
        if (i == 0) r = one;
      }
      r.leads = info.leads;
      r.units = info.units;
    } else {
      r = io::read_record(path_, ro);
      stats = lead_stats(r);
      lead_fs.assign(r.leads.size(), r.fs);
      lead_samples.assign(r.leads.size(), r.n_samples());
    }
    if (info.fs == 0) info.fs = r.fs;
    if (json_) {
      json j;
      j["name"] = r.name;
      j["path"] = path_;
      j["format"] = info.format;
      j["fs"] = r.fs;
      j["samples"] = r.n_samples();
      j["duration_s"] = r.duration_s();
      j["comments"] = r.comments;
      j["meta"] = r.meta;
      json leads = json::array();
      for (size_t c = 0; c < r.leads.size(); ++c) {
        json l;
        l["name"] = r.leads[c];
        l["units"] = c < r.units.size() ? r.units[c] : "";
        l["gain"] = c < info.gains.size() ? json(info.gains[c]) : json(nullptr);
        l["min"] = json_or_null(stats[c].min);
        l["max"] = json_or_null(stats[c].max);
        l["nan"] = stats[c].nan;
        l["fs"] = lead_fs[c];
        l["samples"] = lead_samples[c];
        leads.push_back(l);
      }
      j["leads"] = leads;
      j["mixed_rates"] = mixed;
      std::cout << j.dump(2) << "\n";
      return 0;
    }
    std::cout << "record    " << r.name << "\n"
              << "path      " << path_ << "\n"
              << "format    " << info.format << "\n"
              << "fs        " << (r.fs > 0 ? num(r.fs, 10) + " Hz" : std::string("unknown (pass --fs)")) << "\n"
              << "samples   " << r.n_samples();
    if (r.fs > 0) std::cout << " (" << num(r.duration_s(), 8) << " s)";
    std::cout << "\nleads     " << r.leads.size() << ": " << join(r.leads, ", ") << "\n\n";
    if (mixed) std::cout << "(signals have different rates: fs and samples are per lead; the first lead's above)\n";
    std::cout << pad("lead", 8) << pad("units", 7) << pad("gain", 10) << pad("min", 11) << pad("max", 11)
              << pad("NaN", 8) << (mixed ? "fs      samples\n" : "\n");
    for (size_t c = 0; c < r.leads.size(); ++c) {
      std::cout << pad(r.leads[c], 8) << pad(c < r.units.size() ? r.units[c] : "", 7)
                << pad(c < info.gains.size() ? num(info.gains[c], 8) : "-", 10) << pad(num(stats[c].min), 11)
                << pad(num(stats[c].max), 11) << pad(std::to_string(stats[c].nan), 8);
      if (mixed) std::cout << pad(num(lead_fs[c], 10), 8) << lead_samples[c];
      std::cout << "\n";
    }
    if (!r.meta.empty()) {
      std::cout << "\nmeta\n";
      for (const auto& [k, v] : r.meta) std::cout << "  " << pad(k, 12) << v << "\n";
    }
    if (!r.comments.empty()) {
      std::cout << "\ncomments\n";
      for (const auto& c : r.comments) std::cout << "  " << c << "\n";
    }
    return 0;
  }

  int directory() {
    const io::DirectorySummary s = io::summarize_directory(path_, fs_, recursive_);
    if (s.records.empty() && s.errors.empty()) {
      // PTB-XL and similar trees keep their records in subfolders: say so instead of "none".
      const std::vector<std::string> deeper = recursive_ ? std::vector<std::string>{} : io::find_records(path_, true);
      CT_CHECK(deeper.empty(), UsageError, path_, ": no records directly in this directory, but ", deeper.size(),
               " in its subdirectories (e.g. ", fs::relative(deeper.front(), path_).string(),
               "); pass -r to include them");
      throw DataError(str_cat(path_, ": no records found", recursive_ ? " (subdirectories included)" : "",
                              " (looked for ", join(io::record_extensions()), ")"));
    }
    if (json_) {
      json j;
      j["dir"] = path_;
      j["records"] = s.records.size();
      j["formats"] = s.formats;
      json fsj = json::object();
      for (const auto& [f, n] : s.fs_counts) fsj[num(f, 10)] = n;
      j["fs"] = fsj;
      j["lead_sets"] = s.lead_sets;
      j["duration_s"] = {{"min", s.min_duration_s},
                         {"median", s.median_duration_s},
                         {"max", s.max_duration_s},
                         {"total", s.total_duration_s}};
      j["sections"] = s.sections;
      j["errors"] = s.errors;
      std::cout << j.dump(2) << "\n";
      return 0;
    }
    std::cout << "directory " << path_ << "\n"
              << "records   " << s.records.size()
              << (s.errors.empty() ? "" : str_cat(" (+", s.errors.size(), " unreadable)")) << "\n";
    std::vector<std::string> parts;
    for (const auto& [f, n] : s.formats) parts.push_back(str_cat(f, " x", n));
    std::cout << "formats   " << join(parts) << "\n";
    parts.clear();
    for (const auto& [f, n] : s.fs_counts)
      parts.push_back(str_cat(f > 0 ? num(f, 10) + " Hz" : std::string("unknown"), " x", n));
    std::cout << "fs        " << join(parts);
    std::cout << "\nduration  min " << num(s.min_duration_s, 6) << " s, median " << num(s.median_duration_s, 6)
              << " s, max " << num(s.max_duration_s, 6) << " s, total " << num(s.total_duration_s / 3600.0, 4)
              << " h\nlead sets\n";
    for (const auto& [set, n] : s.lead_sets)
      std::cout << "  " << pad(std::to_string(n), 6) << (set.empty() ? "(no signals)" : set) << "\n";
    for (const auto& [title, counts] : s.sections) {
      std::cout << title << "\n";
      for (const auto& [k, n] : counts) std::cout << "  " << pad(std::to_string(n), 6) << k << "\n";
    }
    if (!s.errors.empty()) {
      std::cout << "unreadable\n";
      for (const auto& e : s.errors) std::cout << "  " << e << "\n";
    }
    return 0;
  }

  std::string path_;
  bool json_ = false;
  bool recursive_ = false;
  double fs_ = 0.0;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND(
    "info", "summarise a record (rate, leads, units, gains, ranges) or a directory of records",
    "cardiotorch info data/sample/cinc2021/E07500 --json   (or a directory: cardiotorch info data/sample/cinc2021)",
    cardiotorch::cli::InfoCommand)
