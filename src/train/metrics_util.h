#pragma once
// Private helpers of the metric sources: tensors to flat CPU vectors with checked labels.
#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/train/metrics.h"

namespace cardiotorch::train::detail {

inline std::string shape_str(const at::Tensor& t) {
  if (!t.defined()) return "(undefined)";
  std::vector<std::string> d;
  for (int64_t s : t.sizes()) d.push_back(std::to_string(s));
  return "(" + join(d, ", ") + ")";
}

/// The decision-tuning objectives of one class from its counts: F1 = 2tp / (tp + fp + P), or
/// Youden's J = tp / P - fp / N (0 for the second term without negatives). P > 0.
inline double objective_value(ThresholdObjective objective, double tp, double fp, double positives, double negatives) {
  return objective == ThresholdObjective::kF1 ? 2 * tp / (2 * tp + fp + (positives - tp))
                                              : tp / positives - (negatives > 0 ? fp / negatives : 0.0);
}

/// Row-major doubles of any CPU/accelerator tensor (bool and integer dtypes included).
inline std::vector<double> to_doubles(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kCPU, at::kDouble).contiguous();
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

/// Class indices in [0, n_classes): integral values, checked.
inline std::vector<int64_t> to_labels(const at::Tensor& t, int64_t n_classes, const char* what) {
  CT_CHECK(t.defined() && t.dim() <= 1, ShapeError, what, ": labels must be (N) class indices, got ", shape_str(t));
  const std::vector<double> v = to_doubles(t);
  std::vector<int64_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    CT_CHECK(v[i] >= 0 && v[i] < static_cast<double>(n_classes) && v[i] == std::floor(v[i]), ShapeError, what,
             ": label ", v[i], " at index ", i, " is not a class index in [0, ", n_classes, ")");
    out[i] = static_cast<int64_t>(v[i]);
  }
  return out;
}

/// A (K, K) count matrix as doubles and K.
inline std::pair<std::vector<double>, int64_t> square_counts(const at::Tensor& m, const char* what) {
  CT_CHECK(m.defined() && m.dim() == 2 && m.size(0) == m.size(1), ShapeError, what,
           ": expected a square (C, C) confusion matrix, got ", shape_str(m));
  std::vector<double> v = to_doubles(m);
  for (double x : v) CT_CHECK(x >= 0 && std::isfinite(x), DataError, what, ": confusion counts must be >= 0, got ", x);
  return {std::move(v), m.size(0)};
}

}  // namespace cardiotorch::train::detail
