#pragma once
// Attention and transformer blocks on (B, C, L) maps, registered in block_registry():
//
//   se              squeeze-and-excitation (torch_ecg SEBlock)
//   gc              global context (GlobalContextBlock)
//   nl              non-local (NonLocalBlock)
//   cbam            convolutional block attention (CBAMBlock)
//   self_attention  multi-head self-attention over time (SelfAttention, output (B, E, L))
//   transformer     transformer encoder layers over time (torch_ecg's Transformer wrapper of
//                   nn.TransformerEncoder, post-norm; output (B, E, L))
//
// Defaults are torch_ecg's class defaults (SEBlock reduction 16 without bias, ...); the
// ResNet presets spell out the values of torch_ecg's model_configs.attn configs. Every
// softmax attention (non-local, self-attention, transformer) goes through
// models::scaled_dot_product_attention.
//
// State-dict names are torch_ecg's: se -> fc.0.lin_0, fc.0.lin_1; gc -> conv_mask,
// channel_add_conv.{0,1,3}, channel_mul_conv.{0,1,3}; nl -> mid_layers.{g,theta,phi}.conv.conv1d,
// W.conv1d, W.batch_norm; cbam -> channel_gate_mlp.lin_{0,1}, spatial_gate_conv.{conv1d,batch_norm};
// self_attention -> project (when C % heads != 0), mha.{in_proj_weight,in_proj_bias,out_proj};
// transformer -> project, encoder.layers.<i>.{self_attn,linear1,linear2,norm1,norm2}.
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/blocks/conv_bn_act.h"
#include "cardiotorch/models/blocks/sequence.h"

namespace cardiotorch::models {

// --- squeeze-and-excitation -----------------------------------------------------------------

struct SEOptions {
  int64_t reduction = 16;
  std::string activation = "relu";
  bool bias = false;
  double dropouts = 0.0;
  template <class V>
  void fields(V& v) {
    v("reduction", reduction, "mid channels = in_channels / reduction");
    v("activation", activation, "activation between the two linear layers");
    v("bias", bias, "linear layers with bias");
    v("dropouts", dropouts, "dropout after the first linear layer");
  }
  void validate() const;
};

/// Channel gate: sigmoid(MLP(mean over time)) * x.
class SEBlockImpl : public BlockImpl {
 public:
  SEBlockImpl(int64_t in_channels, const SEOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;

 private:
  int64_t channels_;
  torch::nn::Sequential fc_{nullptr};
};

// --- global context -------------------------------------------------------------------------

struct GCOptions {
  int64_t ratio = 4;
  bool reduction = true;
  std::string pooling_type = "attn";
  std::vector<std::string> fusion_types{"add"};
  template <class V>
  void fields(V& v) {
    v("ratio", ratio, "mid channels = in_channels / ratio (or * ratio without reduction)");
    v("reduction", reduction, "divide (true) or multiply (false) the channels by ratio");
    v("pooling_type", pooling_type, "context pooling: attn (learned softmax over time) | avg");
    v("fusion_types", fusion_types, "how the context joins the input: add and/or mul");
  }
  void validate() const;
};

/// GCNet: context = softmax-weighted (or mean) pooling over time, transformed by
/// conv-LayerNorm-ReLU-conv, then added to and/or multiplied (sigmoid) with the input.
class GlobalContextBlockImpl : public BlockImpl {
 public:
  GlobalContextBlockImpl(int64_t in_channels, const GCOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;

 private:
  int64_t channels_;
  GCOptions options_;
  torch::nn::Conv1d conv_mask_{nullptr};
  torch::nn::Sequential add_{nullptr}, mul_{nullptr};
};

// --- non-local ------------------------------------------------------------------------------

struct NLKernelOptions {
  int64_t g = 1, theta = 1, phi = 1, W = 1;
  template <class V>
  void fields(V& v) {
    v("g", g, "kernel of the value convolution");
    v("theta", theta, "kernel of the query convolution");
    v("phi", phi, "kernel of the key convolution");
    v("W", W, "kernel of the output convolution");
  }
};

struct NLOptions {
  int64_t mid_channels = 0;
  NLKernelOptions filter_lengths;
  int64_t subsample_length = 2;
  bool batch_norm = false;
  template <class V>
  void fields(V& v) {
    v("mid_channels", mid_channels, "channels of g, theta, phi; 0 = in_channels / 2");
    v("filter_lengths", filter_lengths, "kernel sizes of the four convolutions");
    v("subsample_length", subsample_length, "max-pool size of g and phi (keys and values)");
    v("batch_norm", batch_norm, "BatchNorm1d after the output convolution W");
  }
  void validate() const;
};

/// Non-local block: x + W(softmax(theta(x)ᵀ phi(x)) g(x)) with keys and values max-pooled in
/// time (unscaled dot products, as in the paper and torch_ecg).
class NonLocalBlockImpl : public BlockImpl {
 public:
  NonLocalBlockImpl(int64_t in_channels, const NLOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;

 private:
  int64_t channels_, mid_;
  NLOptions options_;
  torch::nn::Sequential g_{nullptr}, theta_{nullptr}, phi_{nullptr};
  ConvBnActivation W_;
};

// --- CBAM -----------------------------------------------------------------------------------

struct CBAMOptions {
  int64_t reduction = 16;
  std::string activation = "relu";
  std::string gate = "sigmoid";
  std::vector<std::string> pool_types{"avg", "max"};
  bool no_spatial = false;
  double lp_norm_type = 2.0;
  int64_t spatial_conv_kernel_size = 7;
  std::string spatial_conv_bn = "batch_norm";
  template <class V>
  void fields(V& v) {
    v("reduction", reduction, "channel gate mid channels = in_channels / reduction");
    v("activation", activation, "activation inside the channel gate MLP");
    v("gate", gate, "activation turning the channel logits into a gate");
    v("pool_types", pool_types, "channel descriptors summed by the gate: avg, max, lp, lse");
    v("no_spatial", no_spatial, "skip the spatial gate");
    v("lp_norm_type", lp_norm_type, "power of the lp pooling");
    v("spatial_conv_kernel_size", spatial_conv_kernel_size, "kernel of the spatial gate convolution");
    v("spatial_conv_bn", spatial_conv_bn, "normalisation of the spatial gate convolution");
  }
  void validate() const;
};

/// Channel gate (shared MLP over pooled descriptors) then spatial gate (a conv over the
/// channel max and mean).
class CBAMBlockImpl : public BlockImpl {
 public:
  CBAMBlockImpl(int64_t in_channels, const CBAMOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;

 private:
  int64_t channels_;
  CBAMOptions options_;
  MLP mlp_;
  Activation gate_;
  ConvBnActivation spatial_;
};

// --- multi-head attention, self-attention, transformer -------------------------------------

/// torch.nn.MultiheadAttention's parameters (in_proj_weight (3E, E), in_proj_bias (3E),
/// out_proj) on batch-first inputs (B, N, E); the attention itself is
/// models::scaled_dot_product_attention.
class MultiheadAttentionImpl : public torch::nn::Module {
 public:
  MultiheadAttentionImpl(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true);
  /// Self-attention of x (B, N, E); `weights` (B, heads, N, N) when not null.
  at::Tensor forward(const at::Tensor& x, at::Tensor* weights = nullptr);
  int64_t embed_dim() const { return embed_dim_; }

 private:
  int64_t embed_dim_, num_heads_;
  double dropout_;
  at::Tensor in_proj_weight_, in_proj_bias_;
  torch::nn::Linear out_proj_{nullptr};
};

struct SelfAttentionOptions {
  int64_t num_heads = 8;
  double dropout = 0.0;
  bool bias = true;
  template <class V>
  void fields(V& v) {
    v("num_heads", num_heads, "attention heads (torch_ecg's head_num)");
    v("dropout", dropout, "dropout on the attention weights (training)");
    v("bias", bias, "projections with bias");
  }
  void validate() const;
};

/// Multi-head self-attention over time. When C is not a multiple of num_heads a linear layer
/// (project) first maps C to the largest multiple E (torch_ecg warns; we do it silently and
/// output_shape says E).
class SelfAttentionImpl : public BlockImpl {
 public:
  SelfAttentionImpl(int64_t in_channels, const SelfAttentionOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  /// Attention weights (B, heads, L, L) of the last forward is not kept; this computes them.
  at::Tensor attention_weights(const at::Tensor& x);

 private:
  int64_t channels_, embed_;
  torch::nn::Linear project_{nullptr};
  std::shared_ptr<MultiheadAttentionImpl> mha_;
};

struct TransformerOptions {
  int64_t hidden_size = 1024;
  int64_t num_heads = 8;
  int64_t num_layers = 1;
  double dropout = 0.1;
  std::string activation = "relu";
  template <class V>
  void fields(V& v) {
    v("hidden_size", hidden_size, "width of the feed-forward layer (dim_feedforward)");
    v("num_heads", num_heads, "attention heads");
    v("num_layers", num_layers, "encoder layers");
    v("dropout", dropout, "dropout of attention weights, feed-forward and residuals (training)");
    v("activation", activation, "feed-forward activation: relu | gelu");
  }
  void validate() const;
};

/// One post-norm encoder layer (torch.nn.TransformerEncoderLayer): self_attn, linear1,
/// linear2, norm1, norm2 on (B, N, E).
class TransformerEncoderLayerImpl : public torch::nn::Module {
 public:
  TransformerEncoderLayerImpl(int64_t d_model, const TransformerOptions& options);
  at::Tensor forward(const at::Tensor& x, at::Tensor* weights = nullptr);

 private:
  double dropout_;
  bool gelu_;
  std::shared_ptr<MultiheadAttentionImpl> self_attn_;
  torch::nn::Linear linear1_{nullptr}, linear2_{nullptr};
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
};

/// torch_ecg's Transformer over time: optional projection to a multiple of num_heads, then
/// num_layers encoder layers.
class TransformerImpl : public BlockImpl {
 public:
  TransformerImpl(int64_t in_channels, const TransformerOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  /// Attention weights of each layer, (B, heads, L, L).
  std::vector<at::Tensor> attention_maps(const at::Tensor& x);

 private:
  int64_t channels_, embed_;
  torch::nn::Linear project_{nullptr};
  std::vector<std::shared_ptr<TransformerEncoderLayerImpl>> layers_;
};

}  // namespace cardiotorch::models
