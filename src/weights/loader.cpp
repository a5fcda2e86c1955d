#include "cardiotorch/weights/loader.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cstdio>
#include <map>
#include <regex>
#include <unordered_map>
#include <unordered_set>

#include "cardiotorch/core/log.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::weights {
namespace {

std::string dims(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > (v < 0 ? 1 : 0); i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * x);
  return buf;
}

bool any_glob(const std::vector<std::string>& globs, const std::string& key) {
  for (const auto& g : globs)
    if (glob_match(g, key)) return true;
  return false;
}

// Loading converts between floating types (a float16 release into a float32 model) and between
// integer types; across kinds it would silently change meaning, so that is a mismatch.
bool compatible(at::ScalarType a, at::ScalarType b) {
  if (a == b) return true;
  if (a == at::kBool || b == at::kBool) return false;
  if (at::isComplexType(a) || at::isComplexType(b)) return at::isComplexType(a) && at::isComplexType(b);
  return at::isFloatingType(a) == at::isFloatingType(b);
}

std::string list_text(const std::vector<std::string>& v, size_t max_list) {
  if (max_list == 0 || v.size() <= max_list) return join(v);
  return join(std::vector<std::string>(v.begin(), v.begin() + static_cast<long>(max_list))) + ", ... (" +
         std::to_string(v.size() - max_list) + " more)";
}

struct Match {
  size_t target;  // index into targets
  size_t source;  // index into sources
};

struct Matching {
  LoadReport report;
  NamedTensors targets;
  NamedTensors sources;        // after renames and ignore rules
  std::vector<Match> matches;  // shape- and dtype-compatible pairs
};

Matching match(const torch::nn::Module& module, const NamedTensors& source_in, const MatchRules& rules) {
  Matching m;
  LoadReport& r = m.report;
  // Checkpoint side: renames, then ignore rules.
  std::vector<std::pair<std::regex, std::string>> renames;
  for (const auto& rr : rules.renames) {
    try {
      renames.emplace_back(std::regex(rr.pattern), rr.replacement);
    } catch (const std::regex_error& e) {
      throw ConfigError(str_cat("rename '", rr.pattern, "': not a valid regular expression (", e.what(), ")"));
    }
  }
  NamedTensors& sources = m.sources;
  std::unordered_map<std::string, size_t> source_index;
  std::unordered_map<std::string, std::string> original;  // renamed key -> key in the file
  for (const auto& [name, t] : source_in) {
    std::string key = name;
    for (const auto& [re, to] : renames) key = std::regex_replace(key, re, to);
    if (any_glob(rules.skip_source, key) || (key != name && any_glob(rules.skip_source, name))) {
      ++r.skipped_source;
      continue;
    }
    auto [it, fresh] = source_index.emplace(key, sources.size());
    CT_CHECK(fresh, ConfigError, "the renames map both '", original.count(key) ? original[key] : key, "' and '", name,
             "' to '", key, "'");
    original[key] = name;
    sources.emplace_back(key, t);
  }
  // Model side.
  for (auto& kv : module_state_dict(module)) {
    if (any_glob(rules.skip_target, kv.first)) r.skipped_target.push_back(kv.first);
    else m.targets.push_back(std::move(kv));
  }
  std::vector<bool> used(sources.size(), false);
  std::vector<int64_t> found(m.targets.size(), -1);
  std::map<std::string, int64_t> rule_counts;
  std::vector<std::string> rule_order;
  auto count_rule = [&](const std::string& label) {
    if (rule_counts[label]++ == 0) rule_order.push_back(label);
  };
  auto take = [&](size_t t, const std::string& key, const std::string& label) {
    auto it = source_index.find(key);
    if (it == source_index.end()) return false;
    found[t] = static_cast<int64_t>(it->second);
    used[it->second] = true;
    count_rule(label);
    return true;
  };
  for (size_t t = 0; t < m.targets.size(); ++t) {
    const std::string& key = m.targets[t].first;
    if (take(t, key, "exact")) continue;
    bool done = false;
    if (rules.candidates)
      for (const std::string& c : rules.candidates(key))
        if ((done = take(t, c, "model rule"))) break;
    if (done) continue;
    for (const PrefixRule& p : rules.prefixes) {
      if (!starts_with(key, p.target)) continue;
      if ((done =
               take(t, p.source + key.substr(p.target.size()), str_cat("prefix '", p.source, "' -> '", p.target, "'"))))
        break;
    }
  }
  // Automatic prefix alignment: index unused checkpoint keys by every dotted suffix, then count
  // how often each (checkpoint prefix, model prefix) pair explains an unmatched model key.
  if (rules.auto_prefix) {
    // Where the dotted suffixes of a key that still name a module and a tensor start:
    // "a.b.c" -> 0, 2. A bare tensor name ("weight") is no evidence: 'norm.weight' and
    // 'fc_norm.weight' share it without being the same thing.
    auto suffix_starts = [](const std::string& k) {
      std::vector<size_t> at;
      const size_t last = k.rfind('.');
      if (last == std::string::npos) return at;
      at.push_back(0);
      for (size_t i = 0; i + 1 < last; ++i)
        if (k[i] == '.') at.push_back(i + 1);
      return at;
    };
    std::unordered_map<std::string, std::vector<std::pair<std::string, size_t>>> by_suffix;
    for (size_t s = 0; s < sources.size(); ++s) {
      if (used[s]) continue;
      const std::string& k = sources[s].first;
      for (size_t at : suffix_starts(k)) by_suffix[k.substr(at)].emplace_back(k.substr(0, at), s);
    }
    std::map<std::pair<std::string, std::string>, int64_t> pair_counts;
    for (size_t t = 0; t < m.targets.size(); ++t) {
      if (found[t] >= 0) continue;
      const std::string& k = m.targets[t].first;
      for (size_t at : suffix_starts(k)) {
        auto it = by_suffix.find(k.substr(at));
        if (it == by_suffix.end()) continue;
        for (const auto& entry : it->second)
          if (!(entry.first.empty() && at == 0)) ++pair_counts[{entry.first, k.substr(0, at)}];
      }
    }
    std::pair<std::string, std::string> best;
    int64_t best_n = 0, second_n = 0;
    std::string second_label;
    for (const auto& [pr, n] : pair_counts) {
      if (n > best_n) {
        second_n = best_n;
        second_label = best_n ? str_cat("'", best.first, "' -> '", best.second, "'") : "";
        best = pr;
        best_n = n;
      } else if (n > second_n) {
        second_n = n;
        second_label = str_cat("'", pr.first, "' -> '", pr.second, "'");
      }
    }
    if (best_n >= 2 && best_n > second_n) {
      const std::string label = str_cat("auto prefix '", best.first, "' -> '", best.second, "'");
      for (size_t t = 0; t < m.targets.size(); ++t) {
        const std::string& k = m.targets[t].first;
        if (found[t] >= 0 || !starts_with(k, best.second)) continue;
        auto it = source_index.find(best.first + k.substr(best.second.size()));
        if (it != source_index.end() && !used[it->second]) take(t, it->first, label);
      }
    } else if (best_n >= 2) {
      r.note = str_cat("ambiguous prefixes: '", best.first, "' -> '", best.second, "' and ", second_label,
                       " both explain ", best_n, " keys; choose one with --key, --strip-prefix or --rename");
    }
  }
  // Shapes, dtypes and the statistics.
  for (size_t t = 0; t < m.targets.size(); ++t) {
    const auto& [key, target] = m.targets[t];
    r.total_elements += target.numel();
    if (found[t] < 0) {
      r.missing.push_back(key);
      continue;
    }
    const auto& [skey, src] = sources[static_cast<size_t>(found[t])];
    if (target.sizes() != src.sizes() || !compatible(target.scalar_type(), src.scalar_type())) {
      r.mismatched.push_back({key, original[skey], target.sizes().vec(), src.sizes().vec(),
                              dtype_name(target.scalar_type()), dtype_name(src.scalar_type())});
      continue;
    }
    if (target.scalar_type() != src.scalar_type()) ++r.converted;
    m.matches.push_back({t, static_cast<size_t>(found[t])});
    r.matched_elements += target.numel();
  }
  r.total = static_cast<int64_t>(m.targets.size());
  r.matched = static_cast<int64_t>(m.matches.size());
  for (size_t s = 0; s < sources.size(); ++s)
    if (!used[s]) r.unexpected.push_back(original[sources[s].first]);
  for (const auto& label : rule_order) r.rules_used.emplace_back(label, rule_counts[label]);
  return m;
}

// The rule the checks enforce, as the error that explains it; "" when the load may proceed.
std::string failure(const LoadReport& r, double threshold, bool strict) {
  const std::string where = r.path.empty() ? std::string("state_dict") : r.path;
  if (r.total == 0)
    return str_cat(where, ": the model has no tensors left to load (", r.skipped_target.size(),
                   " excluded by skip rules)");
  if (!r.mismatched.empty()) {
    std::vector<std::string> all;
    for (const auto& mm : r.mismatched) all.push_back(mm.describe());
    return str_cat(where, ": ", r.mismatched.size(), " of ", r.total,
                   " model tensors have another shape or dtype in the checkpoint (wrong architecture or size?): ",
                   join(all, "; "));
  }
  if (r.matched == 0)
    return str_cat(
        where, ": no checkpoint key matches the model (model keys like ",
        list_text(
            std::vector<std::string>(r.missing.begin(), r.missing.begin() + std::min<size_t>(3, r.missing.size())), 3),
        "; checkpoint keys like ",
        list_text(std::vector<std::string>(r.unexpected.begin(),
                                           r.unexpected.begin() + std::min<size_t>(3, r.unexpected.size())),
                  3),
        "); see --key, --strip-prefix, --rename", r.note.empty() ? "" : "; " + r.note);
  const double missing_frac = static_cast<double>(r.missing.size()) / static_cast<double>(r.total);
  if (missing_frac > threshold)
    return str_cat(where, ": ", r.missing.size(), " of ", r.total, " model tensors (", percent(missing_frac),
                   ") are not in the checkpoint, above missing_key_threshold ", percent(threshold),
                   "; missing: ", list_text(r.missing, 10), r.note.empty() ? "" : "; " + r.note);
  if (strict && (!r.missing.empty() || !r.unexpected.empty()))
    return str_cat(where, ": strict load: ", r.missing.size(), " missing (", list_text(r.missing, 10), "), ",
                   r.unexpected.size(), " unexpected (", list_text(r.unexpected, 10), ")");
  return "";
}

}  // namespace

bool glob_match(const std::string& pattern, const std::string& text) {
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

MatchRules& MatchRules::extend(const MatchRules& more) {
  skip_target.insert(skip_target.end(), more.skip_target.begin(), more.skip_target.end());
  skip_source.insert(skip_source.end(), more.skip_source.begin(), more.skip_source.end());
  renames.insert(renames.end(), more.renames.begin(), more.renames.end());
  prefixes.insert(prefixes.end(), more.prefixes.begin(), more.prefixes.end());
  if (more.candidates) {
    if (!candidates) {
      candidates = more.candidates;
    } else {
      auto first = candidates, second = more.candidates;
      candidates = [first, second](const std::string& key) {
        auto out = first(key);
        auto extra = second(key);
        out.insert(out.end(), extra.begin(), extra.end());
        return out;
      };
    }
  }
  auto_prefix = auto_prefix && more.auto_prefix;
  return *this;
}

MatchRules MatchRules::defaults() {
  MatchRules r;
  r.prefixes = {{"module.", ""}, {"_orig_mod.", ""}, {"module._orig_mod.", ""}, {"_orig_mod.module.", ""}};
  return r;
}

void LoadOptions::validate() const {
  CT_CHECK(missing_key_threshold >= 0.0 && missing_key_threshold <= 1.0, ConfigError,
           "missing_key_threshold must be in [0, 1], got ", missing_key_threshold);
  (void)rules();
}

MatchRules LoadOptions::rules() const {
  MatchRules r;
  r.skip_target = skip;
  r.skip_source = ignore;
  for (const std::string& rn : rename) {
    const size_t eq = rn.find('=');
    CT_CHECK(eq != std::string::npos && eq > 0, ConfigError, "rename '", rn,
             "': expected FROM=TO (a regex and its replacement)");
    RenameRule rr{rn.substr(0, eq), rn.substr(eq + 1)};
    try {
      std::regex check(rr.pattern);
    } catch (const std::regex_error& e) {
      throw ConfigError(str_cat("rename '", rn, "': '", rr.pattern, "' is not a valid regular expression"));
    }
    r.renames.push_back(std::move(rr));
  }
  for (const std::string& p : strip_prefix) r.prefixes.push_back({p, ""});
  for (const std::string& p : add_prefix) r.prefixes.push_back({"", p});
  r.auto_prefix = auto_prefix;
  return r;
}

std::string KeyMismatch::describe() const {
  std::string s = target + ": model " + dims(target_shape);
  if (target_dtype != source_dtype) s += " " + target_dtype;
  s += " vs checkpoint " + dims(source_shape);
  if (target_dtype != source_dtype) s += " " + source_dtype;
  if (source != target) s += " ('" + source + "')";
  return s;
}

std::string LoadReport::summary() const {
  std::string s =
      str_cat(applied ? "loaded " : "matched ", matched, "/", total, " tensors (", percent(coverage()), ")");
  if (!path.empty()) s += " from " + path;
  if (!key.empty()) s += " [" + key + "]";
  s +=
      str_cat("; ", missing.size(), " missing, ", unexpected.size(), " unexpected, ", mismatched.size(), " mismatched");
  return s;
}

std::string LoadReport::to_string(size_t max_list) const {
  std::string s = "weights: " + (path.empty() ? std::string("(state_dict)") : path);
  if (!format.empty()) s += " (" + format + ")";
  s += "\n";
  if (!path.empty()) {
    s += "  state_dict: " + (key.empty() ? std::string("the whole checkpoint") : "'" + key + "'") +
         (key_automatic ? " (found automatically)" : "");
    if (!alternatives.empty()) {
      std::vector<std::string> alt;
      for (const auto& [k, n] : alternatives) alt.push_back(str_cat(k, " (", n, n == 1 ? " tensor)" : " tensors)"));
      s += "; other tensor groups: " + list_text(alt, max_list);
    }
    s += "\n";
  }
  s += str_cat("  ", applied ? "loaded " : "matched ", matched, "/", total, " model tensors (", percent(coverage()),
               "), ", with_commas(matched_elements), "/", with_commas(total_elements), " elements\n");
  if (!rules_used.empty()) {
    std::vector<std::string> parts;
    for (const auto& [label, n] : rules_used) parts.push_back(str_cat(n, " ", label));
    s += "  matched by: " + join(parts) + "\n";
  }
  if (converted) s += str_cat("  dtype converted: ", converted, "\n");
  if (!skipped_target.empty())
    s += str_cat("  skipped by rules: ", skipped_target.size(), " model tensors (", list_text(skipped_target, max_list),
                 ")\n");
  if (skipped_source) s += str_cat("  ignored by rules: ", skipped_source, " checkpoint tensors\n");
  s += str_cat("  missing: ", missing.size(), missing.empty() ? "" : " (" + list_text(missing, max_list) + ")", "\n");
  s += str_cat("  unexpected: ", unexpected.size(),
               unexpected.empty() ? "" : " (" + list_text(unexpected, max_list) + ")", "\n");
  s += str_cat("  mismatched: ", mismatched.size(), "\n");
  for (size_t i = 0; i < mismatched.size() && (max_list == 0 || i < max_list); ++i)
    s += "    " + mismatched[i].describe() + "\n";
  if (max_list && mismatched.size() > max_list) s += str_cat("    ... ", mismatched.size() - max_list, " more\n");
  if (!note.empty()) s += "  note: " + note + "\n";
  return s;
}

NamedTensors module_state_dict(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& p : module.named_parameters(true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

LoadReport match_state_dict(const torch::nn::Module& module, const NamedTensors& source, const MatchRules& rules) {
  return match(module, source, rules).report;
}

LoadReport load_state_dict(torch::nn::Module& module, const NamedTensors& source, const LoadOptions& options,
                           const MatchRules& model_rules) {
  options.validate();
  MatchRules rules = MatchRules::defaults();
  rules.extend(model_rules).extend(options.rules());
  Matching m = match(module, source, rules);
  m.report.path = options.path;
  const std::string why = failure(m.report, options.missing_key_threshold, options.strict);
  if (!why.empty()) throw WeightsLoadError(why, m.report);
  {
    at::NoGradGuard no_grad;
    for (const Match& mt : m.matches) m.targets[mt.target].second.copy_(m.sources[mt.source].second);
  }
  m.report.applied = true;
  return m.report;
}

LoadReport load_into(torch::nn::Module& module, const LoadOptions& options, const MatchRules& model_rules) {
  CT_CHECK(!options.path.empty(), ConfigError, "weights: no checkpoint path given");
  options.validate();
  const Checkpoint ck = read_checkpoint(options.path);
  StateDictSelection sel = select_state_dict(ck, options.key);
  auto fill = [&](LoadReport& r) {
    r.format = ck.format;
    r.key = sel.key;
    r.key_automatic = sel.automatic;
    r.alternatives = sel.alternatives;
  };
  try {
    LoadReport r = load_state_dict(module, sel.tensors, options, model_rules);
    fill(r);
    CT_LOG_INFO(r.to_string());
    return r;
  } catch (WeightsLoadError& e) {
    LoadReport r = e.report();
    fill(r);
    CT_LOG_DEBUG(r.to_string(0));
    throw WeightsLoadError(e.what(), std::move(r));
  }
}

LoadReport load_into(torch::nn::Module& module, const std::string& path, LoadOptions options,
                     const MatchRules& model_rules) {
  options.path = path;
  return load_into(module, options, model_rules);
}

}  // namespace cardiotorch::weights
