#pragma once
// Internal helpers shared by the preprocessors (not installed).
#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "cardiotorch/core/error.h"
#include "cardiotorch/signal/pipeline.h"

namespace cardiotorch::signal::detail {

/// Rejects what no preprocessor can handle: undefined, scalar, integer or complex tensors.
inline void check_signal(const at::Tensor& x, const std::string& step) {
  CT_CHECK(x.defined(), ShapeError, step, ": the input signal is undefined");
  CT_CHECK(x.dim() >= 1, ShapeError, step, ": expected a signal shaped (..., leads, samples), got a scalar");
  CT_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, ShapeError, step,
           ": expected a float32 or float64 signal, got ", x.scalar_type());
}

/// True when nothing but `x` itself refers to its buffer, so a step may overwrite it: one
/// handle to the tensor, one tensor on the storage (no views, no caller keeping the input), a
/// buffer ATen allocated (not from_blob over someone else's memory), no autograd, CPU,
/// contiguous. Call it on batch.x before taking views of it. The first step of a pipeline sees
/// the caller's tensor (count 2: the caller's handle and batch.x) and writes a new buffer; the
/// steps after it work in that buffer.
inline bool can_overwrite(const at::Tensor& x) {
  return x.defined() && x.device().is_cpu() && !x.requires_grad() && x.is_contiguous() && x.use_count() == 1 &&
         x.storage().use_count() == 1 && x.storage().resizable();
}

/// The buffers of a step that maps x to a tensor of x's shape: `in` is x made contiguous; `out`
/// is x itself when writable (can_overwrite(x)), `in` when that is already a private copy (x was
/// not contiguous), else one new tensor. Neither is a view: a view keeps its base alive, and the
/// next step would then see a shared buffer and allocate again.
struct InOut {
  at::Tensor in, out;
};
inline InOut in_out(const at::Tensor& x, bool writable) {
  at::Tensor in = x.contiguous();
  if (writable) return {x, x};
  if (!in.is_same(x)) return {in, in};
  return {in, at::empty(in.sizes(), in.options())};
}

/// (..., L) -> contiguous (rows, L).
inline at::Tensor as_rows(const at::Tensor& x) { return x.reshape({-1, x.size(-1)}).contiguous(); }

/// Shape of x with the last dim replaced by n.
inline std::vector<int64_t> with_length(const at::Tensor& x, int64_t n) {
  std::vector<int64_t> s(x.sizes().begin(), x.sizes().end());
  s.back() = n;
  return s;
}

/// x viewed as (batch, leads, samples); 1-D input is one lead.
inline at::Tensor as_blc(const at::Tensor& x) {
  if (x.dim() == 1) return x.reshape({1, 1, x.size(0)});
  return x.reshape({-1, x.size(-2), x.size(-1)});
}

/// Python's round() (half to even) — torch_ecg computes window lengths with it.
inline int64_t round_half_even(double v) { return static_cast<int64_t>(std::nearbyint(v)); }

}  // namespace cardiotorch::signal::detail
