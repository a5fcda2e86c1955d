// torch_ecg's task models (ECG_CRNN, ECG_SEQ_LAB_NET, ECG_UNET, ECG_SUBTRACT_UNET, RR_LSTM):
// output shapes and exact parameter counts of torch_ecg.md §1.6, numeric parity with
// torch_ecg-style PyTorch built from torch_ecg model_configs (fixtures made by
// tests/fixtures/models/make_task_fixtures.py and make_unet_fixtures.py; each goes through the config importer, so the
// importer and the model are checked together), the CRF head, and the composers' errors.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/models/crf.h"
#include "cardiotorch/models/ecg_crnn.h"
#include "cardiotorch/models/rr_lstm.h"
#include "cardiotorch/models/torch_ecg_import.h"
#include "models/model_test_util.h"
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

// ECG_SEQ_LAB_NET_CONFIG: multi_scopic 16/32/64, bidirectional LSTM, SE; one class (R peaks).
TEST(TaskPresets, EcgSeqLabNetDefaultMatchesTorchEcg) {
  check({"ecg_seq_lab_net", context(12, 1), {2, 12, 5000}, {2, 625, 1}, 2906193});
  check({"{name: ecg_seq_lab_net, recover_length: true}", context(12, 1), {2, 12, 5000}, {2, 5000, 1}, 2906193});
  // the fs-400-adjusted configs (kernel lengths scaled to the sampling rate), without and with rnn/attn
  check({"{name: ecg_seq_lab_net, rnn: ~, attn: ~}", context(12, 1, 400.0), {2, 12, 4000}, {2, 500, 1}, 258449});
  check({"ecg_seq_lab_net", context(12, 1, 400.0), {2, 12, 4000}, {2, 500, 1}, 2905041});
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
  check({"{name: rr_lstm, clf: {name: linear}, attn: {name: gc, ratio: 4, pooling_type: attn, fusion_types: [mul]}}",
         c,
         {2, 1, 100},
         {2, 100, 7},
         426308});
  check({"{name: rr_lstm, clf: {name: linear}, attn: {name: nl, subsample_length: 2, batch_norm: true}}",
         c,
         {2, 1, 100},
         {2, 100, 7},
         667007});
  check({"{name: rr_lstm, clf: {name: linear}}", c, {2, 1, 100}, {2, 100, 7}, 385657});
  check({"{name: rr_lstm, lstm: {retseq: false}, attn: ~, clf: {name: linear}}", c, {2, 1, 100}, {2, 7}, 345207});
}

// --- parity with PyTorch through the importer ------------------------------------------------------

struct Loaded {
  std::map<std::string, at::Tensor> arrays;
  TorchEcgImport imp;
  ModelPtr model;
};

Loaded load_fixture(const std::string& name) {
  Loaded l;
  l.arrays = io::read_npz(test::source_path("tests/fixtures/models/task_" + name + ".npz"));
  const ConfigNode config = ConfigNode::parse(test::fixture_text(l.arrays.at("__torch_ecg_config__")), name + ".json");
  ConfigNode train = ConfigNode::map();
  ConfigNode classes = ConfigNode::sequence();
  std::string c = test::fixture_text(l.arrays.at("__classes__"));
  for (size_t start = 0; start <= c.size();) {
    const size_t end = std::min(c.find('\n', start), c.size());
    classes.push_back(ConfigNode::string(c.substr(start, end - start)));
    start = end + 1;
  }
  train.set("classes", classes);
  l.imp = import_torch_ecg_config(test::fixture_text(l.arrays.at("__model__")), config, train);
  const at::Tensor x = l.arrays.at("__input__");
  manual_seed(0);
  l.model = build_model(l.imp.model, context(x.size(1), 0));
  test::load_exact_state_dict(*l.model, l.arrays);
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
                                           std::string("rr_lstm_nl_linear"), std::string("unet_nearest"),
                                           std::string("unet_deconv"), std::string("subtract_unet")),
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
  // HarDNet: on torch_ecg's list of backbones never started.
  const std::string e =
      import_error("ecg_crnn", R"({"cnn": {"name": "hardnet68", "hardnet68": {"num_convs": [2, 2]}}})");
  EXPECT_NE(e.find("torch_ecg config: cnn.name: 'hardnet68' is of no torch_ecg_backbone family"), std::string::npos)
      << e;
  // The registered families are listed with the torch_ecg class names they answer to.
  EXPECT_NE(e.find("known families: "), std::string::npos) << e;
  EXPECT_NE(e.find("regnet (RegNet/regnet), resnet (ResNet/resnet/resnext)"), std::string::npos) << e;
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
  const std::string kw =
      import_error("ecg_crnn", R"({"clf": {"out_channels": [8], "kw_activation": {"negative_slope": 0.2}}})");
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

// torch_ecg's default configs (model_configs/*.py), as a checkpoint stores them (merged over the
// class's default config), build networks with torch_ecg's parameter counts (torch_ecg.md §1.6).
const char* kSeAttn = R"("se": {"reduction": 8, "activation": "relu", "kw_activation": {"inplace": true}, "bias": true,
                       "kernel_initializer": "he_normal"})";

std::string ecg_crnn_config() {
  return std::string(R"({"fs": 500,
    "cnn": {"name": "resnet_nature_comm_bottle_neck",
      "resnet_nature_comm_bottle_neck": {"fs": 500, "num_blocks": [1, 1, 1, 1], "subsample_lengths": [4, 4, 4, 4],
        "filter_lengths": 17, "groups": 1, "increase_channels_method": "conv", "kernel_initializer": "he_normal",
        "kw_initializer": {}, "activation": "relu", "kw_activation": {"inplace": true}, "bias": false, "dropouts": 0.2,
        "stem": {"num_filters": 64, "filter_lengths": 17, "conv_stride": 1, "pool_size": 3, "pool_stride": 1},
        "num_filters": [128, 192, 256, 320], "building_block": "bottleneck",
        "block": {"expansion": 4, "increase_channels_method": "conv", "subsample_mode": "conv", "subsample_at": 1,
          "kernel_initializer": "he_normal", "kw_initializer": {}, "activation": "relu",
          "kw_activation": {"inplace": true}, "bias": false}}},
    "rnn": {"name": "none",
      "lstm": {"hidden_sizes": [192, 192], "bias": true, "dropouts": 0.2, "bidirectional": true, "retseq": true},
      "linear": {"out_channels": [256, 64], "bias": true, "dropouts": 0.2, "activation": "mish"}},
    "attn": {"name": "se", )") +
         kSeAttn + R"(,
      "gc": {"ratio": 4, "reduction": true, "pooling_type": "attn", "fusion_types": ["mul"]},
      "nl": {"filter_lengths": {"g": 1, "phi": 1, "theta": 1, "W": 1}, "subsample_length": 2, "batch_norm": true}},
    "global_pool": "max", "global_pool_size": 1,
    "clf": {"out_channels": [1024], "activation": "mish", "kw_activation": {"inplace": true}, "bias": true,
            "kernel_initializer": "he_normal", "dropouts": 0.2}})";
}

const char* kEcgUnetConfig = R"({"fs": 500, "groups": 1, "init_num_filters": 4, "init_filter_length": 25,
  "batch_norm": true, "kernel_initializer": "he_normal", "kw_initializer": {}, "activation": "relu",
  "kw_activation": {"inplace": true}, "down_up_block_num": 4, "down_mode": "max", "down_scales": [2, 2, 2, 2],
  "down_num_filters": [8, 16, 32, 64], "down_filter_lengths": [15, 15, 15, 15], "up_mode": "nearest",
  "up_scales": [2, 2, 2, 2], "up_num_filters": [32, 16, 8, 4], "up_deconv_filter_lengths": [15, 15, 15, 15],
  "up_conv_filter_lengths": [15, 15, 15, 15],
  "down_block": {"batch_norm": true, "kernel_initializer": "he_normal", "kw_initializer": {}, "activation": "relu",
                 "kw_activation": {"inplace": true}},
  "up_block": {"batch_norm": true, "kernel_initializer": "he_normal", "kw_initializer": {}, "activation": "relu",
               "kw_activation": {"inplace": true}},
  "out_filter_length": 9, "out_batch_norm": true})";

const char* kEcgSubtractUnetConfig = R"({"fs": 500, "groups": 1, "init_batch_norm": false, "init_num_filters": 16,
  "init_filter_length": 21, "init_dropouts": [0.0, 0.15, 0.0], "batch_norm": true, "kernel_initializer": "he_normal",
  "kw_initializer": {}, "activation": "relu", "kw_activation": {"inplace": true}, "down_up_block_num": 3,
  "down_mode": "max", "down_scales": [10, 5, 2], "down_num_filters": [[24, 24, 24], [48, 48, 48]],
  "down_filter_lengths": [11, 5], "down_dropouts": [[0.0, 0.15, 0.0], [0.0, 0.15, 0.0]],
  "bottom_num_filters": [[96, 96], [96, 96]], "bottom_filter_lengths": [[5, 5], [5, 5]],
  "bottom_dilations": [[1, 1], [10, 10]], "bottom_dropouts": [[0.15, 0.0], [0.15, 0.0]], "up_mode": "nearest",
  "up_scales": [2, 5, 10], "up_num_filters": [[48, 48, 48], [24, 24, 24], [16, 16, 16]],
  "up_deconv_filter_lengths": [9, 9, 9], "up_conv_filter_lengths": [5, 11, 21],
  "up_dropouts": [[0.15, 0.15, 0.0], [0.15, 0.15, 0.0], [0.15, 0.15, 0.0]],
  "down_block": {"batch_norm": true, "kernel_initializer": "he_normal", "kw_initializer": {}, "activation": "relu",
                 "kw_activation": {"inplace": true}},
  "up_block": {"batch_norm": true, "kernel_initializer": "he_normal", "kw_initializer": {}, "activation": "relu",
               "kw_activation": {"inplace": true}},
  "out_filter_length": 1, "out_batch_norm": true})";

// RR_LSTM_CONFIG with `attn`, `global_pool` and `clf` replaced (RR_AF_* configs merged over it).
std::string rr_config(const std::string& attn, const std::string& pool, const std::string& clf) {
  return R"({"lstm": {"bias": true, "dropouts": 0.1, "bidirectional": true, "retseq": true, "hidden_sizes": [200]},
    "attn": {"name": ")" +
         attn + R"(", )" + kSeAttn + R"(}, "global_pool": ")" + pool + R"(", "global_pool_size": 1,
    "clf": )" +
         clf + "}";
}

int64_t imported_parameters(const std::string& model, const std::string& json, int64_t channels, int64_t classes) {
  const TorchEcgImport imp = import_torch_ecg_config(model, ConfigNode::parse(json, model + ".json"));
  EXPECT_TRUE(imp.report.unknown.empty()) << model << "\n" << imp.report.to_string();
  manual_seed(0);
  return count_parameters(*build_model(imp.model, context(channels, classes)), true);
}

TEST(TorchEcgImport, DefaultConfigsBuildTorchEcgsNetworks) {
  EXPECT_EQ(imported_parameters("ecg_crnn", ecg_crnn_config(), 12, 7), 9559911);
  EXPECT_EQ(imported_parameters("ecg_unet", kEcgUnetConfig, 12, 4), 206860);
  EXPECT_EQ(imported_parameters("ecg_subtract_unet", kEcgSubtractUnetConfig, 12, 4), 361084);
  const std::string crf = R"({"name": "crf", "crf": {"proj_bias": true}})";
  const std::string linear = R"({"name": "linear", "crf": {"proj_bias": true}, "linear": {"out_channels": [50],
      "bias": true, "dropouts": 0.1, "activation": "relu"}})";
  EXPECT_EQ(imported_parameters("rr_lstm", rr_config("se", "avg", crf), 1, 7), 368120);       // RR_LSTM_CONFIG
  EXPECT_EQ(imported_parameters("rr_lstm", rr_config("none", "avg", crf), 1, 7), 327670);     // RR_AF_CRF_CONFIG
  EXPECT_EQ(imported_parameters("rr_lstm", rr_config("none", "max", linear), 1, 7), 345207);  // RR_AF_VANILLA_CONFIG
}

// torch_ecg's model_configs/cnn/regnet.py: generated (regnet_16_8) and explicit (regnet_S) widths.
TEST(TorchEcgImport, RegNetConfigsBuildTorchEcgsBackbones) {
  const std::string common = R"("fs": 500, "stem": {"num_filters": 64, "filter_lengths": 25, "conv_stride": 2,
      "pool_size": 3, "pool_stride": 2},
    "block": {"expansion": EXPANSION, "increase_channels_method": "conv", "subsample_mode": "conv", "subsample_at": 1,
      "kernel_initializer": "he_normal", "kw_initializer": {}, "activation": "relu", "kw_activation": {"inplace": true},
      "bias": false, "attn": {"reduction": 8, "activation": "relu", "kw_activation": {"inplace": true}, "bias": true,
                              "kernel_initializer": "he_normal", "name": "se", "pos": -1}})";
  auto config = [&](const std::string& name, const std::string& widths, const char* expansion) {
    std::string c = common;
    c.replace(c.find("EXPANSION"), 9, expansion);
    return R"({"cnn": {"name": ")" + name + R"(", ")" + name + R"(": {)" + c + ", " + widths + "}}}";
  };
  const std::vector<std::tuple<std::string, std::string, const char*, int64_t>> cases = {
      {"regnet_16_8", R"("filter_lengths": 11, "subsample_lengths": 2, "tot_blocks": 16, "group_widths": 8,
          "w_a": 27.89, "w_0": 48, "w_m": 2.09)",
       "1", 3693387},
      {"regnet_S", R"("num_blocks": [2, 2, 2, 2], "filter_lengths": [13, 11, 7, 5], "subsample_lengths": [2, 2, 2, 2],
          "num_filters": [32, 64, 128, 256], "group_widths": [8, 16, 32, 64])",
       "4", 2900640},
  };
  for (const auto& [name, widths, expansion, params] : cases) {
    const TorchEcgImport imp = import_torch_ecg_config("ecg_crnn", ConfigNode::parse(config(name, widths, expansion)));
    EXPECT_TRUE(imp.report.unknown.empty()) << imp.report.to_string();
    EXPECT_NE(imp.report.to_string().find("as RegNet/regnet"), std::string::npos) << imp.report.to_string();
    manual_seed(0);
    const ModelPtr cnn = build_model(imp.model["cnn"], context(12, 0));
    EXPECT_EQ(count_parameters(*cnn, true), params) << name;
  }
}

TEST(TorchEcgImport, DoesWhatTorchEcgDoesWithoutASequence) {
  // RR_LSTM_CONFIG's avg pooling with a CRF head: torch_ecg ignores it, with a warning.
  TorchEcgImport imp = import_torch_ecg_config(
      "rr_lstm", ConfigNode::parse(rr_config("se", "avg", R"({"name": "crf", "crf": {"proj_bias": true}})")));
  EXPECT_EQ(imp.model["global_pool"].as_string(), "none");
  EXPECT_NE(imp.report.to_string().find("global_pool avg: ignored, as torch_ecg does, for a crf head"),
            std::string::npos)
      << imp.report.to_string();
  // lstm without retseq: torch_ecg drops the attention and swaps the CRF for a linear head.
  std::string json = rr_config("se", "none", R"({"name": "crf", "crf": {"proj_bias": true}})");
  json.replace(json.find(R"("retseq": true)"), 14, R"("retseq": false)");
  imp = import_torch_ecg_config("rr_lstm", ConfigNode::parse(json));
  EXPECT_TRUE(imp.model["attn"].is_null());
  EXPECT_EQ(imp.model["clf"]["name"].as_string(), "linear");
  manual_seed(0);
  const ModelPtr m = build_model(imp.model, context(1, 7));
  EXPECT_EQ(m->output_shape(Shape{2, 1, 100}), (Shape{2, 7}));
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
