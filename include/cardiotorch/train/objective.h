#pragma once
// Objectives: what a training step computes from a batch and the model. The trainer knows
// nothing else about the task; supervised tasks (multiclass, multilabel, regression,
// segmentation) and the self-supervised objectives (MAE, SimCLR, BYOL, JEPA, from ssl/) are
// entries of one registry, built with the label set of the data:
//
//   objective: {name: multiclass, label_smoothing: 0.1, balance: balanced}
//   objective: {name: multilabel, balance: balanced}       # BCE with pos_weight = neg / pos
//
// An Objective is a torch::nn::Module so that what it owns besides the model (a projection
// head, a predictor, an EMA teacher) is trained, moved to the device and checkpointed with it
// (under "objective.").
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/registry.h"
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/train/metric_set.h"

namespace cardiotorch::train {

/// What an objective is built with: the label set and the training split's class counts.
struct ObjectiveContext {
  std::vector<std::string> class_names;
  data::LabelKind label_kind = data::LabelKind::kNone;
  double fs = 0.0;
  std::vector<int64_t> train_label_counts;  ///< training items per class (kMultiHot / kClassIndex)
  int64_t train_size = 0;                   ///< training items
  int64_t n_classes() const { return static_cast<int64_t>(class_names.size()); }
};

/// The result of one step on a batch.
struct StepOutput {
  at::Tensor loss;  ///< 0-dim; differentiable when training
  /// Further 0-dim values to log ("ncc", "accuracy", ...), detached; read only when logged.
  std::vector<std::pair<std::string, at::Tensor>> scalars;
  /// Supervised objectives: detached outputs and targets in the form MetricSet::update takes.
  at::Tensor outputs;
  at::Tensor targets;
};

class Objective : public torch::nn::Module {
 public:
  /// The registry name ("multiclass").
  virtual std::string objective_name() const = 0;
  /// The metric task of outputs/targets; nullopt for objectives without per-sample predictions.
  virtual std::optional<TaskKind> task() const { return std::nullopt; }
  /// Outputs the model's head must produce (ModelContext::num_classes); 0 = no head needed.
  virtual int64_t num_outputs() const { return 0; }
  /// Loss (and metric inputs) of one batch; `training` says whether gradients follow.
  virtual StepOutput step(models::ModelImpl& model, const data::Batch& batch, bool training) = 0;
  /// Called after every optimizer step (EMA teachers, momentum schedules).
  virtual void after_step(models::ModelImpl& /*model*/, int64_t /*step*/, int64_t /*total_steps*/) {}
  /// The encoder a downstream task reuses (default: the model itself).
  virtual models::ModelImpl& downstream(models::ModelImpl& model) { return model; }
  /// Model outputs as probabilities (softmax, sigmoid) for predictions; identity by default.
  virtual at::Tensor probabilities(const at::Tensor& outputs) const { return outputs; }
  /// The extra values step() logs (StepOutput::scalars), each with whether larger is better, so
  /// that `train.monitor` can name one ("val/ncc") without a MetricSet.
  virtual std::vector<std::pair<std::string, bool>> scalar_keys() const { return {}; }
};

using ObjectivePtr = std::shared_ptr<Objective>;

Registry<Objective, ObjectiveContext>& objective_registry();
struct ObjectiveCategory {
  static constexpr const char* category = "objective";
};
using ObjectiveConfig = Component<ObjectiveCategory>;

/// The supervised objective matching a label kind: multiclass (kClassIndex), multilabel
/// (kMultiHot), segmentation (kMask); ConfigError for kNone.
std::string default_objective(data::LabelKind kind);

// ------------------------------------------------------------------------ supervised tasks

/// Cross-entropy over class indices (or soft targets from mixup), PyTorch's
/// CrossEntropyLoss(weight, label_smoothing).
struct MulticlassOptions {
  double label_smoothing = 0.0;
  /// none | balanced: weights n / (C x count_c) from the training split (sklearn) | sqrt:
  /// 1 / sqrt(count_c), a milder correction for extreme imbalance (MIT-BIH: N 45 000, Q 8)
  std::string balance = "none";
  double max_weight_ratio = 0.0;      ///< > 0: weights capped at this multiple of the smallest
  std::vector<double> class_weights;  ///< explicit per-class weights (overrides balance)
  template <class V>
  void fields(V& v) {
    v("label_smoothing", label_smoothing, "label smoothing in [0, 1)");
    v("balance", balance,
      "none | balanced (n / (C * count)) | sqrt (1 / sqrt(count)): class weights from the training split");
    v("max_weight_ratio", max_weight_ratio, "cap balanced weights at this multiple of the smallest (0 = no cap)");
    v("class_weights", class_weights, "explicit per-class loss weights (overrides balance)");
  }
  void validate() const;
};

/// Binary cross-entropy with logits per class, PyTorch's BCEWithLogitsLoss(pos_weight).
struct MultilabelOptions {
  std::string balance = "none";    ///< none | balanced: pos_weight = negatives / positives per class
  std::vector<double> pos_weight;  ///< explicit per-class positive weights (overrides balance)
  double max_pos_weight = 100.0;   ///< cap of balanced weights (rare classes)
  template <class V>
  void fields(V& v) {
    v("balance", balance, "none | balanced: pos_weight = negatives / positives from the training split");
    v("pos_weight", pos_weight, "explicit per-class positive weights (overrides balance)");
    v("max_pos_weight", max_pos_weight, "upper bound of balanced pos_weight");
  }
  void validate() const;
};

struct RegressionOptions {
  std::string loss = "mse";  ///< mse | l1 | smooth_l1
  double beta = 1.0;         ///< smooth_l1 transition point
  template <class V>
  void fields(V& v) {
    v("loss", loss, "mse | l1 | smooth_l1");
    v("beta", beta, "smooth_l1 transition point");
  }
  void validate() const;
};

/// Per-sample masks (B, C, L): BCE with logits per class and sample; outputs of another length
/// are linearly interpolated to the label length first (sequence-labelling nets downsample).
struct SegmentationOptions {
  std::vector<double> pos_weight;  ///< per-class positive weights (empty = 1)
  template <class V>
  void fields(V& v) {
    v("pos_weight", pos_weight, "per-class positive weights of the BCE");
  }
  void validate() const;
};

/// The class weights `balance: balanced` gives: n / (C x count_c) (sklearn's "balanced"),
/// classes without items get weight 0.
std::vector<double> balanced_class_weights(const std::vector<int64_t>& counts, int64_t n);
/// 1 / sqrt(count_c) scaled so the most frequent class has weight 1; classes without items get 0.
std::vector<double> sqrt_class_weights(const std::vector<int64_t>& counts);
/// Caps weights at `ratio` x the smallest positive weight (ratio <= 0: unchanged).
std::vector<double> cap_weights(std::vector<double> weights, double ratio);
/// negatives / positives per class, capped at `cap` (classes without positives: cap).
std::vector<double> balanced_pos_weight(const std::vector<int64_t>& counts, int64_t n, double cap);

}  // namespace cardiotorch::train
