#include "cardiotorch/augment/mixing.h"

#include <cmath>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/registry.h"
#include "common.h"

namespace cardiotorch::augment {

namespace {
// (B) -> (B, 1, ..., 1) with `dims` dims in all, so it broadcasts over one batch element.
at::Tensor per_element(const at::Tensor& v, int64_t dims) {
  std::vector<int64_t> shape(static_cast<size_t>(dims), 1);
  shape[0] = v.size(0);
  return v.reshape(shape);
}

void check_labels(const SignalBatch& batch, int64_t b, const std::string& step) {
  if (!batch.y.defined()) return;
  CT_CHECK(batch.y.scalar_type() == at::kFloat || batch.y.scalar_type() == at::kDouble, ShapeError, step,
           ": labels must be float32/float64 multi-hot or soft labels, got ", batch.y.scalar_type());
  CT_CHECK(batch.y.dim() >= 2 && batch.y.size(0) == b, ShapeError, step,
           ": labels shaped (batch, ..., classes) with batch ", b, " expected, got ", batch.y.sizes());
}

// The draws both mixers share, in a fixed order so a seed gives the same pairs.
struct Pairing {
  at::Tensor chosen;  // (B) bool, CPU
  at::Tensor perm;    // (B) int64, CPU
  at::Tensor lam;     // (B) float64, CPU
};

Pairing draw_pairing(int64_t b, double p, double alpha, at::Generator& gen) {
  Pairing out;
  out.chosen = detail::uniform({b}, 0.0, 1.0, gen).lt(p);
  out.perm = at::randperm(b, gen, at::TensorOptions().dtype(at::kLong));
  out.lam = detail::beta(b, alpha, gen);
  return out;
}
}  // namespace

// ---------------------------------------------------------------------------------------
void MixupOptions::validate() const {
  check_probability(p, "p");
  CT_CHECK(std::isfinite(alpha) && alpha > 0, ConfigError, "alpha must be > 0, got ", alpha);
}

void Mixup::apply(SignalBatch& batch, StepContext& ctx) const {
  check_signal(batch.x, name());
  const at::Tensor& x = batch.x;
  if (x.dim() < 3 || x.size(0) < 2 || options_.p <= 0 || x.numel() == 0) return;
  const int64_t b = x.size(0);
  check_labels(batch, b, name());
  at::Generator gen = generator_of(ctx);
  Pairing pr = draw_pairing(b, options_.p, options_.alpha, gen);
  if (!pr.chosen.any().item<bool>()) return;
  // Signal and labels may live on different devices: move the draws to each.
  auto mix = [&](const at::Tensor& t) {
    at::Tensor w = per_element(detail::like(pr.lam, t), t.dim());
    at::Tensor mixed = t * w + t.index_select(0, pr.perm.to(t.device())) * (1.0 - w);
    return at::where(per_element(pr.chosen.to(t.device()), t.dim()), mixed, t);
  };
  batch.x = mix(x);
  if (batch.y.defined()) batch.y = mix(batch.y);
}

// ---------------------------------------------------------------------------------------
void CutmixOptions::validate() const {
  check_probability(p, "p");
  CT_CHECK(std::isfinite(alpha) && alpha > 0, ConfigError, "alpha must be > 0, got ", alpha);
}

void Cutmix::apply(SignalBatch& batch, StepContext& ctx) const {
  check_signal(batch.x, name());
  const at::Tensor& x = batch.x;
  if (x.dim() < 3 || x.size(0) < 2 || options_.p <= 0 || x.numel() == 0) return;
  const int64_t b = x.size(0), n = x.size(-1);
  check_labels(batch, b, name());
  at::Generator gen = generator_of(ctx);
  Pairing pr = draw_pairing(b, options_.p, options_.alpha, gen);
  at::Tensor cut = (1.0 - pr.lam).mul_(static_cast<double>(n)).round_().to(at::kLong);
  at::Tensor start = detail::randint_below(n - cut + 1, gen);
  cut = at::where(pr.chosen, cut, at::zeros_like(cut));
  if (!cut.gt(0).any().item<bool>()) return;
  at::Tensor perm = pr.perm.to(x.device());
  at::Tensor t = at::arange(n, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
  at::Tensor span = (t.ge(start.unsqueeze(1)) & t.lt((start + cut).unsqueeze(1))).to(x.device());  // (B, n)
  at::Tensor flat = x.reshape({b, -1, n});
  batch.x = at::where(span.unsqueeze(1), flat.index_select(0, perm), flat).reshape(x.sizes());
  if (batch.y.defined()) {
    // The label weight of the partner is the fraction of samples that were actually replaced.
    const at::Tensor& y = batch.y;
    at::Tensor r = per_element(detail::like(cut.to(at::kDouble) / static_cast<double>(n), y), y.dim());
    batch.y = y * (1.0 - r) + y.index_select(0, pr.perm.to(y.device())) * r;
    batch.y = at::where(per_element(cut.gt(0).to(y.device()), y.dim()), batch.y, y);
  }
}

// ---------------------------------------------------------------------------------------
void LabelSmoothOptions::validate() const {
  check_probability(p, "p");
  CT_CHECK(std::isfinite(smoothing) && smoothing >= 0 && smoothing <= 1, ConfigError,
           "smoothing must be in [0, 1], got ", smoothing);
}

void LabelSmooth::apply(SignalBatch& batch, StepContext& ctx) const {
  CT_CHECK(batch.y.defined(), ShapeError,
           "label_smooth needs labels (batch.y shaped (..., classes)), but the batch has none");
  const at::Tensor& y = batch.y;
  CT_CHECK(y.scalar_type() == at::kFloat || y.scalar_type() == at::kDouble, ShapeError,
           "label_smooth: labels must be float32/float64, got ", y.scalar_type());
  CT_CHECK(y.dim() >= 1 && y.size(-1) >= 1, ShapeError, "label_smooth: labels shaped (..., classes) expected, got ",
           y.sizes());
  if (options_.p <= 0 || y.numel() == 0) return;
  const int64_t classes = y.size(-1);
  at::Tensor rows = y.reshape({-1, classes});
  at::Generator gen = generator_of(ctx);
  at::Tensor chosen = detail::uniform({rows.size(0), 1}, 0.0, 1.0, gen).lt(options_.p).to(y.device());
  const double eps = options_.smoothing;
  at::Tensor smoothed = rows * (1.0 - eps) + eps / static_cast<double>(classes);
  batch.y = at::where(chosen, smoothed, rows).reshape(y.sizes());
}

CT_REGISTER(signal::augmenter_registry(), "mixup", (make_from_options<Mixup, MixupOptions>),
            "convex mix of batch pairs, labels mixed with the same weights");
CT_REGISTER(signal::augmenter_registry(), "cutmix", (make_from_options<Cutmix, CutmixOptions>),
            "pastes a partner's time span; label weight = replaced fraction");
CT_REGISTER(signal::augmenter_registry(), "label_smooth", (make_from_options<LabelSmooth, LabelSmoothOptions>),
            "label smoothing y*(1-eps) + eps/K (needs labels)");

}  // namespace cardiotorch::augment
