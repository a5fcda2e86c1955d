// Building blocks: numeric parity with torch_ecg-style PyTorch (blocks_parity.npz, made by
// tests/fixtures/models/make_blocks_parity.py), "same" padding, shape inference against
// forward for every registered block, DownSample modes, names and errors.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/models/blocks/attention_blocks.h"
#include "cardiotorch/models/blocks/conv_bn_act.h"
#include "cardiotorch/models/blocks/layers.h"
#include "cardiotorch/models/blocks/sequence.h"
#include "support/test_util.h"

namespace cardiotorch::models {
namespace {

const std::map<std::string, at::Tensor>& fixture() {
  static const auto arrays = io::read_npz(test::source_path("tests/fixtures/models/blocks_parity.npz"));
  return arrays;
}

// Loads the fixture entries "<name>.<key>" into `m` by name; both sides must match exactly.
void load_case(torch::nn::Module& m, const std::string& name) {
  const std::string prefix = name + ".";
  std::set<std::string> used;
  at::NoGradGuard no_grad;
  auto load = [&](const std::string& key, at::Tensor& t) {
    auto it = fixture().find(prefix + key);
    ASSERT_NE(it, fixture().end()) << "the fixture lacks " << prefix + key;
    ASSERT_EQ(t.sizes(), it->second.sizes()) << key;
    t.copy_(it->second);
    used.insert(prefix + key);
  };
  for (auto& p : m.named_parameters()) load(p.key(), p.value());
  for (auto& b : m.named_buffers()) load(b.key(), b.value());
  for (const auto& kv : fixture())
    if (kv.first.rfind(prefix, 0) == 0 && kv.first.find(".__") == std::string::npos) {
      EXPECT_TRUE(used.count(kv.first)) << "the block lacks " << kv.first;
    }
}

void expect_close(const at::Tensor& y, const at::Tensor& expected, const std::string& name) {
  ASSERT_EQ(y.sizes(), expected.sizes()) << name;
  const double err = (y - expected).abs().max().item<double>();
  EXPECT_LT(err, 1e-5) << name << ": max abs difference " << err;
}

// Runs a (B, C, L) block on the case's input and compares with PyTorch.
void check_map_block(BlockImpl& b, const std::string& name) {
  load_case(b, name);
  b.eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = fixture().at(name + ".__input__");
  const at::Tensor y = b.forward(x);
  EXPECT_EQ(Shape(y.sizes().vec()), b.output_shape(Shape(x.sizes().vec()))) << name;
  expect_close(y, fixture().at(name + ".__output__"), name);
}

BlockPtr registered(const std::string& yaml, int64_t channels) {
  const BlockConfig c{block_registry().resolve(ConfigNode::parse(yaml, "test.yaml"))};
  return build_block(c, BlockContext{channels});
}

TEST(BlockParity, ConvBnActivationOrderingsNormsAndConvTypes) {
  auto bac = make_cba(ConvBnActivationOptions(6, 8, 4).groups(2).activation("mish").ordering("bac"));
  check_map_block(*bac, "cba_bac_even");
  auto gn = make_cba(
      ConvBnActivationOptions(6, 8, 5).stride(2).groups(2).norm("group_norm").activation("hardswish").dilation(2));
  check_map_block(*gn, "cba_gn_dilated");
  auto sep = make_cba(
      ConvBnActivationOptions(6, 8, 7).stride(3).groups(2).activation("tanh").ordering("acb").conv_type("separable"));
  check_map_block(*sep, "cba_acb_separable");
  auto aa = make_cba(ConvBnActivationOptions(6, 8, 5).stride(2).activation("leaky").conv_type("aa"));
  check_map_block(*aa, "cba_aa");
}

TEST(BlockParity, DownSampleModes) {
  DownSampleImpl avg(DownSampleOptions(3, 6).out_channels(8).groups(2).norm(true).mode("avg"));
  check_map_block(avg, "down_avg");
  DownSampleImpl lp(DownSampleOptions(2, 6).kernel_size(3).padding(1).mode("lp"));
  check_map_block(lp, "down_lp");
  DownSampleImpl blur(DownSampleOptions(2, 6).out_channels(9).groups(3).norm(true).mode("blur").filt_size(5));
  check_map_block(blur, "down_blur");
}

TEST(BlockParity, AttentionBlocks) {
  check_map_block(*registered("{name: se, reduction: 2}", 6), "se");
  check_map_block(*registered("{name: gc, ratio: 2, pooling_type: avg, fusion_types: [add, mul]}", 6),
                  "gc_avg_add_mul");
  check_map_block(*registered("{name: nl, mid_channels: 4, filter_lengths: {g: 3, W: 2}, subsample_length: 3, "
                              "batch_norm: true}",
                              6),
                  "nl_even_w");
  check_map_block(
      *registered("{name: cbam, reduction: 2, pool_types: [avg, max, lp, lse], spatial_conv_kernel_size: 5}", 6),
      "cbam");
}

TEST(BlockParity, SelfAttentionAndTransformer) {
  at::NoGradGuard no_grad;
  // torch_ecg's SelfAttention takes (L, B, C); ours (B, C, L).
  BlockPtr sa = registered("{name: self_attention, num_heads: 4}", 18);
  load_case(*sa, "self_attention");
  sa->eval();
  const at::Tensor xs = fixture().at("self_attention.__input__");
  expect_close(sa->forward(xs.permute({1, 2, 0})).permute({2, 0, 1}), fixture().at("self_attention.__output__"),
               "self_attention");
  EXPECT_EQ(sa->output_shape({2, 18, 11}), (Shape{2, 16, 11}));  // projected to a multiple of the heads
  // torch_ecg's Transformer (batch_first) takes (B, L, C).
  BlockPtr tr = registered("{name: transformer, hidden_size: 20, num_heads: 4, num_layers: 2, activation: gelu}", 18);
  load_case(*tr, "transformer");
  tr->eval();
  const at::Tensor xt = fixture().at("transformer.__input__");
  expect_close(tr->forward(xt.transpose(1, 2)).transpose(1, 2), fixture().at("transformer.__output__"), "transformer");
  auto* t = dynamic_cast<TransformerImpl*>(tr.get());
  ASSERT_NE(t, nullptr);
  const auto maps = t->attention_maps(xt.transpose(1, 2));
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[0].sizes(), (std::vector<int64_t>{2, 4, 11, 11}));
  EXPECT_TRUE(at::allclose(maps[0].sum(-1), at::ones({2, 4, 11})));
}

TEST(BlockParity, StackedLSTMAndMLP) {
  at::NoGradGuard no_grad;
  StackedLSTMImpl lstm(StackedLSTMOptions(6, {5, 4}));
  load_case(lstm, "stacked_lstm");
  lstm.eval();
  const at::Tensor x = fixture().at("stacked_lstm.__input__");
  const at::Tensor y = lstm.forward(x);
  EXPECT_EQ(Shape(y.sizes().vec()), lstm.output_shape(Shape(x.sizes().vec())));
  expect_close(y, fixture().at("stacked_lstm.__output__"), "stacked_lstm");
  MLPImpl mlp(MLPOptions(6, {5, 3}).activation("mish").skip_last_activation(true));
  load_case(mlp, "mlp");
  mlp.eval();
  expect_close(mlp.forward(fixture().at("mlp.__input__")), fixture().at("mlp.__output__"), "mlp");
}

// --- shapes ---------------------------------------------------------------------------------

TEST(ConvBnActivation, SamePaddingKeepsTheLengthForEveryKernel) {
  at::NoGradGuard no_grad;
  for (int64_t k = 1; k <= 12; ++k)
    for (int64_t d : {1, 2, 3}) {
      ConvBnActivationImpl c(ConvBnActivationOptions(3, 4, k).dilation(d).activation("relu"));
      c.eval();
      for (int64_t len : {int64_t{40}, int64_t{41}}) {
        const at::Tensor y = c.forward(at::randn({2, 3, len}));
        EXPECT_EQ(y.size(2), len) << "k " << k << " d " << d;
        EXPECT_EQ(c.output_shape({2, 3, len}), Shape(y.sizes().vec()));
      }
    }
}

TEST(ConvBnActivation, StridedShapesMatchForward) {
  at::NoGradGuard no_grad;
  for (const char* type : {"", "separable", "aa"})
    for (int64_t k : {1, 2, 5, 8})
      for (int64_t s : {2, 3}) {
        ConvBnActivationImpl c(ConvBnActivationOptions(4, 6, k).stride(s).groups(2).conv_type(type));
        c.eval();
        for (int64_t len : {int64_t{9}, int64_t{30}, int64_t{31}}) {
          const at::Tensor y = c.forward(at::randn({1, 4, len}));
          EXPECT_EQ(c.output_shape({1, 4, len}), Shape(y.sizes().vec())) << type << " k " << k << " s " << s;
        }
        EXPECT_EQ(c.output_shape({kUnknown, 4, kUnknown}), (Shape{kUnknown, 6, kUnknown}));
      }
}

TEST(ConvBnActivation, NamesAndOrderings) {
  ConvBnActivationImpl c(ConvBnActivationOptions(3, 4, 3).activation("prelu"));
  const auto p = c.named_parameters();
  for (const char* k :
       {"conv1d.weight", "conv1d.bias", "batch_norm.weight", "batch_norm.bias", "activation_PReLU.weight"})
    EXPECT_TRUE(p.contains(k)) << k;
  EXPECT_EQ(c.ordering(), "cba");
  // A norm before the convolution normalises the input channels.
  ConvBnActivationImpl bac(ConvBnActivationOptions(3, 4, 3).activation("relu").ordering("BAC"));
  EXPECT_EQ(bac.named_parameters()["batch_norm.weight"].size(0), 3);
  EXPECT_EQ(ConvBnActivationImpl(ConvBnActivationOptions(3, 4, 3).norm("none")).ordering(), "c");
  EXPECT_EQ(ConvBnActivationImpl(ConvBnActivationOptions(3, 8, 3).width_multiplier(0.5)).out_channels(), 4);
}

TEST(ConvBnActivation, BadOptionsAreConfigErrors) {
  auto err = [](const ConvBnActivationOptions& o) -> std::string {
    try {
      ConvBnActivationImpl c(o);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(
      err(ConvBnActivationOptions(3, 4, 3).ordering("cba")).find("has an activation (a) but activation is 'none'"),
      std::string::npos);
  EXPECT_NE(err(ConvBnActivationOptions(3, 4, 3).ordering("cab").norm("none").activation("relu")).find("has a norm"),
            std::string::npos);
  EXPECT_NE(err(ConvBnActivationOptions(3, 4, 3).ordering("abc").activation("relu")).find("ordering must be one of"),
            std::string::npos);
  EXPECT_NE(err(ConvBnActivationOptions(3, 4, 3).activation("reul")).find("did you mean 'relu'"), std::string::npos);
  EXPECT_NE(err(ConvBnActivationOptions(3, 4, 3).kernel_initializer("he_norml")).find("he_normal"), std::string::npos);
  EXPECT_NE(err(ConvBnActivationOptions(3, 5, 3).groups(3)).find("not divisible by groups"), std::string::npos);
  EXPECT_NE(err(ConvBnActivationOptions(3, 4, 3).conv_type("deform")).find("conv_type"), std::string::npos);
}

TEST(DownSample, EveryModeShapeMatchesForward) {
  at::NoGradGuard no_grad;
  for (const auto& mode : DownSampleImpl::modes())
    for (int64_t out : {4, 8})
      for (int64_t s : {1, 2, 3}) {
        DownSampleImpl d(DownSampleOptions(s, 4).out_channels(out).mode(mode).norm(true));
        d.eval();
        for (int64_t len : {int64_t{7}, int64_t{16}, int64_t{33}}) {
          const at::Tensor y = d.forward(at::randn({2, 4, len}));
          EXPECT_EQ(d.output_shape({2, 4, len}), Shape(y.sizes().vec())) << mode << " s " << s << " L " << len;
          EXPECT_TRUE(at::isfinite(y).all().item<bool>()) << mode;
        }
      }
  // Interpolating modes give exactly floor(L / s) samples.
  DownSampleImpl lin(DownSampleOptions(3, 2).mode("linear"));
  EXPECT_EQ(lin.forward(at::randn({1, 2, 1000})).size(2), 333);
}

TEST(BlurPool, BinomialFilterAndShape) {
  BlurPoolImpl b(BlurPoolOptions(2, 3).filt_size(5));
  const at::Tensor f = b.named_buffers()["filt"];
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{3, 1, 5}));
  EXPECT_TRUE(at::allclose(f[2][0], at::tensor({1.f, 4.f, 6.f, 4.f, 1.f}) / 16));
  EXPECT_TRUE(b.named_parameters().is_empty());  // a buffer, never trained
  for (const char* pad : {"reflect", "replicate", "zero"})
    for (int64_t filt : {1, 2, 3, 4, 7}) {
      BlurPoolImpl p(BlurPoolOptions(3, 3).filt_size(filt).pad_type(pad));
      const at::Tensor y = p.forward(at::randn({1, 3, 20}));
      EXPECT_EQ(p.output_shape({1, 3, 20}), Shape(y.sizes().vec())) << pad << " " << filt;
    }
}

TEST(SpaceToDepth, FoldsTimeIntoChannelsInTResNetOrder) {
  SpaceToDepthImpl s(2, 8, 4);  // 2 * 4 == 8: no out_conv
  const at::Tensor x = at::arange(2 * 2 * 10, at::kFloat).reshape({2, 2, 10});
  const at::Tensor y = s.forward(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 8, 2}));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t c = 0; c < 2; ++c)
        for (int64_t i = 0; i < 2; ++i) EXPECT_EQ(y[b][j * 2 + c][i].item<float>(), x[b][c][i * 4 + j].item<float>());
  EXPECT_EQ(s.output_shape({2, 2, 10}), (Shape{2, 8, 2}));
  EXPECT_TRUE(SpaceToDepthImpl(2, 6, 4).named_parameters().contains("out_conv.conv1d.weight"));
}

TEST(ZeroPadding, PadsChannelsAtTheRequestedEnd) {
  const at::Tensor x = at::ones({1, 2, 3});
  auto per_channel = [&](const char* loc) {
    return ZeroPaddingImpl(2, 5, loc).forward(x).sum(std::vector<int64_t>{0, 2});
  };
  EXPECT_TRUE(at::equal(per_channel("head"), at::tensor({0.f, 0.f, 0.f, 3.f, 3.f})));
  EXPECT_TRUE(at::equal(per_channel("tail"), at::tensor({3.f, 3.f, 0.f, 0.f, 0.f})));
  EXPECT_TRUE(at::equal(per_channel("both"), at::tensor({0.f, 3.f, 3.f, 0.f, 0.f})));
  EXPECT_EQ(ZeroPaddingImpl(2, 5).output_shape({1, 2, 3}), (Shape{1, 5, 3}));
  EXPECT_THROW(ZeroPaddingImpl(5, 2), ConfigError);
}

// --- every registered block -----------------------------------------------------------------

class EveryBlock : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryBlock, ShapeInferenceMatchesForwardAndGradientsFlow) {
  manual_seed(0);
  BlockPtr b = registered("{name: " + GetParam() + "}", 16);
  for (int64_t len : {int64_t{9}, int64_t{64}}) {
    b->eval();
    {
      at::NoGradGuard no_grad;
      const at::Tensor y = b->forward(at::randn({2, 16, len}));
      EXPECT_EQ(b->output_shape({2, 16, len}), Shape(y.sizes().vec())) << len;
    }
    const Shape unknown = b->output_shape({kUnknown, 16, kUnknown});
    EXPECT_EQ(unknown[0], kUnknown);
    EXPECT_EQ(unknown[2], kUnknown);
  }
  b->train();
  const at::Tensor x = at::randn({2, 16, 32}).requires_grad_();
  b->forward(x).pow(2).mean().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(at::isfinite(x.grad()).all().item<bool>());
  EXPECT_THROW(b->output_shape({2, 15, 32}), ShapeError);
}

TEST_P(EveryBlock, UnknownOptionNamesTheKeyPath) {
  try {
    block_registry().resolve(ConfigNode::parse("{name: " + GetParam() + ", reductoin: 3}", "exp.yaml"));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'reductoin'"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, EveryBlock, ::testing::ValuesIn(block_registry().names()));

TEST(BlockRegistry, HoldsTheTorchEcgAttentionFamily) {
  for (const char* n : {"se", "gc", "nl", "cbam", "self_attention", "transformer"})
    EXPECT_TRUE(block_registry().contains(n)) << n;
  EXPECT_EQ(build_block(BlockConfig{}, BlockContext{8}), nullptr);
  EXPECT_THROW(registered("{name: se, reduction: 32}", 16), ConfigError);  // 16 / 32 = 0 mid channels
}

// --- tables ---------------------------------------------------------------------------------

TEST(Layers, EveryActivationRunsUnderItsTorchClassName) {
  const at::Tensor x = at::randn({2, 4, 6});
  for (const auto& n : activation_names()) {
    Activation a = make_activation(n);
    ASSERT_NE(a, nullptr) << n;
    const at::Tensor y = a->forward(x);
    EXPECT_EQ(Shape(y.sizes().vec()), a->output_shape({2, 4, 6})) << n;
  }
  EXPECT_EQ(activation_class_name("leaky"), "LeakyReLU");
  EXPECT_EQ(activation_class_name("swish"), "SiLU");
  EXPECT_EQ(make_activation("none"), nullptr);
  EXPECT_TRUE(at::allclose(make_activation("leaky")->forward(at::tensor({-1.f, 2.f})), at::tensor({-0.01f, 2.f})));
}

TEST(Layers, InitialisersFollowTorchDefaults) {
  for (const auto& n : initializer_names()) init_weight(at::empty({16, 8, 3}), n);
  manual_seed(0);
  at::Tensor w = at::empty({256, 64, 9});
  init_weight(w, "he_normal");  // std = sqrt(2 / fan_in), fan_in = 64 * 9
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / (64 * 9)), 0.002);
  init_weight(w, "zeros");
  EXPECT_EQ(w.abs().sum().item<double>(), 0.0);
  EXPECT_THROW(check_initializer("kernel_initializer", "he"), ConfigError);
}

TEST(Layers, MLPDropoutRuleAndNames) {
  MLPImpl m(MLPOptions(4, {5, 6, 2}).dropouts({0.3}));
  int dropouts = 0;
  for (const auto& c : m.named_children())
    if (c.key().rfind("dropout_", 0) == 0) ++dropouts;
  EXPECT_EQ(dropouts, 2);  // after every layer but the last
  EXPECT_TRUE(m.named_parameters().contains("lin_2.bias"));
  EXPECT_EQ(m.output_shape({3, 7, 4}), (Shape{3, 7, 2}));
  StackedLSTMImpl l(StackedLSTMOptions(3, {4}).return_sequences(false));
  EXPECT_TRUE(l.named_parameters().contains("bidirectional_lstm_1.weight_ih_l0_reverse"));
  EXPECT_EQ(l.output_shape({10, 2, 3}), (Shape{2, 8}));
  EXPECT_EQ(l.forward(at::randn({10, 2, 3})).sizes(), (std::vector<int64_t>{2, 8}));
}

}  // namespace
}  // namespace cardiotorch::models
