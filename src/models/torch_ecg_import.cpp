#include "cardiotorch/models/torch_ecg_import.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/weights/archive.h"
#include "cardiotorch/weights/pytree.h"

namespace cardiotorch::models {

// --- report and key reader ------------------------------------------------------------------------

std::string TorchEcgImportReport::to_string() const {
  std::string out;
  for (const auto& n : notes) out += "  note: " + n + "\n";
  for (const auto& i : ignored) out += "  ignored: " + i + "\n";
  for (const auto& u : unknown) out += "  unknown (torch_ecg does not read it either): " + u + "\n";
  return out;
}

TorchEcgKeys::TorchEcgKeys(ConfigNode node, std::string path, TorchEcgImportReport& report)
    : node_(std::move(node)), path_(std::move(path)), report_(report) {
  CT_CHECK(node_.is_null() || node_.is_map(), ConfigError, path_.empty() ? "the torch_ecg config" : path_,
           ": expected a mapping (a torch_ecg config dict)");
}

std::string TorchEcgKeys::where(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

bool TorchEcgKeys::has(const std::string& key) const {
  return node_.is_map() && node_.has(key) && !node_[key].is_null();
}

ConfigNode TorchEcgKeys::take(const std::string& key) {
  consume(key);
  return has(key) ? node_[key].clone() : ConfigNode();
}

ConfigNode TorchEcgKeys::require(const std::string& key) {
  CT_CHECK(has(key), ConfigError, "torch_ecg config: ", where(key), " is missing (torch_ecg requires it)");
  return take(key);
}

bool TorchEcgKeys::copy(const std::string& key, ConfigNode& out, const std::string& out_key) {
  if (!has(key)) {
    consume(key);
    return false;
  }
  out.set(out_key.empty() ? key : out_key, take(key));
  return true;
}

void TorchEcgKeys::ignore(const std::string& key, const std::string& why) {
  if (node_.is_map() && node_.has(key)) report_.ignored.push_back(str_cat(where(key), ": ", why));
  consume(key);
}

void TorchEcgKeys::ignore_kw_activation(const std::string& key) {
  const ConfigNode kw = take(key);
  if (kw.is_null()) return;
  CT_CHECK(kw.is_map(), ConfigError, "torch_ecg config: ", where(key), ": expected a mapping of keyword arguments");
  for (const auto& k : kw.keys())
    CT_CHECK(k == "inplace", ConfigError, "torch_ecg config: ", where(key), ".", k,
             ": cardiotorch's activations take PyTorch's default arguments; only inplace (no effect on the values) "
             "can be imported");
  report_.ignored.push_back(str_cat(where(key), ": inplace changes no value"));
}

void TorchEcgKeys::consume(const std::string& key) {
  if (std::find(used_.begin(), used_.end(), key) == used_.end()) used_.push_back(key);
}

std::unique_ptr<TorchEcgKeys> TorchEcgKeys::child(const std::string& key) {
  return std::make_unique<TorchEcgKeys>(take(key), where(key), report_);
}

void TorchEcgKeys::finish() {
  if (!node_.is_map()) return;
  for (const auto& k : node_.keys())
    if (std::find(used_.begin(), used_.end(), k) == used_.end()) report_.unknown.push_back(where(k));
}

// --- registries -------------------------------------------------------------------------------------------

TorchEcgImporterRegistry& torch_ecg_model_importers() {
  static TorchEcgImporterRegistry r("torch_ecg_model", "importers of torch_ecg model configs, by cardiotorch model");
  return r;
}

TorchEcgImporterRegistry& torch_ecg_backbone_importers() {
  static TorchEcgImporterRegistry r("torch_ecg_backbone", "importers of torch_ecg backbone configs (cnn.<name>)");
  return r;
}

TorchEcgImporterRegistry& torch_ecg_attention_importers() {
  static TorchEcgImporterRegistry r("torch_ecg_attention", "importers of torch_ecg attention configs (attn.<name>)");
  return r;
}

std::function<std::shared_ptr<TorchEcgImporter>(const ConfigNode&)> torch_ecg_importer(
    std::vector<std::string> aliases, std::function<ConfigNode(TorchEcgKeys&, const TorchEcgContext&)> convert) {
  auto entry = std::make_shared<TorchEcgImporter>(TorchEcgImporter{std::move(aliases), std::move(convert)});
  return [entry](const ConfigNode&) { return entry; };
}

std::string match_torch_ecg_name(const TorchEcgImporterRegistry& registry, const std::string& choice,
                                 const std::string& where) {
  const std::string c = to_lower(choice);
  std::string best, best_alias;
  std::vector<std::string> known;
  for (const auto& name : registry.names()) {
    const auto aliases = registry.build(name, ConfigNode())->aliases;
    known.push_back(str_cat(name, " (", join(aliases, "/"), ")"));
    for (const auto& a : aliases) {
      const std::string l = to_lower(a);
      if (c.find(l) != std::string::npos && l.size() > best_alias.size()) {
        best = name;
        best_alias = l;
      }
    }
  }
  CT_CHECK(!best.empty(), ConfigError, "torch_ecg config: ", where, ": '", choice, "' is of no ", registry.category(),
           " family cardiotorch can import (torch_ecg picks the class whose alias the name contains); known families: ",
           known.empty() ? std::string("none") : join(known), " (`cardiotorch list ", registry.category(), "`)");
  return best;
}

namespace {

std::string class_aliases(const TorchEcgImporterRegistry& r, const std::string& name) {
  return join(r.build(name, ConfigNode())->aliases, "/");
}

}  // namespace

namespace {

// The key that named the class: "cnn.name" for the sub-config "cnn.<name>" (torch_ecg's layout).
std::string naming_key(const std::string& path, const std::string& name) {
  const std::string tail = "." + name;
  if (path.size() > tail.size() && path.compare(path.size() - tail.size(), tail.size(), tail) == 0)
    return path.substr(0, path.size() - tail.size()) + ".name";
  return path;
}

}  // namespace

ConfigNode import_torch_ecg_backbone(const std::string& name, TorchEcgKeys& keys, const TorchEcgContext& context) {
  const std::string family = match_torch_ecg_name(torch_ecg_backbone_importers(), name, naming_key(keys.path(), name));
  keys.report().notes.push_back(str_cat(keys.path(), ": torch_ecg builds '", name, "' as ",
                                        class_aliases(torch_ecg_backbone_importers(), family)));
  return torch_ecg_backbone_importers().build(family, ConfigNode())->convert(keys, context);
}

ConfigNode import_torch_ecg_attention(const std::string& name, TorchEcgKeys& keys, const TorchEcgContext& context) {
  const std::string kind = match_torch_ecg_name(torch_ecg_attention_importers(), name, naming_key(keys.path(), name));
  return torch_ecg_attention_importers().build(kind, ConfigNode())->convert(keys, context);
}

// --- checkpoints ------------------------------------------------------------------------------------------------

namespace {

std::string number_text(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  // The shortest text that reads back exactly (Python's repr: 0.2, not 0.20000000000000001).
  char b[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(b, sizeof b, "%.*g", prec, v);
    if (std::strtod(b, nullptr) == v) break;
  }
  std::string s = b;
  // Keep it a float for YAML readers that care ("1" would read as an integer).
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

// A Python value of a checkpoint (dicts, CFG placeholders, lists, scalars) as a ConfigNode.
ConfigNode to_config(const weights::PyNode* n, const std::string& where, int depth = 0) {
  using K = weights::PyNode::Kind;
  CT_CHECK(depth < 64, DataError, where, ": the config nests too deeply");
  if (n == nullptr) return ConfigNode();
  switch (n->kind) {
    case K::kNone: return ConfigNode::scalar("~");
    case K::kBool: return ConfigNode::scalar(n->b ? "true" : "false");
    case K::kInt: return ConfigNode::scalar(std::to_string(n->i));
    case K::kFloat: return ConfigNode::scalar(number_text(n->f));
    case K::kString: return ConfigNode::string(n->s);
    case K::kList:
    case K::kTuple:
    case K::kSet: {
      ConfigNode out = ConfigNode::sequence();
      for (const auto* e : n->items) out.push_back(to_config(e, where, depth + 1));
      return out;
    }
    default: break;
  }
  // torch_ecg.cfg.CFG is a dict subclass; an empty one (kw_bn: CFG()) pickles with no dict
  // items at all, so it is recognised by its class.
  if (n->is_dict_like() || n->s == "torch_ecg.cfg.CFG") {
    ConfigNode out = ConfigNode::map();
    for (const auto& kv : n->children()) out.set(kv.first, to_config(kv.second, where, depth + 1));
    return out;
  }
  // Anything else (a torch.device, a class reference) has no config meaning: keep its repr.
  return ConfigNode::string(n->repr());
}

}  // namespace

// --- the entry points ----------------------------------------------------------------------------------------------

bool looks_like_torch_ecg_config(const ConfigNode& node) {
  return node.is_map() && !node.has("name") && !node.has("model");
}

TorchEcgImport import_torch_ecg_config(const std::string& model, const ConfigNode& model_config,
                                       const ConfigNode& train_config) {
  if (!torch_ecg_model_importers().contains(model)) {
    throw ConfigError(str_cat("no torch_ecg importer for model '", model, "'",
                              did_you_mean(model, torch_ecg_model_importers().names()),
                              "; models with one: ", join(torch_ecg_model_importers().names())));
  }
  CT_CHECK(model_config.is_map(), ConfigError, model_config.where(), ": expected torch_ecg's model_config mapping");
  TorchEcgImport out;
  TorchEcgContext ctx;
  if (model_config.has("fs") && !model_config["fs"].is_null()) ctx.fs = model_config["fs"].as_double();
  CT_CHECK(ctx.fs > 0, ConfigError, model_config.where(), ": fs must be positive, got ", ctx.fs);
  TorchEcgKeys keys(model_config, "", out.report);
  ConfigNode node = torch_ecg_model_importers().build(model, ConfigNode())->convert(keys, ctx);
  keys.finish();
  if (train_config.is_map()) {
    if (train_config.has("classes") && !train_config["classes"].is_null()) {
      out.classes = train_config["classes"].as_string_list();
      ConfigNode classes = ConfigNode::sequence();
      for (const auto& c : out.classes) classes.push_back(ConfigNode::string(c));
      node.set("classes", classes);
    }
    if (train_config.has("n_leads") && !train_config["n_leads"].is_null())
      out.n_leads = train_config["n_leads"].as_int();
  }
  node.set("name", ConfigNode::string(model));
  out.model = registry_for(model).resolve(node);
  return out;
}

TorchEcgImport import_torch_ecg_checkpoint(const std::string& model, const std::string& path) {
  weights::ReadOptions ro;
  ro.load_tensors = false;
  const weights::Checkpoint ck = weights::read_checkpoint(path, ro);
  const weights::PyNode* root = ck.root();
  const weights::PyNode* mc = root ? root->get("model_config") : nullptr;
  CT_CHECK(mc != nullptr, DataError, path, ": holds no model_config (", ck.format,
           "); not a torch_ecg checkpoint? Pass the model's options with --config instead");
  const weights::PyNode* tc = root->get("train_config");
  if (!tc) tc = root->get("config");  // older torch_ecg checkpoints
  try {
    return import_torch_ecg_config(model, to_config(mc, path + ": model_config"),
                                   tc ? to_config(tc, path + ": train_config") : ConfigNode());
  } catch (const ConfigError& e) {
    throw ConfigError(str_cat(path, ": model_config: ", e.what()));
  }
}

}  // namespace cardiotorch::models
