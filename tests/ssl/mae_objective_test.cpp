// The `mae` objective: its loss and logged values are the model's forward_mae under the
// objective's own masking noise (whose parity with oetu/mae is in tests/models/mae_test.cpp),
// training masks come from a checkpointed generator, evaluation masks from the batch alone; the
// encoder it hands downstream loads into the ViT backbone by name; errors name the model.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/models/mae.h"
#include "cardiotorch/models/transformer.h"
#include "cardiotorch/report/ecg_plot.h"
#include "cardiotorch/report/reconstruction_plot.h"
#include "cardiotorch/ssl/mae.h"
#include "cardiotorch/weights/loader.h"
#include "support/test_util.h"

namespace ct = cardiotorch;

namespace {

constexpr int64_t kLeads = 12, kSamples = 300, kTokens = 12 * 3;

ct::models::ModelPtr tiny_mae(const std::string& extra = "") {
  ct::models::ModelContext c;
  c.in_channels = kLeads;
  c.seq_len = kSamples;
  return ct::models::build_model(
      ct::ConfigNode::parse(ct::str_cat(
          "{name: mae_vit_patchx, embed_dim: 32, depth: 1, num_heads: 2, ",
          "decoder_embed_dim: 16, decoder_depth: 1, decoder_num_heads: 2, samples: ", kSamples, extra, "}")),
      c);
}

std::shared_ptr<ct::ssl::MaeObjective> mae_objective(int64_t seed) {
  auto o = ct::train::objective_registry().build(ct::ConfigNode::parse(ct::str_cat("{name: mae, seed: ", seed, "}")),
                                                 ct::train::ObjectiveContext{});
  auto m = std::dynamic_pointer_cast<ct::ssl::MaeObjective>(o);
  EXPECT_TRUE(m != nullptr);
  return m;
}

ct::data::Batch batch_of(int64_t n, int64_t first_index = 0, uint64_t seed = 1) {
  ct::data::Batch b;
  b.x = at::randn({n, kLeads, kSamples}, at::make_generator<at::CPUGeneratorImpl>(seed));
  for (int64_t i = 0; i < n; ++i) b.indices.push_back(first_index + i);
  return b;
}

double scalar(const ct::train::StepOutput& s, const std::string& key) {
  for (const auto& [k, v] : s.scalars)
    if (k == key) return v.item<double>();
  ADD_FAILURE() << "no logged value " << key;
  return NAN;
}

TEST(MaeObjective, StepIsForwardMaeUnderTheObjectivesNoise) {
  auto model = tiny_mae();
  auto& mae = dynamic_cast<ct::models::MaskedAutoencoderViTImpl&>(*model);
  auto objective = mae_objective(7);
  const ct::data::Batch b = batch_of(4);
  const ct::train::StepOutput s = objective->step(*model, b, /*training=*/true);

  at::Generator g = ct::models::make_cpu_generator(7);
  const at::Tensor noise = ct::models::masking_noise(g, 4, kTokens, at::kCPU);
  const ct::models::MaeOutput ref = mae.forward_mae(b.x, 0.8, noise);
  EXPECT_DOUBLE_EQ(s.loss.item<double>(), ref.loss.item<double>());
  EXPECT_TRUE(s.loss.requires_grad());
  std::set<std::string> keys;
  for (const auto& [k, v] : s.scalars) {
    keys.insert(k);
    EXPECT_FALSE(v.requires_grad()) << k;
  }
  EXPECT_EQ(keys, (std::set<std::string>{"mse", "masked_mse", "ncc"}));
  EXPECT_DOUBLE_EQ(scalar(s, "mse"), ref.mse.item<double>());
  EXPECT_DOUBLE_EQ(scalar(s, "masked_mse"), ref.masked_mse.item<double>());
  EXPECT_DOUBLE_EQ(scalar(s, "ncc"), ref.ncc.item<double>());
  // The anchor's loss from the logged terms.
  EXPECT_NEAR(s.loss.item<double>(), 0.9 * scalar(s, "mse") + 0.1 * (1 - scalar(s, "ncc")), 1e-6);
}

TEST(MaeObjective, TrainingMasksAdvanceEvaluationMasksAreFixedPerBatch) {
  auto model = tiny_mae();
  model->eval();
  auto objective = mae_objective(3);
  const ct::data::Batch b = batch_of(3);
  at::NoGradGuard no_grad;
  const double t1 = objective->step(*model, b, true).loss.item<double>();
  const double t2 = objective->step(*model, b, true).loss.item<double>();
  EXPECT_NE(t1, t2);  // a new draw of the generator
  const double e1 = objective->step(*model, b, false).loss.item<double>();
  const double e2 = objective->step(*model, b, false).loss.item<double>();
  EXPECT_EQ(e1, e2);
  const double other = objective->step(*model, batch_of(3, /*first_index=*/10), false).loss.item<double>();
  EXPECT_NE(e1, other);
  // The generator is what a checkpoint saves: restoring its state replays the masks.
  auto gens = objective->generators();
  ASSERT_EQ(gens.size(), 1u);
  EXPECT_EQ(gens[0].first, "mask");
  const at::Tensor state = gens[0].second.get_state();
  const double a = objective->step(*model, b, true).loss.item<double>();
  gens[0].second.set_state(state);
  EXPECT_EQ(objective->step(*model, b, true).loss.item<double>(), a);
}

TEST(MaeObjective, EvaluationMasksFollowTheSampleNotItsBatch) {
  // A validation sharded over ranks (or batched otherwise) puts a sample in another batch: its
  // mask, hence the sample-weighted loss, must not change. Batch {4, 5, 6, 7} against {4, 6}
  // and {5, 7} (rank 0's and rank 1's shards of it).
  auto model = tiny_mae();
  model->eval();
  auto objective = mae_objective(3);
  at::NoGradGuard no_grad;
  const ct::data::Batch whole = batch_of(4, /*first_index=*/4);
  auto part = [&](std::vector<int64_t> rows) {
    ct::data::Batch b;
    b.x = whole.x.index_select(0, at::tensor(rows, at::kLong));
    for (int64_t r : rows) b.indices.push_back(whole.indices[static_cast<size_t>(r)]);
    return b;
  };
  const double all = objective->step(*model, whole, false).loss.item<double>();
  const double even = objective->step(*model, part({0, 2}), false).loss.item<double>();
  const double odd = objective->step(*model, part({1, 3}), false).loss.item<double>();
  EXPECT_NEAR((even + odd) / 2, all, 1e-6 * std::abs(all));
  // The control: the same rows under other dataset indices draw other masks.
  ct::data::Batch moved = whole;
  for (auto& i : moved.indices) i += 100;
  EXPECT_GT(std::abs(objective->step(*model, moved, false).loss.item<double>() - all), 1e-6);
}

TEST(MaeObjective, RatioZeroLogsNoMaskedMse) {
  auto model = tiny_mae(", mask_ratio: 0.0");
  auto objective = mae_objective(0);
  const ct::train::StepOutput s = objective->step(*model, batch_of(2), true);
  for (const auto& [k, v] : s.scalars) EXPECT_NE(k, "masked_mse");
  EXPECT_TRUE(std::isfinite(s.loss.item<double>()));
}

TEST(MaeObjective, ClearErrorsForTheWrongModelObjectiveOrViews) {
  ct::models::ModelContext c;
  c.in_channels = kLeads;
  c.seq_len = kSamples;
  auto vit = ct::models::build_model(
      ct::ConfigNode::parse(
          ct::str_cat("{name: vit_patchx, embed_dim: 32, depth: 1, num_heads: 2, samples: ", kSamples, "}")),
      c);
  auto objective = mae_objective(0);
  try {
    objective->check_model(*vit);
    FAIL() << "vit_patchx accepted by the mae objective";
  } catch (const ct::ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'vit_patchx' is not a masked autoencoder"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mae_vit_patchx"), std::string::npos) << msg;
  }
  EXPECT_THROW(objective->step(*vit, batch_of(2), true), ct::ConfigError);

  ct::train::ObjectiveContext oc;
  oc.class_names = {"a", "b"};
  oc.label_kind = ct::data::LabelKind::kClassIndex;
  auto multiclass = ct::train::objective_registry().build(ct::ConfigNode::parse("{name: multiclass}"), oc);
  try {
    ct::ssl::as_ssl(*multiclass);
    FAIL() << "multiclass taken for a self-supervised objective";
  } catch (const ct::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'multiclass' is not a self-supervised objective"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(ct::ssl::batch_views(batch_of(2), 2, "simclr"), ct::ConfigError);
  try {
    ct::ssl::batch_views(batch_of(2), 2, "simclr");
  } catch (const ct::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("data.loader.views: 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ct::train::objective_registry().build(ct::ConfigNode::parse("{name: mae, seed: -2}"), {}),
               ct::ConfigError);
}

TEST(MaeObjective, EncoderStateLoadsIntoTheVitBackboneByName) {
  auto model = tiny_mae();
  auto objective = mae_objective(0);
  const ct::weights::NamedTensors enc = objective->encoder_state(*model);
  for (const auto& [k, t] : enc) {
    EXPECT_FALSE(ct::starts_with(k, "decoder")) << k;
    EXPECT_NE(k, "mask_token");
  }
  // Encoder: cls_token, pos_embed, patch_embed.proj.{weight,bias}, 12 tensors per block, norm.{weight,bias}.
  EXPECT_EQ(enc.size(), 4u + 12u + 2u);
  ct::models::ModelContext c;
  c.in_channels = kLeads;
  c.seq_len = kSamples;
  auto vit = ct::models::build_model(
      ct::ConfigNode::parse(
          ct::str_cat("{name: vit_patchx, embed_dim: 32, depth: 1, num_heads: 2, samples: ", kSamples, "}")),
      c);
  // The fine-tuning pooling (attention pool, fc_norm) is new: 6 of 22 tensors here, over the
  // default missing-key threshold, so a fine-tuning config names it (docs/pretraining.md).
  EXPECT_THROW(ct::weights::load_state_dict(*vit, enc, ct::weights::LoadOptions{}, vit->weight_rules()),
               ct::weights::WeightsLoadError);
  ct::weights::LoadOptions lo;
  lo.skip = {"attention_pool.*", "fc_norm.*"};
  ct::weights::LoadReport rep = ct::weights::load_state_dict(*vit, enc, lo, vit->weight_rules());
  EXPECT_TRUE(rep.missing.empty());
  EXPECT_EQ(rep.coverage(), 1.0);
  // The MAE's final norm is unused by a pooling ViT (timm drops `norm` when it pools; the
  // anchor's fine-tuning leaves it unused the same way); a cls-token ViT loads it.
  EXPECT_EQ(rep.unexpected, (std::vector<std::string>{"norm.weight", "norm.bias"}));
  EXPECT_EQ(rep.matched, static_cast<int64_t>(enc.size()) - 2);
  const auto loaded = ct::weights::module_state_dict(*vit);
  std::map<std::string, at::Tensor> by_name(loaded.begin(), loaded.end());
  for (const auto& [k, t] : enc) {
    if (!ct::starts_with(k, "norm.")) {
      EXPECT_TRUE(at::equal(by_name.at(k), t)) << k;
    }
  }
  auto cls_vit = ct::models::build_model(
      ct::ConfigNode::parse(ct::str_cat(
          "{name: vit_patchx, embed_dim: 32, depth: 1, num_heads: 2, global_pool: cls, samples: ", kSamples, "}")),
      c);
  const ct::weights::LoadReport cls_rep = ct::weights::load_state_dict(*cls_vit, enc, {}, cls_vit->weight_rules());
  EXPECT_TRUE(cls_rep.unexpected.empty());
  EXPECT_EQ(cls_rep.matched, static_cast<int64_t>(enc.size()));
  EXPECT_EQ(cls_rep.coverage(), 1.0);
}

TEST(MaeObjective, ReconstructionHasTheInputsShapeAndTheExactMask) {
  auto model = tiny_mae();
  model->train();
  auto objective = mae_objective(0);
  const at::Tensor x = batch_of(2).x;
  const auto r = objective->reconstruct(*model, x, 11);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(model->is_training());  // restored
  EXPECT_EQ(r->output.sizes(), x.sizes());
  EXPECT_TRUE(at::equal(r->input, x));
  // keep int(36 * 0.2) = 7 patches of 100 samples per record: 29 masked.
  EXPECT_TRUE(at::equal(r->mask.sum({1, 2}), at::full({2}, 29.0 * 100)));
  // Patch-constant along time.
  EXPECT_TRUE(at::equal(r->mask.slice(2, 0, 100), r->mask.slice(2, 0, 1).expand({2, kLeads, 100})));
  EXPECT_TRUE(r->scalars.count("ncc") && r->scalars.count("masked_mse"));
  // The same seed, the same reconstruction.
  EXPECT_TRUE(at::equal(objective->reconstruct(*model, x, 11)->output, r->output));
}

TEST(ReconstructionPlot, WritesSvgAndPngAndChecksShapes) {
  if (!ct::report::plot_supported()) GTEST_SKIP() << "built without cairo";
  const std::string dir = ct::test::make_temp_dir("recon_plot");
  const at::Tensor x = at::sin(at::linspace(0, 40, 500)).repeat({3, 1});
  const at::Tensor y = x * 0.8;
  at::Tensor mask = at::zeros({3, 500});
  mask.slice(1, 100, 200).fill_(1);
  ct::report::ReconstructionPlotOptions o;
  o.fs = 250;
  o.leads = {"I", "II", "V1"};
  for (const char* ext : {"svg", "png"}) {
    const std::string path = ct::str_cat(dir, "/r.", ext);
    ct::report::plot_reconstruction(x, y, mask, path, o);
    EXPECT_GT(std::filesystem::file_size(path), 1000u) << path;
  }
  EXPECT_THROW(ct::report::plot_reconstruction(x, y.slice(1, 0, 400), mask, dir + "/bad.svg", o), ct::DataError);
  EXPECT_THROW(ct::report::plot_reconstruction(x, y, mask.slice(0, 0, 2), dir + "/bad.svg", o), ct::DataError);
  o.leads = {"I"};
  EXPECT_THROW(ct::report::plot_reconstruction(x, y, mask, dir + "/bad.svg", o), ct::DataError);
}

}  // namespace
