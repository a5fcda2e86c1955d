#include "cardiotorch/augment/leads.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/registry.h"

namespace cardiotorch::augment {

void OnLeadsOptions::validate() const {
  CT_CHECK(leads.empty() != indices.empty(), ConfigError,
           "give the leads either by name (leads: [MLII]) or by position (indices: [0]), not ",
           leads.empty() ? "neither" : "both");
  CT_CHECK(!step.empty(), ConfigError, "step: missing; the step to run, e.g. {name: gaussian_noise, std: 0.05}");
  CT_CHECK(std::set<std::string>(leads.begin(), leads.end()).size() == leads.size(), ConfigError,
           "leads: a lead is listed twice in [", join(leads), "]");
  for (int64_t i : indices) CT_CHECK(i >= 0, ConfigError, "indices: positions are 0-based and >= 0, got ", i);
  CT_CHECK(std::set<int64_t>(indices.begin(), indices.end()).size() == indices.size(), ConfigError,
           "indices: a position is listed twice");
}

OnLeads::OnLeads(OnLeadsOptions options)
    : OptionsStep(std::move(options)), inner_(signal::build_step(options_.step.node)) {
  CT_CHECK(!inner_->is_batch_level(), ConfigError, "on_leads: step '", inner_->name(),
           "' works on whole batches and their labels (mixed labels would not describe the leads left "
           "out); put it in the pipeline itself");
}

void OnLeads::apply(SignalBatch& batch, StepContext& ctx) const {
  check_signal(batch.x, name());
  CT_CHECK(batch.x.dim() >= 2, ShapeError, "on_leads: expected a signal shaped (..., leads, samples), got ",
           batch.x.sizes());
  const int64_t axis = batch.x.dim() - 2, n_leads = batch.x.size(axis);
  std::vector<int64_t> pos = options_.indices;
  if (!options_.leads.empty()) {
    CT_CHECK(!batch.leads.empty(), ShapeError, "on_leads: the signal carries no lead names to find [",
             join(options_.leads), "] in; give indices instead");
    for (const auto& l : options_.leads) {
      auto it = std::find(batch.leads.begin(), batch.leads.end(), l);
      CT_CHECK(it != batch.leads.end(), ShapeError, "on_leads: no lead '", l, "' in the signal's leads [",
               join(batch.leads), "]");
      pos.push_back(it - batch.leads.begin());
    }
  }
  for (int64_t p : pos)
    CT_CHECK(p < n_leads, ShapeError, "on_leads: lead position ", p, " is out of range for a signal of ", n_leads,
             " leads");

  at::Tensor index = at::tensor(pos, at::kLong).to(batch.x.device());
  SignalBatch sub;
  sub.x = batch.x.index_select(axis, index);
  sub.fs = batch.fs;
  if (batch.leads.size() == static_cast<size_t>(n_leads))
    for (int64_t p : pos) sub.leads.push_back(batch.leads[p]);
  const std::vector<int64_t> shape = sub.x.sizes().vec();
  inner_->apply(sub, ctx);
  CT_CHECK(sub.x.sizes() == at::IntArrayRef(shape) && sub.fs == batch.fs, ShapeError, "on_leads: step '",
           inner_->name(), "' changed the selected leads' shape from ", at::IntArrayRef(shape), " to ", sub.x.sizes(),
           " (or their rate); only steps that keep the shape can run on a subset of leads");
  // index_copy out of place: the caller's tensor is never written (pipeline.h, "Buffers").
  batch.x = batch.x.index_copy(axis, index, sub.x.to(batch.x.scalar_type()));
}

CT_REGISTER(signal::augmenter_registry(), "on_leads", (make_from_options<OnLeads, OnLeadsOptions>),
            "runs a step on a subset of the leads (e.g. noise on the ECG channels, not the RR features)");

}  // namespace cardiotorch::augment
