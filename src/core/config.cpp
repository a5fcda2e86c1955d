#include "cardiotorch/core/config.h"

#include "cardiotorch/core/file.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace cardiotorch {

struct ConfigNode::Impl {
  YAML::Node node;
  std::string path;
  std::shared_ptr<const std::string> origin;
};

namespace {

std::shared_ptr<const std::string> make_origin(const std::string& s) { return std::make_shared<const std::string>(s); }

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

YAML::Node parse_text(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(str_cat(origin, ":", e.mark.line + 1, ":", e.mark.column + 1, ": invalid YAML: ", e.msg));
  }
}

void merge_into(YAML::Node base, const YAML::Node& over) {
  for (auto it = over.begin(); it != over.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    const YAML::Node& cbase = base;
    if (cbase[key] && cbase[key].IsMap() && it->second.IsMap()) {
      YAML::Node b = base[key];
      merge_into(b, it->second);
    } else {
      base[key] = YAML::Clone(it->second);
    }
  }
}

YAML::Node load_composed(const fs::path& file, std::vector<fs::path>& stack) {
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(file, ec);
  if (ec) canon = file;
  for (const auto& s : stack)
    CT_CHECK(s != canon, ConfigError, file.string(), ": include cycle (", s.string(), " includes itself)");
  std::string text;
  try {
    text = read_file(file.string());
  } catch (const IoError& e) {
    throw ConfigError(e.what());  // a config file that cannot be read is a usage problem (exit 2)
  }
  YAML::Node root = parse_text(text, file.string());
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  // A top-level list (a pipeline file) is fine on its own; only mappings compose.
  if (root.IsSequence() && stack.empty()) return root;
  CT_CHECK(root.IsMap(), ConfigError, file.string(),
           stack.empty() ? ": a config file must be a mapping or a list at the top level"
                         : ": an included config file must be a mapping at the top level");
  YAML::Node includes;
  bool has_includes = false;
  const YAML::Node& croot = root;  // const access: operator[] on a non-const node inserts the key
  for (const char* k : {"defaults", "include"}) {
    if (croot[k]) {
      CT_CHECK(!has_includes, ConfigError, file.string(), ": use either 'defaults' or 'include', not both");
      includes = YAML::Clone(croot[k]);
      has_includes = true;
      root.remove(k);
    }
  }
  if (!has_includes) return root;
  stack.push_back(canon);
  YAML::Node merged(YAML::NodeType::Map);
  std::vector<std::string> paths;
  if (includes.IsScalar()) {
    paths.push_back(includes.as<std::string>());
  } else if (includes.IsSequence()) {
    for (const auto& p : includes) {
      CT_CHECK(p.IsScalar(), ConfigError, file.string(), ": 'defaults' entries must be file paths");
      paths.push_back(p.as<std::string>());
    }
  } else {
    throw ConfigError(str_cat(file.string(), ": 'defaults' must be a path or a list of paths"));
  }
  for (const auto& p : paths) {
    fs::path inc = fs::path(p).is_absolute() ? fs::path(p) : file.parent_path() / p;
    if (!inc.has_extension()) inc += ".yaml";
    merge_into(merged, load_composed(inc, stack));
  }
  stack.pop_back();
  merge_into(merged, root);
  return merged;
}

// Parses "a.b[2].c" into components; an index component is "[2]".
std::vector<std::string> parse_key_path(const std::string& path) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '.') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c == '[') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      size_t j = path.find(']', i);
      CT_CHECK(j != std::string::npos, UsageError, "--set ", path, ": missing ']'");
      out.push_back(path.substr(i, j - i + 1));
      i = j;
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

ConfigNode::ConfigNode() : impl_(std::make_shared<Impl>(Impl{YAML::Node(), "", make_origin("<config>")})) {}
ConfigNode::ConfigNode(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConfigNode ConfigNode::parse(const std::string& text, const std::string& origin) {
  YAML::Node n = parse_text(text, origin);
  return ConfigNode(std::make_shared<Impl>(Impl{n, "", make_origin(origin)}));
}

ConfigNode ConfigNode::load(const std::string& path) {
  std::vector<fs::path> stack;
  YAML::Node n = load_composed(path, stack);
  return ConfigNode(std::make_shared<Impl>(Impl{n, "", make_origin(path)}));
}

ConfigNode ConfigNode::map() {
  return ConfigNode(std::make_shared<Impl>(Impl{YAML::Node(YAML::NodeType::Map), "", make_origin("<config>")}));
}
ConfigNode ConfigNode::sequence() {
  return ConfigNode(std::make_shared<Impl>(Impl{YAML::Node(YAML::NodeType::Sequence), "", make_origin("<config>")}));
}
ConfigNode ConfigNode::string(const std::string& value) {
  return ConfigNode(std::make_shared<Impl>(Impl{YAML::Node(value), "", make_origin("<config>")}));
}
ConfigNode ConfigNode::scalar(const std::string& text) {
  return ConfigNode(std::make_shared<Impl>(Impl{YAML::Load(text), "", make_origin("<config>")}));
}

bool ConfigNode::is_null() const { return !impl_->node || impl_->node.IsNull(); }
bool ConfigNode::is_map() const { return impl_->node && impl_->node.IsMap(); }
bool ConfigNode::is_sequence() const { return impl_->node && impl_->node.IsSequence(); }
bool ConfigNode::is_scalar() const { return impl_->node && impl_->node.IsScalar(); }
size_t ConfigNode::size() const { return (is_map() || is_sequence()) ? impl_->node.size() : 0; }

std::vector<std::string> ConfigNode::keys() const {
  std::vector<std::string> out;
  if (!is_map()) return out;
  for (auto it = impl_->node.begin(); it != impl_->node.end(); ++it) out.push_back(it->first.as<std::string>());
  return out;
}

bool ConfigNode::has(const std::string& key) const {
  if (!is_map()) return false;
  for (auto it = impl_->node.begin(); it != impl_->node.end(); ++it)
    if (it->first.as<std::string>() == key) return true;
  return false;
}

ConfigNode ConfigNode::operator[](const std::string& key) const {
  YAML::Node child;
  if (is_map() && has(key)) child = impl_->node[key];
  return ConfigNode(std::make_shared<Impl>(Impl{child, child_path(impl_->path, key), impl_->origin}));
}

ConfigNode ConfigNode::operator[](size_t index) const {
  YAML::Node child;
  if (is_sequence() && index < impl_->node.size()) child = impl_->node[index];
  return ConfigNode(
      std::make_shared<Impl>(Impl{child, impl_->path + "[" + std::to_string(index) + "]", impl_->origin}));
}

const std::string& ConfigNode::path() const { return impl_->path; }
const std::string& ConfigNode::origin() const { return *impl_->origin; }
std::string ConfigNode::where() const { return impl_->path.empty() ? origin() : origin() + ": " + impl_->path; }

std::string ConfigNode::as_string() const {
  CT_CHECK(is_scalar(), ConfigError, where(), ": expected a string",
           is_null() ? " but the key is missing or null" : "");
  return impl_->node.Scalar();
}

double ConfigNode::as_double() const {
  CT_CHECK(is_scalar(), ConfigError, where(), ": expected a number");
  const std::string s = trim(impl_->node.Scalar());
  const std::string l = to_lower(s);
  if (l == ".inf" || l == "inf") return INFINITY;
  if (l == "-.inf" || l == "-inf") return -INFINITY;
  if (l == ".nan" || l == "nan") return NAN;
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(s, &pos);
  } catch (...) {
    pos = 0;
  }
  CT_CHECK(pos == s.size() && !s.empty(), ConfigError, where(), ": expected a number, got '", s, "'");
  return v;
}

int64_t ConfigNode::as_int() const {
  CT_CHECK(is_scalar(), ConfigError, where(), ": expected an integer");
  const std::string s = trim(impl_->node.Scalar());
  size_t pos = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &pos);
  } catch (...) {
    pos = 0;
  }
  CT_CHECK(pos == s.size() && !s.empty(), ConfigError, where(), ": expected an integer, got '", s, "'");
  return static_cast<int64_t>(v);
}

bool ConfigNode::as_bool() const {
  CT_CHECK(is_scalar(), ConfigError, where(), ": expected true or false");
  const std::string s = to_lower(trim(impl_->node.Scalar()));
  if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  throw ConfigError(str_cat(where(), ": expected true or false, got '", impl_->node.Scalar(), "'"));
}

std::vector<std::string> ConfigNode::as_string_list() const {
  std::vector<std::string> out;
  if (is_null()) return out;
  if (is_scalar()) return {as_string()};
  CT_CHECK(is_sequence(), ConfigError, where(), ": expected a list of strings");
  for (size_t i = 0; i < size(); ++i) out.push_back((*this)[i].as_string());
  return out;
}

void ConfigNode::set(const std::string& key, const ConfigNode& value) {
  if (!impl_->node || impl_->node.IsNull()) impl_->node = YAML::Node(YAML::NodeType::Map);
  CT_CHECK(is_map(), ConfigError, where(), ": cannot set key '", key, "' on a non-mapping");
  impl_->node[key] = value.impl_->node;
}

void ConfigNode::set_scalar(const std::string& key, const std::string& text) { set(key, scalar(text)); }

void ConfigNode::push_back(const ConfigNode& value) {
  if (!impl_->node || impl_->node.IsNull()) impl_->node = YAML::Node(YAML::NodeType::Sequence);
  CT_CHECK(is_sequence(), ConfigError, where(), ": cannot append to a non-list");
  impl_->node.push_back(value.impl_->node);
}

void ConfigNode::remove(const std::string& key) {
  if (is_map()) impl_->node.remove(key);
}

ConfigNode ConfigNode::clone() const {
  return ConfigNode(std::make_shared<Impl>(Impl{YAML::Clone(impl_->node), impl_->path, impl_->origin}));
}

void ConfigNode::merge(const ConfigNode& over) {
  if (over.is_null()) return;
  if (!is_map() || !over.is_map()) {
    impl_->node = YAML::Clone(over.impl_->node);
    return;
  }
  merge_into(impl_->node, over.impl_->node);
}

void ConfigNode::apply_override(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  CT_CHECK(eq != std::string::npos && eq > 0, UsageError, "--set '", assignment,
           "': expected KEY=VALUE, e.g. --set train.lr=0.001");
  const std::string key = trim(assignment.substr(0, eq));
  const std::string value = assignment.substr(eq + 1);
  std::vector<std::string> parts = parse_key_path(key);
  CT_CHECK(!parts.empty(), UsageError, "--set '", assignment, "': empty key");
  YAML::Node v;
  try {
    v = value.empty() ? YAML::Node(std::string()) : YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw UsageError(str_cat("--set ", key, ": cannot parse value '", value, "': ", e.msg));
  }
  if (!impl_->node || impl_->node.IsNull()) impl_->node = YAML::Node(YAML::NodeType::Map);
  // Walk with a chain of nodes; yaml-cpp nodes are references into the tree.
  YAML::Node cur = impl_->node;
  std::string walked;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    const bool last = i + 1 == parts.size();
    if (p.front() == '[') {
      CT_CHECK(cur.IsSequence(), UsageError, "--set ", key, ": '", walked, "' is not a list");
      size_t idx = 0;
      try {
        idx = std::stoul(p.substr(1, p.size() - 2));
      } catch (...) {
        throw UsageError(str_cat("--set ", key, ": bad index ", p));
      }
      CT_CHECK(idx < cur.size(), UsageError, "--set ", key, ": index ", idx, " out of range for '", walked, "' (size ",
               cur.size(), ")");
      walked += p;
      if (last) {
        cur[idx] = v;
      } else {
        YAML::Node next = cur[idx];
        cur.reset(next);
      }
    } else {
      if (cur.IsNull()) cur = YAML::Node(YAML::NodeType::Map);
      CT_CHECK(cur.IsMap(), UsageError, "--set ", key, ": '", walked, "' is not a mapping");
      walked = walked.empty() ? p : walked + "." + p;
      if (last) {
        cur[p] = v;
      } else {
        if (!cur[p] || cur[p].IsNull()) cur[p] = YAML::Node(YAML::NodeType::Map);
        YAML::Node next = cur[p];
        cur.reset(next);
      }
    }
  }
}

namespace {
// Lists of scalars read best inline ([I, II, V1]); everything else stays in block style.
void flow_scalar_lists(YAML::Node n) {
  if (n.IsSequence()) {
    bool all_scalar = true;
    for (auto e : n) all_scalar = all_scalar && (e.IsScalar() || e.IsNull());
    if (all_scalar) n.SetStyle(YAML::EmitterStyle::Flow);
  }
  if (n.IsSequence())
    for (auto e : n) flow_scalar_lists(e);
  else if (n.IsMap())
    for (auto kv : n) flow_scalar_lists(kv.second);
}
}  // namespace

std::string ConfigNode::to_yaml() const {
  YAML::Node copy = YAML::Clone(impl_->node);
  flow_scalar_lists(copy);
  YAML::Emitter out;
  out.SetIndent(2);
  out << copy;
  std::string s = out.c_str();
  if (!s.empty() && s.back() != '\n') s += '\n';
  return s;
}

void ConfigNode::save(const std::string& path) const {
  std::ofstream f(path);
  CT_CHECK(f.good(), IoError, path, ": cannot write config");
  f << to_yaml();
  CT_CHECK(f.good(), IoError, path, ": write failed");
}

std::string component_name(const ConfigNode& base, const ConfigNode& node) {
  if (node.is_scalar()) return node.as_string();
  if (node.is_map() && node.has("name")) return node["name"].as_string();
  if (base.is_map() && base.has("name")) return base["name"].as_string();
  return {};
}

void check_choice(const std::string& key, const std::string& value, const std::vector<std::string>& allowed) {
  for (const auto& a : allowed)
    if (a == value) return;
  throw ConfigError(
      str_cat(key, " must be one of ", join(allowed), ", got '", value, "'", did_you_mean(value, allowed)));
}

void check_choice(const ConfigNode& at, const std::string& key, const std::string& value,
                  const std::vector<std::string>& allowed) {
  try {
    check_choice(key, value, allowed);
  } catch (const ConfigError& e) {
    const std::string w = at.where();
    throw ConfigError(w.empty() ? e.what() : w + ": " + e.what());
  }
}

namespace detail {

void check_unknown_keys(const ConfigNode& node, const std::vector<std::string>& known,
                        const std::vector<std::string>& ignored) {
  std::set<std::string> ok(known.begin(), known.end());
  ok.insert(ignored.begin(), ignored.end());
  for (const auto& k : node.keys()) {
    if (ok.count(k)) continue;
    throw ConfigError(str_cat(node.origin(), ": unknown key '", node[k].path(), "'", did_you_mean(k, known),
                              "; valid keys here: ", join(known)));
  }
}

void rethrow_validation(const ConfigNode& node, const std::exception& e) {
  throw ConfigError(str_cat(node.where(), ": ", e.what()));
}

ConfigNode node_of(bool v) { return ConfigNode::scalar(v ? "true" : "false"); }
ConfigNode node_of(int64_t v) { return ConfigNode::scalar(std::to_string(v)); }
ConfigNode node_of(double v) {
  if (std::isnan(v)) return ConfigNode::scalar(".nan");
  if (std::isinf(v)) return ConfigNode::scalar(v > 0 ? ".inf" : "-.inf");
  // Shortest decimal that reads back as the same double (0.1 stays "0.1").
  std::string s;
  for (int prec = 15; prec <= 17; ++prec) {
    std::ostringstream os;
    os.precision(prec);
    os << v;
    s = os.str();
    if (std::stod(s) == v) break;
  }
  // Keep a decimal point so the value reads back as a float in other tools.
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return ConfigNode::scalar(s);
}
ConfigNode node_of(const std::string& v) { return ConfigNode::string(v); }

}  // namespace detail
}  // namespace cardiotorch
