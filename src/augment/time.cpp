#include "cardiotorch/augment/time.h"

#include <algorithm>
#include <cmath>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/registry.h"
#include "common.h"

namespace cardiotorch::augment {

namespace {
// Integers uniform in [lo, hi] (inclusive), CPU int64 of `size`.
at::Tensor randint_between(at::IntArrayRef size, int64_t lo, int64_t hi, at::Generator& gen) {
  return detail::randint_below(at::full(size, hi - lo + 1, at::kLong), gen) + lo;
}
}  // namespace

// ---------------------------------------------------------------------------------------
void TimeShiftOptions::validate() const {
  check_probability(p, "p");
  CT_CHECK(std::isfinite(max_shift) && max_shift >= 0, ConfigError, "max_shift must be >= 0, got ", max_shift);
  detail::check_unit(unit, "unit");
  check_choice("mode", mode, {"circular", "zero"});
}

at::Tensor TimeShift::transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const {
  const int64_t k = x.size(0), leads = x.size(1), n = x.size(2);
  int64_t m = detail::to_samples(options_.max_shift, options_.unit, batch.fs, name(), "max_shift");
  m = std::min<int64_t>(m, n - 1);
  if (m <= 0) return x.clone();
  at::Tensor shift = randint_between({k, 1}, -m, m, gen).to(x.device());
  at::Tensor src = at::arange(n, x.options().dtype(at::kLong)).unsqueeze(0) - shift;  // (k, n)
  if (options_.mode == "circular") return x.gather(2, src.remainder(n).unsqueeze(1).expand({k, leads, n}));
  at::Tensor valid = src.ge(0) & src.lt(n);
  at::Tensor out = x.gather(2, src.clamp(0, n - 1).unsqueeze(1).expand({k, leads, n}));
  return out.masked_fill(~valid.unsqueeze(1), 0.0);
}

// ---------------------------------------------------------------------------------------
void RandomResizedCropOptions::validate() const {
  check_probability(p, "p");
  check_range(scale, "scale", 0.0, 1.0);
  CT_CHECK(scale[0] > 0, ConfigError, "scale must be > 0, got [", scale[0], ", ", scale[1], "]");
}

at::Tensor RandomResizedCrop::transform(const at::Tensor& x, const SignalBatch&, at::Generator& gen) const {
  const int64_t k = x.size(0), n = x.size(2);
  if (n < 2) return x.clone();
  at::Tensor frac = detail::uniform({k}, options_.scale[0], options_.scale[1], gen);
  at::Tensor len = frac.mul(static_cast<double>(n)).round().clamp(2, static_cast<double>(n)).to(at::kLong);
  at::Tensor start = detail::randint_below(n - len + 1, gen);
  // Output sample j reads the crop at start + j·(len-1)/(n-1): both ends are kept.
  at::Tensor step = (len - 1).to(at::kDouble) / static_cast<double>(n - 1);
  at::Tensor j = at::arange(n, at::TensorOptions().dtype(at::kDouble)).unsqueeze(0);
  at::Tensor pos = start.to(at::kDouble).unsqueeze(1) + j * step.unsqueeze(1);
  return detail::interp_linear(x, pos.to(x.device()));
}

// ---------------------------------------------------------------------------------------
void StretchCompressOptions::validate() const {
  check_probability(p, "p");
  check_range(factor, "factor", 0.0, 100.0);
  CT_CHECK(factor[0] > 0, ConfigError, "factor must be > 0, got [", factor[0], ", ", factor[1], "]");
  check_choice("pad", pad, {"zero", "edge"});
}

at::Tensor StretchCompress::transform(const at::Tensor& x, const SignalBatch&, at::Generator& gen) const {
  const int64_t k = x.size(0), n = x.size(2);
  if (n < 2) return x.clone();
  at::Tensor factor = detail::uniform({k}, options_.factor[0], options_.factor[1], gen);
  at::Tensor warped = factor.mul(static_cast<double>(n)).round().clamp_min(2).to(at::kLong);  // new length
  // Centre the warped signal on the output: crop its middle (stretch) or pad both sides (compress).
  at::Tensor offset = at::div(warped - n, 2, "floor");  // >= 0 for stretch, < 0 for compress
  at::Tensor j = at::arange(n, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
  at::Tensor i = j + offset.unsqueeze(1);  // index into the warped signal
  at::Tensor pos = i.to(at::kDouble) * (static_cast<double>(n - 1) / (warped - 1).to(at::kDouble)).unsqueeze(1);
  at::Tensor out = detail::interp_linear(x, pos.to(x.device()));  // clamping = edge padding
  if (options_.pad == "edge") return out;
  at::Tensor outside = (i.lt(0) | i.ge(warped.unsqueeze(1))).to(x.device());
  return out.masked_fill(outside.unsqueeze(1), 0.0);
}

// ---------------------------------------------------------------------------------------
void TimeMaskOptions::validate() const {
  check_probability(p, "p");
  CT_CHECK(masks >= 1, ConfigError, "masks must be >= 1, got ", masks);
  CT_CHECK(std::isfinite(min_length) && min_length >= 0, ConfigError, "min_length must be >= 0, got ", min_length);
  CT_CHECK(std::isfinite(max_length) && max_length >= min_length, ConfigError, "max_length must be >= min_length (",
           min_length, "), got ", max_length);
  detail::check_unit(unit, "unit");
  CT_CHECK(std::isfinite(value), ConfigError, "value must be finite, got ", value);
}

at::Tensor TimeMask::transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const {
  const int64_t k = x.size(0), n = x.size(2);
  const int64_t rows = options_.per_lead ? x.size(1) : 1;
  const int64_t lo =
      std::min<int64_t>(detail::to_samples(options_.min_length, options_.unit, batch.fs, name(), "min_length"), n);
  const int64_t hi =
      std::min<int64_t>(detail::to_samples(options_.max_length, options_.unit, batch.fs, name(), "max_length"), n);
  at::Tensor len = randint_between({k, rows, options_.masks}, lo, hi, gen);
  at::Tensor start = detail::randint_below(n - len + 1, gen);
  at::Tensor t = at::arange(n, x.options().dtype(at::kLong)).view({1, 1, 1, n});
  at::Tensor s = start.to(x.device()).unsqueeze(3);
  at::Tensor e = s + len.to(x.device()).unsqueeze(3);
  at::Tensor mask = (t.ge(s) & t.lt(e)).any(2);  // (k, rows, n)
  return x.masked_fill(mask, options_.value);
}

CT_REGISTER(signal::augmenter_registry(), "time_shift", (make_from_options<TimeShift, TimeShiftOptions>),
            "random circular or zero-filled time shift");
CT_REGISTER(signal::augmenter_registry(), "random_resized_crop",
            (make_from_options<RandomResizedCrop, RandomResizedCropOptions>),
            "random crop resampled back to the original length");
CT_REGISTER(signal::augmenter_registry(), "stretch_compress",
            (make_from_options<StretchCompress, StretchCompressOptions>),
            "random time warp, length kept by centre crop or pad");
CT_REGISTER(signal::augmenter_registry(), "time_mask", (make_from_options<TimeMask, TimeMaskOptions>),
            "sets random time spans to a value");

}  // namespace cardiotorch::augment
