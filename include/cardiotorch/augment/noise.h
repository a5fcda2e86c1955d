#pragma once
// Additive and multiplicative noise augmenters: gaussian_noise, jitter, baseline_wander,
// powerline_noise, ft_surrogate.
#include <string>
#include <vector>

#include "cardiotorch/augment/augmenter.h"

namespace cardiotorch::augment {

struct GaussianNoiseOptions {
  double p = 0.5;
  double std = 0.01;      ///< noise std (signal units, or a fraction of the lead's std when relative)
  bool relative = false;  ///< std is relative to each lead's own standard deviation
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("std", std, "noise standard deviation (>= 0); a fraction of each lead's std when relative");
    v("relative", relative, "scale std by each lead's standard deviation");
  }
  void validate() const;
};

/// x + N(0, std^2) (per-lead std when relative).
class GaussianNoise : public SliceAugmenter<GaussianNoiseOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "gaussian_noise"; }

 protected:
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

struct JitterOptions {
  double p = 0.5;
  double scale = 0.6;   ///< a in x + a·x·N(0, sigma^2)
  double sigma = 0.25;  ///< sigma in x + a·x·N(0, sigma^2)
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("scale", scale, "factor a in x + a*x*N(0, sigma^2) (>= 0)");
    v("sigma", sigma, "standard deviation of the multiplicative noise (>= 0)");
  }
  void validate() const;
};

/// Multiplicative, amplitude-proportional jitter x + a·x·N(0, σ²) (Turgut et al. MAE for ECG).
class Jitter : public SliceAugmenter<JitterOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "jitter"; }

 protected:
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

struct BaselineWanderOptions {
  double p = 0.5;
  std::vector<double> amplitude = {0.05, 0.3};  ///< wander peak, as a fraction of each lead's peak-to-peak
  std::vector<double> frequency = {0.05, 0.5};  ///< Hz
  int64_t components = 3;                       ///< number of sinusoids summed
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("amplitude", amplitude, "[low, high] peak wander as a fraction of each lead's peak-to-peak amplitude");
    v("frequency", frequency, "[low, high] frequency range of the sinusoids in Hz");
    v("components", components, "number of sinusoids summed (>= 1)");
  }
  void validate() const;
};

/// Adds Σ_c w_c·sin(2π f_c t + φ_c) scaled by a·ptp(lead): frequencies, phases and weights
/// are shared by the leads of a slice (respiration moves all leads), the amplitude a is
/// drawn per lead. Because it is relative to the signal's amplitude the augmenter is
/// homogeneous: scaling the input by c scales the added wander by c.
class BaselineWander : public SliceAugmenter<BaselineWanderOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "baseline_wander"; }
  bool needs_fs() const override { return true; }

 protected:
  void prepare(const SignalBatch& batch) const override;
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

struct PowerlineNoiseOptions {
  double p = 0.5;
  std::vector<double> frequency = {50.0, 60.0};  ///< mains frequencies to choose from (Hz)
  std::vector<double> amplitude = {0.0, 0.05};   ///< [low, high]
  bool relative = true;  ///< amplitude is a fraction of each lead's peak-to-peak (else signal units)
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("frequency", frequency, "mains frequencies in Hz, one is picked at random per slice (e.g. [50] or [50, 60])");
    v("amplitude", amplitude, "[low, high] sinusoid amplitude");
    v("relative", relative, "amplitude is a fraction of each lead's peak-to-peak amplitude");
  }
  void validate() const;
};

/// Adds A·sin(2π f t + φ): f picked from `frequency` and φ uniform per slice (same in all
/// leads, as mains pick-up is), A uniform per lead.
class PowerlineNoise : public SliceAugmenter<PowerlineNoiseOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "powerline_noise"; }
  bool needs_fs() const override { return true; }

 protected:
  void prepare(const SignalBatch& batch) const override;
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

struct FtSurrogateOptions {
  double p = 0.5;
  double magnitude = 0.1;  ///< phase noise ~ U(0, 2π·magnitude) per frequency bin
  bool per_lead = false;   ///< independent phase noise per lead (default: shared, as in the anchor)
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("magnitude", magnitude, "phase noise magnitude in [0, 1]: phases shift by U(0, 2*pi*magnitude)");
    v("per_lead", per_lead, "draw independent phase noise for each lead (default: the same for all leads)");
  }
  void validate() const;
};

/// Fourier-transform surrogate: rotates the phase of every rFFT bin by a random angle and
/// transforms back; DC and Nyquist stay real so the amplitude spectrum is preserved exactly.
class FtSurrogate : public SliceAugmenter<FtSurrogateOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "ft_surrogate"; }

 protected:
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

}  // namespace cardiotorch::augment
