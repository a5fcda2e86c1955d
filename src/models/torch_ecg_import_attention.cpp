// torch_ecg attention configs (model_configs/attn.py; ATTN_LAYERS) -> `block` registry nodes.
// Keys not given keep the block's defaults, which are torch_ecg's class defaults.
#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/torch_ecg_import.h"

namespace cardiotorch::models {
namespace {

ConfigNode named(const std::string& name) {
  ConfigNode n = ConfigNode::map();
  n.set("name", ConfigNode::string(name));
  return n;
}

const char* kInitNote = "an initialiser; the weights come from the checkpoint (and torch_ecg's block ignores it)";

ConfigNode import_se(TorchEcgKeys& k, const TorchEcgContext&) {
  ConfigNode n = named("se");
  k.copy("reduction", n);
  k.copy("activation", n);
  k.copy("bias", n);
  if (k.has("dropouts")) {
    ConfigNode d = k.take("dropouts");
    // torch_ecg's SeqLin takes one value or one per layer; SEOptions holds the one value.
    if (d.is_sequence()) {
      CT_CHECK(d.size() >= 1, ConfigError, "torch_ecg config: ", k.where("dropouts"), " is empty");
      for (size_t i = 1; i < d.size(); ++i)
        if (d[i].as_double() != 0.0)
          k.report().notes.push_back(str_cat(k.where("dropouts"), ": only the first layer's dropout is kept"));
      d = d[0];
    }
    n.set("dropouts", d);
  }
  k.ignore_kw_activation();
  k.ignore("kernel_initializer", kInitNote);
  k.ignore("kw_initializer", kInitNote);
  return n;
}

ConfigNode import_gc(TorchEcgKeys& k, const TorchEcgContext&) {
  ConfigNode n = named("gc");
  k.copy("ratio", n);
  k.copy("reduction", n);
  k.copy("pooling_type", n);
  k.copy("fusion_types", n);
  return n;
}

ConfigNode import_nl(TorchEcgKeys& k, const TorchEcgContext&) {
  ConfigNode n = named("nl");
  if (k.has("mid_channels")) n.set("mid_channels", k.take("mid_channels"));
  else k.consume("mid_channels");
  if (k.has("filter_lengths")) {
    const ConfigNode f = k.take("filter_lengths");
    ConfigNode kernels = ConfigNode::map();
    for (const char* part : {"g", "theta", "phi", "W"}) {
      if (f.is_scalar()) kernels.set(part, f.clone());
      else if (f.is_map() && f.has(part)) kernels.set(part, f[part].clone());
    }
    if (f.is_map())
      for (const auto& key : f.keys())
        CT_CHECK(key == "g" || key == "theta" || key == "phi" || key == "W", ConfigError,
                 "torch_ecg config: ", k.where("filter_lengths"), ".", key,
                 ": torch_ecg's NonLocalBlock has convolutions g, theta, phi, W");
    n.set("filter_lengths", kernels);
  } else {
    k.consume("filter_lengths");
  }
  k.copy("subsample_length", n);
  k.copy("batch_norm", n);
  return n;
}

ConfigNode import_cbam(TorchEcgKeys& k, const TorchEcgContext&) {
  ConfigNode n = named("cbam");
  for (const char* key : {"reduction", "activation", "gate", "pool_types", "no_spatial", "lp_norm_type",
                          "spatial_conv_kernel_size", "spatial_conv_bn"})
    k.copy(key, n);
  k.ignore("groups", "unused by torch_ecg's CBAMBlock");
  k.ignore_kw_activation();
  return n;
}

ConfigNode import_sa(TorchEcgKeys& k, const TorchEcgContext&) {
  ConfigNode n = named("self_attention");
  // torch_ecg's SelfAttention names it head_num; its configs say num_heads.
  if (!k.copy("num_heads", n)) k.copy("head_num", n, "num_heads");
  k.consume("head_num");
  k.copy("dropout", n);
  k.copy("bias", n);
  return n;
}

ConfigNode import_transformer(TorchEcgKeys& k, const TorchEcgContext&) {
  ConfigNode n = named("transformer");
  for (const char* key : {"hidden_size", "num_heads", "num_layers", "dropout", "activation"}) k.copy(key, n);
  k.ignore("batch_first", "a tensor layout; cardiotorch's composer arranges the layout itself");
  k.ignore("input_size", "computed from the previous stage");
  return n;
}

}  // namespace

// Aliases are torch_ecg's ATTN_LAYERS names (models/registry.py); make_attention_layer adds cbam's.
CT_REGISTER(torch_ecg_attention_importers(), "se", torch_ecg_importer({"SEBlock", "se_block", "se"}, import_se),
            "torch_ecg SEBlock -> block se")
CT_REGISTER(torch_ecg_attention_importers(), "gc",
            torch_ecg_importer({"GlobalContextBlock", "global_context", "gc"}, import_gc),
            "torch_ecg GlobalContextBlock -> block gc")
CT_REGISTER(torch_ecg_attention_importers(), "nl", torch_ecg_importer({"NonLocalBlock", "non_local", "nl"}, import_nl),
            "torch_ecg NonLocalBlock -> block nl")
CT_REGISTER(torch_ecg_attention_importers(), "cbam",
            torch_ecg_importer({"CBAMBlock", "cbam_block", "cbam"}, import_cbam), "torch_ecg CBAMBlock -> block cbam")
CT_REGISTER(torch_ecg_attention_importers(), "sa",
            torch_ecg_importer({"SelfAttention", "self_attention", "sa"}, import_sa),
            "torch_ecg SelfAttention -> block self_attention")
CT_REGISTER(torch_ecg_attention_importers(), "transformer",
            torch_ecg_importer({"Transformer", "transformer_encoder", "transformer"}, import_transformer),
            "torch_ecg Transformer -> block transformer")

}  // namespace cardiotorch::models
