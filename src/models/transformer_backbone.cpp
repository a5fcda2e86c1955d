#include "cardiotorch/models/transformer_backbone.h"

#include <ATen/ATen.h>

#include <cmath>

#include "cardiotorch/core/registry.h"
#include "cardiotorch/models/blocks/attention_blocks.h"
#include "cardiotorch/models/blocks/conv_bn_act.h"
#include "cardiotorch/models/capture.h"
#include "models/cnn_util.h"
#include "models/resnet_detail.h"

namespace cardiotorch::models {

namespace {

// A bare Conv1d as a block (patch_embed.proj).
class PatchConvImpl : public BlockImpl {
 public:
  PatchConvImpl(int64_t in, int64_t out, int64_t patch) : in_(in), out_(out), patch_(patch) {
    conv_ = register_module("proj", torch::nn::Conv1d(torch::nn::Conv1dOptions(in, out, patch).stride(patch)));
  }
  at::Tensor forward(const at::Tensor& x) override { return conv_->forward(x); }
  Shape output_shape(const Shape& input) const override {
    check_shape(input, in_, "patch embedding");
    return Shape{input[0], out_, conv_out_len(input[2], patch_, patch_)};
  }

 private:
  int64_t in_, out_, patch_;
  torch::nn::Conv1d conv_{nullptr};
};

BlockConfig default_encoder() {
  BlockConfig c;
  c.node = ConfigNode::parse("{name: transformer, hidden_size: 1024, num_heads: 8, num_layers: 4, dropout: 0.1}",
                             "transformer backbone default");
  return c;
}

}  // namespace

TransformerBackboneOptions::TransformerBackboneOptions() : encoder(default_encoder()) {}

void TransformerBackboneOptions::validate() const {
  const size_t n = stem_num_filters.size();
  for (int64_t v : stem_num_filters) CT_CHECK(v >= 1, ConfigError, "stem_num_filters must be >= 1, got ", v);
  if (n > 0) {
    detail::per_item(stem_filter_lengths, n, "stem_filter_lengths", "convolution");
    detail::per_item(stem_subsample_lengths, n, "stem_subsample_lengths", "convolution");
    for (int64_t v : stem_filter_lengths) CT_CHECK(v >= 1, ConfigError, "stem_filter_lengths must be >= 1, got ", v);
    for (int64_t v : stem_subsample_lengths)
      CT_CHECK(v >= 1, ConfigError, "stem_subsample_lengths must be >= 1, got ", v);
  }
  check_activation("stem_activation", stem_activation);
  CT_CHECK(patch_size >= 1, ConfigError, "patch_size must be >= 1, got ", patch_size);
  CT_CHECK(embed_dim >= 1, ConfigError, "embed_dim must be >= 1, got ", embed_dim);
  check_choice("pos_embed", pos_embed, {"sinusoidal", "learned", "none"});
  CT_CHECK(pos_embed != "learned" || max_len >= 1, ConfigError, "max_len must be >= 1, got ", max_len);
  CT_CHECK(!encoder.empty(), ConfigError, "encoder is not set (a block such as {name: transformer})");
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0 (0 = never rescale kernels), got ", base_fs);
}

TransformerBackboneImpl::TransformerBackboneImpl(const TransformerBackboneOptions& o, const ModelContext& ctx)
    : options_(o), seq_len_(ctx.seq_len) {
  o.validate();
  CT_CHECK(ctx.in_channels >= 1, ConfigError, "Transformer: in_channels must be >= 1, got ", ctx.in_channels);
  in_channels_ = ctx.in_channels;
  int64_t in = in_channels_;
  double fs = ctx.fs;
  if (!o.stem_num_filters.empty()) {
    stem_ = register_module("stem", std::make_shared<BlockSequenceImpl>());
    const size_t n = o.stem_num_filters.size();
    const auto ks = detail::per_item(o.stem_filter_lengths, n, "stem_filter_lengths", "convolution");
    const auto ss = detail::per_item(o.stem_subsample_lengths, n, "stem_subsample_lengths", "convolution");
    for (size_t i = 0; i < n; ++i) {
      stem_->push_back(
          str_cat("conv_", i),
          make_cba(ConvBnActivationOptions(in, o.stem_num_filters[i], detail::kernel_at(ks[i], ctx.fs, o.base_fs))
                       .stride(ss[i])
                       .activation(o.stem_activation)
                       .kernel_initializer("he_normal")));
      in = o.stem_num_filters[i];
      stride_ *= ss[i];
    }
    fs /= static_cast<double>(stride_);
  }
  patch_embed_ = register_module("patch_embed", std::make_shared<PatchConvImpl>(in, o.embed_dim, o.patch_size));
  stride_ *= o.patch_size;
  fs /= static_cast<double>(o.patch_size);
  if (o.pos_embed == "learned") {
    pos_embed_ = register_parameter("pos_embed", at::randn({1, o.max_len, o.embed_dim}) * 0.02);
  }
  encoder_ = register_module("encoder", build_block(o.encoder, BlockContext{o.embed_dim, fs}));
  out_channels_ = encoder_->output_shape({kUnknown, o.embed_dim, kUnknown})[1];
  if (o.final_norm) norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({out_channels_})));
}

at::Tensor TransformerBackboneImpl::tokens(const at::Tensor& x) {
  check_input(x, 3, in_channels_, model_name().empty() ? "Transformer" : model_name());
  at::Tensor y = stem_ ? run_named(*stem_, "stem", x) : x;
  y = run_named(*patch_embed_, "patch_embed", y);  // (B, D, N)
  const int64_t N = y.size(2), D = y.size(1);
  CT_CHECK(N >= 1, ShapeError, model_name(), ": an input of ", x.size(2), " samples gives no token (one token per ",
           stride_, " samples)");
  if (options_.pos_embed == "learned") {
    CT_CHECK(N <= options_.max_len, ShapeError, model_name(), ": ", N, " tokens exceed max_len ", options_.max_len,
             " of the learned positions (", x.size(2), " samples, one token per ", stride_, ")");
    y = y + pos_embed_.slice(1, 0, N).transpose(1, 2);
  } else if (options_.pos_embed == "sinusoidal") {
    // Vaswani et al.: PE(n, 2i) = sin(n / 10000^(2i/D)), PE(n, 2i+1) = cos(...).
    const at::Tensor pos = at::arange(N, y.options()).unsqueeze(1);
    const at::Tensor i2 = at::arange(0, D, 2, y.options());
    const at::Tensor angle = pos * at::exp(i2 * (-std::log(10000.0) / static_cast<double>(D)));
    at::Tensor pe = at::zeros({N, D}, y.options());
    pe.slice(1, 0, D, 2).copy_(at::sin(angle));
    pe.slice(1, 1, D, 2).copy_(at::cos(angle).slice(1, 0, D / 2));
    y = y + pe.t().unsqueeze(0);
  }
  return y;
}

at::Tensor TransformerBackboneImpl::forward(const at::Tensor& x) {
  at::Tensor y = run_named(*encoder_, "encoder", tokens(x));
  if (norm_) y = capture(norm_->forward(y.transpose(1, 2)).transpose(1, 2), "norm");
  return y;
}

at::Tensor TransformerBackboneImpl::forward_localized(const at::Tensor& x) { return forward(x).transpose(1, 2); }

Shape TransformerBackboneImpl::output_shape(const Shape& input) const {
  check_shape(input, in_channels_, model_name().empty() ? "Transformer" : model_name());
  Shape s = stem_ ? stem_->output_shape(input) : input;
  s = patch_embed_->output_shape(s);
  return encoder_->output_shape(s);
}

std::vector<std::pair<std::string, Shape>> TransformerBackboneImpl::stage_shapes(const Shape& input) const {
  std::vector<std::pair<std::string, Shape>> out;
  Shape s = input;
  if (stem_) out.emplace_back("stem", s = stem_->output_shape(s));
  out.emplace_back("patch_embed", s = patch_embed_->output_shape(s));
  out.emplace_back("encoder", encoder_->output_shape(s));
  return out;
}

std::string TransformerBackboneImpl::summary() const {
  return str_cat(model_name().empty() ? "transformer" : model_name(), ": Transformer, one token per ", stride_,
                 " samples, ", options_.encoder.name(), " encoder, ", out_channels_, " output channels, ",
                 format_count(count_parameters(*this)), " parameters");
}

std::vector<at::Tensor> TransformerBackboneImpl::attention_maps(const at::Tensor& x) {
  auto* t = dynamic_cast<TransformerImpl*>(encoder_.get());
  if (t == nullptr) return {};
  return t->attention_maps(tokens(x));
}

TokenLayout TransformerBackboneImpl::token_layout() const {
  TokenLayout t;
  if (seq_len_ < 0 || dynamic_cast<TransformerImpl*>(encoder_.get()) == nullptr) return t;
  t.rows = 1;
  t.cols = output_shape({1, in_channels_, seq_len_})[2];
  t.patch_len = stride_;
  return t;
}

TransformerBackboneOptions TransformerBackboneOptions::transformer_ecg() { return TransformerBackboneOptions{}; }

TransformerBackboneOptions TransformerBackboneOptions::transformer_patch() {
  TransformerBackboneOptions o;
  o.stem_num_filters.clear();
  o.patch_size = 50;
  o.embed_dim = 192;
  o.pos_embed = "learned";
  o.max_len = 512;
  o.encoder.node = ConfigNode::parse("{name: transformer, hidden_size: 768, num_heads: 6, num_layers: 6, dropout: 0.1}",
                                     "transformer_patch preset");
  return o;
}

namespace {
ModelPtr make_tb(const TransformerBackboneOptions& o, const ModelContext& c) {
  return std::make_shared<TransformerBackboneImpl>(o, c);
}
auto tb(TransformerBackboneOptions preset) {
  return options_factory<ModelImpl, TransformerBackboneOptions>(make_tb, std::move(preset));
}
}  // namespace

CT_REGISTER(backbone_registry(), "transformer_ecg", (tb(TransformerBackboneOptions::transformer_ecg())),
            "Transformer encoder backbone: conv stem, a token per 20 samples, 4 layers x 8 heads, D 256")
CT_REGISTER(backbone_registry(), "transformer_patch", (tb(TransformerBackboneOptions::transformer_patch())),
            "Transformer encoder backbone on raw 50-sample patches, learned positions, 6 layers x 6 heads, D 192")

}  // namespace cardiotorch::models
