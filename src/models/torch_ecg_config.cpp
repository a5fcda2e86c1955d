#include "cardiotorch/models/torch_ecg_config.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/weights/archive.h"
#include "cardiotorch/weights/pytree.h"

namespace cardiotorch::models {

namespace {

namespace fs = std::filesystem;

// --- families --------------------------------------------------------------------------------

struct Importer;
using Rule = std::function<void(ConfigNode& src, Importer& im)>;

struct Family {
  std::string cls;                    // torch_ecg class
  std::vector<std::string> aliases;   // its names in torch_ecg's BACKBONES registry
  std::string base;                   // cardiotorch entry when no preset has the torch_ecg name
  std::vector<std::string> presets;   // cardiotorch presets of the family
  /// Keys torch_ecg's class accepts but never reads (relative key paths), with no effect.
  std::map<std::string, std::string> unread;
  Rule rule;                          // family-specific rewriting before the generic mapping
};

struct Importer {
  std::string where;  // "cnn.multi_scopic"
  const Family* family = nullptr;
  std::vector<std::string> ignored, notes;
  void ignore(const std::string& path, const std::string& why) { ignored.push_back(str_cat(where, ".", path, ": ", why)); }
  void note(const std::string& text) { notes.push_back(text); }
};

// torch_ecg's attention names (make_attention_layer) -> cardiotorch's block registry.
std::string block_name(const std::string& name) {
  const std::string n = to_lower(name);
  if (n == "se" || n == "se_block" || n == "seblock") return "se";
  if (n == "gc" || n == "global_context" || n == "globalcontextblock") return "gc";
  if (n == "nl" || n == "non_local" || n == "non-local" || n == "nonlocal" || n == "nonlocalblock") return "nl";
  if (n == "cbam" || n == "cbam_block" || n == "cbamblock") return "cbam";
  if (n == "sa" || n == "self_attention" || n == "selfattention") return "self_attention";
  if (n == "transformer" || n == "transformer_encoder") return "transformer";
  return n;
}

const char* kKwActivation = "activation keyword arguments; {inplace: true} changes no value";

// Why a key has no cardiotorch option, for the keys torch_ecg configs carry everywhere.
std::string common_reason(const std::string& key, const ConfigNode& value) {
  auto empty_or_inplace = [&]() {
    if (value.is_null() || (value.is_map() && value.size() == 0)) return true;
    if (!value.is_map()) return false;
    for (const auto& k : value.keys())
      if (k != "inplace") return false;
    return true;
  };
  if (key == "kw_activation") {
    if (empty_or_inplace()) return kKwActivation;
    return str_cat("activation keyword arguments ", value.to_yaml().substr(0, 80),
                   " are not supported: cardiotorch's activations use torch's defaults, so the outputs differ");
  }
  if (key == "kw_initializer")
    return "initialiser keyword arguments; they affect only the random initialisation, not the network";
  if (key == "kw_bn") {
    if (value.is_null() || (value.is_map() && value.size() == 0)) return "empty BatchNorm keyword arguments";
    return "BatchNorm keyword arguments are not supported (torch's defaults are used: eps 1e-5, momentum 0.1)";
  }
  if (key == "doi") return "citation only";
  return "";
}

// --- the generic mapping ------------------------------------------------------------------

bool is_component(const ConfigNode& schema) { return schema.is_map() && schema.has("name"); }

ConfigNode overlay(const ConfigNode& src, const ConfigNode& schema, const std::string& path, Importer& im);

ConfigNode overlay_value(const ConfigNode& src, const ConfigNode& schema, const std::string& path, Importer& im) {
  if (schema.is_map() && !is_component(schema) && src.is_map()) return overlay(src, schema, path, im);
  if (schema.is_sequence() && schema.size() > 0 && schema[0].is_map() && !is_component(schema[0])) {
    // A list of option structs (ResNet's per-stage blocks): one mapping for all, or one each.
    if (src.is_map()) return overlay(src, schema[0], path, im);
    if (src.is_sequence()) {
      ConfigNode out = ConfigNode::sequence();
      for (size_t i = 0; i < src.size(); ++i) {
        const ConfigNode s = src[i];
        const std::string p = str_cat(path, "[", i, "]");
        out.push_back(s.is_map() ? overlay(s, schema[std::min(i, schema.size() - 1)], p, im) : s.clone());
      }
      return out;
    }
  }
  return src.clone();
}

ConfigNode overlay(const ConfigNode& src, const ConfigNode& schema, const std::string& path, Importer& im) {
  ConfigNode out = ConfigNode::map();
  for (const auto& key : src.keys()) {
    const std::string p = path.empty() ? key : path + "." + key;
    const ConfigNode value = src[key];
    if (schema.has(key)) {
      out.set(key, overlay_value(value, schema[key], p, im));
      continue;
    }
    std::string why = common_reason(key, value);
    if (why.empty()) {
      auto it = im.family->unread.find(p);
      if (it != im.family->unread.end()) why = it->second;
    }
    if (why.empty()) why = str_cat("no such option in cardiotorch's ", im.family->cls);
    im.ignore(p, why);
  }
  return out;
}

// --- family rules ---------------------------------------------------------------------------

// An attention config {name, pos, ...} -> the block node cardiotorch's registry takes; its
// position is returned through `pos`.
ConfigNode attention_block(const ConfigNode& attn, const std::string& path, Importer& im, ConfigNode* pos) {
  if (attn.is_null()) return ConfigNode::scalar("~");
  CT_CHECK(attn.is_map(), ConfigError, im.where, ".", path, ": an attention config must be a mapping with a name");
  const std::string key = attn.has("name") ? "name" : "type";
  CT_CHECK(attn.has(key), ConfigError, im.where, ".", path, ": the attention config has no name");
  const std::string name = block_name(attn[key].as_string());
  CT_CHECK(block_registry().contains(name), ConfigError, im.where, ".", path, ".name: attention '",
           attn[key].as_string(), "' has no cardiotorch block",
           did_you_mean(name, block_registry().names()), " (blocks: ", join(block_registry().names()), ")");
  const ConfigNode schema = block_registry().resolve(ConfigNode::string(name));
  ConfigNode out = ConfigNode::map();
  out.set("name", ConfigNode::string(name));
  for (const auto& k : attn.keys()) {
    if (k == key) continue;
    const std::string p = path + "." + k;
    if (k == "pos") {
      if (pos) *pos = attn[k].clone();
      else im.ignore(p, "attention position is not configurable here");
      continue;
    }
    if (schema.has(k)) {
      out.set(k, attn[k].clone());
      continue;
    }
    std::string why = common_reason(k, attn[k]);
    if (k == "kernel_initializer" && name == "se")
      why = "torch_ecg's SEBlock takes no initialiser (its linear layers use torch's default)";
    if (why.empty()) why = str_cat("no such option in cardiotorch's '", name, "' block");
    im.ignore(p, why);
  }
  return out;
}

// ResNet / RegNet: block.attn.pos -> block.attn_pos; TResNet's block-level reduction/pos.
void resnet_block_rule(ConfigNode& block, const std::string& path, Importer& im) {
  if (!block.is_map()) return;
  if (block.has("attn")) {
    ConfigNode pos;
    const ConfigNode attn = attention_block(block["attn"], path + ".attn", im, &pos);
    block.set("attn", attn);
    if (!pos.is_null()) {
      block.set("attn_pos", pos);
      im.note(str_cat(im.where, ".", path, ".attn.pos -> ", path, ".attn_pos"));
    }
  }
  for (const char* k : {"reduction", "pos"})
    if (block.has(k)) {
      im.ignore(str_cat(path, ".", k), "not read by torch_ecg's ResNet blocks (the attention's own keys are)");
      block.remove(k);
    }
  if (block.has("dropout"))
    im.note(str_cat(im.where, ".", path, ".dropout: applies to every block here (torch_ecg's ResNet passed it to ",
                    "the first block only)"));
}

void resnet_rule(ConfigNode& src, Importer& im) {
  if (!src.has("block")) return;
  ConfigNode block = src["block"];
  if (block.is_sequence()) {
    ConfigNode out = ConfigNode::sequence();
    for (size_t i = 0; i < block.size(); ++i) {
      ConfigNode b = block[i].clone();
      resnet_block_rule(b, str_cat("block[", i, "]"), im);
      out.push_back(b);
    }
    src.set("block", out);
  } else {
    ConfigNode b = block.clone();
    resnet_block_rule(b, "block", im);
    src.set("block", b);
  }
}

void xception_rule(ConfigNode& src, Importer& im) {
  for (const char* flow : {"entry_flow", "middle_flow", "exit_flow"}) {
    if (!src.has(flow) || !src[flow].is_map() || src[flow].has("groups")) continue;
    ConfigNode f = src[flow].clone();
    f.set("groups", ConfigNode::scalar("1"));
    src.set(flow, f);
    im.note(str_cat(im.where, ".", flow, ".groups = 1 (torch_ecg's Xception never passes the top-level groups to its ",
                    "flows)"));
  }
}

void mobilenet_v3_rule(ConfigNode& src, Importer& im) {
  if (!src.has("inv_res") || !src["inv_res"].is_map() || !src["inv_res"].has("attns")) return;
  ConfigNode inv = src["inv_res"].clone();
  const ConfigNode attns = inv["attns"];
  ConfigNode out = ConfigNode::sequence(), pos = ConfigNode::sequence();
  const size_t n = attns.is_sequence() ? attns.size() : 1;
  for (size_t i = 0; i < n; ++i) {
    const ConfigNode a = attns.is_sequence() ? attns[i] : attns;
    ConfigNode p;
    out.push_back(attention_block(a, str_cat("inv_res.attns[", i, "]"), im, &p));
    // torch_ecg adds an attention only at a position its block reaches; one without `pos` is
    // never added.
    pos.push_back(p.is_null() ? ConfigNode::scalar("2") : p);
    if (!a.is_null() && p.is_null())
      im.ignore(str_cat("inv_res.attns[", i, "]"), "has no pos, so torch_ecg never adds it");
  }
  inv.set("attns", out);
  inv.set("attn_pos", pos);
  im.note(str_cat(im.where, ".inv_res.attns[i].pos -> inv_res.attn_pos[i]"));
  src.set("inv_res", inv);
}

void densenet_rule(ConfigNode& src, Importer& im) {
  if (src.has("block") && src["block"].is_map() && src["block"].has("memory_efficient")) {
    CT_CHECK(!src["block"]["memory_efficient"].as_bool(), ConfigError, im.where,
             ".block.memory_efficient: gradient checkpointing is not implemented (torch_ecg raises "
             "NotImplementedError for it too)");
    ConfigNode b = src["block"].clone();
    b.remove("memory_efficient");
    src.set("block", b);
    im.ignore("block.memory_efficient", "false: the default behaviour");
  }
}

const std::vector<Family>& families() {
  static const std::vector<Family> f = [] {
    std::vector<Family> v;
    const std::map<std::string, std::string> resnet_unread{
        {"kernel_initializer", "not read by torch_ecg's ResNet (blocks and stem have their own)"},
        {"bias", "not read by torch_ecg's ResNet (blocks and stem have their own)"},
        {"increase_channels_method", "not read by torch_ecg's ResNet (the blocks' own key is)"},
        {"expansion", "not read by torch_ecg's ResNet (the blocks' own key is)"},
        {"block.num_skip", "not read by torch_ecg (resnet_stanford's block config carries it unused)"},
        {"block.increase_channels_at", "not read by torch_ecg (resnet_stanford's block config carries it unused)"}};
    v.push_back({"ResNet", {"ResNet", "resnext", "resnet"}, "resnet", {}, resnet_unread, resnet_rule});
    v.push_back({"RegNet", {"RegNet", "regnet"}, "regnet", {}, resnet_unread, resnet_rule});
    v.push_back({"VGG16",
                 {"VGG16", "vgg16"},
                 "vgg16",
                 {"vgg16", "vgg16_mish", "vgg16_swish", "vgg16_leadwise"},
                 {{"activation", "not read by torch_ecg's VGG16 (block.activation is)"},
                  {"kernel_initializer", "not read by torch_ecg's VGG16 (block.kernel_initializer is)"}},
                 nullptr});
    v.push_back({"MultiScopicCNN",
                 {"MultiScopicCNN", "multi_scopic_cnn", "multi_scopic"},
                 "multi_scopic",
                 {"multi_scopic", "multi_scopic_leadwise"},
                 {{"activation", "not read by torch_ecg's MultiScopicCNN (block.activation is)"},
                  {"kernel_initializer", "not read by torch_ecg's MultiScopicCNN (block.kernel_initializer is)"},
                  {"bias", "not read by torch_ecg's MultiScopicCNN (block.bias is)"}},
                 nullptr});
    v.push_back({"MobileNetV1", {"MobileNetV1", "mobile_net_v1", "mobilenet_v1"}, "mobilenet_v1", {"mobilenet_v1"}, {}, nullptr});
    const std::map<std::string, std::string> mobile_unread{
        {"depth_multiplier", "not read by torch_ecg's MobileNetV2/V3"},
        {"ordering", "not read by torch_ecg's MobileNetV2/V3"}};
    v.push_back({"MobileNetV2", {"MobileNetV2", "mobile_net_v2", "mobilenet_v2"}, "mobilenet_v2", {"mobilenet_v2"},
                 mobile_unread, nullptr});
    v.push_back({"MobileNetV3", {"MobileNetV3", "mobile_net_v3", "mobilenet_v3"}, "mobilenet_v3", {"mobilenet_v3"},
                 mobile_unread, mobilenet_v3_rule});
    v.push_back({"Xception",
                 {"Xception", "xception"},
                 "xception_vanilla",
                 {"xception_vanilla", "xception_leadwise"},
                 {},
                 xception_rule});
    v.push_back({"DenseNet",
                 {"DenseNet", "dense_net", "densenet"},
                 "densenet_vanilla",
                 {"densenet_vanilla", "densenet_leadwise"},
                 {{"kernel_initializer", "not read by torch_ecg's DenseNet (torch's default initialisation)"},
                  {"kw_initializer", "not read by torch_ecg's DenseNet"}},
                 densenet_rule});
    return v;
  }();
  return f;
}

const Family* family_of(const std::string& name) {
  const std::string lower = to_lower(name);
  const Family* best = nullptr;
  size_t best_len = 0;
  for (const auto& f : families())
    for (const auto& a : f.aliases)
      if (a.size() > best_len && lower.find(to_lower(a)) != std::string::npos) {
        best = &f;
        best_len = a.size();
      }
  return best;
}

// `norm` is torch_ecg's newer name for `batch_norm` (deprecate_kwargs): map it where the schema
// says batch_norm, recursively.
void rename_norm(ConfigNode& src, const ConfigNode& schema, const std::string& path, Importer& im) {
  if (!src.is_map() || !schema.is_map()) return;
  if (src.has("norm") && !schema.has("norm") && schema.has("batch_norm")) {
    CT_CHECK(!src.has("batch_norm"), ConfigError, im.where, ".", path, path.empty() ? "" : ".",
             "norm: both norm and batch_norm are given");
    src.set("batch_norm", src["norm"].clone());
    src.remove("norm");
    im.note(str_cat(im.where, ".", path, path.empty() ? "" : ".", "norm -> batch_norm"));
  }
  for (const auto& k : src.keys()) {
    if (!schema.has(k) || !src[k].is_map() || !schema[k].is_map()) continue;
    ConfigNode sub = src[k].clone();
    rename_norm(sub, schema[k], path.empty() ? k : path + "." + k, im);
    src.set(k, sub);
  }
}

}  // namespace

std::string torch_ecg_backbone_class(const std::string& name) {
  const Family* f = family_of(name);
  return f ? f->cls : std::string();
}

TorchEcgImport import_torch_ecg_backbone(const std::string& name, const ConfigNode& config, const std::string& where) {
  const Family* f = family_of(name);
  if (f == nullptr) {
    std::vector<std::string> known;
    for (const auto& fam : families())
      for (const auto& a : fam.aliases) known.push_back(a);
    throw ConfigError(str_cat(where, ": CNN \"", name, "\" is not a torch_ecg backbone cardiotorch can import (its name ",
                              "must contain one of ", join(known), ")"));
  }
  CT_CHECK(config.is_map(), ConfigError, where, ": expected the backbone's config as a mapping");
  Importer im;
  im.where = where;
  im.family = f;
  // The cardiotorch entry: the preset of the same name, else the family's base.
  std::string entry = f->base;
  for (const auto& p : f->presets)
    if (p == name) entry = p;
  if ((f->cls == "ResNet" || f->cls == "RegNet") && backbone_registry().contains(name)) entry = name;
  const ConfigNode schema = backbone_registry().resolve(ConfigNode::string(entry));

  ConfigNode src = config.clone();
  if (src.has("fs")) {
    CT_CHECK(schema.has("base_fs"), ConfigError, where, ": ", entry, " has no base_fs for torch_ecg's fs");
    src.set("base_fs", src["fs"].clone());
    src.remove("fs");
    im.note(str_cat(where, ".fs -> base_fs (kernel lengths are given at ", src["base_fs"].as_string(), " Hz)"));
  }
  rename_norm(src, schema, "", im);
  if (f->rule) f->rule(src, im);
  ConfigNode mapped = overlay(src, schema, "", im);
  mapped.set("name", ConfigNode::string(entry));
  TorchEcgImport out;
  try {
    out.config = backbone_registry().resolve(mapped);
  } catch (const ConfigError& e) {
    throw ConfigError(str_cat(where, " (torch_ecg ", f->cls, " config mapped onto ", entry, "): ", e.what()));
  }
  out.torch_ecg_class = f->cls;
  out.source_name = name;
  out.ignored = std::move(im.ignored);
  out.notes = std::move(im.notes);
  return out;
}

TorchEcgImport import_torch_ecg_backbone(const ConfigNode& cnn, const std::string& where) {
  CT_CHECK(cnn.is_map() && cnn.has("name"), ConfigError, where,
           ": expected torch_ecg's cnn section, a mapping with `name` and the backbone's config under that name");
  const std::string name = cnn["name"].as_string();
  CT_CHECK(cnn.has(name) && cnn[name].is_map(), ConfigError, where, ": cnn.name is '", name, "' but there is no ",
           where, ".", name, " config", did_you_mean(name, cnn.keys()));
  return import_torch_ecg_backbone(name, cnn[name], where + "." + name);
}

// --- Python values and checkpoints -----------------------------------------------------------

namespace {

std::string number_text(double v) {
  // The shortest text that reads back exactly (Python's repr: 0.2, not 0.20000000000000001).
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a float in YAML
  return s;
}

ConfigNode to_config_node(const weights::PyNode* n, const std::string& origin, const std::string& path, int depth) {
  using K = weights::PyNode::Kind;
  CT_CHECK(depth < 64, DataError, origin, ": ", path, ": the config nests deeper than 64 levels");
  const std::string at = path.empty() ? "model_config" : path;
  switch (n->kind) {
    case K::kNone: return ConfigNode::scalar("~");
    case K::kBool: return ConfigNode::scalar(n->b ? "true" : "false");
    case K::kInt: return ConfigNode::scalar(std::to_string(n->i));
    case K::kFloat: return ConfigNode::scalar(number_text(n->f));
    case K::kString: return ConfigNode::string(n->s);
    case K::kList:
    case K::kTuple: {
      ConfigNode s = ConfigNode::sequence();
      for (size_t i = 0; i < n->items.size(); ++i)
        s.push_back(to_config_node(n->items[i], origin, str_cat(at, "[", i, "]"), depth + 1));
      return s;
    }
    case K::kDict:
    case K::kObject: {
      // torch_ecg.cfg.CFG is a dict subclass: an empty one (kw_initializer: CFG()) pickles with
      // no dict items at all, so it is recognised by its class.
      CT_CHECK(n->kind == K::kDict || n->is_dict_like() || n->s == "torch_ecg.cfg.CFG", DataError, origin, ": ", at,
               " is a ", n->repr(), ", not plain config data");
      ConfigNode m = ConfigNode::map();
      for (const auto& [k, v] : n->children()) m.set(k, to_config_node(v, origin, at + "." + k, depth + 1));
      return m;
    }
    default:
      throw DataError(str_cat(origin, ": ", at, " is a ", n->repr(), ", not plain config data"));
  }
}

}  // namespace

ConfigNode config_from_pytree(const weights::PyNode* node, const std::string& origin) {
  CT_CHECK(node != nullptr, DataError, origin, ": no config");
  return to_config_node(node, origin, "", 0);
}

ConfigNode read_torch_ecg_model_config(const std::string& path) {
  const std::string ext = to_lower(fs::path(path).extension().string());
  if (!fs::is_directory(path) && (ext == ".json" || ext == ".yaml" || ext == ".yml")) {
    ConfigNode c = ConfigNode::load(path);
    // A checkpoint-like file with model_config inside, or the model_config itself.
    return c.is_map() && c.has("model_config") ? c["model_config"] : c;
  }
  weights::ReadOptions opt;
  opt.load_tensors = false;
  const weights::Checkpoint ck = weights::read_checkpoint(path, opt);
  const weights::PyNode* mc = ck.root() ? ck.root()->get("model_config") : nullptr;
  CT_CHECK(mc != nullptr, DataError, path, ": no model_config in this ", ck.format,
           " (torch_ecg checkpoints hold {model_state_dict, model_config, train_config})");
  return config_from_pytree(mc, path);
}

std::string format_import_report(const TorchEcgImport& im) {
  std::string s = str_cat("torch_ecg ", im.torch_ecg_class, " '", im.source_name, "' -> cardiotorch backbone ",
                          im.config["name"].as_string(), "\n");
  for (const auto& n : im.notes) s += "  mapped:  " + n + "\n";
  for (const auto& i : im.ignored) s += "  ignored: " + i + "\n";
  return s;
}

}  // namespace cardiotorch::models
