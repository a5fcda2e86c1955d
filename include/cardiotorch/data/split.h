#pragma once
// Train/validation/test splits over dataset items.
//
// All generated splits are patient-level by default (every item of a patient lands in the
// same part; ItemInfo::group() is the patient, or the record when the patient is unknown),
// stratified by label classes (greedy iterative stratification: rare classes are placed
// first, each patient goes to the part that most lacks its classes) and deterministic: the
// same seed and dataset give the same split, on any machine.
// Named folds use the dataset's own fold column (PTB-XL strat_fold "1".."10", MIT-BIH "DS1"/"DS2").
#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/data/dataset.h"

namespace cardiotorch::data {

struct Split {
  std::vector<int64_t> train, val, test;  ///< item indices, ascending
};

/// Assigns groups to parts with the given relative weights (e.g. {0.8, 0.1, 0.1} or k x 1/k).
/// groups[i] names item i's group, classes[i] its positive classes (< n_classes).
/// Returns, per part, the item indices (ascending).
std::vector<std::vector<int64_t>> partition(const std::vector<std::string>& groups,
                                            const std::vector<std::vector<int64_t>>& classes, int64_t n_classes,
                                            const std::vector<double>& weights, uint64_t seed, bool stratify = true);

/// k disjoint folds covering every item (patient-level, stratified when `stratify`).
std::vector<std::vector<int64_t>> kfold(const Dataset& ds, int64_t k, uint64_t seed, bool stratify = true,
                                        bool by_patient = true);

/// Items whose ItemInfo::fold is one of `folds` (ascending indices).
std::vector<int64_t> select_folds(const Dataset& ds, const std::vector<std::string>& folds);

struct SplitOptions {
  std::string method = "fractions";      ///< fractions | kfold | named
  double val = 0.1;                      ///< fractions: share of items for validation
  double test = 0.1;                     ///< fractions: share for test (0 = no test part)
  int64_t k = 5;                         ///< kfold: number of folds
  int64_t fold = 0;                      ///< kfold: the fold used as test (or as val when test_fold < 0)
  int64_t val_fold = -1;                 ///< kfold: the fold used as validation (-1: none, train = the rest)
  std::vector<std::string> train_folds;  ///< named: folds for training (empty = every fold not used below)
  std::vector<std::string> val_folds;    ///< named: e.g. ["9"] for PTB-XL
  std::vector<std::string> test_folds;   ///< named: e.g. ["10"] for PTB-XL, ["DS2"] for MIT-BIH
  uint64_t seed = 0;
  bool stratify = true;
  bool by_patient = true;

  template <class V>
  void fields(V& v) {
    v("method", method, "fractions | kfold | named");
    v("val", val, "fractions: validation share");
    v("test", test, "fractions: test share");
    v("k", k, "kfold: number of folds");
    v("fold", fold, "kfold: index of the test fold");
    v("val_fold", val_fold, "kfold: index of the validation fold (-1 = none)");
    v("train_folds", train_folds, "named: training folds (empty = all folds not listed below)");
    v("val_folds", val_folds, "named: validation folds");
    v("test_folds", test_folds, "named: test folds");
    v("seed", seed, "seed of the generated split");
    v("stratify", stratify, "balance label classes across parts");
    v("by_patient", by_patient, "keep each patient in one part");
  }
  void validate() const;
};

Split make_split(const Dataset& ds, const SplitOptions& options);

}  // namespace cardiotorch::data
