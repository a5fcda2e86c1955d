#pragma once
// Saliency: where in its input a model's output comes from.
//
//   gradcam    Grad-CAM (Selvaraju et al., ICCV 2017) over a named layer of any CNN: the layer's
//              activation A (B, K, ...) is weighted per channel by the spatial mean of
//              d score / dA, summed over channels, ReLU'd and upsampled (linear / bilinear,
//              align_corners false) to the input.
//   attention  the last transformer block's attention to the patch tokens: from the cls token
//              (a model with prefix tokens) or averaged over all queries (without one).
//   rollout    attention rollout (Abnar & Zuidema, ACL 2020): per block the heads are fused,
//              the identity added for the residual path and rows renormalised; the blocks'
//              matrices are multiplied from the first to the last; the relevance is the cls
//              row (or the mean over queries) at the patch tokens.
//
// Grad-CAM reaches a layer through the model's capture points (models/capture.h): every CNN
// that offers its stages by name works, whatever its structure. The layer defaults to the last
// feature map offered, i.e. the last conv stage before pooling. The attention methods use the
// contract's attention_maps() and token_layout(); patch relevance is spread over the samples
// each patch covers.
//
// Maps are scaled to [0, 1] per sample (divided by their maximum; all-zero stays zero):
//   1-D input (B, C, L):  (B, L), one relevance per sample shared by the leads (Grad-CAM; token
//                         models with one row), or (B, R, L) for token models with R rows
//                         (R = C: one row per lead);
//   2-D input (B, C, H, W): (B, H, W).
//
// Methods are registry entries (`cardiotorch list saliency`); `cardiotorch saliency` draws the
// map under the ECG on grid paper.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/registry.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::models {

/// Every sample's own top class.
constexpr int64_t kTopClass = -1;

struct SaliencyResult {
  at::Tensor map;              ///< see above, float32 in [0, 1]
  at::Tensor scores;           ///< (B, K) the model's output as class scores (extra dims averaged)
  at::Tensor target;           ///< (B,) int64 class explained per sample (the top class for class-agnostic methods)
  std::string method;          ///< registry name
  std::string layer;           ///< what was explained: the Grad-CAM layer, or "attention: <n> blocks"
  bool class_specific = true;  ///< false when the map does not depend on the target (attention)
};

class SaliencyMethod {
 public:
  virtual ~SaliencyMethod() = default;
  /// Runs `model` (in eval mode, restored after) on `x` and explains class `target`
  /// (kTopClass = each sample's argmax).
  virtual SaliencyResult explain(ModelImpl& model, const at::Tensor& x, int64_t target = kTopClass) = 0;
};

using SaliencyPtr = std::shared_ptr<SaliencyMethod>;
using SaliencyRegistry = Registry<SaliencyMethod>;
SaliencyRegistry& saliency_registry();

struct GradCamOptions {
  std::string layer;  ///< capture point; "" = the last feature map the model offers

  template <class V>
  void fields(V& v) {
    v("layer", layer, "layer (capture point) to explain, e.g. layer4; empty = the last feature map");
  }
};

struct AttentionSaliencyOptions {
  std::string head_fusion = "mean";  ///< mean | max | min over heads
  template <class V>
  void fields(V& v) {
    v("head_fusion", head_fusion, "how the heads are combined: mean, max or min");
  }
  void validate() const;
};

struct RolloutOptions {
  std::string head_fusion = "mean";
  double discard_ratio = 0.0;  ///< fraction of each block's weakest fused weights set to 0 first
  template <class V>
  void fields(V& v) {
    v("head_fusion", head_fusion, "how the heads are combined: mean, max or min");
    v("discard_ratio", discard_ratio, "fraction of the weakest attention weights of each block dropped (0 = none)");
  }
  void validate() const;
};

/// Grad-CAM of `model` on `x` at capture point `layer` ("" = the last feature map).
SaliencyResult grad_cam(ModelImpl& model, const at::Tensor& x, const std::string& layer = "",
                        int64_t target = kTopClass);

/// The model's output as (B, K) class scores: dims after the second are averaged.
at::Tensor class_scores(const at::Tensor& output);
/// Per-sample targets (B,) from scores (B, K): every sample's argmax, or `target` checked
/// against K.
at::Tensor resolve_targets(const at::Tensor& scores, int64_t target);

/// Heads fused: (B, H, N, N) -> (B, N, N) by mean, max or min.
at::Tensor fuse_heads(const at::Tensor& attention, const std::string& how);
/// Attention rollout over blocks (each (B, H, N, N)): relevance of the tokens after the
/// first `prefix` ones, (B, N - prefix), unnormalised.
at::Tensor attention_rollout(const std::vector<at::Tensor>& attentions, int64_t prefix,
                             const std::string& head_fusion = "mean", double discard_ratio = 0.0);
/// The last block's attention to the patch tokens, (B, N - prefix), unnormalised.
at::Tensor last_block_attention(const std::vector<at::Tensor>& attentions, int64_t prefix,
                                const std::string& head_fusion = "mean");
/// Token relevance (B, rows * cols) spread over the samples of each patch, to length
/// `length` (zeros past the last patch): (B, length) for one row, (B, rows, length) else.
at::Tensor tokens_to_samples(const at::Tensor& relevance, const TokenLayout& layout, int64_t length);
/// Each sample's map divided by its maximum (all-zero maps stay zero).
at::Tensor normalize_per_sample(const at::Tensor& map);

}  // namespace cardiotorch::models
