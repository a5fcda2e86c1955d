#pragma once
// Mixed precision: the autocast scope of a forward pass and a gradient scaler for float16.
//
// On CUDA, `amp: bf16` (the default of `auto` there) runs the forward pass under autocast in
// bfloat16 without loss scaling; `amp: fp16` autocasts to float16 and scales the loss (dynamic
// loss scaling, torch.cuda.amp.GradScaler's rule: the scale halves on a step with non-finite
// gradients, which is skipped, and doubles after `growth_interval` finite steps). On the CPU
// training runs in float32 (`auto`; a requested bf16/fp16 falls back with a warning).
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cardiotorch::train {

/// The compute dtype for `amp` ("auto" | "fp32" | "bf16" | "fp16") on `device`: kFloat when
/// autocast is off.
at::ScalarType resolve_precision(const std::string& amp, const c10::Device& device);
/// "fp32" / "bf16" / "fp16".
std::string precision_name(at::ScalarType dtype);

/// Autocast for the lifetime of the object (a no-op for kFloat or a CPU device).
class AutocastScope {
 public:
  AutocastScope(const c10::Device& device, at::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kHalf;
};

struct GradScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class GradScaler {
 public:
  explicit GradScaler(bool enabled = false, GradScalerOptions options = {});
  bool enabled() const { return enabled_; }
  /// loss x scale (the loss itself when disabled).
  at::Tensor scale(const at::Tensor& loss) const;
  /// Divides the gradients of `params` by the scale in place; true when any gradient holds a
  /// NaN or infinity (then the step must be skipped). Disabled: checks only.
  bool unscale(const std::vector<at::Tensor>& params) const;
  /// After a step (or a skipped one): backs off on overflow, grows after growth_interval.
  void update(bool found_inf);
  double scale_value() const { return scale_; }
  int64_t growth_tracker() const { return growth_tracker_; }

  /// JSON state {"scale": ..., "growth_tracker": ...} and back.
  std::string state() const;
  void load_state(const std::string& json);

 private:
  bool enabled_;
  GradScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
};

/// Whether every defined gradient of `params` is finite (one reduction, one host sync).
bool gradients_finite(const std::vector<at::Tensor>& params);
/// The global 2-norm of the gradients of `params`; when max_norm > 0 they are scaled by
/// max_norm / (norm + 1e-6) if the norm exceeds it (torch.nn.utils.clip_grad_norm_).
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace cardiotorch::train
