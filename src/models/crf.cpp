#include "cardiotorch/models/crf.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/error.h"

namespace cardiotorch::models {

CRFImpl::CRFImpl(int64_t num_tags) : num_tags_(num_tags) {
  CT_CHECK(num_tags > 0, ConfigError, "CRF: num_tags must be positive, got ", num_tags);
  start_transitions = register_parameter("start_transitions", at::empty({num_tags}));
  end_transitions = register_parameter("end_transitions", at::empty({num_tags}));
  transitions = register_parameter("transitions", at::empty({num_tags, num_tags}));
  at::NoGradGuard no_grad;
  start_transitions.uniform_(-0.1, 0.1);
  end_transitions.uniform_(-0.1, 0.1);
  transitions.uniform_(-0.1, 0.1);
}

// The mask as bool (B, L); all-true when not given.
at::Tensor CRFImpl::check(const at::Tensor& e, const at::Tensor& mask, const at::Tensor* tags) const {
  CT_CHECK(e.dim() == 3 && e.size(2) == num_tags_, ShapeError, "CRF: expected emissions (batch, steps, ", num_tags_,
           "), got shape ", e.sizes());
  CT_CHECK(e.size(1) >= 1, ShapeError, "CRF: emissions have no steps (shape ", e.sizes(), ")");
  CT_CHECK(at::isFloatingType(e.scalar_type()), ShapeError, "CRF: emissions must be floating point, got ",
           e.scalar_type());
  if (tags) {
    CT_CHECK(tags->dim() == 2 && tags->size(0) == e.size(0) && tags->size(1) == e.size(1), ShapeError,
             "CRF: tags must be (batch, steps) = (", e.size(0), ", ", e.size(1), "), got shape ", tags->sizes());
    CT_CHECK(!at::isFloatingType(tags->scalar_type()), ShapeError, "CRF: tags must be integers, got ",
             tags->scalar_type());
  }
  at::Tensor m = mask.defined() ? mask : at::ones({e.size(0), e.size(1)}, e.options().dtype(at::kBool));
  CT_CHECK(m.dim() == 2 && m.size(0) == e.size(0) && m.size(1) == e.size(1), ShapeError,
           "CRF: mask must be (batch, steps) = (", e.size(0), ", ", e.size(1), "), got shape ", m.sizes());
  m = m.to(at::kBool);
  CT_CHECK(m.select(1, 0).all().item<bool>(), ArgumentError,
           "CRF: the mask's first step must be on for every sequence");
  if (tags) {
    // Tags beyond the mask are never read; the valid ones must name a tag.
    const at::Tensor valid = tags->masked_select(m);
    if (valid.numel() > 0)
      CT_CHECK(valid.min().item<int64_t>() >= 0 && valid.max().item<int64_t>() < num_tags_, ArgumentError,
               "CRF: tags must be in [0, ", num_tags_, "), got values in [", valid.min().item<int64_t>(), ", ",
               valid.max().item<int64_t>(), "]");
  }
  return m;
}

at::Tensor CRFImpl::score(const at::Tensor& e, const at::Tensor& tags_in, const at::Tensor& mask) const {
  const at::Tensor m = check(e, mask, &tags_in);
  const at::Tensor fm = m.to(e.scalar_type());
  // Steps outside the mask may hold any value: point them at tag 0 so every gather is in range.
  const at::Tensor tags = tags_in.to(at::kLong).masked_fill(m.logical_not(), 0);
  const int64_t len = e.size(1);
  // Emissions of the chosen tags, (B, L), only on valid steps.
  at::Tensor s = (e.gather(2, tags.unsqueeze(2)).squeeze(2) * fm).sum(1);
  s = s + start_transitions.index_select(0, tags.select(1, 0));
  if (len > 1) {
    const at::Tensor from = tags.slice(1, 0, len - 1), to = tags.slice(1, 1, len);
    const at::Tensor trans =
        transitions.reshape(-1).index_select(0, (from * num_tags_ + to).reshape(-1)).view(from.sizes());
    s = s + (trans * fm.slice(1, 1, len)).sum(1);
  }
  const at::Tensor last = m.to(at::kLong).sum(1) - 1;  // index of each sequence's last valid step
  s = s + end_transitions.index_select(0, tags.gather(1, last.unsqueeze(1)).squeeze(1));
  return s;
}

at::Tensor CRFImpl::log_partition(const at::Tensor& e, const at::Tensor& mask) const {
  const at::Tensor m = check(e, mask, nullptr);
  at::Tensor alpha = start_transitions.unsqueeze(0) + e.select(1, 0);  // (B, T)
  for (int64_t t = 1; t < e.size(1); ++t) {
    // (B, T_prev, 1) + (T_prev, T_next) + (B, 1, T_next), summed out over the previous tag.
    const at::Tensor next =
        at::logsumexp(alpha.unsqueeze(2) + transitions.unsqueeze(0) + e.select(1, t).unsqueeze(1), 1);
    alpha = at::where(m.select(1, t).unsqueeze(1), next, alpha);
  }
  return at::logsumexp(alpha + end_transitions.unsqueeze(0), 1);
}

at::Tensor CRFImpl::nll(const at::Tensor& e, const at::Tensor& tags, const at::Tensor& mask,
                        const std::string& reduction) const {
  check_choice("reduction", reduction, {"none", "sum", "mean", "token_mean"});
  const at::Tensor m = check(e, mask, &tags);
  const at::Tensor out = log_partition(e, m) - score(e, tags, m);
  if (reduction == "none") return out;
  if (reduction == "sum") return out.sum();
  if (reduction == "mean") return out.mean();
  return out.sum() / m.sum().to(out.scalar_type());
}

at::Tensor CRFImpl::decode(const at::Tensor& e_in, const at::Tensor& mask) const {
  at::NoGradGuard no_grad;
  const at::Tensor m = check(e_in, mask, nullptr);
  const at::Tensor e = e_in.detach();
  const int64_t batch = e.size(0), len = e.size(1);
  at::Tensor best = start_transitions.detach().unsqueeze(0) + e.select(1, 0);  // (B, T)
  std::vector<at::Tensor> history;  // history[t - 1][b, j]: the best previous tag for tag j at step t
  history.reserve(static_cast<size_t>(len));
  for (int64_t t = 1; t < len; ++t) {
    const auto mx = (best.unsqueeze(2) + transitions.detach().unsqueeze(0) + e.select(1, t).unsqueeze(1)).max(1);
    best = at::where(m.select(1, t).unsqueeze(1), std::get<0>(mx), best);
    history.push_back(std::get<1>(mx));
  }
  best = best + end_transitions.detach().unsqueeze(0);
  const at::Tensor last_tag = best.argmax(1).cpu();
  const at::Tensor ends = (m.to(at::kLong).sum(1) - 1).cpu();
  at::Tensor out = at::full({batch, len}, -1, at::TensorOptions().dtype(at::kLong));
  const at::Tensor hist = len > 1 ? at::stack(history).cpu().contiguous() : at::empty({0, batch, num_tags_}, at::kLong);
  auto o = out.accessor<int64_t, 2>();
  auto h = hist.accessor<int64_t, 3>();
  auto endv = ends.accessor<int64_t, 1>();
  auto lastv = last_tag.accessor<int64_t, 1>();
  for (int64_t b = 0; b < batch; ++b) {
    int64_t tag = lastv[b];
    o[b][endv[b]] = tag;
    for (int64_t t = endv[b]; t >= 1; --t) {
      tag = h[t - 1][b][tag];
      o[b][t - 1] = tag;
    }
  }
  return out.to(e.device());
}

at::Tensor CRFImpl::decode_one_hot(const at::Tensor& e, const at::Tensor& mask) const {
  const at::Tensor tags = decode(e, mask);
  const at::Tensor valid = tags.ge(0);
  return at::one_hot(tags.clamp_min(0), num_tags_).to(e.scalar_type()) * valid.unsqueeze(2).to(e.scalar_type());
}

ExtendedCRFImpl::ExtendedCRFImpl(int64_t in_features, int64_t num_tags, bool bias)
    : in_features_(in_features), num_tags_(num_tags) {
  CT_CHECK(in_features > 0, ConfigError, "CRF head: in_features must be positive, got ", in_features);
  if (in_features != num_tags)
    proj_ = register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(in_features, num_tags).bias(bias)));
  crf_ = register_module("crf", std::make_shared<CRFImpl>(num_tags));
}

at::Tensor ExtendedCRFImpl::emissions(const at::Tensor& f) {
  CT_CHECK(f.dim() == 3 && f.size(2) == in_features_, ShapeError, "CRF head: expected features (batch, steps, ",
           in_features_, "), got shape ", f.sizes());
  return proj_ ? proj_->forward(f) : f;
}

at::Tensor crf_nll(const CRFImpl& crf, const at::Tensor& emissions, const at::Tensor& tags, const at::Tensor& mask,
                   const std::string& reduction) {
  return crf.nll(emissions, tags, mask, reduction);
}

at::Tensor crf_decode(const CRFImpl& crf, const at::Tensor& emissions, const at::Tensor& mask) {
  return crf.decode(emissions, mask);
}

}  // namespace cardiotorch::models
