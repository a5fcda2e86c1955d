#include "cardiotorch/train/optim.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::train {

std::vector<NamedParam> trainable_parameters(const torch::nn::Module& module, const std::string& prefix) {
  std::vector<NamedParam> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    if (item.value().requires_grad()) out.push_back({prefix + item.key(), item.value()});
  return out;
}

namespace {

bool is_integer(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_embedding_component(const std::string& c) {
  return c == "cls_token" || c == "pos_embed" || c == "dist_token" || c == "mask_token" ||
         starts_with(c, "patch_embed");
}

// Whether a name component (or, for "prefix*", a component prefix) of `name` matches `entry`.
bool component_match(const std::string& entry, const std::vector<std::string>& comps) {
  const bool prefix = !entry.empty() && entry.back() == '*';
  const std::string stem = prefix ? entry.substr(0, entry.size() - 1) : entry;
  for (const auto& c : comps)
    if (prefix ? starts_with(c, stem) : c == stem) return true;
  return false;
}

}  // namespace

int64_t num_layers_from_names(const std::vector<std::string>& names) {
  int64_t max_block = -1;
  for (const auto& n : names) {
    const auto comps = split(n, '.');
    for (size_t i = 0; i + 1 < comps.size(); ++i)
      if (comps[i] == "blocks" && is_integer(comps[i + 1])) {
        max_block = std::max<int64_t>(max_block, std::stoll(comps[i + 1]));
        break;
      }
  }
  return max_block + 2;
}

int64_t layer_id_from_name(const std::string& name, int64_t num_layers) {
  const auto comps = split(name, '.');
  for (size_t i = 0; i < comps.size(); ++i) {
    if (is_embedding_component(comps[i])) return 0;
    if (comps[i] == "blocks" && i + 1 < comps.size() && is_integer(comps[i + 1]))
      return std::min<int64_t>(std::stoll(comps[i + 1]) + 1, num_layers);
  }
  return num_layers;
}

LayerAssignment assign_layers(const torch::nn::Module* module, const std::vector<NamedParam>& params) {
  LayerAssignment a;
  if (const auto* lg = dynamic_cast<const LayerGroups*>(module)) {
    a.num_layers = lg->num_layers();
    for (const auto& p : params) a.ids.push_back(lg->layer_id(p.name));
  } else {
    std::vector<std::string> names;
    for (const auto& p : params) names.push_back(p.name);
    a.num_layers = num_layers_from_names(names);
    for (const auto& p : params) a.ids.push_back(layer_id_from_name(p.name, a.num_layers));
  }
  for (int64_t id : a.ids)
    CT_INTERNAL_ASSERT(id >= 0 && id <= a.num_layers, "layer id ", id, " outside [0, ", a.num_layers, "]");
  return a;
}

std::vector<ParamGroup> build_param_groups(const std::vector<NamedParam>& params, const ParamGroupOptions& options,
                                           const torch::nn::Module* module) {
  const bool lrd = options.layer_decay != 1.0;
  LayerAssignment layers;
  if (lrd) layers = assign_layers(module, params);
  // Key: (layer id, no_decay); ordered so the groups come out layer by layer, decay first.
  std::map<std::pair<int64_t, bool>, ParamGroup> groups;
  for (size_t i = 0; i < params.size(); ++i) {
    const NamedParam& p = params[i];
    const auto comps = split(p.name, '.');
    bool no_decay = (!options.decay_1d && (p.tensor.dim() <= 1 || ends_with(p.name, ".bias")));
    for (const auto& e : options.no_weight_decay) no_decay = no_decay || component_match(e, comps);
    const int64_t id = lrd ? layers.ids[i] : 0;
    ParamGroup& g = groups[{id, no_decay}];
    if (g.params.empty()) {
      g.name = lrd ? str_cat("layer_", id, no_decay ? "_no_decay" : "_decay") : (no_decay ? "no_decay" : "decay");
      g.weight_decay = no_decay ? 0.0 : options.weight_decay;
      g.lr_scale = lrd ? std::pow(options.layer_decay, static_cast<double>(layers.num_layers - id)) : 1.0;
    }
    g.params.push_back(p);
  }
  std::vector<ParamGroup> out;
  for (auto& kv : groups) out.push_back(std::move(kv.second));
  return out;
}

bool glob_match(const std::string& glob, const std::string& name) {
  // Iterative matcher with single-star backtracking (linear for practical globs).
  size_t g = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (g < glob.size() && (glob[g] == '?' || glob[g] == name[n])) {
      ++g, ++n;
    } else if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = n;
    } else if (star != std::string::npos) {
      g = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

int64_t freeze_parameters(torch::nn::Module& module, const std::vector<std::string>& globs) {
  if (globs.empty()) return 0;
  std::vector<bool> used(globs.size(), false);
  int64_t frozen = 0;
  std::vector<std::string> names;
  for (auto& item : module.named_parameters(true)) {
    names.push_back(item.key());
    bool hit = false;
    for (size_t i = 0; i < globs.size(); ++i)
      if (glob_match(globs[i], item.key())) used[i] = hit = true;
    if (hit && item.value().requires_grad()) {
      item.value().set_requires_grad(false);
      ++frozen;
    }
  }
  for (size_t i = 0; i < globs.size(); ++i)
    CT_CHECK(used[i], ConfigError, "freeze: pattern '", globs[i], "' matches no parameter",
             did_you_mean(globs[i], names), "; names look like ",
             names.empty() ? std::string("(none)") : names.front());
  return frozen;
}

int64_t freeze_below_last_layers(torch::nn::Module& module, int64_t k) {
  const auto named = trainable_parameters(module);
  const LayerAssignment la = assign_layers(&module, named);
  CT_CHECK(la.num_layers > 1, ConfigError, "partial fine-tuning: the model has no blocks.<k> parameters to unfreeze ",
           "from the top; use mode full or linear_probe");
  int64_t frozen = 0;
  for (size_t i = 0; i < named.size(); ++i)
    if (la.ids[i] < la.num_layers - k) {
      named[i].tensor.set_requires_grad(false);
      ++frozen;
    }
  return frozen;
}

// ------------------------------------------------------------------------------ Optimizer

Optimizer::Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  std::set<std::string> seen;
  int64_t n = 0;
  for (const auto& g : groups_)
    for (const auto& p : g.params) {
      CT_CHECK(seen.insert(p.name).second, ConfigError, "optimizer: parameter '", p.name, "' is in two groups");
      CT_CHECK(p.tensor.defined() && p.tensor.is_floating_point(), ConfigError, "optimizer: parameter '", p.name,
               "' is not a floating-point tensor");
      ++n;
    }
  CT_CHECK(n > 0, ConfigError, "optimizer: no trainable parameters (is every parameter frozen?)");
}

void Optimizer::step() {
  at::NoGradGuard no_grad;
  for (const auto& g : groups_)
    for (const auto& p : g.params) {
      const at::Tensor& grad = p.tensor.grad();
      if (!grad.defined()) continue;
      update(g, p.tensor, grad, state_[p.name]);
    }
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) {
      at::Tensor& grad = p.tensor.mutable_grad();
      if (grad.defined()) grad = at::Tensor();
    }
}

std::vector<at::Tensor> Optimizer::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& g : groups_)
    for (const auto& p : g.params) out.push_back(p.tensor);
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> Optimizer::state_dict() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& g : groups_)
    for (const auto& p : g.params) {
      auto it = state_.find(p.name);
      if (it == state_.end()) continue;
      for (const auto& slot : it->second.slots) out.emplace_back(p.name + "." + slot.first, slot.second);
    }
  return out;
}

void Optimizer::load_state_dict(const std::vector<std::pair<std::string, at::Tensor>>& state) {
  std::map<std::string, const at::Tensor*> params;
  for (const auto& g : groups_)
    for (const auto& p : g.params) params[p.name] = &p.tensor;
  std::map<std::string, State> fresh;
  for (const auto& [key, t] : state) {
    const size_t dot = key.rfind('.');
    CT_CHECK(dot != std::string::npos && dot > 0, DataError, "optimizer state: malformed entry '", key,
             "' (expected <parameter>.<slot>)");
    const std::string pname = key.substr(0, dot), slot = key.substr(dot + 1);
    auto it = params.find(pname);
    if (it == params.end()) {
      std::vector<std::string> names;
      for (const auto& kv : params) names.push_back(kv.first);
      throw DataError(str_cat("optimizer state: the checkpoint has state for parameter '", pname,
                              "', which this model does not train", did_you_mean(pname, names)));
    }
    const at::Tensor& p = *it->second;
    if (slot != "step")
      CT_CHECK(t.sizes() == p.sizes(), DataError, "optimizer state: '", key, "' has shape ", t.sizes(),
               " but the parameter has ", p.sizes());
    fresh[pname].slots[slot] = slot == "step" ? t.to(at::kLong).clone() : t.to(p.device(), p.scalar_type()).clone();
  }
  state_ = std::move(fresh);
}

void set_learning_rate(Optimizer& optimizer, double base_lr) {
  for (auto& g : optimizer.groups()) g.lr = base_lr * g.lr_scale;
}

// --------------------------------------------------------------------------- the updates

void OptimizerCommon::validate_common() const {
  CT_CHECK(lr >= 0 && std::isfinite(lr), ConfigError, "lr must be a finite value >= 0, got ", lr);
  CT_CHECK(lr_batch_ref >= 0, ConfigError, "lr_batch_ref must be >= 0, got ", lr_batch_ref);
  CT_CHECK(weight_decay >= 0, ConfigError, "weight_decay must be >= 0, got ", weight_decay);
  CT_CHECK(layer_decay > 0 && layer_decay <= 1, ConfigError, "layer_decay must be in (0, 1], got ", layer_decay);
}

ParamGroupOptions OptimizerCommon::group_options() const {
  ParamGroupOptions g;
  g.weight_decay = weight_decay;
  g.layer_decay = layer_decay;
  g.no_weight_decay = no_weight_decay;
  g.decay_1d = decay_1d;
  return g;
}

void AdamOptions::validate() const {
  validate_common();
  CT_CHECK(betas.size() == 2, ConfigError, "betas must be [beta1, beta2], got ", betas.size(), " values");
  for (double b : betas) CT_CHECK(b >= 0 && b < 1, ConfigError, "betas must be in [0, 1), got ", b);
  CT_CHECK(eps > 0, ConfigError, "eps must be > 0, got ", eps);
}

void SgdOptions::validate() const {
  validate_common();
  CT_CHECK(momentum >= 0, ConfigError, "momentum must be >= 0, got ", momentum);
  CT_CHECK(!nesterov || (momentum > 0 && dampening == 0), ConfigError, "nesterov needs momentum > 0 and dampening 0");
}

void LarsOptions::validate() const {
  SgdOptions::validate();
  CT_CHECK(trust_coefficient > 0, ConfigError, "trust_coefficient must be > 0, got ", trust_coefficient);
}

namespace {

// Zero-initialised slot (the moment estimates), created on first use.
at::Tensor zeros_slot(std::map<std::string, at::Tensor>& slots, const char* name, const at::Tensor& like) {
  auto it = slots.find(name);
  if (it == slots.end()) it = slots.emplace(name, at::zeros_like(like, at::MemoryFormat::Preserve)).first;
  return it->second;
}

int64_t bump_step(std::map<std::string, at::Tensor>& slots) {
  auto it = slots.find("step");
  if (it == slots.end()) it = slots.emplace("step", at::zeros({}, at::kLong)).first;
  it->second.add_(1);
  return it->second.item<int64_t>();
}

// SGD's momentum buffer: a copy of the first direction, then buf = m buf + (1 - dampening) d.
at::Tensor momentum_direction(std::map<std::string, at::Tensor>& slots, const at::Tensor& d, double momentum,
                              double dampening, bool nesterov) {
  if (momentum == 0) return d;
  auto it = slots.find("momentum_buffer");
  at::Tensor buf;
  if (it == slots.end()) {
    buf = d.clone().detach();
    slots.emplace("momentum_buffer", buf);
  } else {
    buf = it->second;
    buf.mul_(momentum).add_(d, 1 - dampening);
  }
  return nesterov ? d.add(buf, momentum) : buf;
}

class Adam final : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> g, AdamOptions o, bool decoupled)
      : Optimizer(std::move(g)), o_(std::move(o)), decoupled_(decoupled) {}
  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }

 protected:
  void update(const ParamGroup& g, const at::Tensor& p, const at::Tensor& grad_in, State& s) override {
    const double b1 = o_.betas[0], b2 = o_.betas[1], lr = g.lr, wd = g.weight_decay;
    at::Tensor exp_avg = zeros_slot(s.slots, "exp_avg", p), exp_avg_sq = zeros_slot(s.slots, "exp_avg_sq", p);
    const int64_t step = bump_step(s.slots);
    at::Tensor grad = grad_in;
    if (decoupled_) {
      p.mul_(1 - lr * wd);
    } else if (wd != 0) {
      grad = grad.add(p, wd);
    }
    exp_avg.mul_(b1).add_(grad, 1 - b1);
    exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1 - b2);
    const double bc1 = 1 - std::pow(b1, static_cast<double>(step));
    const double bc2_sqrt = std::sqrt(1 - std::pow(b2, static_cast<double>(step)));
    at::Tensor denom;
    if (o_.amsgrad) {
      at::Tensor m = zeros_slot(s.slots, "max_exp_avg_sq", p);
      at::maximum_out(m, m, exp_avg_sq);
      denom = (m.sqrt() / bc2_sqrt).add_(o_.eps);
    } else {
      denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(o_.eps);
    }
    p.addcdiv_(exp_avg, denom, -lr / bc1);
  }

 private:
  AdamOptions o_;
  bool decoupled_;
};

class Sgd final : public Optimizer {
 public:
  Sgd(std::vector<ParamGroup> g, SgdOptions o) : Optimizer(std::move(g)), o_(std::move(o)) {}
  std::string name() const override { return "sgd"; }

 protected:
  void update(const ParamGroup& g, const at::Tensor& p, const at::Tensor& grad, State& s) override {
    at::Tensor d = g.weight_decay != 0 ? grad.add(p, g.weight_decay) : grad;
    d = momentum_direction(s.slots, d, o_.momentum, o_.dampening, o_.nesterov);
    p.add_(d, -g.lr);
  }

 private:
  SgdOptions o_;
};

class Lars final : public Optimizer {
 public:
  Lars(std::vector<ParamGroup> g, LarsOptions o) : Optimizer(std::move(g)), o_(std::move(o)) {}
  std::string name() const override { return "lars"; }

 protected:
  void update(const ParamGroup& g, const at::Tensor& p, const at::Tensor& grad, State& s) override {
    at::Tensor d = grad;
    const double wd = g.weight_decay;
    if (wd != 0) {
      // Trust ratio on the device (no host sync): 1 where either norm is 0.
      const at::Tensor w_norm = p.norm(), g_norm = grad.norm();
      const at::Tensor one = at::ones_like(w_norm);
      at::Tensor trust = o_.trust_coefficient * w_norm / (g_norm + w_norm * wd + o_.eps);
      trust = at::where(w_norm > 0, at::where(g_norm > 0, trust, one), one);
      d = grad.add(p, wd).mul_(trust);
    }
    d = momentum_direction(s.slots, d, o_.momentum, o_.dampening, o_.nesterov);
    p.add_(d, -g.lr);
  }

 private:
  LarsOptions o_;
};

class Lamb final : public Optimizer {
 public:
  Lamb(std::vector<ParamGroup> g, LambOptions o) : Optimizer(std::move(g)), o_(std::move(o)) {}
  std::string name() const override { return "lamb"; }

 protected:
  void update(const ParamGroup& g, const at::Tensor& p, const at::Tensor& grad, State& s) override {
    const double b1 = o_.betas[0], b2 = o_.betas[1], wd = g.weight_decay;
    at::Tensor exp_avg = zeros_slot(s.slots, "exp_avg", p), exp_avg_sq = zeros_slot(s.slots, "exp_avg_sq", p);
    const int64_t step = bump_step(s.slots);
    exp_avg.mul_(b1).add_(grad, 1 - b1);
    exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1 - b2);
    const double bc1 = 1 - std::pow(b1, static_cast<double>(step));
    const double bc2 = 1 - std::pow(b2, static_cast<double>(step));
    const at::Tensor denom = (exp_avg_sq.sqrt() / std::sqrt(bc2)).add_(o_.eps);
    at::Tensor upd = (exp_avg / bc1).div_(denom);
    if (wd != 0) {
      upd.add_(p, wd);
      const at::Tensor w_norm = p.norm(), u_norm = upd.norm();
      const at::Tensor one = at::ones_like(w_norm);
      upd.mul_(at::where(w_norm > 0, at::where(u_norm > 0, w_norm / u_norm, one), one));
    }
    p.add_(upd, -g.lr);
  }

 private:
  LambOptions o_;
};

template <class Opt, class Options, class... Extra>
std::shared_ptr<Optimizer> make_optimizer(const Options& o, const OptimizerContext& ctx, Extra... extra) {
  auto groups = build_param_groups(ctx.params, o.group_options(), ctx.module);
  const double lr = o.lr_batch_ref > 0 ? o.lr * static_cast<double>(ctx.effective_batch) / o.lr_batch_ref : o.lr;
  auto opt = std::make_shared<Opt>(std::move(groups), o, extra...);
  opt->set_base_lr(lr);
  set_learning_rate(*opt, lr);
  return opt;
}

AdamOptions adamw_preset() {
  AdamOptions o;
  o.weight_decay = 0.01;  // torch.optim.AdamW's default
  return o;
}
SgdOptions sgd_preset() {
  SgdOptions o;
  o.lr = 0.01;
  return o;
}
LarsOptions lars_preset() {
  LarsOptions o;
  o.lr = 0.1;
  o.weight_decay = 1e-6;
  return o;
}
LambOptions lamb_preset() {
  LambOptions o;
  o.weight_decay = 0.01;
  return o;
}

}  // namespace

Registry<Optimizer, OptimizerContext>& optimizer_registry() {
  static Registry<Optimizer, OptimizerContext> r("optimizer",
                                                 "optimizers (parameter groups: no-decay, layer-wise lr decay)");
  return r;
}

}  // namespace cardiotorch::train

using cardiotorch::train::AdamOptions;
using cardiotorch::train::LambOptions;
using cardiotorch::train::LarsOptions;
using cardiotorch::train::Optimizer;
using cardiotorch::train::optimizer_registry;
using cardiotorch::train::OptimizerContext;
using cardiotorch::train::SgdOptions;

CT_REGISTER(optimizer_registry(), "adamw",
            (cardiotorch::options_factory<Optimizer, AdamOptions>(
                [](const AdamOptions& o, const OptimizerContext& c) {
                  return cardiotorch::train::make_optimizer<cardiotorch::train::Adam>(o, c, true);
                },
                cardiotorch::train::adamw_preset())),
            "AdamW (decoupled weight decay), as torch.optim.AdamW")
CT_REGISTER(optimizer_registry(), "adam",
            (cardiotorch::options_factory<Optimizer, AdamOptions>([](const AdamOptions& o, const OptimizerContext& c) {
              return cardiotorch::train::make_optimizer<cardiotorch::train::Adam>(o, c, false);
            })),
            "Adam (L2 weight decay added to the gradient), as torch.optim.Adam")
CT_REGISTER(optimizer_registry(), "sgd",
            (cardiotorch::options_factory<Optimizer, SgdOptions>(
                [](const SgdOptions& o, const OptimizerContext& c) {
                  return cardiotorch::train::make_optimizer<cardiotorch::train::Sgd>(o, c);
                },
                cardiotorch::train::sgd_preset())),
            "SGD with momentum / Nesterov, as torch.optim.SGD")
CT_REGISTER(optimizer_registry(), "lars",
            (cardiotorch::options_factory<Optimizer, LarsOptions>(
                [](const LarsOptions& o, const OptimizerContext& c) {
                  return cardiotorch::train::make_optimizer<cardiotorch::train::Lars>(o, c);
                },
                cardiotorch::train::lars_preset())),
            "LARS: SGD with layer-wise trust ratio (SimCLR/BYOL large-batch form)")
CT_REGISTER(optimizer_registry(), "lamb",
            (cardiotorch::options_factory<Optimizer, LambOptions>(
                [](const LambOptions& o, const OptimizerContext& c) {
                  return cardiotorch::train::make_optimizer<cardiotorch::train::Lamb>(o, c);
                },
                cardiotorch::train::lamb_preset())),
            "LAMB: Adam with per-tensor trust ratio ||w|| / ||update||")
