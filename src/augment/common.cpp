#include "common.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "cardiotorch/core/error.h"

namespace cardiotorch::augment {

at::Generator generator_of(const StepContext& ctx) {
  return ctx.generator.defined() ? ctx.generator : at::detail::getDefaultCPUGenerator();
}

void check_signal(const at::Tensor& x, const std::string& step) {
  CT_CHECK(x.defined(), ShapeError, step, ": the input signal is undefined");
  CT_CHECK(x.dim() >= 1, ShapeError, step, ": expected a signal shaped (..., leads, samples), got a scalar");
  CT_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, ShapeError, step,
           ": expected a float32 or float64 signal, got ", x.scalar_type());
}

void apply_per_slice(SignalBatch& batch, StepContext& ctx, double p, const std::string& step, const SliceFn& fn) {
  check_signal(batch.x, step);
  const at::Tensor& x = batch.x;
  if (p <= 0.0 || x.numel() == 0) return;
  const std::vector<int64_t> shape = x.sizes().vec();
  const int64_t samples = x.size(-1);
  const int64_t leads = x.dim() >= 2 ? x.size(-2) : 1;
  at::Tensor slices = x.reshape({-1, leads, samples});
  const int64_t n = slices.size(0);
  at::Generator gen = generator_of(ctx);
  at::Tensor chosen = detail::uniform({n}, 0.0, 1.0, gen).lt(p).nonzero().flatten();
  const int64_t k = chosen.numel();
  if (k == 0) return;
  at::Tensor out;
  if (k == n) {
    out = fn(slices, gen);
  } else {
    at::Tensor index = chosen.to(x.device());
    at::Tensor changed = fn(slices.index_select(0, index), gen);
    out = slices.clone();
    out.index_copy_(0, index, changed.to(out.scalar_type()));
  }
  CT_INTERNAL_ASSERT(out.sizes() == slices.sizes(), step);
  batch.x = out.reshape(shape);
}

void check_probability(double p, const char* field) {
  CT_CHECK(std::isfinite(p) && p >= 0.0 && p <= 1.0, ConfigError, field, " must be in [0, 1], got ", p);
}

void check_range(const std::vector<double>& range, const char* field, double lo, double hi, bool allow_equal) {
  CT_CHECK(range.size() == 2, ConfigError, field, " must be a [low, high] pair, got ", range.size(), " values");
  CT_CHECK(std::isfinite(range[0]) && std::isfinite(range[1]), ConfigError, field, " must be finite");
  CT_CHECK(range[0] >= lo && range[1] <= hi, ConfigError, field, " must lie in [", lo, ", ", hi, "], got [", range[0],
           ", ", range[1], "]");
  CT_CHECK(allow_equal ? range[0] <= range[1] : range[0] < range[1], ConfigError, field,
           " must have low <= high, got [", range[0], ", ", range[1], "]");
}

namespace detail {

at::Tensor uniform(at::IntArrayRef size, double lo, double hi, at::Generator& gen) {
  at::Tensor u = at::rand(size, gen, at::TensorOptions().dtype(at::kDouble));
  if (lo == 0.0 && hi == 1.0) return u;
  return u.mul_(hi - lo).add_(lo);
}

at::Tensor normal(at::IntArrayRef size, at::Generator& gen) {
  return at::randn(size, gen, at::TensorOptions().dtype(at::kDouble));
}

at::Tensor randint_below(const at::Tensor& n, at::Generator& gen) {
  // floor(u·n) with u in [0, 1); the min() guards the u -> 1 rounding edge.
  at::Tensor nd = n.to(at::kDouble);
  at::Tensor r = uniform(n.sizes(), 0.0, 1.0, gen).mul_(nd).floor_().to(at::kLong);
  return at::minimum(r, n.to(at::kLong) - 1).clamp_min(0);
}

at::Tensor beta(int64_t n, double alpha, at::Generator& gen) {
  at::Tensor a = at::full({n}, alpha, at::TensorOptions().dtype(at::kDouble));
  at::Tensor g1 = at::_standard_gamma(a, gen);
  at::Tensor g2 = at::_standard_gamma(a, gen);
  at::Tensor coin = uniform({n}, 0.0, 1.0, gen).lt(0.5).to(at::kDouble);
  at::Tensor sum = g1 + g2;
  // For tiny alpha both gamma draws can underflow to 0; Beta(a, a) tends to a fair coin on {0, 1}.
  return at::where(sum.gt(0), g1 / sum.clamp_min(1e-300), coin);
}

at::Tensor peak_to_peak(const at::Tensor& x) { return std::get<0>(x.max(-1, true)) - std::get<0>(x.min(-1, true)); }

at::Tensor interp_linear(const at::Tensor& x, const at::Tensor& pos) {
  // grid_sampler's vectorised bilinear kernel, on x viewed as (k, leads, 1, T) images of height 1:
  // far faster than two gathers with broadcast indices. Border padding = clamping to the ends.
  const int64_t k = x.size(0), samples = x.size(2), tout = pos.size(1);
  at::Tensor gx = samples > 1 ? pos.to(x.scalar_type()).mul(2.0 / static_cast<double>(samples - 1)).sub_(1.0)
                              : at::zeros({k, tout}, x.options());
  at::Tensor grid = at::stack({gx, at::zeros_like(gx)}, -1).view({k, 1, tout, 2});
  at::Tensor out = at::grid_sampler(x.unsqueeze(2), grid, /*interpolation_mode=*/0, /*padding_mode=*/1,
                                    /*align_corners=*/true);
  return out.squeeze(2);
}

void check_unit(const std::string& unit, const char* field) { check_choice(field, unit, {"seconds", "samples"}); }

int64_t to_samples(double value, const std::string& unit, double fs, const std::string& step, const char* field) {
  if (unit == "samples") return static_cast<int64_t>(std::llround(value));
  CT_CHECK(fs > 0, ConfigError, step, ": ", field,
           " is in seconds but the sampling rate is unknown (set fs, or unit: samples)");
  return static_cast<int64_t>(std::llround(value * fs));
}

}  // namespace detail
}  // namespace cardiotorch::augment
