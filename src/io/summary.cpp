#include "cardiotorch/io/summary.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/edf.h"
#include "cardiotorch/io/mat.h"
#include "cardiotorch/io/npy_format.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/wfdb.h"
#include "io/file_util.h"
#include "io/record_util.h"

namespace fs = std::filesystem;

namespace cardiotorch::io {
namespace {

std::map<std::string, SummaryHook>& hooks() {
  static std::map<std::string, SummaryHook> h;
  return h;
}
std::mutex& hooks_mutex() {
  static std::mutex m;
  return m;
}

RecordInfo from_header(const std::string& path, const wfdb::Header& h, const std::string& format) {
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

}  // namespace

RecordInfo read_record_info(const std::string& path) {
  const std::string format = record_format(path);
  if (format == "wfdb") return from_header(path, wfdb::read_header(path), "wfdb");
  if (format == "mat") {
    const std::string hea = (fs::path(path).parent_path() / fs::path(path).stem()).string() + ".hea";
    std::error_code ec;
    if (fs::exists(hea, ec)) {
      RecordInfo info = from_header(path, wfdb::read_header(hea), "mat+wfdb");
      info.path = path;
      return info;
    }
  }
  if (format == "edf") {
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
  if (format == "npy") {
    // The header alone gives the shape.
    const std::string head = read_file_prefix(path, 1 << 16);
    const NpyHeader h = parse_npy_header(head.data(), head.size(), path);
    RecordInfo info;
    info.path = path;
    info.name = fs::path(path).stem().string();
    info.format = "npy";
    const int64_t leads = h.shape.size() == 2 ? h.shape[0] : 1;
    info.n_samples = h.shape.empty() ? 1 : h.shape.back();
    for (int64_t i = 0; i < leads; ++i) info.leads.push_back("ch" + std::to_string(i)), info.units.push_back("");
    return info;
  }
  // Bare .mat, .npz and sniffed files: decode the record.
  const Record r = read_record(path);
  RecordInfo info;
  info.path = path;
  info.name = r.name;
  info.format = format;
  info.fs = r.fs;
  info.n_samples = r.n_samples();
  info.leads = r.leads;
  info.units = r.units;
  info.comments = r.comments;
  info.meta = r.meta;
  return info;
}

bool add_summary_hook(const std::string& name, SummaryHook hook) {
  std::lock_guard<std::mutex> lock(hooks_mutex());
  hooks()[name] = std::move(hook);
  return true;
}

std::vector<std::string> summary_hook_names() {
  std::lock_guard<std::mutex> lock(hooks_mutex());
  std::vector<std::string> names;
  for (const auto& kv : hooks()) names.push_back(kv.first);
  return names;
}

DirectorySummary summarize_directory(const std::string& dir, double fs_if_unknown, bool recursive) {
  DirectorySummary s;
  s.dir = dir;
  std::vector<double> durations;
  for (const std::string& p : find_records(dir, recursive)) {
    try {
      RecordInfo info = read_record_info(p);
      if (info.fs == 0) info.fs = fs_if_unknown;
      s.formats[info.format]++;
      s.fs_counts[info.fs]++;
      s.lead_sets[join(info.leads, ", ")]++;
      if (info.duration_s() > 0) durations.push_back(info.duration_s());
      s.records.push_back(std::move(info));
    } catch (const Error& e) {
      s.errors.emplace_back(e.what());
    }
  }
  if (!durations.empty()) {
    std::sort(durations.begin(), durations.end());
    s.min_duration_s = durations.front();
    s.max_duration_s = durations.back();
    const size_t n = durations.size();
    s.median_duration_s = n % 2 ? durations[n / 2] : 0.5 * (durations[n / 2 - 1] + durations[n / 2]);
    for (double d : durations) s.total_duration_s += d;
  }
  std::map<std::string, SummaryHook> copy;
  {
    std::lock_guard<std::mutex> lock(hooks_mutex());
    copy = hooks();
  }
  for (const auto& [name, hook] : copy) {
    try {
      hook(dir, s);
    } catch (const std::exception& e) {
      s.errors.push_back(str_cat(dir, ": summary hook '", name, "': ", e.what()));
    }
  }
  return s;
}

}  // namespace cardiotorch::io
