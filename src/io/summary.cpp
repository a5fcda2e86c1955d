#include "cardiotorch/io/summary.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/reader.h"

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

}  // namespace

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
