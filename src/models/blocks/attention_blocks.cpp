#include "cardiotorch/models/blocks/attention_blocks.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/pooling.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/models/attention.h"

namespace cardiotorch::models {
namespace {

int64_t positive_mid(int64_t mid, const char* who, int64_t channels, const char* how) {
  CT_CHECK(mid >= 1, ConfigError, who, ": ", channels, " input channels give ", mid, " mid channels (", how,
           "); use a smaller ratio/reduction");
  return mid;
}

// (B, C, L) -> (B, L, C) and back.
at::Tensor to_tokens(const at::Tensor& x) { return x.transpose(1, 2); }
at::Tensor to_map(const at::Tensor& x) { return x.transpose(1, 2).contiguous(); }

}  // namespace

// --- SE -------------------------------------------------------------------------------------

void SEOptions::validate() const {
  CT_CHECK(reduction >= 1, ConfigError, "reduction must be >= 1, got ", reduction);
  check_activation("activation", activation, false);
  CT_CHECK(dropouts >= 0 && dropouts < 1, ConfigError, "dropouts must be in [0, 1), got ", dropouts);
}

SEBlockImpl::SEBlockImpl(int64_t in_channels, const SEOptions& o) : channels_(in_channels) {
  o.validate();
  const int64_t mid = positive_mid(in_channels / o.reduction, "se", in_channels, "in_channels / reduction");
  fc_ = torch::nn::Sequential();
  fc_->push_back(std::make_shared<MLPImpl>(MLPOptions(in_channels, {mid, in_channels})
                                               .activation(o.activation)
                                               .bias(o.bias)
                                               .dropouts({o.dropouts})
                                               .skip_last_activation(true)));
  fc_->push_back(torch::nn::Sigmoid());
  register_module("fc", fc_);
}

at::Tensor SEBlockImpl::forward(const at::Tensor& x) { return x * fc_->forward(x.mean(-1)).unsqueeze(-1); }

Shape SEBlockImpl::output_shape(const Shape& input) const {
  check_shape(input, channels_, "se");
  return input;
}

// --- GC -------------------------------------------------------------------------------------

void GCOptions::validate() const {
  CT_CHECK(ratio >= 1, ConfigError, "ratio must be >= 1, got ", ratio);
  check_choice("pooling_type", pooling_type, {"attn", "avg"});
  CT_CHECK(!fusion_types.empty(), ConfigError, "fusion_types must name at least one of add, mul");
  for (const auto& f : fusion_types) check_choice("fusion_types", f, {"add", "mul"});
}

GlobalContextBlockImpl::GlobalContextBlockImpl(int64_t in_channels, const GCOptions& o)
    : channels_(in_channels), options_(o) {
  o.validate();
  const int64_t mid = positive_mid(o.reduction ? in_channels / o.ratio : in_channels * o.ratio, "gc", in_channels,
                                   "in_channels / ratio");
  if (o.pooling_type == "attn")
    conv_mask_ = register_module("conv_mask", torch::nn::Conv1d(torch::nn::Conv1dOptions(in_channels, 1, 1)));
  auto transform = [&]() {
    torch::nn::Sequential s;
    s->push_back(torch::nn::Conv1d(torch::nn::Conv1dOptions(in_channels, mid, 1)));
    s->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({mid, 1})));
    s->push_back(torch::nn::ReLU());
    s->push_back(torch::nn::Conv1d(torch::nn::Conv1dOptions(mid, in_channels, 1)));
    return s;
  };
  auto has = [&](const char* f) {
    return std::find(o.fusion_types.begin(), o.fusion_types.end(), f) != o.fusion_types.end();
  };
  if (has("add")) add_ = register_module("channel_add_conv", transform());
  if (has("mul")) mul_ = register_module("channel_mul_conv", transform());
}

at::Tensor GlobalContextBlockImpl::forward(const at::Tensor& x) {
  at::Tensor context;
  if (conv_mask_) {
    const at::Tensor w = conv_mask_->forward(x).softmax(2);           // (B, 1, L)
    context = at::matmul(x.unsqueeze(1), w.unsqueeze(3)).squeeze(1);  // (B, C, 1)
  } else {
    context = x.mean(-1, true);
  }
  at::Tensor out = x;
  if (mul_) out = out * at::sigmoid(mul_->forward(context));
  if (add_) out = out + add_->forward(context);
  return out;
}

Shape GlobalContextBlockImpl::output_shape(const Shape& input) const {
  check_shape(input, channels_, "gc");
  return input;
}

// --- NL -------------------------------------------------------------------------------------

void NLOptions::validate() const {
  CT_CHECK(mid_channels >= 0, ConfigError, "mid_channels must be >= 0, got ", mid_channels);
  CT_CHECK(subsample_length >= 1, ConfigError, "subsample_length must be >= 1, got ", subsample_length);
  for (int64_t k : {filter_lengths.g, filter_lengths.theta, filter_lengths.phi, filter_lengths.W})
    CT_CHECK(k >= 1, ConfigError, "filter_lengths must be >= 1, got ", k);
}

NonLocalBlockImpl::NonLocalBlockImpl(int64_t in_channels, const NLOptions& o) : channels_(in_channels), options_(o) {
  o.validate();
  mid_ = o.mid_channels > 0 ? o.mid_channels : std::max<int64_t>(in_channels / 2, 1);
  auto mid_layers = register_module("mid_layers", std::make_shared<torch::nn::Module>());
  auto branch = [&](const char* name, int64_t k, bool pool) {
    torch::nn::Sequential s;
    s->push_back("conv", make_cba(ConvBnActivationOptions(in_channels, mid_, k).norm("none")));
    if (pool && o.subsample_length > 1)
      s->push_back("max_pool", torch::nn::MaxPool1d(torch::nn::MaxPool1dOptions(o.subsample_length)));
    return mid_layers->register_module(name, s);
  };
  g_ = branch("g", o.filter_lengths.g, true);
  theta_ = branch("theta", o.filter_lengths.theta, false);
  phi_ = branch("phi", o.filter_lengths.phi, true);
  W_ = register_module(
      "W",
      make_cba(
          ConvBnActivationOptions(mid_, in_channels, o.filter_lengths.W).norm(o.batch_norm ? "batch_norm" : "none")));
}

at::Tensor NonLocalBlockImpl::forward(const at::Tensor& x) {
  const at::Tensor v = to_tokens(g_->forward(x));      // (B, L', mid)
  const at::Tensor q = to_tokens(theta_->forward(x));  // (B, L, mid)
  const at::Tensor k = to_tokens(phi_->forward(x));    // (B, L', mid)
  AttentionOptions ao;
  ao.scale = 1.0;  // unscaled, as in the non-local paper
  at::Tensor y = W_->forward(to_map(scaled_dot_product_attention(q, k, v, ao)));
  const int64_t diff = x.size(-1) - y.size(-1);  // non-zero only for an even W kernel
  if (diff != 0) y = at::constant_pad_nd(y, {diff / 2, diff - diff / 2}, 0.0);
  return y + x;
}

Shape NonLocalBlockImpl::output_shape(const Shape& input) const {
  check_shape(input, channels_, "nl");
  return input;
}

// --- CBAM -----------------------------------------------------------------------------------

void CBAMOptions::validate() const {
  CT_CHECK(reduction >= 1, ConfigError, "reduction must be >= 1, got ", reduction);
  check_activation("activation", activation, false);
  check_activation("gate", gate, false);
  CT_CHECK(!pool_types.empty(), ConfigError, "pool_types must name at least one of avg, max, lp, lse");
  for (const auto& p : pool_types) check_choice("pool_types", p, {"avg", "max", "lp", "lse"});
  CT_CHECK(spatial_conv_kernel_size >= 1, ConfigError, "spatial_conv_kernel_size must be >= 1, got ",
           spatial_conv_kernel_size);
  check_norm("spatial_conv_bn", spatial_conv_bn);
}

CBAMBlockImpl::CBAMBlockImpl(int64_t in_channels, const CBAMOptions& o) : channels_(in_channels), options_(o) {
  o.validate();
  const int64_t mid = positive_mid(in_channels / o.reduction, "cbam", in_channels, "in_channels / reduction");
  mlp_ = register_module(
      "channel_gate_mlp",
      std::make_shared<MLPImpl>(
          MLPOptions(in_channels, {mid, in_channels}).activation(o.activation).skip_last_activation(true)));
  gate_ = register_module("channel_gate_act", make_activation(o.gate));
  if (!o.no_spatial)
    spatial_ = register_module(
        "spatial_gate_conv",
        make_cba(
            ConvBnActivationOptions(2, 1, o.spatial_conv_kernel_size).norm(o.spatial_conv_bn).activation("sigmoid")));
}

at::Tensor CBAMBlockImpl::forward(const at::Tensor& x) {
  at::Tensor sum;
  for (const auto& p : options_.pool_types) {
    at::Tensor d;
    if (p == "avg") d = x.mean(-1);
    else if (p == "max") d = x.amax(-1);
    else if (p == "lse") d = x.logsumexp(-1);
    else
      d = torch::nn::functional::lp_pool1d(
              x, torch::nn::functional::LPPool1dFuncOptions(options_.lp_norm_type, x.size(-1)))
              .flatten(1);
    const at::Tensor raw = mlp_->forward(d);
    sum = sum.defined() ? sum + raw : raw;
  }
  at::Tensor y = gate_->forward(sum).unsqueeze(-1) * x;
  if (!spatial_) return y;
  const at::Tensor pooled = at::cat({std::get<0>(y.max(1, true)), y.mean(1, true)}, 1);
  return spatial_->forward(pooled) * y;
}

Shape CBAMBlockImpl::output_shape(const Shape& input) const {
  check_shape(input, channels_, "cbam");
  return input;
}

// --- multi-head attention -------------------------------------------------------------------

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t embed_dim, int64_t num_heads, double dropout, bool bias)
    : embed_dim_(embed_dim), num_heads_(num_heads), dropout_(dropout) {
  CT_CHECK(num_heads > 0 && embed_dim % num_heads == 0, ConfigError, "attention: embed dim ", embed_dim,
           " is not divisible by num_heads ", num_heads);
  in_proj_weight_ = register_parameter("in_proj_weight", at::empty({3 * embed_dim, embed_dim}));
  torch::nn::init::xavier_uniform_(in_proj_weight_);
  if (bias) in_proj_bias_ = register_parameter("in_proj_bias", at::zeros({3 * embed_dim}));
  out_proj_ = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(embed_dim, embed_dim).bias(bias)));
  if (bias) torch::nn::init::zeros_(out_proj_->bias);
}

at::Tensor MultiheadAttentionImpl::forward(const at::Tensor& x, at::Tensor* weights) {
  const int64_t B = x.size(0), N = x.size(1), d = embed_dim_ / num_heads_;
  const auto qkv = at::linear(x, in_proj_weight_, in_proj_bias_).chunk(3, -1);
  auto heads = [&](const at::Tensor& t) { return t.reshape({B, N, num_heads_, d}).transpose(1, 2); };
  AttentionOptions ao;
  ao.dropout = dropout_;
  ao.training = is_training();
  const at::Tensor y = scaled_dot_product_attention(heads(qkv[0]), heads(qkv[1]), heads(qkv[2]), ao, weights);
  return out_proj_->forward(y.transpose(1, 2).reshape({B, N, embed_dim_}));
}

// --- self-attention -------------------------------------------------------------------------

void SelfAttentionOptions::validate() const {
  CT_CHECK(num_heads >= 1, ConfigError, "num_heads must be >= 1, got ", num_heads);
  CT_CHECK(dropout >= 0 && dropout < 1, ConfigError, "dropout must be in [0, 1), got ", dropout);
}

SelfAttentionImpl::SelfAttentionImpl(int64_t in_channels, const SelfAttentionOptions& o) : channels_(in_channels) {
  o.validate();
  embed_ = in_channels / o.num_heads * o.num_heads;
  CT_CHECK(embed_ > 0, ConfigError, "self_attention: ", in_channels, " channels are fewer than num_heads ",
           o.num_heads);
  if (embed_ != in_channels) project_ = register_module("project", torch::nn::Linear(in_channels, embed_));
  mha_ = register_module("mha", std::make_shared<MultiheadAttentionImpl>(embed_, o.num_heads, o.dropout, o.bias));
}

at::Tensor SelfAttentionImpl::forward(const at::Tensor& x) {
  at::Tensor t = to_tokens(x);
  if (project_) t = project_->forward(t);
  return to_map(mha_->forward(t));
}

at::Tensor SelfAttentionImpl::attention_weights(const at::Tensor& x) {
  at::Tensor t = to_tokens(x), w;
  if (project_) t = project_->forward(t);
  mha_->forward(t, &w);
  return w;
}

Shape SelfAttentionImpl::output_shape(const Shape& input) const {
  check_shape(input, channels_, "self_attention");
  return with_dim(input, 1, embed_);
}

// --- transformer ----------------------------------------------------------------------------

void TransformerOptions::validate() const {
  CT_CHECK(hidden_size >= 1, ConfigError, "hidden_size must be >= 1, got ", hidden_size);
  CT_CHECK(num_heads >= 1, ConfigError, "num_heads must be >= 1, got ", num_heads);
  CT_CHECK(num_layers >= 1, ConfigError, "num_layers must be >= 1, got ", num_layers);
  CT_CHECK(dropout >= 0 && dropout < 1, ConfigError, "dropout must be in [0, 1), got ", dropout);
  check_choice("activation", activation, {"relu", "gelu"});
}

TransformerEncoderLayerImpl::TransformerEncoderLayerImpl(int64_t d_model, const TransformerOptions& o)
    : dropout_(o.dropout), gelu_(o.activation == "gelu") {
  self_attn_ = register_module("self_attn", std::make_shared<MultiheadAttentionImpl>(d_model, o.num_heads, o.dropout));
  linear1_ = register_module("linear1", torch::nn::Linear(d_model, o.hidden_size));
  linear2_ = register_module("linear2", torch::nn::Linear(o.hidden_size, d_model));
  norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})));
}

at::Tensor TransformerEncoderLayerImpl::forward(const at::Tensor& x, at::Tensor* weights) {
  const bool train = is_training();
  at::Tensor y = norm1_->forward(x + at::dropout(self_attn_->forward(x, weights), dropout_, train));
  at::Tensor h = linear1_->forward(y);
  h = gelu_ ? at::gelu(h) : at::relu(h);
  h = linear2_->forward(at::dropout(h, dropout_, train));
  return norm2_->forward(y + at::dropout(h, dropout_, train));
}

TransformerImpl::TransformerImpl(int64_t in_channels, const TransformerOptions& o) : channels_(in_channels) {
  o.validate();
  embed_ = in_channels / o.num_heads * o.num_heads;
  CT_CHECK(embed_ > 0, ConfigError, "transformer: ", in_channels, " channels are fewer than num_heads ", o.num_heads);
  if (embed_ != in_channels) project_ = register_module("project", torch::nn::Linear(in_channels, embed_));
  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  auto list = encoder->register_module("layers", std::make_shared<torch::nn::Module>());
  for (int64_t i = 0; i < o.num_layers; ++i)
    layers_.push_back(
        list->register_module(std::to_string(i), std::make_shared<TransformerEncoderLayerImpl>(embed_, o)));
}

at::Tensor TransformerImpl::forward(const at::Tensor& x) {
  at::Tensor t = to_tokens(x);
  if (project_) t = project_->forward(t);
  for (auto& l : layers_) t = l->forward(t);
  return to_map(t);
}

std::vector<at::Tensor> TransformerImpl::attention_maps(const at::Tensor& x) {
  at::Tensor t = to_tokens(x);
  if (project_) t = project_->forward(t);
  std::vector<at::Tensor> maps;
  for (auto& l : layers_) {
    at::Tensor w;
    t = l->forward(t, &w);
    maps.push_back(w);
  }
  return maps;
}

Shape TransformerImpl::output_shape(const Shape& input) const {
  check_shape(input, channels_, "transformer");
  return with_dim(input, 1, embed_);
}

// --- registrations --------------------------------------------------------------------------

namespace {
template <class Impl, class Options>
auto block_factory() {
  return options_factory<BlockImpl, Options>(
      [](const Options& o, const BlockContext& c) -> BlockPtr { return std::make_shared<Impl>(c.in_channels, o); });
}
}  // namespace

CT_REGISTER(block_registry(), "se", (block_factory<SEBlockImpl, SEOptions>()),
            "squeeze-and-excitation channel gate (torch_ecg SEBlock)")
CT_REGISTER(block_registry(), "gc", (block_factory<GlobalContextBlockImpl, GCOptions>()),
            "global context block (GCNet; torch_ecg GlobalContextBlock)")
CT_REGISTER(block_registry(), "nl", (block_factory<NonLocalBlockImpl, NLOptions>()),
            "non-local attention over time (torch_ecg NonLocalBlock)")
CT_REGISTER(block_registry(), "cbam", (block_factory<CBAMBlockImpl, CBAMOptions>()),
            "channel then spatial attention (torch_ecg CBAMBlock)")
CT_REGISTER(block_registry(), "self_attention", (block_factory<SelfAttentionImpl, SelfAttentionOptions>()),
            "multi-head self-attention over time, output (B, E, L) (torch_ecg SelfAttention)")
CT_REGISTER(block_registry(), "transformer", (block_factory<TransformerImpl, TransformerOptions>()),
            "post-norm transformer encoder layers over time, output (B, E, L) (torch_ecg Transformer)")

}  // namespace cardiotorch::models
