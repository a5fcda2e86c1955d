#pragma once
// Decision rules tuned on held-out outputs: a run's best checkpoint after fine-tuning
// (finetune.decisions) and an ensemble file (`cardiotorch ensemble --tune val`). Internal to app.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <string>

#include "cardiotorch/app/task.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/train/metric_set.h"

namespace cardiotorch::app {

/// Runs `model` over the items `loader` yields and tunes its decision rule (`tuning`:
/// multiclass log-probability offsets, multilabel thresholds) for them; writes the rule into
/// `task` (class_offsets or thresholds, and decisions = "<tune> on <where>"). Returns one line
/// for the log: the objective before and after, and the rule per class.
std::string tune_decisions(TrainedModel& model, data::Loader& loader, const train::DecisionTuning& tuning,
                           const c10::Device& device, at::ScalarType precision, bool progress, const std::string& where,
                           TaskInfo& task);

/// The loader options a trained model's data is evaluated with: its training loader's, in
/// order, unshuffled, every item, one process; `batch_size` > 0 and `workers` >= 0 override.
data::LoaderOptions eval_loader_options(const TrainedModel& model, int64_t batch_size, int64_t workers,
                                        const c10::Device& device);

}  // namespace cardiotorch::app
