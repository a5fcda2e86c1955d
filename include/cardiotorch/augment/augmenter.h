#pragma once
// Common machinery of the augmenters (namespace cardiotorch::augment).
//
// Every augmenter is a signal::Step with is_augmentation() == true, registered in
// signal::augmenter_registry() and configured by an options struct whose first field is
// the probability p. Signals are (..., leads, samples) with any number of leading dims;
// a "sample" is one (leads, samples) slice and p is drawn independently for each one
// (mixup/cutmix pair along the first leading dim, so there p is per element of that dim;
// label_smooth draws p per label row). Slices that are not selected come out bit-identical.
//
// Randomness comes only from ctx.generator (the global CPU default when undefined): all
// draws happen on the CPU and the (small) parameter tensors are moved to the signal's
// device, so a seed reproduces the same output on CPU and CUDA, and the work itself runs
// as tensor ops on the device. The input tensor is never modified in place.
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>

#include "cardiotorch/signal/pipeline.h"

namespace cardiotorch::augment {

using signal::SignalBatch;
using signal::StepContext;

/// ctx.generator, or the global default CPU generator when it is undefined.
at::Generator generator_of(const StepContext& ctx);

/// Throws ShapeError unless x is a defined float32/float64 tensor with >= 1 dim.
void check_signal(const at::Tensor& x, const std::string& step);

/// Transforms the selected slices, shaped (k, leads, samples) on the signal's device and
/// dtype, and returns a new tensor of the same shape (it must not modify its argument).
using SliceFn = std::function<at::Tensor(const at::Tensor& slices, at::Generator& gen)>;

/// Draws one Bernoulli(p) per (leads, samples) slice of batch.x, runs `fn` on the selected
/// slices only and writes them back; unselected slices are untouched.
void apply_per_slice(SignalBatch& batch, StepContext& ctx, double p, const std::string& step, const SliceFn& fn);

/// Base for augmenters that act on each slice independently.
template <class Options>
class SliceAugmenter : public signal::OptionsStep<Options> {
 public:
  using signal::OptionsStep<Options>::OptionsStep;
  bool is_augmentation() const override { return true; }
  void apply(SignalBatch& batch, StepContext& ctx) const override {
    prepare(batch);
    apply_per_slice(batch, ctx, this->options_.p, this->name(),
                    [&](const at::Tensor& x, at::Generator& gen) { return transform(x, batch, gen); });
  }

 protected:
  /// Checks batch-level requirements (fs, lead names) before any draw.
  virtual void prepare(const SignalBatch& /*batch*/) const {}
  /// See SliceFn; `batch` gives fs and lead names.
  virtual at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const = 0;
};

/// Options validation helpers (throw ConfigError naming the field).
void check_probability(double p, const char* field);
void check_range(const std::vector<double>& range, const char* field, double lo, double hi, bool allow_equal = true);

}  // namespace cardiotorch::augment
