// The torch_ecg config importer. tests/fixtures/models/torch_ecg_crnn_config.json is torch_ecg's
// own ECG_CRNN_CONFIG (all 40 backbone configs under `cnn`) dumped to JSON by
// dump_torch_ecg_configs.py, and torch_ecg_ckpt_multi_scopic_leadwise.pth a checkpoint pickled
// the way torch_ecg's CkptMixin.save writes one (its configs are torch_ecg.cfg.CFG objects).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/models/torch_ecg_config.h"
#include "support/test_util.h"

namespace cardiotorch::models {
namespace {

ConfigNode crnn_config() {
  return ConfigNode::load(test::source_path("tests/fixtures/models/torch_ecg_crnn_config.json"));
}

// A config tree as text regardless of YAML style (flow or block sequences).
std::string canonical(const ConfigNode& n) {
  if (n.is_null()) return "~";
  if (n.is_scalar()) return n.as_string();
  std::string s = n.is_map() ? "{" : "[";
  if (n.is_map())
    for (const auto& k : n.keys()) s += k + ": " + canonical(n[k]) + ", ";
  else
    for (size_t i = 0; i < n.size(); ++i) s += canonical(n[i]) + ", ";
  return s + (n.is_map() ? "}" : "]");
}

// "name shape" of every parameter and buffer.
std::vector<std::string> structure(const ModelImpl& m) {
  std::vector<std::string> out;
  for (const auto& p : m.named_parameters()) out.push_back(str_cat(p.key(), " ", shape_string(p.value().sizes().vec())));
  for (const auto& b : m.named_buffers()) out.push_back(str_cat(b.key(), " ", shape_string(b.value().sizes().vec())));
  return out;
}

std::string joined(const std::vector<std::string>& v) { return join(v, "\n"); }

// Every one of torch_ecg's 40 backbone configs maps onto exactly the cardiotorch preset of the
// same name (whose shapes and parameter counts equal torch_ecg's: resnet_test, cnn_backbones_test).
TEST(TorchEcgConfig, AllFortyBackboneConfigsMapOntoThePresets) {
  const ConfigNode cnn = crnn_config()["cnn"];
  size_t n = 0;
  for (const auto& name : cnn.keys()) {
    if (name == "name") continue;
    ++n;
    ConfigNode one = ConfigNode::map();
    one.set("name", ConfigNode::string(name));
    one.set(name, cnn[name]);
    SCOPED_TRACE(name);
    TorchEcgImport imp;
    ASSERT_NO_THROW(imp = import_torch_ecg_backbone(one));
    EXPECT_EQ(imp.config["name"].as_string(), name);
    const ConfigNode preset = backbone_registry().resolve(ConfigNode::string(name));
    // torch_ecg spells some values out per stage ([15, 15, ...]) or leaves an Xception flow's
    // groups to its default where the preset says "inherit" (0): such a config must build the
    // same network (every parameter and buffer name and shape), not the same text.
    if (imp.config.to_yaml() != preset.to_yaml()) {
      manual_seed(0);
      const ModelPtr a = build_model(imp.config, ModelContext{}), b = build_model(ConfigNode::string(name), ModelContext{});
      EXPECT_EQ(structure(*a), structure(*b));
      EXPECT_EQ(a->output_shape(2000, 2), b->output_shape(2000, 2));
    }
    // What is left out is only what cannot change the network.
    for (const auto& line : imp.ignored) {
      EXPECT_EQ(line.find("not supported"), std::string::npos) << line;
      EXPECT_EQ(line.find("no such option"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(n, 40u);
}

TEST(TorchEcgConfig, FamiliesAreChosenLikeEcgCrnn) {
  EXPECT_EQ(torch_ecg_backbone_class("tresnetF"), "ResNet");
  EXPECT_EQ(torch_ecg_backbone_class("resnext_50_32x4d"), "ResNet");
  EXPECT_EQ(torch_ecg_backbone_class("regnet_16_8"), "RegNet");
  EXPECT_EQ(torch_ecg_backbone_class("Multi_Scopic_leadwise"), "MultiScopicCNN");
  EXPECT_EQ(torch_ecg_backbone_class("my_mobilenet_v3_tiny"), "MobileNetV3");
  EXPECT_EQ(torch_ecg_backbone_class("densenet_leadwise"), "DenseNet");
  EXPECT_EQ(torch_ecg_backbone_class("lstm"), "");
}

TEST(TorchEcgConfig, ModifiedConfigsBuildTheModifiedNetworkAndReportWhatTheyIgnore) {
  ConfigNode cnn = crnn_config()["cnn"];
  cnn.set("name", ConfigNode::string("my_multi_scopic"));
  ConfigNode ms = cnn["multi_scopic_leadwise"].clone();
  ms.set("groups", ConfigNode::scalar("6"));
  ms.set("num_filters", ConfigNode::parse("[[96, 192, 384], [96, 192, 384], [96, 192, 384]]"));
  ms.set("foo", ConfigNode::scalar("1"));
  ConfigNode block = ms["block"].clone();
  block.set("kw_activation", ConfigNode::parse("{negative_slope: 0.2}"));
  ms.set("block", block);
  cnn.set("my_multi_scopic", ms);
  const TorchEcgImport imp = import_torch_ecg_backbone(cnn);
  EXPECT_EQ(imp.torch_ecg_class, "MultiScopicCNN");
  EXPECT_EQ(imp.config["name"].as_string(), "multi_scopic");  // no preset of that name: the family's base
  EXPECT_EQ(imp.config["groups"].as_int(), 6);
  const std::string ignored = joined(imp.ignored);
  EXPECT_NE(ignored.find("cnn.my_multi_scopic.foo: no such option in cardiotorch's MultiScopicCNN"), std::string::npos)
      << ignored;
  EXPECT_NE(ignored.find("cnn.my_multi_scopic.block.kw_activation: activation keyword arguments"), std::string::npos);
  EXPECT_NE(ignored.find("not supported"), std::string::npos);
  EXPECT_NE(ignored.find("cnn.my_multi_scopic.kernel_initializer: not read by torch_ecg's MultiScopicCNN"),
            std::string::npos);
  EXPECT_NE(joined(imp.notes).find("cnn.my_multi_scopic.fs -> base_fs"), std::string::npos);
  ModelContext six;
  six.in_channels = 6;
  manual_seed(0);
  const ModelPtr m = build_model(imp.config, six);
  EXPECT_EQ(m->output_shape(2000, 2), (Shape{2, 1152, 250}));
  // 6 of 12 leads with half the filters: half of the lead-wise preset's parameters.
  EXPECT_EQ(count_parameters(*m), 2254464 / 2);
}

TEST(TorchEcgConfig, RenamedKeysAndFamilyRules) {
  const ConfigNode cnn = crnn_config()["cnn"];
  // ResNet attention: attn.pos -> attn_pos.
  const TorchEcgImport r = import_torch_ecg_backbone("resnet_nature_comm_gc", cnn["resnet_nature_comm_gc"], "cnn.x");
  EXPECT_EQ(r.config["block"][0]["attn"]["name"].as_string(), "gc");
  EXPECT_EQ(r.config["block"][0]["attn_pos"].as_int(), -1);
  EXPECT_NE(joined(r.notes).find("block.attn.pos -> block.attn_pos"), std::string::npos);
  // MobileNetV3: attns[i].pos -> attn_pos[i]; a null attention stays null.
  const TorchEcgImport v3 = import_torch_ecg_backbone("mobilenet_v3", cnn["mobilenet_v3"], "cnn.mobilenet_v3");
  EXPECT_TRUE(v3.config["inv_res"]["attns"][1].is_null());
  EXPECT_EQ(v3.config["inv_res"]["attns"][2]["reduction"].as_int(), 8);
  // torch_ecg's `norm` alias of batch_norm.
  ConfigNode vgg = cnn["vgg16"].clone();
  ConfigNode blk = vgg["block"].clone();
  blk.remove("batch_norm");
  blk.set("norm", ConfigNode::string("group_norm"));
  vgg.set("block", blk);
  const TorchEcgImport v = import_torch_ecg_backbone("vgg16", vgg, "cnn.vgg16");
  EXPECT_EQ(v.config["block"]["batch_norm"].as_string(), "group_norm");
  // A value that does not fit names the torch_ecg key path.
  ConfigNode bad = cnn["densenet_vanilla"].clone();
  bad.set("growth_rates", ConfigNode::parse("[16, 16]"));
  try {
    import_torch_ecg_backbone("densenet_vanilla", bad, "cnn.densenet_vanilla");
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cnn.densenet_vanilla"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("growth_rates"), std::string::npos) << e.what();
  }
  // Unknown families and missing sub-configs.
  ConfigNode lstm = ConfigNode::parse("{name: lstm_net, lstm_net: {hidden: 3}}");
  EXPECT_THROW(import_torch_ecg_backbone(lstm), ConfigError);
  EXPECT_THROW(import_torch_ecg_backbone(ConfigNode::parse("{name: vgg16}")), ConfigError);
}

TEST(TorchEcgConfig, ReadsTheModelConfigOfATorchEcgCheckpoint) {
  const std::string path = test::source_path("tests/fixtures/models/torch_ecg_ckpt_multi_scopic_leadwise.pth");
  const ConfigNode mc = read_torch_ecg_model_config(path);
  EXPECT_EQ(mc["cnn"]["name"].as_string(), "multi_scopic_leadwise");
  EXPECT_EQ(mc["rnn"]["name"].as_string(), "none");
  EXPECT_TRUE(mc["cnn"]["multi_scopic_leadwise"]["block"]["kw_activation"]["inplace"].as_bool());
  const TorchEcgImport imp = import_torch_ecg_backbone(mc["cnn"]);
  EXPECT_EQ(canonical(imp.config), canonical(backbone_registry().resolve(ConfigNode::string("multi_scopic_leadwise"))));
  // The same through a JSON model_config, and its YAML round trip builds the same network.
  const std::string dir = test::make_temp_dir("torch_ecg_config");
  test::write_file(dir + "/model_config.json", "{\"cnn\": {\"name\": \"densenet_leadwise\", \"densenet_leadwise\": " +
                                                   std::string("{\"fs\": 250, \"num_layers\": [6, 6, 6, 6], \"init_num_filters\": 96, "
                                                               "\"init_filter_length\": 25, \"growth_rates\": 12, "
                                                               "\"groups\": 12, \"block\": {\"building_block\": \"basic\", "
                                                               "\"memory_efficient\": false}}}}"));
  const TorchEcgImport d = import_torch_ecg_backbone(read_torch_ecg_model_config(dir + "/model_config.json")["cnn"]);
  EXPECT_DOUBLE_EQ(d.config["base_fs"].as_double(), 250.0);
  EXPECT_NE(format_import_report(d).find("ignored: cnn.densenet_leadwise.block.memory_efficient"), std::string::npos);
  const ConfigNode again = ConfigNode::parse(d.config.to_yaml());
  ModelContext ctx;
  ctx.fs = 250.0;
  manual_seed(0);
  const ModelPtr a = build_model(d.config, ctx);
  manual_seed(0);
  const ModelPtr b = build_model(again, ctx);
  EXPECT_EQ(count_parameters(*a), 51792);  // at its own base rate the kernels are the preset's
  EXPECT_EQ(count_parameters(*a), count_parameters(*b));
  EXPECT_THROW(read_torch_ecg_model_config(test::source_path("tests/fixtures/models/blocks_parity.npz")), DataError);
}

}  // namespace
}  // namespace cardiotorch::models
