#include "cardiotorch/models/saliency.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/autograd.h>
#include <torch/nn/functional/upsampling.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/capture.h"

namespace cardiotorch::models {

SaliencyRegistry& saliency_registry() {
  static SaliencyRegistry r("saliency",
                            "saliency maps: Grad-CAM for CNNs, attention and attention rollout for token models");
  return r;
}

namespace {

// eval() for the explanation, the previous mode afterwards (also on errors).
class EvalGuard {
 public:
  explicit EvalGuard(ModelImpl& m) : m_(m), was_training_(m.is_training()) { m_.eval(); }
  ~EvalGuard() { m_.train(was_training_); }
  EvalGuard(const EvalGuard&) = delete;
  EvalGuard& operator=(const EvalGuard&) = delete;

 private:
  ModelImpl& m_;
  bool was_training_;
};

void check_fusion(const std::string& how) { check_choice("head_fusion", how, {"mean", "max", "min"}); }

std::string who(const ModelImpl& m) { return m.model_name().empty() ? std::string("the model") : m.model_name(); }

}  // namespace

void AttentionSaliencyOptions::validate() const { check_fusion(head_fusion); }

void RolloutOptions::validate() const {
  check_fusion(head_fusion);
  CT_CHECK(discard_ratio >= 0 && discard_ratio < 1, ConfigError, "discard_ratio must be in [0, 1), got ",
           discard_ratio);
}

at::Tensor class_scores(const at::Tensor& output) {
  CT_CHECK(output.defined() && output.dim() >= 2, ShapeError,
           "saliency needs an output with a batch and a class dim (B, K, ...), got ",
           output.defined() ? str_cat("shape ", output.sizes()) : std::string("nothing"));
  return output.dim() == 2 ? output : output.flatten(2).mean(-1);
}

at::Tensor resolve_targets(const at::Tensor& scores, int64_t target) {
  const int64_t k = scores.size(1);
  if (target == kTopClass) return scores.detach().argmax(1);
  CT_CHECK(target >= 0 && target < k, ConfigError, "target class ", target, " is out of range: the model gives ", k,
           " class scores (0..", k - 1, ")");
  return at::full({scores.size(0)}, target, scores.options().dtype(at::kLong));
}

at::Tensor normalize_per_sample(const at::Tensor& map) {
  const at::Tensor flat = map.flatten(1);
  const at::Tensor peak = std::get<0>(flat.max(1, /*keepdim=*/true));
  const at::Tensor safe = at::where(peak > 0, peak, at::ones_like(peak));
  return at::where(peak > 0, flat / safe, at::zeros_like(flat)).view(map.sizes());
}

SaliencyResult grad_cam(ModelImpl& model, const at::Tensor& x, const std::string& layer, int64_t target) {
  CT_CHECK(x.defined() && (x.dim() == 3 || x.dim() == 4), ShapeError, who(model),
           ": Grad-CAM takes (B, C, L) or (B, C, H, W) inputs, got ",
           x.defined() ? str_cat("shape ", x.sizes()) : std::string("nothing"));
  EvalGuard eval(model);
  at::AutoGradMode grad_on(true);
  // Gradients flow to the layer even when every parameter is frozen.
  const at::Tensor input = x.detach().to(at::kFloat).requires_grad_(true);
  CaptureSession session(layer.empty() ? std::vector<std::string>{} : std::vector<std::string>{layer});
  const at::Tensor output = model.forward(input);

  at::Tensor act;
  std::string name = layer;
  auto is_map = [&](const at::Tensor& a) { return a.defined() && a.dim() == x.dim() && a.size(0) == x.size(0); };
  if (layer.empty()) {
    // The last map with a spatial extent: the last conv stage, not the global pool after it
    // (which is a map of one position). Tiny inputs may leave only 1-position maps.
    for (int pass = 0; pass < 2 && !act.defined(); ++pass)
      for (auto it = session.recorded().rbegin(); it != session.recorded().rend(); ++it) {
        const at::Tensor& a = it->second;
        if (is_map(a) && a.requires_grad() && (pass == 1 || a[0][0].numel() > 1)) {
          act = a;
          name = it->first;
          break;
        }
      }
    CT_CHECK(act.defined(), ConfigError, who(model), " offers no feature map for Grad-CAM",
             session.seen().empty() ? " (its forward calls no models::capture(); see docs/saliency.md)"
                                    : str_cat(" (layers it offers: ", join(session.seen()), ")"));
  } else {
    act = session.get(layer, who(model));
    if (!is_map(act)) {
      throw ConfigError(str_cat(who(model), ": layer '", layer, "' gives shape ", act.sizes(),
                                ", not a feature map (B, C, ", x.dim() == 3 ? "L" : "H, W",
                                "); pick a conv stage (layers: ", join(session.seen()), ")"));
    }
    CT_CHECK(act.requires_grad(), ConfigError, who(model), ": layer '", layer,
             "' does not depend on the input through differentiable operations");
  }

  const at::Tensor scores = class_scores(output);
  const at::Tensor targets = resolve_targets(scores, target);
  const at::Tensor score = scores.gather(1, targets.unsqueeze(1)).sum();
  const at::Tensor grad = torch::autograd::grad({score}, {act}, /*grad_outputs=*/{}, /*retain_graph=*/false,
                                                /*create_graph=*/false, /*allow_unused=*/true)[0];
  CT_CHECK(grad.defined(), ConfigError, who(model), ": the output does not depend on layer '", name, "'");

  at::NoGradGuard no_grad;
  std::vector<int64_t> spatial;
  for (int64_t d = 2; d < act.dim(); ++d) spatial.push_back(d);
  const at::Tensor weights = grad.mean(spatial, /*keepdim=*/true);
  at::Tensor cam = at::relu((weights * act.detach()).sum(1, /*keepdim=*/true));
  namespace F = torch::nn::functional;
  std::vector<int64_t> size(x.sizes().begin() + 2, x.sizes().end());
  F::InterpolateFuncOptions up;
  up.size(size).align_corners(false);
  if (x.dim() == 3) up.mode(torch::kLinear);
  else up.mode(torch::kBilinear);
  cam = F::interpolate(cam, up).squeeze(1);
  SaliencyResult r;
  r.map = normalize_per_sample(cam).contiguous();
  r.scores = scores.detach();
  r.target = targets;
  r.method = "gradcam";
  r.layer = name;
  return r;
}

at::Tensor fuse_heads(const at::Tensor& attention, const std::string& how) {
  CT_CHECK(attention.defined() && attention.dim() == 4 && attention.size(2) == attention.size(3), ShapeError,
           "attention maps must be (B, heads, N, N), got ",
           attention.defined() ? str_cat("shape ", attention.sizes()) : std::string("nothing"));
  check_fusion(how);
  if (how == "max") return std::get<0>(attention.max(1));
  if (how == "min") return std::get<0>(attention.min(1));
  return attention.mean(1);
}

namespace {

at::Tensor patch_relevance(const at::Tensor& a, int64_t prefix) {
  const int64_t n = a.size(-1);
  CT_CHECK(prefix >= 0 && prefix < n, ShapeError, "token prefix ", prefix, " leaves no patch tokens among ", n);
  // With a cls token its row says what the model pooled; without one, average over queries.
  const at::Tensor row = prefix > 0 ? a.select(1, 0) : a.mean(1);
  return row.slice(1, prefix);
}

}  // namespace

at::Tensor attention_rollout(const std::vector<at::Tensor>& attentions, int64_t prefix, const std::string& head_fusion,
                             double discard_ratio) {
  CT_CHECK(!attentions.empty(), ShapeError, "attention rollout needs the attention maps of at least one block");
  CT_CHECK(discard_ratio >= 0 && discard_ratio < 1, ConfigError, "discard_ratio must be in [0, 1), got ",
           discard_ratio);
  at::NoGradGuard no_grad;
  at::Tensor rollout;
  for (const auto& att : attentions) {
    at::Tensor a = fuse_heads(att.detach().to(at::kDouble), head_fusion);
    const int64_t b = a.size(0), n = a.size(1);
    if (rollout.defined())
      CT_CHECK(n == rollout.size(1) && b == rollout.size(0), ShapeError,
               "attention maps of different blocks disagree in shape: ", att.sizes(), " vs (", b, ", ?, ", n, ", ", n,
               ")");
    if (discard_ratio > 0) {
      const int64_t k = static_cast<int64_t>(static_cast<double>(n * n) * discard_ratio);
      if (k > 0) {
        at::Tensor flat = a.reshape({b, n * n}).clone();
        const at::Tensor low = std::get<1>(flat.topk(k, 1, /*largest=*/false));
        flat.scatter_(1, low, 0.0);
        a = flat.view({b, n, n});
      }
    }
    a = a + at::eye(n, a.options()).unsqueeze(0);
    a = a / a.sum(-1, /*keepdim=*/true);
    rollout = rollout.defined() ? at::bmm(a, rollout) : a;
  }
  return patch_relevance(rollout, prefix).to(at::kFloat);
}

at::Tensor last_block_attention(const std::vector<at::Tensor>& attentions, int64_t prefix,
                                const std::string& head_fusion) {
  CT_CHECK(!attentions.empty(), ShapeError, "last-block attention needs the attention maps of at least one block");
  at::NoGradGuard no_grad;
  return patch_relevance(fuse_heads(attentions.back().detach().to(at::kFloat), head_fusion), prefix);
}

at::Tensor tokens_to_samples(const at::Tensor& relevance, const TokenLayout& layout, int64_t length) {
  CT_CHECK(layout.valid() && layout.patch_len > 0, ShapeError, "the model's token layout (rows ", layout.rows,
           ", cols ", layout.cols, ", patch_len ", layout.patch_len, ") does not map tokens onto samples");
  CT_CHECK(relevance.dim() == 2 && relevance.size(1) == layout.rows * layout.cols, ShapeError, "token relevance ",
           relevance.sizes(), " does not match the token layout ", layout.rows, " x ", layout.cols);
  CT_CHECK(length > 0, ShapeError, "signal length must be > 0, got ", length);
  const int64_t b = relevance.size(0);
  at::Tensor m = relevance.reshape({b, layout.rows, layout.cols}).repeat_interleave(layout.patch_len, 2);
  const int64_t covered = m.size(2);
  if (covered > length) m = m.slice(2, 0, length);
  else if (covered < length) m = at::cat({m, at::zeros({b, layout.rows, length - covered}, m.options())}, 2);
  return layout.rows == 1 ? m.squeeze(1).contiguous() : m.contiguous();
}

namespace {

class GradCamMethod final : public SaliencyMethod {
 public:
  explicit GradCamMethod(GradCamOptions o) : o_(std::move(o)) {}
  SaliencyResult explain(ModelImpl& model, const at::Tensor& x, int64_t target) override {
    return grad_cam(model, x, o_.layer, target);
  }

 private:
  GradCamOptions o_;
};

// The attention methods share everything but the reduction over blocks.
class TokenMethod : public SaliencyMethod {
 public:
  SaliencyResult explain(ModelImpl& model, const at::Tensor& x, int64_t target) override {
    const TokenLayout layout = model.token_layout();
    CT_CHECK(layout.valid(), ConfigError, who(model),
             " has no attention maps (not a token model); use the gradcam method");
    CT_CHECK(x.defined() && x.dim() == 3, ShapeError, who(model), ": attention saliency takes (B, C, L) inputs, got ",
             x.defined() ? str_cat("shape ", x.sizes()) : std::string("nothing"));
    EvalGuard eval(model);
    at::NoGradGuard no_grad;
    const std::vector<at::Tensor> maps = model.attention_maps(x);
    CT_CHECK(!maps.empty(), ConfigError, who(model), " gives no attention maps; use the gradcam method");
    SaliencyResult r;
    r.scores = class_scores(model.forward(x)).detach();
    r.target = resolve_targets(r.scores, target);
    r.class_specific = false;
    r.map = normalize_per_sample(tokens_to_samples(relevance(maps, layout.prefix), layout, x.size(2)));
    r.method = method();
    r.layer = str_cat(method() == "rollout" ? "rollout over " : "last of ", maps.size(), " blocks");
    return r;
  }

 protected:
  virtual std::string method() const = 0;
  virtual at::Tensor relevance(const std::vector<at::Tensor>& maps, int64_t prefix) const = 0;
};

class LastBlockMethod final : public TokenMethod {
 public:
  explicit LastBlockMethod(AttentionSaliencyOptions o) : o_(std::move(o)) {}

 protected:
  std::string method() const override { return "attention"; }
  at::Tensor relevance(const std::vector<at::Tensor>& maps, int64_t prefix) const override {
    return last_block_attention(maps, prefix, o_.head_fusion);
  }

 private:
  AttentionSaliencyOptions o_;
};

class RolloutMethod final : public TokenMethod {
 public:
  explicit RolloutMethod(RolloutOptions o) : o_(std::move(o)) {}

 protected:
  std::string method() const override { return "rollout"; }
  at::Tensor relevance(const std::vector<at::Tensor>& maps, int64_t prefix) const override {
    return attention_rollout(maps, prefix, o_.head_fusion, o_.discard_ratio);
  }

 private:
  RolloutOptions o_;
};

SaliencyPtr make_gradcam(const GradCamOptions& o) { return std::make_shared<GradCamMethod>(o); }
SaliencyPtr make_attention(const AttentionSaliencyOptions& o) { return std::make_shared<LastBlockMethod>(o); }
SaliencyPtr make_rollout(const RolloutOptions& o) { return std::make_shared<RolloutMethod>(o); }

}  // namespace

CT_REGISTER(saliency_registry(), "gradcam", (options_factory<SaliencyMethod, GradCamOptions>(make_gradcam)),
            "Grad-CAM over a named layer of a CNN (1-D ECG or 2-D image models)")
CT_REGISTER(saliency_registry(), "attention",
            (options_factory<SaliencyMethod, AttentionSaliencyOptions>(make_attention)),
            "the last transformer block's attention to the patch tokens (token models)")
CT_REGISTER(saliency_registry(), "rollout", (options_factory<SaliencyMethod, RolloutOptions>(make_rollout)),
            "attention rollout over every transformer block (Abnar & Zuidema 2020; token models)")

}  // namespace cardiotorch::models
