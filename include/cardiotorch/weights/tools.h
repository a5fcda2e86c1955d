#pragma once
// The library side of `cardiotorch weights inspect|convert|diff`.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "cardiotorch/weights/archive.h"
#include "cardiotorch/weights/pytree.h"

namespace cardiotorch::weights {

/// Everything `weights inspect` prints: format, metadata, the tree, totals and the state_dict
/// that loading would pick. Reads no tensor data, so huge files print at once.
std::string inspect(const std::string& path, const TreeFormat& format = {});

/// Key edits of `weights convert`, applied in this order: skip, strip_prefix, rename, add_prefix.
struct KeyEdits {
  std::vector<std::string> skip;          ///< globs of keys to leave out
  std::vector<std::string> strip_prefix;  ///< dropped where present
  std::vector<std::string> rename;        ///< "FROM=TO" regex replacements
  std::vector<std::string> add_prefix;
  std::string dtype;  ///< cast floating tensors: "", float32, float16, bfloat16
};

/// ConfigError for a malformed rename or dtype; ConfigError if two keys end up equal.
NamedTensors edit_keys(const NamedTensors& in, const KeyEdits& edits);

struct ConvertResult {
  std::string key;  ///< where the state_dict was found
  int64_t tensors = 0;
  int64_t elements = 0;
};

/// Reads `input`, selects its state_dict (`key` or automatic), applies `edits` and writes
/// `output` as .safetensors or a torch.save archive (.pt/.pth/.bin).
ConvertResult convert(const std::string& input, const std::string& output, const std::string& key,
                      const KeyEdits& edits);

struct TensorDifference {
  std::string key;
  std::vector<int64_t> shape_a, shape_b;
  double max_abs = 0;  ///< max |a - b|; +inf where only one side is NaN or shapes differ
};

struct DiffReport {
  std::vector<TensorDifference> common;  ///< keys in both, in a's order
  std::vector<std::string> only_a, only_b;
  double atol = 0;
  bool equal() const;  ///< same keys, same shapes, every max_abs <= atol
  std::string to_string(size_t max_list = 10) const;
};

/// Per-key max abs difference (values compared in float64; complex as real pairs; NaN equals NaN).
DiffReport diff_state_dicts(const NamedTensors& a, const NamedTensors& b, double atol = 0.0);

}  // namespace cardiotorch::weights
