// The backbones torch_ecg left as stubs: higher-order ODE ResNets (MidPoint, RK4, RK8),
// DarkNet, EfficientNet / EfficientNetV2 and the Transformer encoder backbone. Shapes at every
// length, gradients and save/load come from the registry harness; these tests check what makes
// each of them what it claims to be.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/conv.h>

#include <cmath>
#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/models/capture.h"
#include "cardiotorch/models/efficientnet.h"
#include "cardiotorch/models/ho_resnet.h"
#include "cardiotorch/models/saliency.h"
#include "cardiotorch/models/transformer_backbone.h"

namespace cardiotorch::models {
namespace {

ModelPtr build(const std::string& yaml, ModelContext ctx = {}) {
  manual_seed(0);
  return build_model(ConfigNode::parse(yaml, "test.yaml"), ctx);
}

// f(x) = A x over the channels: a 1x1 convolution without bias.
class LinearFn : public BlockImpl {
 public:
  explicit LinearFn(const at::Tensor& a) : c_(a.size(0)) {
    conv_ = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(c_, c_, 1).bias(false)));
    at::NoGradGuard g;
    conv_->weight.copy_(a.unsqueeze(-1));
  }
  at::Tensor forward(const at::Tensor& x) override { return conv_->forward(x); }
  Shape output_shape(const Shape& input) const override { return input; }

 private:
  int64_t c_;
  torch::nn::Conv1d conv_{nullptr};
};

// f(x) = x^2 elementwise: y' = y^2 has the solution y0 / (1 - y0 t).
class SquareFn : public BlockImpl {
 public:
  at::Tensor forward(const at::Tensor& x) override { return x * x; }
  Shape output_shape(const Shape& input) const override { return input; }
};

// The same matrix polynomial applied over the channels of (B, C, L).
at::Tensor apply(const at::Tensor& m, const at::Tensor& x) { return at::einsum("ij,bjl->bil", {m, x}); }

TEST(ODEStep, RK4WithALinearFunctionIsTheAnalyticRK4Update) {
  manual_seed(1);
  const at::Tensor A = at::randn({4, 4}, at::kDouble) * 0.5;
  const at::Tensor x = at::randn({2, 4, 7}, at::kDouble);
  const double h = 0.3;
  auto f = std::make_shared<LinearFn>(A.to(at::kFloat));
  f->to(at::kDouble);
  ODEStepImpl step("rk4", h, {f});
  at::NoGradGuard no_grad;
  // RK4 on x' = A x: x + (hA + (hA)^2/2 + (hA)^3/6 + (hA)^4/24) x.
  const at::Tensor Af = f->named_parameters()["conv.weight"].squeeze(-1);
  const at::Tensor hA = h * Af, I = at::eye(4, at::kDouble);
  const at::Tensor hA2 = hA.mm(hA), hA3 = hA2.mm(hA), hA4 = hA3.mm(hA);
  const at::Tensor expected = apply(I + hA + hA2 / 2 + hA3 / 6 + hA4 / 24, x);
  EXPECT_LT((step.forward(x) - expected).abs().max().item<double>(), 1e-12);

  // Per-stage functions A1..A4: k1 = A1 x, k2 = A2 (x + h/2 k1), k3 = A3 (x + h/2 k2),
  // k4 = A4 (x + h k3), x' = x + h (k1 + 2 k2 + 2 k3 + k4) / 6.
  std::vector<at::Tensor> As;
  std::vector<BlockPtr> fs;
  for (int i = 0; i < 4; ++i) {
    auto fi = std::make_shared<LinearFn>(at::randn({4, 4}) * 0.5);
    fi->to(at::kDouble);
    As.push_back(fi->named_parameters()["conv.weight"].squeeze(-1));
    fs.push_back(fi);
  }
  ODEStepImpl per("rk4", h, fs);
  const at::Tensor k1 = apply(As[0], x), k2 = apply(As[1], x + h / 2 * k1), k3 = apply(As[2], x + h / 2 * k2),
                   k4 = apply(As[3], x + h * k3);
  EXPECT_LT((per.forward(x) - (x + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6)).abs().max().item<double>(), 1e-12);
  // Midpoint: x + h A (x + h/2 A x).
  ODEStepImpl mid("midpoint", h, {f});
  EXPECT_LT((mid.forward(x) - (x + h * apply(Af, x + h / 2 * apply(Af, x)))).abs().max().item<double>(), 1e-12);
}

TEST(ODEStep, RK8IsEighthOrder) {
  // Linear problem: an order-8 method reproduces exp(hA) up to O(h^9).
  manual_seed(2);
  const at::Tensor A = at::randn({3, 3}, at::kDouble);
  auto f = std::make_shared<LinearFn>(A.to(at::kFloat));
  f->to(at::kDouble);
  const at::Tensor Af = f->named_parameters()["conv.weight"].squeeze(-1);
  const at::Tensor x = at::randn({1, 3, 5}, at::kDouble);
  ODEStepImpl step("rk8", 0.1, {f});
  at::NoGradGuard no_grad;
  at::Tensor expm = at::eye(3, at::kDouble), term = at::eye(3, at::kDouble);
  for (int k = 1; k < 30; ++k) {
    term = term.mm(0.1 * Af) / k;
    expm = expm + term;
  }
  EXPECT_LT((step.forward(x) - apply(expm, x)).abs().max().item<double>(), 1e-11);
  // Nonlinear problem y' = y^2: the one-step error shrinks ~2^9 when h halves.
  auto sq = std::make_shared<SquareFn>();
  const at::Tensor y0 = at::full({1, 1, 1}, 0.5, at::kDouble);
  std::vector<double> err;
  // Steps large enough that the error stays far above rounding (at h = 0.05 it is ~1e-15).
  for (double h : {0.4, 0.2, 0.1}) {
    ODEStepImpl s("rk8", h, {sq});
    const double exact = 0.5 / (1.0 - 0.5 * h);
    err.push_back(std::abs(s.forward(y0).item<double>() - exact));
  }
  EXPECT_GT(err[0] / err[1], 300.0) << err[0] << " " << err[1];
  EXPECT_GT(err[1] / err[2], 300.0) << err[1] << " " << err[2];
  // The same check shows RK4 is fourth order (ratio ~2^5) and not more.
  std::vector<double> e4;
  for (double h : {0.2, 0.1}) {
    ODEStepImpl s("rk4", h, {sq});
    e4.push_back(std::abs(s.forward(y0).item<double>() - 0.5 / (1.0 - 0.5 * h)));
  }
  EXPECT_GT(e4[0] / e4[1], 20.0);
  EXPECT_LT(e4[0] / e4[1], 50.0);
}

TEST(ODEStep, TableausAreConsistent) {
  for (const auto& name : ode_schemes()) {
    const ButcherTableau& t = butcher_tableau(name);
    double sum = 0;
    for (double b : t.b) sum += b;
    EXPECT_NEAR(sum, 1.0, 1e-14) << name;
    ASSERT_EQ(t.a.size(), t.stages()) << name;
    for (size_t i = 0; i < t.stages(); ++i) EXPECT_EQ(t.a[i].size(), i) << name;
  }
  EXPECT_EQ(butcher_tableau("rk8").stages(), 11u);
  EXPECT_THROW(butcher_tableau("rk5"), ConfigError);
  EXPECT_THROW(ODEStepImpl("rk4", 1.0, {std::make_shared<SquareFn>(), std::make_shared<SquareFn>()}), ConfigError);
}

TEST(HOResNet, PerStageWeightsHoldOneBranchPerStage) {
  const std::string base =
      "num_filters: [8, 16], num_steps: 1, filter_lengths: 5, subsample_lengths: [1, 2], stem: {num_filters: 8}";
  const ModelPtr shared = build("{name: rk4_resnet, weights: shared, " + base + "}");
  const ModelPtr per = build("{name: rk4_resnet, " + base + "}");
  std::set<std::string> names;
  for (const auto& p : per->named_parameters()) names.insert(p.key());
  EXPECT_TRUE(names.count("stage_1.step_0.f_3.cba_1.conv1d.weight"));
  EXPECT_TRUE(names.count("stage_1.transition.conv1d.weight"));
  EXPECT_FALSE(names.count("stage_0.transition.conv1d.weight"));  // same width, stride 1
  // Each step: 4 branches instead of 1 (branch = 2 convs of C x C x 5 + 2 BN).
  auto branch = [](int64_t c) { return 2 * (c * c * 5 + 2 * c); };
  EXPECT_EQ(count_parameters(*per) - count_parameters(*shared), 3 * (branch(8) + branch(16)));
  EXPECT_EQ(per->output_shape(1000, 2), (Shape{2, 16, 125}));
}

TEST(EfficientNet, CompoundScalingFollowsTorchvision) {
  EXPECT_EQ(make_divisible(32, 8), 32);
  EXPECT_EQ(make_divisible(32 * 1.1, 8), 32);
  EXPECT_EQ(make_divisible(16 * 1.1, 8), 16);
  EXPECT_EQ(make_divisible(40 * 1.2, 8), 48);
  EXPECT_EQ(make_divisible(9, 8), 16);  // 8 would be below 90 % of 9
  // B1: depth x1.1 -> ceil: [1, 2, 2, 3, 3, 4, 1] -> [2, 3, 3, 4, 4, 5, 2].
  const ModelPtr b1 = build("efficientnet_b1");
  std::set<std::string> blocks;
  for (const auto& p : b1->named_parameters()) {
    const std::string& k = p.key();
    const size_t a = k.find('.', 9), b = k.find('.', a + 1);
    if (k.find(".block.") != std::string::npos) blocks.insert(k.substr(0, b));
  }
  EXPECT_EQ(blocks.size(), 23u);
  EXPECT_TRUE(blocks.count("features.7.1"));
  EXPECT_FALSE(blocks.count("features.7.2"));
  // B0's structure by torchvision's names: expansion 1 in stage 1 (no expand conv), SE on the
  // expanded width with squeeze = block input / 4, head 4 x 320.
  const ModelPtr b0 = build("efficientnet_b0");
  const auto sd = b0->named_parameters();
  EXPECT_EQ(sd["features.1.0.block.0.0.weight"].sizes(), (std::vector<int64_t>{32, 1, 3}));  // depthwise
  EXPECT_EQ(sd["features.1.0.block.1.fc1.weight"].sizes(), (std::vector<int64_t>{8, 32, 1}));
  EXPECT_EQ(sd["features.2.0.block.2.fc1.weight"].sizes(), (std::vector<int64_t>{4, 96, 1}));  // 16 / 4 of 6 x 16
  EXPECT_EQ(sd["features.8.0.weight"].sizes(), (std::vector<int64_t>{1280, 320, 1}));
  EXPECT_EQ(b0->output_shape(5000, 2), (Shape{2, 1280, 157}));
  // V2-S: Fused-MBConv stages have no depthwise conv and no SE.
  const ModelPtr v2 = build("efficientnet_v2_s");
  const auto sd2 = v2->named_parameters();
  EXPECT_EQ(sd2["features.2.0.block.0.0.weight"].sizes(), (std::vector<int64_t>{96, 24, 3}));  // fused expand, k 3
  EXPECT_FALSE(sd2.contains("features.2.0.block.2.fc1.weight"));
  EXPECT_TRUE(sd2.contains("features.4.0.block.2.fc1.weight"));
}

TEST(EfficientNet, StochasticDepthDropsWholeResidualBranchesInTrainingOnly) {
  const ModelPtr m = build(
      "{name: efficientnet_b0, drop_path_rate: 0.9, stages: [{expansion: 1, out_channels: 8, "
      "num_layers: 4, se_ratio: 0}], stem_num_filters: 8, head_num_filters: 0}");
  manual_seed(4);
  const at::Tensor x = at::randn({8, 12, 64});
  at::NoGradGuard no_grad;
  m->eval();
  EXPECT_TRUE(at::equal(m->forward(x), m->forward(x)));
  m->train();
  manual_seed(5);
  const at::Tensor a = m->forward(x);
  manual_seed(6);
  const at::Tensor b = m->forward(x);
  EXPECT_FALSE(at::equal(a, b));
  manual_seed(5);
  EXPECT_TRUE(at::equal(a, m->forward(x)));  // the draws come from the seeded generator
}

TEST(DarkNet, ResidualStagesOfDarknet53) {
  const ModelPtr m = build("darknet53");
  std::set<std::string> blocks;
  for (const auto& p : m->named_parameters())
    if (p.key().find(".block_") != std::string::npos) blocks.insert(p.key().substr(0, p.key().find(".conv_")));
  EXPECT_EQ(blocks.size(), 23u);  // 1 + 2 + 8 + 8 + 4
  const auto sd = m->named_parameters();
  EXPECT_EQ(sd["stage_4.block_3.conv_1.conv1d.weight"].sizes(), (std::vector<int64_t>{512, 1024, 1}));
  EXPECT_EQ(sd["stage_4.block_3.conv_2.conv1d.weight"].sizes(), (std::vector<int64_t>{1024, 512, 3}));
  EXPECT_FALSE(sd.contains("stage_4.block_3.conv_2.conv1d.bias"));  // BN follows
  EXPECT_EQ(m->output_shape(5000, 2), (Shape{2, 1024, 157}));
}

TEST(TransformerBackbone, TokensAttentionAndRollout) {
  ModelContext ctx;
  ctx.seq_len = 1000;
  const ModelPtr m =
      build("{name: transformer_ecg, embed_dim: 32, encoder: {num_heads: 4, num_layers: 2, hidden_size: 64}}", ctx);
  m->eval();
  manual_seed(3);
  const at::Tensor x = at::randn({2, 12, 1000});
  at::NoGradGuard no_grad;
  const at::Tensor f = m->forward(x);
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{2, 32, 50}));  // one token per 20 samples
  EXPECT_TRUE(at::allclose(m->forward_localized(x), f.transpose(1, 2)));
  const auto maps = m->attention_maps(x);
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[0].sizes(), (std::vector<int64_t>{2, 4, 50, 50}));
  EXPECT_TRUE(at::allclose(maps[1].sum(-1), at::ones({2, 4, 50}), 1e-5, 1e-5));
  const TokenLayout t = m->token_layout();
  EXPECT_EQ(t.cols, 50);
  EXPECT_EQ(t.patch_len, 20);
  const auto rollout = saliency_registry().build(ConfigNode::string("rollout"));
  EXPECT_EQ(rollout->explain(*m, x).map.sizes(), (std::vector<int64_t>{2, 1000}));
  // Positions: the sinusoidal encoding makes the output depend on token order.
  const at::Tensor flipped = m->forward(x.flip(2).contiguous());
  EXPECT_FALSE(at::allclose(flipped.flip(2), f, 1e-3, 1e-3));
  // Learned positions bound the length.
  const ModelPtr p = build("{name: transformer_patch, max_len: 10, encoder: {num_layers: 1}}");
  EXPECT_THROW(p->forward(at::randn({1, 12, 550})), ShapeError);
  EXPECT_EQ(p->forward(at::randn({1, 12, 500})).sizes(), (std::vector<int64_t>{1, 192, 10}));
}

}  // namespace
}  // namespace cardiotorch::models
