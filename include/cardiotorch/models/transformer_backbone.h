#pragma once
// A Transformer encoder backbone for 1-D signals (torch_ecg's Transformer is an attention
// layer for ECG_CRNN only, without forward_features; this is a backbone in its own right).
//
//   stem.conv_<i>      ConvBnActivations (strided) that see the raw signal (empty: none)
//   patch_embed.proj   Conv1d with kernel = stride = patch_size: one token per patch
//   pos_embed          sinusoidal (no parameters, any length), learned ((1, max_len, D)) or none
//   encoder            a block from the block registry on the (B, D, N) token map, by default
//                      {name: transformer}: torch_ecg's post-norm encoder layers, whose attention
//                      runs through models::scaled_dot_product_attention
//   norm               LayerNorm over D (final_norm)
//
// forward() / forward_features() give the token map (B, D, N) like every CNN backbone, so the
// backbone drops into ECG_CRNN and the heads; forward_localized() gives the tokens (B, N, D),
// embed() their mean. With a transformer encoder, attention_maps() returns each layer's
// attention (B, heads, N, N) and, for a model built for a fixed input length
// (ModelContext::seq_len), token_layout() maps the N tokens back onto the samples (patch_len =
// the stem's and the patch's strides), so `cardiotorch saliency --method rollout` works.
// Capture points: stem, patch_embed, encoder, norm.
//
// Presets: transformer_ecg (conv stem 64-128, strides 2x2, patches of 5: one token per 20
// samples, D 256, 4 layers of 8 heads) and transformer_patch (no conv stem, patches of 50
// samples, D 192, 6 layers of 6 heads, learned positions up to 512 tokens).
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::models {

struct TransformerBackboneOptions {
  std::vector<int64_t> stem_num_filters{64, 128};
  std::vector<int64_t> stem_filter_lengths{15, 9};
  std::vector<int64_t> stem_subsample_lengths{2, 2};
  std::string stem_activation = "relu";
  int64_t patch_size = 5;
  int64_t embed_dim = 256;
  std::string pos_embed = "sinusoidal";
  int64_t max_len = 1024;
  BlockConfig encoder;
  bool final_norm = true;
  double base_fs = 500.0;
  TransformerBackboneOptions();
  template <class V>
  void fields(V& v) {
    v("stem_num_filters", stem_num_filters, "widths of the conv stem (empty: patches of the raw signal)");
    v("stem_filter_lengths", stem_filter_lengths, "stem kernels at base_fs (one or one per conv)");
    v("stem_subsample_lengths", stem_subsample_lengths, "stem strides (one or one per conv)");
    v("stem_activation", stem_activation, "activation of the stem convolutions");
    v("patch_size", patch_size, "samples (of the stem output) per token");
    v("embed_dim", embed_dim, "token width D");
    v("pos_embed", pos_embed, "position encoding: sinusoidal | learned | none");
    v("max_len", max_len, "learned positions: the most tokens an input may give");
    v("encoder", encoder, "a block on the (B, D, N) tokens, e.g. {name: transformer, num_layers: 4}");
    v("final_norm", final_norm, "LayerNorm over D after the encoder");
    v("base_fs", base_fs, "sampling rate the stem kernels are given at; 0 = never rescale");
  }
  void validate() const;

  static TransformerBackboneOptions transformer_ecg();
  static TransformerBackboneOptions transformer_patch();
};

class TransformerBackboneImpl : public ModelImpl {
 public:
  TransformerBackboneImpl(const TransformerBackboneOptions& options, const ModelContext& context);
  at::Tensor forward(const at::Tensor& x) override;
  at::Tensor forward_localized(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  int64_t embed_dim() const override { return out_channels_; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;
  std::vector<at::Tensor> attention_maps(const at::Tensor& x) override;
  TokenLayout token_layout() const override;
  /// Samples of the input per token (the product of the stem's and the patch's strides).
  int64_t samples_per_token() const { return stride_; }

 private:
  /// (B, D, N) tokens with positions, before the encoder.
  at::Tensor tokens(const at::Tensor& x);
  TransformerBackboneOptions options_;
  int64_t stride_ = 1, out_channels_ = 0, seq_len_ = kUnknown;
  std::shared_ptr<BlockSequenceImpl> stem_;
  BlockPtr patch_embed_;
  at::Tensor pos_embed_;
  BlockPtr encoder_;
  torch::nn::LayerNorm norm_{nullptr};
};

}  // namespace cardiotorch::models
