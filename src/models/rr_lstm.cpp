#include "cardiotorch/models/rr_lstm.h"

#include <ATen/ATen.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/blocks/layers.h"
#include "cardiotorch/models/capture.h"
#include "models/task_common.h"

namespace cardiotorch::models {

void RrLstmHeadOptions::validate() const {
  check_choice("name", name, {"crf", "linear"});
  for (int64_t c : out_channels) CT_CHECK(c > 0, ConfigError, "out_channels must be positive, got ", c);
  for (double d : dropouts) CT_CHECK(d >= 0 && d < 1, ConfigError, "dropouts must be in [0, 1), got ", d);
  check_activation("activation", activation);
}

RrLstmOptions::RrLstmOptions() {
  lstm.hidden_sizes = {200};
  lstm.dropouts = {0.1};
}

void RrLstmOptions::validate() const {
  CT_CHECK(in_channels >= 1, ConfigError, "in_channels must be >= 1, got ", in_channels);
  lstm.validate();
  detail::check_global_pool(global_pool);
  CT_CHECK(global_pool_size >= 1, ConfigError, "global_pool_size must be >= 1, got ", global_pool_size);
  clf.validate();
  CT_CHECK(!(clf.name == "crf" && global_pool != "none"), ConfigError, "global_pool ", global_pool,
           ": a crf head labels every step; set global_pool: none or clf.name: linear");
  CT_CHECK(lstm.retseq || clf.name != "crf", ConfigError,
           "clf crf labels a sequence, but lstm.retseq is false (one vector per input); use clf.name: linear");
}

// torch_ecg's attention configs (model_configs/attn.py squeeze_excitation) as the presets use them.
RrLstmOptions RrLstmOptions::rr_lstm() {
  RrLstmOptions o;
  o.attn.node = ConfigNode::parse("{name: se, reduction: 8, activation: relu, bias: true}");
  return o;
}

RrLstmOptions RrLstmOptions::rr_af_crf() { return RrLstmOptions{}; }

RrLstmOptions RrLstmOptions::rr_af_vanilla() {
  RrLstmOptions o;
  o.global_pool = "max";
  o.clf.name = "linear";
  return o;
}

RrLstmImpl::RrLstmImpl(const RrLstmOptions& o, const ModelContext& c) {
  o.validate();
  in_channels_ = o.in_channels;
  global_pool_ = o.global_pool;
  global_pool_size_ = o.global_pool_size;
  num_classes_ = detail::resolve_num_classes(o.classes, c.num_classes, "rr_lstm");
  lstm_ = register_module("lstm", std::make_shared<LstmStageImpl>(in_channels_, o.lstm));
  Shape s = lstm_->output_shape(Shape{kUnknown, in_channels_, kUnknown});
  sequence_ = s.size() == 3;
  if (!o.attn.empty()) {
    CT_CHECK(sequence_, ConfigError, "rr_lstm: attn '", o.attn.name(),
             "' needs a sequence, but lstm.retseq is false; set attn: ~ or retseq: true");
    attn_ = register_module("attn", build_attention(o.attn, BlockContext{s[1], c.fs}));
    s = attn_->output_shape(s);
  }
  if (!sequence_) global_pool_ = "none";
  feature_channels_ = s[1];
  if (o.clf.name == "crf") {
    crf_ = register_module("clf", std::make_shared<ExtendedCRFImpl>(feature_channels_, num_classes_, o.clf.proj_bias));
  } else {
    std::vector<int64_t> widths = o.clf.out_channels;
    widths.push_back(num_classes_);
    const int64_t in = sequence_ && global_pool_ != "none" ? feature_channels_ * global_pool_size_ : feature_channels_;
    linear_ = register_module("clf", std::make_shared<MLPImpl>(MLPOptions(in, widths)
                                                                   .activation(o.clf.activation)
                                                                   .bias(o.clf.bias)
                                                                   .dropouts(o.clf.dropouts)
                                                                   .skip_last_activation(true)));
  }
}

at::Tensor RrLstmImpl::forward_features(const at::Tensor& x) {
  check_input(x, 3, in_channels_, model_name().empty() ? "rr_lstm" : model_name());
  at::Tensor y = capture(lstm_->forward(x), "lstm");
  if (attn_) y = capture(attn_->forward(y), "attn");
  if (sequence_ && global_pool_ != "none") return detail::global_pool(y, global_pool_, global_pool_size_);
  return y;
}

at::Tensor RrLstmImpl::head_input(const at::Tensor& f) const {
  return f.dim() == 3 ? f.transpose(1, 2) : f;  // per step: (B, L, C)
}

at::Tensor RrLstmImpl::forward(const at::Tensor& x) {
  const at::Tensor h = head_input(forward_features(x));
  return crf_ ? crf_->emissions(h) : linear_->forward(h);
}

at::Tensor RrLstmImpl::decode(const at::Tensor& x, const at::Tensor& mask) {
  const at::Tensor y = forward(x);
  if (crf_) return crf_->crf()->decode(y, mask);
  CT_CHECK(y.dim() == 3, ConfigError, model_name(),
           ": a pooled head gives one label per input; there is no sequence "
           "to decode (use forward())");
  at::Tensor tags = y.argmax(2);
  if (mask.defined()) tags = tags.masked_fill(mask.to(at::kBool).logical_not(), -1);
  return tags;
}

at::Tensor RrLstmImpl::decode_one_hot(const at::Tensor& x, const at::Tensor& mask) {
  const at::Tensor tags = decode(x, mask);
  return at::one_hot(tags.clamp_min(0), num_classes_).to(at::kFloat) * tags.ge(0).unsqueeze(2).to(at::kFloat);
}

Shape RrLstmImpl::features_of(const Shape& input) const {
  check_shape(input, in_channels_, model_name().empty() ? "rr_lstm" : model_name());
  Shape s = lstm_->output_shape(input);
  if (attn_) s = attn_->output_shape(s);
  return s;
}

Shape RrLstmImpl::features_shape(const Shape& input) const {
  const Shape s = features_of(input);
  if (sequence_ && global_pool_ != "none") return Shape{s[0], s[1] * global_pool_size_};
  return s;
}

Shape RrLstmImpl::output_shape(const Shape& input) const {
  const Shape f = features_shape(input);
  if (f.size() == 3) return Shape{f[0], f[2], num_classes_};
  return Shape{f[0], num_classes_};
}

int64_t RrLstmImpl::embed_dim() const {
  return sequence_ && global_pool_ != "none" ? feature_channels_ * global_pool_size_ : feature_channels_;
}

std::vector<std::pair<std::string, Shape>> RrLstmImpl::stage_shapes(const Shape& input) const {
  std::vector<std::pair<std::string, Shape>> out;
  Shape s = lstm_->output_shape(input);
  out.emplace_back("lstm", s);
  if (attn_) out.emplace_back("attn", s = attn_->output_shape(s));
  if (sequence_ && global_pool_ != "none")
    out.emplace_back(str_cat("pool (", global_pool_, ")"), features_shape(input));
  out.emplace_back(crf_ ? "clf (crf emissions)" : "clf", output_shape(input));
  return out;
}

std::string RrLstmImpl::summary() const {
  return str_cat(model_name().empty() ? "rr_lstm" : model_name(), ": LSTM", attn_ ? " -> attn" : "",
                 sequence_ && global_pool_ != "none" ? " -> " + global_pool_ + " pool" : "", " -> ",
                 crf_ ? "CRF" : "linear", " head, ", num_classes_, " classes, ", format_count(count_parameters(*this)),
                 " parameters");
}

namespace {
ModelPtr make_rr_lstm(const RrLstmOptions& o, const ModelContext& c) { return std::make_shared<RrLstmImpl>(o, c); }
auto rr(RrLstmOptions preset) { return options_factory<ModelImpl, RrLstmOptions>(make_rr_lstm, std::move(preset)); }
}  // namespace

CT_REGISTER(model_registry(), "rr_lstm", (rr(RrLstmOptions::rr_lstm())),
            "torch_ecg RR_LSTM over RR-interval series (B, 1, L): LSTM -> SE -> CRF (RR_LSTM_CONFIG)")
CT_REGISTER(model_registry(), "rr_af_crf", (rr(RrLstmOptions::rr_af_crf())),
            "RR_LSTM with a CRF head and no attention (torch_ecg RR_AF_CRF_CONFIG): per-step labels")
CT_REGISTER(model_registry(), "rr_af_vanilla", (rr(RrLstmOptions::rr_af_vanilla())),
            "RR_LSTM with max pooling and a linear head (torch_ecg RR_AF_VANILLA_CONFIG): one label per input")

}  // namespace cardiotorch::models
