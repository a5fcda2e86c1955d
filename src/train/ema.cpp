#include "cardiotorch/train/ema.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <map>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::train {

void EmaOptions::validate_options() const {
  CT_CHECK(decay > 0 && decay < 1, ConfigError, "ema.decay must be in (0, 1), got ", decay);
}

std::vector<std::pair<std::string, at::Tensor>> ModelEma::model_tensors(const torch::nn::Module& model) const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : model.named_parameters(true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

ModelEma::ModelEma(const torch::nn::Module& model, double decay, bool warmup) : decay_(decay), warmup_(warmup) {
  CT_CHECK(decay > 0 && decay < 1, ConfigError, "ema: decay must be in (0, 1), got ", decay);
  at::NoGradGuard no_grad;
  for (auto& [name, t] : model_tensors(model)) shadow_.emplace_back(name, t.detach().clone());
}

double ModelEma::current_decay() const {
  if (!warmup_) return decay_;
  const double n = static_cast<double>(updates_);
  return std::min(decay_, (1.0 + n) / (10.0 + n));
}

void ModelEma::update(const torch::nn::Module& model) {
  at::NoGradGuard no_grad;
  const double d = current_decay();
  const auto tensors = model_tensors(model);
  CT_INTERNAL_ASSERT(tensors.size() == shadow_.size(), "ema: the model changed its tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    at::Tensor& e = shadow_[i].second;
    const at::Tensor& w = tensors[i].second;
    if (e.is_floating_point()) e.mul_(d).add_(w.detach(), 1.0 - d);
    else e.copy_(w);
  }
  ++updates_;
}

void ModelEma::swap(torch::nn::Module& model) {
  at::NoGradGuard no_grad;
  const auto tensors = model_tensors(model);
  CT_INTERNAL_ASSERT(tensors.size() == shadow_.size(), "ema: the model changed its tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    at::Tensor w = tensors[i].second;
    at::Tensor tmp = w.detach().clone();
    w.detach().copy_(shadow_[i].second);
    shadow_[i].second.copy_(tmp);
  }
}

std::vector<std::pair<std::string, at::Tensor>> ModelEma::state_dict() const {
  auto out = shadow_;
  out.emplace_back("__num_updates__", at::scalar_tensor(updates_, at::kLong));
  return out;
}

void ModelEma::load_state_dict(const std::vector<std::pair<std::string, at::Tensor>>& state) {
  std::map<std::string, at::Tensor> by_name;
  for (const auto& [k, t] : state) by_name[k] = t;
  auto it = by_name.find("__num_updates__");
  CT_CHECK(it != by_name.end(), DataError, "ema state: missing __num_updates__");
  const int64_t updates = it->second.item<int64_t>();
  by_name.erase(it);
  CT_CHECK(by_name.size() == shadow_.size(), DataError, "ema state: ", by_name.size(), " tensors, the model has ",
           shadow_.size());
  std::vector<at::Tensor> fresh;
  for (const auto& [name, e] : shadow_) {
    auto f = by_name.find(name);
    CT_CHECK(f != by_name.end(), DataError, "ema state: missing '", name, "'");
    CT_CHECK(f->second.sizes() == e.sizes(), DataError, "ema state: '", name, "' has shape ", f->second.sizes(),
             ", the model ", e.sizes());
    fresh.push_back(f->second.to(e.device(), e.scalar_type()));
  }
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < shadow_.size(); ++i) shadow_[i].second.copy_(fresh[i]);
  updates_ = updates;
}

}  // namespace cardiotorch::train
