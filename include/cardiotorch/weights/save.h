#pragma once
// Writing weights: safetensors, torch.save-compatible zip archives of a plain state_dict (so
// Python users torch.load what cardiotorch trains, with the names they know), and cardiotorch's
// own checkpoint (safetensors tensors + JSON metadata; named tensor groups for model, optimizer,
// EMA and RNG state, so training resumes from one file). Every write is atomic (a temporary
// file renamed into place).
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/weights/archive.h"

namespace cardiotorch::weights {

/// Writes `tensors` as safetensors, in the given order, with string `metadata`. Tensors are
/// written as contiguous CPU copies; names must be unique.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::vector<std::pair<std::string, std::string>>& metadata = {});

struct TorchSaveOptions {
  bool force_zip64 = false;  ///< ZIP64 records even for small archives (tests of the >4 GiB path)
};

/// Writes a torch.save zip archive of OrderedDict(name -> tensor), so that in Python
/// `torch.load(path, weights_only=True)` returns it (torch >= 1.13). Records are stored
/// uncompressed and 64-byte aligned, like torch's own writer. Each tensor gets its own storage.
void save_torch(const std::string& path, const NamedTensors& tensors, const TorchSaveOptions& options = {});

/// Writes `tensors` in the format its extension names: .safetensors, or .pt/.pth/.bin/.ckpt
/// (torch.save archive). ConfigError for any other extension.
void save_state_dict(const std::string& path, const NamedTensors& tensors);

/// cardiotorch's checkpoint: one safetensors file.
///   - tensors: group "model" under its plain names (so `safetensors.torch.load_file` gives a
///     state_dict directly, extra groups aside), every other group as "<group>/<name>";
///   - metadata: format = "cardiotorch.checkpoint", format_version, cardiotorch_version,
///     torch_version, config (the resolved YAML), registry (JSON), groups (JSON list) and each
///     JSON section under its name.
struct CheckpointData {
  /// Named tensor groups: "model" (required for `weights::load_into`), then e.g. "optimizer",
  /// "ema", "rng" (generator states as uint8 tensors). Group names contain no '/'.
  std::map<std::string, NamedTensors> groups;
  std::string config_yaml;                      ///< the resolved experiment config
  std::map<std::string, std::string> registry;  ///< role -> registered name ("model": "vit_patchx")
  /// Other metadata sections, each valid JSON text: trainer state (epoch, step), scheduler,
  /// data position... Names must not clash with the fixed keys above.
  std::map<std::string, std::string> sections;
  // Filled by load_checkpoint:
  int format_version = 0;
  std::string library_version;
  std::string torch_version;
};

constexpr int kCheckpointFormatVersion = 1;

/// Writes a cardiotorch checkpoint (atomically). ConfigError for an invalid group name or a
/// section that is not JSON.
void save_checkpoint(const std::string& path, const CheckpointData& data);
/// Reads one back; DataError if `path` is not a cardiotorch checkpoint or has a newer format.
CheckpointData load_checkpoint(const std::string& path);

}  // namespace cardiotorch::weights
