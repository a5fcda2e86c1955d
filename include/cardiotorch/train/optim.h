#pragma once
// Optimizers and their parameter groups.
//
// Parameters are grouped by name, as timm and the MAE anchor do:
//  - no weight decay for 1-D tensors (norm weights, biases) and for names listed in
//    `no_weight_decay` (pos_embed, cls_token, ...);
//  - layer-wise lr decay (BEiT's rule, the MAE anchor's param_groups_lrd): with L = depth + 1,
//    a parameter of layer id i gets lr_scale = decay^(L - i), where cls_token / pos_embed /
//    patch_embed.* have id 0, blocks.k.* id k + 1 and everything else (norm, fc_norm, head)
//    id L. Depth comes from the `blocks.<k>` names the model has; a model may override the
//    rule by also deriving from LayerGroups;
//  - frozen parameters (requires_grad false) are left out.
//
// Optimizers are cardiotorch's own (torch's C++ optimizers cannot be extended with LARS/LAMB,
// keep their state by tensor address, not by name, and know nothing of lr scales). AdamW, Adam
// and SGD repeat PyTorch 1.13's single-tensor arithmetic operation for operation (checked
// against torch.optim in tests/fixtures/train/optim.json). State is kept per parameter name, so
// a checkpoint survives re-ordered parameters and reports a missing one by name.
//
// Registered in optimizer_registry() (`cardiotorch list optimizer`); the build context carries
// the trainable parameters and the effective batch size:
//   optimizer: {name: adamw, lr: 1e-3, lr_batch_ref: 256, weight_decay: 0.05, layer_decay: 0.75}
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/registry.h"

namespace cardiotorch::train {

/// A parameter and its state_dict name.
struct NamedParam {
  std::string name;
  at::Tensor tensor;
};

/// Trainable parameters of `module` (requires_grad), with their dotted names.
std::vector<NamedParam> trainable_parameters(const torch::nn::Module& module, const std::string& prefix = "");

/// Optional interface of models whose layer ids for lr decay differ from the name rule.
class LayerGroups {
 public:
  virtual ~LayerGroups() = default;
  /// Number of layers L (ids run 0..L; id L gets scale 1).
  virtual int64_t num_layers() const = 0;
  /// Layer id of a parameter (its state_dict name relative to the model).
  virtual int64_t layer_id(const std::string& param_name) const = 0;
};

/// The name rule: the layer count L = (largest k of any "blocks.<k>." component) + 2, i.e.
/// depth + 1 (1 when there are no blocks).
int64_t num_layers_from_names(const std::vector<std::string>& names);
/// The BEiT/MAE layer id of `name` for L layers: 0 for cls_token, pos_embed, dist_token,
/// mask_token and patch_embed*, k + 1 for blocks.<k>.*, L otherwise. Components may follow any
/// prefix ("encoder.blocks.3.attn.qkv.weight" is block 3).
int64_t layer_id_from_name(const std::string& name, int64_t num_layers);

/// The parameters' layer assignment: the model's LayerGroups when it implements it (found
/// with dynamic_cast on `module`), else the name rule.
struct LayerAssignment {
  int64_t num_layers = 1;
  std::vector<int64_t> ids;  ///< per parameter, in the order given
};
LayerAssignment assign_layers(const torch::nn::Module* module, const std::vector<NamedParam>& params);

/// One parameter group: its parameters, lr scale (layer decay) and weight decay. `lr` is the
/// value the next step() uses; schedules set it as base lr x lr_scale (set_learning_rate).
struct ParamGroup {
  std::string name;  ///< "decay", "no_decay", "layer_3_decay", ...
  std::vector<NamedParam> params;
  double lr_scale = 1.0;
  double weight_decay = 0.0;
  double lr = 0.0;
};

struct ParamGroupOptions {
  double weight_decay = 0.0;
  /// Name components (or prefixes ending in '*') that get no weight decay, besides 1-D tensors.
  std::vector<std::string> no_weight_decay = {"pos_embed", "cls_token", "dist_token", "mask_token"};
  bool decay_1d = false;     ///< also decay 1-D tensors (biases, norm weights); false = timm's rule
  double layer_decay = 1.0;  ///< 1 = off
};

/// Groups `params` by (layer id, decay / no decay). Empty groups are dropped. `module` is the
/// model (for its LayerGroups override); may be null.
std::vector<ParamGroup> build_param_groups(const std::vector<NamedParam>& params, const ParamGroupOptions& options,
                                           const torch::nn::Module* module = nullptr);

/// Sets requires_grad = false on every parameter whose name matches one of the globs ('*', '?';
/// "blocks.0.*", "*.bn*"). Returns how many were frozen; ConfigError naming a glob that
/// matches nothing (a typo would otherwise silently train everything).
int64_t freeze_parameters(torch::nn::Module& module, const std::vector<std::string>& globs);
/// Partial fine-tuning: freezes every parameter below the last `k` layers (layer ids as
/// assign_layers gives them: with depth d, blocks d-k .. d-1 and everything at the top id
/// train; the embeddings and earlier blocks are frozen). Returns how many were frozen;
/// ConfigError for a model without blocks.<k> (nothing to count from the top).
int64_t freeze_below_last_layers(torch::nn::Module& module, int64_t k);
/// Glob match ('*' any run, '?' one character) over the whole name.
bool glob_match(const std::string& glob, const std::string& name);

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual std::string name() const = 0;
  /// One update of every parameter with a gradient, using each group's lr and weight decay.
  void step();
  /// Drops gradients (set to undefined, as PyTorch's set_to_none=True).
  void zero_grad();

  /// The base learning rate (after lr_batch_ref scaling); schedules start from it.
  double base_lr() const { return base_lr_; }
  void set_base_lr(double lr) { base_lr_ = lr; }

  std::vector<ParamGroup>& groups() { return groups_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  /// Every parameter of every group, in group order.
  std::vector<at::Tensor> parameters() const;

  /// State as named tensors "<param name>.<slot>" (slots: "step", "exp_avg", "momentum_buffer", ...).
  std::vector<std::pair<std::string, at::Tensor>> state_dict() const;
  /// Restores state_dict() output; DataError naming the first parameter or slot that is
  /// missing, unexpected or of another shape (nothing is changed then).
  void load_state_dict(const std::vector<std::pair<std::string, at::Tensor>>& state);

 protected:
  /// Per-parameter state: named slots, created by init_state on the first update.
  struct State {
    std::map<std::string, at::Tensor> slots;
  };
  virtual void update(const ParamGroup& group, const at::Tensor& param, const at::Tensor& grad, State& state) = 0;

 private:
  std::vector<ParamGroup> groups_;
  std::map<std::string, State> state_;  // by parameter name
  double base_lr_ = 0.0;
};

using OptimizerPtr = std::shared_ptr<Optimizer>;

/// Sets every group's lr to `base_lr` x its lr_scale.
void set_learning_rate(Optimizer& optimizer, double base_lr);

/// Options every optimizer takes (its group building and learning rate).
struct OptimizerCommon {
  double lr = 1e-3;         ///< base learning rate (before lr_batch_ref scaling)
  double lr_batch_ref = 0;  ///< > 0: lr x effective batch / lr_batch_ref (MAE's blr: 256, or 4 for ECG)
  double weight_decay = 0.0;
  double layer_decay = 1.0;
  std::vector<std::string> no_weight_decay = {"pos_embed", "cls_token", "dist_token", "mask_token"};
  bool decay_1d = false;

  template <class V>
  void common_fields(V& v) {
    v("lr", lr, "base learning rate");
    v("lr_batch_ref", lr_batch_ref, "scale lr by effective batch / this (0 = no scaling; MAE: 256)");
    v("weight_decay", weight_decay, "decoupled (AdamW, LAMB) or L2 (Adam, SGD, LARS) weight decay");
    v("layer_decay", layer_decay, "layer-wise lr decay factor (1 = off; MAE fine-tuning: 0.75)");
    v("no_weight_decay", no_weight_decay, "parameter names (components or 'prefix*') without weight decay");
    v("decay_1d", decay_1d, "also decay 1-D parameters (biases, norms)");
  }
  void validate_common() const;
  ParamGroupOptions group_options() const;
};

struct AdamOptions : OptimizerCommon {
  std::vector<double> betas = {0.9, 0.999};
  double eps = 1e-8;
  bool amsgrad = false;
  template <class V>
  void fields(V& v) {
    common_fields(v);
    v("betas", betas, "coefficients of the running averages of the gradient and its square");
    v("eps", eps, "term added to the denominator");
    v("amsgrad", amsgrad, "use the AMSGrad maximum of the second moment");
  }
  void validate() const;
};

struct SgdOptions : OptimizerCommon {
  double momentum = 0.9;
  double dampening = 0.0;
  bool nesterov = false;
  template <class V>
  void fields(V& v) {
    common_fields(v);
    v("momentum", momentum, "momentum factor (0 = plain SGD)");
    v("dampening", dampening, "dampening of the momentum");
    v("nesterov", nesterov, "Nesterov momentum");
  }
  void validate() const;
};

/// LARS (You et al. 2017, the SimCLR/BYOL form): SGD with momentum whose step per tensor is
/// scaled by trust_coefficient x ||w|| / (||g|| + wd ||w|| + eps); tensors without weight decay
/// (biases, norms) are not adapted.
struct LarsOptions : SgdOptions {
  double trust_coefficient = 0.001;
  double eps = 1e-8;
  template <class V>
  void fields(V& v) {
    SgdOptions::fields(v);
    v("trust_coefficient", trust_coefficient, "LARS trust coefficient eta");
    v("eps", eps, "term added to the trust-ratio denominator");
  }
  void validate() const;
};

/// LAMB (You et al. 2019): the Adam update (bias corrected) plus decoupled weight decay,
/// rescaled per tensor by ||w|| / ||update|| (1 when either norm is 0).
struct LambOptions : AdamOptions {
  LambOptions() {
    betas = {0.9, 0.999};
    eps = 1e-6;
  }
  template <class V>
  void fields(V& v) {
    AdamOptions::fields(v);
  }
};

/// What an optimizer factory receives.
struct OptimizerContext {
  std::vector<NamedParam> params;             ///< trainable parameters
  const torch::nn::Module* module = nullptr;  ///< the model (LayerGroups override), may be null
  int64_t effective_batch = 1;                ///< batch x accumulate x world size (lr_batch_ref scaling)
};

Registry<Optimizer, OptimizerContext>& optimizer_registry();
struct OptimizerCategory {
  static constexpr const char* category = "optimizer";
};
using OptimizerConfig = Component<OptimizerCategory>;

}  // namespace cardiotorch::train
