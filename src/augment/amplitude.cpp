#include "cardiotorch/augment/amplitude.h"

#include <cmath>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/registry.h"
#include "common.h"

namespace cardiotorch::augment {

// ---------------------------------------------------------------------------------------
void RescalingOptions::validate() const {
  check_probability(p, "p");
  check_choice("distribution", distribution, {"uniform", "normal"});
  check_range(range, "range", -1e12, 1e12);
  CT_CHECK(std::isfinite(sigma) && sigma >= 0, ConfigError, "sigma must be >= 0, got ", sigma);
}

at::Tensor Rescaling::transform(const at::Tensor& x, const SignalBatch&, at::Generator& gen) const {
  const int64_t k = x.size(0), leads = options_.per_lead ? x.size(1) : 1;
  at::Tensor factor = options_.distribution == "normal"
                          ? detail::normal({k, leads, 1}, gen).mul_(options_.sigma).add_(1.0)
                          : detail::uniform({k, leads, 1}, options_.range[0], options_.range[1], gen);
  return x * detail::like(factor, x);
}

// ---------------------------------------------------------------------------------------
void AmplitudeFlipOptions::validate() const {
  check_probability(p, "p");
  check_probability(lead_p, "lead_p");
}

at::Tensor AmplitudeFlip::transform(const at::Tensor& x, const SignalBatch&, at::Generator& gen) const {
  if (!options_.per_lead) return x.neg();
  at::Tensor flip = detail::uniform({x.size(0), x.size(1), 1}, 0.0, 1.0, gen).lt(options_.lead_p);
  return at::where(flip.to(x.device()), x.neg(), x);
}

// ---------------------------------------------------------------------------------------
void LeadDropoutOptions::validate() const {
  check_probability(p, "p");
  check_probability(rate, "rate");
  CT_CHECK(std::isfinite(value), ConfigError, "value must be finite, got ", value);
}

at::Tensor LeadDropout::transform(const at::Tensor& x, const SignalBatch&, at::Generator& gen) const {
  const int64_t k = x.size(0), leads = x.size(1);
  at::Tensor drop = detail::uniform({k, leads}, 0.0, 1.0, gen).lt(options_.rate);
  at::Tensor spare = detail::randint_below(at::full({k}, leads, at::kLong), gen);
  at::Tensor all_dropped = drop.all(1);
  // Spare one random lead of the slices that lost all of them.
  at::Tensor spare_mask = at::zeros({k, leads}, at::kBool).scatter_(1, spare.unsqueeze(1), true);
  drop = drop & ~(spare_mask & all_dropped.unsqueeze(1));
  return x.masked_fill(drop.unsqueeze(2).to(x.device()), options_.value);
}

CT_REGISTER(signal::augmenter_registry(), "rescaling", (make_from_options<Rescaling, RescalingOptions>),
            "random amplitude scale factor per slice or per lead");
CT_REGISTER(signal::augmenter_registry(), "amplitude_flip", (make_from_options<AmplitudeFlip, AmplitudeFlipOptions>),
            "sign inversion of the whole slice or of random leads");
CT_REGISTER(signal::augmenter_registry(), "lead_dropout", (make_from_options<LeadDropout, LeadDropoutOptions>),
            "sets random leads to zero, keeping at least one");

}  // namespace cardiotorch::augment
