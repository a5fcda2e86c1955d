#include "cardiotorch/augment/noise.h"

#include <cmath>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/registry.h"
#include "common.h"

namespace cardiotorch::augment {

namespace {
constexpr double kTwoPi = 6.283185307179586476925286766559;

// Time axis in seconds on x's device/dtype, shaped (1, 1, T).
at::Tensor time_axis(const at::Tensor& x, double fs) {
  return at::arange(x.size(-1), x.options()).div_(fs).view({1, 1, -1});
}
}  // namespace

// ---------------------------------------------------------------------------------------
void GaussianNoiseOptions::validate() const {
  check_probability(p, "p");
  CT_CHECK(std::isfinite(std) && std >= 0, ConfigError, "std must be >= 0, got ", std);
}

at::Tensor GaussianNoise::transform(const at::Tensor& x, const SignalBatch&, at::Generator& gen) const {
  // Drawn directly in the signal dtype: a float64 copy of a full batch of noise would double the cost.
  at::Tensor noise = at::randn(x.sizes(), gen, at::TensorOptions().dtype(x.scalar_type())).to(x.device());
  if (options_.relative) return x + noise * (x.std(-1, /*unbiased=*/false, /*keepdim=*/true) * options_.std);
  return x + noise * options_.std;
}

// ---------------------------------------------------------------------------------------
void JitterOptions::validate() const {
  check_probability(p, "p");
  CT_CHECK(std::isfinite(scale) && scale >= 0, ConfigError, "scale must be >= 0, got ", scale);
  CT_CHECK(std::isfinite(sigma) && sigma >= 0, ConfigError, "sigma must be >= 0, got ", sigma);
}

at::Tensor Jitter::transform(const at::Tensor& x, const SignalBatch&, at::Generator& gen) const {
  at::Tensor noise = at::randn(x.sizes(), gen, at::TensorOptions().dtype(x.scalar_type())).to(x.device());
  return x + x * noise * (options_.scale * options_.sigma);
}

// ---------------------------------------------------------------------------------------
void BaselineWanderOptions::validate() const {
  check_probability(p, "p");
  check_range(amplitude, "amplitude", 0.0, 1e6);
  check_range(frequency, "frequency", 0.0, 1e6);
  CT_CHECK(frequency[0] > 0, ConfigError, "frequency must be > 0 Hz, got [", frequency[0], ", ", frequency[1], "]");
  CT_CHECK(components >= 1, ConfigError, "components must be >= 1, got ", components);
}

void BaselineWander::prepare(const SignalBatch& batch) const {
  CT_CHECK(batch.fs > 0, ConfigError, "baseline_wander needs the sampling rate, but fs is unknown");
  CT_CHECK(options_.frequency[1] <= batch.fs / 2, ConfigError, "baseline_wander: frequency ", options_.frequency[1],
           " Hz is above the Nyquist frequency ", batch.fs / 2, " Hz");
}

at::Tensor BaselineWander::transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const {
  const int64_t k = x.size(0), leads = x.size(1), c = options_.components;
  at::Tensor freq = detail::uniform({k, 1, c}, options_.frequency[0], options_.frequency[1], gen);
  at::Tensor phase = detail::uniform({k, 1, c}, 0.0, kTwoPi, gen);
  at::Tensor weight = detail::uniform({k, 1, c}, 0.0, 1.0, gen);
  weight = weight / weight.sum(-1, true).clamp_min(1e-12);
  at::Tensor ampl = detail::uniform({k, leads, 1}, options_.amplitude[0], options_.amplitude[1], gen);
  at::Tensor t = time_axis(x, batch.fs);
  freq = detail::like(freq, x).mul_(kTwoPi);
  phase = detail::like(phase, x);
  weight = detail::like(weight, x);
  // One component at a time keeps the working set at one slice-sized tensor.
  at::Tensor wander = at::zeros({k, 1, x.size(2)}, x.options());
  for (int64_t i = 0; i < c; ++i) {
    at::Tensor arg = t * freq.narrow(2, i, 1) + phase.narrow(2, i, 1);
    wander.add_(arg.sin_().mul_(weight.narrow(2, i, 1)));
  }
  return x + wander * (detail::like(ampl, x) * detail::peak_to_peak(x));
}

// ---------------------------------------------------------------------------------------
void PowerlineNoiseOptions::validate() const {
  check_probability(p, "p");
  CT_CHECK(!frequency.empty(), ConfigError, "frequency must list at least one mains frequency, e.g. [50, 60]");
  for (double f : frequency)
    CT_CHECK(std::isfinite(f) && f > 0, ConfigError, "frequency values must be > 0 Hz, got ", f);
  check_range(amplitude, "amplitude", 0.0, 1e12);
}

void PowerlineNoise::prepare(const SignalBatch& batch) const {
  CT_CHECK(batch.fs > 0, ConfigError, "powerline_noise needs the sampling rate, but fs is unknown");
  for (double f : options_.frequency)
    CT_CHECK(f <= batch.fs / 2, ConfigError, "powerline_noise: frequency ", f, " Hz is above the Nyquist frequency ",
             batch.fs / 2, " Hz of this signal");
}

at::Tensor PowerlineNoise::transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const {
  const int64_t k = x.size(0), leads = x.size(1);
  const int64_t nf = static_cast<int64_t>(options_.frequency.size());
  at::Tensor choice = detail::randint_below(at::full({k}, nf, at::kLong), gen);
  at::Tensor table = at::tensor(options_.frequency, at::TensorOptions().dtype(at::kDouble));
  at::Tensor freq = table.index_select(0, choice).view({k, 1, 1});
  at::Tensor phase = detail::uniform({k, 1, 1}, 0.0, kTwoPi, gen);
  at::Tensor ampl = detail::uniform({k, leads, 1}, options_.amplitude[0], options_.amplitude[1], gen);
  at::Tensor t = time_axis(x, batch.fs);
  at::Tensor hum = (t * detail::like(freq, x).mul_(kTwoPi) + detail::like(phase, x)).sin_();
  at::Tensor a = detail::like(ampl, x);
  if (options_.relative) a = a * detail::peak_to_peak(x);
  return x + hum * a;
}

// ---------------------------------------------------------------------------------------
void FtSurrogateOptions::validate() const {
  check_probability(p, "p");
  CT_CHECK(std::isfinite(magnitude) && magnitude >= 0 && magnitude <= 1, ConfigError,
           "magnitude must be in [0, 1], got ", magnitude);
}

at::Tensor FtSurrogate::transform(const at::Tensor& x, const SignalBatch&, at::Generator& gen) const {
  const int64_t k = x.size(0), leads = x.size(1), n = x.size(2);
  if (n < 2) return x.clone();
  at::Tensor spec = at::fft_rfft(x, n, -1);
  const int64_t bins = spec.size(-1);
  at::Tensor phase = detail::uniform({k, options_.per_lead ? leads : 1, bins}, 0.0, kTwoPi * options_.magnitude, gen);
  // A real signal needs real DC (and, for even n, real Nyquist) bins: leave those alone.
  phase.select(2, 0).zero_();
  if (n % 2 == 0) phase.select(2, bins - 1).zero_();
  at::Tensor ph = detail::like(phase, x);
  at::Tensor rot = at::polar(at::ones_like(ph), ph);
  return at::fft_irfft(spec * rot, n, -1);
}

CT_REGISTER(signal::augmenter_registry(), "gaussian_noise", (make_from_options<GaussianNoise, GaussianNoiseOptions>),
            "additive Gaussian noise (absolute std, or relative to each lead's std)");
CT_REGISTER(signal::augmenter_registry(), "jitter", (make_from_options<Jitter, JitterOptions>),
            "multiplicative jitter x + a*x*N(0, sigma^2)");
CT_REGISTER(signal::augmenter_registry(), "baseline_wander", (make_from_options<BaselineWander, BaselineWanderOptions>),
            "sum of low-frequency sinusoids scaled to each lead's amplitude (needs fs)");
CT_REGISTER(signal::augmenter_registry(), "powerline_noise", (make_from_options<PowerlineNoise, PowerlineNoiseOptions>),
            "50/60 Hz mains sinusoid with random amplitude and phase (needs fs)");
CT_REGISTER(signal::augmenter_registry(), "ft_surrogate", (make_from_options<FtSurrogate, FtSurrogateOptions>),
            "random rFFT phase perturbation preserving the amplitude spectrum");

}  // namespace cardiotorch::augment
