// torch_ecg's VGG16, MultiScopicCNN, MobileNet V1/V2/V3, Xception and DenseNet configs
// (model_configs/cnn/{vgg,multi_scopic,mobilenet,xception,densenet}.py) -> backbone nodes.
//
// The option structs of these families carry torch_ecg's keys under torch_ecg's names, so one
// walk does most of the work: starting from the cardiotorch preset of the config's name (its
// key under `cnn`, e.g. multi_scopic_leadwise) or else the family's base preset, every torch_ecg
// key that has an option of the same name is copied, mappings key by key (block, flows,
// inv_res, ...), so that a key torch_ecg's class does not read either stays untaken and is
// reported as unknown with its path. Keys torch_ecg's class accepts but never reads are
// reported as ignored with the reason. The rest is per family:
//   fs -> base_fs (the rate the kernel lengths are given at), norm -> batch_norm (torch_ecg's
//   newer spelling), MobileNetV3's attns[i].pos -> inv_res.attn_pos[i] (the attentions through
//   the attention importers), Xception flows without groups -> groups 1 (torch_ecg never
//   passes the top-level groups to its flows), DenseNet's memory_efficient (only false).
#include <functional>
#include <map>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/models/torch_ecg_import.h"

namespace cardiotorch::models {
namespace {

const char* kInitNote = "an initialiser; the weights come from the checkpoint";

struct Family;
/// Handles `key` of the mapping at `rel` ("" top level, "block", "inv_res", ...) when the family
/// treats it specially; returns false to leave it to the generic walk.
using Special = std::function<bool(TorchEcgKeys& k, const std::string& rel, const std::string& key, ConfigNode& out,
                                   const TorchEcgContext& ctx)>;

struct Family {
  const char* cls;                            // torch_ecg's class, for messages
  const char* base;                           // cardiotorch entry when no preset has the config's name
  std::vector<std::string> presets;           // cardiotorch presets of the family
  std::map<std::string, std::string> unread;  // "rel.key" torch_ecg's class accepts but never reads
  Special special;
};

bool is_option_map(const ConfigNode& schema) { return schema.is_map() && !schema.has("name"); }

// Keys torch_ecg configs carry at every level.
bool common_key(TorchEcgKeys& k, const std::string& key, ConfigNode& out) {
  if (key == "kw_activation") {
    k.ignore_kw_activation();
    return true;
  }
  if (key == "kw_initializer") {
    k.ignore(key, kInitNote);
    return true;
  }
  if (key == "kernel_initializer" && !out.has(key)) {
    k.ignore(key, kInitNote);
    return true;
  }
  if (key == "kw_bn") {
    const ConfigNode kw = k.take(key);
    CT_CHECK(kw.is_null() || (kw.is_map() && kw.size() == 0), ConfigError, "torch_ecg config: ", k.where(key),
             ": BatchNorm keyword arguments change the numbers; cardiotorch's BatchNorm takes PyTorch's defaults "
             "(eps 1e-5, momentum 0.1)");
    return true;
  }
  if (key == "doi") {
    k.ignore(key, "a citation");
    return true;
  }
  // torch_ecg's newer name for batch_norm (deprecate_kwargs).
  if (key == "norm" && !out.has("norm") && out.has("batch_norm")) {
    CT_CHECK(!k.has("batch_norm"), ConfigError, "torch_ecg config: ", k.where("norm"),
             ": both norm and batch_norm are given");
    out.set("batch_norm", k.take("norm"));
    k.report().notes.push_back(str_cat(k.where("norm"), " -> batch_norm"));
    return true;
  }
  return false;
}

// Copies the keys of `k` onto the options `out` (pre-filled with the preset's values).
void walk(TorchEcgKeys& k, const std::string& rel, ConfigNode& out, const Family& f, const TorchEcgContext& ctx) {
  for (const auto& key : k.node().keys()) {
    if (k.node()[key].is_null() && !out.has(key)) {
      k.consume(key);  // a None that torch_ecg fills in itself
      continue;
    }
    if (f.special && f.special(k, rel, key, out, ctx)) continue;
    if (common_key(k, key, out)) continue;
    const std::string path = rel.empty() ? key : rel + "." + key;
    if (out.has(key)) {
      if (is_option_map(out[key]) && k.node()[key].is_map()) {
        auto sub = k.child(key);
        ConfigNode mapped = out[key].clone();
        walk(*sub, path, mapped, f, ctx);
        sub->finish();
        out.set(key, mapped);
      } else {
        out.set(key, k.node()[key].clone());  // None stays None (~): take() drops it
        k.consume(key);
      }
      continue;
    }
    auto it = f.unread.find(path);
    if (it != f.unread.end()) k.ignore(key, it->second);
    // Anything else stays untaken: finish() reports it as unknown.
  }
}

// The config's own name: the last component of its key path (cnn.<name>).
std::string config_name(const TorchEcgKeys& k) {
  const auto dot = k.path().rfind('.');
  return dot == std::string::npos ? k.path() : k.path().substr(dot + 1);
}

ConfigNode import_family(const Family& f, TorchEcgKeys& k, const TorchEcgContext& ctx) {
  std::string entry = f.base;
  for (const auto& p : f.presets)
    if (p == config_name(k)) entry = p;
  ConfigNode out = backbone_registry().resolve(ConfigNode::string(entry));
  // The kernel lengths are those of the config's fs; kernels are rescaled only for inputs at
  // another rate (whose checkpoints would not load, as in torch_ecg).
  out.set("base_fs", k.has("fs") ? k.take("fs") : ConfigNode::scalar(str_cat(ctx.fs)));
  k.consume("fs");
  walk(k, "", out, f, ctx);
  out.set("name", ConfigNode::string(entry));
  try {
    return backbone_registry().resolve(out);
  } catch (const ConfigError& e) {
    throw ConfigError(
        str_cat("torch_ecg config: ", k.path(), " (torch_ecg ", f.cls, " mapped onto ", entry, "): ", e.what()));
  }
}

// --- family rules -----------------------------------------------------------------------------

// MobileNetV3: inv_res.attns holds one attention config (or None) per stage, with its position
// inside; cardiotorch keeps the positions in inv_res.attn_pos.
bool mobilenet_v3_special(TorchEcgKeys& k, const std::string& rel, const std::string& key, ConfigNode& out,
                          const TorchEcgContext& ctx) {
  if (rel != "inv_res" || key != "attns") return false;
  const ConfigNode attns = k.take(key);
  ConfigNode blocks = ConfigNode::sequence(), positions = ConfigNode::sequence();
  const size_t n = attns.is_sequence() ? attns.size() : 1;
  for (size_t i = 0; i < n; ++i) {
    const ConfigNode a = attns.is_sequence() ? attns[i] : attns;
    const std::string where = attns.is_sequence() ? str_cat(k.where(key), "[", i, "]") : k.where(key);
    if (a.is_null() || (a.is_map() && !a.has("name"))) {
      blocks.push_back(ConfigNode::scalar("~"));
      positions.push_back(ConfigNode::scalar("2"));
      continue;
    }
    TorchEcgKeys ak(a, where, k.report());
    const std::string name = ak.require("name").as_string();
    if (!ak.has("pos")) {
      // torch_ecg adds an attention only at the position it names.
      ak.ignore("pos", "");
      for (const auto& other : a.keys()) ak.consume(other);
      k.report().ignored.push_back(str_cat(where, ": has no pos, so torch_ecg never adds it"));
      blocks.push_back(ConfigNode::scalar("~"));
      positions.push_back(ConfigNode::scalar("2"));
      continue;
    }
    positions.push_back(ak.take("pos"));
    blocks.push_back(import_torch_ecg_attention(name, ak, ctx));
    ak.finish();
  }
  out.set("attns", blocks);
  out.set("attn_pos", positions);
  k.report().notes.push_back(str_cat(k.where(key), "[i].pos -> ", k.where("attn_pos"), "[i]"));
  return true;
}

bool densenet_special(TorchEcgKeys& k, const std::string& rel, const std::string& key, ConfigNode&,
                      const TorchEcgContext&) {
  if (rel != "block" || key != "memory_efficient") return false;
  CT_CHECK(!k.take(key).as_bool(), ConfigError, "torch_ecg config: ", k.where(key),
           ": gradient checkpointing is not implemented (torch_ecg raises NotImplementedError for it too)");
  k.report().ignored.push_back(str_cat(k.where(key), ": false, the default behaviour"));
  return true;
}

// Xception: a flow's groups default to the top-level groups here; torch_ecg never passes the
// top-level value on, so a flow without its own groups runs with one group.
ConfigNode import_xception(const Family& f, TorchEcgKeys& k, const TorchEcgContext& ctx) {
  std::vector<std::string> without_groups;
  for (const char* flow : {"entry_flow", "middle_flow", "exit_flow"})
    if (k.has(flow) && k.node()[flow].is_map() && !k.node()[flow].has("groups")) without_groups.push_back(flow);
  ConfigNode out = import_family(f, k, ctx);
  for (const auto& flow : without_groups) {
    ConfigNode fl = out[flow].clone();
    fl.set("groups", ConfigNode::scalar("1"));
    out.set(flow, fl);
    k.report().notes.push_back(
        str_cat(k.where(flow), ".groups = 1 (torch_ecg never passes the top-level groups to ", "its flows)"));
  }
  return out;
}

const Family& vgg() {
  static const Family f{"VGG16",
                        "vgg16",
                        {"vgg16", "vgg16_mish", "vgg16_swish", "vgg16_leadwise"},
                        {{"activation", "not read by torch_ecg's VGG16 (block.activation is)"}},
                        nullptr};
  return f;
}

const Family& multi_scopic() {
  static const Family f{"MultiScopicCNN",
                        "multi_scopic",
                        {"multi_scopic", "multi_scopic_leadwise"},
                        {{"activation", "not read by torch_ecg's MultiScopicCNN (block.activation is)"},
                         {"bias", "not read by torch_ecg's MultiScopicCNN (block.bias is)"}},
                        nullptr};
  return f;
}

const Family& mobilenet_v1() {
  static const Family f{"MobileNetV1", "mobilenet_v1", {"mobilenet_v1"}, {}, nullptr};
  return f;
}

const std::map<std::string, std::string>& mobile_unread() {
  static const std::map<std::string, std::string> m{{"depth_multiplier", "not read by torch_ecg's MobileNetV2/V3"},
                                                    {"ordering", "not read by torch_ecg's MobileNetV2/V3"}};
  return m;
}

const Family& mobilenet_v2() {
  static const Family f{"MobileNetV2", "mobilenet_v2", {"mobilenet_v2"}, mobile_unread(), nullptr};
  return f;
}

const Family& mobilenet_v3() {
  static const Family f{"MobileNetV3", "mobilenet_v3", {"mobilenet_v3"}, mobile_unread(), mobilenet_v3_special};
  return f;
}

const Family& xception() {
  static const Family f{"Xception", "xception_vanilla", {"xception_vanilla", "xception_leadwise"}, {}, nullptr};
  return f;
}

const Family& densenet() {
  static const Family f{
      "DenseNet", "densenet_vanilla", {"densenet_vanilla", "densenet_leadwise"}, {}, densenet_special};
  return f;
}

ConfigNode import_vgg(TorchEcgKeys& k, const TorchEcgContext& c) { return import_family(vgg(), k, c); }
ConfigNode import_multi_scopic(TorchEcgKeys& k, const TorchEcgContext& c) {
  return import_family(multi_scopic(), k, c);
}
ConfigNode import_mobilenet_v1(TorchEcgKeys& k, const TorchEcgContext& c) {
  return import_family(mobilenet_v1(), k, c);
}
ConfigNode import_mobilenet_v2(TorchEcgKeys& k, const TorchEcgContext& c) {
  return import_family(mobilenet_v2(), k, c);
}
ConfigNode import_mobilenet_v3(TorchEcgKeys& k, const TorchEcgContext& c) {
  return import_family(mobilenet_v3(), k, c);
}
ConfigNode import_xception_family(TorchEcgKeys& k, const TorchEcgContext& c) {
  return import_xception(xception(), k, c);
}
ConfigNode import_densenet(TorchEcgKeys& k, const TorchEcgContext& c) { return import_family(densenet(), k, c); }

}  // namespace

// The aliases are those of torch_ecg's BACKBONES registry (models/cnn/*.py), matched by substring
// as torch_ecg's ECG_CRNN does.
CT_REGISTER(torch_ecg_backbone_importers(), "vgg16", torch_ecg_importer({"VGG16", "vgg16"}, import_vgg),
            "torch_ecg VGG16 (vgg16, vgg16_mish, vgg16_swish, vgg16_leadwise) -> backbone vgg16*")
CT_REGISTER(torch_ecg_backbone_importers(), "multi_scopic",
            torch_ecg_importer({"MultiScopicCNN", "multi_scopic_cnn", "multi_scopic"}, import_multi_scopic),
            "torch_ecg MultiScopicCNN (multi_scopic, multi_scopic_leadwise) -> backbone multi_scopic*")
CT_REGISTER(torch_ecg_backbone_importers(), "mobilenet_v1",
            torch_ecg_importer({"MobileNetV1", "mobile_net_v1", "mobilenet_v1"}, import_mobilenet_v1),
            "torch_ecg MobileNetV1 -> backbone mobilenet_v1")
CT_REGISTER(torch_ecg_backbone_importers(), "mobilenet_v2",
            torch_ecg_importer({"MobileNetV2", "mobile_net_v2", "mobilenet_v2"}, import_mobilenet_v2),
            "torch_ecg MobileNetV2 -> backbone mobilenet_v2")
CT_REGISTER(torch_ecg_backbone_importers(), "mobilenet_v3",
            torch_ecg_importer({"MobileNetV3", "mobile_net_v3", "mobilenet_v3"}, import_mobilenet_v3),
            "torch_ecg MobileNetV3 (mobilenet_v3_small) -> backbone mobilenet_v3")
CT_REGISTER(torch_ecg_backbone_importers(), "xception",
            torch_ecg_importer({"Xception", "xception"}, import_xception_family),
            "torch_ecg Xception (xception_vanilla, xception_leadwise) -> backbone xception_*")
CT_REGISTER(torch_ecg_backbone_importers(), "densenet",
            torch_ecg_importer({"DenseNet", "dense_net", "densenet"}, import_densenet),
            "torch_ecg DenseNet (densenet_vanilla, densenet_leadwise) -> backbone densenet_*")

}  // namespace cardiotorch::models
