// Optimizers against torch.optim (tests/fixtures/train/optim.json), parameter groups
// (no-decay rule, BEiT layer-wise lr decay on timm names), freezing and optimizer state.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/train/optim.h"
#include "train/fixture_util.h"

namespace ct = cardiotorch;
namespace tr = cardiotorch::train;

namespace {

struct LinearModel : torch::nn::Module {
  at::Tensor weight, bias;
  LinearModel(const at::Tensor& w, const at::Tensor& b) {
    weight = register_parameter("weight", w.clone());
    bias = register_parameter("bias", b.clone());
  }
};

// Runs the fixture's training problem with a registered optimizer; returns (weight, bias).
std::pair<at::Tensor, at::Tensor> run(const nlohmann::json& fx, const std::string& node_yaml) {
  const at::Tensor x = ct::test::tensor_of(fx["x"]), t = ct::test::tensor_of(fx["t"]);
  LinearModel m(ct::test::tensor_of(fx["weight"]), ct::test::tensor_of(fx["bias"]));
  tr::OptimizerContext ctx;
  ctx.params = tr::trainable_parameters(m);
  auto opt = tr::optimizer_registry().build(ct::ConfigNode::parse(node_yaml), ctx);
  for (int s = 0; s < fx["steps"].get<int>(); ++s) {
    opt->zero_grad();
    at::Tensor loss = (at::matmul(x, m.weight.t()) + m.bias - t).pow(2).mean();
    loss.backward();
    opt->step();
  }
  return {m.weight.detach(), m.bias.detach()};
}

void expect_matches(const nlohmann::json& fx, const std::string& name, const std::string& node) {
  SCOPED_TRACE(name);
  const auto [w, b] = run(fx, node);
  const auto& ref = fx["cases"][name];
  EXPECT_LT((w - ct::test::tensor_of(ref["weight"])).abs().max().item<double>(), 1e-9);
  EXPECT_LT((b - ct::test::tensor_of(ref["bias"])).abs().max().item<double>(), 1e-9);
}

}  // namespace

TEST(Optimizers, MatchTorchOptim) {
  const auto fx = ct::test::load_json_fixture("optim.json");
  expect_matches(fx, "adamw", "{name: adamw, lr: 0.05, betas: [0.9, 0.99], eps: 1.0e-8, weight_decay: 0.1}");
  expect_matches(fx, "adam_amsgrad", "{name: adam, lr: 0.05, amsgrad: true}");
  expect_matches(fx, "adam_l2", "{name: adam, lr: 0.02, weight_decay: 0.05}");
  expect_matches(fx, "sgd_nesterov", "{name: sgd, lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.001}");
  expect_matches(fx, "sgd_dampening", "{name: sgd, lr: 0.1, momentum: 0.8, dampening: 0.3}");
  expect_matches(fx, "lars", "{name: lars, lr: 0.5, momentum: 0.9, weight_decay: 0.01, trust_coefficient: 0.001}");
  expect_matches(fx, "lamb", "{name: lamb, lr: 0.02, eps: 1.0e-6, weight_decay: 0.05}");
}

TEST(Optimizers, Float32MatchesTo1e6) {
  // The training dtype: float32 parameters follow the float64 reference to 1e-6.
  auto fx = ct::test::load_json_fixture("optim.json");
  const at::Tensor x = ct::test::tensor_of(fx["x"]).to(at::kFloat), t = ct::test::tensor_of(fx["t"]).to(at::kFloat);
  LinearModel m(ct::test::tensor_of(fx["weight"]).to(at::kFloat), ct::test::tensor_of(fx["bias"]).to(at::kFloat));
  tr::OptimizerContext ctx;
  ctx.params = tr::trainable_parameters(m);
  auto opt = tr::optimizer_registry().build(
      ct::ConfigNode::parse("{name: adamw, lr: 0.05, betas: [0.9, 0.99], eps: 1.0e-8, weight_decay: 0.1}"), ctx);
  for (int s = 0; s < fx["steps"].get<int>(); ++s) {
    opt->zero_grad();
    (at::matmul(x, m.weight.t()) + m.bias - t).pow(2).mean().backward();
    opt->step();
  }
  EXPECT_LT((m.weight.detach().to(at::kDouble) - ct::test::tensor_of(fx["cases"]["adamw"]["weight"]))
                .abs()
                .max()
                .item<double>(),
            1e-6);
}

TEST(Optimizers, BatchScaledLearningRate) {
  LinearModel m(at::zeros({2, 2}), at::zeros({2}));
  tr::OptimizerContext ctx;
  ctx.params = tr::trainable_parameters(m);
  ctx.effective_batch = 64;
  auto opt = tr::optimizer_registry().build(ct::ConfigNode::parse("{name: adamw, lr: 1.0e-3, lr_batch_ref: 256}"), ctx);
  EXPECT_DOUBLE_EQ(opt->base_lr(), 1e-3 * 64 / 256);
  for (const auto& g : opt->groups()) EXPECT_DOUBLE_EQ(g.lr, opt->base_lr());
}

TEST(Optimizers, StateRoundTripByName) {
  auto fx = ct::test::load_json_fixture("optim.json");
  LinearModel m(ct::test::tensor_of(fx["weight"]), ct::test::tensor_of(fx["bias"]));
  tr::OptimizerContext ctx;
  ctx.params = tr::trainable_parameters(m);
  auto a = tr::optimizer_registry().build(ct::ConfigNode::parse("{name: adamw, lr: 0.1}"), ctx);
  m.weight.mutable_grad() = at::ones_like(m.weight);
  m.bias.mutable_grad() = at::ones_like(m.bias);
  a->step();
  const auto state = a->state_dict();
  std::set<std::string> keys;
  for (const auto& [k, t] : state) keys.insert(k);
  EXPECT_TRUE(keys.count("weight.exp_avg") && keys.count("weight.exp_avg_sq") && keys.count("weight.step") &&
              keys.count("bias.exp_avg"));
  auto b = tr::optimizer_registry().build(ct::ConfigNode::parse("{name: adamw, lr: 0.1}"), ctx);
  b->load_state_dict(state);
  const auto again = b->state_dict();
  ASSERT_EQ(again.size(), state.size());
  for (size_t i = 0; i < state.size(); ++i) EXPECT_TRUE(at::equal(again[i].second, state[i].second)) << state[i].first;
  // A state for a parameter the model does not have is refused by name.
  auto bad = state;
  bad.emplace_back("encoder.weight.exp_avg", at::zeros({2}));
  try {
    b->load_state_dict(bad);
    FAIL() << "expected a DataError";
  } catch (const ct::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("encoder.weight"), std::string::npos) << e.what();
  }
}

namespace {

// A module named like timm's ViT: cls_token, pos_embed, patch_embed.proj, blocks.k, norm, head.
struct TinyVit : torch::nn::Module {
  explicit TinyVit(int depth) {
    register_parameter("cls_token", at::zeros({1, 1, 4}));
    register_parameter("pos_embed", at::zeros({1, 5, 4}));
    auto pe = std::make_shared<torch::nn::Module>();
    pe->register_parameter("weight", at::zeros({4, 1, 1, 2}));
    pe->register_parameter("bias", at::zeros({4}));
    auto patch = std::make_shared<torch::nn::Module>();
    patch->register_module("proj", pe);
    register_module("patch_embed", patch);
    auto blocks = std::make_shared<torch::nn::Module>();
    for (int k = 0; k < depth; ++k) {
      auto b = std::make_shared<torch::nn::Module>();
      b->register_parameter("weight", at::zeros({4, 4}));
      b->register_parameter("bias", at::zeros({4}));
      blocks->register_module(std::to_string(k), b);
    }
    register_module("blocks", blocks);
    auto norm = std::make_shared<torch::nn::Module>();
    norm->register_parameter("weight", at::ones({4}));
    register_module("norm", norm);
    auto head = std::make_shared<torch::nn::Module>();
    head->register_parameter("weight", at::zeros({2, 4}));
    head->register_parameter("bias", at::zeros({2}));
    register_module("head", head);
  }
};

}  // namespace

TEST(ParamGroups, BeitLayerDecayOnTimmNames) {
  TinyVit vit(3);  // depth 3: L = 4
  const auto params = tr::trainable_parameters(vit);
  std::vector<std::string> names;
  for (const auto& p : params) names.push_back(p.name);
  EXPECT_EQ(tr::num_layers_from_names(names), 4);
  EXPECT_EQ(tr::layer_id_from_name("cls_token", 4), 0);
  EXPECT_EQ(tr::layer_id_from_name("pos_embed", 4), 0);
  EXPECT_EQ(tr::layer_id_from_name("patch_embed.proj.weight", 4), 0);
  EXPECT_EQ(tr::layer_id_from_name("blocks.0.weight", 4), 1);
  EXPECT_EQ(tr::layer_id_from_name("blocks.2.bias", 4), 3);
  EXPECT_EQ(tr::layer_id_from_name("norm.weight", 4), 4);
  EXPECT_EQ(tr::layer_id_from_name("head.weight", 4), 4);
  EXPECT_EQ(tr::layer_id_from_name("encoder.blocks.1.attn.qkv.weight", 4), 2);  // any prefix

  tr::ParamGroupOptions o;
  o.weight_decay = 0.05;
  o.layer_decay = 0.75;
  const auto groups = tr::build_param_groups(params, o, &vit);
  std::map<std::string, std::pair<double, double>> by_param;  // name -> (scale, wd)
  for (const auto& g : groups)
    for (const auto& p : g.params) by_param[p.name] = {g.lr_scale, g.weight_decay};
  ASSERT_EQ(by_param.size(), params.size());
  // scale = decay^(L - id); wd 0 for 1-D tensors, biases, pos_embed and cls_token.
  EXPECT_DOUBLE_EQ(by_param["cls_token"].first, std::pow(0.75, 4));
  EXPECT_DOUBLE_EQ(by_param["cls_token"].second, 0.0);
  EXPECT_DOUBLE_EQ(by_param["pos_embed"].second, 0.0);
  EXPECT_DOUBLE_EQ(by_param["patch_embed.proj.weight"].first, std::pow(0.75, 4));
  EXPECT_DOUBLE_EQ(by_param["patch_embed.proj.weight"].second, 0.05);
  EXPECT_DOUBLE_EQ(by_param["patch_embed.proj.bias"].second, 0.0);
  EXPECT_DOUBLE_EQ(by_param["blocks.0.weight"].first, std::pow(0.75, 3));
  EXPECT_DOUBLE_EQ(by_param["blocks.1.weight"].first, std::pow(0.75, 2));
  EXPECT_DOUBLE_EQ(by_param["blocks.2.weight"].first, 0.75);
  EXPECT_DOUBLE_EQ(by_param["blocks.2.bias"].second, 0.0);
  EXPECT_DOUBLE_EQ(by_param["norm.weight"].first, 1.0);
  EXPECT_DOUBLE_EQ(by_param["norm.weight"].second, 0.0);
  EXPECT_DOUBLE_EQ(by_param["head.weight"].first, 1.0);
  EXPECT_DOUBLE_EQ(by_param["head.weight"].second, 0.05);
  // Each (layer, decay) pair is one group.
  std::set<std::pair<double, double>> distinct;
  for (const auto& g : groups) distinct.insert({g.lr_scale, g.weight_decay});
  EXPECT_EQ(distinct.size(), groups.size());
}

TEST(ParamGroups, ModelOverrideOfLayerIds) {
  struct Custom : torch::nn::Module, tr::LayerGroups {
    Custom() {
      register_parameter("stem", at::zeros({2, 2}));
      register_parameter("top", at::zeros({2, 2}));
    }
    int64_t num_layers() const override { return 2; }
    int64_t layer_id(const std::string& n) const override { return n == "stem" ? 0 : 2; }
  } m;
  tr::ParamGroupOptions o;
  o.layer_decay = 0.5;
  std::map<std::string, double> scale;
  for (const auto& g : tr::build_param_groups(tr::trainable_parameters(m), o, &m))
    for (const auto& p : g.params) scale[p.name] = g.lr_scale;
  EXPECT_DOUBLE_EQ(scale["stem"], 0.25);
  EXPECT_DOUBLE_EQ(scale["top"], 1.0);
}

TEST(ParamGroups, FreezingByGlob) {
  TinyVit vit(2);
  EXPECT_EQ(tr::freeze_parameters(vit, {"patch_embed.*", "blocks.0.*"}), 4);
  std::set<std::string> trainable;
  for (const auto& p : tr::trainable_parameters(vit)) trainable.insert(p.name);
  EXPECT_FALSE(trainable.count("patch_embed.proj.weight"));
  EXPECT_FALSE(trainable.count("blocks.0.bias"));
  EXPECT_TRUE(trainable.count("blocks.1.weight"));
  EXPECT_THROW(tr::freeze_parameters(vit, {"blokcs.*"}), ct::ConfigError);
  EXPECT_TRUE(tr::glob_match("blocks.*.weight", "blocks.10.weight"));
  EXPECT_FALSE(tr::glob_match("blocks.?.weight", "blocks.10.weight"));
}

TEST(Optimizers, RefuseNoTrainableParameters) {
  tr::OptimizerContext ctx;
  EXPECT_THROW(tr::optimizer_registry().build(ct::ConfigNode::parse("{name: sgd}"), ctx), ct::ConfigError);
  EXPECT_THROW(tr::optimizer_registry().build(ct::ConfigNode::parse("{name: adamw, betas: [0.9]}"), ctx),
               ct::ConfigError);
}
