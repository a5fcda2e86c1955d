// The cardiac-MRI encoder and classifier against the seed's structure: parameter names of the
// full-size nets (100 % of a seed checkpoint's `encoder_imaging.` keys used), a seed-style
// checkpoint loaded and run to 1e-5, initialisation equal to torchvision's, freezing, heads.
// Fixtures: tests/fixtures/models/make_resnet2d_fixtures.py.
#include "cardiotorch/models/cmr.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <fstream>
#include <set>
#include <sstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/registry.h"
#include "cardiotorch/models/capture.h"
#include "models/model_test_util.h"

namespace ct = cardiotorch;
namespace m = cardiotorch::models;
using ct::test::load_state;
using ct::test::max_rel_diff;
using ct::test::model_fixture;
using ct::test::state_of;

namespace {

m::ResNet2dOptions basic_narrow() {
  m::ResNet2dOptions o;
  o.layers = {1, 1, 1, 1};
  o.base_planes = 8;
  return o;
}

// The seed's checkpoint names and shapes of `group` ("resnet18", "resnet50.mlp", ...).
std::map<std::string, std::vector<int64_t>> seed_shapes(const std::string& group) {
  std::ifstream in(ct::test::source_path("tests/fixtures/models/cmr_shapes.txt"));
  EXPECT_TRUE(in.good());
  std::map<std::string, std::vector<int64_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string g, name, shape;
    ss >> g >> name >> shape;
    if (g != group) continue;
    std::vector<int64_t> dims;
    std::istringstream ds(shape.substr(1, shape.size() - 2));
    std::string d;
    while (std::getline(ds, d, ','))
      if (!d.empty()) dims.push_back(std::stoll(d));
    out[name] = dims;
  }
  return out;
}

// The one rule the seed's CMREncoder applies: `encoder_imaging.X` <-> `encoder.X`.
std::string to_model_key(const std::string& checkpoint_key) {
  const std::string p = "encoder_imaging.";
  return checkpoint_key.rfind(p, 0) == 0 ? "encoder." + checkpoint_key.substr(p.size()) : checkpoint_key;
}

void expect_same_names_and_shapes(const std::map<std::string, at::Tensor>& model,
                                  const std::map<std::string, std::vector<int64_t>>& want, const std::string& what) {
  EXPECT_EQ(model.size(), want.size()) << what;
  for (const auto& kv : want) {
    auto it = model.find(kv.first);
    if (it == model.end()) {
      ADD_FAILURE() << what << ": the model has no '" << kv.first << "'";
      continue;
    }
    EXPECT_EQ(it->second.sizes().vec(), kv.second) << what << " " << kv.first;
  }
}

}  // namespace

TEST(CmrEncoder, SeedCheckpointNamesMapOneToOne) {
  for (const auto& [arch, dim] : std::vector<std::pair<std::string, int64_t>>{{"resnet18", 512}, {"resnet50", 2048}}) {
    std::map<std::string, std::vector<int64_t>> want;
    for (const auto& kv : seed_shapes(arch)) want[to_model_key(kv.first)] = kv.second;
    ASSERT_GT(want.size(), 50u) << arch;
    const m::ModelPtr enc = m::build_model(ct::ConfigNode::parse("{name: cmr_encoder, arch: " + arch + "}"), {});
    // Every checkpoint key lands on a model entry and every model entry has a key: 100 %.
    expect_same_names_and_shapes(state_of(*enc), want, arch);
    EXPECT_EQ(enc->embed_dim(), dim);
    EXPECT_EQ(enc->output_shape({3, 3, 224, 224}), (m::Shape{3, dim}));
  }
}

TEST(CmrClassifier, HeadsCarryTheSeedsNames) {
  for (const std::string arch : {"resnet18", "resnet50"}) {
    for (const std::string head : {"linear", "mlp"}) {
      std::map<std::string, std::vector<int64_t>> want;
      for (const auto& kv : seed_shapes(arch)) want[to_model_key(kv.first)] = kv.second;
      for (const auto& kv : seed_shapes(arch + "." + head)) want[kv.first] = kv.second;
      m::ModelContext ctx;
      ctx.num_classes = 5;
      const m::ModelPtr net =
          m::build_model(ct::ConfigNode::parse("{name: cmr_classifier, arch: " + arch + ", head: " + head + "}"), ctx);
      expect_same_names_and_shapes(state_of(*net), want, arch + " " + head);
    }
  }
}

TEST(CmrEncoder, LoadsASeedCheckpointAndMatchesItsOutput) {
  auto f = model_fixture("cmr_encoder_imaging.npz");
  // PretrainedWeightsMixin unwraps "state_dict", then maps encoder.X to encoder_imaging.X.
  std::map<std::string, at::Tensor> checkpoint;
  for (const auto& kv : f)
    if (kv.first.rfind("state_dict.", 0) == 0) checkpoint[to_model_key(kv.first.substr(11))] = kv.second;
  auto enc = std::make_shared<m::CmrEncoderImpl>(basic_narrow());
  const auto used = load_state(*enc, checkpoint, "");
  EXPECT_EQ(used.size(), state_of(*enc).size());
  std::set<std::string> unused;
  for (const auto& kv : checkpoint)
    if (!used.count(kv.first)) unused.insert(kv.first.substr(0, kv.first.find('.')));
  EXPECT_EQ(unused, (std::set<std::string>{"projection_head"}));

  enc->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = model_fixture("resnet2d_basic.npz").at("input");
  EXPECT_LT(max_rel_diff(enc->forward(x), f.at("cmr_pooled")), 1e-5);
  EXPECT_LT(max_rel_diff(enc->embed(x), f.at("cmr_pooled")), 1e-5);
  EXPECT_EQ(enc->forward_localized(x).sizes(), (at::IntArrayRef{2, 4, 64}));  // 2 x 2 positions of layer4
  // A single image keeps its batch dim (the seed's squeeze() would drop it).
  EXPECT_EQ(enc->forward(x.slice(0, 0, 1)).sizes(), (at::IntArrayRef{1, 64}));
}

TEST(CmrEncoder, InitialisationEqualsTorchvisionResNetWithoutFc) {
  // The seed builds torchvision.models.resnet18() and drops fc: same seed, same weights.
  const std::vector<std::string> tv{"conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"};
  torch::manual_seed(21);
  m::ResNet2dImpl ref(m::ResNet2dOptions::resnet18(), m::ModelContext{});
  torch::manual_seed(21);
  m::CmrEncoderImpl enc(m::CmrEncoderOptions{});
  const auto want = state_of(ref);
  int64_t compared = 0;
  for (const auto& kv : state_of(enc)) {
    // encoder.<i>.rest -> torchvision child i's name + rest.
    const std::string rest = kv.first.substr(8);
    const size_t dot = rest.find('.');
    const std::string tv_name = tv.at(std::stoul(rest.substr(0, dot))) + rest.substr(dot);
    ASSERT_TRUE(want.count(tv_name)) << kv.first;
    EXPECT_TRUE(at::equal(kv.second, want.at(tv_name))) << kv.first;
    ++compared;
  }
  EXPECT_EQ(compared + 2, static_cast<int64_t>(want.size()));  // all but fc.weight, fc.bias
}

TEST(CmrClassifier, ForwardIsTheHeadOverThePooledEncoder) {
  auto f = model_fixture("cmr_encoder_imaging.npz");
  for (const std::string head : {"linear", "mlp"}) {
    m::CmrClassifierOptions o;
    o.head = head;
    o.num_classes = 3;
    auto net = std::make_shared<m::CmrClassifierImpl>(o, basic_narrow());
    std::map<std::string, at::Tensor> ck;
    for (const auto& kv : f)
      if (kv.first.rfind("state_dict.encoder_imaging.", 0) == 0) ck[to_model_key(kv.first.substr(11))] = kv.second;
    for (const auto& kv : state_of(*net))
      if (kv.first.rfind("head", 0) == 0) ck[kv.first] = kv.second.clone();
    load_state(*net, ck, "");
    net->eval();
    at::NoGradGuard no_grad;
    const at::Tensor x = model_fixture("resnet2d_basic.npz").at("input");
    const at::Tensor feats = net->forward_features(x);
    EXPECT_LT(max_rel_diff(feats, f.at("cmr_pooled")), 1e-5);
    const at::Tensor y = net->forward(x);
    EXPECT_EQ(y.sizes().vec(), net->output_shape(x.sizes().vec()));
    at::Tensor want;
    if (head == "linear") {
      want = at::linear(feats, net->head_linear->weight, net->head_linear->bias);
      EXPECT_EQ(net->head_linear->weight.sizes(), (at::IntArrayRef{3, 64}));
    } else {
      auto p = state_of(*net);
      at::Tensor h = at::relu(at::linear(feats, p.at("head.fc1.weight"), p.at("head.fc1.bias")));
      h = at::relu(at::linear(h, p.at("head.fc2.weight"), p.at("head.fc2.bias")));
      want = at::linear(h, p.at("head.fc3.weight"), p.at("head.fc3.bias"));
      EXPECT_EQ(p.at("head.fc1.weight").sizes(), (at::IntArrayRef{16, 64}));  // d/4
      EXPECT_EQ(p.at("head.fc2.weight").sizes(), (at::IntArrayRef{4, 16}));   // d/16
    }
    EXPECT_LT(max_rel_diff(y, want), 1e-6) << head;
  }
}

TEST(CmrClassifier, FrozenEncoderTrainsTheHeadOnly) {
  m::CmrClassifierOptions o;
  o.num_classes = 4;
  o.freeze_encoder = true;
  auto net = std::make_shared<m::CmrClassifierImpl>(o, basic_narrow());
  EXPECT_EQ(m::count_parameters(*net, true), 64 * 4 + 4);
  for (const auto& p : net->named_parameters())
    EXPECT_EQ(p.value().requires_grad(), p.key().rfind("head", 0) == 0) << p.key();
  const at::Tensor x = at::randn({2, 3, 32, 32});
  net->train();
  net->forward(x).sum().backward();
  for (const auto& p : net->named_parameters())
    EXPECT_EQ(p.value().grad().defined(), p.key().rfind("head", 0) == 0) << p.key();

  // The seed lets a frozen encoder's BatchNorm statistics move in train mode; freeze_bn stops it.
  auto bn_mean = [](m::CmrClassifierImpl& n) { return state_of(n).at("encoder.1.running_mean").clone(); };
  at::NoGradGuard no_grad;
  at::Tensor before = bn_mean(*net);
  net->forward(x);
  EXPECT_FALSE(at::equal(before, bn_mean(*net)));
  o.freeze_bn = true;
  auto fixed = std::make_shared<m::CmrClassifierImpl>(o, basic_narrow());
  fixed->train();
  EXPECT_TRUE(fixed->is_training());
  before = bn_mean(*fixed);
  fixed->forward(x);
  EXPECT_TRUE(at::equal(before, bn_mean(*fixed)));
}

TEST(CmrClassifier, ClassesFromContextAndClearErrors) {
  m::ModelContext ctx;
  ctx.num_classes = 5;
  auto net = m::build_model(ct::ConfigNode::parse("{name: cmr_classifier, head: mlp}"), ctx);
  EXPECT_EQ(net->output_shape({2, 3, 224, 224}), (m::Shape{2, 5}));
  EXPECT_EQ(net->features_shape({2, 3, 224, 224}), (m::Shape{2, 512}));
  EXPECT_THROW(m::build_model(ct::ConfigNode::string("cmr_classifier"), m::ModelContext{}), ct::ConfigError);
  EXPECT_THROW(m::build_model(ct::ConfigNode::parse("{name: cmr_classifier, head: conv}"), ctx), ct::ConfigError);
  EXPECT_THROW(m::build_model(ct::ConfigNode::parse("{name: cmr_classifier, freeze_bn: true}"), ctx), ct::ConfigError);
  EXPECT_THROW(m::build_model(ct::ConfigNode::parse("{name: cmr_encoder, arch: resnet34}"), ctx), ct::ConfigError);
  // Grey frames: repeat_grey keeps the RGB names and shapes.
  auto grey = m::build_model(ct::ConfigNode::parse("{name: cmr_encoder, repeat_grey: true}"), ctx);
  EXPECT_EQ(grey->input_shape(), (m::Shape{-1, 1, -1, -1}));
  EXPECT_EQ(state_of(*grey).at("encoder.0.weight").size(1), 3);
}

TEST(CmrEncoder, StagesAreCapturePoints) {
  auto enc = std::make_shared<m::CmrEncoderImpl>(basic_narrow());
  enc->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, 50, 40});
  m::CaptureSession session;
  enc->forward(x);
  for (const auto& s : enc->stage_shapes(x.sizes().vec())) {
    const std::string name = s.first.substr(0, s.first.find(' '));
    EXPECT_EQ(session.get(name).sizes().vec(), s.second) << s.first;
  }
  EXPECT_EQ(session.seen().size(), 9u);
}

TEST(RegistryNames, CardiacModelsAndSaliency) {
  const std::set<std::string> backbones = [] {
    auto n = ct::registry_of("backbone").names();
    return std::set<std::string>(n.begin(), n.end());
  }();
  for (const char* n : {"resnet18_2d", "resnet50_2d", "cmr_encoder"}) EXPECT_TRUE(backbones.count(n)) << n;
  const auto models = ct::registry_of("model").names();
  for (const char* n : {"cmr_classifier", "linear_classifier"})
    EXPECT_NE(std::find(models.begin(), models.end(), n), models.end()) << n;
  const auto sal = ct::registry_of("saliency").names();
  EXPECT_EQ(std::set<std::string>(sal.begin(), sal.end()), (std::set<std::string>{"attention", "gradcam", "rollout"}));
}

// The same checkpoint through the weights loader and the model's own rules: MMCL's
// `encoder_imaging.` prefix, its other heads expected, and torchvision's names (an ImageNet
// ResNet) — each loads 100 % of the encoder with nothing reported as unexpected.
TEST(CmrEncoder, WeightRulesLoadMmclAndTorchvisionNames) {
  auto f = model_fixture("cmr_encoder_imaging.npz");
  ct::weights::NamedTensors mmcl;
  for (const auto& kv : f)
    if (kv.first.rfind("state_dict.", 0) == 0) mmcl.emplace_back(kv.first.substr(11), kv.second);
  mmcl.emplace_back("encoder_ecg.blocks.0.weight", at::zeros({3}));
  auto enc = std::make_shared<m::CmrEncoderImpl>(basic_narrow());
  const ct::weights::LoadReport r = ct::weights::load_state_dict(*enc, mmcl, {}, enc->weight_rules());
  EXPECT_DOUBLE_EQ(r.coverage(), 1.0) << r.summary();
  EXPECT_TRUE(r.unexpected.empty()) << r.summary();
  enc->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = model_fixture("resnet2d_basic.npz").at("input");
  EXPECT_LT(max_rel_diff(enc->forward(x), f.at("cmr_pooled")), 1e-5);

  // torchvision names: encoder.0 -> conv1, encoder.1 -> bn1, encoder.4..7 -> layer1..4, plus fc.
  static const std::map<std::string, std::string> tv{{"0", "conv1"},  {"1", "bn1"},    {"4", "layer1"},
                                                     {"5", "layer2"}, {"6", "layer3"}, {"7", "layer4"}};
  ct::weights::NamedTensors torchvision;
  for (const auto& [key, value] : state_of(*enc)) {
    const std::string rest = key.substr(8);  // after "encoder."
    torchvision.emplace_back(tv.at(rest.substr(0, 1)) + rest.substr(1), value.clone());
  }
  torchvision.emplace_back("fc.weight", at::zeros({10, 64}));
  auto fresh = std::make_shared<m::CmrEncoderImpl>(basic_narrow());
  const ct::weights::LoadReport t = ct::weights::load_state_dict(*fresh, torchvision, {}, fresh->weight_rules());
  EXPECT_DOUBLE_EQ(t.coverage(), 1.0) << t.summary();
  EXPECT_TRUE(t.unexpected.empty()) << t.summary();
  fresh->eval();
  EXPECT_LT(max_rel_diff(fresh->forward(x), f.at("cmr_pooled")), 1e-5);
}
