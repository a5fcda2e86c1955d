// torch_ecg ResNet / RegNet configs (model_configs/cnn/resnet.py, regnet.py) -> backbone nodes.
//
// ResNetOptions mirrors torch_ecg's keys, so most keys map one to one. Every option is written
// out (from torch_ecg's class defaults where the config is silent), so the result does not
// depend on the defaults of the `resnet` entry it is built through.
#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/resnet.h"
#include "cardiotorch/models/torch_ecg_import.h"

namespace cardiotorch::models {
namespace {

const char* kInitNote = "an initialiser; the weights come from the checkpoint";
const char* kUnusedTop = "unused by torch_ecg's ResNet at the top level (its blocks read their own)";

// A dropout as torch_ecg gives it: a number, or {p, type} (type 1d = channel dropout).
ConfigNode dropout_value(const ConfigNode& d, const std::string& where, TorchEcgImportReport& report) {
  if (!d.is_map()) return d.clone();
  CT_CHECK(d.has("p"), ConfigError, "torch_ecg config: ", where, ": a dropout mapping needs 'p'");
  if (d.has("type") && !d["type"].is_null())
    report.notes.push_back(str_cat(where, ": channel dropout (type ", d["type"].as_string(),
                                   ") is applied element-wise (training only; no effect on a forward in eval mode)"));
  return d["p"].clone();
}

ConfigNode dropouts_value(const ConfigNode& d, const std::string& where, TorchEcgImportReport& report) {
  if (!d.is_sequence()) return dropout_value(d, where, report);
  ConfigNode out = ConfigNode::sequence();
  for (size_t i = 0; i < d.size(); ++i) out.push_back(dropout_value(d[i], str_cat(where, "[", i, "]"), report));
  return out;
}

ConfigNode import_block(TorchEcgKeys& k, const TorchEcgContext& ctx) {
  ConfigNode b = to_config(ResNetBlockOptions{});  // = torch_ecg's _DEFAULT_BLOCK_CONFIG
  for (const char* key : {"increase_channels_method", "subsample_mode", "subsample_at", "expansion", "activation",
                          "kernel_initializer", "bias", "filt_size"})
    k.copy(key, b);
  if (k.has("conv_type")) b.set("conv_type", k.take("conv_type"));
  else k.consume("conv_type");  // None: plain convolutions
  if (k.has("dropout")) b.set("dropout", dropout_value(k.take("dropout"), k.where("dropout"), k.report()));
  else k.consume("dropout");
  k.ignore_kw_activation();
  k.ignore("kw_initializer", kInitNote);
  if (k.has("attn")) {
    auto a = k.child("attn");
    const ConfigNode name = a->require("name");
    const int64_t pos = a->has("pos") ? a->take("pos").as_int() : -1;
    a->consume("pos");
    b.set("attn", import_torch_ecg_attention(name.as_string(), *a, ctx));
    b.set("attn_pos", ConfigNode::scalar(std::to_string(pos)));
    a->finish();
  } else {
    k.consume("attn");
  }
  return b;
}

ConfigNode import_stem(TorchEcgKeys& k) {
  auto s = k.child("stem");
  ConfigNode stem = to_config(ResNetStemOptions{});
  stem.set("num_filters", s->require("num_filters"));
  stem.set("filter_lengths", s->require("filter_lengths"));
  for (const char* key : {"conv_stride", "pool_size", "pool_stride"}) stem.set(key, s->require(key));
  for (const char* key : {"subsample_mode", "block_size", "bias", "kernel_initializer"}) s->copy(key, stem);
  s->ignore_kw_activation();
  s->ignore("kw_initializer", kInitNote);
  s->finish();
  return stem;
}

ConfigNode import_resnet(TorchEcgKeys& k, const TorchEcgContext& ctx) {
  ConfigNode n = to_config(ResNetOptions{});
  n.set("name", ConfigNode::string("resnet"));
  for (const char* key : {"num_blocks", "filter_lengths", "subsample_lengths", "building_block"})
    n.set(key, k.require(key));
  for (const char* key : {"num_filters", "groups", "base_groups", "base_width", "base_filter_length", "activation"})
    k.copy(key, n);
  if (k.has("dropouts")) n.set("dropouts", dropouts_value(k.take("dropouts"), k.where("dropouts"), k.report()));
  else k.consume("dropouts");
  // The kernel lengths are those of the config's fs; kernels are rescaled only for inputs at
  // another rate (whose checkpoints would not load, as in torch_ecg).
  n.set("base_fs", k.has("fs") ? k.take("fs") : ConfigNode::scalar(std::to_string(ctx.fs)));
  k.consume("fs");
  k.ignore_kw_activation();
  for (const char* key : {"kernel_initializer", "kw_initializer", "bias", "increase_channels_method"})
    k.ignore(key, kUnusedTop);

  n.set("stem", import_stem(k));

  const ConfigNode block = k.require("block");
  if (block.is_sequence()) {
    ConfigNode blocks = ConfigNode::sequence();
    for (size_t i = 0; i < block.size(); ++i) {
      TorchEcgKeys bk(block[i], str_cat(k.where("block"), "[", i, "]"), k.report());
      blocks.push_back(import_block(bk, ctx));
      bk.finish();
    }
    n.set("block", blocks);
  } else {
    TorchEcgKeys bk(block, k.where("block"), k.report());
    ConfigNode one = ConfigNode::sequence();
    one.push_back(import_block(bk, ctx));
    n.set("block", one);
    bk.finish();
  }
  return n;
}

// torch_ecg's RegNet (models/cnn/regnet.py): widths generated from tot_blocks, w_a, w_0, w_m, or
// given as num_blocks + num_filters (which then take precedence, as in torch_ecg).
ConfigNode import_regnet(TorchEcgKeys& k, const TorchEcgContext& ctx) {
  ConfigNode n = to_config(RegNetOptions{});
  n.set("name", ConfigNode::string("regnet"));
  for (const char* key : {"filter_lengths", "subsample_lengths", "group_widths"}) n.set(key, k.require(key));
  if (k.has("num_blocks")) {
    n.set("num_blocks", k.take("num_blocks"));
    n.set("num_filters", k.require("num_filters"));
    n.set("tot_blocks", ConfigNode::scalar("0"));
    for (const char* key : {"tot_blocks", "w_a", "w_0", "w_m"})
      k.ignore(key, "num_blocks and num_filters are given: torch_ecg does not generate the widths");
  } else {
    k.consume("num_blocks");
    for (const char* key : {"tot_blocks", "w_a", "w_0", "w_m"}) n.set(key, k.require(key));
    k.ignore("num_filters", "computed from w_a, w_0, w_m without num_blocks (torch_ecg warns the same)");
  }
  for (const char* key : {"base_groups", "activation", "building_block"}) k.copy(key, n);
  if (k.has("dropouts")) n.set("dropouts", dropouts_value(k.take("dropouts"), k.where("dropouts"), k.report()));
  else k.consume("dropouts");
  n.set("base_fs", k.has("fs") ? k.take("fs") : ConfigNode::scalar(std::to_string(ctx.fs)));
  k.consume("fs");
  k.ignore_kw_activation();
  for (const char* key : {"kernel_initializer", "kw_initializer", "bias", "increase_channels_method", "groups"})
    k.ignore(key, "unused by torch_ecg's RegNet at the top level (its blocks read their own)");
  n.set("stem", import_stem(k));
  TorchEcgKeys bk(k.require("block"), k.where("block"), k.report());
  n.set("block", import_block(bk, ctx));
  bk.finish();
  return n;
}

}  // namespace

// torch_ecg registers ResNet as ResNet, resnet and resnext (models/cnn/resnet.py); TResNet and the
// other resnet_* configs are ResNets too.
CT_REGISTER(torch_ecg_backbone_importers(), "resnet",
            torch_ecg_importer({"ResNet", "resnet", "resnext"}, import_resnet),
            "torch_ecg ResNet (every resnet_*, resnext_*, tresnet* config) -> backbone resnet")
CT_REGISTER(torch_ecg_backbone_importers(), "regnet", torch_ecg_importer({"RegNet", "regnet"}, import_regnet),
            "torch_ecg RegNet (regnet_16_8, regnet_27_24, regnet_23_168, regnet_S) -> backbone regnet")

}  // namespace cardiotorch::models
