// The ViT ECG encoder and ECGClassifier: parity with PyTorch (timm 0.6.8 / oetu models_vit
// re-implemented in tests/fixtures/models/make_vit_fixtures.py), key names, shapes, masking
// augmentation, registry presets and errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/models/mae.h"
#include "cardiotorch/models/vit.h"
#include "cardiotorch/weights/loader.h"
#include "cardiotorch/weights/save.h"
#include "models/vit_fixtures.h"
#include "support/test_util.h"

namespace cardiotorch::models {
namespace {

using test::all_close;
using test::expected;

VitOptions fixture_options(const std::string& pool) {
  VitOptions o;
  o.global_pool = pool;
  o.patch_size = {1, test::kFxPatch};
  o.embed_dim = test::kFxDim;
  o.depth = test::kFxDepth;
  o.num_heads = test::kFxHeads;
  o.leads = test::kFxLeads;
  o.samples = test::kFxSamples;
  o.num_classes = test::kFxClasses;
  o.fc_norm_twice = true;  // the reference's forward_head
  return o;
}

std::shared_ptr<VisionTransformerImpl> fixture_vit(const std::string& pool) {
  auto m = std::make_shared<VisionTransformerImpl>(fixture_options(pool));
  test::load_by_name(*m, test::vit_weights());
  m->eval();
  return m;
}

std::set<std::string> state_keys(torch::nn::Module& m) {
  std::set<std::string> out;
  for (const auto& p : m.named_parameters()) out.insert(p.key());
  for (const auto& b : m.named_buffers()) out.insert(b.key());
  return out;
}

const char* const kPools[] = {"cls", "avg", "attention_pool"};

TEST(Vit, ParityWithPyTorchInEveryPoolingMode) {
  const at::Tensor x = test::vit_input();
  for (const std::string pool : kPools) {
    SCOPED_TRACE(pool);
    auto m = fixture_vit(pool);
    at::NoGradGuard no_grad;
    EXPECT_TRUE(all_close(m->forward_features(x), expected(pool + ".features")));
    EXPECT_TRUE(all_close(m->embed(x), expected(pool + ".features")));
    EXPECT_TRUE(all_close(m->forward(x), expected(pool + ".logits")));
    EXPECT_TRUE(all_close(m->forward_localized(x), expected("localized")));
    // timm's layout (B, 1, leads, samples) gives the same.
    EXPECT_TRUE(all_close(m->forward(x.unsqueeze(1)), expected(pool + ".logits")));
  }
}

TEST(Vit, AttentionMapsMatchTheReferenceAndAreDistributions) {
  auto m = fixture_vit("attention_pool");
  at::NoGradGuard no_grad;
  const auto maps = m->attention_maps(test::vit_input());
  ASSERT_EQ(maps.size(), static_cast<size_t>(test::kFxDepth));
  const at::Tensor rows = expected("attn_cls_rows");  // (depth, B, heads, 1 + N): the cls token's row
  for (size_t i = 0; i < maps.size(); ++i) {
    EXPECT_EQ(maps[i].sizes(), (at::IntArrayRef{2, test::kFxHeads, 1 + test::kFxTokens, 1 + test::kFxTokens}));
    EXPECT_TRUE(all_close(maps[i].select(2, 0), rows[static_cast<int64_t>(i)]));
    EXPECT_TRUE(all_close(maps[i].sum(-1), at::ones({2, test::kFxHeads, 1 + test::kFxTokens}), 1e-5));
  }
  const TokenLayout t = m->token_layout();
  EXPECT_EQ(t.rows, 12);
  EXPECT_EQ(t.cols, 10);
  EXPECT_EQ(t.patch_len, test::kFxPatch);
  EXPECT_EQ(t.prefix, 1);
}

TEST(Vit, MaskingAugmentationWithSuppliedNoiseMatchesTheReference) {
  const at::Tensor x = test::vit_input();
  const auto& noise = test::vit_noise();
  for (const std::string pool : kPools) {
    SCOPED_TRACE(pool);
    VitOptions o = fixture_options(pool);
    o.mask_ratio = 0.5;
    auto random = std::make_shared<VisionTransformerImpl>(o);
    test::load_by_name(*random, test::vit_weights());
    random->eval();
    MaskNoise n;
    n.tokens = noise.at("tokens");
    n.leads = noise.at("leads");
    n.times = noise.at("times");
    at::NoGradGuard no_grad;
    EXPECT_TRUE(all_close(random->forward_features_masked(x, n), expected(pool + ".features_random_masked")));
    o.masking_blockwise = true;
    o.mask_c_ratio = 0.25;
    o.mask_t_ratio = 0.3;
    auto block = std::make_shared<VisionTransformerImpl>(o);
    test::load_by_name(*block, test::vit_weights());
    block->eval();
    EXPECT_TRUE(all_close(block->forward_features_masked(x, n), expected(pool + ".features_blockwise_masked")));
  }
}

TEST(Vit, SinCosPositionalEmbeddingMatchesTheMaeTable) {
  VisionTransformerImpl m(fixture_options("cls"));
  // Before any load: the model's own table equals the reference's (numpy, float64 -> float32).
  EXPECT_TRUE(all_close(m.pos_embed, test::vit_weights().at("pos_embed"), 1e-6));
  const at::Tensor pe = sincos_pos_embed_2d(8, 3, 5, true).squeeze(0);  // (16, 8)
  EXPECT_TRUE(at::equal(pe[0], at::zeros({8})));
  // Token (h, w) = 1 + h*5 + w; the first half encodes w (time), the second h (lead).
  for (int64_t h = 0; h < 3; ++h)
    for (int64_t w = 0; w < 5; ++w) {
      const at::Tensor row = pe[1 + h * 5 + w];
      EXPECT_TRUE(at::allclose(row.narrow(0, 0, 4), pe[1 + w].narrow(0, 0, 4)));
      EXPECT_TRUE(at::allclose(row.narrow(0, 4, 4), pe[1 + h * 5].narrow(0, 4, 4)));
      EXPECT_NEAR(row[0].item<double>(), std::sin(w), 1e-6);          // k = 0: ω = 1
      EXPECT_NEAR(row[3].item<double>(), std::cos(w / 100.0), 1e-6);  // k = 1: ω = 1e-2
      EXPECT_NEAR(row[5].item<double>(), std::sin(h / 100.0), 1e-6);
    }
  EXPECT_THROW(sincos_pos_embed_2d(6, 2, 2, true), ConfigError);
}

TEST(Vit, TruncNormalStaysInBoundsWithTheTruncatedStd) {
  at::Tensor t = at::empty({200000});
  trunc_normal_(t, 1.0, -0.5, 0.5);
  EXPECT_LE(t.abs().max().item<double>(), 0.5);
  // N(0, 1) truncated to [-0.5, 0.5]: var = 1 - 2 * 0.5 φ(0.5) / (2 Φ(0.5) - 1) = 0.08056.
  EXPECT_NEAR(t.std().item<double>(), 0.28383, 0.003);
  EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.003);
  EXPECT_THROW(trunc_normal_(t, 1.0, 5.0, 6.0), ConfigError);
}

TEST(Vit, KeyNamesAreTimms) {
  const std::set<std::string> trunk = {"cls_token",
                                       "pos_embed",
                                       "patch_embed.proj.weight",
                                       "patch_embed.proj.bias",
                                       "blocks.0.norm1.weight",
                                       "blocks.0.norm1.bias",
                                       "blocks.0.attn.qkv.weight",
                                       "blocks.0.attn.qkv.bias",
                                       "blocks.0.attn.proj.weight",
                                       "blocks.0.attn.proj.bias",
                                       "blocks.0.norm2.weight",
                                       "blocks.0.norm2.bias",
                                       "blocks.0.mlp.fc1.weight",
                                       "blocks.0.mlp.fc1.bias",
                                       "blocks.0.mlp.fc2.weight",
                                       "blocks.0.mlp.fc2.bias"};
  for (const std::string pool : kPools) {
    SCOPED_TRACE(pool);
    VitOptions o = VitOptions::patchx();
    o.global_pool = pool;
    o.depth = 1;
    o.num_classes = 3;
    VisionTransformerImpl m(o);
    std::set<std::string> want = trunk;
    if (pool == "cls") want.insert({"norm.weight", "norm.bias"});
    else want.insert({"fc_norm.weight", "fc_norm.bias"});
    if (pool == "attention_pool")
      want.insert({"attention_pool.in_proj_weight", "attention_pool.in_proj_bias", "attention_pool.out_proj.weight",
                   "attention_pool.out_proj.bias"});
    want.insert({"head.weight", "head.bias"});
    EXPECT_EQ(state_keys(m), want);
    EXPECT_EQ(m.patch_embed->proj->weight.sizes(), (at::IntArrayRef{384, 1, 1, 100}));
    EXPECT_EQ(m.pos_embed.sizes(), (at::IntArrayRef{1, 301, 384}));
    EXPECT_EQ(m.named_parameters()["blocks.0.attn.qkv.weight"].sizes(), (at::IntArrayRef{1152, 384}));
    EXPECT_EQ(m.named_parameters()["blocks.0.mlp.fc1.weight"].sizes(), (at::IntArrayRef{1536, 384}));
    // Fixed positions are a buffer: saved and loaded by name, never trained.
    EXPECT_EQ(m.named_parameters().find("pos_embed"), nullptr);
    EXPECT_NE(m.named_buffers().find("pos_embed"), nullptr);
  }
}

TEST(Vit, PresetShapesAndParameterCount) {
  ModelContext ctx;
  const ModelPtr m = build_model(ConfigNode::parse("{name: vit_patchx}"), ctx);
  EXPECT_EQ(m->input_shape(), (Shape{-1, 12, 2500}));
  EXPECT_EQ(m->output_shape(Shape{2, 12, 2500}), (Shape{2, 384}));
  EXPECT_EQ(m->output_shape(Shape{-1, 1, 12, 2500}), (Shape{-1, 384}));
  EXPECT_EQ(m->features_shape(Shape{4, 12, -1}), (Shape{4, 384}));
  EXPECT_EQ(m->embed_dim(), 384);
  const TokenLayout t = m->token_layout();
  EXPECT_EQ(t.rows, 12);
  EXPECT_EQ(t.cols, 25);
  EXPECT_EQ(t.patch_len, 100);
  EXPECT_EQ(t.prefix, 1);
  // Per block 12 D² + 13 D; patch 100 D + D; cls D; fc_norm 2 D; attention pool 4 D² + 4 D.
  const int64_t D = 384, blocks = 3 * (12 * D * D + 13 * D);
  EXPECT_EQ(count_parameters(*m), blocks + 101 * D + D + 2 * D + 4 * D * D + 4 * D);
  EXPECT_THROW(m->output_shape(Shape{2, 12, 5000}), ShapeError);

  m->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 12, 2500});
  EXPECT_EQ(m->forward(x).sizes(), (at::IntArrayRef{2, 384}));
  EXPECT_EQ(m->forward_localized(x).sizes(), (at::IntArrayRef{2, 300, 384}));
  const auto maps = m->attention_maps(x.narrow(0, 0, 1));
  ASSERT_EQ(maps.size(), 3u);
  EXPECT_EQ(maps.back().sizes(), (at::IntArrayRef{1, 6, 301, 301}));
}

TEST(Vit, SizePresetsResolveWithoutBuilding) {
  struct P {
    const char* name;
    int64_t d, depth, heads;
  } presets[] = {{"vit_pluto_patchx", 256, 2, 8},    {"vit_tiny_patchx", 384, 3, 6},   {"vit_small_patchx", 512, 4, 8},
                 {"vit_medium_patchx", 640, 6, 8},   {"vit_big_patchx", 768, 8, 8},    {"vit_base_patchx", 768, 12, 12},
                 {"vit_large_patchx", 1024, 24, 16}, {"vit_huge_patchx", 1280, 32, 16}};
  for (const auto& p : presets) {
    SCOPED_TRACE(p.name);
    const ConfigNode n = backbone_registry().resolve(ConfigNode::parse(std::string("{name: ") + p.name + "}"));
    EXPECT_EQ(n["embed_dim"].as_int(), p.d);
    EXPECT_EQ(n["depth"].as_int(), p.depth);
    EXPECT_EQ(n["num_heads"].as_int(), p.heads);
    EXPECT_EQ(n["samples"].as_int(), 2500);
  }
  // The small ones build and give their shapes.
  const ModelPtr pluto = build_model(ConfigNode::parse("{name: vit_pluto_patchx, global_pool: avg}"), ModelContext{});
  EXPECT_EQ(pluto->output_shape(Shape{3, 12, 2500}), (Shape{3, 256}));
  EXPECT_EQ(pluto->stage_shapes(Shape{3, 12, 2500}).front().second, (Shape{3, 300, 256}));
}

TEST(Vit, EcgClassifierHasAHeadFromTheContextAndTrainsItsPositions) {
  ModelContext ctx;
  ctx.num_classes = 7;
  const ModelPtr m = build_model(ConfigNode::parse("{name: ecg_classifier}"), ctx);
  auto* vit = dynamic_cast<VisionTransformerImpl*>(m.get());
  ASSERT_NE(vit, nullptr);
  EXPECT_EQ(m->output_shape(Shape{2, 12, 2500}), (Shape{2, 7}));
  EXPECT_EQ(m->features_shape(Shape{2, 12, 2500}), (Shape{2, 384}));
  EXPECT_NE(m->named_parameters().find("pos_embed"), nullptr);
  EXPECT_NE(m->named_parameters().find("head.weight"), nullptr);
  EXPECT_TRUE(vit->options().fc_norm_twice);
  // Stochastic depth rising linearly to 0.1 at the last block.
  EXPECT_DOUBLE_EQ(vit->blocks[0]->as<TransformerBlockImpl>()->options.drop_path, 0.0);
  EXPECT_NEAR(vit->blocks[2]->as<TransformerBlockImpl>()->options.drop_path, 0.1, 1e-7);
  // Head: trunc-normal std 0.01 (|w| <= 2 absolute bound never reached), zero bias.
  const at::Tensor w = vit->head->weight;
  EXPECT_NEAR(w.std().item<double>(), 0.01, 0.002);
  EXPECT_TRUE(at::equal(vit->head->bias, at::zeros({7})));
  // The option is used when the context has no class count.
  const ModelPtr m2 = build_model(ConfigNode::parse("{name: ecg_classifier, num_classes: 3}"), ModelContext{});
  EXPECT_EQ(m2->output_shape(Shape{1, 12, 2500}), (Shape{1, 3}));
}

TEST(Vit, MaeEncoderKeysLoadIntoTheClsEncoder) {
  // A MAE checkpoint's encoder (keys minus decoder*/mask_token) is exactly the cls-pooling ViT.
  VitOptions o = fixture_options("cls");
  o.num_classes = 0;
  VisionTransformerImpl m(o);
  std::set<std::string> mae_encoder;
  for (const auto& kv : test::vit_weights()) {
    const std::string& k = kv.first;
    if (k.rfind("decoder", 0) == 0 || k == "mask_token" || k.rfind("fc_norm", 0) == 0 ||
        k.rfind("attention_pool", 0) == 0 || k.rfind("head", 0) == 0)
      continue;
    mae_encoder.insert(k);
  }
  EXPECT_EQ(state_keys(m), mae_encoder);
}

TEST(Vit, OetuTrainingCheckpointLoadsThroughTheMatcher) {
  // The weights helper's fixture: {'model': state_dict, 'optimizer', 'args': Namespace, 'scaler'}
  // as oetu/mae saves it, of a timm-named ViT (width 8, 2 blocks, 2 heads, MLP 16, (1, 10) patches
  // of (2, 40), cls pooling, 3 classes; its pos_embed is random, not sin-cos).
  VitOptions o;
  o.global_pool = "cls";
  o.patch_size = {10};
  o.embed_dim = 8;
  o.depth = 2;
  o.num_heads = 2;
  o.mlp_ratio = 2;
  o.leads = 2;
  o.samples = 40;
  o.num_classes = 3;
  o.load_head = true;
  const auto fixture = [](const std::string& f) { return test::source_path("tests/fixtures/weights/" + f); };
  VisionTransformerImpl m(o);
  const weights::LoadReport r = weights::load_into(m, fixture("vit_mae_train.pth"), {}, m.weight_rules());
  EXPECT_EQ(r.key, "model");
  EXPECT_EQ(r.matched, r.total);
  EXPECT_TRUE(r.unexpected.empty()) << r.to_string();
  m.eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = io::read_npy(fixture("vit_input.npy"));  // (2, 1, 2, 40)
  EXPECT_TRUE(all_close(m.forward(x), io::read_npy(fixture("vit_output.npy"))));
  EXPECT_TRUE(all_close(m.forward_features(x), io::read_npy(fixture("vit_features.npy"))));
  // As an encoder (the default) the head is not loaded and says so.
  o.load_head = false;
  VisionTransformerImpl e(o);
  const weights::LoadReport re = weights::load_into(e, fixture("vit_mae_train.pth"), {}, e.weight_rules());
  EXPECT_EQ(re.skipped_target.size(), 2u);
  EXPECT_EQ(re.matched, re.total);
  e.eval();
  EXPECT_TRUE(all_close(e.forward_features(x), io::read_npy(fixture("vit_features.npy"))));
}

TEST(Vit, MaeCheckpointLoadsIntoTheEncoderByName) {
  // A whole MAE state_dict (decoder, mask token and all) -> the cls-pooling encoder: every encoder
  // tensor found, the MAE-only keys expected and unused; the cls feature is the MAE's latent cls token.
  MaskedAutoencoderViTImpl mae(test::fixture_mae_options());
  test::load_by_name(mae, test::vit_weights());
  const std::string path = test::make_temp_dir("vit_mae_ckpt") + "/mae.safetensors";
  weights::save_safetensors(path, weights::module_state_dict(mae));
  VitOptions o = fixture_options("cls");
  o.num_classes = 0;
  VisionTransformerImpl enc(o);
  const weights::LoadReport r = weights::load_into(enc, path, {}, enc.weight_rules());
  EXPECT_EQ(r.matched, r.total);
  EXPECT_TRUE(r.unexpected.empty()) << r.to_string();
  EXPECT_GT(r.skipped_source, 0);
  mae.eval();
  enc.eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = test::vit_input();
  EXPECT_TRUE(all_close(enc.forward_features(x), mae.forward_features(x).select(1, 0)));
}

TEST(Vit, MaskingAugmentationOnlyInTrainingAndSeeded) {
  VitOptions o = fixture_options("avg");
  o.mask_ratio = 0.75;
  o.mask_seed = 11;
  auto a = std::make_shared<VisionTransformerImpl>(o);
  auto b = std::make_shared<VisionTransformerImpl>(o);
  test::load_by_name(*a, test::vit_weights());
  test::load_by_name(*b, test::vit_weights());
  const at::Tensor x = test::vit_input();
  at::NoGradGuard no_grad;
  a->train();
  b->train();
  const at::Tensor fa = a->forward_features(x), fb = b->forward_features(x);
  EXPECT_TRUE(at::equal(fa, fb)) << "same mask_seed, same masks";
  EXPECT_FALSE(at::equal(fa, a->forward_features(x))) << "the generator advances";
  // int(120 * 0.25) = 30 tokens survive.
  EXPECT_EQ(a->forward_localized(x).size(1), 30);
  b->set_generator(make_cpu_generator(12));
  EXPECT_FALSE(at::equal(a->forward_features(x), b->forward_features(x)));
  // Eval: no masking (the reference masks in eval too; we deliberately do not).
  a->eval();
  EXPECT_EQ(a->forward_localized(x).size(1), test::kFxTokens);
  EXPECT_TRUE(all_close(a->forward_features(x), expected("avg.features")));
  // Blockwise: int(12 * 0.5) leads x int(10 * 0.8) time patches.
  o.masking_blockwise = true;
  o.mask_c_ratio = 0.5;
  o.mask_t_ratio = 0.2;
  VisionTransformerImpl c(o);
  c.train();
  EXPECT_EQ(c.forward_localized(x).size(1), 6 * 8);
}

TEST(Vit, TrainingGradientsAreFiniteAndEvalIsDeterministic) {
  VitOptions o = fixture_options("attention_pool");
  o.drop_path_rate = 0.2;
  o.drop_rate = 0.1;
  VisionTransformerImpl m(o);
  const at::Tensor x = test::vit_input();
  m.train();
  m.forward(x).pow(2).sum().backward();
  for (const auto& p : m.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(at::isfinite(p.value().grad()).all().item<bool>()) << p.key();
  }
  m.eval();
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(m.forward(x), m.forward(x)));
}

TEST(Vit, BadInputsAndOptionsAreClearErrors) {
  ModelContext ctx;
  const ModelPtr m = build_model(ConfigNode::parse("{name: vit_patchx}"), ctx);
  try {
    m->forward(at::zeros({1, 12, 5000}));
    FAIL() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("(B, 12, 2500)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m->forward(at::zeros({1, 2, 12, 2500})), ShapeError);
  // Explicit sizes must agree with the data.
  ModelContext longer;
  longer.seq_len = 5000;
  try {
    build_model(ConfigNode::parse("{name: vit_patchx}"), longer);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("samples is 2500 but the input has 5000"), std::string::npos) << e.what();
  }
  // samples: 0 follows the data; the (B, 1, H, W) context is timm's layout.
  const ModelPtr follow = build_model(ConfigNode::parse("{name: vit_patchx, samples: 0}"), longer);
  EXPECT_EQ(follow->token_layout().cols, 50);
  ModelContext image;
  image.in_channels = 1;
  image.image_size = {12, 1000};
  const ModelPtr img = build_model(ConfigNode::parse("{name: vit_patchx, samples: 0}"), image);
  EXPECT_EQ(img->input_shape(), (Shape{-1, 12, 1000}));
  EXPECT_THROW(build_model(ConfigNode::parse("{name: vit_patchx, samples: 0}"), ModelContext{}), ConfigError);
  EXPECT_THROW(build_model(ConfigNode::parse("{name: vit_patchx, samples: 2550}"), ModelContext{}), ConfigError);
  try {
    backbone_registry().resolve(ConfigNode::parse("{name: vit_patchx, global_pool: atention_pool}"));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("attention_pool"), std::string::npos) << e.what();
  }
  EXPECT_THROW(backbone_registry().resolve(ConfigNode::parse("{name: vit_patchx, num_heads: 5}")), ConfigError);
  EXPECT_THROW(backbone_registry().resolve(ConfigNode::parse("{name: vit_patchx, mask_ratio: 1.0}")), ConfigError);
  EXPECT_THROW(backbone_registry().resolve(ConfigNode::parse("{name: vit_patchx, patch_size: [1, 2, 3]}")),
               ConfigError);
}

TEST(VitCli, ForwardAndModelInfo) {
  // Three CLI processes (each pays LibTorch's start-up): localized tokens, model-info, a refusal.
  const std::string dir = test::make_temp_dir("vit_cli");
  io::write_npy(dir + "/x.npy", at::randn({1, 12, 2500}));
  std::string out;
  ASSERT_EQ(test::run_cli("forward --model vit_patchx --set global_pool=cls --localized --input " + dir + "/x.npy -o " +
                              dir + "/t.npy",
                          &out),
            0)
      << out;
  EXPECT_EQ(io::read_npy(dir + "/t.npy").sizes(), (at::IntArrayRef{1, 300, 384}));
  ASSERT_EQ(test::run_cli("model-info vit_patchx", &out), 0) << out;
  EXPECT_NE(out.find("300 tokens"), std::string::npos) << out;
  EXPECT_NE(out.find("(2, 12, 2500)"), std::string::npos) << out;
  EXPECT_NE(out.find("blocks.2"), std::string::npos) << out;
  // A 5000-sample input is refused with the fix in the message.
  io::write_npy(dir + "/long.npy", at::randn({1, 12, 5000}));
  EXPECT_EQ(test::run_cli("forward --model vit_patchx --input " + dir + "/long.npy -o " + dir + "/z.npy", &out), 2);
  EXPECT_NE(out.find("samples is 2500 but the input has 5000"), std::string::npos) << out;
}

}  // namespace
}  // namespace cardiotorch::models
