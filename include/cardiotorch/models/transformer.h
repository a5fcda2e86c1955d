#pragma once
// Transformer building blocks with timm's parameter names, shared by the ViT ECG encoder, the
// MAE decoder and later token models.
//
//   PatchEmbed      patch_embed.proj.{weight [D, C, ph, pw], bias}  (timm's Conv2d patchifier)
//   SelfAttention   attn.qkv, attn.proj                              (timm's Attention)
//   Mlp             mlp.fc1, mlp.fc2 (exact GELU)                    (timm's Mlp)
//   TransformerBlock norm1, attn, norm2, mlp; pre-norm, stochastic depth (timm's Block)
//   AttentionPool   in_proj_weight, in_proj_bias, out_proj           (torch.nn.MultiheadAttention)
//
// Every attention goes through models::scaled_dot_product_attention (attention.h), which hands
// back the softmax weights when asked (saliency, rollout).
//
// Token masking follows the MAE semantics (per-sample argsort of uniform noise, keep the first
// int(L * (1 - ratio)) tokens); the noise is always passed in, so callers decide where randomness
// comes from (a seeded generator, or a fixed tensor for parity tests).
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace cardiotorch::models {

// ---------------------------------------------------------------------------- layers

struct MlpOptions {
  int64_t in_features = 0;
  int64_t hidden_features = 0;  ///< 0 = in_features
  int64_t out_features = 0;     ///< 0 = in_features
  double drop = 0.0;            ///< dropout after the activation and after fc2 (training only)
};

/// fc1 -> GELU (exact) -> dropout -> fc2 -> dropout.
class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const MlpOptions& options);
  at::Tensor forward(const at::Tensor& x);

  MlpOptions options;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Mlp);

struct SelfAttentionOptions {
  int64_t dim = 0;
  int64_t num_heads = 1;
  bool qkv_bias = true;
  double attn_drop = 0.0;  ///< dropout on the attention weights (training only)
  double proj_drop = 0.0;  ///< dropout after the output projection (training only)
};

/// Multi-head self-attention: qkv is one Linear(D, 3D) whose rows are q | k | v, each split
/// into heads of D / num_heads.
class SelfAttentionImpl : public torch::nn::Module {
 public:
  explicit SelfAttentionImpl(const SelfAttentionOptions& options);
  /// x: (B, N, D). `weights`, when given, receives the softmax weights (B, heads, N, N).
  at::Tensor forward(const at::Tensor& x, at::Tensor* weights = nullptr);

  SelfAttentionOptions options;
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
};
TORCH_MODULE(SelfAttention);

struct TransformerBlockOptions {
  int64_t dim = 0;
  int64_t num_heads = 1;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  double drop = 0.0;       ///< projection / MLP dropout
  double attn_drop = 0.0;  ///< attention-weight dropout
  double drop_path = 0.0;  ///< stochastic depth: probability of dropping each residual branch per sample
  double norm_eps = 1e-6;
};

/// Pre-norm block: x + drop_path(attn(norm1(x))), then x + drop_path(mlp(norm2(x))).
class TransformerBlockImpl : public torch::nn::Module {
 public:
  explicit TransformerBlockImpl(const TransformerBlockOptions& options);
  at::Tensor forward(const at::Tensor& x, at::Tensor* attention_weights = nullptr);

  TransformerBlockOptions options;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  SelfAttention attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(TransformerBlock);

struct PatchEmbedOptions {
  int64_t in_chans = 1;
  int64_t embed_dim = 0;
  int64_t patch_h = 1;    ///< patch height (leads)
  int64_t patch_w = 100;  ///< patch width (samples)
};

/// Non-overlapping (patch_h, patch_w) patches of a (B, C, H, W) input, each projected to D, in
/// row-major order: (B, (H/ph)·(W/pw), D). Stored as timm's Conv2d (`proj`), computed as one
/// matmul over a view of the input (no im2col copy when C = ph = 1).
class PatchEmbedImpl : public torch::nn::Module {
 public:
  explicit PatchEmbedImpl(const PatchEmbedOptions& options);
  at::Tensor forward(const at::Tensor& x);

  PatchEmbedOptions options;
  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

struct AttentionPoolOptions {
  int64_t dim = 0;
  int64_t num_heads = 1;
};

/// torch.nn.MultiheadAttention(dim, heads, batch_first=True) without dropout, with its parameter
/// names (in_proj_weight [3D, D] as q | k | v, in_proj_bias, out_proj), so checkpoints of the
/// oetu/dl-framework attention pooling load unchanged.
class AttentionPoolImpl : public torch::nn::Module {
 public:
  explicit AttentionPoolImpl(const AttentionPoolOptions& options);
  /// query (B, Lq, D), tokens (B, N, D) as keys and values -> (B, Lq, D). `weights` receives
  /// the per-head softmax weights (B, heads, Lq, N).
  at::Tensor forward(const at::Tensor& query, const at::Tensor& tokens, at::Tensor* weights = nullptr);

  AttentionPoolOptions options;
  at::Tensor in_proj_weight, in_proj_bias;
  torch::nn::Linear out_proj{nullptr};
};
TORCH_MODULE(AttentionPool);

// ---------------------------------------------------------------------------- helpers

/// Fixed 2-D sin-cos positional embedding of the MAE (util/pos_embed.py), (1, [1 +] H·W, dim)
/// float32, tokens row-major over (H, W): the first dim/2 channels encode the column (time
/// patch) index, the second dim/2 the row (lead) index, each as [sin(p·ω_k), cos(p·ω_k)] with
/// ω_k = 10000^(−k/(dim/4)). Computed in double, as numpy does at the seed's commit. The cls row
/// (when `cls_token`) is zeros. dim must be a multiple of 4.
at::Tensor sincos_pos_embed_2d(int64_t dim, int64_t grid_h, int64_t grid_w, bool cls_token);

/// Stochastic depth (timm's drop_path): zeroes whole samples of `x` with probability p and
/// scales the rest by 1/(1 − p); identity when p == 0 or not training.
at::Tensor drop_path(const at::Tensor& x, double p, bool training);

/// Fills `t` in place from N(0, std²) truncated to [a, b] (absolute bounds, like timm's
/// trunc_normal_); uses the global generator like torch.nn.init.
void trunc_normal_(at::Tensor t, double std, double a = -2.0, double b = 2.0);

/// timm's ViT init: trunc-normal(0.02) Linear weights with zero biases, LayerNorm (1, 0),
/// over every Linear/LayerNorm under `module` (attention pools keep their own init).
void init_vit_weights(torch::nn::Module& module);
/// The MAE's init: xavier-uniform Linear weights with zero biases, LayerNorm (1, 0).
void init_mae_weights(torch::nn::Module& module);

// ---------------------------------------------------------------------------- token masking

/// Tokens kept by random masking of `n` tokens at `ratio`: int(n · (1 − ratio)) in double, as the
/// Python reference computes it (so 300 tokens at 0.8 keep 59, not 60).
int64_t masking_keep_count(int64_t n, double ratio);

struct TokenMasking {
  at::Tensor x;            ///< (B, keep, D): kept tokens in shuffle order
  at::Tensor mask;         ///< (B, L), x's dtype: 0 kept, 1 removed, in the original order
  at::Tensor ids_restore;  ///< (B, L) int64: position of each original token in the shuffle
  at::Tensor ids_keep;     ///< (B, keep) int64: original indices of the kept tokens
};

/// MAE random masking of x (B, L, D) with noise (B, L): tokens sorted by ascending noise, the
/// first masking_keep_count(L, ratio) kept.
TokenMasking random_masking(const at::Tensor& x, double ratio, const at::Tensor& noise);

/// oetu's blockwise masking of a (rows × cols) token grid x (B, rows·cols, D): keeps
/// int(rows·(1 − row_ratio)) whole rows (leads) by row_noise (B, rows), then
/// int(cols·(1 − col_ratio)) whole columns (time patches) by col_noise (B, cols); the result is
/// (B, rows'·cols', D) in shuffle order.
at::Tensor random_masking_blockwise(const at::Tensor& x, int64_t rows, int64_t cols, double row_ratio, double col_ratio,
                                    const at::Tensor& row_noise, const at::Tensor& col_noise);

/// Uniform [0, 1) noise (n, l) float32 drawn from `generator` (a CPU generator), moved to
/// `device`. Drawn on the CPU so the same seed gives the same masks on every device.
at::Tensor masking_noise(at::Generator& generator, int64_t n, int64_t l, const at::Device& device);

/// A CPU generator seeded with `seed`.
at::Generator make_cpu_generator(uint64_t seed);

}  // namespace cardiotorch::models
