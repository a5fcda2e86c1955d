#pragma once
// Amplitude normalisation on tensors shaped (..., leads, samples).
//
// `axis` chooses what one set of statistics covers: lead — each (..., lead) row over its
// samples; record — all leads and samples of each element of the leading dims. A 1-D signal
// is one lead. Statistics are computed in the input dtype, NaN propagates (put nan_to_num first).
//
// Registered preprocessors:
//   zscore           {axis: lead, ddof: 1, eps: 1e-7, mean: 0, std: 1}
//                    y = (x - mean(x)) / (std(x, ddof) + eps) · std + mean. ddof 1 (unbiased, the
//                    default) is torch_ecg's Normalize; ddof 0 is numpy's default std.
//   groupwise_zscore {groups: [[0, 3], [3, 6], [6, 12]], ddof: 1, eps: 1e-7}
//                    z-score with one set of statistics per lead group [start, end) over all its
//                    leads and samples (limb, augmented, precordial leads by default); leads in
//                    no group are left unchanged; groups must not overlap.
//   minmax           {axis: lead, eps: 1e-7}   y = (x - min) / (max - min + eps)
//   robust_scale     {axis: lead, eps: 1e-7}   y = (x - median) / (q75 - q25 + eps), quantiles with
//                    linear interpolation (numpy.percentile's default; even counts average the middle pair)
//   normalize        {mean: [0], std: [1]}     y = (x - mean) / std with fixed values: one value for
//                    every lead, or one per lead
//   clip             {k: 5, axis: lead, ddof: 1}  clamps to mean ± k·std(ddof)
//   nan_to_num       {nan: 0, posinf: ~, neginf: ~}  replaces NaN/±Inf; null infinities become the
//                    dtype's largest finite values (numpy.nan_to_num semantics)
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

#include "cardiotorch/core/error.h"

namespace cardiotorch::signal {

/// Reduction dims of x for an axis ("lead" or "record"), always keeping dims.
std::vector<int64_t> stat_dims(const at::Tensor& x, const std::string& axis);
/// q-quantile (0..1) over the last dim with linear interpolation, keepdim.
at::Tensor quantile_last(const at::Tensor& x, double q);
/// Several quantiles at once: shape (..., qs.size()).
at::Tensor quantiles_last(const at::Tensor& x, const std::vector<double>& qs);

struct ZScoreOptions {
  std::string axis = "lead";  ///< lead | record
  int64_t ddof = 1;           ///< 1: unbiased (torch_ecg), 0: biased (numpy)
  double eps = 1e-7;          ///< added to the std
  double mean = 0.0;          ///< target mean
  double std = 1.0;           ///< target std
  template <class V>
  void fields(V& v) {
    v("axis", axis, "lead (per lead) | record (over all leads)");
    v("ddof", ddof, "std delta degrees of freedom: 1 unbiased (torch_ecg), 0 biased (numpy)");
    v("eps", eps, "added to the std to avoid division by zero");
    v("mean", mean, "target mean");
    v("std", std, "target standard deviation");
  }
  void validate() const;
};

struct GroupZScoreOptions {
  std::vector<std::vector<int64_t>> groups = {{0, 3}, {3, 6}, {6, 12}};  ///< [start, end) lead ranges
  int64_t ddof = 1;
  double eps = 1e-7;
  template <class V>
  void fields(V& v) {
    v("groups", groups, "lead index ranges [start, end), one set of statistics each");
    v("ddof", ddof, "std delta degrees of freedom");
    v("eps", eps, "added to the std");
  }
  void validate() const;
};

struct MinMaxOptions {
  std::string axis = "lead";
  double eps = 1e-7;
  template <class V>
  void fields(V& v) {
    v("axis", axis, "lead | record");
    v("eps", eps, "added to the range");
  }
  void validate() const;
};

struct FixedNormOptions {
  std::vector<double> mean = {0.0};  ///< one value, or one per lead
  std::vector<double> std = {1.0};   ///< one value, or one per lead; > 0
  template <class V>
  void fields(V& v) {
    v("mean", mean, "subtracted: one value or one per lead");
    v("std", std, "divided by: one value or one per lead (> 0)");
  }
  void validate() const;
};

struct ClipOptions {
  double k = 5.0;
  std::string axis = "lead";
  int64_t ddof = 1;
  template <class V>
  void fields(V& v) {
    v("k", k, "clamp to mean +- k*std");
    v("axis", axis, "lead | record");
    v("ddof", ddof, "std delta degrees of freedom");
  }
  void validate() const;
};

struct NanToNumOptions {
  double nan = 0.0;
  std::optional<double> posinf;
  std::optional<double> neginf;
  template <class V>
  void fields(V& v) {
    v("nan", nan, "value for NaN");
    v("posinf", posinf, "value for +Inf (null: largest finite value of the dtype)");
    v("neginf", neginf, "value for -Inf (null: lowest finite value of the dtype)");
  }
};

}  // namespace cardiotorch::signal
