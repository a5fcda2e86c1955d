#pragma once
// Evaluation metrics as pure functions over tensors and vectors (no model code), with the
// definitions of scikit-learn 1.2 (checked against its outputs in tests/fixtures/train/).
//
// Conventions
//  - Multiclass: scores (N, C) probabilities (or any scores for the rank metrics) and labels (N)
//    integer class indices in [0, C). Predictions are the argmax (the first maximum on ties).
//  - Multilabel: scores (N, C) and targets (N, C) of 0/1; predictions are score >= threshold.
//  - Binary ranking metrics take scores (N) and 0/1 targets (N).
//  - Any floating or integer dtype on the CPU is accepted; computations run in double.
//  - Undefined values are NaN, never an exception: AUROC of a class whose targets are all equal
//    (sklearn raises), 0/0 precision/recall/F1 when zero_division is kNaN. Averages skip NaN
//    entries ("over the defined classes"); an average of nothing is NaN.
// See docs/metrics.md for every definition and the reference each one reproduces.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cardiotorch::train {

/// What precision, recall, specificity and F1 return for 0/0 (sklearn's `zero_division`):
/// kZero and kOne are sklearn's 0 and 1 (kZero is its default "warn" without the warning);
/// kNaN is sklearn >= 1.3's np.nan: the value is NaN and averages skip it.
enum class ZeroDivision { kZero, kOne, kNaN };
/// "0" | "1" | "nan" (also "warn" = 0); throws ConfigError otherwise.
ZeroDivision parse_zero_division(const std::string& text);

/// How per-class values are combined. kMacro: unweighted mean; kMicro: the metric of the summed
/// counts; kWeighted: mean weighted by support (positives per class), as sklearn.
enum class Average { kMacro, kMicro, kWeighted };

// ------------------------------------------------------------------------------------ counts

/// One class against the rest.
struct BinaryCounts {
  int64_t tp = 0, fp = 0, fn = 0, tn = 0;
  int64_t support() const { return tp + fn; }
  int64_t total() const { return tp + fp + fn + tn; }
};

/// Predicted class per row of (N, C) scores: the first maximum (as numpy's argmax). (N) int64.
at::Tensor argmax_predictions(const at::Tensor& scores);
/// 0/1 uint8 (N, C): scores >= threshold (one threshold, or one per class).
at::Tensor threshold_predictions(const at::Tensor& scores, double threshold);
at::Tensor threshold_predictions(const at::Tensor& scores, const std::vector<double>& thresholds);
/// (N) class indices -> (N, C) 0/1 uint8.
at::Tensor one_hot(const at::Tensor& labels, int64_t n_classes);

/// (C, C) int64: rows are the true class, columns the predicted class (sklearn's layout).
/// Throws ShapeError for labels outside [0, C) or mismatched lengths.
at::Tensor confusion_matrix(const at::Tensor& y_true, const at::Tensor& y_pred, int64_t n_classes);
/// One-vs-rest counts from a (C, C) confusion matrix.
std::vector<BinaryCounts> one_vs_rest_counts(const at::Tensor& confusion);
/// Per-column counts of 0/1 (N, C) targets and predictions (sklearn's multilabel_confusion_matrix).
std::vector<BinaryCounts> multilabel_counts(const at::Tensor& y_true, const at::Tensor& y_pred);

// ------------------------------------------------------------------- confusion-count scores

enum class CountScore { kPrecision, kRecall, kSpecificity, kF1 };
/// "precision" | "recall" | "sensitivity" | "specificity" | "f1".
CountScore parse_count_score(const std::string& text);

/// Per-class precision tp/(tp+fp), recall (sensitivity) tp/(tp+fn), specificity tn/(tn+fp) or
/// F1 = 2PR/(P+R) (sklearn 1.2: P and R after their zero-division substitution, 0 when P+R = 0;
/// with kNaN, 2tp/(2tp+fp+fn), NaN when tp+fp+fn = 0).
std::vector<double> per_class_score(CountScore score, const std::vector<BinaryCounts>& counts,
                                    ZeroDivision zero_division = ZeroDivision::kZero);
/// The averaged score (sklearn's `average=`; weighted uses support, and sklearn's special case
/// when every support is 0).
double averaged_score(CountScore score, const std::vector<BinaryCounts>& counts, Average average,
                      ZeroDivision zero_division = ZeroDivision::kZero);

// --------------------------------------------------------------------- multiclass summaries

/// Fraction of equal entries (multiclass accuracy; 0/1 tensors of the same shape row-wise:
/// rows must match exactly, sklearn's subset accuracy for multilabel).
double accuracy(const at::Tensor& y_true, const at::Tensor& y_pred);
/// Fraction of rows whose true class is among the k highest scores. Ties are broken as sklearn's
/// top_k_accuracy_score does (stable argsort, reversed: among equal scores the higher class
/// index ranks first).
double top_k_accuracy(const at::Tensor& scores, const at::Tensor& y_true, int64_t k);
/// sklearn balanced_accuracy_score(adjusted=False): mean recall over the classes present in
/// y_true (a (C, C) confusion matrix in, rows = truth).
double balanced_accuracy(const at::Tensor& confusion);
/// Matthews correlation from a (C, C) confusion matrix (binary when C = 2): sklearn's
/// multiclass formula (Gorodkin's R_K); 0 when it is undefined, as sklearn.
double matthews_corrcoef(const at::Tensor& confusion);
/// Binary MCC from one-vs-rest counts (same value as the 2 x 2 matrix).
double matthews_corrcoef(const BinaryCounts& counts);

// ------------------------------------------------------------------------------- rankings

/// The points of a binary scoring rule at each distinct score, highest first: tps[i] / fps[i]
/// are the positives / negatives with score >= thresholds[i] (sklearn's _binary_clf_curve).
struct BinaryCurve {
  std::vector<double> thresholds;
  std::vector<double> tps, fps;
  int64_t n_pos = 0, n_neg = 0;
};
/// Scores and 0/1 targets (any shape, flattened). NaN scores are a DataError.
BinaryCurve binary_curve(const at::Tensor& scores, const at::Tensor& targets);

struct RocCurve {
  std::vector<double> fpr, tpr, thresholds;  ///< starts at (0, 0) with threshold +inf
  double auc = 0.0;
};
/// sklearn's roc_curve (drop_intermediate=true: collinear points dropped) and its AUC. Empty
/// with auc NaN when the targets hold a single class.
RocCurve roc_curve(const at::Tensor& scores, const at::Tensor& targets, bool drop_intermediate = true);

struct PrCurve {
  std::vector<double> precision, recall, thresholds;  ///< sklearn's order: recall decreasing, ends at (P=1, R=0)
};
PrCurve precision_recall_curve(const at::Tensor& scores, const at::Tensor& targets);

/// Area under the ROC curve: trapezoids over distinct thresholds (ties count one half), equal
/// to sklearn's roc_auc_score. NaN when the targets hold a single class (sklearn raises).
double roc_auc(const at::Tensor& scores, const at::Tensor& targets);
/// sklearn's average_precision_score: sum over distinct thresholds of (R_k - R_{k-1}) P_k
/// (step-wise, not interpolated). 0 when there is no positive target, as sklearn 1.2.
double average_precision(const at::Tensor& scores, const at::Tensor& targets);

/// Per column of (N, C) scores against (N, C) 0/1 targets (for multiclass pass
/// one_hot(labels, C)): one-vs-rest AUROC / AP per class.
std::vector<double> per_class_auroc(const at::Tensor& scores, const at::Tensor& targets);
std::vector<double> per_class_average_precision(const at::Tensor& scores, const at::Tensor& targets);
/// Averages: macro = mean over defined classes; weighted = by positives per class over the
/// defined classes; micro = the binary metric of the flattened scores and targets.
double auroc(const at::Tensor& scores, const at::Tensor& targets, Average average);
double average_precision(const at::Tensor& scores, const at::Tensor& targets, Average average);

// ------------------------------------------------------------------------ threshold tuning

enum class ThresholdObjective { kF1, kYouden };
/// "f1" | "youden".
ThresholdObjective parse_threshold_objective(const std::string& text);

struct TunedThreshold {
  double threshold = 0.5;
  double value = 0.0;     ///< F1 or J reached on the tuning data (NaN if undefined)
  bool fallback = false;  ///< the objective was undefined (no positive or no negative): default used
};
/// The threshold t (predict score >= t) that maximises F1 or Youden's J = TPR - FPR over scores
/// (N) and 0/1 targets (N). Candidates are the midpoints between consecutive distinct scores
/// (and just above the maximum / at the minimum), so the tuned rule classifies the tuning data
/// exactly as at the optimum while leaving a margin on new data; ties go to the highest
/// threshold. When the objective is undefined (Youden without both classes, F1 without
/// positives) `fallback_threshold` is returned with fallback = true.
TunedThreshold tune_threshold(const at::Tensor& scores, const at::Tensor& targets, ThresholdObjective objective,
                              double fallback_threshold = 0.5);
/// Per column of (N, C) scores / targets.
std::vector<TunedThreshold> tune_thresholds(const at::Tensor& scores, const at::Tensor& targets,
                                            ThresholdObjective objective, double fallback_threshold = 0.5);

/// Multiclass decisions with per-class offsets: argmax_c (log p_c + offsets[c]) per row of (N, C)
/// probabilities (empty offsets: plain argmax; ties to the first class, as argmax). An offset of
/// log 2 lets a class win wherever its probability is at least half the largest other one.
at::Tensor offset_argmax_predictions(const at::Tensor& probabilities, const std::vector<double>& offsets);

/// How tune_class_offsets searches.
struct ClassOffsetSearch {
  /// kF1: the mean F1 of the scored classes; kYouden: their mean one-vs-rest TPR - FPR.
  ThresholdObjective objective = ThresholdObjective::kF1;
  /// Classes with fewer positives in the tuning data keep offset 0 and are not scored (a few
  /// beats of a class would otherwise set its offset).
  int64_t min_positives = 10;
  /// Classes that may be tuned and scored (indices; empty = all). The others keep offset 0.
  std::vector<int64_t> classes;
  double max_offset = 3.0;  ///< offsets lie on a grid over [-max_offset, max_offset]
  double step = 0.05;       ///< the grid's spacing
  int64_t sweeps = 4;       ///< coordinate-ascent passes over the classes (stops early when none moves)
};

struct TunedOffsets {
  std::vector<double> offsets;  ///< per class; 0 for classes not tuned
  std::vector<bool> tuned;      ///< whether the class was scored (the reference among them)
  int64_t reference = -1;       ///< the scored class with the most positives, kept at 0 (-1: none)
  double before = 0.0;          ///< the objective with no offsets (NaN when no class is scored)
  double after = 0.0;           ///< with the tuned offsets
};
/// Per-class log-probability offsets for offset_argmax_predictions that maximise the objective
/// over (N, C) probabilities and (N) labels. The scored class with the most positives is the
/// reference and keeps 0 (offsets are only defined up to a common shift; anchoring them keeps
/// the classes that are not scored where the model put them against it); the other scored
/// classes are searched by coordinate ascent, one at a time over the grid, among equally good
/// offsets the one nearest 0 (the smallest change to the model's own decisions), so a class
/// whose decisions are already optimal keeps 0. Deterministic.
TunedOffsets tune_class_offsets(const at::Tensor& probabilities, const at::Tensor& labels,
                                const ClassOffsetSearch& search = {});

// -------------------------------------------------------------------------------- regression

/// sklearn mean_squared_error / mean_absolute_error (uniform average over outputs) and r2_score
/// (multioutput="uniform_average": per-output R^2 averaged; an output with constant targets
/// scores 1 if predicted exactly, else 0, as sklearn's force_finite). Shapes must match; (N)
/// or (N, D) (any trailing dims are flattened into D).
double mean_squared_error(const at::Tensor& pred, const at::Tensor& target);
double mean_absolute_error(const at::Tensor& pred, const at::Tensor& target);
double r2_score(const at::Tensor& pred, const at::Tensor& target);

/// Streaming MSE / MAE / R^2 over batches, exactly equal (up to rounding) to the functions
/// above on the concatenated data (per-output sums merged with Chan's update).
class RegressionAccumulator {
 public:
  void update(const at::Tensor& pred, const at::Tensor& target);
  void reset();
  int64_t count() const { return n_; }
  double mse() const;
  double mae() const;
  double r2() const;

 private:
  int64_t n_ = 0;
  std::vector<double> mean_, m2_, sse_, sae_;  // per output: target mean, sum of squared deviations, errors
};

/// Normalised cross-correlation of reconstructions, as the ECG MAE anchor computes it
/// (shared/research/ssl_anchors.md §1.2): each signal (the last dim, length T >= 2) of both
/// tensors is z-scored with the unbiased variance + 1e-12, the products are summed over time and
/// divided by T - 1, and the result is averaged over every signal (all leading dims).
double ncc(const at::Tensor& reconstruction, const at::Tensor& target);

/// Streaming NCC: the sum of per-signal values and their count.
class NccAccumulator {
 public:
  void update(const at::Tensor& reconstruction, const at::Tensor& target);
  void reset() { sum_ = 0, n_ = 0; }
  int64_t count() const { return n_; }
  double value() const;  ///< NaN before any update

 private:
  double sum_ = 0.0;
  int64_t n_ = 0;
};

}  // namespace cardiotorch::train
