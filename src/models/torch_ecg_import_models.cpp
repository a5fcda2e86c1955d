// torch_ecg task-model configs -> cardiotorch model nodes: ECG_CRNN, ECG_SEQ_LAB_NET, ECG_UNET,
// ECG_SUBTRACT_UNET, RR_LSTM.
//
// torch_ecg merges a user's config over the class's default config (ECG_CRNN_CONFIG, ...), and
// its checkpoints store the merged result. Top-level keys missing from a config therefore take
// the cardiotorch preset's values, which are torch_ecg's defaults.
#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/models/torch_ecg_import.h"

namespace cardiotorch::models {
namespace {

ConfigNode named(const std::string& name) {
  ConfigNode n = ConfigNode::map();
  n.set("name", ConfigNode::string(name));
  return n;
}

// torch_ecg's attention configs in its model configs (model_configs/attn.py), used when a config
// names an attention without giving its dict.
ConfigNode default_attention_config(const std::string& kind) {
  if (kind == "se") return ConfigNode::parse("{reduction: 8, activation: relu, bias: true}");
  if (kind == "gc") return ConfigNode::parse("{ratio: 4, reduction: true, pooling_type: attn, fusion_types: [mul]}");
  if (kind == "nl")
    return ConfigNode::parse("{filter_lengths: {g: 1, phi: 1, theta: 1, W: 1}, subsample_length: 2, batch_norm: true}");
  if (kind == "transformer")
    return ConfigNode::parse("{hidden_size: 1024, num_heads: 8, num_layers: 1, dropout: 0.1, activation: relu}");
  if (kind == "sa") return ConfigNode::parse("{num_heads: 8, dropout: 0.1, bias: true}");
  return ConfigNode::map();
}

// attn: {name: <choice>, <choice>: {...}, other dicts} -> a block node, or null for none.
ConfigNode import_attn_section(TorchEcgKeys& attn, const TorchEcgContext& ctx) {
  const std::string choice = attn.has("name") ? attn.take("name").as_string() : "none";
  attn.consume("name");
  ConfigNode out;
  if (to_lower(choice) != "none") {
    const std::string kind = match_torch_ecg_name(torch_ecg_attention_importers(), choice, attn.where("name"));
    if (attn.has(choice)) {
      auto sub = attn.child(choice);
      out = import_torch_ecg_attention(choice, *sub, ctx);
      sub->finish();
    } else {
      attn.report().notes.push_back(
          str_cat(attn.where(choice), " is not given: torch_ecg's default ", kind, " config is used"));
      TorchEcgKeys sub(default_attention_config(kind), attn.where(choice), attn.report());
      out = import_torch_ecg_attention(choice, sub, ctx);
    }
  }
  // The dicts of the attentions not chosen are part of torch_ecg's default config: not read.
  for (const auto& key : attn.node().keys()) attn.consume(key);
  return out;
}

ConfigNode import_lstm(TorchEcgKeys& l) {
  ConfigNode n = named("lstm");
  for (const char* key : {"hidden_sizes", "bias", "dropouts", "bidirectional", "retseq"}) l.copy(key, n);
  return n;
}

ConfigNode import_linear(TorchEcgKeys& l) {
  ConfigNode n = named("linear");
  for (const char* key : {"out_channels", "bias", "dropouts", "activation"}) l.copy(key, n);
  l.ignore_kw_activation();
  l.ignore("kernel_initializer", "unused by torch_ecg's rnn 'linear'");
  return n;
}

ConfigNode import_clf(TorchEcgKeys& c) {
  ConfigNode n = ConfigNode::map();
  for (const char* key : {"out_channels", "activation", "bias", "dropouts"}) c.copy(key, n);
  c.ignore_kw_activation();
  c.ignore("kernel_initializer", "torch_ecg does not pass it to its classifier MLP (LibTorch's default init, as here)");
  c.ignore("kw_initializer", "torch_ecg does not pass it to its classifier MLP");
  return n;
}

// The keys ECG_CRNN and ECG_SEQ_LAB_NET share: fs, cnn, rnn, attn, clf.
void import_crnn_stages(TorchEcgKeys& k, const TorchEcgContext& ctx, ConfigNode& n, bool& rnn_without_sequence) {
  k.consume("fs");
  if (k.has("cnn")) {
    auto cnn = k.child("cnn");
    const std::string name = cnn->require("name").as_string();
    if (cnn->has(name)) {
      auto sub = cnn->child(name);
      n.set("cnn", import_torch_ecg_backbone(name, *sub, ctx));
      sub->finish();
    } else {
      CT_CHECK(backbone_registry().contains(name), ConfigError, "torch_ecg config: ", cnn->where(name),
               " is missing (the backbone config cnn.name names)");
      k.report().notes.push_back(str_cat(cnn->where(name), " is not given: the ", name,
                                         " preset (torch_ecg's default config of that name) is used"));
      n.set("cnn", named(name));
    }
    int64_t others = 0;
    for (const auto& key : cnn->node().keys())
      if (key != "name" && key != name) {
        cnn->consume(key);
        ++others;
      }
    if (others > 0)
      k.report().notes.push_back(
          str_cat("cnn: ", others, " other backbone configs are not used (torch_ecg builds cnn.", name, " only)"));
    cnn->finish();
  } else {
    k.consume("cnn");
  }

  if (k.has("rnn")) {
    auto rnn = k.child("rnn");
    const std::string choice = rnn->has("name") ? to_lower(rnn->take("name").as_string()) : "none";
    rnn->consume("name");
    if (choice == "none") {
      n.set("rnn", ConfigNode::scalar("~"));
    } else if (choice == "lstm" || choice == "linear") {
      auto sub = rnn->child(choice);
      n.set("rnn", choice == "lstm" ? import_lstm(*sub) : import_linear(*sub));
      if (choice == "lstm" && sub->has("retseq") && !sub->node()["retseq"].as_bool()) rnn_without_sequence = true;
      sub->finish();
    } else {
      throw ConfigError(str_cat("torch_ecg config: ", rnn->where("name"), ": '", choice,
                                "' (torch_ecg's ECG_CRNN implements none, lstm and linear)"));
    }
    for (const auto& key : rnn->node().keys()) rnn->consume(key);  // the configs of the rnns not chosen
    rnn->finish();
  } else {
    k.consume("rnn");
  }

  if (k.has("attn")) {
    auto attn = k.child("attn");
    ConfigNode a = import_attn_section(*attn, ctx);
    if (rnn_without_sequence && !a.is_null()) {
      k.report().notes.push_back("attn: dropped, as torch_ecg does, because rnn.lstm.retseq is false");
      a = ConfigNode();
    }
    n.set("attn", a.is_null() ? ConfigNode::scalar("~") : a);
    attn->finish();
  } else {
    k.consume("attn");
    if (rnn_without_sequence) n.set("attn", ConfigNode::scalar("~"));
  }

  if (k.has("clf")) {
    auto clf = k.child("clf");
    n.set("clf", import_clf(*clf));
    clf->finish();
  } else {
    k.consume("clf");
  }
  k.ignore("doi", "a citation");
}

ConfigNode import_ecg_crnn(TorchEcgKeys& k, const TorchEcgContext& ctx) {
  ConfigNode n = ConfigNode::map();
  bool no_sequence = false;
  import_crnn_stages(k, ctx, n, no_sequence);
  if (k.has("global_pool")) {
    const std::string pool = to_lower(k.take("global_pool").as_string());
    CT_CHECK(pool != "attn", ConfigError,
             "torch_ecg config: global_pool 'attn': attentive pooling is not implemented "
             "(torch_ecg raises too)");
    n.set("global_pool", ConfigNode::string(pool));
  }
  k.consume("global_pool");
  k.copy("global_pool_size", n);
  return n;
}

ConfigNode import_ecg_seq_lab_net(TorchEcgKeys& k, const TorchEcgContext& ctx) {
  ConfigNode n = ConfigNode::map();
  bool no_sequence = false;
  import_crnn_stages(k, ctx, n, no_sequence);
  CT_CHECK(!no_sequence, ConfigError, "torch_ecg config: rnn.lstm.retseq false gives no sequence to label");
  k.copy("recover_length", n);
  k.ignore("global_pool", "ECG_SEQ_LAB_NET always labels every step (torch_ecg forces none)");
  k.ignore("global_pool_size", "ECG_SEQ_LAB_NET does not pool");
  return n;
}

// --- U-Nets ---------------------------------------------------------------------------------------

ConfigNode import_conv_group(TorchEcgKeys& b) {
  ConfigNode n = ConfigNode::map();
  for (const char* key : {"batch_norm", "activation", "kernel_initializer"}) b.copy(key, n);
  if (!n.has("batch_norm")) b.copy("norm", n, "batch_norm");
  b.consume("norm");
  b.ignore_kw_activation();
  b.ignore("kw_initializer", "initialiser arguments; the weights come from the checkpoint");
  return n;
}

void import_unet_common(TorchEcgKeys& k, const TorchEcgContext& ctx, ConfigNode& n,
                        const std::vector<std::string>& keys) {
  n.set("base_fs", ConfigNode::scalar(std::to_string(ctx.fs)));
  k.consume("fs");
  for (const auto& key : keys) k.copy(key, n);
  if (!k.copy("out_batch_norm", n)) k.copy("out_norm", n, "out_batch_norm");
  k.consume("out_norm");
  k.ignore_kw_activation();
  k.ignore("kw_initializer", "initialiser arguments; the weights come from the checkpoint");
  for (const char* group : {"down_block", "up_block"}) {
    if (!k.has(group)) {
      k.consume(group);
      continue;
    }
    auto g = k.child(group);
    n.set(group, import_conv_group(*g));
    g->finish();
  }
  k.ignore("doi", "a citation");
}

void check_block_num(TorchEcgKeys& k, const ConfigNode& n, const char* list_key, size_t offset) {
  if (!k.has("down_up_block_num")) {
    k.consume("down_up_block_num");
    return;
  }
  const int64_t num = k.take("down_up_block_num").as_int();
  if (n.has(list_key))
    CT_CHECK(static_cast<int64_t>(n[list_key].size() + offset) == num, ConfigError,
             "torch_ecg config: ", k.where("down_up_block_num"), " is ", num, " but ", list_key, " has ",
             n[list_key].size(), " entries");
}

ConfigNode import_ecg_unet(TorchEcgKeys& k, const TorchEcgContext& ctx) {
  ConfigNode n = ConfigNode::map();
  import_unet_common(
      k, ctx, n,
      {"groups", "init_num_filters", "init_filter_length", "batch_norm", "activation", "kernel_initializer",
       "down_mode", "down_scales", "down_num_filters", "down_filter_lengths", "up_mode", "up_scales", "up_num_filters",
       "up_deconv_filter_lengths", "up_conv_filter_lengths", "out_filter_length"});
  check_block_num(k, n, "down_num_filters", 0);
  return n;
}

ConfigNode import_ecg_subtract_unet(TorchEcgKeys& k, const TorchEcgContext& ctx) {
  ConfigNode n = ConfigNode::map();
  import_unet_common(k, ctx, n,
                     {"groups",
                      "init_batch_norm",
                      "init_num_filters",
                      "init_filter_length",
                      "init_dropouts",
                      "batch_norm",
                      "activation",
                      "kernel_initializer",
                      "down_mode",
                      "down_scales",
                      "down_num_filters",
                      "down_filter_lengths",
                      "down_dropouts",
                      "bottom_num_filters",
                      "bottom_filter_lengths",
                      "bottom_dilations",
                      "bottom_dropouts",
                      "up_mode",
                      "up_scales",
                      "up_num_filters",
                      "up_deconv_filter_lengths",
                      "up_conv_filter_lengths",
                      "up_dropouts",
                      "out_filter_length"});
  check_block_num(k, n, "down_scales", 0);
  return n;
}

// --- RR_LSTM -------------------------------------------------------------------------------------------

ConfigNode import_rr_lstm(TorchEcgKeys& k, const TorchEcgContext& ctx) {
  ConfigNode n = ConfigNode::map();
  bool retseq = true;
  if (k.has("lstm")) {
    auto l = k.child("lstm");
    ConfigNode lstm = import_lstm(*l);
    lstm.remove("name");
    if (lstm.has("retseq")) retseq = lstm["retseq"].as_bool();
    n.set("lstm", lstm);
    l->finish();
  } else {
    k.consume("lstm");
  }
  if (k.has("attn")) {
    auto attn = k.child("attn");
    ConfigNode a = import_attn_section(*attn, ctx);
    if (!retseq && !a.is_null()) {
      k.report().notes.push_back("attn: dropped, as torch_ecg does, because lstm.retseq is false");
      a = ConfigNode();
    }
    n.set("attn", a.is_null() ? ConfigNode::scalar("~") : a);
    attn->finish();
  } else {
    k.consume("attn");
  }
  std::string head = "crf";
  if (k.has("clf")) {
    auto c = k.child("clf");
    head = c->has("name") ? to_lower(c->take("name").as_string()) : head;
    c->consume("name");
    check_choice(c->where("name"), head, {"crf", "linear"});
    if (!retseq && head == "crf") {
      k.report().notes.push_back("clf: crf replaced by linear, as torch_ecg does, because lstm.retseq is false");
      head = "linear";
    }
    ConfigNode clf = named(head);
    if (head == "crf" && c->has("crf")) {
      auto crf = c->child("crf");
      crf->copy("proj_bias", clf);
      crf->finish();
    } else if (head == "linear" && c->has("linear")) {
      auto lin = c->child("linear");
      for (const char* key : {"out_channels", "bias", "dropouts", "activation"}) lin->copy(key, clf);
      lin->ignore_kw_activation();
      lin->finish();
    }
    for (const auto& key : c->node().keys()) c->consume(key);  // the other head's config
    c->finish();
    n.set("clf", clf);
  } else {
    k.consume("clf");
  }
  if (k.has("global_pool")) {
    std::string pool = to_lower(k.take("global_pool").as_string());
    CT_CHECK(pool != "attn", ConfigError,
             "torch_ecg config: global_pool 'attn' is not implemented (torch_ecg raises too)");
    if (pool != "none" && (head == "crf" || !retseq)) {
      k.report().notes.push_back(str_cat("global_pool ", pool, ": ignored, as torch_ecg does, for a ",
                                         retseq ? "crf head" : "lstm without retseq"));
      pool = "none";
    }
    n.set("global_pool", ConfigNode::string(pool));
  }
  k.consume("global_pool");
  k.copy("global_pool_size", n);
  k.ignore("batch_first", "an input layout; cardiotorch's RR_LSTM always takes (batch, channels, steps)");
  k.ignore("doi", "a citation");
  return n;
}

}  // namespace

CT_REGISTER(torch_ecg_model_importers(), "ecg_crnn", torch_ecg_importer({"ECG_CRNN"}, import_ecg_crnn),
            "torch_ecg ECG_CRNN model_config -> ecg_crnn")
CT_REGISTER(torch_ecg_model_importers(), "ecg_seq_lab_net",
            torch_ecg_importer({"ECG_SEQ_LAB_NET"}, import_ecg_seq_lab_net),
            "torch_ecg ECG_SEQ_LAB_NET model_config -> ecg_seq_lab_net")
CT_REGISTER(torch_ecg_model_importers(), "ecg_unet", torch_ecg_importer({"ECG_UNET"}, import_ecg_unet),
            "torch_ecg ECG_UNET model_config -> ecg_unet")
CT_REGISTER(torch_ecg_model_importers(), "ecg_subtract_unet",
            torch_ecg_importer({"ECG_SUBTRACT_UNET"}, import_ecg_subtract_unet),
            "torch_ecg ECG_SUBTRACT_UNET model_config -> ecg_subtract_unet")
CT_REGISTER(torch_ecg_model_importers(), "rr_lstm", torch_ecg_importer({"RR_LSTM"}, import_rr_lstm),
            "torch_ecg RR_LSTM model_config -> rr_lstm")

}  // namespace cardiotorch::models
