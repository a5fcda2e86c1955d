#pragma once
// torch_ecg model configs -> cardiotorch model configs.
//
// torch_ecg stores its model's config (a CFG dict) in every checkpoint (CkptMixin.save: the .pth
// key `model_config`, the safetensors metadata `model_config`, model_config.json in a checkpoint
// directory) and the class names and lead count in `train_config`. This module turns that dict
// into the options of the matching cardiotorch model, so a torch_ecg checkpoint builds the same
// network and its state_dict loads by name:
//
//   TorchEcgImport imp = import_torch_ecg_checkpoint("ecg_crnn", "model.pth");
//   ModelPtr net = build_model(imp.model, context);           // imp.model = {name: ecg_crnn, cnn: ...}
//   weights::load_into(*net, "model.pth", {}, net->weight_rules());
//
// Or from the CLI: `cardiotorch forward --model ecg_crnn --weights model.pth --config-from-weights`
// and `cardiotorch forward --model ecg_crnn --config model_config.json` (see docs/models.md).
//
// Importers are registry entries, one per cardiotorch model (`cardiotorch list torch_ecg_model`:
// ecg_crnn, ecg_seq_lab_net, ecg_unet, ecg_subtract_unet, rr_lstm) and one per torch_ecg backbone
// family (`cardiotorch list torch_ecg_backbone`), so adding a family touches no existing file:
//
//   // src/models/torch_ecg_import_vgg.cpp
//   ConfigNode import_vgg(TorchEcgKeys& k, const TorchEcgContext& ctx) {   // k: cnn.<name>.*
//     ConfigNode n = ConfigNode::map();
//     n.set("name", ConfigNode::string("vgg16"));       // the cardiotorch backbone it builds
//     n.set("num_filters", k.require("num_filters"));   // mapped keys
//     k.copy("groups", n);
//     k.ignore_kw_activation();                         // read by torch_ecg, no effect here
//     k.ignore("kw_initializer", "an initialiser; the weights come from the checkpoint");
//     return n;                                          // the caller calls k.finish(): the rest is unknown
//   }
//   CT_REGISTER(torch_ecg_backbone_importers(), "vgg",
//               torch_ecg_importer({"VGG16", "vgg16", "vgg"}, import_vgg), "torch_ecg VGG16 -> backbone vgg16");
//
// The registry name is the family (what error messages and `list` show); the aliases are the
// names torch_ecg's BACKBONES registry knows the class by. A convert function reads the keys it
// understands through TorchEcgKeys (take / require / copy / ignore / consume), returns a node of
// the `backbone` registry (validated when the model is built), and throws ConfigError naming
// k.where(key) for a value it cannot map. The node is built as is: write out every option the
// torch_ecg class defaults (torch_ecg's configs need not spell them out), so the result does not
// depend on the cardiotorch entry's defaults. ctx.fs is the config's fs (kernel lengths are given
// at that rate: set the backbone's base_fs to it when it has one).
//
// Backbone choice: torch_ecg picks the backbone class by substring (the longest registered class
// alias contained in cnn.name, e.g. "resnet_nature_comm_bottle_neck" -> ResNet); the importer
// repeats that rule over the importers' aliases, so it builds the class torch_ecg built. (Our own
// configs name backbones exactly; the rule lives here only.) The same holds for attention names.
//
// Keys: every key torch_ecg's code reads is mapped or reported as ignored with the reason
// (kw_activation {inplace: true}, initialisers: the weights come from the checkpoint, ...); keys
// torch_ecg does not read either are reported as unknown. Neither stops an import: torch_ecg
// itself ignores extra keys, and the weights loader checks the architecture name by name and
// shape by shape. Values that would change the numbers and have no cardiotorch equivalent
// (kw_activation {negative_slope: 0.2}, attentive pooling) are ConfigErrors naming the key.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/registry.h"

namespace cardiotorch::models {

/// What an import did besides mapping keys.
struct TorchEcgImportReport {
  std::vector<std::string> ignored;  ///< "cnn.x.kw_activation: why" (torch_ecg reads it; no effect here)
  std::vector<std::string> unknown;  ///< key paths torch_ecg's code does not read either
  std::vector<std::string> notes;    ///< choices made (the backbone class, defaults filled in, ...)
  /// Several lines: notes, ignored and unknown keys (empty when there is nothing to say).
  std::string to_string() const;
};

/// A torch_ecg config mapping being imported: hands out keys and remembers which were used, so
/// that finish() can report the rest as unknown.
class TorchEcgKeys {
 public:
  /// `path`: the mapping's key path in the whole config ("cnn.resnet_nature_comm"), for messages.
  TorchEcgKeys(ConfigNode node, std::string path, TorchEcgImportReport& report);
  TorchEcgKeys(const TorchEcgKeys&) = delete;
  TorchEcgKeys& operator=(const TorchEcgKeys&) = delete;

  const ConfigNode& node() const { return node_; }
  const std::string& path() const { return path_; }
  /// "<path>.<key>".
  std::string where(const std::string& key) const;
  TorchEcgImportReport& report() { return report_; }
  /// The key is present and not null.
  bool has(const std::string& key) const;
  /// The value (marked used); a null node when absent.
  ConfigNode take(const std::string& key);
  /// The value (marked used); ConfigError naming the key path when absent.
  ConfigNode require(const std::string& key);
  /// Sets out[out_key] to the value when present (marked used); returns whether it was.
  bool copy(const std::string& key, ConfigNode& out, const std::string& out_key = "");
  /// Marks the key used and, when present, reports it as ignored because `why`.
  void ignore(const std::string& key, const std::string& why);
  /// torch_ecg's kw_activation: {inplace: ...} has no effect here; any other argument changes the
  /// numbers and is a ConfigError.
  void ignore_kw_activation(const std::string& key = "kw_activation");
  /// Marks the keys used without reporting (keys handled as a whole elsewhere).
  void consume(const std::string& key);
  /// A sub-mapping of this one, reporting into the same report.
  std::unique_ptr<TorchEcgKeys> child(const std::string& key);
  /// Reports every key not taken as unknown. Called by the importers when done.
  void finish();

 private:
  ConfigNode node_;
  std::string path_;
  TorchEcgImportReport& report_;
  std::vector<std::string> used_;
};

/// What an importer knows besides the mapping it converts.
struct TorchEcgContext {
  double fs = 500.0;  ///< the model config's `fs`: the rate its kernel lengths are given at
};

/// One importer: the torch_ecg names it answers to (for backbones and attention: the class's
/// registry aliases, matched as torch_ecg does) and the conversion to a cardiotorch node.
struct TorchEcgImporter {
  std::vector<std::string> aliases;
  std::function<ConfigNode(TorchEcgKeys& keys, const TorchEcgContext& context)> convert;
};
using TorchEcgImporterRegistry = Registry<TorchEcgImporter>;

/// Model importers by cardiotorch model name: convert the whole model_config.
TorchEcgImporterRegistry& torch_ecg_model_importers();
/// Backbone importers by family (resnet, regnet, ...): convert cnn.<name> to a backbone node.
TorchEcgImporterRegistry& torch_ecg_backbone_importers();
/// Attention importers (se, gc, nl, cbam, sa, transformer): convert attn.<name> to a block node.
TorchEcgImporterRegistry& torch_ecg_attention_importers();

/// A registry factory for an importer (for CT_REGISTER).
std::function<std::shared_ptr<TorchEcgImporter>(const ConfigNode&)> torch_ecg_importer(
    std::vector<std::string> aliases, std::function<ConfigNode(TorchEcgKeys&, const TorchEcgContext&)> convert);

/// torch_ecg's name resolution: the entry of `registry` whose alias (lower-cased) is the longest
/// one contained in `choice` (lower-cased). When none is: ConfigError naming `where` (the key that
/// gave the name, e.g. cnn.name) and every registered family with its aliases.
std::string match_torch_ecg_name(const TorchEcgImporterRegistry& registry, const std::string& choice,
                                 const std::string& where);

/// Converts torch_ecg's backbone config `keys` (cnn.<name>) of the torch_ecg backbone key `name`.
ConfigNode import_torch_ecg_backbone(const std::string& name, TorchEcgKeys& keys, const TorchEcgContext& context);
/// Converts torch_ecg's attention config (attn.<name>, or a ResNet block's attn) of `name`.
ConfigNode import_torch_ecg_attention(const std::string& name, TorchEcgKeys& keys, const TorchEcgContext& context);

struct TorchEcgImport {
  ConfigNode model;  ///< {name: <model>, options...}, validated against the model's schema
  TorchEcgImportReport report;
  std::vector<std::string> classes;  ///< train_config.classes (empty when not given)
  int64_t n_leads = 0;               ///< train_config.n_leads (0 when not given)
};

/// Imports torch_ecg's `model_config` for the cardiotorch model `model` (ecg_crnn, ...);
/// `train_config` (may be null) gives the class names and lead count. ConfigError for a model
/// without an importer (listing those that have one) and for unmappable values.
TorchEcgImport import_torch_ecg_config(const std::string& model, const ConfigNode& model_config,
                                       const ConfigNode& train_config = ConfigNode());

/// The same from a torch_ecg checkpoint (.pth, single-file safetensors, or a directory): reads
/// its model_config / train_config without loading tensors. DataError when the file holds no
/// model_config (not a torch_ecg checkpoint).
TorchEcgImport import_torch_ecg_checkpoint(const std::string& model, const std::string& path);

/// True for a config that looks like torch_ecg's rather than cardiotorch's: a mapping without
/// `name` or `model` at its top (torch_ecg configs never have either).
bool looks_like_torch_ecg_config(const ConfigNode& node);

}  // namespace cardiotorch::models
