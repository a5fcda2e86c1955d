#include "cardiotorch/models/attention.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"

namespace cardiotorch::models {

bool fused_attention_available() { return CT_TORCH_AT_LEAST(2, 1); }

at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const AttentionOptions& o, at::Tensor* weights) {
  CT_CHECK(q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim(), ShapeError,
           "attention: q, k, v must have the same number of dims (>= 2), got ", q.dim(), ", ", k.dim(), ", ", v.dim());
  CT_CHECK(q.size(-1) == k.size(-1) && k.size(-2) == v.size(-2), ShapeError,
           "attention: q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv) expected, got q ", q.sizes(), " k ", k.sizes(),
           " v ", v.sizes());
  const double scale = o.scale > 0 ? o.scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const double p = o.training ? o.dropout : 0.0;
#if CT_TORCH_AT_LEAST(2, 1)
  if (weights == nullptr) {
    return at::scaled_dot_product_attention(
        q, k, v, o.mask.defined() ? c10::optional<at::Tensor>(o.mask) : c10::nullopt, p, o.causal, scale);
  }
#endif
  // Composite path, in timm's order (scale q, then q kᵀ) so parity with PyTorch eager is tight.
  at::Tensor attn = at::matmul(q * scale, k.transpose(-2, -1));
  if (o.causal) {
    const at::Tensor keep = at::ones({q.size(-2), k.size(-2)}, q.options().dtype(at::kBool)).tril();
    attn = attn.masked_fill(keep.logical_not(), -std::numeric_limits<float>::infinity());
  }
  if (o.mask.defined()) {
    if (o.mask.scalar_type() == at::kBool)
      attn = attn.masked_fill(o.mask.logical_not(), -std::numeric_limits<float>::infinity());
    else attn = attn + o.mask;
  }
  attn = attn.softmax(-1);
  if (weights != nullptr) *weights = attn;
  if (p > 0) attn = at::dropout(attn, p, /*train=*/true);
  return at::matmul(attn, v);
}

}  // namespace cardiotorch::models
