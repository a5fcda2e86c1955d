#include "cardiotorch/models/ecg_crnn.h"

#include <ATen/ATen.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/blocks/layers.h"
#include "cardiotorch/models/capture.h"
#include "models/task_common.h"

namespace cardiotorch::models {

// --- components ---------------------------------------------------------------------------------

namespace {

// `none` (torch_ecg's word for an absent stage), a {name: none} mapping or ~ all mean "no stage".
bool names_none(const ConfigNode& node) {
  if (node.is_null()) return true;
  if (node.is_scalar()) return node.as_string() == "none";
  return node.is_map() && node.has("name") && node["name"].as_string() == "none";
}

}  // namespace

ConfigNode RnnCategory::resolve(const ConfigNode& base, const ConfigNode& node) {
  if (names_none(node)) {
    CT_CHECK(!node.is_map() || node.size() == 1, ConfigError, node.where(), ": rnn 'none' takes no options");
    return ConfigNode();
  }
  return resolve_component(category, base, node);
}

ConfigNode AttentionCategory::resolve(const ConfigNode& base, const ConfigNode& node) {
  if (names_none(node)) {
    CT_CHECK(!node.is_map() || node.size() == 1, ConfigError, node.where(), ": attention 'none' takes no options");
    return ConfigNode();
  }
  return resolve_component(category, base, node);
}

BlockPtr build_attention(const AttentionConfig& config, const BlockContext& context) {
  BlockConfig b;
  b.node = config.node;
  return build_block(b, context);
}

BlockRegistry& rnn_registry() {
  static BlockRegistry r("rnn", "stages between a CNN and its head over (batch, channels, samples) maps");
  return r;
}

// --- lstm / linear stages -------------------------------------------------------------------------

void LstmStageOptions::validate() const {
  CT_CHECK(!hidden_sizes.empty(), ConfigError, "hidden_sizes is empty");
  for (int64_t h : hidden_sizes) CT_CHECK(h > 0, ConfigError, "hidden_sizes must be positive, got ", h);
  CT_CHECK(dropouts.size() <= 1 || dropouts.size() == hidden_sizes.size(), ConfigError, "dropouts gives ",
           dropouts.size(), " values for ", hidden_sizes.size(), " layers");
  for (double d : dropouts) CT_CHECK(d >= 0 && d < 1, ConfigError, "dropouts must be in [0, 1), got ", d);
}

LstmStageImpl::LstmStageImpl(int64_t in_channels, const LstmStageOptions& o)
    : StackedLSTMImpl(StackedLSTMOptions(in_channels, o.hidden_sizes)
                          .bias(o.bias)
                          .dropouts(o.dropouts)
                          .bidirectional(o.bidirectional)
                          .return_sequences(o.retseq)),
      in_channels_(in_channels) {
  o.validate();
}

at::Tensor LstmStageImpl::forward(const at::Tensor& x) {
  CT_CHECK(x.dim() == 3 && x.size(1) == in_channels_, ShapeError, "rnn lstm: expected (batch, ", in_channels_,
           ", samples), got shape ", x.sizes());
  const at::Tensor y = StackedLSTMImpl::forward(x.permute({2, 0, 1}));  // (L, B, C), torch_ecg's layout
  return options().return_sequences() ? y.permute({1, 2, 0}) : y;
}

Shape LstmStageImpl::output_shape(const Shape& input) const {
  check_shape(input, in_channels_, "rnn lstm");
  const Shape s = StackedLSTMImpl::output_shape(Shape{input[2], input[0], input[1]});
  return options().return_sequences() ? Shape{s[1], s[2], s[0]} : s;
}

void LinearStageOptions::validate() const {
  CT_CHECK(!out_channels.empty(), ConfigError, "out_channels is empty");
  for (int64_t c : out_channels) CT_CHECK(c > 0, ConfigError, "out_channels must be positive, got ", c);
  CT_CHECK(dropouts.size() <= 1 || dropouts.size() == out_channels.size(), ConfigError, "dropouts gives ",
           dropouts.size(), " values for ", out_channels.size(), " layers");
  for (double d : dropouts) CT_CHECK(d >= 0 && d < 1, ConfigError, "dropouts must be in [0, 1), got ", d);
  check_activation("activation", activation);
}

LinearStageImpl::LinearStageImpl(int64_t in_channels, const LinearStageOptions& o)
    : MLPImpl(MLPOptions(in_channels, o.out_channels).activation(o.activation).bias(o.bias).dropouts(o.dropouts)) {
  o.validate();
}

at::Tensor LinearStageImpl::forward(const at::Tensor& x) {
  CT_CHECK(x.dim() == 3 && x.size(1) == options().in_channels(), ShapeError, "rnn linear: expected (batch, ",
           options().in_channels(), ", samples), got shape ", x.sizes());
  return MLPImpl::forward(x.transpose(1, 2)).transpose(1, 2);
}

Shape LinearStageImpl::output_shape(const Shape& input) const {
  check_shape(input, options().in_channels(), "rnn linear");
  return with_dim(input, 1, options().out_channels().back());
}

// --- options ----------------------------------------------------------------------------------------

void ClassifierOptions::validate() const {
  for (int64_t c : out_channels) CT_CHECK(c > 0, ConfigError, "out_channels must be positive, got ", c);
  CT_CHECK(dropouts.size() <= 1 || dropouts.size() == out_channels.size() + 1, ConfigError, "dropouts gives ",
           dropouts.size(), " values for ", out_channels.size() + 1, " layers (out_channels and the class layer)");
  for (double d : dropouts) CT_CHECK(d >= 0 && d < 1, ConfigError, "dropouts must be in [0, 1), got ", d);
  check_activation("activation", activation);
  check_initializer("kernel_initializer", kernel_initializer);
}

void CrnnStagesOptions::validate_stages() const {
  CT_CHECK(!cnn.empty(), ConfigError, "cnn: a backbone is required (`cardiotorch list backbone`)");
  clf.validate();
}

void EcgCrnnOptions::validate() const {
  validate_stages();
  detail::check_global_pool(global_pool);
  CT_CHECK(global_pool_size >= 1, ConfigError, "global_pool_size must be >= 1, got ", global_pool_size);
}

void EcgSeqLabNetOptions::validate() const { validate_stages(); }

EcgCrnnOptions EcgCrnnOptions::ecg_crnn() {
  EcgCrnnOptions o;
  o.cnn = BackboneConfig::named("resnet_nature_comm_bottle_neck");
  o.attn.node = ConfigNode::parse("{name: se, reduction: 8, activation: relu, bias: true}");
  return o;
}

EcgSeqLabNetOptions EcgSeqLabNetOptions::ecg_seq_lab_net() {
  EcgSeqLabNetOptions o;
  // torch_ecg narrows multi_scopic for sequence labelling: 16/32/64 filters in every branch.
  o.cnn = BackboneConfig::named("multi_scopic");
  o.cnn.node.set("num_filters", ConfigNode::parse("[[16, 32, 64], [16, 32, 64], [16, 32, 64]]"));
  o.rnn.node = ConfigNode::parse("{name: lstm, hidden_sizes: [256, 256], dropouts: [0.0], retseq: true}");
  o.attn.node = ConfigNode::parse("{name: se, reduction: 8, activation: relu, bias: true}");
  o.clf.out_channels = {256, 64};
  o.clf.dropouts = {0.2, 0.2, 0.0};
  return o;
}

// --- the composer -------------------------------------------------------------------------------------

EcgCrnnImpl::EcgCrnnImpl(const EcgCrnnOptions& o, const ModelContext& c) {
  o.validate();
  global_pool_ = o.global_pool;
  global_pool_size_ = o.global_pool_size;
  build(o, c);
}

EcgCrnnImpl::EcgCrnnImpl(const EcgSeqLabNetOptions& o, const ModelContext& c) {
  o.validate();
  global_pool_ = "none";
  recover_length_ = o.recover_length;
  build(o, c);
}

void EcgCrnnImpl::build(const CrnnStagesOptions& o, const ModelContext& c) {
  num_classes_ = detail::resolve_num_classes(o.classes, c.num_classes, "ecg_crnn");
  classes_ = o.classes;
  in_channels_ = c.in_channels;

  ModelContext cc = c;
  cc.num_classes = 0;
  cnn_ = build_model(o.cnn.node, cc);
  register_module("cnn", cnn_);
  detail::check_feature_map_backbone(*cnn_, "ecg_crnn");

  // Each stage is sized by the previous one's computed output (length free: -1).
  Shape s = cnn_->output_shape(Shape{kUnknown, in_channels_, kUnknown});
  const double map_fs = detail::output_fs(*cnn_, c.fs);
  if (!o.rnn.empty()) {
    rnn_ = rnn_registry().build(o.rnn.node, BlockContext{s[1], map_fs});
    register_module("rnn", rnn_);
    s = rnn_->output_shape(s);
  }
  sequence_features_ = s.size() == 3;
  if (!o.attn.empty()) {
    CT_CHECK(sequence_features_, ConfigError, "ecg_crnn: attn '", o.attn.name(), "' needs a sequence, but rnn '",
             o.rnn.name(), "' returns one vector per input (retseq: false); set attn: ~ or retseq: true");
    attn_ = build_attention(o.attn, BlockContext{s[1], map_fs});
    register_module("attn", attn_);
    s = attn_->output_shape(s);
  }
  if (!sequence_features_ && global_pool_ != "none") {
    CT_LOG_DEBUG("ecg_crnn: rnn '", o.rnn.name(), "' returns one vector per input; global_pool ", global_pool_,
                 " has nothing to pool and is skipped (as in torch_ecg)");
    global_pool_ = "none";
  }
  feature_channels_ = s[1];
  const int64_t clf_in = sequence_features_ && global_pool_ != "none" ? s[1] * global_pool_size_ : s[1];

  std::vector<int64_t> widths = o.clf.out_channels;
  widths.push_back(num_classes_);
  clf_ = register_module("clf", std::make_shared<MLPImpl>(MLPOptions(clf_in, widths)
                                                              .activation(o.clf.activation)
                                                              .bias(o.clf.bias)
                                                              .dropouts(o.clf.dropouts)
                                                              .skip_last_activation(true)
                                                              .kernel_initializer(o.clf.kernel_initializer)));
}

at::Tensor EcgCrnnImpl::extract_features(const at::Tensor& x) {
  check_input(x, 3, in_channels_, model_name().empty() ? "ecg_crnn" : model_name());
  at::Tensor y;
  {
    CaptureScope scope("cnn");
    y = cnn_->forward(x);
  }
  y = capture(y, "cnn");
  if (rnn_) y = capture(rnn_->forward(y), "rnn");
  if (attn_) y = capture(attn_->forward(y), "attn");
  return y;
}

at::Tensor EcgCrnnImpl::pool(const at::Tensor& f) const {
  if (!sequence_features_) return f;
  if (global_pool_ == "none") return f.transpose(1, 2);  // (B, L', C): one prediction per step
  return detail::global_pool(f, global_pool_, global_pool_size_);
}

at::Tensor EcgCrnnImpl::forward(const at::Tensor& x) {
  const at::Tensor y = clf_->forward(pool(extract_features(x)));
  if (!recover_length_) return y;
  return detail::interpolate_linear(y.transpose(1, 2), x.size(2)).transpose(1, 2);
}

at::Tensor EcgCrnnImpl::forward_features(const at::Tensor& x) {
  const at::Tensor f = extract_features(x);
  if (!sequence_features_ || global_pool_ == "none") return f;
  return detail::global_pool(f, global_pool_, global_pool_size_);
}

at::Tensor EcgCrnnImpl::forward_localized(const at::Tensor& x) {
  const at::Tensor f = extract_features(x);
  CT_CHECK(sequence_features_, ShapeError, model_name(),
           ": the rnn returns one vector per input (retseq: false); "
           "there are no per-step features");
  return f.transpose(1, 2);
}

at::Tensor EcgCrnnImpl::embed(const at::Tensor& x) {
  const at::Tensor f = forward_features(x);
  return f.dim() == 3 ? f.mean(-1) : f;
}

Shape EcgCrnnImpl::extract_shape(const Shape& input) const {
  check_shape(input, in_channels_, model_name().empty() ? "ecg_crnn" : model_name());
  Shape s = cnn_->output_shape(input);
  if (rnn_) s = rnn_->output_shape(s);
  if (attn_) s = attn_->output_shape(s);
  return s;
}

Shape EcgCrnnImpl::pooled_shape(const Shape& f) const {
  if (!sequence_features_) return f;
  if (global_pool_ == "none") return Shape{f[0], f[2], f[1]};
  return Shape{f[0], f[1] * global_pool_size_};
}

Shape EcgCrnnImpl::output_shape(const Shape& input) const {
  Shape s = clf_->output_shape(pooled_shape(extract_shape(input)));
  if (recover_length_) s[1] = input[2];
  return s;
}

Shape EcgCrnnImpl::features_shape(const Shape& input) const {
  const Shape f = extract_shape(input);
  if (!sequence_features_ || global_pool_ == "none") return f;
  return pooled_shape(f);
}

int64_t EcgCrnnImpl::embed_dim() const {
  return sequence_features_ && global_pool_ != "none" ? feature_channels_ * global_pool_size_ : feature_channels_;
}

std::vector<std::pair<std::string, Shape>> EcgCrnnImpl::stage_shapes(const Shape& input) const {
  std::vector<std::pair<std::string, Shape>> out;
  Shape s = cnn_->output_shape(input);
  out.emplace_back(str_cat("cnn (", cnn_->model_name(), ")"), s);
  if (rnn_) out.emplace_back("rnn", s = rnn_->output_shape(s));
  if (attn_) out.emplace_back("attn", s = attn_->output_shape(s));
  if (sequence_features_ && global_pool_ != "none")
    out.emplace_back(str_cat("pool (", global_pool_, ")"), s = pooled_shape(s));
  out.emplace_back("clf", output_shape(input));
  return out;
}

std::string EcgCrnnImpl::summary() const {
  std::vector<std::string> parts{cnn_->model_name()};
  if (rnn_) parts.push_back(str_cat("rnn"));
  if (attn_) parts.push_back("attn");
  parts.push_back(sequence_features_ && global_pool_ != "none" ? global_pool_ + " pool" : "per step");
  parts.push_back(str_cat("clf -> ", num_classes_));
  return str_cat(model_name().empty() ? "ecg_crnn" : model_name(), ": ", join(parts, " -> "), ", ",
                 format_count(count_parameters(*this)), " parameters");
}

// --- registrations ---------------------------------------------------------------------------------------

namespace {
template <class Impl, class Options>
auto stage_factory() {
  return options_factory<BlockImpl, Options>(
      [](const Options& o, const BlockContext& c) -> BlockPtr { return std::make_shared<Impl>(c.in_channels, o); });
}
ModelPtr make_crnn(const EcgCrnnOptions& o, const ModelContext& c) { return std::make_shared<EcgCrnnImpl>(o, c); }
ModelPtr make_seq_lab(const EcgSeqLabNetOptions& o, const ModelContext& c) {
  return std::make_shared<EcgCrnnImpl>(o, c);
}
}  // namespace

CT_REGISTER(rnn_registry(), "lstm", (stage_factory<LstmStageImpl, LstmStageOptions>()),
            "stacked (bidirectional) LSTM over time (torch_ecg StackedLSTM)")
CT_REGISTER(rnn_registry(), "linear", (stage_factory<LinearStageImpl, LinearStageOptions>()),
            "an MLP applied at every time step (torch_ecg's rnn 'linear')")

CT_REGISTER(model_registry(), "ecg_crnn",
            (options_factory<ModelImpl, EcgCrnnOptions>(make_crnn, EcgCrnnOptions::ecg_crnn())),
            "torch_ecg ECG_CRNN: cnn -> rnn -> attention -> global pool -> MLP (defaults = ECG_CRNN_CONFIG)")
CT_REGISTER(model_registry(), "ecg_seq_lab_net",
            (options_factory<ModelImpl, EcgSeqLabNetOptions>(make_seq_lab, EcgSeqLabNetOptions::ecg_seq_lab_net())),
            "torch_ecg ECG_SEQ_LAB_NET: per-step labels (B, L', K), optionally back to the input length")

}  // namespace cardiotorch::models
