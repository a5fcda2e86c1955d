#pragma once
// Importing torch_ecg model configs: a backbone config as torch_ecg stores it (the `cnn`
// section of ECG_CRNN's model_config, with `name` and one sub-config per backbone, as found in
// a torch_ecg checkpoint or dumped to JSON) becomes cardiotorch's typed backbone config, which
// builds the same network (same modules, state-dict names, shapes and parameter counts).
//
//   ConfigNode mc = read_torch_ecg_model_config("ecg_crnn.pth");   // or ConfigNode::load("model_config.json")
//   TorchEcgImport imp = import_torch_ecg_backbone(mc["cnn"]);
//   ModelPtr cnn = build_model(imp.config, ModelContext{});        // {name: multi_scopic_leadwise, ...}
//   for (const auto& line : imp.ignored) log_info(line);
//
// The backbone family is chosen as torch_ecg's ECG_CRNN chooses it: the longest name of its
// BACKBONES registry contained in cnn.name (case-insensitive), so "tresnetF" is a ResNet and
// "multi_scopic_leadwise" a MultiScopicCNN. The result is named after the cardiotorch preset of
// the same name when there is one (keys absent from the torch_ecg config keep that preset's
// values), else after the family's base preset (resnet, regnet, vgg16, multi_scopic,
// mobilenet_v1/v2/v3, xception_vanilla, densenet_vanilla). Every key of the torch_ecg config is
// mapped onto the option of the same name, except:
//   fs                      -> base_fs (the rate the kernel lengths are given at)
//   norm                    -> batch_norm (torch_ecg's deprecated alias)
//   <block>.attn.pos        -> <block>.attn_pos (ResNet, RegNet); attns[i].pos -> attn_pos[i]
//                              (MobileNetV3); the attention itself keeps its own keys
//   Xception flows without `groups` get groups 1 (torch_ecg never reads the top-level groups)
// and every key cardiotorch has no option for is listed in `ignored` with the reason (keyword
// arguments such as kw_activation {inplace: true} that change no value, keys torch_ecg's class
// itself never reads, settings cardiotorch cannot reproduce). A value that does not fit the
// option it maps to is a ConfigError naming the torch_ecg key path.
//
// The task-model importer (ECG_CRNN's rnn/attn/global_pool/clf sections) calls
// import_torch_ecg_backbone for the `cnn` section.
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"

namespace cardiotorch::weights {
struct PyNode;
}

namespace cardiotorch::models {

struct TorchEcgImport {
  /// cardiotorch's backbone config, resolved: {name: <backbone>, every option}.
  ConfigNode config;
  /// torch_ecg's class for the config ("MultiScopicCNN") and the name it was given ("multi_scopic_leadwise").
  std::string torch_ecg_class;
  std::string source_name;
  /// "<torch_ecg key path>: <why it has no counterpart>" for every key left out.
  std::vector<std::string> ignored;
  /// "<torch_ecg key path> -> <option>" for keys mapped under another name, and behaviour notes.
  std::vector<std::string> notes;
};

/// Maps ECG_CRNN's `cnn` section ({name: <backbone>, <backbone>: {...}, ...}; other backbones'
/// sub-configs are skipped) onto a cardiotorch backbone config. `where` prefixes key paths in
/// the report and in errors ("cnn" for a model_config's section).
TorchEcgImport import_torch_ecg_backbone(const ConfigNode& cnn, const std::string& where = "cnn");
/// The same for one backbone config given with its torch_ecg name ("multi_scopic", "tresnetP").
TorchEcgImport import_torch_ecg_backbone(const std::string& name, const ConfigNode& config, const std::string& where);

/// torch_ecg's backbone class for a name, chosen as ECG_CRNN does ("" when none matches).
std::string torch_ecg_backbone_class(const std::string& name);

/// A Python value tree (a checkpoint's model_config: dicts, torch_ecg CFGs, lists, tuples,
/// numbers, strings, None) as a config tree. DataError naming `origin` and the key path for a
/// value that is not plain data (a tensor, an object of another class).
ConfigNode config_from_pytree(const weights::PyNode* node, const std::string& origin);

/// The model_config of a torch_ecg checkpoint: a .pth/.pt archive ({model_state_dict,
/// model_config, train_config}), a torch_ecg safetensors file or checkpoint directory, or a
/// model_config .json/.yaml file itself. DataError naming the file when it holds none.
ConfigNode read_torch_ecg_model_config(const std::string& path);

/// A human-readable report: the mapping, then the ignored keys and notes, one per line.
std::string format_import_report(const TorchEcgImport& import);

}  // namespace cardiotorch::models
