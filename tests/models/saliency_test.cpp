// Saliency against Python references: Grad-CAM computed with PyTorch forward hooks on the
// torchvision ResNet (2-D) and on a tiny 1-D CNN, attention rollout against an independent
// numpy implementation; capture points; the error paths.
// Fixtures: make_resnet2d_fixtures.py, make_saliency_fixtures.py.
#include "cardiotorch/models/saliency.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/models/capture.h"
#include "cardiotorch/models/cmr.h"
#include "cardiotorch/models/resnet2d.h"
#include "models/model_test_util.h"
#include "models/tiny_models.h"

namespace ct = cardiotorch;
namespace m = cardiotorch::models;
using ct::test::load_state;
using ct::test::max_abs_diff;
using ct::test::model_fixture;

namespace {

std::shared_ptr<m::ResNet2dImpl> fixture_resnet() {
  m::ResNet2dOptions o;
  o.layers = {1, 1, 1, 1};
  o.base_planes = 8;
  o.num_classes = 5;
  auto net = std::make_shared<m::ResNet2dImpl>(o);
  load_state(*net, model_fixture("resnet2d_basic.npz"), "state.");
  return net;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(GradCam, ResNet2dMatchesPyTorchHooks) {
  const auto f = model_fixture("resnet2d_basic.npz");
  auto net = fixture_resnet();
  const at::Tensor x = f.at("input");
  const m::SaliencyResult r = m::grad_cam(*net, x, "layer4");
  EXPECT_EQ(r.map.sizes(), (at::IntArrayRef{2, 64, 48}));
  EXPECT_TRUE(at::equal(r.target, f.at("target_argmax")));
  EXPECT_LT(max_abs_diff(r.map, f.at("gradcam_layer4")), 1e-5);
  EXPECT_EQ(r.layer, "layer4");
  // A fixed class at another layer.
  EXPECT_LT(max_abs_diff(m::grad_cam(*net, x, "layer3", 1).map, f.at("gradcam_layer3_t1")), 1e-5);
  // The default layer is the last feature map: layer4.
  const m::SaliencyResult d = m::grad_cam(*net, x);
  EXPECT_EQ(d.layer, "layer4");
  EXPECT_TRUE(at::equal(d.map, r.map));
  // The maps are not trivial: each sample peaks at 1 and has zeros.
  for (int64_t i = 0; i < 2; ++i) {
    EXPECT_FLOAT_EQ(r.map[i].max().item<float>(), 1.0f);
    EXPECT_GE(r.map[i].min().item<float>(), 0.0f);
  }
}

TEST(GradCam, OneDimensionalCnnMatchesPyTorchHooks) {
  const auto f = model_fixture("gradcam_1d.npz");
  auto net = std::make_shared<ct::test::Tiny1dImpl>(3);
  load_state(*net, f, "");
  const at::Tensor x = f.at("input");
  {
    at::NoGradGuard no_grad;
    net->eval();
    EXPECT_LT(max_abs_diff(net->forward(x), f.at("output")), 1e-6);
  }
  const m::SaliencyResult r = m::grad_cam(*net, x, "block2");
  EXPECT_EQ(r.map.sizes(), (at::IntArrayRef{2, 50}));  // per sample, upsampled to the input length
  EXPECT_TRUE(at::equal(r.target, f.at("target_argmax")));
  EXPECT_LT(max_abs_diff(r.map, f.at("gradcam_block2")), 1e-6);
  EXPECT_LT(max_abs_diff(m::grad_cam(*net, x, "block1", 2).map, f.at("gradcam_block1_t2")), 1e-6);
}

TEST(GradCam, WorksThroughAFrozenEncoderAndRestoresTheMode) {
  m::CmrClassifierOptions o;
  o.num_classes = 3;
  o.freeze_encoder = true;
  m::ResNet2dOptions trunk;
  trunk.layers = {1, 1, 1, 1};
  trunk.base_planes = 8;
  torch::manual_seed(3);
  auto net = std::make_shared<m::CmrClassifierImpl>(o, trunk);
  o.freeze_encoder = false;
  torch::manual_seed(3);
  auto trainable = std::make_shared<m::CmrClassifierImpl>(o, trunk);
  net->train();
  const at::Tensor x = at::randn({2, 3, 48, 48});
  const m::SaliencyResult r = m::grad_cam(*net, x, "encoder.7");
  EXPECT_EQ(r.map.sizes(), (at::IntArrayRef{2, 48, 48}));
  // Freezing changes what trains, not what the output rests on.
  EXPECT_TRUE(at::equal(r.map, m::grad_cam(*trainable, x, "encoder.7").map));
  EXPECT_GT(r.map.sum().item<double>(), 0.0);
  EXPECT_TRUE(net->is_training());
  EXPECT_FALSE(x.requires_grad());
  // By default the last map with a spatial extent: layer4, not the 1 x 1 global pool after it.
  EXPECT_EQ(m::grad_cam(*net, x).layer, "encoder.7");
}

TEST(GradCam, ErrorsNameTheLayerAndTheChoices) {
  auto net = fixture_resnet();
  const at::Tensor x = at::randn({1, 3, 32, 32});
  std::string e = error_of([&] { m::grad_cam(*net, x, "layr4"); });
  EXPECT_THAT(e, ::testing::HasSubstr("did you mean 'layer4'"));
  EXPECT_THAT(e, ::testing::HasSubstr("conv1, bn1, relu, maxpool, layer1"));
  e = error_of([&] { m::grad_cam(*net, x, "fc"); });
  EXPECT_THAT(e, ::testing::HasSubstr("not a feature map"));
  e = error_of([&] { m::grad_cam(*net, x, "layer4", 5); });
  EXPECT_THAT(e, ::testing::HasSubstr("target class 5 is out of range"));
  auto silent = std::make_shared<ct::test::SilentCnnImpl>();
  e = error_of([&] { m::grad_cam(*silent, at::randn({1, 2, 20})); });
  EXPECT_THAT(e, ::testing::HasSubstr("models::capture()"));
  e = error_of([&] { m::grad_cam(*net, at::randn({32, 32})); });
  EXPECT_THAT(e, ::testing::HasSubstr("(B, C, L) or (B, C, H, W)"));
}

TEST(AttentionRollout, MatchesAnIndependentNumpyImplementation) {
  const auto f = model_fixture("rollout.npz");
  const std::vector<at::Tensor> maps{f.at("attn0"), f.at("attn1"), f.at("attn2")};
  EXPECT_LT(max_abs_diff(m::attention_rollout(maps, 1), f.at("rollout_mean")), 1e-6);
  EXPECT_LT(max_abs_diff(m::attention_rollout(maps, 1, "max"), f.at("rollout_max")), 1e-6);
  EXPECT_LT(max_abs_diff(m::attention_rollout(maps, 0), f.at("rollout_noprefix")), 1e-6);
  EXPECT_LT(max_abs_diff(m::attention_rollout(maps, 1, "mean", 0.2), f.at("rollout_discard")), 1e-6);
  EXPECT_LT(max_abs_diff(m::last_block_attention(maps, 1), f.at("last_mean")), 1e-6);
  // The variants differ, so each comparison above can fail.
  EXPECT_GT(max_abs_diff(f.at("rollout_mean"), f.at("rollout_max")), 1e-3);
  EXPECT_GT(max_abs_diff(f.at("rollout_mean"), f.at("rollout_discard")), 1e-3);
  EXPECT_THROW(m::attention_rollout({}, 1), ct::ShapeError);
  EXPECT_THROW(m::attention_rollout({f.at("attn0"), f.at("attn0").slice(2, 0, 5).slice(3, 0, 5)}, 1), ct::ShapeError);
  EXPECT_THROW(m::fuse_heads(f.at("attn0"), "median"), ct::ConfigError);
}

TEST(AttentionRollout, RegisteredMethodsSpreadTokensOverSamples) {
  const auto f = model_fixture("rollout.npz");
  // A token model: 2 rows (leads) x 3 patches of 4 samples after a cls token, input 14 samples.
  auto model = std::make_shared<ct::test::FakeTokenModelImpl>(
      std::vector<at::Tensor>{f.at("attn0"), f.at("attn1"), f.at("attn2")}, m::TokenLayout{2, 3, 4, 1});
  const at::Tensor x = at::randn({2, 2, 14});
  const auto rollout = m::saliency_registry().build(ct::ConfigNode::string("rollout"));
  const m::SaliencyResult r = rollout->explain(*model, x, m::kTopClass);
  EXPECT_EQ(r.map.sizes(), (at::IntArrayRef{2, 2, 14}));  // one row per lead
  EXPECT_LT(max_abs_diff(r.map, f.at("map_rollout_mean")), 1e-6);
  EXPECT_FALSE(r.class_specific);
  EXPECT_EQ(r.method, "rollout");
  EXPECT_EQ(r.target.sizes(), (at::IntArrayRef{2}));

  const auto last = m::saliency_registry().build(ct::ConfigNode::parse("{name: attention, head_fusion: max}"));
  const at::Tensor want = m::normalize_per_sample(
      m::tokens_to_samples(m::last_block_attention({f.at("attn2")}, 1, "max"), m::TokenLayout{2, 3, 4, 1}, 14));
  EXPECT_LT(max_abs_diff(last->explain(*model, x, 0).map, want), 1e-7);

  // Not a token model: the methods say so.
  auto cnn = std::make_shared<ct::test::Tiny1dImpl>(2);
  EXPECT_THAT(error_of([&] { rollout->explain(*cnn, x, m::kTopClass); }), ::testing::HasSubstr("use the gradcam"));
  EXPECT_THROW(m::saliency_registry().build(ct::ConfigNode::parse("{name: rollout, discard_ratio: 1.0}")),
               ct::ConfigError);
}

TEST(AttentionRollout, TokensToSamplesPadsCropsAndSqueezesOneRow) {
  const at::Tensor rel = at::arange(1, 4, at::kFloat).unsqueeze(0);  // (1, 3): one row of 3 patches
  const at::Tensor padded = m::tokens_to_samples(rel, m::TokenLayout{1, 3, 2, 0}, 8);
  EXPECT_TRUE(at::equal(padded, at::tensor({1.f, 1.f, 2.f, 2.f, 3.f, 3.f, 0.f, 0.f}).unsqueeze(0)));
  const at::Tensor cropped = m::tokens_to_samples(rel, m::TokenLayout{1, 3, 2, 0}, 5);
  EXPECT_TRUE(at::equal(cropped, at::tensor({1.f, 1.f, 2.f, 2.f, 3.f}).unsqueeze(0)));
  EXPECT_THROW(m::tokens_to_samples(rel, m::TokenLayout{2, 3, 2, 0}, 8), ct::ShapeError);
  EXPECT_THROW(m::tokens_to_samples(rel, m::TokenLayout{1, 3, 0, 0}, 8), ct::ShapeError);
  const at::Tensor z = m::normalize_per_sample(at::stack({at::zeros({4}), at::tensor({0.f, 2.f, 1.f, 4.f})}));
  EXPECT_TRUE(at::equal(z, at::stack({at::zeros({4}), at::tensor({0.f, 0.5f, 0.25f, 1.f})})));
}

TEST(Capture, SessionsRecordNestAndScope) {
  const at::Tensor a = at::ones({1}), b = at::zeros({1});
  EXPECT_TRUE(m::capture(a, "x").is_same(a));  // no session: nothing happens
  m::CaptureSession outer({"x"});
  m::capture(a, "x");
  m::capture(b, "y");
  EXPECT_TRUE(outer.has("x"));
  EXPECT_FALSE(outer.has("y"));
  EXPECT_EQ(outer.seen(), (std::vector<std::string>{"x", "y"}));
  {
    m::CaptureSession inner;  // records everything, hides the outer session
    {
      m::CaptureScope scope("backbone");
      m::capture(b, "layer4");
      {
        m::CaptureScope deeper("stage");
        m::capture(b, "0");
      }
    }
    m::capture(a, "head");
    EXPECT_EQ(inner.seen(), (std::vector<std::string>{"backbone.layer4", "backbone.stage.0", "head"}));
  }
  m::capture(b, "z");
  EXPECT_EQ(outer.seen().back(), "z");
  EXPECT_THAT(error_of([&] { outer.get("y", "net"); }), ::testing::HasSubstr("offered but not recorded"));
  EXPECT_THAT(error_of([&] { outer.get("w", "net"); }), ::testing::HasSubstr("net has no layer 'w'"));
  outer.clear();
  EXPECT_TRUE(outer.seen().empty());
}
