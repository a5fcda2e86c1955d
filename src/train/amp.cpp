#include "cardiotorch/train/amp.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/runtime.h"

namespace cardiotorch::train {

at::ScalarType resolve_precision(const std::string& amp, const c10::Device& device) {
  check_choice("amp", amp, {"auto", "fp32", "bf16", "fp16"});
  if (amp == "fp32") return at::kFloat;
  if (!device.is_cuda()) {
    if (amp != "auto") CT_LOG_WARN("amp: ", amp, " is used on CUDA only; training on the CPU in float32");
    return at::kFloat;
  }
  if (amp == "fp16") return at::kHalf;
  return at::kBFloat16;  // auto and bf16 on CUDA
}

std::string precision_name(at::ScalarType dtype) {
  return dtype == at::kBFloat16 ? "bf16" : dtype == at::kHalf ? "fp16" : "fp32";
}

AutocastScope::AutocastScope(const c10::Device& device, at::ScalarType dtype) {
  if (!device.is_cuda() || dtype == at::kFloat) return;
  active_ = true;
#if CT_TORCH_AT_LEAST(2, 4)
  prev_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
  prev_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
  prev_enabled_ = at::autocast::is_enabled();
  prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
  at::autocast::set_enabled(true);
  at::autocast::set_autocast_gpu_dtype(dtype);
#endif
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The cast cache holds float16 copies of the weights for this forward pass only.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if CT_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(at::kCUDA, prev_enabled_);
  at::autocast::set_autocast_dtype(at::kCUDA, prev_dtype_);
#else
  at::autocast::set_enabled(prev_enabled_);
  at::autocast::set_autocast_gpu_dtype(prev_dtype_);
#endif
}

GradScaler::GradScaler(bool enabled, GradScalerOptions options)
    : enabled_(enabled), options_(options), scale_(options.init_scale) {
  CT_CHECK(options_.init_scale > 0 && options_.growth_factor > 1 && options_.backoff_factor > 0 &&
               options_.backoff_factor < 1 && options_.growth_interval >= 1,
           ConfigError, "grad scaler: invalid options");
}

at::Tensor GradScaler::scale(const at::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }

bool gradients_finite(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> flags;
  for (const auto& p : params) {
    const at::Tensor& g = p.grad();
    if (g.defined()) flags.push_back(at::isfinite(g).all());
  }
  if (flags.empty()) return true;
  return at::stack(flags).all().item<bool>();
}

bool GradScaler::unscale(const std::vector<at::Tensor>& params) const {
  if (!enabled_) return !gradients_finite(params);
  at::NoGradGuard no_grad;
  const double inv = 1.0 / scale_;
  for (const auto& p : params) {
    const at::Tensor& g = p.grad();
    if (g.defined()) g.mul_(inv);
  }
  return !gradients_finite(params);
}

void GradScaler::update(bool found_inf) {
  if (!enabled_) return;
  if (found_inf) {
    scale_ *= options_.backoff_factor;
    growth_tracker_ = 0;
  } else if (++growth_tracker_ == options_.growth_interval) {
    scale_ *= options_.growth_factor;
    growth_tracker_ = 0;
  }
}

std::string GradScaler::state() const {
  return nlohmann::json{{"enabled", enabled_}, {"scale", scale_}, {"growth_tracker", growth_tracker_}}.dump();
}

void GradScaler::load_state(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  scale_ = j.at("scale").get<double>();
  growth_tracker_ = j.at("growth_tracker").get<int64_t>();
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> grads, norms;
  for (const auto& p : params) {
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    grads.push_back(g);
    norms.push_back(at::norm(g.detach(), 2));
  }
  if (grads.empty()) return 0.0;
  const at::Tensor total = at::norm(at::stack(norms), 2);
  if (max_norm > 0) {
    const at::Tensor coef = at::clamp_max(max_norm / (total + 1e-6), 1.0);
    for (auto& g : grads) g.mul_(coef.to(g.device()));
  }
  return total.item<double>();
}

}  // namespace cardiotorch::train
