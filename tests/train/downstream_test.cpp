// Fine-tuning modes: an encoder with a new head (pooled and per position), the linear probe
// (frozen encoder kept in eval mode, BatchNorm(affine=False) + Linear head), partial
// unfreezing of the last blocks, and class-balanced sampling.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "cardiotorch/core/runtime.h"
#include "cardiotorch/data/sampling.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/train/downstream.h"
#include "cardiotorch/train/optim.h"
#include "cardiotorch/weights/loader.h"
#include "cardiotorch/weights/save.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace tr = cardiotorch::train;

namespace {

ct::models::ModelPtr small_cnn() {
  ct::models::ModelContext c;
  c.in_channels = 2;
  c.fs = 100;
  return ct::models::build_model(
      ct::ConfigNode::parse("{name: plain_cnn, channels: [4, 8], kernels: [3, 3], base_fs: 100}"), c);
}

std::map<std::string, at::Tensor> snapshot(const torch::nn::Module& m) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().detach().clone();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value().detach().clone();
  return out;
}

}  // namespace

TEST(Downstream, PooledAndLocalizedHeads) {
  tr::DownstreamOptions o;
  o.outputs = 3;
  auto pooled = std::make_shared<tr::DownstreamModelImpl>(small_cnn(), o);
  const at::Tensor x = at::randn({5, 2, 32});
  EXPECT_EQ(pooled->forward(x).sizes(), (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(pooled->output_shape({5, 2, 32}), (ct::models::Shape{5, 3}));
  std::set<std::string> names;
  for (const auto& p : pooled->named_parameters()) names.insert(p.key());
  EXPECT_TRUE(names.count("head.weight") && names.count("encoder.blocks.0.conv.weight")) << *names.begin();
  o.localized = true;
  auto seg = std::make_shared<tr::DownstreamModelImpl>(small_cnn(), o);
  EXPECT_EQ(seg->forward(x).sizes(), (std::vector<int64_t>{5, 3, 16}));  // one max-pool of 2
  EXPECT_EQ(seg->output_shape({5, 2, 32}), (ct::models::Shape{5, 3, 16}));
  // Layer ids come from the encoder's blocks; the head is on top.
  EXPECT_EQ(seg->num_layers(), 3);
  EXPECT_EQ(seg->layer_id("encoder.blocks.0.conv.weight"), 1);
  EXPECT_EQ(seg->layer_id("head.weight"), 3);
}

TEST(Downstream, LinearProbeTrainsOnlyTheHeadAndKeepsEncoderStatistics) {
  tr::DownstreamOptions o;
  o.outputs = 2;
  o.probe = true;
  auto m = std::make_shared<tr::DownstreamModelImpl>(small_cnn(), o);
  m->freeze_encoder();
  m->train();
  EXPECT_FALSE(m->encoder().is_training());
  std::set<std::string> trainable;
  for (const auto& p : tr::trainable_parameters(*m)) trainable.insert(p.name);
  EXPECT_EQ(trainable, (std::set<std::string>{"head.1.weight", "head.1.bias"}));  // BatchNorm(affine=False) has none
  const auto before = snapshot(m->encoder());
  tr::OptimizerContext c;
  c.params = tr::trainable_parameters(*m);
  auto opt = tr::optimizer_registry().build(ct::ConfigNode::parse("{name: sgd, lr: 0.5}"), c);
  for (int i = 0; i < 3; ++i) {
    opt->zero_grad();
    m->forward(at::randn({8, 2, 32})).pow(2).mean().backward();
    opt->step();
  }
  for (const auto& [k, t] : snapshot(m->encoder())) EXPECT_TRUE(at::equal(t, before.at(k))) << k;
  // The probe's BatchNorm does track its statistics.
  bool moved = false;
  for (const auto& b : m->named_buffers())
    if (b.key() == "head.0.running_var") moved = !at::allclose(b.value(), at::ones_like(b.value()));
  EXPECT_TRUE(moved);
}

TEST(Downstream, PartialUnfreezingOfTheLastBlocks) {
  // plain_cnn with 3 blocks: L = 4; the last block (id 3) and the head (id 4) train.
  ct::models::ModelContext c;
  c.in_channels = 2;
  c.fs = 100;
  auto enc = ct::models::build_model(
      ct::ConfigNode::parse("{name: plain_cnn, channels: [4, 4, 8], kernels: [3, 3, 3], base_fs: 100}"), c);
  tr::DownstreamOptions o;
  o.outputs = 2;
  auto m = std::make_shared<tr::DownstreamModelImpl>(enc, o);
  EXPECT_GT(tr::freeze_below_last_layers(*m, 1), 0);
  std::set<std::string> trainable;
  for (const auto& p : tr::trainable_parameters(*m)) trainable.insert(p.name);
  EXPECT_TRUE(trainable.count("encoder.blocks.2.conv.weight"));
  EXPECT_TRUE(trainable.count("head.weight"));
  EXPECT_FALSE(trainable.count("encoder.blocks.1.conv.weight"));
  EXPECT_FALSE(trainable.count("encoder.blocks.0.bn.weight"));
  // A model without blocks cannot be unfrozen from the top.
  struct Flat : torch::nn::Module {
    Flat() { register_parameter("w", at::zeros({2})); }
  } flat;
  EXPECT_THROW(tr::freeze_below_last_layers(flat, 1), ct::ConfigError);
}

TEST(Sampling, ClassBalancedDrawIsBalancedAndDeterministic) {
  ct::data::DatasetInfo info;
  info.class_names = {"common", "rare"};
  info.label_kind = ct::data::LabelKind::kClassIndex;
  std::vector<ct::data::Sample> samples(1000);
  std::vector<ct::data::ItemInfo> items(1000);
  for (int64_t i = 0; i < 1000; ++i) {
    items[i].record_id = std::to_string(i);
    items[i].classes = {i % 50 == 0 ? 1 : 0};  // 20 rare of 1000
    samples[i].signal = at::zeros({1, 4});
  }
  ct::data::InMemoryDataset ds(info, samples, items);
  std::vector<int64_t> all(1000);
  for (int64_t i = 0; i < 1000; ++i) all[i] = i;
  const auto a = ct::data::class_balanced_draw(ds, all, 7, 3);
  EXPECT_EQ(a, ct::data::class_balanced_draw(ds, all, 7, 3));
  EXPECT_NE(a, ct::data::class_balanced_draw(ds, all, 7, 4));
  ASSERT_EQ(a.size(), 1000u);
  int64_t rare = 0;
  for (int64_t i : a) rare += i % 50 == 0;
  EXPECT_NEAR(static_cast<double>(rare) / 1000.0, 0.5, 0.06);
}

TEST(Downstream, EcgClassifierInitialisedFromAnMaeCheckpoint) {
  // What configs/finetune/ptbxl_vit_mae.yaml relies on: an MAE pre-training state_dict (encoder,
  // decoder, mask_token) loads into the attention-pooling classifier by name; the decoder is
  // expected and unused, and the pool, fc_norm and head the MAE lacks are skipped by the
  // config's init.skip globs, so every other tensor must load (the default threshold stands).
  const std::string dims = "patch_size: [1, 25], embed_dim: 32, depth: 2, num_heads: 4, leads: 3, samples: 250";
  ct::models::ModelContext c;
  c.in_channels = 3;
  c.seq_len = 250;
  auto mae =
      ct::models::build_model(ct::ConfigNode::parse("{name: mae_vit_patchx, " + dims +
                                                    ", decoder_embed_dim: 16, decoder_depth: 1, decoder_num_heads: 4}"),
                              c);
  const std::string path = ct::test::make_temp_dir("mae_init") + "/mae.safetensors";
  ct::weights::save_safetensors(path, ct::weights::module_state_dict(*mae));
  c.num_classes = 5;
  const auto classifier = [&] {
    return ct::models::build_model(
        ct::ConfigNode::parse("{name: ecg_classifier, global_pool: attention_pool, " + dims + "}"), c);
  };
  auto clf = classifier();
  ct::weights::LoadOptions o;
  o.path = path;
  o.skip = {"fc_norm.*", "attention_pool.*", "head.*"};
  // As finetune's --init calls it: with the model's own rules (decoder*, mask_token expected).
  const ct::weights::LoadReport rep = ct::weights::load_into(*clf, o, clf->weight_rules());
  EXPECT_TRUE(rep.applied) << rep.to_string();
  EXPECT_EQ(rep.matched, rep.total) << rep.to_string();
  EXPECT_TRUE(rep.missing.empty() && rep.mismatched.empty()) << rep.to_string();
  EXPECT_EQ(rep.skipped_target.size(), 8u) << rep.to_string();  // fc_norm 2, attention_pool 4, head 2
  // decoder* and mask_token are expected; the MAE's final norm has no counterpart under
  // attention pooling (fc_norm instead), so it is the only unexpected key.
  EXPECT_GT(rep.skipped_source, 0) << rep.to_string();
  EXPECT_EQ(rep.unexpected, (std::vector<std::string>{"norm.weight", "norm.bias"})) << rep.to_string();
  // The encoder's tensors are the MAE's, bit for bit.
  const auto src = snapshot(*mae), dst = snapshot(*clf);
  for (const char* k : {"patch_embed.proj.weight", "blocks.1.mlp.fc2.weight", "blocks.0.norm2.weight", "cls_token"})
    EXPECT_TRUE(at::equal(src.at(k), dst.at(k))) << k;
  // Without the skips the load is refused: 8 of 36 tensors would silently stay new.
  o.skip.clear();
  auto fresh = classifier();
  EXPECT_ANY_THROW(ct::weights::load_into(*fresh, o, fresh->weight_rules()));
}
