// The torch_ecg importers of VGG16, MultiScopicCNN, MobileNet V1/V2/V3, Xception and DenseNet
// (src/models/torch_ecg_import_cnn.cpp). tests/fixtures/models/torch_ecg_crnn_config.json is
// torch_ecg's own ECG_CRNN_CONFIG (all 40 backbone configs under `cnn`) dumped to JSON by
// dump_torch_ecg_configs.py, and torch_ecg_ckpt_multi_scopic_leadwise.pth a checkpoint pickled
// the way torch_ecg's CkptMixin.save writes one (its configs are torch_ecg.cfg.CFG objects).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/models/torch_ecg_import.h"
#include "support/test_util.h"

namespace cardiotorch::models {
namespace {

const std::set<std::string> kFamilies{"vgg16",        "multi_scopic", "mobilenet_v1", "mobilenet_v2",
                                      "mobilenet_v3", "xception",     "densenet"};

ConfigNode crnn_config() {
  return ConfigNode::load(test::source_path("tests/fixtures/models/torch_ecg_crnn_config.json"));
}

// cnn.<name> of a torch_ecg config imported as ECG_CRNN's cnn section imports it.
ConfigNode import_backbone(const std::string& name, const ConfigNode& config, TorchEcgImportReport& report) {
  TorchEcgKeys keys(config, "cnn." + name, report);
  const ConfigNode out = import_torch_ecg_backbone(name, keys, TorchEcgContext{});
  keys.finish();
  return out;
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
  for (const auto& p : m.named_parameters())
    out.push_back(str_cat(p.key(), " ", shape_string(p.value().sizes().vec())));
  for (const auto& b : m.named_buffers()) out.push_back(str_cat(b.key(), " ", shape_string(b.value().sizes().vec())));
  return out;
}

std::string import_error(const std::string& name, const ConfigNode& config) {
  TorchEcgImportReport report;
  try {
    import_backbone(name, config, report);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

// torch_ecg's 13 configs of these families map onto the cardiotorch presets of the same name
// (whose shapes and parameter counts equal torch_ecg's: cnn_backbones_test), with no unknown key;
// every one of the 40 is claimed by some importer family, as torch_ecg's ECG_CRNN picks it.
TEST(TorchEcgImportCnn, TorchEcgsConfigsMapOntoThePresets) {
  const ConfigNode cnn = crnn_config()["cnn"];
  size_t mine = 0, all = 0;
  for (const auto& name : cnn.keys()) {
    if (name == "name") continue;
    ++all;
    SCOPED_TRACE(name);
    const std::string family = match_torch_ecg_name(torch_ecg_backbone_importers(), name, "cnn.name");
    if (!kFamilies.count(family)) continue;
    ++mine;
    TorchEcgImportReport report;
    ConfigNode imported;
    ASSERT_NO_THROW(imported = import_backbone(name, cnn[name], report));
    EXPECT_EQ(imported["name"].as_string(), name);
    EXPECT_TRUE(report.unknown.empty()) << report.to_string();
    const ConfigNode preset = backbone_registry().resolve(ConfigNode::string(name));
    // torch_ecg spells some values out per stage ([15, 15, ...]) or leaves an Xception flow's
    // groups to its default where the preset says "inherit" (0): such a config must build the
    // same network (every parameter and buffer name and shape), not the same text.
    if (canonical(imported) != canonical(preset)) {
      manual_seed(0);
      const ModelPtr a = build_model(imported, ModelContext{}),
                     b = build_model(ConfigNode::string(name), ModelContext{});
      EXPECT_EQ(structure(*a), structure(*b));
      EXPECT_EQ(a->output_shape(2000, 2), b->output_shape(2000, 2));
    }
  }
  EXPECT_EQ(all, 40u);
  EXPECT_EQ(mine, 13u);
  EXPECT_EQ(match_torch_ecg_name(torch_ecg_backbone_importers(), "Multi_Scopic_leadwise", "x"), "multi_scopic");
  EXPECT_EQ(match_torch_ecg_name(torch_ecg_backbone_importers(), "my_mobilenet_v3_tiny", "x"), "mobilenet_v3");
}

TEST(TorchEcgImportCnn, ModifiedConfigsBuildTheModifiedNetworkAndReportWhatTheyIgnore) {
  const ConfigNode cnn = crnn_config()["cnn"];
  ConfigNode ms = cnn["multi_scopic_leadwise"].clone();
  ms.set("groups", ConfigNode::scalar("6"));
  ms.set("num_filters", ConfigNode::parse("[[96, 192, 384], [96, 192, 384], [96, 192, 384]]"));
  ms.set("foo", ConfigNode::scalar("1"));
  TorchEcgImportReport report;
  const ConfigNode imported = import_backbone("my_multi_scopic", ms, report);
  EXPECT_EQ(imported["name"].as_string(), "multi_scopic");  // no preset of that name: the family's base
  EXPECT_EQ(imported["groups"].as_int(), 6);
  const std::string r = report.to_string();
  EXPECT_NE(r.find("unknown (torch_ecg does not read it either): cnn.my_multi_scopic.foo"), std::string::npos) << r;
  EXPECT_NE(r.find("ignored: cnn.my_multi_scopic.kernel_initializer: an initialiser"), std::string::npos) << r;
  EXPECT_NE(r.find("ignored: cnn.my_multi_scopic.block.kw_activation: inplace changes no value"), std::string::npos)
      << r;
  ModelContext six;
  six.in_channels = 6;
  manual_seed(0);
  const ModelPtr m = build_model(imported, six);
  EXPECT_EQ(m->output_shape(2000, 2), (Shape{2, 1152, 250}));
  // 6 of 12 leads with half the filters: half of the lead-wise preset's parameters.
  EXPECT_EQ(count_parameters(*m), 2254464 / 2);

  // Values that would change the numbers without a cardiotorch equivalent are errors naming the key.
  ConfigNode leaky = cnn["multi_scopic"].clone();
  ConfigNode block = leaky["block"].clone();
  block.set("kw_activation", ConfigNode::parse("{negative_slope: 0.2}"));
  leaky.set("block", block);
  EXPECT_NE(import_error("multi_scopic", leaky).find("cnn.multi_scopic.block.kw_activation.negative_slope"),
            std::string::npos);
  ConfigNode bad = cnn["densenet_vanilla"].clone();
  bad.set("growth_rates", ConfigNode::parse("[16, 16]"));
  const std::string e = import_error("densenet_vanilla", bad);
  EXPECT_NE(e.find("cnn.densenet_vanilla"), std::string::npos) << e;
  EXPECT_NE(e.find("growth_rates gives 2 values for 4"), std::string::npos) << e;
}

TEST(TorchEcgImportCnn, RenamedKeysAndFamilyRules) {
  const ConfigNode cnn = crnn_config()["cnn"];
  // MobileNetV3: attns[i].pos -> attn_pos[i], through the attention importers; None stays None.
  TorchEcgImportReport report;
  const ConfigNode v3 = import_backbone("mobilenet_v3", cnn["mobilenet_v3"], report);
  EXPECT_TRUE(v3["inv_res"]["attns"][1].is_null());
  EXPECT_EQ(v3["inv_res"]["attns"][2]["name"].as_string(), "se");
  EXPECT_EQ(v3["inv_res"]["attns"][2]["reduction"].as_int(), 8);
  EXPECT_NE(report.to_string().find("cnn.mobilenet_v3.inv_res.attns[i].pos -> cnn.mobilenet_v3.inv_res.attn_pos[i]"),
            std::string::npos)
      << report.to_string();
  // torch_ecg's `norm` alias of batch_norm.
  ConfigNode vgg = cnn["vgg16"].clone();
  ConfigNode blk = vgg["block"].clone();
  blk.remove("batch_norm");
  blk.set("norm", ConfigNode::string("group_norm"));
  vgg.set("block", blk);
  TorchEcgImportReport vr;
  EXPECT_EQ(import_backbone("vgg16", vgg, vr)["block"]["batch_norm"].as_string(), "group_norm");
  // Xception: flows without groups run with one group, as in torch_ecg.
  ConfigNode x = cnn["xception_leadwise"].clone();
  for (const char* flow : {"entry_flow", "middle_flow", "exit_flow"}) {
    ConfigNode f = x[flow].clone();
    f.remove("groups");
    x.set(flow, f);
  }
  TorchEcgImportReport xr;
  const ConfigNode xi = import_backbone("xception_leadwise", x, xr);
  EXPECT_EQ(xi["groups"].as_int(), 12);
  EXPECT_EQ(xi["middle_flow"]["groups"].as_int(), 1);
  // DenseNet: gradient checkpointing is refused, as torch_ecg refuses it.
  ConfigNode d = cnn["densenet_leadwise"].clone();
  ConfigNode db = d["block"].clone();
  db.set("memory_efficient", ConfigNode::scalar("true"));
  d.set("block", db);
  EXPECT_NE(import_error("densenet_leadwise", d).find("cnn.densenet_leadwise.block.memory_efficient"),
            std::string::npos);
}

TEST(TorchEcgImportCnn, AnEcgCrnnCheckpointWithAMultiScopicBackbone) {
  const std::string path = test::source_path("tests/fixtures/models/torch_ecg_ckpt_multi_scopic_leadwise.pth");
  const TorchEcgImport imp = import_torch_ecg_checkpoint("ecg_crnn", path);
  ConfigNode cnn = imp.model["cnn"].clone();
  EXPECT_EQ(cnn["name"].as_string(), "multi_scopic_leadwise");
  EXPECT_EQ(canonical(cnn), canonical(backbone_registry().resolve(ConfigNode::string("multi_scopic_leadwise"))));
  EXPECT_NE(imp.report.to_string().find("cnn.multi_scopic_leadwise.block.kw_activation"), std::string::npos)
      << imp.report.to_string();
  // A backbone config at another rate keeps its kernels at that rate.
  const ConfigNode d = ConfigNode::parse(
      R"({"fs": 250, "num_layers": [6, 6, 6, 6], "init_num_filters": 96, "init_filter_length": 25,
          "growth_rates": 12, "groups": 12, "block": {"building_block": "basic", "memory_efficient": false}})");
  TorchEcgImportReport report;
  const ConfigNode dn = import_backbone("densenet_leadwise", d, report);
  EXPECT_DOUBLE_EQ(dn["base_fs"].as_double(), 250.0);
  EXPECT_NE(report.to_string().find("ignored: cnn.densenet_leadwise.block.memory_efficient"), std::string::npos);
  ModelContext ctx;
  ctx.fs = 250.0;
  manual_seed(0);
  EXPECT_EQ(count_parameters(*build_model(dn, ctx)), 51792);  // at its own rate the kernels are the preset's
}

}  // namespace
}  // namespace cardiotorch::models
