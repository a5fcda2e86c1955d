#pragma once
// One attention function for every transformer in the library.
//
// scaled_dot_product_attention(q, k, v): softmax(q kᵀ / sqrt(d) + mask) v over the last two
// dims (q: (..., Lq, d), k: (..., Lk, d), v: (..., Lk, dv)). It runs LibTorch's fused kernel
// where the linked version has one (>= 2.0) and an exact composite on 1.13 (no public SDPA
// there). When the attention weights are asked for (saliency, attention rollout) the
// composite runs on every version, since the fused kernels do not return them.
#include <ATen/core/Tensor.h>

namespace cardiotorch::models {

struct AttentionOptions {
  /// Additive float mask broadcastable to (..., Lq, Lk), or a bool mask where true = keep.
  at::Tensor mask;
  double dropout = 0.0;  ///< applied to the weights only when `training`
  bool training = false;
  bool causal = false;
  double scale = 0.0;  ///< 0 = 1 / sqrt(d)
};

/// `weights`, when not null, receives the softmax weights (..., Lq, Lk) (before dropout).
at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const AttentionOptions& options = {}, at::Tensor* weights = nullptr);

/// True when this build runs a fused kernel (LibTorch >= 2.0) for calls without weights.
bool fused_attention_available();

}  // namespace cardiotorch::models
