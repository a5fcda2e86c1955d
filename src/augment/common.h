#pragma once
// Internal helpers shared by the augmenter implementations (not installed).
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "cardiotorch/augment/augmenter.h"

namespace cardiotorch::augment::detail {

/// CPU float64 draws from `gen`.
at::Tensor uniform(at::IntArrayRef size, double lo, double hi, at::Generator& gen);
at::Tensor normal(at::IntArrayRef size, at::Generator& gen);
/// Integers uniform in [0, n) per element of `n` (CPU int64 tensor of bounds, each >= 1).
at::Tensor randint_below(const at::Tensor& n, at::Generator& gen);
/// Beta(alpha, alpha) draws (CPU float64).
at::Tensor beta(int64_t n, double alpha, at::Generator& gen);

/// Moves a CPU parameter tensor to x's device and dtype.
inline at::Tensor like(const at::Tensor& t, const at::Tensor& x) { return t.to(x.device(), x.scalar_type()); }

/// Per-lead peak-to-peak amplitude, (k, L, 1).
at::Tensor peak_to_peak(const at::Tensor& x);

/// Linear interpolation of x (k, L, T) at fractional source positions pos (k, Tout) (x's
/// device; any float dtype). Positions outside [0, T-1] are clamped to the ends.
at::Tensor interp_linear(const at::Tensor& x, const at::Tensor& pos);

/// A length option converted to samples (seconds * fs, or samples as given).
int64_t to_samples(double value, const std::string& unit, double fs, const std::string& step, const char* field);

void check_unit(const std::string& unit, const char* field);

}  // namespace cardiotorch::augment::detail
