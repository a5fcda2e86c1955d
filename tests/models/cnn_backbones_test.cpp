// torch_ecg's VGG16, MultiScopicCNN, MobileNet V1/V2/V3, Xception and DenseNet backbones: the
// presets' output shapes and exact parameter counts of torch_ecg.md §1.4, output lengths at
// every tabulated input length, numeric parity with torch_ecg-style PyTorch (fixtures made by
// tests/fixtures/models/make_cnn_parity.py), torch_ecg's state-dict names, the seed-002
// lead-wise weight assignment, lead separation of lead-wise models, capture points and config
// errors.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/models/capture.h"
#include "cardiotorch/models/multi_scopic.h"
#include "cardiotorch/models/saliency.h"
#include "models/model_test_util.h"
#include "support/test_util.h"

namespace cardiotorch::models {
namespace {

ModelPtr build(const std::string& yaml, ModelContext ctx = {}) {
  manual_seed(0);
  return build_model(ConfigNode::parse(yaml, "test.yaml"), ctx);
}

std::string config_error(const std::string& yaml, ModelContext ctx = {}) {
  try {
    build(yaml, ctx);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

ModelContext six_leads() {
  ModelContext c;
  c.in_channels = 6;
  return c;
}

struct Expected {
  const char* name;
  Shape out;  // for input (2, 12, 2000)
  int64_t params;
};

// torch_ecg.md §1.4, measured on torch_ecg b10c415b.
const std::vector<Expected> kTorchEcg = {
    {"vgg16", {2, 384, 61}, 13807584},
    {"vgg16_mish", {2, 384, 61}, 13807584},
    {"vgg16_swish", {2, 384, 61}, 13807584},
    {"vgg16_leadwise", {2, 1536, 61}, 18426816},
    {"multi_scopic", {2, 1152, 250}, 6737760},
    {"multi_scopic_leadwise", {2, 2304, 250}, 2254464},
    {"mobilenet_v1", {2, 1152, 63}, 4103532},
    {"mobilenet_v2", {2, 1536, 32}, 17453520},
    {"mobilenet_v3", {2, 1536, 32}, 17559336},
    {"xception_vanilla", {2, 2048, 63}, 20740440},
    {"xception_leadwise", {2, 6144, 63}, 184324872},
    {"densenet_vanilla", {2, 188, 125}, 768352},
    {"densenet_leadwise", {2, 144, 125}, 51792},
};

void check_presets(int64_t min_params, int64_t max_params) {
  for (const auto& e : kTorchEcg) {
    if (e.params < min_params || e.params >= max_params) continue;
    const ModelPtr m = build(e.name);
    EXPECT_EQ(m->output_shape(2000, 2), e.out) << e.name;
    EXPECT_EQ(count_parameters(*m, true), e.params) << e.name;
    EXPECT_EQ(m->embed_dim(), e.out[1]) << e.name;
  }
}
TEST(CnnPresets, SmallPresetsMatchTorchEcgShapesAndParameterCounts) { check_presets(0, 10'000'000); }
TEST(CnnPresets, MidSizePresetsMatchTorchEcgShapesAndParameterCounts) { check_presets(10'000'000, 100'000'000); }
TEST(CnnPresets, XceptionLeadwiseMatchesTorchEcgShapeAndParameterCount) { check_presets(100'000'000, INT64_MAX); }

TEST(CnnPresets, OutputLengthsEqualTorchEcgAtEveryLength) {
  // torch_ecg.md §1.4: L_out for L = 1000, 1999, 2000, 4000, 5000.
  const std::vector<int64_t> lengths{1000, 1999, 2000, 4000, 5000};
  const std::map<std::string, std::vector<int64_t>> table{{"vgg16", {30, 61, 61, 124, 155}},
                                                          {"vgg16_leadwise", {30, 61, 61, 124, 155}},
                                                          {"mobilenet_v1", {32, 63, 63, 125, 157}},
                                                          {"xception_vanilla", {32, 63, 63, 125, 157}},
                                                          {"mobilenet_v2", {16, 32, 32, 63, 79}},
                                                          {"mobilenet_v3", {16, 32, 32, 63, 79}},
                                                          {"multi_scopic", {125, 249, 250, 500, 625}},
                                                          {"multi_scopic_leadwise", {125, 249, 250, 500, 625}},
                                                          {"densenet_vanilla", {62, 125, 125, 250, 312}},
                                                          {"densenet_leadwise", {62, 125, 125, 250, 312}}};
  for (const auto& kv : table) {
    const ModelPtr m = build(kv.first);
    for (size_t i = 0; i < lengths.size(); ++i)
      EXPECT_EQ(m->output_shape(lengths[i])[2], kv.second[i]) << kv.first << " at " << lengths[i];
    EXPECT_EQ(m->output_shape(kUnknown), (Shape{kUnknown, m->embed_dim(), kUnknown})) << kv.first;
  }
}

// --- parity with PyTorch ------------------------------------------------------------------

class CnnParity : public ::testing::TestWithParam<std::string> {};

TEST_P(CnnParity, MatchesTorchEcgStylePyTorch) {
  const auto [y, expected] =
      test::run_parity_fixture("cnn_parity_" + GetParam() + ".npz", [](const std::string& yaml, int64_t in_channels) {
        ModelContext ctx;
        ctx.in_channels = in_channels;
        return build(yaml, ctx);
      });
  ASSERT_EQ(y.sizes(), expected.sizes());
  const double err = (y - expected).abs().max().item<double>();
  const double scale = std::max(1.0, expected.abs().max().item<double>());
  EXPECT_LT(err / scale, 1e-5) << "max abs difference " << err << " (outputs up to " << scale << ")";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CnnParity,
                         ::testing::Values("vgg16_small", "multi_scopic_small", "multi_scopic_leadwise_small",
                                           "densenet_leadwise_small", "densenet_bottleneck_small", "mobilenet_v1_small",
                                           "mobilenet_v2_small", "mobilenet_v3_small", "xception_small"));

// --- state-dict names ---------------------------------------------------------------------

TEST(CnnNames, StateDictKeysAreTorchEcgs) {
  struct Case {
    const char* model;
    std::vector<const char*> keys;
  };
  const std::vector<Case> cases{
      {"vgg16", {"vgg_block_1.cba_1.conv1d.weight", "vgg_block_5.cba_3.batch_norm.running_var"}},
      {"multi_scopic",
       {"branches.branch_2.block_2.ca_2.conv1d.weight", "branches.branch_0.block_1.bn.num_batches_tracked"}},
      {"mobilenet_v1",
       {"init_convs.conv1d.weight", "entry_flow.separable_conv_5.depthwise_conv.batch_norm.weight",
        "exit_flow.separable_conv_1.pointwise_conv.conv1d.bias"}},
      {"mobilenet_v2",
       {"stem.conv1d.weight", "inv_res_0.main_stream.depthwise_conv.conv1d.weight",
        "inv_res_16.main_stream.expansion.conv1d.weight", "exit_flow.batch_norm.weight"}},
      {"mobilenet_v3",
       {"stem.init_conv.conv1d.weight", "block_0.inv_res_0.main_stream.se.fc.0.lin_0.weight",
        "block_3.inv_res_2.main_stream.pointwise_conv.batch_norm.bias"}},
      {"xception_vanilla",
       {"entry_flow.init_convs.cba_1.conv1d.weight",
        "entry_flow.entry_flow_conv_block_0.main_stream_conv.acb_0.conv1d.depthwise_conv.weight",
        "entry_flow.entry_flow_conv_block_2.shortcut.down_sample.weight",
        "middle_flow.middle_flow_conv_block_7.main_stream_conv.acb_2.batch_norm.weight",
        "exit_flow.final_convs.cba_1.conv1d.pointwise_conv.bias"}},
      {"densenet_vanilla",
       {"init_cba.conv1d.weight", "dense_macro_block_3.dense_building_block_5.bac.batch_norm.weight",
        "transition_2.bac.conv1d.weight"}},
  };
  for (const auto& c : cases) {
    const ModelPtr m = build(c.model);
    std::set<std::string> keys;
    for (const auto& p : m->named_parameters()) keys.insert(p.key());
    for (const auto& b : m->named_buffers()) keys.insert(b.key());
    for (const char* k : c.keys) EXPECT_TRUE(keys.count(k)) << c.model << " lacks " << k;
  }
  // torch_ecg's MobileNetV3 small: SE in the blocks of stages 0, 2 and 3 only.
  const ModelPtr v3 = build("mobilenet_v3");
  std::set<std::string> se_blocks;
  for (const auto& p : v3->named_parameters())
    if (p.key().find(".main_stream.se.") != std::string::npos) se_blocks.insert(p.key().substr(0, p.key().find('.')));
  EXPECT_EQ(se_blocks, (std::set<std::string>{"block_0", "block_2", "block_3"}));
}

// --- lead-wise models ---------------------------------------------------------------------

// The seed-002 example (torch_ecg MultiScopicCNN.assign_weights_lead_wise): a 6-lead lead-wise
// model given the weights of the chosen leads of a 12-lead one computes exactly the 12-lead
// branch outputs at those leads' channels when the other leads are zero.
TEST(LeadWise, SixLeadModelReproducesTheTwelveLeadBranchesAfterAssignment) {
  ModelContext c12, c6;
  c12.in_channels = 12;
  c6.in_channels = 6;
  const ModelPtr m12 = build("{name: multi_scopic_leadwise}", c12);
  const ModelPtr m6 = build(
      "{name: multi_scopic_leadwise, groups: 6, num_filters: [[96, 192, 384], [96, 192, 384], "
      "[96, 192, 384]]}",
      c6);
  auto& a = dynamic_cast<MultiScopicCNNImpl&>(*m12);
  auto& b = dynamic_cast<MultiScopicCNNImpl&>(*m6);
  // Trained-looking statistics, so the running statistics must travel with the weights.
  {
    at::NoGradGuard no_grad;
    manual_seed(3);
    for (auto& buf : m12->named_buffers())
      if (buf.key().find("running_mean") != std::string::npos) buf.value().uniform_(-0.5, 0.5);
      else if (buf.key().find("running_var") != std::string::npos) buf.value().uniform_(0.5, 2.0);
  }
  m12->eval();
  m6->eval();
  const std::vector<int64_t> indices{0, 1, 2, 3, 4, 10};
  manual_seed(7);
  const at::Tensor x6 = at::randn({1, 6, 200});
  at::Tensor x12 = at::zeros({1, 12, 200});
  for (size_t i = 0; i < indices.size(); ++i) x12.select(1, indices[i]).copy_(x6.select(1, static_cast<int64_t>(i)));
  at::NoGradGuard no_grad;
  auto selected = [&](const at::Tensor& y12) {
    const int64_t units = y12.size(1) / 12;
    std::vector<int64_t> rows;
    for (int64_t i : indices)
      for (int64_t j = 0; j < units; ++j) rows.push_back(i * units + j);
    return y12.index_select(1, at::tensor(rows, at::kLong));
  };
  for (size_t br = 0; br < a.num_branches(); ++br)
    EXPECT_FALSE(at::equal(b.branch(br).forward(x6), selected(a.branch(br).forward(x12)))) << "branch " << br;

  a.assign_weights_lead_wise(b, indices);
  std::vector<at::Tensor> picked;
  for (size_t br = 0; br < a.num_branches(); ++br) {
    const at::Tensor y6 = b.branch(br).forward(x6);
    const at::Tensor y12 = selected(a.branch(br).forward(x12));
    EXPECT_TRUE(at::equal(y6, y12)) << "branch " << br << ": max |diff| " << (y6 - y12).abs().max().item<double>();
    picked.push_back(y12);
  }
  // The whole model: the branches' picked channels, concatenated.
  EXPECT_TRUE(at::equal(m6->forward(x6), at::cat(picked, 1)));
}

TEST(LeadWise, AssignmentChecksItsPreconditions) {
  ModelContext c12, c6;
  c12.in_channels = 12;
  c6.in_channels = 6;
  const ModelPtr m12 = build("multi_scopic_leadwise", c12);
  auto& a = dynamic_cast<MultiScopicCNNImpl&>(*m12);
  auto error = [&](const std::string& yaml, const std::vector<int64_t>& idx) {
    const ModelPtr m = build(yaml, c6);
    try {
      a.assign_weights_lead_wise(dynamic_cast<MultiScopicCNNImpl&>(*m), idx);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  const std::string half = "num_filters: [[96, 192, 384], [96, 192, 384], [96, 192, 384]]";
  EXPECT_NE(
      error("{name: multi_scopic_leadwise, groups: 6, num_filters: [[96, 192, 384], [96, 192, 384], [96, 192, 390]]}",
            {0, 1, 2, 3, 4, 5})
          .find("proportional"),
      std::string::npos);
  EXPECT_NE(error("{name: multi_scopic_leadwise, groups: 6, " + half + "}", {0, 1, 2, 3, 4}).find("5 lead indices"),
            std::string::npos);
  EXPECT_NE(error("{name: multi_scopic_leadwise, groups: 6, " + half + "}", {0, 1, 2, 3, 4, 4}).find("given twice"),
            std::string::npos);
  EXPECT_NE(error("{name: multi_scopic_leadwise, groups: 6, " + half + "}", {0, 1, 2, 3, 4, 12}).find("outside"),
            std::string::npos);
  EXPECT_NE(
      error("{name: multi_scopic_leadwise, groups: 3, num_filters: [[96, 192, 384], [96, 192, 384], [96, 192, 384]]}",
            {0, 1, 2, 3, 4, 5})
          .find("not lead-wise"),
      std::string::npos);
  EXPECT_NE(error("{name: multi_scopic_leadwise, groups: 6, " + half + ", filter_lengths: 9}", {0, 1, 2, 3, 4, 5})
                .find("differs"),
            std::string::npos);
}

// In a lead-wise network (groups == leads) output group g depends on input lead g only; the
// DenseNet concatenation must interleave the groups to keep that.
TEST(LeadWise, OutputGroupsDependOnTheirOwnLeadOnly) {
  for (const char* name : {"{name: densenet_leadwise, num_layers: [2, 2, 2], init_num_filters: 24, growth_rates: 12}",
                           "{name: vgg16_leadwise, num_convs: [1, 1], num_filters: [24, 48]}",
                           "{name: multi_scopic_leadwise, num_filters: [[24, 48, 48], [24, 48, 48], [24, 48, 48]]}"}) {
    const ModelPtr m = build(name);
    m->eval();
    at::NoGradGuard no_grad;
    manual_seed(1);
    const at::Tensor x = at::randn({1, 12, 400});
    at::Tensor x2 = x.clone();
    x2.select(1, 5).normal_();
    const at::Tensor y = m->forward(x), y2 = m->forward(x2);
    const int64_t C = y.size(1), units = C / 12;
    // Multi-scopic output is per branch: group-major within each of its 3 branches.
    const bool branches = std::string(name).find("multi_scopic") != std::string::npos;
    const int64_t per = branches ? C / 3 : C, u = per / 12;
    (void)units;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t group = (c % per) / u;
      const bool changed = !at::equal(y.select(1, c), y2.select(1, c));
      EXPECT_EQ(changed, group == 5) << name << ": channel " << c << " (group " << group << ")";
    }
  }
}

// --- capture points -----------------------------------------------------------------------

TEST(CnnCapture, StagesAreOfferedUnderTheirModuleNames) {
  struct Case {
    const char* model;
    std::vector<const char*> names;
  };
  const std::vector<Case> cases{
      {"{name: vgg16, num_convs: [1, 2], num_filters: [8, 8]}",
       {"vgg_block_1", "vgg_block_2.cba_2", "vgg_block_2.max_pool"}},
      {"{name: multi_scopic, num_filters: 4}",
       {"branches.branch_0", "branches.branch_2.block_1", "branches.branch_1.block_0.ca_0"}},
      {"{name: resnet_nature_comm_se, num_filters: [8, 8, 8, 8], stem: {num_filters: 8}}",
       {"input_stem", "input_stem.conv_0", "ResNetBasicBlock_1_0", "ResNetBasicBlock_1_0.main_stream.se",
        "ResNetBasicBlock_3_0.shortcut"}},
      {"{name: densenet_vanilla, num_layers: [1, 1], init_num_filters: 8, growth_rates: 4}",
       {"init_cba", "dense_macro_block_1", "transition_0.down", "dense_macro_block_0.dense_building_block_0.bac"}},
  };
  for (const auto& c : cases) {
    const ModelPtr m = build(c.model);
    CaptureSession s;
    at::NoGradGuard no_grad;
    m->forward(at::randn({1, 12, 500}));
    std::set<std::string> seen(s.seen().begin(), s.seen().end());
    for (const char* n : c.names) EXPECT_TRUE(seen.count(n)) << c.model << " does not offer " << n;
  }
  // Grad-CAM reaches a named stage, and by default picks the last feature map.
  const ModelPtr v = build("{name: vgg16, num_convs: [1, 1, 1], num_filters: [8, 8, 8]}");
  manual_seed(2);
  const at::Tensor x = at::randn({2, 12, 600});
  const SaliencyResult r = grad_cam(*v, x, "vgg_block_2");
  EXPECT_EQ(r.layer, "vgg_block_2");
  EXPECT_EQ(r.map.sizes(), (std::vector<int64_t>{2, 600}));
  EXPECT_EQ(grad_cam(*v, x).layer, "vgg_block_3");
}

// --- config keys --------------------------------------------------------------------------

TEST(CnnConfig, GranularityOfMultiScopicKeys) {
  // Scalars cover everything below them; a per-conv list sets each conv.
  const ModelPtr m = build(
      "{name: multi_scopic, scopes: [[[1, 2]], [[3]]], num_filters: [[[4, 6]], 8], "
      "filter_lengths: 5, subsample_lengths: [[2], 2], dropouts: {p: 0.1, type: 1d}}");
  const auto sd = m->named_parameters();
  EXPECT_EQ(sd["branches.branch_0.block_0.ca_0.conv1d.weight"].sizes(), (std::vector<int64_t>{4, 12, 5}));
  EXPECT_EQ(sd["branches.branch_0.block_0.ca_1.conv1d.weight"].sizes(), (std::vector<int64_t>{6, 4, 5}));
  EXPECT_EQ(sd["branches.branch_1.block_0.ca_0.conv1d.weight"].sizes(), (std::vector<int64_t>{8, 12, 5}));
  EXPECT_EQ(m->output_shape(1000, 2), (Shape{2, 14, 500}));
}

TEST(CnnConfig, PreciseErrorsNameTheKey) {
  EXPECT_NE(config_error("{name: multi_scopic, num_filters: [[96, 192], [96, 192, 384], [96, 192, 384]]}")
                .find("num_filters[0] must be one value or a list with one entry per block (3 blocks in branch 0)"),
            std::string::npos);
  EXPECT_NE(config_error("{name: multi_scopic, subsample_lengths: [2, 2, [2, 3, 2]]}").find("branch 2 gives"),
            std::string::npos);
  EXPECT_NE(config_error("{name: multi_scopic, dropouts: {p: 0.1, type: 2d}}").find("type must be 1d"),
            std::string::npos);
  EXPECT_NE(config_error("{name: vgg16, num_filters: [1, 2]}").find("num_filters gives 2 blocks, but num_convs has 5"),
            std::string::npos);
  EXPECT_NE(config_error("{name: vgg16, block: {batch_norm: grup_norm}}").find("did you mean 'group_norm'"),
            std::string::npos);
  EXPECT_NE(config_error("{name: mobilenet_v3, inv_res: {attn_pos: [7]}}").find("attn_pos 7 is past"),
            std::string::npos);
  EXPECT_NE(config_error("{name: densenet_vanilla, growth_rates: [16, 16]}").find("growth_rates gives 2 values for 4"),
            std::string::npos);
  EXPECT_NE(
      config_error("{name: xception_vanilla, middle_flow: {num_filters: [[728, 728, 700]]}}").find("keeps its width"),
      std::string::npos);
  EXPECT_NE(config_error("{name: multi_scopic_leadwise}", six_leads()).find("not divisible by groups 12"),
            std::string::npos);
}

TEST(CnnConfig, KernelsFollowTheSamplingRate) {
  ModelContext ctx;
  ctx.fs = 250.0;
  const ModelPtr m = build("vgg16", ctx);  // 15 at 500 Hz -> 7.5 -> 8 -> odd 9
  EXPECT_EQ(m->named_parameters()["vgg_block_1.cba_1.conv1d.weight"].size(2), 9);
  const ModelPtr d = build("{name: densenet_vanilla, base_fs: 0}", ctx);
  EXPECT_EQ(d->named_parameters()["init_cba.conv1d.weight"].size(2), 25);
}

}  // namespace
}  // namespace cardiotorch::models
