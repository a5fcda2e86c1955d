// ResNet-family and RegNet backbones: torch_ecg's presets (output shapes and exact parameter
// counts of torch_ecg.md §1.4), numeric parity with torch_ecg-style PyTorch (fixtures made by
// tests/fixtures/models/make_resnet_parity.py), config keys and their errors, sampling-rate
// adaptation.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/models/resnet.h"
#include "models/model_test_util.h"
#include "support/test_util.h"

namespace cardiotorch::models {
namespace {

ModelPtr build(const std::string& yaml, ModelContext ctx = {}) {
  manual_seed(0);
  return build_model(ConfigNode::parse(yaml, "test.yaml"), ctx);
}

struct Expected {
  const char* name;
  Shape out;  // for input (2, 12, 2000)
  int64_t params;
};

// torch_ecg.md §1.4, measured on torch_ecg b10c415b.
const std::vector<Expected> kTorchEcg = {
    {"resnet_18", {2, 512, 63}, 18510016},
    {"resnet_34", {2, 512, 63}, 35352000},
    {"resnet_50", {2, 2048, 63}, 48765983},
    {"resnext_50_32x4d", {2, 2048, 63}, 30322976},
    {"resnet_nature_comm", {2, 320, 8}, 6727872},
    {"resnet_nature_comm_se", {2, 320, 8}, 6784176},
    {"resnet_nature_comm_gc", {2, 320, 8}, 6840932},
    {"resnet_nature_comm_nl", {2, 320, 8}, 7174272},
    {"resnet_nature_comm_bottle_neck", {2, 1280, 8}, 7829952},
    {"resnet_nature_comm_bottle_neck_se", {2, 1280, 8}, 8718720},
    {"resnet_nature_comm_bottle_neck_gc", {2, 1280, 8}, 9609284},
    {"resnet_nature_comm_bottle_neck_nl", {2, 1280, 8}, 14923968},
    {"resnetN", {2, 512, 63}, 4555200},
    {"resnetNB", {2, 2048, 63}, 7771840},
    {"resnetNS", {2, 512, 63}, 736256},
    {"resnetNBS", {2, 2048, 63}, 5250048},
    {"tresnetF", {2, 1024, 63}, 1202732},
    {"tresnetP", {2, 1792, 63}, 8056741},
    {"tresnetN", {2, 1792, 63}, 13960002},
    {"tresnetS", {2, 1792, 63}, 22838445},
    {"tresnetM", {2, 2048, 63}, 34725208},
    {"resnet_leadwise", {2, 768, 63}, 7242144},
    {"resnet_stanford", {2, 576, 32}, 26510760},
    {"regnet_16_8", {2, 440, 32}, 3693387},
    {"regnet_27_24", {2, 888, 32}, 10099512},
    {"regnet_23_168", {2, 2520, 32}, 105103266},
    {"regnet_S", {2, 1024, 32}, 2900640},
};

// Split by size so that each case stays short (weight initialisation dominates).
void check_presets(bool large) {
  for (const auto& e : kTorchEcg) {
    if ((e.params > 20'000'000) != large) continue;
    const ModelPtr m = build(e.name);
    EXPECT_EQ(m->output_shape(2000, 2), e.out) << e.name;
    EXPECT_EQ(count_parameters(*m, true), e.params) << e.name;
    EXPECT_EQ(m->embed_dim(), e.out[1]) << e.name;
  }
}
TEST(ResNetPresets, SmallPresetsMatchTorchEcgShapesAndParameterCounts) { check_presets(false); }
TEST(ResNetPresets, LargePresetsMatchTorchEcgShapesAndParameterCounts) { check_presets(true); }

TEST(ResNetPresets, OutputLengthsEqualTorchEcgAtEveryLength) {
  // torch_ecg.md §1.4: L_out for L = 1000, 1999, 2000, 4000, 5000.
  const std::vector<int64_t> lengths{1000, 1999, 2000, 4000, 5000};
  const std::map<std::string, std::vector<int64_t>> table{
      {"resnet_18", {32, 63, 63, 125, 157}},        {"tresnetF", {32, 63, 63, 125, 157}},
      {"resnet_leadwise", {32, 63, 63, 125, 157}},  {"resnet_nature_comm_se", {4, 8, 8, 16, 20}},
      {"resnet_stanford", {16, 32, 32, 63, 79}},    {"regnet_S", {16, 32, 32, 63, 79}},
      {"resnext_50_32x4d", {32, 63, 63, 125, 157}}, {"resnet_nature_comm_bottle_neck_nl", {4, 8, 8, 16, 20}}};
  for (const auto& kv : table) {
    const ModelPtr m = build(kv.first);
    for (size_t i = 0; i < lengths.size(); ++i)
      EXPECT_EQ(m->output_shape(lengths[i])[2], kv.second[i]) << kv.first << " at " << lengths[i];
    EXPECT_EQ(m->output_shape(kUnknown), (Shape{kUnknown, m->embed_dim(), kUnknown})) << kv.first;
  }
}

TEST(ResNetPresets, RegNetGeneratedWidthsMatchTorchEcg) {
  auto widths = [](const RegNetOptions& o) {
    std::vector<std::pair<int64_t, int64_t>> out;
    for (const auto& s : regnet_stages(o)) out.emplace_back(s.num_filters, s.num_blocks);
    return out;
  };
  using V = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(widths(RegNetOptions::regnet_16_8()), (V{{48, 1}, {104, 3}, {208, 6}, {440, 6}}));
  EXPECT_EQ(widths(RegNetOptions::regnet_27_24()), (V{{48, 2}, {128, 6}, {336, 17}, {896, 2}}));
  EXPECT_EQ(widths(RegNetOptions::regnet_23_168()), (V{{320, 2}, {640, 7}, {1280, 13}, {2560, 1}}));
  // Each stage then rounds its width to a multiple of the group width (torch_ecg's AnyStage):
  // measured stage widths [48, 120, 336, 888] for regnet_27_24.
  const ModelPtr m = build("regnet_27_24");
  std::vector<int64_t> stage_widths;
  for (const auto& s : m->stage_shapes({2, 12, 2000})) stage_widths.push_back(s.second[1]);
  EXPECT_EQ(stage_widths, (std::vector<int64_t>{64, 48, 120, 336, 888}));
}

// --- parity with PyTorch ------------------------------------------------------------------

class ResNetParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ResNetParity, MatchesTorchEcgStylePyTorch) {
  const auto [y, expected] = test::run_parity_fixture("resnet_parity_" + GetParam() + ".npz",
                                                      [](const std::string& yaml, int64_t in_channels) {
                                                        ModelContext ctx;
                                                        ctx.in_channels = in_channels;
                                                        return build(yaml, ctx);
                                                      });
  ASSERT_EQ(y.sizes(), expected.sizes());
  const double err = (y - expected).abs().max().item<double>();
  EXPECT_LT(err, 1e-5) << "max abs difference " << err;
  EXPECT_TRUE(at::allclose(y, expected, 1e-5, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ResNetParity,
                         ::testing::Values(std::string("nature_comm_bottle_neck_se"), std::string("nature_comm_nl"),
                                           std::string("nature_comm_max_gc"), std::string("tresnetP_small"),
                                           std::string("tresnetF_small"), std::string("regnet_S_small")),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// --- config keys --------------------------------------------------------------------------

std::string config_error(const std::string& yaml) {
  try {
    build(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ResNetConfig, GranularityOfFilterAndSubsampleLengths) {
  // One per block: the last block of each stage gets a longer kernel.
  const ModelPtr m = build(
      "{name: resnet, num_blocks: [2, 1], filter_lengths: [[3, 9], [5]], "
      "subsample_lengths: [[1, 2], 2], num_filters: [8, 16], stem: {num_filters: 8}}");
  const auto sd = m->named_parameters();
  EXPECT_EQ(sd["ResNetBasicBlock_0_0.main_stream.cba_0.conv1d.weight"].size(2), 3);
  EXPECT_EQ(sd["ResNetBasicBlock_0_1.main_stream.cba_0.conv1d.weight"].size(2), 9);
  EXPECT_EQ(sd["ResNetBasicBlock_1_0.main_stream.cba_1.conv1d.weight"].size(2), 5);
  // Strides: stage 0 block 1 strides 2, stage 1 block 0 strides 2: 2000 -> 1000 (stem) -> 499 (pool) -> 250 -> 125.
  EXPECT_EQ(m->output_shape(2000, 2), (Shape{2, 16, 125}));
  const at::Tensor y = m->forward(at::randn({2, 12, 2000}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 16, 125}));
}

TEST(ResNetConfig, PreciseErrorsNameTheKey) {
  EXPECT_NE(config_error("{name: resnet, filter_lengths: [3, 5, 7]}")
                .find("filter_lengths gives 3 stages, but num_blocks has 4"),
            std::string::npos);
  EXPECT_NE(config_error("{name: resnet, num_blocks: [2, 2], subsample_lengths: [[1, 2, 2], 2]}")
                .find("subsample_lengths[0] gives 3 values, but stage 0 has 2 blocks"),
            std::string::npos);
  EXPECT_NE(
      config_error("{name: resnet, dropouts: [0.1, 0.2]}").find("dropouts gives 2 values, but there are 4 stages"),
      std::string::npos);
  EXPECT_NE(config_error("{name: resnet, building_block: bottlenek}").find("did you mean 'bottleneck'"),
            std::string::npos);
  const std::string typo = config_error("{name: resnet_nature_comm_se, block: {attn: {reductoin: 4}}}");
  EXPECT_NE(typo.find("block.attn"), std::string::npos) << typo;
  EXPECT_NE(typo.find("did you mean 'reduction'"), std::string::npos) << typo;
  EXPECT_NE(config_error("{name: resnet, block: {attn: {name: sqeeze}}}").find("unknown block 'sqeeze'"),
            std::string::npos);
  EXPECT_NE(config_error("{name: regnet_16_8, num_blocks: [1, 1]}").find("not both"), std::string::npos);
  EXPECT_NE(config_error("{name: regnet, w_0: 17}").find("invalid RegNet width settings"), std::string::npos);
}

TEST(ResNetConfig, PresetRefinementKeepsTheRestOfEachBlock) {
  // A mapping refines every block config of a per-stage list; a list refines element-wise.
  const ConfigNode r =
      backbone_registry().resolve(ConfigNode::parse("{name: tresnetP, block: {bias: true}, stem: {num_filters: 8}}"));
  ASSERT_EQ(r["block"].size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(r["block"][i]["bias"].as_bool());
    EXPECT_EQ(r["block"][i]["subsample_mode"].as_string(), "blur");
  }
  EXPECT_EQ(r["block"][2]["attn"]["name"].as_string(), "se");
  EXPECT_TRUE(r["block"][3]["attn"].is_null());
  // Resolving a resolved config gives it back.
  EXPECT_EQ(backbone_registry().resolve(r).to_yaml(), r.to_yaml());
}

TEST(ResNetConfig, BlockDropoutReachesEveryBlock) {
  // torch_ecg's resnet_stanford had dropout in block 0_0 only (a popped shared config).
  const ModelPtr m = build("resnet_stanford");
  int dropouts = 0;
  for (const auto& c : m->named_modules())
    if (auto* d = dynamic_cast<const DropoutImpl*>(c.value().get())) {
      EXPECT_DOUBLE_EQ(d->p(), 0.2);
      ++dropouts;
    }
  EXPECT_EQ(dropouts, 16);  // 8 blocks x (after the first conv + at the block's end)
}

TEST(ResNetConfig, StateDictNamesAreTorchEcgs) {
  const ModelPtr m = build("resnet_nature_comm_bottle_neck_se");
  const auto p = m->named_parameters();
  for (const char* key :
       {"input_stem.conv_0.conv1d.weight", "input_stem.conv_0.conv1d.bias", "input_stem.conv_0.batch_norm.weight",
        "ResNetBottleNeck_0_0.main_stream.cba_head.conv1d.weight",
        "ResNetBottleNeck_0_0.main_stream.cba_neck.batch_norm.bias",
        "ResNetBottleNeck_3_0.main_stream.se.fc.0.lin_0.weight", "ResNetBottleNeck_3_0.main_stream.se.fc.0.lin_1.bias",
        "ResNetBottleNeck_1_0.shortcut.down_sample.weight", "ResNetBottleNeck_1_0.shortcut.batch_normalization.weight"})
    EXPECT_TRUE(p.contains(key)) << key;
  EXPECT_TRUE(m->named_buffers().contains("ResNetBottleNeck_0_0.main_stream.cba_tail.batch_norm.running_var"));
  const ModelPtr t = build("tresnetP");
  EXPECT_TRUE(t->named_buffers().contains("ResNetBasicBlock_1_0.shortcut.down_sample.0.filt"));
  EXPECT_TRUE(t->named_parameters().contains("input_stem.s2d.out_conv.conv1d.weight"));
  const ModelPtr r = build("regnet_S");
  EXPECT_TRUE(r->named_parameters().contains("stage_1.block_1_0.main_stream.cba_neck.conv1d.weight"));
}

TEST(ResNetConfig, KernelsFollowTheSamplingRate) {
  ModelContext ctx;
  ctx.fs = 250;
  const ModelPtr m = build("resnet_nature_comm", ctx);  // kernels given at 500 Hz
  const auto p = m->named_parameters();
  EXPECT_EQ(p["input_stem.conv_0.conv1d.weight"].size(2), 9);  // round(17 / 2) = 8 -> odd 9
  EXPECT_EQ(p["ResNetBasicBlock_0_0.main_stream.cba_0.conv1d.weight"].size(2), 9);
  ctx.fs = 1000;
  const ModelPtr h = build("resnet_18", ctx);
  EXPECT_EQ(h->named_parameters()["input_stem.conv_0.conv1d.weight"].size(2), 51);  // 25 -> 50 -> 51
  // base_fs 0: kernels are samples, whatever the rate.
  const ModelPtr s = build("{name: resnet_18, base_fs: 0}", ctx);
  EXPECT_EQ(s->named_parameters()["input_stem.conv_0.conv1d.weight"].size(2), 25);
  at::NoGradGuard no_grad;
  m->eval();
  EXPECT_EQ(m->forward(at::randn({1, 12, 1000})).sizes().vec(), m->output_shape(1000, 1));
}

TEST(ResNetConfig, WrongInputIsAShapeError) {
  const ModelPtr m = build("resnetNS");
  EXPECT_THROW(m->forward(at::randn({2, 8, 1000})), ShapeError);
  EXPECT_THROW(m->forward(at::randn({12, 1000})), ShapeError);
}

TEST(ResNetConfig, StageShapesEndAtTheOutput) {
  const ModelPtr m = build("regnet_16_8");
  const auto st = m->stage_shapes({2, 12, 2000});
  ASSERT_EQ(st.size(), 5u);
  EXPECT_EQ(st.front().second, (Shape{2, 64, 499}));
  EXPECT_EQ(st.back().second, m->output_shape(2000, 2));
  EXPECT_NE(m->summary().find("[48, 104, 208, 440]"), std::string::npos) << m->summary();
}

TEST(ResNetCli, ModelInfoPrintsTorchEcgShapesAndParameterCounts) {
  std::string out;
  ASSERT_EQ(test::run_cli("model-info resnet_nature_comm_se --seq-len 2000", &out), 0) << out;
  EXPECT_NE(out.find("parameters: 6784176 (trainable 6784176)"), std::string::npos) << out;
  EXPECT_NE(out.find("output:   (2, 320, 8)"), std::string::npos) << out;
  EXPECT_NE(out.find("stage 3 (1 x ResNetBasicBlock)  (2, 320, 8)"), std::string::npos) << out;
  ASSERT_EQ(test::run_cli("model-info tresnetF --seq-len 4000 --fs 250 --set block.bias=true", &out), 0) << out;
  EXPECT_NE(out.find("output:   (2, 1024, 125)"), std::string::npos) << out;
  EXPECT_EQ(test::run_cli("model-info resnet_18 --set block.attn.name=sqeeze", &out), 2) << out;
  EXPECT_NE(out.find("block.attn.name: unknown block 'sqeeze'"), std::string::npos) << out;
}

}  // namespace
}  // namespace cardiotorch::models
