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

namespace ct = cardiotorch;
namespace tr = cardiotorch::train;

namespace {

ct::models::ModelPtr small_cnn() {
  ct::models::ModelContext c;
  c.in_channels = 2;
  c.fs = 100;
  return ct::models::build_model(ct::ConfigNode::parse("{name: plain_cnn, channels: [4, 8], kernels: [3, 3], base_fs: 100}"), c);
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
