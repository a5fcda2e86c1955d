#include "cardiotorch/models/vit.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::models {

// ---------------------------------------------------------------------------- options

namespace {
void check_rate(const char* key, double v) {
  CT_CHECK(v >= 0.0 && v < 1.0, ConfigError, key, " must be in [0, 1), got ", v);
}
}  // namespace

void VitOptions::validate() const {
  check_choice("global_pool", global_pool, {"cls", "avg", "attention_pool"});
  CT_CHECK(patch_size.size() == 1 || patch_size.size() == 2, ConfigError,
           "patch_size must be one value p (= (1, p)) or two values (leads, samples), got ", patch_size.size(),
           " values");
  for (auto p : patch_size) CT_CHECK(p >= 1, ConfigError, "patch_size values must be >= 1, got ", p);
  CT_CHECK(embed_dim >= 4 && embed_dim % 4 == 0, ConfigError,
           "embed_dim must be a positive multiple of 4 (2-D sin-cos positional embedding), got ", embed_dim);
  CT_CHECK(num_heads >= 1 && embed_dim % num_heads == 0, ConfigError, "embed_dim (", embed_dim,
           ") must be a multiple of num_heads (", num_heads, ")");
  CT_CHECK(depth >= 1, ConfigError, "depth must be >= 1, got ", depth);
  CT_CHECK(mlp_ratio > 0, ConfigError, "mlp_ratio must be > 0, got ", mlp_ratio);
  CT_CHECK(norm_eps > 0, ConfigError, "norm_eps must be > 0, got ", norm_eps);
  check_rate("drop_rate", drop_rate);
  check_rate("attn_drop_rate", attn_drop_rate);
  check_rate("drop_path_rate", drop_path_rate);
  check_rate("mask_ratio", mask_ratio);
  check_rate("mask_c_ratio", mask_c_ratio);
  check_rate("mask_t_ratio", mask_t_ratio);
  CT_CHECK(leads >= 0, ConfigError, "leads must be >= 0 (0 = from the data), got ", leads);
  CT_CHECK(samples >= 0, ConfigError, "samples must be >= 0 (0 = from the data), got ", samples);
  CT_CHECK(num_classes >= 0, ConfigError, "num_classes must be >= 0 (0 = no head), got ", num_classes);
  CT_CHECK(head_init_std > 0, ConfigError, "head_init_std must be > 0, got ", head_init_std);
}

VitOptions VitOptions::patchx() { return VitOptions{}; }

VitOptions VitOptions::sized(int64_t d, int64_t depth_, int64_t heads) {
  VitOptions o;
  o.embed_dim = d;
  o.depth = depth_;
  o.num_heads = heads;
  return o;
}

VitOptions VitOptions::ecg_classifier() {
  VitOptions o;
  o.pos_embed_trainable = true;
  o.drop_path_rate = 0.1;
  o.fc_norm_twice = true;
  o.load_head = true;
  return o;
}

ModelContext unconstrained_context() {
  ModelContext c;
  c.in_channels = kUnknown;
  c.seq_len = kUnknown;
  return c;
}

VitGeometry resolve_vit_geometry(int64_t leads, int64_t samples, const std::vector<int64_t>& patch_size,
                                 const ModelContext& ctx, const std::string& who) {
  VitGeometry g;
  g.patch_h = patch_size.size() == 2 ? patch_size[0] : 1;
  g.patch_w = patch_size.back();
  // What the surroundings say: a 2-D context (B, C, H, W) is timm's (B, 1, leads, samples).
  int64_t ctx_leads = ctx.in_channels, ctx_samples = ctx.seq_len;
  if (ctx.image_size.size() == 2) {
    CT_CHECK(ctx.in_channels == 1, ConfigError, who, ": a (B, C, H, W) input must have C = 1 (timm's (B, 1, leads, ",
             "samples)), got C = ", ctx.in_channels);
    ctx_leads = ctx.image_size[0];
    ctx_samples = ctx.image_size[1];
  }
  if (leads > 0) {
    CT_CHECK(ctx_leads <= 0 || ctx_leads == leads, ConfigError, who, ": leads is ", leads, " but the input has ",
             ctx_leads, " leads (set leads: 0 to follow the data)");
    g.leads = leads;
  } else {
    CT_CHECK(ctx_leads > 0, ConfigError, who, ": leads: 0 takes the lead count from the data, which is unknown here");
    g.leads = ctx_leads;
  }
  if (samples > 0) {
    CT_CHECK(ctx_samples <= 0 || ctx_samples == samples, ConfigError, who, ": samples is ", samples,
             " but the input has ", ctx_samples, " samples (the positional embedding fixes the length: crop or ",
             "resample the input, or set samples: ", ctx_samples, ")");
    g.samples = samples;
  } else {
    CT_CHECK(ctx_samples > 0, ConfigError, who, ": samples: 0 takes the length from the data, which is unknown here; ",
             "set samples");
    g.samples = ctx_samples;
  }
  CT_CHECK(g.leads % g.patch_h == 0 && g.samples % g.patch_w == 0, ConfigError, who, ": the input (", g.leads, " x ",
           g.samples, ") is not a whole number of (", g.patch_h, " x ", g.patch_w, ") patches");
  return g;
}

// ---------------------------------------------------------------------------- the model

VisionTransformerImpl::VisionTransformerImpl(VitOptions o, const ModelContext& ctx) : options_(std::move(o)) {
  options_.validate();
  geometry_ = resolve_vit_geometry(options_.leads, options_.samples, options_.patch_size, ctx, "vit");
  num_classes_ = ctx.num_classes > 0 ? ctx.num_classes : options_.num_classes;
  in_channels_ = geometry_.leads;
  const int64_t D = options_.embed_dim;

  PatchEmbedOptions po;
  po.in_chans = 1;
  po.embed_dim = D;
  po.patch_h = geometry_.patch_h;
  po.patch_w = geometry_.patch_w;
  patch_embed = register_module("patch_embed", PatchEmbed(po));
  cls_token = register_parameter("cls_token", at::zeros({1, 1, D}));
  // Fixed sin-cos: a buffer (saved and loaded under `pos_embed` like timm's parameter, never
  // handed to an optimizer); a parameter when it is to be learned, as in timm fine-tuning.
  const at::Tensor pe = sincos_pos_embed_2d(D, geometry_.rows(), geometry_.cols(), /*cls_token=*/true);
  pos_embed = options_.pos_embed_trainable ? register_parameter("pos_embed", pe) : register_buffer("pos_embed", pe);

  blocks = register_module("blocks", torch::nn::ModuleList());
  // timm's stochastic-depth decay rule, in float32 like torch.linspace.
  const at::Tensor dpr = at::linspace(0.0, options_.drop_path_rate, options_.depth, at::kFloat);
  for (int64_t i = 0; i < options_.depth; ++i) {
    TransformerBlockOptions bo;
    bo.dim = D;
    bo.num_heads = options_.num_heads;
    bo.mlp_ratio = options_.mlp_ratio;
    bo.qkv_bias = options_.qkv_bias;
    bo.drop = options_.drop_rate;
    bo.attn_drop = options_.attn_drop_rate;
    bo.drop_path = static_cast<double>(dpr[i].item<float>());
    bo.norm_eps = options_.norm_eps;
    TransformerBlock b(bo);
    blocks->push_back(b);
    block_list_.push_back(b);
  }
  const auto ln = torch::nn::LayerNormOptions({D}).eps(options_.norm_eps);
  if (options_.global_pool == "cls") norm = register_module("norm", torch::nn::LayerNorm(ln));
  else fc_norm = register_module("fc_norm", torch::nn::LayerNorm(ln));
  if (options_.global_pool == "attention_pool")
    attention_pool = register_module("attention_pool", AttentionPool(AttentionPoolOptions{D, options_.num_heads}));
  if (num_classes_ > 0) head = register_module("head", torch::nn::Linear(D, num_classes_));

  // timm's init (trunc-normal 0.02 Linears, cls token N(0, 1e-6)); the attention pool keeps
  // MultiheadAttention's; the head as ECGClassifier re-initialises it.
  init_vit_weights(*this);
  {
    at::NoGradGuard no_grad;
    cls_token.normal_(0.0, 1e-6);
    if (head) trunc_normal_(head->weight, options_.head_init_std);
  }
  generator_ = make_cpu_generator(static_cast<uint64_t>(options_.mask_seed));
}

at::Tensor VisionTransformerImpl::as_image(const at::Tensor& x) const {
  const int64_t L = geometry_.leads, S = geometry_.samples;
  const std::string who = model_name().empty() ? std::string("vit") : model_name();
  CT_CHECK(x.defined(), ShapeError, who, ": undefined input");
  if (x.dim() == 3 && x.size(1) == L && x.size(2) == S) return x.unsqueeze(1);
  if (x.dim() == 4 && x.size(1) == 1 && x.size(2) == L && x.size(3) == S) return x;
  throw ShapeError(str_cat(who, ": expected an input (B, ", L, ", ", S, ") or (B, 1, ", L, ", ", S, "), got ",
                           x.sizes(), "; the positional embedding fixes leads and samples"));
}

bool VisionTransformerImpl::masking_active() const {
  if (!is_training()) return false;
  return options_.masking_blockwise ? (options_.mask_c_ratio > 0 || options_.mask_t_ratio > 0)
                                    : options_.mask_ratio > 0;
}

at::Tensor VisionTransformerImpl::forward_tokens(const at::Tensor& x, const MaskNoise* noise,
                                                 std::vector<at::Tensor>* attention) {
  const at::Tensor img = as_image(x);
  const int64_t B = img.size(0), N = geometry_.num_patches();
  at::Tensor t = patch_embed->forward(img) + pos_embed.narrow(1, 1, N);
  // Masking happens after the positional embedding, so the kept tokens keep their positions.
  MaskNoise drawn;
  if (noise == nullptr && masking_active()) {
    if (options_.masking_blockwise) {
      drawn.leads = masking_noise(generator_, B, geometry_.rows(), t.device());
      drawn.times = masking_noise(generator_, B, geometry_.cols(), t.device());
    } else {
      drawn.tokens = masking_noise(generator_, B, N, t.device());
    }
    noise = &drawn;
  }
  if (noise != nullptr) {
    if (options_.masking_blockwise)
      t = random_masking_blockwise(t, geometry_.rows(), geometry_.cols(), options_.mask_c_ratio, options_.mask_t_ratio,
                                   noise->leads, noise->times);
    else t = random_masking(t, options_.mask_ratio, noise->tokens).x;
  }
  const at::Tensor cls = (cls_token + pos_embed.narrow(1, 0, 1)).expand({B, 1, options_.embed_dim});
  t = at::cat({cls, t}, 1);
  if (options_.drop_rate > 0) t = at::dropout(t, options_.drop_rate, is_training());
  if (attention != nullptr) attention->clear();
  for (auto& blk : block_list_) {
    at::Tensor w;
    t = blk->forward(t, attention != nullptr ? &w : nullptr);
    if (attention != nullptr) attention->push_back(w);
  }
  return t;
}

at::Tensor VisionTransformerImpl::pool(const at::Tensor& tokens, at::Tensor* pool_weights) {
  const at::Tensor patches = tokens.narrow(1, 1, tokens.size(1) - 1);
  if (attention_pool) {
    const at::Tensor q = patches.mean(1, /*keepdim=*/true);
    return fc_norm->forward(attention_pool->forward(q, patches, pool_weights).squeeze(1));
  }
  if (fc_norm) return fc_norm->forward(patches.mean(1));
  // LayerNorm is per token: normalising only the cls token equals norm(x)[:, 0].
  return norm->forward(tokens.select(1, 0));
}

at::Tensor VisionTransformerImpl::head_forward(const at::Tensor& pooled) {
  at::Tensor f = pooled;
  // oetu/timm fine-tuning: timm's global_pool stays 'token', so forward_head runs fc_norm again on
  // the already pooled and normed features. Fine-tuned checkpoints expect it.
  if (options_.fc_norm_twice && fc_norm) f = fc_norm->forward(f);
  return head ? head->forward(f) : f;
}

at::Tensor VisionTransformerImpl::forward(const at::Tensor& x) { return head_forward(forward_features(x)); }

at::Tensor VisionTransformerImpl::forward_features(const at::Tensor& x) { return pool(forward_tokens(x)); }

at::Tensor VisionTransformerImpl::forward_features_masked(const at::Tensor& x, const MaskNoise& noise) {
  return pool(forward_tokens(x, &noise));
}

at::Tensor VisionTransformerImpl::forward_localized(const at::Tensor& x) {
  const at::Tensor t = forward_tokens(x);
  return t.narrow(1, 1, t.size(1) - 1);
}

at::Tensor VisionTransformerImpl::embed(const at::Tensor& x) { return forward_features(x); }

std::vector<at::Tensor> VisionTransformerImpl::attention_maps(const at::Tensor& x) {
  std::vector<at::Tensor> maps;
  forward_tokens(x, nullptr, &maps);
  return maps;
}

TokenLayout VisionTransformerImpl::token_layout() const {
  TokenLayout t;
  t.rows = geometry_.rows();
  t.cols = geometry_.cols();
  t.patch_len = geometry_.patch_w;
  t.prefix = 1;
  return t;
}

weights::MatchRules VisionTransformerImpl::weight_rules() const {
  weights::MatchRules r;
  // An oetu/mae pre-training checkpoint holds the encoder plus these; the seed's loader dropped them.
  r.skip_source = {"decoder*", "mask_token*", "projector*", "predictor*"};
  // The seed's ECGEncoder never loads a head: a backbone's head is new for its task.
  if (!options_.load_head) r.skip_target = {"head.*"};
  return r;
}

Shape VisionTransformerImpl::batch_of(const Shape& in) const {
  const auto fits = [](int64_t have, int64_t want) { return have < 0 || have == want; };
  const int64_t L = geometry_.leads, S = geometry_.samples;
  if (in.size() == 3 && fits(in[1], L) && fits(in[2], S)) return {in[0]};
  if (in.size() == 4 && fits(in[1], 1) && fits(in[2], L) && fits(in[3], S)) return {in[0]};
  throw ShapeError(str_cat(model_name().empty() ? std::string("vit") : model_name(), ": expected an input (B, ", L,
                           ", ", S, ") or (B, 1, ", L, ", ", S, "), got ", shape_string(in)));
}

Shape VisionTransformerImpl::output_shape(const Shape& input) const {
  return {batch_of(input)[0], num_classes_ > 0 ? num_classes_ : options_.embed_dim};
}

Shape VisionTransformerImpl::features_shape(const Shape& input) const {
  return {batch_of(input)[0], options_.embed_dim};
}

Shape VisionTransformerImpl::input_shape() const { return {kUnknown, geometry_.leads, geometry_.samples}; }

std::vector<std::pair<std::string, Shape>> VisionTransformerImpl::stage_shapes(const Shape& input) const {
  const int64_t B = batch_of(input)[0], N = geometry_.num_patches(), D = options_.embed_dim;
  std::vector<std::pair<std::string, Shape>> out;
  out.emplace_back("patch_embed", Shape{B, N, D});
  for (int64_t i = 0; i < options_.depth; ++i) out.emplace_back(str_cat("blocks.", i), Shape{B, 1 + N, D});
  out.emplace_back(options_.global_pool == "cls" ? "norm (cls token)" : options_.global_pool + " -> fc_norm",
                   Shape{B, D});
  if (num_classes_ > 0) out.emplace_back("head", Shape{B, num_classes_});
  return out;
}

std::string VisionTransformerImpl::summary() const {
  return str_cat(model_name().empty() ? std::string("vit") : model_name(), ": ViT ", options_.embed_dim, "-d x ",
                 options_.depth, " blocks, ", options_.num_heads, " heads, ", geometry_.num_patches(), " tokens (",
                 geometry_.rows(), " x ", geometry_.cols(), " patches of ", geometry_.patch_h, " x ", geometry_.patch_w,
                 "), ", options_.global_pool, num_classes_ > 0 ? str_cat(", head ", num_classes_) : std::string(), ", ",
                 format_count(count_parameters(*this)), " parameters");
}

std::shared_ptr<VisionTransformerImpl> make_vit(const VitOptions& options, const ModelContext& context) {
  return std::make_shared<VisionTransformerImpl>(options, context);
}

// ---------------------------------------------------------------------------- registrations
// Sizes of oetu/mae models_vit at the seed's commit (ba56dd9): D / depth / heads.

CT_REGISTER(backbone_registry(), "vit_patchx", (options_factory<ModelImpl, VitOptions>(make_vit, VitOptions::patchx())),
            "ViT ECG encoder of the seed (vit_patchX): (12, 2500) in (1, 100) patches, 384-d x 3 blocks, 6 heads, "
            "fixed 2-D sin-cos positions, attention pooling");
CT_REGISTER(backbone_registry(), "vit_pluto_patchx",
            (options_factory<ModelImpl, VitOptions>(make_vit, VitOptions::sized(256, 2, 8))),
            "ViT ECG encoder, oetu/mae 'pluto' size: 256-d x 2 blocks, 8 heads");
CT_REGISTER(backbone_registry(), "vit_tiny_patchx",
            (options_factory<ModelImpl, VitOptions>(make_vit, VitOptions::sized(384, 3, 6))),
            "ViT ECG encoder, oetu/mae 'tiny' size (= vit_patchx): 384-d x 3 blocks, 6 heads");
CT_REGISTER(backbone_registry(), "vit_small_patchx",
            (options_factory<ModelImpl, VitOptions>(make_vit, VitOptions::sized(512, 4, 8))),
            "ViT ECG encoder, oetu/mae 'small' size: 512-d x 4 blocks, 8 heads");
CT_REGISTER(backbone_registry(), "vit_medium_patchx",
            (options_factory<ModelImpl, VitOptions>(make_vit, VitOptions::sized(640, 6, 8))),
            "ViT ECG encoder, oetu/mae 'medium' size: 640-d x 6 blocks, 8 heads");
CT_REGISTER(backbone_registry(), "vit_big_patchx",
            (options_factory<ModelImpl, VitOptions>(make_vit, VitOptions::sized(768, 8, 8))),
            "ViT ECG encoder, oetu/mae 'big' size: 768-d x 8 blocks, 8 heads");
CT_REGISTER(backbone_registry(), "vit_base_patchx",
            (options_factory<ModelImpl, VitOptions>(make_vit, VitOptions::sized(768, 12, 12))),
            "ViT ECG encoder, ViT-Base size: 768-d x 12 blocks, 12 heads");
CT_REGISTER(backbone_registry(), "vit_large_patchx",
            (options_factory<ModelImpl, VitOptions>(make_vit, VitOptions::sized(1024, 24, 16))),
            "ViT ECG encoder, ViT-Large size: 1024-d x 24 blocks, 16 heads");
CT_REGISTER(backbone_registry(), "vit_huge_patchx",
            (options_factory<ModelImpl, VitOptions>(make_vit, VitOptions::sized(1280, 32, 16))),
            "ViT ECG encoder, ViT-Huge size: 1280-d x 32 blocks, 16 heads");
CT_REGISTER(model_registry(), "ecg_classifier",
            (options_factory<ModelImpl, VitOptions>(make_vit, VitOptions::ecg_classifier())),
            "ECGClassifier: the vit_patchx encoder with a linear head (timm keys; head trunc-normal 0.01, "
            "stochastic depth 0.1, learnable pos_embed, fc_norm twice as fine-tuned checkpoints expect)");

}  // namespace cardiotorch::models
