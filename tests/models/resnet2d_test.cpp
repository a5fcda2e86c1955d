// The 2-D ResNet against torchvision: initialisation bit for bit, eval and train forwards to
// 1e-5, parameter names / shapes / counts of the full-size nets, and the shape contract.
// Fixtures: tests/fixtures/models/make_resnet2d_fixtures.py.
#include "cardiotorch/models/resnet2d.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <fstream>
#include <sstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/models/capture.h"
#include "models/model_test_util.h"

namespace ct = cardiotorch;
namespace m = cardiotorch::models;
using ct::test::load_state;
using ct::test::max_rel_diff;
using ct::test::model_fixture;
using ct::test::state_of;

namespace {

// The narrow nets of the fixtures (torchvision's classes at base 8 / 4).
m::ResNet2dOptions basic_narrow() {
  m::ResNet2dOptions o;
  o.layers = {1, 1, 1, 1};
  o.base_planes = 8;
  o.num_classes = 5;
  return o;
}

m::ResNet2dOptions bottleneck_narrow() {
  m::ResNet2dOptions o;
  o.block = "bottleneck";
  o.layers = {1, 1, 1, 1};
  o.base_planes = 4;
  o.groups = 2;
  o.width_per_group = 32;
  o.num_classes = 3;
  return o;
}

struct Case {
  const char* fixture;
  m::ResNet2dOptions options;
};

std::vector<Case> cases() {
  return {{"resnet2d_basic.npz", basic_narrow()}, {"resnet2d_bottleneck.npz", bottleneck_narrow()}};
}

bool is_bn_entry(const std::string& name, const std::map<std::string, at::Tensor>& state) {
  // BatchNorm entries are the ones with running statistics next to them.
  const auto dot = name.rfind('.');
  return state.count(name.substr(0, dot) + ".running_mean") != 0;
}

// "<arch> <name> [a,b,c]" lines of resnet2d_shapes.txt for one arch, and its parameter count.
std::map<std::string, std::vector<int64_t>> torchvision_shapes(const std::string& file, const std::string& arch,
                                                               int64_t* params) {
  std::ifstream in(ct::test::source_path("tests/fixtures/models/" + file));
  EXPECT_TRUE(in.good()) << file;
  std::map<std::string, std::vector<int64_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string a, name, shape;
    ss >> a >> name >> shape;
    if (a != arch) continue;
    if (name == "parameters") {
      if (params) *params = std::stoll(shape);
      continue;
    }
    std::vector<int64_t> dims;
    std::string inner = shape.substr(1, shape.size() - 2);
    std::istringstream ds(inner);
    std::string d;
    while (std::getline(ds, d, ','))
      if (!d.empty()) dims.push_back(std::stoll(d));
    out[name] = dims;
  }
  return out;
}

}  // namespace

TEST(ResNet2d, InitialisationEqualsTorchvisionBitForBit) {
  for (const auto& c : cases()) {
    auto f = model_fixture(c.fixture);
    torch::manual_seed(f.at("seed").item<int64_t>());
    auto net = std::make_shared<m::ResNet2dImpl>(c.options);
    const auto state = state_of(*net);
    int64_t bn = 0;
    for (const auto& kv : state) {
      const at::Tensor& want = f.at("state." + kv.first);
      ASSERT_EQ(kv.second.sizes(), want.sizes()) << kv.first;
      const std::string leaf = kv.first.substr(kv.first.rfind('.') + 1);
      if (!is_bn_entry(kv.first, state)) {
        // conv and fc weights: the fixture keeps them as torchvision initialised them.
        EXPECT_TRUE(at::equal(kv.second, want)) << c.fixture << ": " << kv.first;
      } else if (leaf == "weight" || leaf == "running_var") {
        EXPECT_TRUE(at::equal(kv.second, at::ones_like(kv.second))) << kv.first;
        bn += leaf == "weight";
      } else {
        EXPECT_EQ(kv.second.abs().max().item<double>(), 0.0) << kv.first;
      }
    }
    EXPECT_EQ(bn, f.at("init_bn_count").item<int64_t>()) << c.fixture;
  }
}

TEST(ResNet2d, EvalForwardMatchesTorchvision) {
  for (const auto& c : cases()) {
    auto f = model_fixture(c.fixture);
    auto net = std::make_shared<m::ResNet2dImpl>(c.options);
    const auto used = load_state(*net, f, "state.");
    EXPECT_EQ(used.size(), state_of(*net).size());
    net->eval();
    at::NoGradGuard no_grad;
    const at::Tensor x = f.at("input");
    EXPECT_LT(max_rel_diff(net->forward(x), f.at("output_eval")), 1e-5) << c.fixture;
    EXPECT_LT(max_rel_diff(net->forward_features(x), f.at("features_eval")), 1e-5) << c.fixture;
    EXPECT_LT(max_rel_diff(net->embed(x), f.at("pooled_eval")), 1e-5) << c.fixture;
  }
}

TEST(ResNet2d, TrainForwardAndRunningStatisticsMatchTorchvision) {
  for (const auto& c : cases()) {
    auto f = model_fixture(c.fixture);
    auto net = std::make_shared<m::ResNet2dImpl>(c.options);
    load_state(*net, f, "state.");
    net->train();
    at::NoGradGuard no_grad;
    EXPECT_LT(max_rel_diff(net->forward(f.at("input")), f.at("output_train")), 1e-5) << c.fixture;
    int64_t checked = 0;
    for (const auto& b : net->named_buffers(true)) {
      const at::Tensor& want = f.at("train." + b.key());
      EXPECT_LT(max_rel_diff(b.value(), want), 1e-5) << b.key();
      ++checked;
    }
    EXPECT_GT(checked, 0);
  }
}

TEST(ResNet2d, FullSizeNamesShapesAndCountsMatchTorchvision) {
  struct Full {
    const char* arch;
    const char* registered;  // registry preset, or "" for options below
    m::ResNet2dOptions options;
  };
  m::ResNet2dOptions resnext = m::ResNet2dOptions::resnet50();
  resnext.groups = 32;
  resnext.width_per_group = 4;
  for (const auto& c : {Full{"resnet18", "resnet18_2d", {}}, Full{"resnet50", "resnet50_2d", {}},
                        Full{"resnext50_32x4d", "", resnext}}) {
    int64_t want_params = 0;
    const auto want = torchvision_shapes("resnet2d_shapes.txt", c.arch, &want_params);
    ASSERT_FALSE(want.empty()) << c.arch;
    // The build context of an image task without classes: torchvision's 1000-way fc.
    m::ModelContext ctx;
    ctx.in_channels = 3;
    const m::ModelPtr net = *c.registered ? m::build_model(ct::ConfigNode::string(c.registered), ctx)
                                          : std::make_shared<m::ResNet2dImpl>(c.options, ctx);
    const auto have = state_of(*net);
    EXPECT_EQ(have.size(), want.size()) << c.arch;
    for (const auto& kv : want) {
      auto it = have.find(kv.first);
      if (it == have.end()) {
        ADD_FAILURE() << c.arch << ": no '" << kv.first << "'";
        continue;
      }
      EXPECT_EQ(it->second.sizes().vec(), kv.second) << c.arch << " " << kv.first;
    }
    EXPECT_EQ(m::count_parameters(*net), want_params) << c.arch;
  }
}

TEST(ResNet2d, ShapesFromConfigEqualForwardShapes) {
  auto net = std::make_shared<m::ResNet2dImpl>(basic_narrow());
  net->eval();
  at::NoGradGuard no_grad;
  for (auto hw : std::vector<std::pair<int64_t, int64_t>>{{64, 48}, {33, 17}, {1, 1}, {7, 100}}) {
    const at::Tensor x = at::randn({2, 3, hw.first, hw.second});
    const m::Shape in = x.sizes().vec();
    m::CaptureSession session;
    EXPECT_EQ(net->forward(x).sizes().vec(), net->output_shape(in));
    EXPECT_EQ(net->forward_features(x).sizes().vec(), net->features_shape(in));
    EXPECT_EQ(net->embed(x).sizes().vec(), (m::Shape{2, net->embed_dim()}));
    EXPECT_EQ(net->forward_localized(x).size(2), net->embed_dim());
    // Every stage model-info lists is a capture point of that shape.
    for (const auto& s : net->stage_shapes(in)) {
      at::Tensor a = session.get(s.first);
      EXPECT_EQ(a.sizes().vec(), s.second) << s.first << " at " << hw.first << "x" << hw.second;
    }
  }
  EXPECT_EQ(net->output_shape({-1, 3, -1, -1}), (m::Shape{-1, 5}));
  EXPECT_EQ(net->features_shape({4, 3, -1, 64}), (m::Shape{4, 64, -1, 2}));
  EXPECT_EQ(net->input_shape(), (m::Shape{-1, 3, -1, -1}));
  EXPECT_THROW(net->output_shape({2, 1, 64, 64}), ct::ShapeError);
  EXPECT_THROW(net->output_shape({2, 3, 64}), ct::ShapeError);
}

TEST(ResNet2d, ClassesComeFromOptionsThenContext) {
  m::ModelContext ctx;
  ctx.num_classes = 4;
  auto o = basic_narrow();
  o.num_classes = -1;
  EXPECT_EQ(m::ResNet2dImpl(o, ctx).num_classes(), 4);
  EXPECT_EQ(m::ResNet2dImpl(o, m::ModelContext{}).num_classes(), 1000);
  o.num_classes = 0;  // headless: forward is the pooled embedding
  auto headless = std::make_shared<m::ResNet2dImpl>(o, ctx);
  EXPECT_FALSE(headless->fc);
  headless->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, 32, 32});
  EXPECT_TRUE(at::allclose(headless->forward(x), headless->embed(x)));
  EXPECT_EQ(headless->output_shape(x.sizes().vec()), (m::Shape{2, 64}));
}

TEST(ResNet2d, GreyInputsRepeatOrAdaptTheFirstConv) {
  auto f = model_fixture("resnet2d_basic.npz");
  auto rgb = std::make_shared<m::ResNet2dImpl>(basic_narrow());
  load_state(*rgb, f, "state.");
  auto o = basic_narrow();
  o.repeat_grey = true;
  auto repeat = std::make_shared<m::ResNet2dImpl>(o);
  load_state(*repeat, f, "state.");  // 3-channel conv1: RGB checkpoints load as they are
  auto o1 = basic_narrow();
  o1.in_channels = 1;
  auto grey = std::make_shared<m::ResNet2dImpl>(o1);
  EXPECT_EQ(grey->conv1->weight.size(1), 1);
  auto adapted = f;
  adapted["state.conv1.weight"] = m::adapt_input_conv(f.at("state.conv1.weight"), 1);
  load_state(*grey, adapted, "state.");
  for (auto& n : {rgb, repeat, grey}) n->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 1, 40, 36});
  const at::Tensor want = rgb->forward(x.repeat({1, 3, 1, 1}));
  EXPECT_LT(max_rel_diff(repeat->forward(x), want), 1e-6);
  EXPECT_LT(max_rel_diff(grey->forward(x), want), 1e-5);
  EXPECT_EQ(repeat->input_shape(), (m::Shape{-1, 1, -1, -1}));

  // A grey image into the RGB model says which options fit.
  try {
    rgb->forward(x);
    ADD_FAILURE() << "no error";
  } catch (const ct::ShapeError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("repeat_grey: true"));
  }
  // A 3-channel checkpoint cannot be made 2-channel.
  try {
    m::adapt_input_conv(f.at("state.conv1.weight"), 2, "encoder_imaging.0.weight");
    ADD_FAILURE() << "no error";
  } catch (const ct::ShapeError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("encoder_imaging.0.weight"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("in_channels: 3"));
  }
}

TEST(ResNet2d, OptionsAreValidatedWithKeyPaths) {
  const m::ModelContext ctx;
  auto expect_error = [&](const std::string& yaml, const std::string& what) {
    try {
      m::build_model(ct::ConfigNode::parse(yaml), ctx);
      ADD_FAILURE() << yaml << ": no error";
    } catch (const ct::ConfigError& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(what)) << yaml;
    }
  };
  expect_error("{name: resnet18_2d, block: bottle}", "did you mean 'bottleneck'");
  expect_error("{name: resnet18_2d, groups: 32}", "basic block supports only groups 1");
  expect_error("{name: resnet18_2d, layers: [2, 2, 2]}", "4 layers");
  expect_error("{name: resnet50_2d, repeat_grey: true, in_channels: 1}", "repeat_grey");
  expect_error("{name: resnet18_2d, num_clases: 3}", "did you mean 'num_classes'");
  // The registered presets resolve without building.
  const auto resolved = m::registry_for("resnet50_2d").resolve(ct::ConfigNode::string("resnet50_2d"));
  EXPECT_EQ(resolved["block"].as_string(), "bottleneck");
}
