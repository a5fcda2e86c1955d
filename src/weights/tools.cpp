#include "cardiotorch/weights/tools.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <regex>
#include <unordered_map>
#include <unordered_set>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/weights/loader.h"
#include "cardiotorch/weights/save.h"

namespace fs = std::filesystem;

namespace cardiotorch::weights {
namespace {

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > (v < 0 ? 1 : 0); i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string size_text(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return "directory";
  const auto n = static_cast<double>(fs::file_size(path, ec));
  char buf[32];
  if (n < 1024) std::snprintf(buf, sizeof buf, "%.0f B", n);
  else if (n < 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024);
  else if (n < 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", n / (1024 * 1024));
  else std::snprintf(buf, sizeof buf, "%.2f GiB", n / (1024.0 * 1024 * 1024));
  return buf;
}

std::string dims(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

std::string inspect(const std::string& path, const TreeFormat& format) {
  ReadOptions ro;
  ro.load_tensors = false;
  const Checkpoint ck = read_checkpoint(path, ro);
  std::string out = path + ": " + ck.format + ", " + size_text(path) + "\n";
  if (!ck.metadata.empty()) {
    out += "metadata:\n";
    for (const auto& [k, v] : ck.metadata) {
      std::string shown = v;
      for (auto& c : shown)
        if (c == '\n') c = ' ';
      if (shown.size() > 100) shown = shown.substr(0, 100) + "...";
      out += "  " + k + ": " + shown + "\n";
    }
  }
  out += format_tree(ck.root(), format);
  const TreeStats st = tree_stats(ck.root());
  std::vector<std::string> by;
  for (const auto& [d, n] : st.elements_by_dtype) by.push_back(d + " " + with_commas(n));
  out += str_cat("total: ", st.tensors, " tensors, ", with_commas(st.elements), " parameters");
  if (!by.empty()) out += " (" + join(by) + ")";
  if (st.placeholders)
    out += str_cat("; ", st.placeholders, st.placeholders == 1 ? " placeholder object" : " placeholder objects");
  out += "\n";
  try {
    const StateDictSelection sel = select_state_dict(ck);
    out += str_cat("state_dict: ", sel.key.empty() ? std::string("the whole checkpoint") : "'" + sel.key + "'", ", ",
                   sel.tensors.size(), " tensors (what --weights loads without --key)\n");
  } catch (const DataError&) {
    out += "state_dict: none (no tensors)\n";
  }
  return out;
}

NamedTensors edit_keys(const NamedTensors& in, const KeyEdits& edits) {
  std::vector<std::pair<std::regex, std::string>> res;
  for (const std::string& r : edits.rename) {
    const size_t eq = r.find('=');
    CT_CHECK(eq != std::string::npos && eq > 0, ConfigError, "rename '", r, "': expected FROM=TO");
    try {
      res.emplace_back(std::regex(r.substr(0, eq)), r.substr(eq + 1));
    } catch (const std::regex_error&) {
      throw ConfigError(str_cat("rename '", r, "': '", r.substr(0, eq), "' is not a valid regular expression"));
    }
  }
  at::ScalarType cast = at::kFloat;
  if (!edits.dtype.empty()) {
    check_choice("dtype", edits.dtype, {"float32", "float16", "bfloat16"});
    cast = scalar_type_of(edits.dtype);
  }
  NamedTensors out;
  std::unordered_map<std::string, std::string> from;
  for (const auto& [name, t] : in) {
    bool skipped = false;
    for (const auto& g : edits.skip) skipped = skipped || glob_match(g, name);
    if (skipped) continue;
    std::string k = name;
    for (const auto& p : edits.strip_prefix)
      if (starts_with(k, p)) k = k.substr(p.size());
    for (const auto& [re, to] : res) k = std::regex_replace(k, re, to);
    for (const auto& p : edits.add_prefix) k = p + k;
    auto [it, fresh] = from.emplace(k, name);
    CT_CHECK(fresh, ConfigError, "the key edits map both '", it->second, "' and '", name, "' to '", k, "'");
    out.emplace_back(k, !edits.dtype.empty() && t.is_floating_point() ? t.to(cast) : t);
  }
  return out;
}

ConvertResult convert(const std::string& input, const std::string& output, const std::string& key,
                      const KeyEdits& edits) {
  const Checkpoint ck = read_checkpoint(input);
  const StateDictSelection sel = select_state_dict(ck, key);
  const NamedTensors sd = edit_keys(sel.tensors, edits);
  CT_CHECK(!sd.empty(), ConfigError, input, ": the key edits leave no tensor to write");
  save_state_dict(output, sd);
  ConvertResult r;
  r.key = sel.key;
  r.tensors = static_cast<int64_t>(sd.size());
  for (const auto& kv : sd) r.elements += kv.second.numel();
  return r;
}

bool DiffReport::equal() const {
  if (!only_a.empty() || !only_b.empty()) return false;
  for (const auto& d : common)
    if (d.shape_a != d.shape_b || !(d.max_abs <= atol)) return false;
  return true;
}

std::string DiffReport::to_string(size_t max_list) const {
  std::string out;
  size_t width = 0, shape_width = 0;
  for (const auto& d : common) {
    width = std::max(width, d.key.size());
    shape_width = std::max(shape_width, dims(d.shape_a).size());
  }
  width = std::min<size_t>(width, 60);
  size_t differing = 0, shapes = 0;
  const TensorDifference* worst = nullptr;
  for (const auto& d : common) {
    std::string name = d.key;
    if (name.size() < width) name.append(width - name.size(), ' ');
    if (d.shape_a != d.shape_b) {
      ++shapes;
      out += name + "  shape " + dims(d.shape_a) + " vs " + dims(d.shape_b) + "\n";
      continue;
    }
    if (!(d.max_abs <= atol)) ++differing;
    if (!worst || d.max_abs > worst->max_abs) worst = &d;
    std::string shape = dims(d.shape_a);
    if (shape.size() < shape_width) shape.append(shape_width - shape.size(), ' ');
    out += name + "  " + shape + "  max|a-b| " + num(d.max_abs) + (d.max_abs <= atol ? "" : "  *") + "\n";
  }
  out += str_cat(common.size(), " common tensors, ", differing, " differ by more than ", num(atol));
  if (worst) out += " (largest " + num(worst->max_abs) + " at " + worst->key + ")";
  out += str_cat("; ", shapes, " shape mismatches; ", only_a.size(), " only in a; ", only_b.size(), " only in b\n");
  auto show = [&](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    const size_t n = max_list ? std::min(v.size(), max_list) : v.size();
    out += std::string(what) + ": " + join(std::vector<std::string>(v.begin(), v.begin() + static_cast<long>(n))) +
           (n < v.size() ? ", ..." : "") + "\n";
  };
  show("only in a", only_a);
  show("only in b", only_b);
  return out;
}

DiffReport diff_state_dicts(const NamedTensors& a, const NamedTensors& b, double atol) {
  DiffReport r;
  r.atol = atol;
  std::unordered_map<std::string, const at::Tensor*> in_b;
  for (const auto& [k, t] : b) in_b[k] = &t;
  std::unordered_set<std::string> seen;
  for (const auto& [k, ta] : a) {
    auto it = in_b.find(k);
    if (it == in_b.end()) {
      r.only_a.push_back(k);
      continue;
    }
    seen.insert(k);
    const at::Tensor& tb = *it->second;
    TensorDifference d{k, ta.sizes().vec(), tb.sizes().vec(), 0.0};
    if (d.shape_a != d.shape_b) {
      d.max_abs = std::numeric_limits<double>::infinity();
    } else if (ta.numel() > 0) {
      const auto as_double = [](const at::Tensor& t) {
        return (t.is_complex() ? at::view_as_real(t.resolve_conj()) : t).to(at::kDouble);
      };
      const at::Tensor x = as_double(ta), y = as_double(tb);
      const at::Tensor nan_x = x.isnan(), nan_y = y.isnan();
      if (!nan_x.equal(nan_y)) {
        d.max_abs = std::numeric_limits<double>::infinity();
      } else {
        const at::Tensor diff = (x - y).abs().masked_fill(x == y, 0.0).masked_fill(nan_x, 0.0);  // inf == inf
        d.max_abs = diff.max().item<double>();
        if (std::isnan(d.max_abs)) d.max_abs = std::numeric_limits<double>::infinity();  // inf - inf
      }
    }
    r.common.push_back(std::move(d));
  }
  for (const auto& [k, t] : b)
    if (!seen.count(k)) r.only_b.push_back(k);
  return r;
}

}  // namespace cardiotorch::weights
