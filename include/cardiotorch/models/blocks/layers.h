#pragma once
// Lookup tables shared by every block: activations, kernel initialisers and normalisations,
// under torch_ecg's names (models/_nets.py: Activations, Initializers, Normalizations).
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <string>
#include <vector>

#include "cardiotorch/models/blocks/block.h"

namespace cardiotorch::models {

// --- activations ----------------------------------------------------------------------------

/// torch_ecg's activation names: mish, swish, hardswish (hard_swish), relu, relu6, rrelu,
/// leaky (leaky_relu), gelu, silu, elu, celu, selu, glu, prelu, tanh, hardtanh, sigmoid,
/// hardsigmoid, softmax. "" / "none" / "linear" mean no activation.
const std::vector<std::string>& activation_names();
/// True for "", "none" and "linear".
bool is_no_activation(const std::string& name);
/// ConfigError "<key> must be one of ..." unless `name` is an activation (or none when
/// `allow_none`).
void check_activation(const std::string& key, const std::string& name, bool allow_none = true);
/// The torch class name of an activation ("leaky" -> "LeakyReLU"): torch_ecg names activation
/// modules "activation_<class>".
std::string activation_class_name(const std::string& name);

/// An activation module by name, with torch.nn's default arguments (leaky slope 0.01, elu and
/// celu alpha 1, rrelu in [1/8, 1/3], glu halving the last dim). softmax is over dim 1 (the
/// channels of a (B, C, L) map; torch.nn.Softmax() without a dim would pick the batch). PReLU
/// holds one `weight` parameter like torch.nn.PReLU(); the others have none.
class ActivationImpl : public BlockImpl {
 public:
  explicit ActivationImpl(std::string name);
  at::Tensor forward(const at::Tensor& x) override;
  /// Shape-preserving except glu, which halves dim 1.
  Shape output_shape(const Shape& input) const override;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  at::Tensor weight_;  // prelu only
};
using Activation = std::shared_ptr<ActivationImpl>;
/// nullptr for no activation.
Activation make_activation(const std::string& name);

// --- kernel initialisers --------------------------------------------------------------------

/// he_normal (kaiming_normal), he_uniform (kaiming_uniform), xavier_normal (glorot_normal),
/// xavier_uniform (glorot_uniform), normal, uniform, orthogonal, zeros, ones; "" = leave
/// LibTorch's default initialisation. Defaults as torch.nn.init's (kaiming: a=0, fan_in,
/// leaky_relu gain; normal N(0, 1); uniform U(0, 1)).
const std::vector<std::string>& initializer_names();
void check_initializer(const std::string& key, const std::string& name);
/// Initialises `weight` in place (no-op for ""). Draws from the global torch generator, so
/// models built after `manual_seed(s)` are reproducible.
void init_weight(const at::Tensor& weight, const std::string& name);

// --- normalisations -------------------------------------------------------------------------

/// batch_norm (BatchNorm1d), group_norm (GroupNorm, one group per conv group), instance_norm
/// (InstanceNorm1d, not affine), none.
const std::vector<std::string>& norm_names();
void check_norm(const std::string& key, const std::string& name);
bool is_no_norm(const std::string& name);
/// A normalisation over `channels` channels of (B, C, L) maps; `groups` for group_norm.
/// nullptr for none.
std::shared_ptr<torch::nn::Module> make_norm(const std::string& name, int64_t channels, int64_t groups = 1);
/// Runs a module made by make_norm.
at::Tensor apply_norm(torch::nn::Module& norm, const at::Tensor& x);

}  // namespace cardiotorch::models
