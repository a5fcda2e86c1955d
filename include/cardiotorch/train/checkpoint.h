#pragma once
// Training checkpoints: what they hold, where they go, and when a resume is refused.
//
// A training checkpoint is a cardiotorch checkpoint (weights/save.h: safetensors tensors +
// JSON metadata, written atomically) with the tensor groups
//   model       the model's state_dict (PyTorch names; `safetensors.torch.load_file` reads it)
//   objective   the objective's own modules (projection heads, teachers), when it has any
//   optimizer   per-parameter state "<param>.<slot>" (exp_avg, momentum_buffer, step, ...)
//   ema         the averaged weights (train.ema.enabled)
//   rng         generator states: "cpu", "cuda.<i>"
// and the JSON sections
//   trainer     TrainState (epoch, batch in epoch, step, non-finite counts, best value, ...)
//   scheduler   the schedule's state (plateau), scaler: the gradient scaler's
//   callbacks   {callback name: state}
//   data        the loader position: seed, epoch, batch, batch size, dataset size
//   task        what inference needs: classes, label kind, fs, leads, input length, model context
// plus the resolved config and the registry names (model, objective, optimizer, scheduler).
//
// Resuming is exact because the data order is a function of (seed, epoch) and every random
// draw comes from a saved generator or derive_seed(seed, epoch, index): the loader restarts the
// epoch at the saved batch without decoding the batches before it.
//
// A checkpoint whose config differs from the run's (other than the keys a resume may change:
// epochs/steps, logging, workers, paths) or that another cardiotorch version wrote is refused
// with a message listing the differences.
#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"

namespace cardiotorch::weights {
struct CheckpointData;
}

namespace cardiotorch::train {

/// Differences between two config trees as "key.path: a -> b" lines (maps compared key by key,
/// everything else by its YAML text). Keys matching a glob in `ignored` ("train.epochs",
/// "data.loader.num_workers", "data.cache.*") are skipped.
std::vector<std::string> config_differences(const ConfigNode& before, const ConfigNode& after,
                                            const std::vector<std::string>& ignored = {});

/// Config keys a resumed run may change without invalidating the checkpoint.
const std::vector<std::string>& resumable_config_keys();

/// ConfigError "<path>: cannot resume: ..." when the checkpoint was written by another
/// cardiotorch version (unless allow_version_mismatch) or with a different config.
void check_resume_compatible(const weights::CheckpointData& checkpoint, const std::string& path,
                             const ConfigNode& current_config, bool allow_version_mismatch = false);

/// Checkpoint files of a run: <dir>/step-<step>.safetensors, last.safetensors, best.safetensors.
class CheckpointFiles {
 public:
  CheckpointFiles(std::string dir, int64_t keep_last);
  /// Writes `data` as the step's checkpoint, points `last` (and `best` when is_best) at it and
  /// removes step checkpoints beyond keep_last (never the best). Returns the step file's path.
  std::string save(const weights::CheckpointData& data, int64_t step, bool is_best);
  const std::string& dir() const { return dir_; }
  std::string last() const;  ///< "" when none exists
  std::string best() const;  ///< "" when none exists

 private:
  std::string dir_;
  int64_t keep_last_;
};

/// The checkpoint to resume a run from: `path` itself when it is a file; for a run directory
/// (or its checkpoints/ folder) the `last` checkpoint. UsageError when there is none.
std::string find_resume_checkpoint(const std::string& path);

}  // namespace cardiotorch::train
