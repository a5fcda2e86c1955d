#pragma once
// Named metrics a training loop feeds batch by batch and reads at the end of an epoch.
//
//   train::MetricContext ctx = train::context_for(dataset.info());   // task, classes, fs
//   train::MetricSet val(ctx, config["metrics"]);  // [auroc_macro, f1_macro, {name: top_k_accuracy, k: 3}]
//   for (auto& batch : loader) val.update(model(batch.x), batch.y);   // logits, targets
//   train::MetricValues v = val.compute();                            // {"auroc_macro": 0.93, ...}
//   val.reset();
//
// Every metric is an entry of metric_registry() (`cardiotorch list metric`); a config names
// them as strings or as mappings with options. Classification metrics read the outputs the set
// stores for the epoch (N x C doubles); regression, reconstruction and delineation metrics keep
// running sums. Keys of the result are the metric names ("auroc_macro"), with per-class values
// under "<metric>/<class>" ("auroc/AF"). `monitor: val/auroc_macro` refers to such a key.
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/registry.h"
#include "cardiotorch/train/metrics.h"

namespace cardiotorch::data {
struct DatasetInfo;
}

namespace cardiotorch::train {

/// What the model's outputs and the targets are.
enum class TaskKind {
  kMulticlass,    ///< outputs (N, C) logits or probabilities, targets (N) class indices
  kMultilabel,    ///< outputs (N, C), targets (N, C) 0/1 (binary: C = 1, targets (N) accepted)
  kRegression,    ///< outputs and targets of the same shape (N, ...) (reconstructions included)
  kSegmentation,  ///< outputs (N, C, T) per-sample logits or probabilities, targets (N, C, T) 0/1 masks
};
const char* task_name(TaskKind task);
/// "multiclass" | "multilabel" | "regression" | "segmentation".
TaskKind parse_task(const std::string& text);

/// What metrics need to know about the task (filled by the training loop, usually from the
/// dataset with context_for()).
struct MetricContext {
  TaskKind task = TaskKind::kMulticlass;
  std::vector<std::string> class_names;  ///< per-class keys ("f1/AF"); defaults to "0", "1", ...
  std::vector<std::string> class_codes;  ///< source codes per class (CinC: SNOMED, '|' joined)
  std::string data_dir;                  ///< dataset root: where the CinC challenge weights.csv is looked up
  double fs = 0.0;                       ///< sampling rate (delineation tolerance in samples)
  /// Outputs are logits: softmax (multiclass) or sigmoid (multilabel, segmentation) is applied
  /// before any probability-based metric. Rank metrics are unaffected by a sigmoid, but a
  /// softmax changes per-class rankings, so this must say what the model returns.
  bool from_logits = true;
  double threshold = 0.5;          ///< multilabel / segmentation decision threshold: p >= threshold
  std::vector<double> thresholds;  ///< per-class thresholds (multilabel), e.g. tuned on validation
  /// Per-class log-probability offsets of multiclass decisions (offset_argmax_predictions), e.g.
  /// tuned on validation; empty = argmax.
  std::vector<double> class_offsets;
  int64_t n_classes() const { return static_cast<int64_t>(class_names.size()); }
  /// thresholds when set, else `threshold` for each of n columns.
  std::vector<double> thresholds_for(int64_t n) const;
};

/// Task (from the label kind), class names and codes, fs and nothing else.
MetricContext context_for(const data::DatasetInfo& info);

using MetricValues = std::map<std::string, double>;

/// One epoch of stored classification outputs, in the form the metrics read.
struct EpochOutputs {
  const MetricContext* context = nullptr;
  at::Tensor probabilities;  ///< (N, C) double: softmax/sigmoid of the outputs when from_logits
  at::Tensor labels;         ///< multiclass: (N) int64
  at::Tensor targets;        ///< (N, C) uint8: one_hot(labels) for multiclass, the targets for multilabel
  at::Tensor predictions;    ///< multiclass: (N) int64 argmax; multilabel: (N, C) uint8 thresholded
  /// Counts per class of `predictions` against the targets (one-vs-rest for multiclass).
  std::vector<BinaryCounts> counts;
  at::Tensor confusion;  ///< multiclass (C, C) int64; undefined for multilabel
  int64_t size() const { return probabilities.defined() ? probabilities.size(0) : 0; }
};

class Metric {
 public:
  virtual ~Metric() = default;
  /// The metric's name in configs and messages ("auroc_macro", "top3_accuracy").
  virtual std::string name() const = 0;
  /// Every key compute() writes: {name()} by default; per-class metrics "<prefix>/<class>".
  virtual std::vector<std::string> keys(const MetricContext& /*context*/) const { return {name()}; }
  virtual bool higher_is_better(const std::string& /*key*/) const { return true; }
  virtual bool supports(TaskKind task) const = 0;
  /// Called once by the MetricSet before any update (load files, check the classes); throws
  /// ConfigError when the context cannot work (e.g. no weights.csv).
  virtual void bind(const MetricContext& /*context*/) {}
  /// Streaming metrics see every batch (outputs as the model returned them) and keep their own
  /// sums; the others read the stored EpochOutputs at compute().
  virtual bool streaming() const { return false; }
  virtual void reset() {}
  virtual void update(const at::Tensor& /*outputs*/, const at::Tensor& /*targets*/, const MetricContext& /*context*/) {}
  virtual void compute(const EpochOutputs& epoch, MetricValues& out) const = 0;
};

/// Category "metric".
Registry<Metric>& metric_registry();

/// Decision rules tuned on validation outputs (`finetune.decisions`): per-class thresholds for
/// multilabel tasks (tune_thresholds), per-class log-probability offsets for multiclass ones
/// (tune_class_offsets). Rank metrics (AUROC, AP) do not change; every decision-based one does.
struct DecisionTuning {
  std::string tune = "none";         ///< none | f1 | youden
  int64_t min_positives = 10;        ///< classes with fewer validation positives keep the default rule
  std::vector<std::string> classes;  ///< the classes tuned and scored (empty = all); the others keep the default
  double max_offset = 3.0;           ///< multiclass: offsets within +-max_offset (a probability ratio of e^3 = 20)

  template <class V>
  void fields(V& v) {
    v("tune", tune,
      "none | f1 | youden: tune per-class decisions on the validation split after training, maximising the "
      "mean F1 (or one-vs-rest Youden's J) of the classes; multilabel: thresholds, multiclass: log-probability "
      "offsets");
    v("min_positives", min_positives, "classes with fewer positives in the validation split keep the default rule");
    v("classes", classes,
      "class names tuned and scored (empty = all); the others keep the default rule, e.g. [N, S, V] where the "
      "validation split holds another class in one or two patients only");
    v("max_offset", max_offset, "multiclass: the largest offset (natural log of a probability ratio)");
  }
  void validate() const;
  bool enabled() const { return tune != "none"; }
};

/// What MetricSet::tune_decisions found.
struct TunedDecisions {
  std::vector<double> thresholds;  ///< multilabel: per class (the default threshold where not tuned)
  std::vector<double> offsets;     ///< multiclass: per class (0 where not tuned)
  std::vector<bool> tuned;         ///< whether the class was tuned (listed, with min_positives)
  int64_t reference = -1;          ///< multiclass: the tuned class kept at offset 0 (the most frequent)
  double before = 0.0;             ///< the objective over the tuned classes with the default rule
  double after = 0.0;              ///< ... with the tuned rule (NaN both when no class qualifies)
};

class MetricSet {
 public:
  /// `metrics`: a sequence of names or {name: ..., options} mappings (a single name is a list of
  /// one). Throws ConfigError for an unknown name (with suggestions), a metric that does not
  /// apply to the task, or two metrics with the same key.
  MetricSet(MetricContext context, const ConfigNode& metrics);
  MetricSet(MetricContext context, const std::vector<std::string>& names);
  MetricSet(MetricContext context, std::vector<std::shared_ptr<Metric>> metrics);

  /// Appends a batch: outputs as the model returns them and targets as the loader yields them.
  /// Shapes are checked against the task (ShapeError naming both shapes).
  void update(const at::Tensor& outputs, const at::Tensor& targets);
  void reset();
  /// Rows (samples) seen since the last reset.
  int64_t count() const { return count_; }
  /// Every metric's values. Classification metrics on an empty epoch are NaN.
  MetricValues compute() const;

  /// The stored epoch in metric form (classification tasks); outputs converted per the context.
  EpochOutputs epoch() const;
  /// Per-class thresholds maximising F1 or Youden's J on the stored outputs (multilabel):
  /// tune on validation, then set_thresholds() on the test set's MetricSet.
  std::vector<TunedThreshold> tune_thresholds(ThresholdObjective objective) const;
  void set_thresholds(std::vector<double> thresholds);
  /// Thresholds (multilabel) or class offsets (multiclass) maximising `tuning.tune` on the
  /// stored outputs (the validation split); set_decisions() applies them.
  TunedDecisions tune_decisions(const DecisionTuning& tuning) const;
  /// Multiclass: per-class offsets (empty = argmax); see MetricContext::class_offsets.
  void set_class_offsets(std::vector<double> offsets);

  const MetricContext& context() const { return ctx_; }
  std::vector<std::string> names() const;
  /// Whether a larger value of `key` (a metric name or "<metric>/<class>") is better; "loss"
  /// and error metrics are lower-is-better. ConfigError for an unknown key.
  bool higher_is_better(const std::string& key) const;

 private:
  void init();
  MetricContext ctx_;
  std::vector<std::shared_ptr<Metric>> metrics_;
  bool store_ = false;
  std::vector<at::Tensor> outputs_, targets_;
  int64_t count_ = 0;
};

/// A "split/key" monitor such as "val/auroc_macro" (or "val/loss").
struct Monitor {
  std::string split;
  std::string key;
  bool higher_is_better = true;
  /// Whether `value` improves on `best` by more than min_delta (NaN never improves; any finite
  /// value improves on a NaN best).
  bool improved(double best, double value, double min_delta = 0.0) const;
};
/// Parses "split/key"; the key must be "loss" or one of the set's keys (ConfigError naming the
/// valid ones otherwise).
Monitor parse_monitor(const std::string& monitor, const MetricSet& metrics);

}  // namespace cardiotorch::train
