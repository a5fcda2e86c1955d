// io::wfdb::read_record: a WFDB record as an io::Record (float32 tensor). The only WFDB
// source that uses ATen; decoding itself is in the torch-free wfdb_signal.cpp.
#include <ATen/ATen.h>

#include <cstring>
#include <limits>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/record.h"
#include "cardiotorch/io/wfdb.h"

namespace cardiotorch::io::wfdb {
namespace {

std::string normalize_units(const std::string& u) {
  const std::string l = to_lower(u);
  if (l == "mv") return "mV";
  if (l == "uv" || l == "\xC2\xB5v" || l == "\xCE\xBCv") return "uV";
  return u;
}

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Channel given as an index ("0") or a signal name (exact, then case-insensitive, then as a
// normalised lead name: "ii" finds "II").
int resolve_channel(const std::string& want, const std::vector<std::string>& names, const std::string& origin) {
  if (all_digits(want)) {
    const long idx = std::strtol(want.c_str(), nullptr, 10);
    CT_CHECK(idx >= 0 && idx < static_cast<long>(names.size()), ConfigError, origin, ": channel index ", want,
             " out of range (", names.size(), " signals)");
    return static_cast<int>(idx);
  }
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == want) return static_cast<int>(i);
  for (size_t i = 0; i < names.size(); ++i)
    if (to_lower(names[i]) == to_lower(want)) return static_cast<int>(i);
  const std::string nw = normalize_lead_name(want);
  for (size_t i = 0; i < names.size(); ++i)
    if (normalize_lead_name(names[i]) == nw) return static_cast<int>(i);
  throw ConfigError(
      str_cat(origin, ": no signal named '", want, "' (signals: ", join(names), ")", did_you_mean(want, names)));
}

std::string stem(const std::string& path) {
  std::string s = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  if (ends_with(s, ".hea")) s.resize(s.size() - 4);
  return s;
}

}  // namespace

Record read_record(const std::string& record_path, const ReadOptions& options) {
  const Header h = read_header(record_path);
  std::vector<std::string> names;
  if (h.is_multi_segment()) {
    // Names come from the layout (or first) segment; read_signals reports them.
    SignalReadOptions probe;
    probe.to = 0;
    names = read_signals(record_path, probe, false).names;
  } else {
    for (const auto& s : h.signals) names.push_back(s.description);
  }
  SignalReadOptions so;
  so.from = options.from;
  so.to = options.to;
  for (const auto& c : options.channels) so.channels.push_back(resolve_channel(c, names, h.origin));
  // Single-segment records convert digital -> float32 directly (one pass, no double copy);
  // multi-segment ones need each segment's own calibration, which read_signals applies.
  const bool multi = h.is_multi_segment();
  const DigitalSignals s = read_signals(record_path, so, multi);

  Record r;
  r.name = stem(record_path);
  r.source = h.origin;
  r.fs = h.fs;
  const int64_t nc = static_cast<int64_t>(s.samples.size());
  r.signal = at::empty({nc, s.n_frames}, at::kFloat);
  float* dst = r.signal.data_ptr<float>();
  for (int64_t c = 0; c < nc; ++c) {
    float* row = dst + c * s.n_frames;
    if (multi) {
      const std::vector<double>& src = s.physical[static_cast<size_t>(c)];
      for (int64_t i = 0; i < s.n_frames; ++i) row[i] = static_cast<float>(src[static_cast<size_t>(i)]);
    } else {
      const int32_t* src = s.samples[static_cast<size_t>(c)].data();
      const double g = s.gain[static_cast<size_t>(c)], b = static_cast<double>(s.baseline[static_cast<size_t>(c)]);
      const float nan = std::numeric_limits<float>::quiet_NaN();
      for (int64_t i = 0; i < s.n_frames; ++i) {  // branch-free so it vectorises
        const float v = static_cast<float>((static_cast<double>(src[i]) - b) / g);
        row[i] = src[i] == kInvalidSample ? nan : v;
      }
    }
  }
  for (size_t c = 0; c < s.names.size(); ++c) {
    r.leads.push_back(normalize_lead_name(s.names[c]));
    r.units.push_back(normalize_units(s.units[c]));
  }
  r.comments = h.comments;
  if (!h.base_time.empty()) r.meta["base_time"] = h.base_time;
  if (!h.base_date.empty()) r.meta["base_date"] = h.base_date;
  r.meta["wfdb_record_name"] = h.record_name;
  return r;
}

}  // namespace cardiotorch::io::wfdb
