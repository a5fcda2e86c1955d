#include "cardiotorch/core/strings.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace cardiotorch {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest_match(const std::string& name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = static_cast<size_t>(-1), best_exact = best_d;
  const std::string lname = to_lower(name);
  for (const auto& c : candidates) {
    const std::string lc = to_lower(c);
    const size_t exact = edit_distance(lname, lc);
    size_t d = exact;
    // A prefix/substring relation is a strong hint (e.g. "band" -> "bandpass").
    if (!lname.empty() && (lc.find(lname) != std::string::npos || lname.find(lc) != std::string::npos))
      d = std::min<size_t>(d, 1);
    // Ties go to the closer spelling: "entry_flo" -> "entry_flow", not "entry_flow.init_convs".
    if (d < best_d || (d == best_d && exact < best_exact)) {
      best_d = d;
      best_exact = exact;
      best = c;
    }
  }
  // Accept up to a third of the length as typos (at least 2 edits).
  const size_t limit = std::max<size_t>(2, name.size() / 3);
  return best_d <= limit ? best : std::string();
}

std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  const std::string m = nearest_match(name, candidates);
  return m.empty() ? std::string() : " (did you mean '" + m + "'?)";
}

std::string format_fixed(double v, int digits, const std::string& non_finite) {
  if (!std::isfinite(v)) return non_finite;
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep, bool keep_empty) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (keep_empty || !cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (keep_empty || !cur.empty()) out.push_back(cur);
  return out;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string to_lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& x) {
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

std::string unknown_name_message(const std::string& what, const std::string& name,
                                 const std::vector<std::string>& available) {
  return "unknown " + what + " '" + name + "'" + did_you_mean(name, available) + "; available: " + join(available);
}

}  // namespace cardiotorch
