#include "cardiotorch/models/transformer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/init.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cardiotorch/core/error.h"
#include "cardiotorch/models/attention.h"

namespace cardiotorch::models {

// ---------------------------------------------------------------------------- Mlp

MlpImpl::MlpImpl(const MlpOptions& o) : options(o) {
  CT_CHECK(o.in_features > 0, ConfigError, "mlp: in_features must be > 0, got ", o.in_features);
  const int64_t hidden = o.hidden_features > 0 ? o.hidden_features : o.in_features;
  const int64_t out = o.out_features > 0 ? o.out_features : o.in_features;
  fc1 = register_module("fc1", torch::nn::Linear(o.in_features, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, out));
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  at::Tensor h = at::gelu(fc1->forward(x));
  if (options.drop > 0) h = at::dropout(h, options.drop, is_training());
  h = fc2->forward(h);
  if (options.drop > 0) h = at::dropout(h, options.drop, is_training());
  return h;
}

// ---------------------------------------------------------------------------- SelfAttention

SelfAttentionImpl::SelfAttentionImpl(const SelfAttentionOptions& o) : options(o) {
  CT_CHECK(o.dim > 0 && o.num_heads > 0 && o.dim % o.num_heads == 0, ConfigError, "attention: dim (", o.dim,
           ") must be a positive multiple of num_heads (", o.num_heads, ")");
  qkv = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(o.dim, 3 * o.dim).bias(o.qkv_bias)));
  proj = register_module("proj", torch::nn::Linear(o.dim, o.dim));
}

at::Tensor SelfAttentionImpl::forward(const at::Tensor& x, at::Tensor* weights) {
  const int64_t B = x.size(0), N = x.size(1), D = x.size(2), H = options.num_heads;
  // (B, N, 3, H, hd) -> (3, B, H, N, hd): q, k, v are views, no copy. unbind rather than three
  // selects: its backward stacks the three gradients once instead of zero-filling a full-size
  // buffer per select (measured: 0.4 s of a 9 s MAE step at batch 32).
  const std::vector<at::Tensor> qkv_t = qkv->forward(x).view({B, N, 3, H, D / H}).permute({2, 0, 3, 1, 4}).unbind(0);
  AttentionOptions ao;
  ao.dropout = options.attn_drop;
  ao.training = is_training();
  const at::Tensor out = scaled_dot_product_attention(qkv_t[0], qkv_t[1], qkv_t[2], ao, weights);
  at::Tensor y = proj->forward(out.transpose(1, 2).reshape({B, N, D}));
  if (options.proj_drop > 0) y = at::dropout(y, options.proj_drop, is_training());
  return y;
}

// ---------------------------------------------------------------------------- TransformerBlock

TransformerBlockImpl::TransformerBlockImpl(const TransformerBlockOptions& o) : options(o) {
  const auto ln = torch::nn::LayerNormOptions({o.dim}).eps(o.norm_eps);
  norm1 = register_module("norm1", torch::nn::LayerNorm(ln));
  SelfAttentionOptions ao;
  ao.dim = o.dim;
  ao.num_heads = o.num_heads;
  ao.qkv_bias = o.qkv_bias;
  ao.attn_drop = o.attn_drop;
  ao.proj_drop = o.drop;
  attn = register_module("attn", SelfAttention(ao));
  norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
  MlpOptions mo;
  mo.in_features = o.dim;
  mo.hidden_features = static_cast<int64_t>(static_cast<double>(o.dim) * o.mlp_ratio);  // int(dim * ratio)
  mo.drop = o.drop;
  mlp = register_module("mlp", Mlp(mo));
}

at::Tensor TransformerBlockImpl::forward(const at::Tensor& x, at::Tensor* attention_weights) {
  const bool train = is_training();
  at::Tensor y = x + drop_path(attn->forward(norm1->forward(x), attention_weights), options.drop_path, train);
  return y + drop_path(mlp->forward(norm2->forward(y)), options.drop_path, train);
}

// ---------------------------------------------------------------------------- PatchEmbed

PatchEmbedImpl::PatchEmbedImpl(const PatchEmbedOptions& o) : options(o) {
  CT_CHECK(o.in_chans > 0 && o.embed_dim > 0 && o.patch_h > 0 && o.patch_w > 0, ConfigError,
           "patch embedding: in_chans, embed_dim and the patch size must be > 0");
  proj = register_module(
      "proj",
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(o.in_chans, o.embed_dim, {o.patch_h, o.patch_w}).stride({o.patch_h, o.patch_w})));
}

at::Tensor PatchEmbedImpl::forward(const at::Tensor& x) {
  CT_CHECK(x.dim() == 4 && x.size(1) == options.in_chans && x.size(2) % options.patch_h == 0 &&
               x.size(3) % options.patch_w == 0,
           ShapeError, "patch embedding: expected (B, ", options.in_chans, ", H, W) with H a multiple of ",
           options.patch_h, " and W of ", options.patch_w, ", got ", x.sizes());
  const int64_t B = x.size(0), C = options.in_chans, ph = options.patch_h, pw = options.patch_w;
  const int64_t gh = x.size(2) / ph, gw = x.size(3) / pw;
  // A stride = kernel convolution is a Linear over flattened (C, ph, pw) patches. With C = ph = 1
  // the patches are a view of the (contiguous) input: no im2col, one GEMM.
  at::Tensor patches;
  if (C == 1 && ph == 1) patches = x.reshape({B, gh * gw, pw});
  else patches = x.reshape({B, C, gh, ph, gw, pw}).permute({0, 2, 4, 1, 3, 5}).reshape({B, gh * gw, C * ph * pw});
  const at::Tensor& w = proj->weight;
  return at::linear(patches, w.reshape({w.size(0), -1}), proj->bias);
}

// ---------------------------------------------------------------------------- AttentionPool

AttentionPoolImpl::AttentionPoolImpl(const AttentionPoolOptions& o) : options(o) {
  CT_CHECK(o.dim > 0 && o.num_heads > 0 && o.dim % o.num_heads == 0, ConfigError, "attention pool: dim (", o.dim,
           ") must be a positive multiple of num_heads (", o.num_heads, ")");
  // torch.nn.MultiheadAttention's init: xavier-uniform in_proj, zero biases.
  in_proj_weight = register_parameter("in_proj_weight", at::empty({3 * o.dim, o.dim}));
  in_proj_bias = register_parameter("in_proj_bias", at::zeros({3 * o.dim}));
  out_proj = register_module("out_proj", torch::nn::Linear(o.dim, o.dim));
  at::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(in_proj_weight);
  out_proj->bias.zero_();
}

at::Tensor AttentionPoolImpl::forward(const at::Tensor& query, const at::Tensor& tokens, at::Tensor* weights) {
  const int64_t B = tokens.size(0), N = tokens.size(1), D = options.dim, H = options.num_heads, Lq = query.size(1);
  CT_CHECK(query.size(2) == D && tokens.size(2) == D, ShapeError, "attention pool: expected width ", D, ", got query ",
           query.sizes(), " tokens ", tokens.sizes());
  const at::Tensor q = at::linear(query, in_proj_weight.narrow(0, 0, D), in_proj_bias.narrow(0, 0, D));
  // k and v in one GEMM over the tokens.
  const at::Tensor kv = at::linear(tokens, in_proj_weight.narrow(0, D, 2 * D), in_proj_bias.narrow(0, D, 2 * D))
                            .view({B, N, 2, H, D / H});
  const at::Tensor qh = q.view({B, Lq, H, D / H}).transpose(1, 2);
  const std::vector<at::Tensor> k_v = kv.unbind(2);
  const at::Tensor kh = k_v[0].transpose(1, 2);
  const at::Tensor vh = k_v[1].transpose(1, 2);
  const at::Tensor out = scaled_dot_product_attention(qh, kh, vh, AttentionOptions{}, weights);
  return out_proj->forward(out.transpose(1, 2).reshape({B, Lq, D}));
}

// ---------------------------------------------------------------------------- helpers

at::Tensor sincos_pos_embed_2d(int64_t dim, int64_t grid_h, int64_t grid_w, bool cls_token) {
  CT_CHECK(dim > 0 && dim % 4 == 0, ConfigError,
           "a 2-D sin-cos positional embedding needs a width divisible by 4, got ", dim);
  CT_CHECK(grid_h > 0 && grid_w > 0, ConfigError, "positional embedding grid must be non-empty, got ", grid_h, " x ",
           grid_w);
  const int64_t quarter = dim / 4, prefix = cls_token ? 1 : 0;
  std::vector<double> omega(static_cast<size_t>(quarter));
  for (int64_t k = 0; k < quarter; ++k)
    omega[static_cast<size_t>(k)] = 1.0 / std::pow(10000.0, static_cast<double>(k) / (static_cast<double>(dim) / 4.0));
  at::Tensor out = at::zeros({1, prefix + grid_h * grid_w, dim}, at::kFloat);
  auto a = out.accessor<float, 3>();
  for (int64_t h = 0; h < grid_h; ++h) {
    for (int64_t w = 0; w < grid_w; ++w) {
      const int64_t t = prefix + h * grid_w + w;
      for (int64_t k = 0; k < quarter; ++k) {
        const double ow = static_cast<double>(w) * omega[static_cast<size_t>(k)];
        const double oh = static_cast<double>(h) * omega[static_cast<size_t>(k)];
        a[0][t][k] = static_cast<float>(std::sin(ow));  // time half: sin | cos
        a[0][t][quarter + k] = static_cast<float>(std::cos(ow));
        a[0][t][2 * quarter + k] = static_cast<float>(std::sin(oh));  // lead half: sin | cos
        a[0][t][3 * quarter + k] = static_cast<float>(std::cos(oh));
      }
    }
  }
  return out;
}

at::Tensor drop_path(const at::Tensor& x, double p, bool training) {
  if (p <= 0.0 || !training) return x;
  const double keep = 1.0 - p;
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  at::Tensor r = at::empty(shape, x.options()).bernoulli_(keep);
  if (keep > 0.0) r.div_(keep);
  return x * r;
}

void trunc_normal_(at::Tensor t, double std, double a, double b) {
  // Rejection sampling: draw N(0, std²) and redraw what falls outside [a, b]. Same distribution as
  // timm's inverse-CDF sampler, and much faster than erfinv over millions of weights; with timm's
  // bounds (±2 absolute at std 0.02) a redraw almost never happens.
  CT_CHECK(std > 0 && a < b, ConfigError, "trunc_normal_: needs std > 0 and a < b, got std ", std, ", [", a, ", ", b,
           "]");
  CT_CHECK(a < 4 * std && b > -4 * std, ConfigError, "trunc_normal_: [", a, ", ", b,
           "] is too far in the tail of N(0, ", std, "^2) for rejection sampling");
  at::NoGradGuard no_grad;
  t.normal_(0.0, std);
  for (;;) {
    const at::Tensor out = (t < a).logical_or_(t > b);
    const int64_t n = out.sum().item<int64_t>();
    if (n == 0) break;
    t.masked_scatter_(out, at::empty({n}, t.options()).normal_(0.0, std));
  }
}

namespace {
/// Initialises every Linear (init_linear on the weight, zero bias) and LayerNorm (1, 0) under
/// `module`, except those inside an AttentionPool: torch.nn.MultiheadAttention keeps its own init
/// (the reference models create it after their weight init).
template <class InitLinear>
void init_linears_and_norms(torch::nn::Module& module, InitLinear init_linear) {
  at::NoGradGuard no_grad;
  std::vector<const torch::nn::Module*> skip;
  // include_self = false: `module` may still be under construction (no shared_ptr owns it yet).
  for (const auto& m : module.modules(/*include_self=*/false))
    if (m->as<AttentionPoolImpl>() != nullptr)
      for (const auto& c : m->modules(/*include_self=*/true)) skip.push_back(c.get());
  for (const auto& m : module.modules(/*include_self=*/false)) {
    if (std::find(skip.begin(), skip.end(), m.get()) != skip.end()) continue;
    if (auto* lin = m->as<torch::nn::LinearImpl>()) {
      init_linear(lin->weight);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* ln = m->as<torch::nn::LayerNormImpl>()) {
      if (ln->weight.defined()) ln->weight.fill_(1.0);
      if (ln->bias.defined()) ln->bias.zero_();
    }
  }
}
}  // namespace

void init_vit_weights(torch::nn::Module& module) {
  init_linears_and_norms(module, [](at::Tensor& w) { trunc_normal_(w, 0.02); });
}

void init_mae_weights(torch::nn::Module& module) {
  init_linears_and_norms(module, [](at::Tensor& w) { torch::nn::init::xavier_uniform_(w); });
}

// ---------------------------------------------------------------------------- masking

namespace {
/// Ascending argsort along dim 1 (ties do not occur with continuous noise).
at::Tensor argsort_rows(const at::Tensor& t) { return at::argsort(t, static_cast<int64_t>(1), /*descending=*/false); }
}  // namespace

int64_t masking_keep_count(int64_t n, double ratio) {
  return static_cast<int64_t>(static_cast<double>(n) * (1.0 - ratio));
}

TokenMasking random_masking(const at::Tensor& x, double ratio, const at::Tensor& noise) {
  CT_CHECK(x.dim() == 3, ShapeError, "random masking: expected tokens (B, L, D), got ", x.sizes());
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2);
  CT_CHECK(noise.defined() && noise.dim() == 2 && noise.size(0) == B && noise.size(1) == L, ShapeError,
           "random masking: noise must be (", B, ", ", L, "), got ",
           noise.defined() ? noise.sizes() : at::IntArrayRef{});
  CT_CHECK(ratio >= 0.0 && ratio < 1.0, ConfigError, "mask ratio must be in [0, 1), got ", ratio);
  const int64_t keep = masking_keep_count(L, ratio);
  CT_CHECK(keep >= 1, ConfigError, "mask ratio ", ratio, " keeps no token of ", L);
  TokenMasking out;
  const at::Tensor ids_shuffle = argsort_rows(noise.to(x.device()));
  out.ids_restore = argsort_rows(ids_shuffle);
  out.ids_keep = ids_shuffle.narrow(1, 0, keep);
  out.x = at::gather(x, 1, out.ids_keep.unsqueeze(-1).expand({B, keep, D}));
  // 1 = removed: ones after the first `keep` shuffled positions, unshuffled.
  const at::Tensor shuffled = (at::arange(L, x.options().dtype(at::kLong)) >= keep).to(x.scalar_type()).expand({B, L});
  out.mask = at::gather(shuffled, 1, out.ids_restore);
  return out;
}

at::Tensor random_masking_blockwise(const at::Tensor& x, int64_t rows, int64_t cols, double row_ratio, double col_ratio,
                                    const at::Tensor& row_noise, const at::Tensor& col_noise) {
  CT_CHECK(x.dim() == 3 && x.size(1) == rows * cols, ShapeError, "blockwise masking: expected tokens (B, ", rows * cols,
           ", D), got ", x.sizes());
  const int64_t B = x.size(0), D = x.size(2);
  CT_CHECK(row_noise.defined() && row_noise.dim() == 2 && row_noise.size(0) == B && row_noise.size(1) == rows &&
               col_noise.defined() && col_noise.dim() == 2 && col_noise.size(0) == B && col_noise.size(1) == cols,
           ShapeError, "blockwise masking: noise must be (", B, ", ", rows, ") and (", B, ", ", cols, ")");
  const int64_t keep_r = masking_keep_count(rows, row_ratio), keep_c = masking_keep_count(cols, col_ratio);
  CT_CHECK(keep_r >= 1 && keep_c >= 1, ConfigError, "blockwise mask ratios ", row_ratio, " / ", col_ratio,
           " keep no lead or no time patch");
  const at::Tensor keep_rows = argsort_rows(row_noise.to(x.device())).narrow(1, 0, keep_r);
  at::Tensor g = at::gather(x.reshape({B, rows, cols, D}), 1,
                            keep_rows.view({B, keep_r, 1, 1}).expand({B, keep_r, cols, D}));  // (B, r', cols, D)
  const at::Tensor keep_cols = argsort_rows(col_noise.to(x.device())).narrow(1, 0, keep_c);
  g = at::gather(g, 2, keep_cols.view({B, 1, keep_c, 1}).expand({B, keep_r, keep_c, D}));  // (B, r', c', D)
  return g.reshape({B, keep_r * keep_c, D});
}

at::Tensor masking_noise(at::Generator& generator, int64_t n, int64_t l, const at::Device& device) {
  at::Tensor noise = at::rand({n, l}, generator, at::TensorOptions().dtype(at::kFloat));
  return device.is_cpu() ? noise : noise.to(device);
}

at::Generator make_cpu_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

}  // namespace cardiotorch::models
