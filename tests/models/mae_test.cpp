// MAE-ECG: parity of reconstruction, mask and losses with oetu/mae models_mae (re-implemented in
// tests/fixtures/models/make_vit_fixtures.py, PyTorch 1.13) under supplied noise; masking
// invariants; NCC; patchify; presets and parameter counts.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/models/mae.h"
#include "models/vit_fixtures.h"

namespace cardiotorch::models {
namespace {

using test::all_close;
using test::expected;

std::shared_ptr<MaskedAutoencoderViTImpl> fixture_mae(const MaeOptions& o = test::fixture_mae_options()) {
  auto m = std::make_shared<MaskedAutoencoderViTImpl>(o);
  test::load_by_name(*m, test::vit_weights());
  m->eval();
  return m;
}

at::Tensor fixture_noise() { return test::vit_noise().at("tokens"); }

TEST(Mae, AnchorLossParityAtRatio08WithSuppliedNoise) {
  auto m = fixture_mae();
  at::NoGradGuard no_grad;
  const MaeOutput out = m->forward_mae(test::vit_input(), 0.8, fixture_noise());
  EXPECT_TRUE(all_close(out.pred, expected("mae.r08.pred")));
  EXPECT_TRUE(at::equal(out.mask, expected("mae.r08.mask")));
  EXPECT_TRUE(at::equal(out.ids_restore, expected("mae.r08.ids_restore")));
  EXPECT_TRUE(all_close(out.loss.reshape({1}), expected("mae.r08.loss_anchor")));
  EXPECT_TRUE(all_close(out.mse.reshape({1}), expected("mae.r08.mse")));
  EXPECT_TRUE(all_close(out.ncc.reshape({1}), expected("mae.r08.ncc")));
  EXPECT_TRUE(all_close(out.masked_mse.reshape({1}), expected("mae.r08.loss_masked")));
  // The anchor's weighting, recomputed.
  EXPECT_NEAR(out.loss.item<double>(), 0.9 * out.mse.item<double>() + 0.1 * (1 - out.ncc.item<double>()), 1e-6);
}

TEST(Mae, ParityAtRatio0AndTheFullTokenForward) {
  auto m = fixture_mae();
  at::NoGradGuard no_grad;
  const at::Tensor x = test::vit_input();
  const MaeOutput out = m->forward_mae(x, 0.0, fixture_noise());
  EXPECT_TRUE(all_close(out.pred, expected("mae.r0.pred")));
  EXPECT_TRUE(at::equal(out.mask, at::zeros({2, test::kFxTokens})));
  EXPECT_TRUE(all_close(out.loss.reshape({1}), expected("mae.r0.loss_anchor")));
  EXPECT_TRUE(all_close(out.mse.reshape({1}), expected("mae.r0.mse")));
  EXPECT_TRUE(all_close(out.ncc.reshape({1}), expected("mae.r0.ncc")));
  // Ratio 0 without noise: no shuffle, same reconstruction as the eval forward and the encoder
  // of all patches (the reference's forward_encoder_all_patches).
  const MaeOutput plain = m->forward_mae(x, 0.0);
  EXPECT_TRUE(all_close(plain.pred, out.pred));
  EXPECT_TRUE(at::equal(plain.ids_restore, at::arange(test::kFxTokens).expand({2, test::kFxTokens})));
  EXPECT_TRUE(all_close(m->forward(x), out.pred));
  EXPECT_TRUE(all_close(m->forward_features(x), expected("mae.latent")));
  EXPECT_TRUE(all_close(m->embed(x), expected("mae.latent").narrow(1, 1, test::kFxTokens).mean(1)));
}

TEST(Mae, MaskedLossModeWithAndWithoutNormPix) {
  MaeOptions o = test::fixture_mae_options();
  o.loss_mode = "masked";
  at::NoGradGuard no_grad;
  const MaeOutput plain = fixture_mae(o)->forward_mae(test::vit_input(), 0.8, fixture_noise());
  EXPECT_TRUE(all_close(plain.loss.reshape({1}), expected("mae.r08.loss_masked")));
  o.norm_pix_loss = true;
  const MaeOutput np = fixture_mae(o)->forward_mae(test::vit_input(), 0.8, fixture_noise());
  EXPECT_TRUE(all_close(np.loss.reshape({1}), expected("mae.r08.loss_masked_norm_pix")));
  EXPECT_TRUE(all_close(np.mse.reshape({1}), expected("mae.r08.mse_norm_pix")));
  // The NCC is of the raw signal, whatever the target normalisation.
  EXPECT_TRUE(all_close(np.ncc.reshape({1}), expected("mae.r08.ncc")));
  // Nothing masked: the masked loss is undefined, so it is refused.
  EXPECT_THROW(fixture_mae(o)->forward_mae(test::vit_input(), 0.0), ConfigError);
}

TEST(Mae, MaskingInvariants) {
  // 300 tokens at 0.8: int(300 * (1 - 0.8)) = int(59.999...) = 59 visible, as in Python.
  EXPECT_EQ(masking_keep_count(300, 0.8), 59);
  EXPECT_EQ(masking_keep_count(300, 0.75), 75);
  EXPECT_EQ(masking_keep_count(120, 0.8), 23);
  const at::Tensor x = at::randn({3, 50, 4});
  const at::Tensor noise = at::rand({3, 50});
  const TokenMasking m = random_masking(x, 0.6, noise);
  EXPECT_EQ(m.x.sizes(), (at::IntArrayRef{3, 20, 4}));
  EXPECT_TRUE(at::equal(m.mask.sum(1), at::full({3}, 30.0)));
  // ids_restore inverts the shuffle: shuffle[ids_restore] = identity.
  const at::Tensor shuffle = at::argsort(noise, static_cast<int64_t>(1), false);
  EXPECT_TRUE(at::equal(at::gather(shuffle, 1, m.ids_restore), at::arange(50).expand({3, 50})));
  // Kept tokens are the ones with the smallest noise, unmasked, in noise order.
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t i = 0; i < 20; ++i) {
      const int64_t id = m.ids_keep[b][i].item<int64_t>();
      EXPECT_EQ(m.mask[b][id].item<float>(), 0.0f);
      EXPECT_TRUE(at::equal(m.x[b][i], x[b][id]));
    }
  EXPECT_THROW(random_masking(x, 0.6, at::rand({3, 49})), ShapeError);
  EXPECT_THROW(random_masking(x, 0.99, noise), ConfigError);  // keeps no token
}

TEST(Mae, ForwardMaeShapesAtTheSeedSize) {
  const ModelPtr base = build_model(ConfigNode::parse("{name: mae_vit_patchx}"), ModelContext{});
  auto* m = dynamic_cast<MaskedAutoencoderViTImpl*>(base.get());
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->output_shape(Shape{2, 12, 2500}), (Shape{2, 300, 100}));
  EXPECT_EQ(m->features_shape(Shape{2, 1, 12, 2500}), (Shape{2, 301, 384}));
  EXPECT_EQ(m->input_shape(), (Shape{-1, 12, 2500}));
  // Trainable parameters as the reference counts them: encoder 5.36 M, decoder 1.70 M.
  int64_t encoder = 0, decoder = 0;
  for (const auto& p : m->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    const bool dec = p.key().rfind("decoder", 0) == 0 || p.key() == "mask_token";
    (dec ? decoder : encoder) += p.value().numel();
  }
  EXPECT_EQ(encoder, 5363328);
  EXPECT_EQ(decoder, 1704548);
  EXPECT_EQ(m->named_buffers().size(), 2u);  // pos_embed, decoder_pos_embed
  m->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 12, 2500});
  const MaeOutput out = m->forward_mae(x);
  EXPECT_EQ(out.pred.sizes(), (at::IntArrayRef{2, 300, 100}));
  EXPECT_TRUE(at::equal(out.mask.sum(1), at::full({2}, 241.0)));
  EXPECT_EQ(out.loss.dim(), 0);
  EXPECT_TRUE(std::isfinite(out.loss.item<double>()));
}

TEST(Mae, GeneratorMakesTrainingMasksReproducible) {
  MaeOptions o = test::fixture_mae_options();
  o.mask_seed = 5;
  auto a = fixture_mae(o), b = fixture_mae(o);
  const at::Tensor x = test::vit_input();
  at::NoGradGuard no_grad;
  a->train();
  b->train();
  const at::Tensor pa = a->forward(x), pb = b->forward(x);
  EXPECT_TRUE(at::equal(pa, pb)) << "same mask_seed, same masks";
  const MaeOutput oa = a->forward_mae(x), ob = b->forward_mae(x);
  EXPECT_TRUE(at::equal(oa.mask, ob.mask));
  EXPECT_FALSE(at::equal(oa.pred, pa)) << "the generator advances";
  // 120 tokens at 0.8: int(23.99...) = 23 visible.
  EXPECT_TRUE(at::equal(oa.mask.sum(1), at::full({2}, 97.0)));
  // Eval: the full-token reconstruction, identical on every call.
  a->eval();
  EXPECT_TRUE(at::equal(a->forward(x), a->forward(x)));
}

TEST(Mae, GradientsReachEveryTrainableParameter) {
  auto m = fixture_mae();
  m->train();
  const MaeOutput out = m->forward_mae(test::vit_input(), 0.8, fixture_noise());
  out.loss.backward();
  for (const auto& p : m->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(at::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(Mae, PatchifyIsLeadMajorAndInvertible) {
  MaeOptions o = test::fixture_mae_options();
  MaskedAutoencoderViTImpl m(o);
  const at::Tensor x = at::randn({2, 12, 250});
  const at::Tensor p = m.patchify(x);
  EXPECT_EQ(p.sizes(), (at::IntArrayRef{2, 120, 25}));
  // Patch (lead h, time w) = token h * 10 + w = samples [25 w, 25 w + 25) of lead h.
  EXPECT_TRUE(at::equal(p[1][3 * 10 + 7], x[1][3].narrow(0, 175, 25)));
  EXPECT_TRUE(at::equal(m.unpatchify(p), x.unsqueeze(1)));
  // (2, 25) patches: values row-major over (lead, sample) inside the patch.
  o.patch_size = {2, 25};
  MaskedAutoencoderViTImpl m2(o);
  const at::Tensor p2 = m2.patchify(x);
  EXPECT_EQ(p2.sizes(), (at::IntArrayRef{2, 60, 50}));
  EXPECT_TRUE(at::equal(p2[0][1 * 10 + 2].narrow(0, 25, 25), x[0][3].narrow(0, 50, 25)));
  EXPECT_TRUE(at::equal(m2.unpatchify(p2), x.unsqueeze(1)));
  EXPECT_EQ(m2.output_shape(Shape{1, 12, 250}), (Shape{1, 60, 50}));
}

TEST(Mae, NormalizedCrossCorrelation) {
  const at::Tensor x = at::randn({2, 1, 3, 100}, at::kDouble);
  EXPECT_NEAR(normalized_cross_correlation(x, 3 * x + 2).item<double>(), 1.0, 1e-9);
  EXPECT_NEAR(normalized_cross_correlation(x, -x).item<double>(), -1.0, 1e-9);
  // Against the definition, signal by signal.
  const at::Tensor y = at::randn({2, 1, 3, 100}, at::kDouble);
  double sum = 0;
  for (int64_t i = 0; i < 6; ++i) {
    const at::Tensor a = x.reshape({6, 100})[i], b = y.reshape({6, 100})[i];
    const at::Tensor za = (a - a.mean()) / a.std(), zb = (b - b.mean()) / b.std();
    sum += (za * zb).sum().item<double>() / 99.0;
  }
  EXPECT_NEAR(normalized_cross_correlation(x, y).item<double>(), sum / 6.0, 1e-9);
  EXPECT_THROW(normalized_cross_correlation(x, y.narrow(3, 0, 50)), ShapeError);
}

TEST(Mae, PresetsAndOptionErrors) {
  struct P {
    const char* name;
    int64_t d, depth, heads, dd, ddepth, dheads;
  } presets[] = {{"mae_vit_pluto_patchx_dec160d1b", 256, 2, 8, 160, 1, 8},
                 {"mae_vit_tiny_patchx_dec256d2b", 384, 3, 6, 256, 2, 8},
                 {"mae_vit_small_patchx_dec256d2b", 512, 4, 8, 256, 2, 8},
                 {"mae_vit_medium_patchx_dec256d2b", 640, 6, 8, 256, 2, 8},
                 {"mae_vit_big_patchx_dec256d4b", 768, 8, 8, 256, 4, 8},
                 {"mae_vit_base_patchx_dec512d8b", 768, 12, 12, 512, 8, 16},
                 {"mae_vit_large_patchx_dec512d8b", 1024, 24, 16, 512, 8, 16},
                 {"mae_vit_huge_patchx_dec512d8b", 1280, 32, 16, 512, 8, 16}};
  for (const auto& p : presets) {
    SCOPED_TRACE(p.name);
    const ConfigNode n = model_registry().resolve(ConfigNode::parse(std::string("{name: ") + p.name + "}"));
    EXPECT_EQ(n["embed_dim"].as_int(), p.d);
    EXPECT_EQ(n["depth"].as_int(), p.depth);
    EXPECT_EQ(n["num_heads"].as_int(), p.heads);
    EXPECT_EQ(n["decoder_embed_dim"].as_int(), p.dd);
    EXPECT_EQ(n["decoder_depth"].as_int(), p.ddepth);
    EXPECT_EQ(n["decoder_num_heads"].as_int(), p.dheads);
    EXPECT_EQ(n["mask_ratio"].as_double(), 0.8);
    EXPECT_EQ(n["ncc_weight"].as_double(), 0.1);
    EXPECT_EQ(n["loss_mode"].as_string(), "anchor");
    EXPECT_FALSE(n["norm_pix_loss"].as_bool());
  }
  EXPECT_THROW(model_registry().resolve(ConfigNode::parse("{name: mae_vit_patchx, loss_mode: maskd}")), ConfigError);
  EXPECT_THROW(model_registry().resolve(ConfigNode::parse("{name: mae_vit_patchx, decoder_num_heads: 6}")),
               ConfigError);
  EXPECT_THROW(model_registry().resolve(ConfigNode::parse("{name: mae_vit_patchx, ncc_weight: 1.5}")), ConfigError);
  auto m = fixture_mae();
  EXPECT_THROW(m->forward_mae(test::vit_input(), 1.0), ConfigError);
  EXPECT_THROW(m->forward_mae(test::vit_input().narrow(2, 0, 200), 0.5), ShapeError);
}

}  // namespace
}  // namespace cardiotorch::models
