#pragma once
// Time-axis augmenters: time_shift, random_resized_crop, stretch_compress, time_mask.
// Lengths given in seconds need batch.fs (unit: seconds); unit: samples does not.
#include <string>
#include <vector>

#include "cardiotorch/augment/augmenter.h"

namespace cardiotorch::augment {

struct TimeShiftOptions {
  double p = 0.5;
  double max_shift = 0.5;         ///< in `unit`
  std::string unit = "seconds";   ///< seconds | samples
  std::string mode = "circular";  ///< circular (roll) | zero (shifted-in samples are 0)
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("max_shift", max_shift, "largest shift (>= 0); the shift is uniform in [-max_shift, max_shift]");
    v("unit", unit, "unit of max_shift: seconds | samples");
    v("mode", mode, "circular (wrap around) | zero (fill with zeros)");
  }
  void validate() const;
};

class TimeShift : public SliceAugmenter<TimeShiftOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "time_shift"; }
  bool needs_fs() const override { return options_.unit == "seconds"; }

 protected:
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

struct RandomResizedCropOptions {
  double p = 0.5;
  std::vector<double> scale = {0.5, 1.0};  ///< crop length as a fraction of the signal length
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("scale", scale, "[low, high] fraction of the signal kept, in (0, 1]");
  }
  void validate() const;
};

/// Crops a random window of random length and stretches it back to the original length
/// (linear interpolation; the window's first and last samples map onto the output's).
class RandomResizedCrop : public SliceAugmenter<RandomResizedCropOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "random_resized_crop"; }

 protected:
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

struct StretchCompressOptions {
  double p = 0.5;
  std::vector<double> factor = {0.94, 1.06};  ///< time-warp factor range (> 1 stretches)
  std::string pad = "zero";                   ///< zero | edge, for compressed signals
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("factor", factor, "[low, high] time-warp factor (> 1 slows the signal down), each > 0");
    v("pad", pad, "padding of compressed signals: zero | edge (repeat the end samples)");
  }
  void validate() const;
};

/// Resamples the slice to round(factor·T) samples (linear interpolation), then centre-crops
/// (stretch) or centre-pads (compress) back to T.
class StretchCompress : public SliceAugmenter<StretchCompressOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "stretch_compress"; }

 protected:
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

struct TimeMaskOptions {
  double p = 0.5;
  int64_t masks = 1;             ///< masks per selected slice
  double min_length = 0.0;       ///< in `unit`
  double max_length = 0.2;       ///< in `unit`
  std::string unit = "seconds";  ///< seconds | samples
  double value = 0.0;            ///< value written into the masked spans
  bool per_lead = false;         ///< independent spans per lead (default: the same span in all leads)
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("masks", masks, "number of masked spans per selected slice (>= 1; spans may overlap)");
    v("min_length", min_length, "shortest span (>= 0)");
    v("max_length", max_length, "longest span (>= min_length)");
    v("unit", unit, "unit of the lengths: seconds | samples");
    v("value", value, "value the masked samples are set to (assigned, not multiplied)");
    v("per_lead", per_lead, "draw the spans for each lead independently");
  }
  void validate() const;
};

/// Sets random spans to `value`; every other sample stays bit-identical.
class TimeMask : public SliceAugmenter<TimeMaskOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "time_mask"; }
  bool needs_fs() const override { return options_.unit == "seconds"; }

 protected:
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

}  // namespace cardiotorch::augment
