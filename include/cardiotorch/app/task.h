#pragma once
// What fine-tuning and the inference commands share: the task a checkpoint was trained for
// (classes, input layout, the data it came from), how its model is built from the config, and
// how a trained checkpoint is loaded back with nothing but its own file.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/app/experiment.h"
#include "cardiotorch/core/config.h"
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/signal/pipeline.h"
#include "cardiotorch/train/metric_set.h"
#include "cardiotorch/train/objective.h"

namespace cardiotorch::weights {
struct CheckpointData;
}  // namespace cardiotorch::weights

namespace cardiotorch::app {

/// The "task" section of a fine-tuning checkpoint: enough to rebuild the model and its inputs.
struct TaskInfo {
  std::string objective;  ///< registry name ("multiclass")
  std::vector<std::string> class_names;
  std::vector<std::string> class_codes;
  std::string label_kind;          ///< data::label_kind_name
  std::string dataset;             ///< adapter name ("mitdb")
  std::string data_root;           ///< the training data directory
  double fs = 0.0;                 ///< sampling rate of the model's input (after preprocessing)
  std::vector<std::string> leads;  ///< lead order of the model's input (after preprocessing)
  int64_t in_channels = 0;
  int64_t seq_len = -1;  ///< input length in samples (-1 = variable)
  std::vector<int64_t> train_label_counts;
  int64_t train_size = 0;
  std::vector<double> thresholds;  ///< multilabel decision thresholds (empty = 0.5)
  /// Multiclass decisions: argmax of log p + class_offsets (empty = argmax); see
  /// train::offset_argmax_predictions.
  std::vector<double> class_offsets;
  /// How thresholds / class_offsets were set ("f1 on the val split, 10234 items"); empty = defaults.
  std::string decisions;

  std::string to_json() const;
  static TaskInfo from_json(const std::string& text);
  train::ObjectiveContext objective_context() const;
  data::LabelKind kind() const;
};

/// Builds the network for a task: a registered task model with its own head as it is (full and
/// partial fine-tuning), or an encoder (a backbone, or any model for a linear probe) wrapped in
/// a train::DownstreamModel with a new head of `outputs` outputs (per position for
/// segmentation).
models::ModelPtr build_task_model(const ExperimentOptions& options, const TaskInfo& info, int64_t outputs,
                                  bool segmentation);

/// Default validation metrics of a task and label set (e.g. multiclass: accuracy, balanced
/// accuracy, macro F1 and AUROC, per-class Se/+P/F1; AAMI statistics for N/S/V/F/Q; the
/// CinC 2017 score for N/A/O/~; delineation F1 for masks).
std::vector<std::string> default_metrics(train::TaskKind task, const std::vector<std::string>& class_names);

/// The MetricSet of a run: `metrics` from the config (or the defaults) for the objective's task.
std::shared_ptr<train::MetricSet> make_metric_set(const ConfigNode& metrics, train::TaskKind task,
                                                  const TaskInfo& info);

/// A trained checkpoint loaded for inference.
struct TrainedModel {
  std::string path;
  ConfigNode config;  ///< the resolved config stored in the checkpoint
  ExperimentOptions options;
  TaskInfo info;
  models::ModelPtr model;  ///< eval mode, on the CPU
  train::ObjectivePtr objective;
  signal::Pipeline preprocess;
  std::string weights;               ///< "model" or "ema": the group that was loaded
  std::vector<std::string> members;  ///< the checkpoints of an ensemble (load_ensemble); one path otherwise
};

/// Loads a fine-tuning checkpoint: config, task, model (EMA weights when the run validated
/// with them, unless `weights` says "model"), objective and preprocessing. DataError naming the
/// file when it is not a cardiotorch training checkpoint.
TrainedModel load_trained(const std::string& path, const std::string& weights = "auto");
/// The same from a checkpoint already read (`path` names it in messages).
TrainedModel load_trained(const weights::CheckpointData& ck, const std::string& path,
                          const std::string& weights = "auto");

/// Several checkpoints of one task (seeds, folds, other architectures) as one model: each
/// member's outputs become probabilities (the objective's softmax or sigmoid), these are
/// averaged and turned back into outputs of the same kind (log-probabilities, logits), so that
/// the loss, the metrics and the decisions read the ensemble as they read a single model.
/// Averaging probabilities, not logits: members whose logits differ in scale (other seeds,
/// other epochs) then count equally. The members must agree on what they predict and on what
/// they read: objective, classes, input channels, length and sampling rate, the dataset options
/// and the preprocessing; ConfigError naming the checkpoint and the keys that differ. The
/// config, task and split are the first checkpoint's. One path: load_trained.
/// An ensemble file (save_ensemble) loads as the ensemble it holds, in load_trained too; an
/// ensemble file among several paths is refused (it would weigh its members unequally).
TrainedModel load_ensemble(const std::vector<std::string>& paths, const std::string& weights = "auto");

struct EnsembleRequest {
  std::vector<std::string> checkpoints;  ///< two or more (load_ensemble's rules: they must agree)
  std::string output;                    ///< the ensemble file to write
  std::string weights = "auto";          ///< auto | model | ema: each member's group (as load_trained picks)
  /// "" = the ensemble's rule is the mean of the members' rules; "val" = tuned for the ensemble's
  /// own outputs on the validation split the members share (never the test split).
  std::string tune;
  /// A YAML mapping over the first member's finetune.decisions for that tuning, e.g.
  /// "{tune: f1, classes: [N, S, V]}" (runs trained without a rule to tune need one).
  std::string decisions;
};

/// Writes the checkpoints as one ensemble file: each member's config, task, and weights, its
/// objective's state, and as the file's own task the ensemble's decision rule (`tune`; loading
/// uses the file's rule). load_trained, evaluate and predict read it as the ensemble; embed
/// refuses it (the members' feature spaces differ). With `tune`, the members must hold out the
/// same items (UsageError naming the first member that does not: runs with other split seeds
/// hold out other patients) and a rule must be given (their finetune.decisions, or `decisions`).
void save_ensemble(const EnsembleRequest& request);

/// The dataset to evaluate or embed: `dir` read by the training adapter (its options, root
/// replaced, `overrides` "key=value" applied) when the directory has that layout, else by the
/// adapter detected there, whose classes must then equal the model's. Without `dir`, the
/// training dataset itself.
std::shared_ptr<data::Dataset> open_task_dataset(const TrainedModel& trained, const std::string& dir,
                                                 const std::vector<std::string>& overrides = {});

/// Item indices of a dataset part: "all", or "train" / "val" / "test" of the checkpoint's split
/// (the split options stored in its config).
std::vector<int64_t> task_split(const TrainedModel& trained, const data::Dataset& dataset, const std::string& part);

}  // namespace cardiotorch::app
