// Loading Python checkpoints into LibTorch modules: coverage, key rules, shape checks, and forward
// outputs equal to Python's (tests/fixtures/weights/*.npy, written by make_fixtures.py).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cardiotorch/core/config.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/weights/loader.h"
#include "weights/tiny_models.h"

namespace ctt = cardiotorch::test;
namespace cw = cardiotorch::weights;

namespace {

at::Tensor npy(const std::string& name) { return cardiotorch::io::read_npy(ctt::weights_fixture(name)); }

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Every parameter and buffer, cloned: to check that a failed load changed nothing.
std::vector<at::Tensor> snapshot(const torch::nn::Module& m) {
  std::vector<at::Tensor> out;
  for (const auto& [k, t] : cw::module_state_dict(m)) out.push_back(t.clone());
  return out;
}

bool unchanged(const torch::nn::Module& m, const std::vector<at::Tensor>& before) {
  size_t i = 0;
  for (const auto& [k, t] : cw::module_state_dict(m))
    if (!t.equal(before[i++])) return false;
  return true;
}

}  // namespace

TEST(WeightsLoad, VitPlainStateDictReproducesPython) {
  ctt::TinyVit vit;
  vit->eval();
  const auto r = cw::load_into(*vit, ctt::weights_fixture("vit_plain.pt"));
  EXPECT_EQ(r.total, 32);
  EXPECT_EQ(r.matched, 32);
  EXPECT_DOUBLE_EQ(r.coverage(), 1.0);
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty() && r.mismatched.empty());
  EXPECT_TRUE(r.applied);
  torch::NoGradGuard g;
  EXPECT_LT(max_diff(vit->forward(npy("vit_input.npy")), npy("vit_output.npy")), 1e-6);
}

TEST(WeightsLoad, VitNamespaceCheckpointFindsModelAutomatically) {
  // {'model': state_dict, 'args': argparse.Namespace(...), 'epoch': 3}: the seed's layout.
  ctt::TinyVit vit;
  vit->eval();
  const auto r = cw::load_into(*vit, ctt::weights_fixture("vit_namespace.pt"));
  EXPECT_EQ(r.key, "model");
  EXPECT_TRUE(r.key_automatic);
  EXPECT_EQ(r.matched, 32);
  EXPECT_DOUBLE_EQ(r.coverage(), 1.0);
  torch::NoGradGuard g;
  EXPECT_LT(max_diff(vit->forward(npy("vit_input.npy")), npy("vit_output.npy")), 1e-6);
  EXPECT_NE(r.to_string().find("loaded 32/32 model tensors (100.0%)"), std::string::npos) << r.to_string();
}

TEST(WeightsLoad, EncoderSkipsHeadLikeTheSeedsEcgEncoder) {
  // The MAE training checkpoint (model, optimizer, args, scaler) into an encoder whose rules skip
  // head.*: 30 of 30 considered tensors, the head stays as initialised, features match Python.
  ctt::TinyVit vit;
  vit->eval();
  const at::Tensor head_before = vit->head->weight.clone();
  cw::MatchRules encoder_rules;
  encoder_rules.skip_target = {"head.*"};
  const auto r = cw::load_into(*vit, ctt::weights_fixture("vit_mae_train.pth"), {}, encoder_rules);
  EXPECT_EQ(r.key, "model");
  EXPECT_EQ(r.total, 30);
  EXPECT_EQ(r.matched, 30);
  EXPECT_EQ(r.skipped_target, (std::vector<std::string>{"head.weight", "head.bias"}));
  EXPECT_EQ(r.unexpected, (std::vector<std::string>{"head.weight", "head.bias"}));
  bool optimizer_listed = false;
  for (const auto& [k, n] : r.alternatives) optimizer_listed = optimizer_listed || k == "optimizer";
  EXPECT_TRUE(optimizer_listed);
  EXPECT_TRUE(vit->head->weight.equal(head_before));
  torch::NoGradGuard g;
  EXPECT_LT(max_diff(vit->features(npy("vit_input.npy")), npy("vit_features.npy")), 1e-6);
}

TEST(WeightsLoad, LightningCheckpointAlignsModelPrefixAutomatically) {
  // state_dict keys are 'model.<timm key>'; the automatic prefix alignment finds 'model.' -> ''.
  ctt::TinyVit vit;
  vit->eval();
  const auto r = cw::load_into(*vit, ctt::weights_fixture("vit_lightning.ckpt"));
  EXPECT_EQ(r.key, "state_dict");
  EXPECT_EQ(r.matched, 32);
  ASSERT_EQ(r.rules_used.size(), 1u);
  EXPECT_EQ(r.rules_used[0].first, "auto prefix 'model.' -> ''");
  torch::NoGradGuard g;
  EXPECT_LT(max_diff(vit->forward(npy("vit_input.npy")), npy("vit_output.npy")), 1e-6);
  // Without the automatic alignment nothing matches, which is an error, never random weights.
  ctt::TinyVit other;
  cw::LoadOptions o;
  o.auto_prefix = false;
  EXPECT_THROW(cw::load_into(*other, ctt::weights_fixture("vit_lightning.ckpt"), o), cw::WeightsLoadError);
  // An explicit prefix rule does the same job.
  o.strip_prefix = {"model."};
  const auto r2 = cw::load_into(*other, ctt::weights_fixture("vit_lightning.ckpt"), o);
  EXPECT_EQ(r2.matched, 32);
  EXPECT_EQ(r2.rules_used[0].first, "prefix 'model.' -> ''");
}

TEST(WeightsLoad, CmrResnet18EncoderImagingPrefixFullCoverage) {
  // MMCL's checkpoint: 'encoder_imaging.<i>...' keys + a projection head, into the seed's
  // CMREncoder (keys 'encoder.<i>...'), with the model's rule 'encoder_imaging.' -> 'encoder.'.
  ctt::CmrEncoder enc;
  enc->eval();
  cw::MatchRules cmr_rules;
  cmr_rules.prefixes = {{"encoder_imaging.", "encoder."}};
  cmr_rules.skip_source = {"projection_head.*"};
  cw::LoadOptions strict;
  strict.strict = true;
  const auto r = cw::load_into(*enc, ctt::weights_fixture("cmr_resnet18.ckpt"), strict, cmr_rules);
  EXPECT_EQ(r.total, 120);
  EXPECT_EQ(r.matched, 120);
  EXPECT_DOUBLE_EQ(r.coverage(), 1.0);
  EXPECT_EQ(r.skipped_source, 4);
  EXPECT_TRUE(r.unexpected.empty());
  torch::NoGradGuard g;
  EXPECT_LT(max_diff(enc->forward(npy("cmr_input.npy")), npy("cmr_output.npy")), 1e-6);
}

TEST(WeightsLoad, CmrPrefixIsAlsoFoundWithoutRules) {
  ctt::CmrEncoder enc;
  enc->eval();
  const auto r = cw::load_into(*enc, ctt::weights_fixture("cmr_resnet18.ckpt"));
  EXPECT_EQ(r.matched, 120);
  EXPECT_EQ(r.rules_used[0].first, "auto prefix 'encoder_imaging.' -> 'encoder.'");
  EXPECT_EQ(r.unexpected.size(), 4u);  // the projection head, reported
  torch::NoGradGuard g;
  EXPECT_LT(max_diff(enc->forward(npy("cmr_input.npy")), npy("cmr_output.npy")), 1e-6);
}

TEST(WeightsLoad, TorchEcgLayoutsAllLoad) {
  // torch_ecg's three layouts, the legacy format, a pickled whole module (torch.save(model)) and a
  // TorchScript archive (torch.jit.save) of the same model.
  for (const char* f : {"torch_ecg.pth", "torch_ecg.safetensors", "torch_ecg_dir", "cnn_legacy.pt", "cnn_module.pt",
                        "cnn_torchscript.pt"}) {
    SCOPED_TRACE(f);
    ctt::TinyCnn cnn;
    cnn->eval();
    cw::LoadOptions strict;
    strict.strict = true;
    const auto r = cw::load_into(*cnn, ctt::weights_fixture(f), strict);
    EXPECT_EQ(r.matched, 9);
    EXPECT_EQ(r.key, std::string(f).rfind("cnn_", 0) == 0 ? "" : "model_state_dict");
    EXPECT_EQ(cnn->bn->num_batches_tracked.item<int64_t>(), 3);
    torch::NoGradGuard g;
    EXPECT_LT(max_diff(cnn->forward(npy("cnn_input.npy")), npy("cnn_output.npy")), 1e-6);
  }
}

TEST(WeightsLoad, WrongArchitectureFailsWithEveryMismatchAndChangesNothing) {
  ctt::TinyVit wide(/*dim=*/12);
  const auto before = snapshot(*wide);
  try {
    cw::load_into(*wide, ctt::weights_fixture("vit_namespace.pt"));
    FAIL() << "loading a dim-8 checkpoint into a dim-12 model must fail";
  } catch (const cw::WeightsLoadError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.report().mismatched.size(), 31u) << what;  // every tensor but head.bias has another shape
    EXPECT_NE(what.find("blocks.0.attn.qkv.weight: model [36, 12] vs checkpoint [24, 8]"), std::string::npos) << what;
    EXPECT_NE(what.find("head.weight: model [3, 12] vs checkpoint [3, 8]"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "one-line error expected";
    EXPECT_FALSE(e.report().applied);
  }
  EXPECT_TRUE(unchanged(*wide, before));
}

TEST(WeightsLoad, MissingKeyThresholdIsAnError) {
  // A deeper model: blocks.2 and blocks.3 (24 of 56 tensors) are not in the checkpoint.
  ctt::TinyVit deep(8, /*depth=*/4);
  const auto before = snapshot(*deep);
  try {
    cw::load_into(*deep, ctt::weights_fixture("vit_plain.pt"));
    FAIL();
  } catch (const cw::WeightsLoadError& e) {
    EXPECT_EQ(e.report().missing.size(), 24u);
    EXPECT_NE(std::string(e.what()).find("24 of 56 model tensors (42.9%) are not in the checkpoint"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(unchanged(*deep, before));
  cw::LoadOptions lenient;
  lenient.missing_key_threshold = 0.5;
  const auto r = cw::load_into(*deep, ctt::weights_fixture("vit_plain.pt"), lenient);
  EXPECT_EQ(r.matched, 32);
  EXPECT_EQ(r.missing.size(), 24u);
}

TEST(WeightsLoad, StrictRejectsUnexpectedAndMissing) {
  ctt::TinyVit vit;
  cw::MatchRules skip_head;
  skip_head.skip_target = {"head.*"};
  cw::LoadOptions strict;
  strict.strict = true;
  EXPECT_THROW(cw::load_into(*vit, ctt::weights_fixture("vit_plain.pt"), strict, skip_head), cw::WeightsLoadError);
  strict.ignore = {"head.*"};
  EXPECT_EQ(cw::load_into(*vit, ctt::weights_fixture("vit_plain.pt"), strict, skip_head).matched, 30);
}

TEST(WeightsLoad, RenamesAndAddedPrefixes) {
  ctt::TinyVit vit;
  vit->eval();
  auto sd = cw::read_state_dict(ctt::weights_fixture("vit_plain.pt"));
  for (auto& [k, t] : sd) k = "backbone." + k;  // e.g. a DINO/solo-learn export
  cw::LoadOptions o;
  o.auto_prefix = false;
  o.rename = {"^backbone\\.=enc."};
  EXPECT_THROW(cw::load_state_dict(*vit, sd, o), cw::WeightsLoadError);
  o.strip_prefix = {"enc."};
  const auto r = cw::load_state_dict(*vit, sd, o);
  EXPECT_EQ(r.matched, 32);
  torch::NoGradGuard g;
  EXPECT_LT(max_diff(vit->forward(npy("vit_input.npy")), npy("vit_output.npy")), 1e-6);
  // The model has a prefix the checkpoint lacks.
  struct Wrapped : torch::nn::Module {
    ctt::TinyVit model;
    Wrapped() { model = register_module("model", ctt::TinyVit()); }
  } wrapped;
  cw::LoadOptions add;
  add.auto_prefix = false;
  add.add_prefix = {"model."};
  EXPECT_EQ(cw::load_into(wrapped, ctt::weights_fixture("vit_plain.pt"), add).matched, 32);
  cw::LoadOptions bad;
  bad.rename = {"([=x"};
  EXPECT_THROW(bad.validate(), cardiotorch::ConfigError);
  bad.rename = {"no-equals-sign"};
  EXPECT_THROW(bad.validate(), cardiotorch::ConfigError);
  bad.rename.clear();
  bad.missing_key_threshold = 1.5;
  EXPECT_THROW(bad.validate(), cardiotorch::ConfigError);
}

TEST(WeightsLoad, DdpModulePrefixIsADefaultRule) {
  ctt::TinyCnn cnn;
  auto sd = cw::read_state_dict(ctt::weights_fixture("torch_ecg.pth"));
  for (auto& [k, t] : sd) k = "module." + k;
  cw::LoadOptions o;
  o.auto_prefix = false;
  const auto r = cw::load_state_dict(*cnn, sd, o);
  EXPECT_EQ(r.matched, 9);
  EXPECT_EQ(r.rules_used[0].first, "prefix 'module.' -> ''");
}

TEST(WeightsLoad, ModelHookCandidates) {
  ctt::TinyCnn cnn;
  auto sd = cw::read_state_dict(ctt::weights_fixture("torch_ecg.pth"));
  for (auto& [k, t] : sd)
    if (k.rfind("clf.", 0) == 0) k = "classifier." + k.substr(4);
  cw::MatchRules rules;
  rules.auto_prefix = false;
  rules.candidates = [](const std::string& key) {
    return key.rfind("clf.", 0) == 0 ? std::vector<std::string>{"classifier." + key.substr(4)}
                                     : std::vector<std::string>{};
  };
  const auto r = cw::load_state_dict(*cnn, sd, {}, rules);
  EXPECT_EQ(r.matched, 9);
  EXPECT_EQ(r.rules_used.back(), (std::pair<std::string, int64_t>{"model rule", 2}));
}

TEST(WeightsLoad, AmbiguousAutomaticPrefixIsNotGuessed) {
  // A teacher/student checkpoint: both prefixes explain every key equally well.
  ctt::TinyCnn cnn;
  const auto base = cw::read_state_dict(ctt::weights_fixture("torch_ecg.pth"));
  cw::NamedTensors sd;
  for (const auto& [k, t] : base) {
    sd.emplace_back("student." + k, t);
    sd.emplace_back("teacher." + k, t * 2);
  }
  try {
    cw::load_state_dict(*cnn, sd, {});
    FAIL();
  } catch (const cw::WeightsLoadError& e) {
    EXPECT_NE(std::string(e.what()).find("ambiguous prefixes"), std::string::npos) << e.what();
  }
  cw::LoadOptions o;
  o.strip_prefix = {"teacher."};
  const auto r = cw::load_state_dict(*cnn, sd, o);
  EXPECT_EQ(r.matched, 9);
  EXPECT_TRUE(cnn->clf->bias.equal(base.back().second * 2));
}

TEST(WeightsLoad, HalfPrecisionCheckpointConvertsIntoFloatModel) {
  ctt::TinyCnn cnn;
  auto sd = cw::read_state_dict(ctt::weights_fixture("torch_ecg.pth"));
  for (auto& [k, t] : sd)
    if (t.is_floating_point()) t = t.to(at::kHalf);
  const auto r = cw::load_state_dict(*cnn, sd, {});
  EXPECT_EQ(r.matched, 9);
  EXPECT_EQ(r.converted, 8);
  EXPECT_EQ(cnn->conv->weight.scalar_type(), at::kFloat);
  // Across kinds (float checkpoint into an integer buffer) is a mismatch, not a silent cast.
  for (auto& [k, t] : sd)
    if (k == "bn.num_batches_tracked") t = t.to(at::kFloat);
  EXPECT_THROW(cw::load_state_dict(*cnn, sd, {}), cw::WeightsLoadError);
}

TEST(WeightsLoad, NothingMatchingIsAnErrorEvenWithThresholdOne) {
  ctt::TinyCnn cnn;
  cw::LoadOptions o;
  o.missing_key_threshold = 1.0;
  try {
    cw::load_into(*cnn, ctt::weights_fixture("vit_plain.pt"), o);
    FAIL();
  } catch (const cw::WeightsLoadError& e) {
    EXPECT_NE(std::string(e.what()).find("no checkpoint key matches the model"), std::string::npos) << e.what();
  }
}

TEST(WeightsLoad, ReportMentionsAllStatistics) {
  ctt::TinyVit vit;
  cw::MatchRules r;
  r.skip_target = {"head.*"};
  const auto rep = cw::load_into(*vit, ctt::weights_fixture("vit_namespace.pt"), {}, r);
  const std::string s = rep.to_string();
  for (const char* part : {"vit_namespace.pt (torch.save zip archive)", "state_dict: 'model' (found automatically)",
                           "loaded 30/30 model tensors (100.0%)", "skipped by rules: 2 model tensors", "missing: 0",
                           "unexpected: 2 (head.weight, head.bias)", "mismatched: 0"})
    EXPECT_NE(s.find(part), std::string::npos) << part << "\n" << s;
  EXPECT_NE(rep.summary().find("loaded 30/30 tensors (100.0%)"), std::string::npos) << rep.summary();
}

TEST(WeightsLoad, GlobMatching) {
  EXPECT_TRUE(cw::glob_match("head.*", "head.weight"));
  EXPECT_FALSE(cw::glob_match("head.*", "heads.weight"));
  EXPECT_TRUE(cw::glob_match("decoder*", "decoder_blocks.0.norm1.weight"));
  EXPECT_TRUE(cw::glob_match("*.num_batches_tracked", "bn.num_batches_tracked"));
  EXPECT_TRUE(cw::glob_match("blocks.?.attn.*", "blocks.3.attn.qkv.bias"));
  EXPECT_FALSE(cw::glob_match("blocks.?.attn.*", "blocks.10.attn.qkv.bias"));
  EXPECT_TRUE(cw::glob_match("*", ""));
  EXPECT_FALSE(cw::glob_match("a", ""));
}

TEST(WeightsLoad, OptionsFromConfig) {
  const auto node = cardiotorch::ConfigNode::parse(
      "path: x.pt\nkey: model\nstrict: true\nmissing_key_threshold: 0.2\nskip: ['head.*']\n"
      "rename: ['^a\\.=b.']\nstrip_prefix: module.\n",
      "weights.yaml");
  const auto o = cardiotorch::from_config<cw::LoadOptions>(node);
  EXPECT_EQ(o.key, "model");
  EXPECT_TRUE(o.strict);
  EXPECT_DOUBLE_EQ(o.missing_key_threshold, 0.2);
  EXPECT_EQ(o.strip_prefix, std::vector<std::string>{"module."});
  const cw::MatchRules r = o.rules();
  ASSERT_EQ(r.renames.size(), 1u);
  EXPECT_EQ(r.renames[0].pattern, "^a\\.");
  EXPECT_EQ(r.renames[0].replacement, "b.");
  EXPECT_EQ(r.skip_target, std::vector<std::string>{"head.*"});
  try {
    cardiotorch::from_config<cw::LoadOptions>(cardiotorch::ConfigNode::parse("stirct: true\n", "w.yaml"));
    FAIL();
  } catch (const cardiotorch::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'strict'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(
      cardiotorch::from_config<cw::LoadOptions>(cardiotorch::ConfigNode::parse("missing_key_threshold: 2\n", "w.yaml")),
      cardiotorch::ConfigError);
}

TEST(WeightsLoad, FcNormIsNotFedFromNormByTheAutomaticPrefix) {
  // timm with global pooling adds fc_norm; a checkpoint without it must report it missing, not
  // load norm.* into it because both end in '.weight'/'.bias'.
  struct WithFcNorm : torch::nn::Module {
    torch::nn::LayerNorm fc_norm{nullptr};
    torch::nn::Linear proj{nullptr};
    WithFcNorm() {
      fc_norm = register_module("fc_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({4})));
      proj = register_module("proj", torch::nn::Linear(4, 4));
    }
  } m;
  const cw::NamedTensors sd = {{"norm.weight", torch::full({4}, 2.0)},
                               {"norm.bias", torch::full({4}, 3.0)},
                               {"proj.weight", torch::ones({4, 4})},
                               {"proj.bias", torch::zeros({4})}};
  cw::LoadOptions o;
  o.missing_key_threshold = 0.5;
  const auto r = cw::load_state_dict(m, sd, o);
  EXPECT_EQ(r.matched, 2);
  EXPECT_EQ(r.missing, (std::vector<std::string>{"fc_norm.weight", "fc_norm.bias"}));
  EXPECT_EQ(r.unexpected, (std::vector<std::string>{"norm.weight", "norm.bias"}));
  EXPECT_TRUE(m.fc_norm->weight.equal(torch::ones({4})));
}
