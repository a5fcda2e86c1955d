#include "io/record_util.h"

#include "cardiotorch/core/strings.h"

namespace cardiotorch::io {

const std::vector<std::string>& standard_12_leads() {
  static const std::vector<std::string> leads = {"I",  "II", "III", "aVR", "aVL", "aVF",
                                                 "V1", "V2", "V3",  "V4",  "V5",  "V6"};
  return leads;
}

std::string normalize_units(const std::string& units) {
  const std::string t = trim(units);
  const std::string l = to_lower(t);
  if (l == "mv") return "mV";
  if (l == "uv" || l == "\xc2\xb5v" || l == "\xce\xbcv") return "uV";
  if (l == "v") return "V";
  return t;
}

void meta_from_comments(const std::vector<std::string>& comments, std::map<std::string, std::string>& meta) {
  for (const auto& c : comments) {
    const auto colon = c.find(':');
    if (colon == std::string::npos || colon == 0) continue;
    const std::string key = to_lower(trim(c.substr(0, colon)));
    // Only short identifier-like keys: free text with a colon in it is not a field.
    if (key.empty() || key.size() > 24 ||
        key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_ ") != std::string::npos)
      continue;
    meta.emplace(key, trim(c.substr(colon + 1)));
  }
}

}  // namespace cardiotorch::io

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/record.h"

namespace cardiotorch::io {

std::vector<int> resolve_channels(const std::vector<std::string>& selectors, const std::vector<std::string>& names,
                                  const std::string& origin, const std::vector<std::string>& aliases) {
  std::vector<int> out;
  const int n = static_cast<int>(names.size());
  if (selectors.empty()) {
    for (int i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  for (const auto& raw : selectors) {
    const std::string sel = trim(raw);
    CT_CHECK(!sel.empty(), ConfigError, origin, ": empty channel name in the selection");
    if (sel.find_first_not_of("0123456789") == std::string::npos) {
      const long idx = sel.size() > 9 ? -1 : std::stol(sel);
      CT_CHECK(idx >= 0 && idx < n, ConfigError, origin, ": channel index ", sel, " out of range (the record has ", n,
               " channels: ", join(names), ")");
      out.push_back(static_cast<int>(idx));
      continue;
    }
    int found = -1;
    auto find = [&](auto&& eq) {
      for (int i = 0; i < n && found < 0; ++i)
        if (eq(names[i]) || (i < static_cast<int>(aliases.size()) && eq(aliases[i]))) found = i;
    };
    find([&](const std::string& s) { return s == sel; });
    if (found < 0) {
      const std::string norm = normalize_lead_name(sel);
      find([&](const std::string& s) { return normalize_lead_name(s) == norm; });
    }
    if (found < 0) {
      const std::string low = to_lower(sel);
      find([&](const std::string& s) { return to_lower(s) == low; });
    }
    CT_CHECK(found >= 0, ConfigError, origin, ": no channel '", sel, "'", did_you_mean(sel, names),
             " (channels: ", join(names), ")");
    out.push_back(found);
  }
  return out;
}

}  // namespace cardiotorch::io
