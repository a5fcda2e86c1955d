// torch_ecg's task models (ECG_CRNN, ECG_SEQ_LAB_NET, ECG_UNET, ECG_SUBTRACT_UNET, RR_LSTM):
// output shapes and exact parameter counts of torch_ecg.md §1.6, numeric parity with
// torch_ecg-style PyTorch built from torch_ecg model_configs (fixtures made by
// tests/fixtures/models/make_task_fixtures.py; each goes through the config importer, so the
// importer and the model are checked together), the CRF head, and the composers' errors.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/models/crf.h"
#include "cardiotorch/models/ecg_crnn.h"
#include "cardiotorch/models/rr_lstm.h"
#include "cardiotorch/models/torch_ecg_import.h"
#include "support/test_util.h"

namespace cardiotorch::models {
namespace {

ModelPtr build(const std::string& yaml, ModelContext ctx) {
  manual_seed(0);
  return build_model(ConfigNode::parse(yaml, "test.yaml"), ctx);
}

ModelContext context(int64_t channels, int64_t classes, double fs = 500.0) {
  ModelContext c;
  c.in_channels = channels;
  c.num_classes = classes;
  c.fs = fs;
  return c;
}

struct Expected {
  const char* yaml;
  ModelContext ctx;
  Shape in, out;
  int64_t params;
};

void check(const Expected& e) {
  const ModelPtr m = build(e.yaml, e.ctx);
  EXPECT_EQ(m->output_shape(e.in), e.out) << e.yaml;
  EXPECT_EQ(count_parameters(*m, true), e.params) << e.yaml;
}

// torch_ecg.md §1.6 (measured on torch_ecg b10c415b; 7 classes unless noted).
TEST(TaskPresets, EcgCrnnDefaultMatchesTorchEcg) {
  check({"ecg_crnn", context(12, 7), {2, 12, 2000}, {2, 7}, 9559911});
}

TEST(TaskPresets, UnetsMatchTorchEcgAtBothRates) {
  check({"ecg_unet", context(12, 4), {2, 12, 5000}, {2, 5000, 4}, 206860});
  check({"ecg_unet", context(12, 4, 400.0), {2, 12, 5000}, {2, 5000, 4}, 179372});
  check({"ecg_subtract_unet", context(12, 4), {2, 12, 5000}, {2, 5000, 4}, 361084});
  check({"ecg_subtract_unet", context(12, 4, 400.0), {2, 12, 5000}, {2, 5000, 4}, 344828});
}

TEST(TaskPresets, RrLstmConfigsMatchTorchEcg) {
  const ModelContext c = context(1, 7);
  check({"rr_lstm", c, {2, 1, 100}, {2, 100, 7}, 368120});
  check({"rr_af_crf", c, {2, 1, 100}, {2, 100, 7}, 327670});
  check({"rr_af_vanilla", c, {2, 1, 100}, {2, 7}, 345207});
  check({"{name: rr_lstm, clf: {name: linear}, attn: ~}", c, {2, 1, 100}, {2, 100, 7}, 345207});
  check({"{name: rr_lstm, clf: {name: linear}, attn: {name: gc, ratio: 4, pooling_type: attn, fusion_types: [mul]}}", c,
         {2, 1, 100}, {2, 100, 7}, 426308});
  check({"{name: rr_lstm, clf: {name: linear}, attn: {name: nl, subsample_length: 2, batch_norm: true}}", c,
         {2, 1, 100}, {2, 100, 7}, 667007});
  check({"{name: rr_lstm, clf: {name: linear}}", c, {2, 1, 100}, {2, 100, 7}, 385657});
  check({"{name: rr_lstm, lstm: {retseq: false}, attn: ~, clf: {name: linear}}", c, {2, 1, 100}, {2, 7}, 345207});
}

// --- parity with PyTorch through the importer ------------------------------------------------------

std::string text_of(const at::Tensor& t) {
  return std::string(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel()));
}

// Loads `arrays` into `m` by torch_ecg's state-dict names; every entry on both sides must match.
void load_state_dict(ModelImpl& m, const std::map<std::string, at::Tensor>& arrays) {
  std::set<std::string> used;
  at::NoGradGuard no_grad;
  auto load = [&](const std::string& key, at::Tensor& t) {
    auto it = arrays.find(key);
    ASSERT_NE(it, arrays.end()) << "the fixture lacks " << key;
    ASSERT_EQ(t.sizes(), it->second.sizes()) << key;
    t.copy_(it->second);
    used.insert(key);
  };
  for (auto& p : m.named_parameters()) load(p.key(), p.value());
  for (auto& b : m.named_buffers()) load(b.key(), b.value());
  for (const auto& kv : arrays)
    if (kv.first.rfind("__", 0) != 0) {
      EXPECT_TRUE(used.count(kv.first)) << "the model lacks " << kv.first;
    }
}

struct Loaded {
  std::map<std::string, at::Tensor> arrays;
  TorchEcgImport imp;
  ModelPtr model;
};

Loaded load_fixture(const std::string& name) {
  Loaded l;
  l.arrays = io::read_npz(test::source_path("tests/fixtures/models/task_" + name + ".npz"));
  const ConfigNode config = ConfigNode::parse(text_of(l.arrays.at("__torch_ecg_config__")), name + ".json");
  ConfigNode train = ConfigNode::map();
  ConfigNode classes = ConfigNode::sequence();
  std::string c = text_of(l.arrays.at("__classes__"));
  for (size_t start = 0; start <= c.size();) {
    const size_t end = std::min(c.find('\n', start), c.size());
    classes.push_back(ConfigNode::string(c.substr(start, end - start)));
    start = end + 1;
  }
  train.set("classes", classes);
  l.imp = import_torch_ecg_config(text_of(l.arrays.at("__model__")), config, train);
  const at::Tensor x = l.arrays.at("__input__");
  manual_seed(0);
  l.model = build_model(l.imp.model, context(x.size(1), 0));
  load_state_dict(*l.model, l.arrays);
  l.model->eval();
  return l;
}

class TaskParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TaskParity, TorchEcgConfigAndStateDictGiveTorchEcgsOutput) {
  const Loaded l = load_fixture(GetParam());
  if (HasFatalFailure()) return;
  at::NoGradGuard no_grad;
  const at::Tensor x = l.arrays.at("__input__"), expected = l.arrays.at("__output__");
  const at::Tensor y = l.model->forward(x);
  EXPECT_EQ(Shape(y.sizes().vec()), l.model->output_shape(Shape(x.sizes().vec())));
  ASSERT_EQ(y.sizes(), expected.sizes());
  const double err = (y - expected).abs().max().item<double>();
  EXPECT_LT(err, 1e-5) << "max abs difference " << err;
  EXPECT_TRUE(l.imp.report.unknown.empty()) << l.imp.report.to_string();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TaskParity,
                         ::testing::Values(std::string("crnn_lstm_se_max"), std::string("crnn_linear_gc_avg2"),
                                           std::string("crnn_none_nl_none"), std::string("seq_lab_lstm_se_recover"),
                                           std::string("rr_lstm_se_crf"), std::string("rr_lstm_gc_linear_max"),
                                           std::string("rr_lstm_nl_linear")),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(TaskCrf, LikelihoodAndViterbiMatchPyTorch) {
  const Loaded l = load_fixture("rr_lstm_se_crf");
  if (HasFatalFailure()) return;
  auto* rr = dynamic_cast<RrLstmImpl*>(l.model.get());
  ASSERT_NE(rr, nullptr);
  ASSERT_NE(rr->crf(), nullptr);
  at::NoGradGuard no_grad;
  const at::Tensor x = l.arrays.at("__input__");
  const at::Tensor mask = l.arrays.at("__mask__").to(at::kBool);
  const at::Tensor tags = l.arrays.at("__tags__").to(at::kLong);
  const at::Tensor emissions = rr->forward(x);
  const at::Tensor nll = rr->crf()->nll(emissions, tags, mask, "none");
  EXPECT_TRUE(at::allclose(nll.to(at::kDouble), l.arrays.at("__nll__").to(at::kDouble), 1e-5, 1e-4))
      << nll << l.arrays.at("__nll__");
  EXPECT_TRUE(at::equal(rr->decode(x, mask), l.arrays.at("__path__").to(at::kLong)));
  // torch_ecg's RR_LSTM output: the one-hot path, zero outside the mask.
  const at::Tensor onehot = rr->decode_one_hot(x, mask);
  EXPECT_EQ(onehot.sum().item<int64_t>(), mask.sum().item<int64_t>());
  // The mean reduction is the mean of the per-sequence values.
  EXPECT_NEAR(rr->crf()->nll(emissions, tags, mask).item<double>(), nll.mean().item<double>(), 1e-5);
}

// --- composer behaviour and errors -----------------------------------------------------------------

std::string config_error(const std::string& yaml, ModelContext ctx = context(12, 5)) {
  try {
    build(yaml, ctx);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TaskConfig, ErrorsNameTheKey) {
  EXPECT_NE(config_error("{name: ecg_crnn, rnn: {name: gru}}").find("unknown rnn 'gru'"), std::string::npos)
      << config_error("{name: ecg_crnn, rnn: {name: gru}}");
  EXPECT_NE(config_error("{name: ecg_crnn, global_pool: attn}").find("global_pool"), std::string::npos);
  const std::string no_classes = config_error("ecg_crnn", context(12, 0));
  EXPECT_NE(no_classes.find("classes"), std::string::npos) << no_classes;
  const std::string retseq =
      config_error("{name: ecg_crnn, rnn: {name: lstm, retseq: false}, attn: {name: se, reduction: 8}}");
  EXPECT_NE(retseq.find("retseq"), std::string::npos) << retseq;
  EXPECT_NE(config_error("{name: rr_lstm, clf: {name: softmax}}").find("softmax"), std::string::npos);
}

TEST(TaskConfig, SequenceOutputsAreChannelLastAndRecoverTheLength) {
  const std::string seq = R"({name: ecg_seq_lab_net, cnn: {name: resnet_nature_comm, stem: {num_filters: 4},
                              num_filters: [4, 4, 4, 4]}, rnn: ~, attn: ~, clf: {out_channels: [8], dropouts: 0.1}})";
  const ModelPtr m = build(seq, context(12, 3));
  EXPECT_EQ(m->output_shape(Shape{2, 12, 2000}), (Shape{2, 8, 3}));  // 2000 / 4^4, rounded up
  const ModelPtr r = build(R"({name: ecg_seq_lab_net, recover_length: true, cnn: {name: resnet_nature_comm,
                              stem: {num_filters: 4}, num_filters: [4, 4, 4, 4]}, rnn: ~, attn: ~})",
                           context(12, 3));
  r->eval();
  at::NoGradGuard no_grad;
  EXPECT_EQ(r->forward(at::randn({2, 12, 1999})).sizes(), (at::IntArrayRef{2, 1999, 3}));
}

// --- the importer -----------------------------------------------------------------------------------

std::string import_error(const std::string& model, const std::string& json) {
  try {
    import_torch_ecg_config(model, ConfigNode::parse(json, "model_config.json"));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TorchEcgImport, UnregisteredBackboneFamilyNamesTheKeyAndTheKnownFamilies) {
  const std::string e = import_error("ecg_crnn", R"({"cnn": {"name": "vgg16", "vgg16": {"num_convs": [2, 2]}}})");
  EXPECT_NE(e.find("torch_ecg config: cnn.name: 'vgg16' is of no torch_ecg_backbone family"), std::string::npos) << e;
  // The registered families are listed with the torch_ecg class names they answer to.
  EXPECT_NE(e.find("known families: resnet (ResNet/resnet/resnext)"), std::string::npos) << e;
  EXPECT_NE(e.find("`cardiotorch list torch_ecg_backbone`"), std::string::npos) << e;
  const std::string a = import_error("ecg_crnn", R"({"attn": {"name": "bam", "bam": {}}})");
  EXPECT_NE(a.find("attn.name: 'bam' is of no torch_ecg_attention family"), std::string::npos) << a;
  EXPECT_NE(a.find("se (SEBlock/se_block/se)"), std::string::npos) << a;
}

TEST(TorchEcgImport, ModelWithoutImporterIsAnErrorListingThoseWithOne) {
  const std::string e = import_error("vit_patchx", "{}");
  EXPECT_NE(e.find("no torch_ecg importer for model 'vit_patchx'"), std::string::npos) << e;
  EXPECT_NE(e.find("ecg_crnn"), std::string::npos) << e;
}

TEST(TorchEcgImport, ValuesWithoutEquivalentAreErrorsNamingTheKey) {
  const std::string kw = import_error("ecg_crnn", R"({"clf": {"out_channels": [8], "kw_activation": {"negative_slope": 0.2}}})");
  EXPECT_NE(kw.find("clf.kw_activation.negative_slope"), std::string::npos) << kw;
  EXPECT_NE(import_error("ecg_crnn", R"({"global_pool": "attn"})").find("global_pool"), std::string::npos);
  const std::string rnn = import_error("ecg_crnn", R"({"rnn": {"name": "gru"}})");
  EXPECT_NE(rnn.find("rnn.name"), std::string::npos) << rnn;
}

TEST(TorchEcgImport, ReportsIgnoredAndUnknownKeysAndTheBackboneClass) {
  const Loaded l = load_fixture("crnn_lstm_se_max");
  if (HasFatalFailure()) return;
  const std::string r = l.imp.report.to_string();
  EXPECT_NE(r.find("torch_ecg builds 'resnet_nature_comm_bottle_neck_se' as ResNet"), std::string::npos) << r;
  EXPECT_NE(r.find("kw_activation: inplace changes no value"), std::string::npos) << r;
  EXPECT_NE(r.find("other backbone configs are not used"), std::string::npos) << r;
  EXPECT_EQ(l.imp.classes, (std::vector<std::string>{"NORM", "MI", "STTC"}));
  // A key torch_ecg does not read is reported, not fatal.
  TorchEcgImport imp = import_torch_ecg_config("rr_lstm", ConfigNode::parse(R"({"lstm": {"hidden_sizes": [8]},
      "clf": {"name": "linear"}, "attn": {"name": "none"}, "lstm_typo": 3})"));
  EXPECT_EQ(imp.report.unknown, (std::vector<std::string>{"lstm_typo"}));
  EXPECT_EQ(imp.model["lstm"]["hidden_sizes"][0].as_int(), 8);
}

TEST(TorchEcgImport, TellsTorchEcgConfigsFromOurs) {
  EXPECT_TRUE(looks_like_torch_ecg_config(ConfigNode::parse(R"({"cnn": {"name": "resnet"}})")));
  EXPECT_FALSE(looks_like_torch_ecg_config(ConfigNode::parse("{name: ecg_crnn}")));
  EXPECT_FALSE(looks_like_torch_ecg_config(ConfigNode::parse("{model: {name: ecg_crnn}}")));
}

TEST(TorchEcgImport, CheckpointWithoutModelConfigIsADataError) {
  EXPECT_THROW(import_torch_ecg_checkpoint("ecg_crnn", test::source_path("tests/fixtures/models/vit_weights.npz")),
               Error);
}

}  // namespace
}  // namespace cardiotorch::models
