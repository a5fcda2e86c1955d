#pragma once
// Reading checkpoints of every format Python users hand around, without Python:
//   - torch.save zip archives (.pt/.pth/.ckpt/.pth.tar; data.pkl + data/<key> records), including
//     Lightning checkpoints, timm/MAE/ST-MEM/JEPA training checkpoints and torch_ecg's .pth;
//   - torch.save's legacy (pre-1.6) stream format;
//   - safetensors, with torch_ecg's single-file layout (model_config/train_config metadata,
//     __extra__/ tensors) and its directory layout (model.safetensors + *_config.json), and
//     cardiotorch's own checkpoints (weights/save.h).
// A checkpoint is a tree of Python values (weights/pytree.h) whose tensor nodes are resolved to
// at::Tensors; views keep sharing their storage as in Python.
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/weights/pickle.h"
#include "cardiotorch/weights/pytree.h"

namespace cardiotorch::weights {

/// An ordered state_dict: (dotted name, tensor) in the checkpoint's order.
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct ReadOptions {
  pickle::Limits limits;
  /// false: build the tree and check every storage record, but read no tensor data (inspect).
  bool load_tensors = true;
};

struct Checkpoint {
  std::string path;
  /// "torch.save zip archive", "torch.save legacy format (torch < 1.6)", "safetensors",
  /// "torch_ecg checkpoint (safetensors)", "torch_ecg checkpoint directory", "cardiotorch checkpoint v1", ...
  std::string format;
  std::shared_ptr<PyTree> tree;
  /// The materialised tensors; a kTensor node's TensorInfo::index points here. Empty when read
  /// with load_tensors = false.
  std::vector<at::Tensor> tensors;
  /// safetensors __metadata__; for zip archives the records besides data ("version", "byteorder").
  std::vector<std::pair<std::string, std::string>> metadata;

  const PyNode* root() const { return tree ? tree->root : nullptr; }
  /// The tensor of a kTensor node (DataError if tensors were not loaded).
  const at::Tensor& tensor(const PyNode* node) const;
};

/// Reads `path` (a file, or a torch_ecg checkpoint directory), detecting the format from its
/// content. DataError naming the file for anything unreadable, with the format it looks like.
Checkpoint read_checkpoint(const std::string& path, const ReadOptions& options = {});

/// The tensors under `node`, flattened to dotted names ("blocks.0.attn.qkv.weight"): dict keys,
/// list indices, placeholder items and attributes. A pickled nn.Module (torch.save(model))
/// contributes its _parameters, _buffers and _modules under PyTorch's state_dict names.
/// DataError on duplicate names.
NamedTensors flatten_tensors(const Checkpoint& ckpt, const PyNode* node);

/// Where the model's state_dict was found.
struct StateDictSelection {
  std::string key;        ///< dotted path from the root ("" = the root itself)
  bool automatic = true;  ///< chosen by the automatic descent rather than a given key
  NamedTensors tensors;
  /// Other subtrees holding tensors that were not chosen, with their tensor counts (shown in the
  /// load report so users can pick another with --key).
  std::vector<std::pair<std::string, int64_t>> alternatives;
};

/// Keys the automatic descent follows, in order (the seed's PretrainedWeightsMixin uses
/// state_dict -> model -> network; torch_ecg and JEPA add model_state_dict and encoder).
const std::vector<std::string>& state_dict_keys();

/// The state_dict of a checkpoint. With `key` ("model", "state_dict.encoder"), exactly that
/// subtree; without, descend from the root through state_dict_keys() while the child holds
/// tensors. DataError when the key does not exist (listing the keys there, with a suggestion)
/// or when the chosen subtree holds no tensors.
StateDictSelection select_state_dict(const Checkpoint& ckpt, const std::string& key = "");

/// Convenience: read_checkpoint + select_state_dict.
NamedTensors read_state_dict(const std::string& path, const std::string& key = "");

/// at::ScalarType for a dtype name ("bfloat16"); ConfigError if this LibTorch lacks it.
at::ScalarType scalar_type_of(const std::string& dtype);
/// "float32" for at::kFloat, ...
std::string dtype_name(at::ScalarType type);

}  // namespace cardiotorch::weights
