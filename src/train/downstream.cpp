#include "cardiotorch/train/downstream.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::train {

DownstreamModelImpl::DownstreamModelImpl(models::ModelPtr encoder, const DownstreamOptions& options)
    : encoder_(std::move(encoder)), options_(options) {
  CT_INTERNAL_ASSERT(encoder_ != nullptr);
  CT_CHECK(options_.outputs >= 1, ConfigError, "downstream head: outputs must be >= 1, got ", options_.outputs);
  CT_CHECK(options_.dropout >= 0 && options_.dropout < 1, ConfigError, "head dropout must be in [0, 1), got ",
           options_.dropout);
  in_channels_ = encoder_->in_channels();
  register_module("encoder", encoder_);
  const int64_t d = encoder_->embed_dim();
  CT_CHECK(d > 0, ConfigError, encoder_->model_name(), ": embed_dim() is ", d, "; a head needs the feature width");
  for (const auto& p : encoder_->named_parameters(true)) encoder_names_.push_back(p.key());
  linear_ = torch::nn::Linear(d, options_.outputs);
  // MAE's heads start small: trunc_normal(std=0.01) for a linear probe, zero bias.
  {
    // Truncated normal by the inverse CDF (as torch.nn.init.trunc_normal_), cut at 2 std.
    at::NoGradGuard no_grad;
    const double std = 0.01, cdf = 0.5 * (1.0 + std::erf(-2.0 / std::sqrt(2.0)));
    linear_->weight.uniform_(2 * cdf - 1, 1 - 2 * cdf).erfinv_().mul_(std * std::sqrt(2.0)).clamp_(-2 * std, 2 * std);
    linear_->bias.zero_();
  }
  if (options_.probe) {
    probe_ = torch::nn::Sequential(torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(d).affine(false).eps(1e-6)),
                                   linear_);
    register_module("head", probe_);
  } else {
    register_module("head", linear_);
  }
  std::vector<NamedParam> enc;
  for (const auto& p : encoder_->named_parameters(true)) enc.push_back({p.key(), p.value()});
  encoder_layers_ = assign_layers(encoder_.get(), enc);
}

at::Tensor DownstreamModelImpl::forward(const at::Tensor& x) {
  at::Tensor f = options_.localized ? encoder_->forward_localized(x) : encoder_->embed(x);
  if (options_.dropout > 0) f = at::dropout(f, options_.dropout, is_training());
  if (options_.localized) {
    CT_CHECK(f.dim() == 3, ShapeError, encoder_->model_name(), ": forward_localized gave ", f.sizes(),
             "; expected (B, N, D)");
    at::Tensor y = linear_->forward(f);  // (B, N, C); BatchNorm1d would need (B, D, N)
    return y.transpose(1, 2);            // (B, C, N)
  }
  return options_.probe ? probe_->forward(f) : linear_->forward(f);
}

models::Shape DownstreamModelImpl::output_shape(const models::Shape& input) const {
  if (!options_.localized) return {input.empty() ? models::kUnknown : input[0], options_.outputs};
  models::Shape f = encoder_->features_shape(input);
  int64_t n = models::kUnknown;
  if (f.size() >= 3) {
    n = 1;
    for (size_t i = 2; i < f.size(); ++i) n = (f[i] < 0 || n < 0) ? models::kUnknown : n * f[i];
  }
  return {input.empty() ? models::kUnknown : input[0], options_.outputs, n};
}

std::string DownstreamModelImpl::summary() const {
  return str_cat(encoder_->model_name(), " + ",
                 options_.probe ? "linear-probe head (BatchNorm + Linear)" : "linear head",
                 options_.localized ? " per position" : "", " -> ", options_.outputs, " outputs, ",
                 models::format_count(models::count_parameters(*this)), " parameters");
}

void DownstreamModelImpl::train(bool on) {
  torch::nn::Module::train(on);
  if (frozen_) encoder_->eval();
}

void DownstreamModelImpl::freeze_encoder() {
  for (auto& p : encoder_->parameters(true)) p.set_requires_grad(false);
  frozen_ = true;
  encoder_->eval();
}

int64_t DownstreamModelImpl::num_layers() const { return encoder_layers_.num_layers; }

int64_t DownstreamModelImpl::layer_id(const std::string& name) const {
  static const std::string prefix = "encoder.";
  if (starts_with(name, prefix)) {
    const std::string rest = name.substr(prefix.size());
    for (size_t i = 0; i < encoder_names_.size(); ++i)
      if (encoder_names_[i] == rest) return encoder_layers_.ids[i];
  }
  return encoder_layers_.num_layers;
}

}  // namespace cardiotorch::train
