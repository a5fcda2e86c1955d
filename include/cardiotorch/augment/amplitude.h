#pragma once
// Amplitude augmenters: rescaling, amplitude_flip, lead_dropout.
#include <string>
#include <vector>

#include "cardiotorch/augment/augmenter.h"

namespace cardiotorch::augment {

struct RescalingOptions {
  double p = 0.5;
  std::string distribution = "uniform";  ///< "uniform" in `range`, or "normal" N(1, sigma^2)
  std::vector<double> range = {0.8, 1.25};
  double sigma = 0.5;
  bool per_lead = false;  ///< one factor per lead instead of one per slice
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("distribution", distribution,
      "uniform (factor in range) or normal (factor ~ N(1, sigma^2), as in the MAE anchor)");
    v("range", range, "[low, high] scale factor range for distribution: uniform");
    v("sigma", sigma, "standard deviation of the factor for distribution: normal (>= 0)");
    v("per_lead", per_lead, "draw one factor per lead instead of one per slice");
  }
  void validate() const;
};

/// x · s with a random factor s per slice (or per lead).
class Rescaling : public SliceAugmenter<RescalingOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "rescaling"; }

 protected:
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

struct AmplitudeFlipOptions {
  double p = 0.5;
  bool per_lead = false;  ///< flip each lead with probability lead_p instead of the whole slice
  double lead_p = 0.5;
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("per_lead", per_lead, "flip each lead of a selected slice independently with probability lead_p");
    v("lead_p", lead_p, "per-lead flip probability when per_lead is true");
  }
  void validate() const;
};

/// Sign inversion -x (|x| is preserved exactly).
class AmplitudeFlip : public SliceAugmenter<AmplitudeFlipOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "amplitude_flip"; }

 protected:
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

struct LeadDropoutOptions {
  double p = 0.5;
  double rate = 0.25;  ///< probability of zeroing each lead of a selected slice
  double value = 0.0;  ///< value written into dropped leads
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("rate", rate, "probability of dropping each lead of a selected slice, in [0, 1]");
    v("value", value, "value the dropped leads are set to");
  }
  void validate() const;
};

/// Sets random leads to `value`; at least one lead of every slice is kept (when all leads
/// are drawn, one of them, picked at random, is spared).
class LeadDropout : public SliceAugmenter<LeadDropoutOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "lead_dropout"; }

 protected:
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

}  // namespace cardiotorch::augment
