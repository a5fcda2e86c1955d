#pragma once
// Batch-level augmenters that change the labels: mixup, cutmix, label_smooth.
//
// mixup and cutmix pair the elements of the signal's first leading dim (the batch) through
// a random permutation; the labels batch.y (first dim = the same batch) are mixed with
// exactly the weights the signals get. A signal without leading dims is a batch of one and
// is left unchanged.
#include <string>

#include "cardiotorch/augment/augmenter.h"

namespace cardiotorch::augment {

struct MixupOptions {
  double p = 0.5;
  double alpha = 0.4;  ///< lambda ~ Beta(alpha, alpha)
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of mixing each batch element with its partner");
    v("alpha", alpha, "Beta(alpha, alpha) parameter of the mixing weight (> 0)");
  }
  void validate() const;
};

/// x_b <- λ_b x_b + (1-λ_b) x_perm(b), and the same for y.
class Mixup : public signal::OptionsStep<MixupOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "mixup"; }
  bool is_augmentation() const override { return true; }
  bool is_batch_level() const override { return true; }
  void apply(SignalBatch& batch, StepContext& ctx) const override;
};

struct CutmixOptions {
  double p = 0.5;
  double alpha = 1.0;  ///< kept fraction λ ~ Beta(alpha, alpha)
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each batch element");
    v("alpha", alpha, "Beta(alpha, alpha) parameter of the kept fraction (> 0)");
  }
  void validate() const;
};

/// Replaces a random span of round((1-λ)·T) samples (all leads) with the partner's span;
/// labels get y_b <- (1-r) y_b + r y_perm(b) with r = the fraction actually replaced.
class Cutmix : public signal::OptionsStep<CutmixOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "cutmix"; }
  bool is_augmentation() const override { return true; }
  bool is_batch_level() const override { return true; }
  void apply(SignalBatch& batch, StepContext& ctx) const override;
};

struct LabelSmoothOptions {
  double p = 1.0;
  double smoothing = 0.1;  ///< eps in y(1-eps) + eps/K
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of smoothing each label row");
    v("smoothing", smoothing, "eps in y*(1-eps) + eps/K, in [0, 1]");
  }
  void validate() const;
};

/// y <- y(1-eps) + eps/K on batch.y (..., K); the signal is untouched. Needs labels.
class LabelSmooth : public signal::OptionsStep<LabelSmoothOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "label_smooth"; }
  bool is_augmentation() const override { return true; }
  bool is_batch_level() const override { return true; }
  void apply(SignalBatch& batch, StepContext& ctx) const override;
};

}  // namespace cardiotorch::augment
