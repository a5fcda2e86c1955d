#pragma once
// The ViT ECG encoder of Turgut et al. (oetu/mae models_vit on the forked timm 0.6.8), as used by
// the seed's ECGEncoder / ECGClassifier (dl-framework), with timm's parameter names:
//
//   cls_token [1,1,D]  pos_embed [1,1+N,D]  patch_embed.proj.{weight [D,1,ph,pw], bias}
//   blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}.{weight, bias}
//   norm.*            (global_pool cls)
//   fc_norm.*         (global_pool avg and attention_pool)
//   attention_pool.{in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias}
//   head.*            (num_classes > 0)
//
// The input (B, leads, samples) — or timm's (B, 1, leads, samples) — is cut into (ph, pw)
// patches, lead-major (token = lead_row · cols + time_col): the seed's vit_patchX takes
// (12, 2500) in (1, 100) patches = 12 × 25 = 300 tokens of 384 dims. A cls token is prepended;
// the positional embedding is the MAE's fixed 2-D sin-cos table (time in the first half of the
// dims, lead in the second).
//
// Pooling (`global_pool`): `cls` = cls token after `norm`; `avg` = mean of the patch tokens ->
// `fc_norm`; `attention_pool` = MultiheadAttention with q = mean of the patch tokens and k = v =
// the patch tokens -> `fc_norm`. forward_features() and embed() give the pooled (B, D) vector,
// forward_localized() the patch tokens after the blocks (B, N, D), forward() the head's logits
// (or the pooled vector when there is no head), attention_maps() each block's softmax weights
// (B, heads, 1+N, 1+N) with the cls token first.
//
// Registered as backbones vit_patchx and vit_{pluto,tiny,small,medium,big,base,large,huge}_patchx
// (oetu/mae models_vit sizes at the seed's commit) and as the model ecg_classifier (the
// fine-tuning defaults of ECGClassifier: a head, learnable pos_embed, stochastic depth 0.1 and
// the second fc_norm before the head that fine-tuned checkpoints were trained with).
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/models/model.h"
#include "cardiotorch/models/transformer.h"

namespace cardiotorch::models {

struct VitOptions {
  std::string global_pool = "attention_pool";  ///< cls | avg | attention_pool
  std::vector<int64_t> patch_size = {1, 100};  ///< (leads, samples) per patch; one value p = (1, p)
  int64_t embed_dim = 384;
  int64_t depth = 3;
  int64_t num_heads = 6;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  double norm_eps = 1e-6;
  double drop_rate = 0.0;       ///< dropout after the positional embedding, in attention projections and MLPs
  double attn_drop_rate = 0.0;  ///< dropout on attention weights
  double drop_path_rate = 0.0;  ///< stochastic depth, rising linearly from 0 at the first block to this at the last
  int64_t leads = 12;           ///< input leads; 0 = the build context's in_channels
  int64_t samples = 2500;       ///< input samples; 0 = the build context's seq_len
  int64_t num_classes = 0;      ///< head outputs; 0 = no head; the build context's num_classes wins when > 0
  double head_init_std = 0.01;  ///< trunc-normal std of the head's weights (ECGClassifier)
  bool pos_embed_trainable = false;  ///< false: fixed sin-cos buffer; true: a parameter initialised to it
  bool fc_norm_twice = false;        ///< apply fc_norm again before the head (the oetu/timm fine-tuning quirk)
  bool load_head = false;            ///< checkpoints load `head.*` too (false: the head keeps its init, as ECGEncoder)
  // Token masking as training-time augmentation (off in eval; the reference applies it in eval too).
  double mask_ratio = 0.0;         ///< random token masking ratio
  bool masking_blockwise = false;  ///< mask whole leads and time patches instead of random tokens
  double mask_c_ratio = 0.0;       ///< blockwise: fraction of leads dropped
  double mask_t_ratio = 0.0;       ///< blockwise: fraction of time patches dropped
  int64_t mask_seed = 0;           ///< seed of the masking generator (set_generator() replaces it)

  template <class V>
  void fields(V& v) {
    v("global_pool", global_pool,
      "pooling: cls (cls token after norm) | avg (mean of patch tokens -> fc_norm) | "
      "attention_pool (multi-head attention, query = mean token -> fc_norm)");
    v("patch_size", patch_size, "patch (leads, samples); a single value p means (1, p)");
    v("embed_dim", embed_dim, "token width D");
    v("depth", depth, "transformer blocks");
    v("num_heads", num_heads, "attention heads (D must be a multiple)");
    v("mlp_ratio", mlp_ratio, "MLP hidden width / D");
    v("qkv_bias", qkv_bias, "bias in the qkv projection");
    v("norm_eps", norm_eps, "LayerNorm epsilon");
    v("drop_rate", drop_rate, "dropout after the positional embedding and in projections/MLPs");
    v("attn_drop_rate", attn_drop_rate, "dropout on the attention weights");
    v("drop_path_rate", drop_path_rate, "stochastic depth rate of the last block (linear from 0)");
    v("leads", leads, "input leads (0 = from the data)");
    v("samples", samples, "input samples (0 = from the data); fixed by the positional embedding");
    v("num_classes", num_classes, "head outputs (0 = no head; the data's class count wins when known)");
    v("head_init_std", head_init_std, "trunc-normal std of the head weights");
    v("pos_embed_trainable", pos_embed_trainable, "learn the positional embedding (initialised to sin-cos)");
    v("fc_norm_twice", fc_norm_twice, "apply fc_norm a second time before the head, as oetu/timm fine-tuning did");
    v("load_head", load_head, "load head.* from checkpoints (false: a new head keeps its init)");
    v("mask_ratio", mask_ratio, "training-time random token masking ratio");
    v("masking_blockwise", masking_blockwise, "training-time masking of whole leads / time patches instead");
    v("mask_c_ratio", mask_c_ratio, "blockwise masking: fraction of leads dropped");
    v("mask_t_ratio", mask_t_ratio, "blockwise masking: fraction of time patches dropped");
    v("mask_seed", mask_seed, "seed of the masking generator");
  }
  void validate() const;

  /// The seed's vit_patchX (= oetu's vit_tiny_patchX): D 384, 3 blocks, 6 heads, (1, 100) patches
  /// of (12, 2500), attention pooling.
  static VitOptions patchx();
  /// vit_patchx with another width / depth / head count (the oetu/mae size presets).
  static VitOptions sized(int64_t embed_dim, int64_t depth, int64_t num_heads);
  /// ECGClassifier's fine-tuning defaults over patchx(): learnable pos_embed, drop_path 0.1,
  /// fc_norm twice, head loaded from checkpoints.
  static VitOptions ecg_classifier();
};

/// Input geometry of a ViT: (leads, samples) and the token grid.
struct VitGeometry {
  int64_t leads = 0, samples = 0;
  int64_t patch_h = 1, patch_w = 1;
  int64_t rows() const { return leads / patch_h; }
  int64_t cols() const { return samples / patch_w; }
  int64_t num_patches() const { return rows() * cols(); }
};

/// Resolves leads / samples from the options (0 = the context's) and checks them against the
/// build context: a (B, 1, H, W) context (image_size set) gives H leads and W samples; explicit
/// values that disagree with the context, or an unknown length, are ConfigErrors naming `who`.
VitGeometry resolve_vit_geometry(int64_t leads, int64_t samples, const std::vector<int64_t>& patch_size,
                                 const ModelContext& context, const std::string& who);

/// A build context that constrains nothing (leads and length unknown, no class count): for
/// building from options alone, which must then give leads and samples.
ModelContext unconstrained_context();

/// Noise for the masking augmentation (parity tests, reproducible augmentation).
struct MaskNoise {
  at::Tensor tokens;  ///< (B, N): random masking
  at::Tensor leads;   ///< (B, rows): blockwise masking, leads
  at::Tensor times;   ///< (B, cols): blockwise masking, time patches
};

class VisionTransformerImpl : public ModelImpl {
 public:
  explicit VisionTransformerImpl(VitOptions options, const ModelContext& context = unconstrained_context());

  /// Head logits (B, num_classes), or the pooled features (B, D) without a head.
  at::Tensor forward(const at::Tensor& x) override;
  /// Pooled features (B, D): the seed's ECGEncoder.forward_features.
  at::Tensor forward_features(const at::Tensor& x) override;
  /// Patch tokens after the blocks, (B, N, D) without the cls token (before any norm).
  at::Tensor forward_localized(const at::Tensor& x) override;
  /// The pooled features (B, D).
  at::Tensor embed(const at::Tensor& x) override;
  /// Softmax weights of every block, each (B, heads, 1+N, 1+N) (cls first).
  std::vector<at::Tensor> attention_maps(const at::Tensor& x) override;
  /// {rows, cols, patch_w, 1}: the (lead, time) grid; attention maps carry the cls token first.
  TokenLayout token_layout() const override;
  /// Checkpoint keys of MAE pre-training (decoder*, mask_token, HEAD's projector*/predictor*)
  /// are expected and left unused; `head.*` is not loaded unless load_head.
  weights::MatchRules weight_rules() const override;

  Shape output_shape(const Shape& input) const override;
  Shape features_shape(const Shape& input) const override;
  Shape input_shape() const override;
  int64_t embed_dim() const override { return options_.embed_dim; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;

  /// Patch embedding, positional embedding, masking augmentation (in training mode, or with
  /// `noise`), cls token and blocks: (B, 1+N', D), before any norm. `attention`, when given,
  /// receives each block's softmax weights.
  at::Tensor forward_tokens(const at::Tensor& x, const MaskNoise* noise = nullptr,
                            std::vector<at::Tensor>* attention = nullptr);
  /// The pooled features of tokens from forward_tokens().
  at::Tensor pool(const at::Tensor& tokens, at::Tensor* pool_weights = nullptr);
  /// Head over pooled features (fc_norm a second time first when fc_norm_twice); identity without a head.
  at::Tensor head_forward(const at::Tensor& pooled);
  /// forward_features() with the configured masking applied with `noise`, in any mode.
  at::Tensor forward_features_masked(const at::Tensor& x, const MaskNoise& noise);

  /// The generator of the masking augmentation (CPU; seeded by mask_seed until replaced).
  void set_generator(at::Generator generator) { generator_ = std::move(generator); }
  at::Generator& generator() { return generator_; }

  const VitOptions& options() const { return options_; }
  const VitGeometry& geometry() const { return geometry_; }
  int64_t num_classes() const { return num_classes_; }
  /// (B, 1, leads, samples) view of a (B, leads, samples) or (B, 1, leads, samples) input;
  /// ShapeError naming the model otherwise.
  at::Tensor as_image(const at::Tensor& x) const;

  PatchEmbed patch_embed{nullptr};
  at::Tensor cls_token, pos_embed;
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr}, fc_norm{nullptr};
  AttentionPool attention_pool{nullptr};
  torch::nn::Linear head{nullptr};

 private:
  bool masking_active() const;
  Shape batch_of(const Shape& input) const;

  VitOptions options_;
  VitGeometry geometry_;
  int64_t num_classes_ = 0;
  std::vector<TransformerBlock> block_list_;
  at::Generator generator_;
};
TORCH_MODULE(VisionTransformer);

/// Builds a ViT from options and a build context (the registries' factory).
std::shared_ptr<VisionTransformerImpl> make_vit(const VitOptions& options, const ModelContext& context);

}  // namespace cardiotorch::models
