#pragma once
// The inference commands, each needing only a fine-tuning checkpoint (its config and task are
// inside):
//   cardiotorch evaluate --checkpoint C [--data DIR]   metrics JSON, per-class table, confusion matrix
//   cardiotorch predict  --checkpoint C RECORD...      per-class probabilities and decisions (CSV/JSON)
//   cardiotorch embed    --checkpoint C --data DIR -o emb.npy   embeddings + ids + labels
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "cardiotorch/app/task.h"
#include "cardiotorch/train/metric_set.h"
#include "cardiotorch/train/trainer.h"

namespace cardiotorch::app {

// ------------------------------------------------------------------------------- evaluate

struct EvaluateRequest {
  /// A fine-tuning checkpoint, or several of one task evaluated as an ensemble (load_ensemble).
  std::vector<std::string> checkpoints;
  std::string data;                   ///< a directory an adapter reads ("" = the training dataset)
  std::vector<std::string> data_set;  ///< dataset option overrides "key=value"
  std::string split = "";             ///< all | train | val | test ("" = all for --data, else test)
  std::string out_dir;           ///< where reports go ("" = <run>/eval_<name> for <run>/checkpoints/C, else beside C)
  std::string weights = "auto";  ///< auto | model | ema
  int64_t batch_size = 0;        ///< 0 = the training loader's
  int64_t num_workers = -1;      ///< -1 = the training loader's
  /// stored: the checkpoint's decision rule (tuned thresholds / class offsets, when it has
  /// them) | default: argmax (multiclass), 0.5 (multilabel)
  std::string decisions = "stored";
};

struct EvaluationReport {
  std::string out_dir;
  int64_t samples = 0;
  double loss = 0;
  std::map<std::string, double> metrics;
  std::string table;               ///< the per-class table as printed
  std::vector<std::string> files;  ///< metrics.json, per_class.csv, confusion_matrix.svg, ...
};

/// Writes metrics.json, per_class.csv and (multiclass) confusion_matrix.{svg,png} for one
/// evaluation to `out_dir`; returns the report with the per-class table.
EvaluationReport write_evaluation(const train::EvalResult& result, const train::MetricSet& metrics,
                                  const TaskInfo& info, const std::string& out_dir, const std::string& title);

EvaluationReport evaluate_checkpoint(const EvaluateRequest& request);

// -------------------------------------------------------------------------------- predict

struct PredictRequest {
  std::vector<std::string> checkpoints;  ///< one, or several averaged as an ensemble
  std::vector<std::string> records;
  std::string output;  ///< .csv or .json ("" = CSV on stdout)
  std::string weights = "auto";
  double stride_s = 0.0;           ///< window stride for record models (0 = the window length)
  std::string aggregate = "mean";  ///< mean | max: record-level probability from windows
  std::string beats = "auto";      ///< beat models: auto (annotations, else detector) | annotations | detector
  std::string annotator = "";      ///< annotation file extension ("" = the training adapter's, e.g. atr)
  double fs = 0.0;                 ///< for files without a sampling rate
};

/// One prediction row: a record (record models), a beat (beat models) or a wave (segmentation).
struct Prediction {
  std::string record;
  std::string unit;     ///< record | beat | wave
  int64_t sample = -1;  ///< beat: R-peak sample; wave: onset
  int64_t end = -1;     ///< wave: offset (inclusive)
  double time_s = 0.0;
  std::vector<double> probabilities;  ///< per class (empty for waves)
  std::string decision;               ///< class name(s); multilabel: '|'-joined positives
  std::string reference;              ///< the annotation's class for beats read from annotations
  int64_t windows = 1;                ///< windows aggregated (record models)
};

std::vector<Prediction> predict_records(const PredictRequest& request, std::vector<std::string>* class_names = nullptr);
/// Writes predictions as CSV (one row each, a column per class) or JSON.
void write_predictions(const std::vector<Prediction>& predictions, const std::vector<std::string>& class_names,
                       const std::string& path);
std::string predictions_csv(const std::vector<Prediction>& predictions, const std::vector<std::string>& class_names);

// ---------------------------------------------------------------------------------- embed

struct EmbedRequest {
  std::string checkpoint;
  std::string data;
  std::vector<std::string> data_set;
  std::string split = "all";
  std::string output;      ///< emb.npy; ids go to <stem>_ids.csv, labels to <stem>_labels.npy
  bool localized = false;  ///< per-position features (N, T, D) instead of pooled (N, D)
  std::string weights = "auto";
  int64_t batch_size = 0;
};

struct EmbedResult {
  std::vector<int64_t> shape;
  std::string ids_path, labels_path;
};

EmbedResult embed_dataset(const EmbedRequest& request);

}  // namespace cardiotorch::app
