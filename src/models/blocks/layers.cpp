#include "cardiotorch/models/blocks/layers.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/functional/instancenorm.h>  // instancenorm.h does not include it
#include <torch/nn/modules/instancenorm.h>
#include <torch/nn/modules/normalization.h>

#include <map>

#include "cardiotorch/core/error.h"

namespace cardiotorch::models {
namespace {

// name -> torch class name (torch_ecg's Activations table).
const std::map<std::string, std::string>& activation_classes() {
  static const std::map<std::string, std::string> m{{"mish", "Mish"},
                                                    {"swish", "SiLU"},
                                                    {"hardswish", "Hardswish"},
                                                    {"hard_swish", "Hardswish"},
                                                    {"relu", "ReLU"},
                                                    {"relu6", "ReLU6"},
                                                    {"rrelu", "RReLU"},
                                                    {"leaky", "LeakyReLU"},
                                                    {"leaky_relu", "LeakyReLU"},
                                                    {"gelu", "GELU"},
                                                    {"silu", "SiLU"},
                                                    {"elu", "ELU"},
                                                    {"celu", "CELU"},
                                                    {"selu", "SELU"},
                                                    {"glu", "GLU"},
                                                    {"prelu", "PReLU"},
                                                    {"tanh", "Tanh"},
                                                    {"hardtanh", "Hardtanh"},
                                                    {"sigmoid", "Sigmoid"},
                                                    {"hardsigmoid", "Hardsigmoid"},
                                                    {"softmax", "Softmax"}};
  return m;
}

std::vector<std::string> keys_of(const std::map<std::string, std::string>& m) {
  std::vector<std::string> out;
  for (const auto& kv : m) out.push_back(kv.first);
  return out;
}

}  // namespace

const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> names = keys_of(activation_classes());
  return names;
}

bool is_no_activation(const std::string& name) { return name.empty() || name == "none" || name == "linear"; }

void check_activation(const std::string& key, const std::string& name, bool allow_none) {
  if (allow_none && is_no_activation(name)) return;
  std::vector<std::string> allowed = activation_names();
  if (allow_none) allowed.push_back("none");
  check_choice(key, name, allowed);
}

std::string activation_class_name(const std::string& name) {
  auto it = activation_classes().find(name);
  CT_CHECK(it != activation_classes().end(), ConfigError, "unknown activation '", name, "'",
           did_you_mean(name, activation_names()), "; one of ", join(activation_names()));
  return it->second;
}

ActivationImpl::ActivationImpl(std::string name) : name_(std::move(name)) {
  activation_class_name(name_);  // validates
  if (name_ == "prelu") weight_ = register_parameter("weight", at::full({1}, 0.25));
}

at::Tensor ActivationImpl::forward(const at::Tensor& x) {
  const std::string& n = name_;
  if (n == "relu") return at::relu(x);
  if (n == "leaky" || n == "leaky_relu") return at::leaky_relu(x, 0.01);
  if (n == "mish") return at::mish(x);
  if (n == "swish" || n == "silu") return at::silu(x);
  if (n == "hardswish" || n == "hard_swish") return at::hardswish(x);
  if (n == "relu6") return at::hardtanh(x, 0.0, 6.0);
  if (n == "rrelu") return at::rrelu(x, 1.0 / 8.0, 1.0 / 3.0, is_training());
  if (n == "gelu") return at::gelu(x);
  if (n == "elu") return at::elu(x);
  if (n == "celu") return at::celu(x);
  if (n == "selu") return at::selu(x);
  if (n == "glu") return at::glu(x, -1);  // torch.nn.GLU halves the last dim
  if (n == "prelu") return at::prelu(x, weight_);
  if (n == "tanh") return at::tanh(x);
  if (n == "hardtanh") return at::hardtanh(x);
  if (n == "sigmoid") return at::sigmoid(x);
  if (n == "hardsigmoid") return at::hardsigmoid(x);
  // torch.nn.Softmax() picks dim 0 of a 3-D input (the batch); softmax over channels is meant.
  if (n == "softmax") return at::softmax(x, x.dim() >= 2 ? 1 : 0);
  CT_INTERNAL_ASSERT(false, "activation ", n);
  return x;
}

Shape ActivationImpl::output_shape(const Shape& input) const {
  if (name_ != "glu" || input.empty()) return input;
  Shape s = input;
  if (s.back() >= 0) s.back() /= 2;
  return s;
}

Activation make_activation(const std::string& name) {
  if (is_no_activation(name)) return nullptr;
  return std::make_shared<ActivationImpl>(name);
}

const std::vector<std::string>& initializer_names() {
  static const std::vector<std::string> names{"he_normal",     "kaiming_normal", "he_uniform",     "kaiming_uniform",
                                              "xavier_normal", "glorot_normal",  "xavier_uniform", "glorot_uniform",
                                              "normal",        "uniform",        "orthogonal",     "zeros",
                                              "ones"};
  return names;
}

void check_initializer(const std::string& key, const std::string& name) {
  if (name.empty()) return;
  check_choice(key, name, initializer_names());
}

void init_weight(const at::Tensor& weight, const std::string& name) {
  if (name.empty()) return;
  namespace init = torch::nn::init;
  at::Tensor w = weight;
  if (name == "he_normal" || name == "kaiming_normal") init::kaiming_normal_(w);
  else if (name == "he_uniform" || name == "kaiming_uniform") init::kaiming_uniform_(w);
  else if (name == "xavier_normal" || name == "glorot_normal") init::xavier_normal_(w);
  else if (name == "xavier_uniform" || name == "glorot_uniform") init::xavier_uniform_(w);
  else if (name == "normal") init::normal_(w);
  else if (name == "uniform") init::uniform_(w);
  else if (name == "orthogonal") init::orthogonal_(w);
  else if (name == "zeros") init::zeros_(w);
  else if (name == "ones") init::ones_(w);
  else check_initializer("kernel_initializer", name);
}

const std::vector<std::string>& norm_names() {
  static const std::vector<std::string> names{"batch_norm", "group_norm", "instance_norm", "none"};
  return names;
}

void check_norm(const std::string& key, const std::string& name) {
  if (name.empty()) return;
  check_choice(key, name, norm_names());
}

bool is_no_norm(const std::string& name) { return name.empty() || name == "none"; }

std::shared_ptr<torch::nn::Module> make_norm(const std::string& name, int64_t channels, int64_t groups) {
  if (is_no_norm(name)) return nullptr;
  if (name == "batch_norm") return torch::nn::BatchNorm1d(channels).ptr();
  if (name == "group_norm") {
    CT_CHECK(groups > 0 && channels % groups == 0, ConfigError, "group_norm: ", channels,
             " channels are not divisible into ", groups, " groups");
    return torch::nn::GroupNorm(groups, channels).ptr();
  }
  if (name == "instance_norm") return torch::nn::InstanceNorm1d(channels).ptr();
  check_norm("norm", name);
  return nullptr;
}

at::Tensor apply_norm(torch::nn::Module& norm, const at::Tensor& x) {
  if (auto* bn = dynamic_cast<torch::nn::BatchNorm1dImpl*>(&norm)) return bn->forward(x);
  if (auto* gn = dynamic_cast<torch::nn::GroupNormImpl*>(&norm)) return gn->forward(x);
  if (auto* in = dynamic_cast<torch::nn::InstanceNorm1dImpl*>(&norm)) return in->forward(x);
  CT_INTERNAL_ASSERT(false, "unknown normalisation module ", norm.name());
  return x;
}

}  // namespace cardiotorch::models
