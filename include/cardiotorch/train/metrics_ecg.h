#pragma once
// ECG-specific scores: the PhysioNet/CinC 2017 and 2020/2021 challenge metrics, beat
// classification statistics in the AAMI EC57 / de Chazal 2004 convention, and wave delineation
// (onset/offset detection within a tolerance, LUDB style). Definitions: docs/metrics.md.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cardiotorch::train {

// ------------------------------------------------------------------------------ CinC 2017

/// The PhysioNet/CinC 2017 score as the challenge's score2017.m computes it from the 4 x 4
/// confusion of (N, A, O, ~) (rows = reference): F1_x = 2 N_xx / (row_x + col_x) (NaN when
/// row_x + col_x = 0, as MATLAB's 0/0), score = (F1_N + F1_A + F1_O) / 3.
struct Cinc2017Score {
  double f1_normal = 0, f1_af = 0, f1_other = 0, f1_noisy = 0;
  double score = 0;
};
/// `confusion` is (4, 4) in the order N, A, O, ~, or (C, C) with `indices` naming the rows of
/// N, A, O and ~ (a negative index: the class does not exist, its F1 is NaN; counts of other
/// classes are ignored).
Cinc2017Score cinc2017_score(const at::Tensor& confusion, const std::vector<int64_t>& indices = {0, 1, 2, 3});

// ---------------------------------------------------------------------- CinC 2020 / 2021

/// The challenge's weights.csv: a square table whose row/column names are SNOMED CT codes, with
/// codes joined by '|' scored as one class.
struct ChallengeWeights {
  std::vector<std::vector<std::string>> classes;  ///< codes of each scored class
  std::vector<double> weights;                    ///< K x K, row-major (rows: labels, columns: outputs)
  std::string source;                             ///< the file, for messages
  int64_t size() const { return static_cast<int64_t>(classes.size()); }
  double at(int64_t label, int64_t output) const { return weights[static_cast<size_t>(label * size() + output)]; }
  /// Index of the class holding `code`, or -1.
  int64_t find(const std::string& code) const;
};

/// The codes the 2020/2021 evaluation code treats as equivalent (its `equivalent_classes`).
std::vector<std::vector<std::string>> default_equivalent_codes();
/// The normal class of both challenges (sinus rhythm).
inline constexpr const char* kChallengeNormalCode = "426783006";

/// Loads weights.csv. Columns that `equivalent` puts together (the 2020 file lists 713427006 and
/// 59118001 separately) are merged into one class after checking that their weights are equal,
/// as the 2020 evaluation code does; the 2021 file already joins them with '|'. Throws DataError
/// for a missing, ragged, non-square or non-numeric table, or rows that do not match the columns.
ChallengeWeights load_challenge_weights(
    const std::string& path, const std::vector<std::vector<std::string>>& equivalent = default_equivalent_codes());

/// compute_challenge_metric of the 2020/2021 evaluation code: labels and outputs are (N, K) 0/1
/// in the weights' class order. For each record the weight of every (label j, output k) pair is
/// added divided by the number of classes that are a label or an output of the record (at least
/// 1); the observed total is normalised as (observed - inactive) / (correct - inactive), where
/// "correct" outputs the labels and "inactive" outputs only the normal class; 0 when correct =
/// inactive. Throws ConfigError when the normal class is not one of the weights' classes.
double challenge_score(const ChallengeWeights& weights, const at::Tensor& labels, const at::Tensor& outputs,
                       const std::string& normal_code = kChallengeNormalCode);

/// For each weights class, the model classes whose codes (a '|'-joined list, as
/// data::DatasetInfo::class_codes) share a code with it (empty: the model has no such class).
/// Throws ConfigError when a model class would map to two weights classes.
std::vector<std::vector<int64_t>> map_classes_to_weights(const ChallengeWeights& weights,
                                                         const std::vector<std::string>& class_codes);
/// (N, C) 0/1 model-class columns -> (N, K) weights-class columns: column k is positive when any
/// model class mapped to k is (the evaluation code's rule for equivalent codes), 0 when none is.
at::Tensor to_weights_order(const at::Tensor& columns, const std::vector<std::vector<int64_t>>& mapping);

// ---------------------------------------------------------------- beats (AAMI EC57 classes)

/// The AAMI heartbeat classes in the order the mitdb adapter indexes them.
inline const std::vector<std::string>& aami_classes() {
  static const std::vector<std::string> k = {"N", "S", "V", "F", "Q"};
  return k;
}

struct AamiOptions {
  /// EC57: beats whose reference is Q (unclassifiable) are left out of every statistic.
  bool exclude_reference_q = true;
  /// EC57 / de Chazal 2004: a fusion beat (F) labelled V is not a false positive of the VEB class.
  bool fusion_as_veb_not_fp = true;
};

struct AamiClassStats {
  int64_t tp = 0, fn = 0, fp = 0, tn = 0;
  double se = 0;   ///< sensitivity tp / (tp + fn) (NaN when no reference beat)
  double ppv = 0;  ///< positive predictivity +P = tp / (tp + fp) (NaN when nothing predicted)
  double fpr = 0;  ///< false positive rate fp / (fp + tn)
  double f1 = 0;   ///< 2 tp / (2 tp + fp + fn)
};

struct AamiReport {
  std::vector<AamiClassStats> classes;  ///< N, S (SVEB), V (VEB), F, Q
  double gross_accuracy = 0;            ///< correctly classified / all counted beats
  int64_t n_beats = 0;                  ///< beats counted (reference Q left out by default)
};

/// Statistics from a (5, 5) confusion matrix over N, S, V, F, Q (rows = reference). A beat
/// labelled Q by the classifier is a miss (FN) of its reference class. With the fusion rule the
/// F beats labelled V count neither as FP nor as TN of the VEB class.
AamiReport aami_statistics(const at::Tensor& confusion, const AamiOptions& options = {});

// --------------------------------------------------------------------------- delineation

/// A delineated wave: samples [onset, offset], inclusive (as the LUDB adapter's masks).
struct WaveSpan {
  int64_t onset = 0, offset = 0;
};
/// The runs of mask >= threshold in a 1-D mask (T).
std::vector<WaveSpan> waves_from_mask(const at::Tensor& mask, double threshold = 0.5);

/// One-to-one matching of detected to reference boundary positions (sample indices): pairs within
/// `tolerance` samples are taken closest first (ties: earlier reference, then earlier detection),
/// so each reference and each detection is matched at most once.
struct BoundaryMatch {
  int64_t tp = 0, fp = 0, fn = 0;
  std::vector<double> errors;  ///< detection - reference, in samples, of each match
};
BoundaryMatch match_boundaries(const std::vector<int64_t>& reference, const std::vector<int64_t>& detected,
                               double tolerance);

struct BoundaryStats {
  int64_t n_reference = 0, n_detected = 0, tp = 0, fp = 0, fn = 0;
  double se = 0;             ///< tp / (tp + fn)
  double ppv = 0;            ///< tp / (tp + fp)
  double f1 = 0;             ///< 2 tp / (2 tp + fp + fn)
  double mean_error_ms = 0;  ///< mean (detected - reference) over matches
  double std_error_ms = 0;   ///< population standard deviation of that error
};

struct DelineationOptions {
  double tolerance_ms = 150.0;  ///< torch_ecg / Moskalenko et al. 2019 use 150 ms on LUDB
  double threshold = 0.5;       ///< mask >= threshold is inside a wave
  /// A wave cut by the window edge (a run starting at sample 0 / ending at the last sample) has
  /// no onset / offset there: that boundary is skipped in both reference and prediction.
  bool skip_edge_boundaries = true;
};

/// Accumulates boundary matches over records: add (C, T) or (N, C, T) predicted and reference
/// masks (channel c = wave class c, e.g. P, QRS, T), then read onset and offset statistics per
/// class. Matching is per record and class; sums are pooled over records (as torch_ecg's
/// WaveDelineationMetrics pools them). Reference samples labelled -1 (in every channel) are not
/// annotated: detected boundaries further than the tolerance from the annotated span are not
/// counted, and a record with no annotated sample is skipped.
class DelineationAccumulator {
 public:
  DelineationAccumulator(std::vector<std::string> class_names, double fs, DelineationOptions options = {});
  void add(const at::Tensor& predicted_masks, const at::Tensor& reference_masks);
  /// The same from wave lists of one record (per class).
  void add_waves(const std::vector<std::vector<WaveSpan>>& predicted,
                 const std::vector<std::vector<WaveSpan>>& reference);
  void reset();
  int64_t records() const { return records_; }
  const std::vector<std::string>& class_names() const { return names_; }
  BoundaryStats onset(size_t cls) const { return stats(cls, 0); }
  BoundaryStats offset(size_t cls) const { return stats(cls, 1); }

 private:
  BoundaryStats stats(size_t cls, int which) const;
  std::vector<std::string> names_;
  double fs_;
  DelineationOptions opt_;
  std::vector<BoundaryMatch> acc_;  // [class][onset, offset]
  std::vector<int64_t> n_ref_, n_det_;
  int64_t records_ = 0;
};

}  // namespace cardiotorch::train
