#pragma once
// Loading a checkpoint into a module, never silently: every model key is matched to a checkpoint
// key by rules (exact; model-specific candidates; prefix pairs such as 'encoder_imaging.' ->
// 'encoder.' or DDP's 'module.'; regex renames; an automatic prefix alignment), shapes are
// checked, and the statistics (matched/total, coverage, missing, unexpected, mismatched) are
// returned and logged. Loading that leaves more than `missing_key_threshold` of the model's
// tensors untouched, or meets any shape mismatch, throws WeightsLoadError and changes nothing.
//
// A model class supplies its default rules (what it does not load: an encoder skips 'head.*',
// the MAE encoder skips decoder*/mask_token*/...; how its checkpoints name things); users extend
// them through LoadOptions (config section or --weights/--key/... CLI flags).
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/error.h"
#include "cardiotorch/weights/archive.h"

namespace cardiotorch::weights {

/// Checkpoint key `source + rest` <-> model key `target + rest`.
struct PrefixRule {
  std::string source;
  std::string target;
};

/// A regex search-and-replace on checkpoint keys (ECMAScript syntax, `$1` in the replacement).
struct RenameRule {
  std::string pattern;
  std::string replacement;
};

/// How checkpoint keys are matched to a model's parameters and buffers.
struct MatchRules {
  /// Globs ('*', '?') over model keys that are not loaded (and not counted in the coverage).
  std::vector<std::string> skip_target;
  /// Globs over checkpoint keys that are expected to be unused (not reported as unexpected).
  std::vector<std::string> skip_source;
  /// Applied to every checkpoint key, in order, before matching.
  std::vector<RenameRule> renames;
  /// Tried in order for a model key without an exact match.
  std::vector<PrefixRule> prefixes;
  /// Model hook: checkpoint keys to try for a model key, after the exact key, before `prefixes`.
  std::function<std::vector<std::string>(const std::string& target_key)> candidates;
  /// For keys still unmatched, find the one prefix pair that explains most of them (Lightning's
  /// 'model.', 'student.backbone.', ...) and use it; reported, and never used when ambiguous.
  bool auto_prefix = true;

  /// Appends `more`'s lists after this one's; candidate hooks are tried this one's first.
  MatchRules& extend(const MatchRules& more);
  /// The rules every load starts from: the wrappers DDP ('module.') and torch.compile
  /// ('_orig_mod.') put in front of every key.
  static MatchRules defaults();
};

/// Options of a load; the config section `weights:` and the CLI flags map onto these fields.
struct LoadOptions {
  std::string path;                       ///< checkpoint file (or torch_ecg directory)
  std::string key;                        ///< subtree holding the state_dict; "" = automatic
  bool strict = false;                    ///< every model key matched and no unexpected checkpoint key
  double missing_key_threshold = 0.1;     ///< largest tolerated fraction of unloaded model tensors
  std::vector<std::string> skip;          ///< model-key globs not to load
  std::vector<std::string> ignore;        ///< checkpoint-key globs to leave unused quietly
  std::vector<std::string> rename;        ///< "FROM=TO" regex renames of checkpoint keys
  std::vector<std::string> strip_prefix;  ///< checkpoint-key prefixes to drop ("module.")
  std::vector<std::string> add_prefix;    ///< prefixes the model has and the checkpoint lacks
  bool auto_prefix = true;

  template <class V>
  void fields(V& v) {
    v("path", path, "checkpoint file: .pt/.pth/.ckpt (torch.save), .safetensors, or a torch_ecg directory");
    v("key", key, "dotted path of the state_dict inside the checkpoint; empty = state_dict/model/network/...");
    v("strict", strict, "require every model tensor and no unexpected checkpoint tensor");
    v("missing_key_threshold", missing_key_threshold, "largest fraction of model tensors allowed to stay unloaded");
    v("skip", skip, "globs of model keys not to load (e.g. 'head.*')");
    v("ignore", ignore, "globs of checkpoint keys expected to be unused (e.g. 'decoder*')");
    v("rename", rename, "regex renames of checkpoint keys, 'FROM=TO' (e.g. '^backbone\\.=encoder.')");
    v("strip_prefix", strip_prefix, "checkpoint key prefixes to drop (e.g. 'module.')");
    v("add_prefix", add_prefix, "prefixes to add to checkpoint keys (e.g. 'encoder.')");
    v("auto_prefix", auto_prefix, "align a prefix that explains the unmatched keys automatically");
  }
  void validate() const;  ///< ConfigError: threshold outside [0, 1], malformed rename/regex
  /// The user's rules (on top of MatchRules::defaults() and the model's).
  MatchRules rules() const;
};

/// A model key found in the checkpoint under an incompatible shape or dtype.
struct KeyMismatch {
  std::string target;
  std::string source;
  std::vector<int64_t> target_shape;
  std::vector<int64_t> source_shape;
  std::string target_dtype;
  std::string source_dtype;
  std::string describe() const;  ///< "blocks.0.attn.qkv.weight: model [48, 16] vs checkpoint [96, 32]"
};

struct LoadReport {
  std::string path;
  std::string format;
  std::string key;  ///< where the state_dict was found ("" = root)
  bool key_automatic = true;
  std::vector<std::pair<std::string, int64_t>> alternatives;  ///< other tensor groups in the file

  int64_t total = 0;    ///< model tensors considered (after skip rules)
  int64_t matched = 0;  ///< loaded
  int64_t total_elements = 0;
  int64_t matched_elements = 0;
  std::vector<std::string> missing;     ///< model keys with no checkpoint key
  std::vector<std::string> unexpected;  ///< checkpoint keys no model key used
  std::vector<KeyMismatch> mismatched;
  std::vector<std::string> skipped_target;                  ///< model keys excluded by skip rules
  int64_t skipped_source = 0;                               ///< checkpoint keys excluded by ignore rules
  std::vector<std::pair<std::string, int64_t>> rules_used;  ///< "exact": 150, "prefix 'module.' -> ''": 2
  int64_t converted = 0;  ///< loaded with a dtype conversion (e.g. float16 -> float32)
  std::string note;       ///< e.g. an ambiguous automatic prefix
  bool applied = false;   ///< the weights were copied into the module

  double coverage() const { return total > 0 ? static_cast<double>(matched) / static_cast<double>(total) : 0.0; }
  /// One line: "loaded 152/152 tensors (100.0%) from x.pt [model]; 0 missing, 4 unexpected, 0 mismatched".
  std::string summary() const;
  /// The full statistics, one item per line, lists cut after `max_list` entries (0 = all).
  std::string to_string(size_t max_list = 10) const;
};

/// Thrown when a load fails its checks; carries the report (nothing was loaded).
class WeightsLoadError : public DataError {
 public:
  WeightsLoadError(const std::string& what, LoadReport report) : DataError(what), report_(std::move(report)) {}
  const LoadReport& report() const { return report_; }

 private:
  LoadReport report_;
};

/// A module's state_dict: parameters then buffers, with PyTorch's dotted names.
NamedTensors module_state_dict(const torch::nn::Module& module);

/// Matches `source` against `module` and reports, changing nothing.
LoadReport match_state_dict(const torch::nn::Module& module, const NamedTensors& source, const MatchRules& rules);

/// Matches, checks (mismatches, threshold, strict) and copies. WeightsLoadError on a failed
/// check, with the module untouched. `model_rules` are the model's defaults; options.rules()
/// extends them.
LoadReport load_state_dict(torch::nn::Module& module, const NamedTensors& source, const LoadOptions& options,
                           const MatchRules& model_rules = {});

/// Reads options.path, selects the state_dict (options.key or automatic), loads it as
/// load_state_dict does and logs the report (info level). The one call `--weights` needs.
LoadReport load_into(torch::nn::Module& module, const LoadOptions& options, const MatchRules& model_rules = {});
LoadReport load_into(torch::nn::Module& module, const std::string& path, LoadOptions options = {},
                     const MatchRules& model_rules = {});

/// '*' matches any run of characters (dots included), '?' one character.
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace cardiotorch::weights
