#pragma once
// The masked autoencoder for ECG of Turgut et al. (oetu/mae models_mae.MaskedAutoencoderViT, with
// the NCC fix of 68851df), with its parameter names:
//
//   encoder  cls_token, pos_embed (fixed sin-cos buffer), patch_embed.proj.*, blocks.i.*, norm.*
//   decoder  decoder_embed.*, mask_token [1,1,Dd], decoder_pos_embed (fixed sin-cos buffer),
//            decoder_blocks.i.*, decoder_norm.*, decoder_pred.* (Dd -> ph·pw values per patch)
//
// The encoder names are those of the ViT encoder (vit.h), so the encoder of a MAE checkpoint
// loads into vit_patchx by name once decoder*/mask_token (and the HEAD-only projector/predictor)
// are dropped. The encoder's final `norm` is the LayerNorm: dl-framework's LitMAE shadowed it
// with a parameter-free z-score by accident (ssl_anchors.md §1.1 quirk 1); upstream and this
// library use the LayerNorm.
//
// forward_mae(): patch embedding + positions, per-sample random masking (argsort of uniform
// noise, keep int(L·(1 − ratio))), cls token, encoder blocks, norm; decoder_embed, mask tokens
// unshuffled by ids_restore, decoder positions, decoder blocks, decoder_norm, decoder_pred, cls
// dropped. Losses, with target = patchify(x) (z-scored per patch with norm_pix_loss):
//   anchor  (1 − w)·mean over ALL patches of (pred − target)² + w·(1 − NCC), w = ncc_weight
//   masked  the standard MAE loss: per-patch mean squared error averaged over masked patches
// NCC = normalized_cross_correlation(x, unpatchify(pred)), logged in both modes.
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
#include "cardiotorch/models/vit.h"

namespace cardiotorch::models {

struct MaeOptions {
  std::vector<int64_t> patch_size = {1, 100};  ///< (leads, samples) per patch; one value p = (1, p)
  int64_t embed_dim = 384;
  int64_t depth = 3;
  int64_t num_heads = 6;
  int64_t decoder_embed_dim = 256;
  int64_t decoder_depth = 2;
  int64_t decoder_num_heads = 8;
  double mlp_ratio = 4.0;
  double norm_eps = 1e-6;
  int64_t leads = 12;                ///< 0 = the build context's in_channels
  int64_t samples = 2500;            ///< 0 = the build context's seq_len
  double mask_ratio = 0.8;           ///< masking ratio of forward() in training and forward_mae(x)
  std::string loss_mode = "anchor";  ///< anchor | masked
  double ncc_weight = 0.1;           ///< anchor: weight w of (1 − NCC)
  bool norm_pix_loss = false;        ///< z-score each target patch (unbiased var, eps 1e-6)
  int64_t mask_seed = 0;             ///< seed of the masking generator (set_generator() replaces it)

  template <class V>
  void fields(V& v) {
    v("patch_size", patch_size, "patch (leads, samples); a single value p means (1, p)");
    v("embed_dim", embed_dim, "encoder token width");
    v("depth", depth, "encoder blocks");
    v("num_heads", num_heads, "encoder attention heads");
    v("decoder_embed_dim", decoder_embed_dim, "decoder token width");
    v("decoder_depth", decoder_depth, "decoder blocks");
    v("decoder_num_heads", decoder_num_heads, "decoder attention heads");
    v("mlp_ratio", mlp_ratio, "MLP hidden width / token width (encoder and decoder)");
    v("norm_eps", norm_eps, "LayerNorm epsilon");
    v("leads", leads, "input leads (0 = from the data)");
    v("samples", samples, "input samples (0 = from the data); fixed by the positional embedding");
    v("mask_ratio", mask_ratio, "fraction of patches masked in pre-training (the anchor: 0.8)");
    v("loss_mode", loss_mode, "anchor: (1-w) MSE over all patches + w (1 - NCC) | masked: MSE over masked patches");
    v("ncc_weight", ncc_weight, "anchor loss: weight w of (1 - NCC)");
    v("norm_pix_loss", norm_pix_loss, "z-score each target patch before the MSE");
    v("mask_seed", mask_seed, "seed of the masking generator");
  }
  void validate() const;

  /// The seed's MAE (mae_vit_tiny_patchX_dec256d2b): 384-d x 3 encoder, 256-d x 2 decoder with 8
  /// heads, (1, 100) patches of (12, 2500), ratio 0.8, NCC weight 0.1.
  static MaeOptions patchx();
  /// patchx() with other encoder / decoder sizes.
  static MaeOptions sized(int64_t embed_dim, int64_t depth, int64_t num_heads, int64_t decoder_embed_dim,
                          int64_t decoder_depth, int64_t decoder_num_heads);
};

struct MaeOutput {
  at::Tensor loss;         ///< scalar: the loss of loss_mode
  at::Tensor mse;          ///< scalar: mean over all patches and values of (pred − target)²
  at::Tensor masked_mse;   ///< scalar: per-patch MSE averaged over masked patches (NaN when none)
  at::Tensor ncc;          ///< scalar: NCC of the input and the full reconstruction
  at::Tensor pred;         ///< (B, L, ph·pw): predicted patches, original order
  at::Tensor mask;         ///< (B, L): 1 = masked, 0 = visible
  at::Tensor ids_restore;  ///< (B, L) int64: the unshuffle index
};

/// Zero-normalised cross-correlation of x and y over the last dim (z-scores with unbiased
/// variance + 1e-12, Σ ẑx·ẑy / (T − 1)), averaged over every other position: the MAE's NCC
/// metric (engine_pretrain.ncc). 1 when y is a positive multiple of x.
at::Tensor normalized_cross_correlation(const at::Tensor& x, const at::Tensor& y);

class MaskedAutoencoderViTImpl : public ModelImpl {
 public:
  explicit MaskedAutoencoderViTImpl(MaeOptions options, const ModelContext& context = unconstrained_context());

  /// The reconstruction (B, L, ph·pw): at mask_ratio from the generator in training mode, from
  /// all tokens (ratio 0, deterministic) in eval mode.
  at::Tensor forward(const at::Tensor& x) override;
  /// Encoder output of all tokens after `norm`, (B, 1+L, D), cls first.
  at::Tensor forward_features(const at::Tensor& x) override;
  /// Patch tokens of forward_features(), (B, L, D).
  at::Tensor forward_localized(const at::Tensor& x) override;
  /// Mean of the patch tokens of forward_features(), (B, D).
  at::Tensor embed(const at::Tensor& x) override;
  /// Encoder blocks' softmax weights over all tokens, each (B, heads, 1+L, 1+L).
  std::vector<at::Tensor> attention_maps(const at::Tensor& x) override;
  TokenLayout token_layout() const override;
  /// oetu/mae HEAD checkpoints also hold the SimSiam projector*/predictor*: expected, unused.
  /// (Loading an encoder-only checkpoint leaves the decoder missing: pass skip: ['decoder*',
  /// 'mask_token'], as the seed's LitMAE did.)
  weights::MatchRules weight_rules() const override;

  Shape output_shape(const Shape& input) const override;
  Shape features_shape(const Shape& input) const override;
  Shape input_shape() const override;
  int64_t embed_dim() const override { return options_.embed_dim; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;

  /// One pre-training forward: masking at `mask_ratio` with `noise` (B, L) when given, else noise
  /// from the generator (none is drawn at ratio 0 without noise: all tokens, original order).
  MaeOutput forward_mae(const at::Tensor& x, double mask_ratio, const at::Tensor& noise = {});
  /// forward_mae at the configured mask_ratio.
  MaeOutput forward_mae(const at::Tensor& x) { return forward_mae(x, options_.mask_ratio); }

  struct Encoded {
    at::Tensor latent;       ///< (B, 1+keep, D) after norm
    at::Tensor mask;         ///< (B, L)
    at::Tensor ids_restore;  ///< (B, L)
  };
  Encoded encode(const at::Tensor& x, double mask_ratio, const at::Tensor& noise,
                 std::vector<at::Tensor>* attention = nullptr);
  /// Decoder over encoded tokens -> (B, L, ph·pw).
  at::Tensor decode(const at::Tensor& latent, const at::Tensor& ids_restore);
  /// Loss terms of a prediction (fills loss, mse, masked_mse, ncc).
  MaeOutput losses(const at::Tensor& x, const at::Tensor& pred, const at::Tensor& mask);
  /// (B, 1, H, W) or (B, H, W) -> (B, L, ph·pw), patches lead-major, values (ph, pw) row-major.
  at::Tensor patchify(const at::Tensor& x) const;
  /// (B, L, ph·pw) -> (B, 1, H, W).
  at::Tensor unpatchify(const at::Tensor& patches) const;

  void set_generator(at::Generator generator) { generator_ = std::move(generator); }
  at::Generator& generator() { return generator_; }
  const MaeOptions& options() const { return options_; }
  const VitGeometry& geometry() const { return geometry_; }
  at::Tensor as_image(const at::Tensor& x) const;

  PatchEmbed patch_embed{nullptr};
  at::Tensor cls_token, pos_embed;
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear decoder_embed{nullptr};
  at::Tensor mask_token, decoder_pos_embed;
  torch::nn::ModuleList decoder_blocks{nullptr};
  torch::nn::LayerNorm decoder_norm{nullptr};
  torch::nn::Linear decoder_pred{nullptr};

 private:
  int64_t batch_of(const Shape& input) const;
  std::string who() const;

  MaeOptions options_;
  VitGeometry geometry_;
  std::vector<TransformerBlock> encoder_blocks_, decoder_blocks_;
  at::Generator generator_;
};
TORCH_MODULE(MaskedAutoencoderViT);

std::shared_ptr<MaskedAutoencoderViTImpl> make_mae(const MaeOptions& options, const ModelContext& context);

}  // namespace cardiotorch::models
