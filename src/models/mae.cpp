#include "cardiotorch/models/mae.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/init.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::models {

// ---------------------------------------------------------------------------- options

void MaeOptions::validate() const {
  CT_CHECK(patch_size.size() == 1 || patch_size.size() == 2, ConfigError,
           "patch_size must be one value p (= (1, p)) or two values (leads, samples), got ", patch_size.size(),
           " values");
  for (auto p : patch_size) CT_CHECK(p >= 1, ConfigError, "patch_size values must be >= 1, got ", p);
  const auto check_width = [](const char* name, int64_t dim, int64_t heads) {
    CT_CHECK(dim >= 4 && dim % 4 == 0, ConfigError, name,
             " must be a positive multiple of 4 (2-D sin-cos positional embedding), got ", dim);
    CT_CHECK(heads >= 1 && dim % heads == 0, ConfigError, name, " (", dim, ") must be a multiple of its head count (",
             heads, ")");
  };
  check_width("embed_dim", embed_dim, num_heads);
  check_width("decoder_embed_dim", decoder_embed_dim, decoder_num_heads);
  CT_CHECK(depth >= 1, ConfigError, "depth must be >= 1, got ", depth);
  CT_CHECK(decoder_depth >= 1, ConfigError, "decoder_depth must be >= 1, got ", decoder_depth);
  CT_CHECK(mlp_ratio > 0, ConfigError, "mlp_ratio must be > 0, got ", mlp_ratio);
  CT_CHECK(norm_eps > 0, ConfigError, "norm_eps must be > 0, got ", norm_eps);
  CT_CHECK(leads >= 0 && samples >= 0, ConfigError, "leads and samples must be >= 0 (0 = from the data)");
  CT_CHECK(mask_ratio >= 0 && mask_ratio < 1, ConfigError, "mask_ratio must be in [0, 1), got ", mask_ratio);
  check_choice("loss_mode", loss_mode, {"anchor", "masked"});
  CT_CHECK(ncc_weight >= 0 && ncc_weight <= 1, ConfigError, "ncc_weight must be in [0, 1], got ", ncc_weight);
}

MaeOptions MaeOptions::patchx() { return MaeOptions{}; }

MaeOptions MaeOptions::sized(int64_t d, int64_t depth_, int64_t heads, int64_t dd, int64_t ddepth, int64_t dheads) {
  MaeOptions o;
  o.embed_dim = d;
  o.depth = depth_;
  o.num_heads = heads;
  o.decoder_embed_dim = dd;
  o.decoder_depth = ddepth;
  o.decoder_num_heads = dheads;
  return o;
}

// ---------------------------------------------------------------------------- NCC

at::Tensor normalized_cross_correlation(const at::Tensor& x, const at::Tensor& y) {
  CT_CHECK(x.defined() && y.defined() && x.sizes() == y.sizes() && x.dim() >= 1, ShapeError,
           "ncc: expected two tensors of the same shape, got ", x.sizes(), " and ", y.sizes());
  const int64_t T = x.size(-1);
  CT_CHECK(T >= 2, ShapeError, "ncc: needs at least 2 values along the last dim, got ", x.sizes());
  const auto z = [](const at::Tensor& t) {
    return (t - t.mean(-1, /*keepdim=*/true)) /
           (t.var(at::IntArrayRef{-1}, /*unbiased=*/true, /*keepdim=*/true) + 1e-12).sqrt();
  };
  const int64_t signals = x.numel() / T;
  return ((z(x) * z(y)).sum(-1) * (1.0 / static_cast<double>(T - 1))).sum() / static_cast<double>(signals);
}

// ---------------------------------------------------------------------------- the model

namespace {
std::vector<TransformerBlock> make_blocks(torch::nn::ModuleList& list, int64_t depth, int64_t dim, int64_t heads,
                                          double mlp_ratio, double eps) {
  std::vector<TransformerBlock> out;
  for (int64_t i = 0; i < depth; ++i) {
    TransformerBlockOptions bo;
    bo.dim = dim;
    bo.num_heads = heads;
    bo.mlp_ratio = mlp_ratio;
    bo.qkv_bias = true;
    bo.norm_eps = eps;
    TransformerBlock b(bo);
    list->push_back(b);
    out.push_back(b);
  }
  return out;
}
}  // namespace

MaskedAutoencoderViTImpl::MaskedAutoencoderViTImpl(MaeOptions o, const ModelContext& ctx) : options_(std::move(o)) {
  options_.validate();
  geometry_ = resolve_vit_geometry(options_.leads, options_.samples, options_.patch_size, ctx, "mae");
  in_channels_ = geometry_.leads;
  const int64_t D = options_.embed_dim, Dd = options_.decoder_embed_dim;
  const int64_t rows = geometry_.rows(), cols = geometry_.cols();

  PatchEmbedOptions po;
  po.in_chans = 1;
  po.embed_dim = D;
  po.patch_h = geometry_.patch_h;
  po.patch_w = geometry_.patch_w;
  patch_embed = register_module("patch_embed", PatchEmbed(po));
  cls_token = register_parameter("cls_token", at::zeros({1, 1, D}));
  // The reference's nn.Parameter(requires_grad=False): buffers here, in the state dict under the
  // same names and never given to an optimizer.
  pos_embed = register_buffer("pos_embed", sincos_pos_embed_2d(D, rows, cols, /*cls_token=*/true));
  blocks = register_module("blocks", torch::nn::ModuleList());
  encoder_blocks_ = make_blocks(blocks, options_.depth, D, options_.num_heads, options_.mlp_ratio, options_.norm_eps);
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({D}).eps(options_.norm_eps)));

  decoder_embed = register_module("decoder_embed", torch::nn::Linear(D, Dd));
  mask_token = register_parameter("mask_token", at::zeros({1, 1, Dd}));
  decoder_pos_embed = register_buffer("decoder_pos_embed", sincos_pos_embed_2d(Dd, rows, cols, /*cls_token=*/true));
  decoder_blocks = register_module("decoder_blocks", torch::nn::ModuleList());
  decoder_blocks_ = make_blocks(decoder_blocks, options_.decoder_depth, Dd, options_.decoder_num_heads,
                                options_.mlp_ratio, options_.norm_eps);
  decoder_norm =
      register_module("decoder_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({Dd}).eps(options_.norm_eps)));
  decoder_pred = register_module("decoder_pred", torch::nn::Linear(Dd, geometry_.patch_h * geometry_.patch_w));

  // The MAE's init: xavier-uniform Linears (and the patch projection seen as a Linear), tokens N(0, 0.02²).
  init_mae_weights(*this);
  {
    at::NoGradGuard no_grad;
    const at::Tensor& w = patch_embed->proj->weight;
    torch::nn::init::xavier_uniform_(w.view({w.size(0), -1}));
    cls_token.normal_(0.0, 0.02);
    mask_token.normal_(0.0, 0.02);
  }
  generator_ = make_cpu_generator(static_cast<uint64_t>(options_.mask_seed));
}

std::string MaskedAutoencoderViTImpl::who() const { return model_name().empty() ? std::string("mae") : model_name(); }

at::Tensor MaskedAutoencoderViTImpl::as_image(const at::Tensor& x) const {
  const int64_t L = geometry_.leads, S = geometry_.samples;
  CT_CHECK(x.defined(), ShapeError, who(), ": undefined input");
  if (x.dim() == 3 && x.size(1) == L && x.size(2) == S) return x.unsqueeze(1);
  if (x.dim() == 4 && x.size(1) == 1 && x.size(2) == L && x.size(3) == S) return x;
  throw ShapeError(str_cat(who(), ": expected an input (B, ", L, ", ", S, ") or (B, 1, ", L, ", ", S, "), got ",
                           x.sizes(), "; the positional embedding fixes leads and samples"));
}

at::Tensor MaskedAutoencoderViTImpl::patchify(const at::Tensor& x) const {
  const at::Tensor img = as_image(x);
  const int64_t B = img.size(0), p = geometry_.patch_h, q = geometry_.patch_w;
  const int64_t h = geometry_.rows(), w = geometry_.cols();
  if (p == 1) return img.reshape({B, h * w, q});  // a view of a contiguous input
  // nchpwq -> nhwpqc with c = 1
  return img.reshape({B, h, p, w, q}).permute({0, 1, 3, 2, 4}).reshape({B, h * w, p * q});
}

at::Tensor MaskedAutoencoderViTImpl::unpatchify(const at::Tensor& patches) const {
  const int64_t p = geometry_.patch_h, q = geometry_.patch_w, h = geometry_.rows(), w = geometry_.cols();
  CT_CHECK(patches.dim() == 3 && patches.size(1) == h * w && patches.size(2) == p * q, ShapeError, who(),
           ": expected patches (B, ", h * w, ", ", p * q, "), got ", patches.sizes());
  const int64_t B = patches.size(0);
  if (p == 1) return patches.reshape({B, 1, h, w * q});
  return patches.reshape({B, h, w, p, q}).permute({0, 1, 3, 2, 4}).reshape({B, 1, h * p, w * q});
}

MaskedAutoencoderViTImpl::Encoded MaskedAutoencoderViTImpl::encode(const at::Tensor& x, double mask_ratio,
                                                                   const at::Tensor& noise,
                                                                   std::vector<at::Tensor>* attention) {
  const at::Tensor img = as_image(x);
  const int64_t B = img.size(0), L = geometry_.num_patches(), D = options_.embed_dim;
  at::Tensor t = patch_embed->forward(img) + pos_embed.narrow(1, 1, L);
  Encoded e;
  if (noise.defined() || mask_ratio > 0) {
    const at::Tensor nz = noise.defined() ? noise : masking_noise(generator_, B, L, t.device());
    TokenMasking m = random_masking(t, mask_ratio, nz);
    t = m.x;
    e.mask = m.mask;
    e.ids_restore = m.ids_restore;
  } else {
    e.mask = at::zeros({B, L}, t.options());
  }
  const at::Tensor cls = (cls_token + pos_embed.narrow(1, 0, 1)).expand({B, 1, D});
  t = at::cat({cls, t}, 1);
  if (attention != nullptr) attention->clear();
  for (auto& blk : encoder_blocks_) {
    at::Tensor w;
    t = blk->forward(t, attention != nullptr ? &w : nullptr);
    if (attention != nullptr) attention->push_back(w);
  }
  e.latent = norm->forward(t);
  return e;
}

at::Tensor MaskedAutoencoderViTImpl::decode(const at::Tensor& latent, const at::Tensor& ids_restore) {
  const int64_t B = latent.size(0), L = geometry_.num_patches(), Dd = options_.decoder_embed_dim;
  at::Tensor y = decoder_embed->forward(latent);  // (B, 1 + keep, Dd)
  const int64_t keep = y.size(1) - 1;
  if (ids_restore.defined()) {
    CT_CHECK(ids_restore.dim() == 2 && ids_restore.size(0) == B && ids_restore.size(1) == L && keep <= L, ShapeError,
             who(), ": ids_restore must be (", B, ", ", L, ") over at most ", L, " encoded tokens, got ",
             ids_restore.sizes(), " and ", keep, " tokens");
    // Visible tokens in shuffle order, then mask tokens; the gather puts each back in place.
    const at::Tensor full = at::cat({y.narrow(1, 1, keep), mask_token.expand({B, L - keep, Dd})}, 1);
    y = at::cat({y.narrow(1, 0, 1), at::gather(full, 1, ids_restore.unsqueeze(-1).expand({B, L, Dd}))}, 1);
  } else {
    CT_CHECK(keep == L, ShapeError, who(), ": decoding ", keep, " of ", L, " tokens needs their ids_restore");
  }
  y = y + decoder_pos_embed;
  for (auto& blk : decoder_blocks_) y = blk->forward(y);
  y = decoder_pred->forward(decoder_norm->forward(y));
  return y.narrow(1, 1, L);
}

MaeOutput MaskedAutoencoderViTImpl::losses(const at::Tensor& x, const at::Tensor& pred, const at::Tensor& mask) {
  const at::Tensor img = as_image(x);
  at::Tensor target = patchify(img);
  CT_CHECK(pred.sizes() == target.sizes(), ShapeError, who(), ": prediction ", pred.sizes(), " does not match the ",
           "patches ", target.sizes());
  if (options_.norm_pix_loss) {
    const at::Tensor mean = target.mean(-1, /*keepdim=*/true);
    const at::Tensor var = target.var(at::IntArrayRef{-1}, /*unbiased=*/true, /*keepdim=*/true);
    target = (target - mean) / (var + 1e-6).sqrt();
  }
  const at::Tensor sq = (pred - target).square();
  MaeOutput out;
  out.mse = sq.mean();
  out.masked_mse = (sq.mean(-1) * mask).sum() / mask.sum();
  out.ncc = normalized_cross_correlation(img, unpatchify(pred));
  const double w = options_.ncc_weight;
  out.loss = options_.loss_mode == "masked" ? out.masked_mse : out.mse * (1.0 - w) + (1.0 - out.ncc) * w;
  return out;
}

MaeOutput MaskedAutoencoderViTImpl::forward_mae(const at::Tensor& x, double mask_ratio, const at::Tensor& noise) {
  CT_CHECK(mask_ratio >= 0 && mask_ratio < 1, ConfigError, who(), ": mask ratio must be in [0, 1), got ", mask_ratio);
  const int64_t L = geometry_.num_patches();
  CT_CHECK(options_.loss_mode != "masked" || masking_keep_count(L, mask_ratio) < L, ConfigError, who(),
           ": loss_mode masked scores masked patches only, but mask ratio ", mask_ratio, " masks none of ", L);
  Encoded e = encode(x, mask_ratio, noise);
  at::Tensor pred = decode(e.latent, e.ids_restore);
  MaeOutput out = losses(x, pred, e.mask);
  out.pred = std::move(pred);
  out.mask = std::move(e.mask);
  out.ids_restore = e.ids_restore.defined()
                        ? std::move(e.ids_restore)
                        : at::arange(L, out.mask.options().dtype(at::kLong)).unsqueeze(0).expand({out.mask.size(0), L});
  return out;
}

at::Tensor MaskedAutoencoderViTImpl::forward(const at::Tensor& x) {
  if (is_training()) return forward_mae(x, options_.mask_ratio).pred;
  const Encoded e = encode(x, 0.0, {});
  return decode(e.latent, {});
}

at::Tensor MaskedAutoencoderViTImpl::forward_features(const at::Tensor& x) { return encode(x, 0.0, {}).latent; }

at::Tensor MaskedAutoencoderViTImpl::forward_localized(const at::Tensor& x) {
  const at::Tensor latent = forward_features(x);
  return latent.narrow(1, 1, latent.size(1) - 1);
}

at::Tensor MaskedAutoencoderViTImpl::embed(const at::Tensor& x) { return forward_localized(x).mean(1); }

std::vector<at::Tensor> MaskedAutoencoderViTImpl::attention_maps(const at::Tensor& x) {
  std::vector<at::Tensor> maps;
  encode(x, 0.0, {}, &maps);
  return maps;
}

TokenLayout MaskedAutoencoderViTImpl::token_layout() const {
  TokenLayout t;
  t.rows = geometry_.rows();
  t.cols = geometry_.cols();
  t.patch_len = geometry_.patch_w;
  t.prefix = 1;
  return t;
}

weights::MatchRules MaskedAutoencoderViTImpl::weight_rules() const {
  weights::MatchRules r;
  r.skip_source = {"projector*", "predictor*"};
  return r;
}

int64_t MaskedAutoencoderViTImpl::batch_of(const Shape& in) const {
  const auto fits = [](int64_t have, int64_t want) { return have < 0 || have == want; };
  const int64_t L = geometry_.leads, S = geometry_.samples;
  if (in.size() == 3 && fits(in[1], L) && fits(in[2], S)) return in[0];
  if (in.size() == 4 && fits(in[1], 1) && fits(in[2], L) && fits(in[3], S)) return in[0];
  throw ShapeError(
      str_cat(who(), ": expected an input (B, ", L, ", ", S, ") or (B, 1, ", L, ", ", S, "), got ", shape_string(in)));
}

Shape MaskedAutoencoderViTImpl::output_shape(const Shape& input) const {
  return {batch_of(input), geometry_.num_patches(), geometry_.patch_h * geometry_.patch_w};
}

Shape MaskedAutoencoderViTImpl::features_shape(const Shape& input) const {
  return {batch_of(input), 1 + geometry_.num_patches(), options_.embed_dim};
}

Shape MaskedAutoencoderViTImpl::input_shape() const { return {kUnknown, geometry_.leads, geometry_.samples}; }

std::vector<std::pair<std::string, Shape>> MaskedAutoencoderViTImpl::stage_shapes(const Shape& input) const {
  const int64_t B = batch_of(input), L = geometry_.num_patches(), D = options_.embed_dim;
  const int64_t Dd = options_.decoder_embed_dim, keep = masking_keep_count(L, options_.mask_ratio);
  std::vector<std::pair<std::string, Shape>> out;
  out.emplace_back("patch_embed", Shape{B, L, D});
  out.emplace_back(str_cat("masking (ratio ", options_.mask_ratio, ", training)"), Shape{B, keep, D});
  for (int64_t i = 0; i < options_.depth; ++i) out.emplace_back(str_cat("blocks.", i), Shape{B, 1 + keep, D});
  out.emplace_back("decoder_embed", Shape{B, 1 + keep, Dd});
  out.emplace_back("+ mask tokens", Shape{B, 1 + L, Dd});
  for (int64_t i = 0; i < options_.decoder_depth; ++i)
    out.emplace_back(str_cat("decoder_blocks.", i), Shape{B, 1 + L, Dd});
  out.emplace_back("decoder_pred (cls dropped)", Shape{B, L, geometry_.patch_h * geometry_.patch_w});
  return out;
}

std::string MaskedAutoencoderViTImpl::summary() const {
  return str_cat(who(), ": MAE, encoder ", options_.embed_dim, "-d x ", options_.depth, " blocks (", options_.num_heads,
                 " heads), decoder ", options_.decoder_embed_dim, "-d x ", options_.decoder_depth, " blocks (",
                 options_.decoder_num_heads, " heads), ", geometry_.num_patches(), " patches of ", geometry_.patch_h,
                 " x ", geometry_.patch_w, ", mask ratio ", options_.mask_ratio, ", loss ", options_.loss_mode, ", ",
                 format_count(count_parameters(*this)), " parameters");
}

std::shared_ptr<MaskedAutoencoderViTImpl> make_mae(const MaeOptions& options, const ModelContext& context) {
  return std::make_shared<MaskedAutoencoderViTImpl>(options, context);
}

// ---------------------------------------------------------------------------- registrations
// oetu/mae models_mae sizes at the seed's commit (ba56dd9), named after what they build: that
// commit's names say dec192d2b for pluto (a 256-d decoder with 6 heads, which cannot be built:
// 256 is not a multiple of 6; HEAD's 160-d x 1 block with 8 heads is used) and dec256d4b for
// small and medium (both 2 decoder blocks).

CT_REGISTER(model_registry(), "mae_vit_patchx",
            (options_factory<ModelImpl, MaeOptions>(make_mae, MaeOptions::patchx())),
            "MAE-ECG of the seed (Turgut et al.): vit_patchx encoder, 256-d x 2 decoder, mask ratio 0.8, "
            "loss 0.9 MSE + 0.1 (1 - NCC)");
CT_REGISTER(model_registry(), "mae_vit_pluto_patchx_dec160d1b",
            (options_factory<ModelImpl, MaeOptions>(make_mae, MaeOptions::sized(256, 2, 8, 160, 1, 8))),
            "MAE-ECG, 'pluto': 256-d x 2 encoder (8 heads), 160-d x 1 decoder (8 heads)");
CT_REGISTER(model_registry(), "mae_vit_tiny_patchx_dec256d2b",
            (options_factory<ModelImpl, MaeOptions>(make_mae, MaeOptions::sized(384, 3, 6, 256, 2, 8))),
            "MAE-ECG, 'tiny' (= mae_vit_patchx): 384-d x 3 encoder (6 heads), 256-d x 2 decoder (8 heads)");
CT_REGISTER(model_registry(), "mae_vit_small_patchx_dec256d2b",
            (options_factory<ModelImpl, MaeOptions>(make_mae, MaeOptions::sized(512, 4, 8, 256, 2, 8))),
            "MAE-ECG, 'small': 512-d x 4 encoder (8 heads), 256-d x 2 decoder (8 heads)");
CT_REGISTER(model_registry(), "mae_vit_medium_patchx_dec256d2b",
            (options_factory<ModelImpl, MaeOptions>(make_mae, MaeOptions::sized(640, 6, 8, 256, 2, 8))),
            "MAE-ECG, 'medium': 640-d x 6 encoder (8 heads), 256-d x 2 decoder (8 heads)");
CT_REGISTER(model_registry(), "mae_vit_big_patchx_dec256d4b",
            (options_factory<ModelImpl, MaeOptions>(make_mae, MaeOptions::sized(768, 8, 8, 256, 4, 8))),
            "MAE-ECG, 'big': 768-d x 8 encoder (8 heads), 256-d x 4 decoder (8 heads)");
CT_REGISTER(model_registry(), "mae_vit_base_patchx_dec512d8b",
            (options_factory<ModelImpl, MaeOptions>(make_mae, MaeOptions::sized(768, 12, 12, 512, 8, 16))),
            "MAE-ECG, ViT-Base encoder (768-d x 12, 12 heads), 512-d x 8 decoder (16 heads)");
CT_REGISTER(model_registry(), "mae_vit_large_patchx_dec512d8b",
            (options_factory<ModelImpl, MaeOptions>(make_mae, MaeOptions::sized(1024, 24, 16, 512, 8, 16))),
            "MAE-ECG, ViT-Large encoder (1024-d x 24, 16 heads), 512-d x 8 decoder (16 heads)");
CT_REGISTER(model_registry(), "mae_vit_huge_patchx_dec512d8b",
            (options_factory<ModelImpl, MaeOptions>(make_mae, MaeOptions::sized(1280, 32, 16, 512, 8, 16))),
            "MAE-ECG, ViT-Huge encoder (1280-d x 32, 16 heads), 512-d x 8 decoder (16 heads)");

}  // namespace cardiotorch::models
