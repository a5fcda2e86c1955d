#pragma once
// on_leads: runs one pipeline step on a subset of the leads (channels) and leaves the others
// bit-identical. For samples whose channels are not all signal: the MIT-BIH beat windows carry
// RR-interval channels beside the ECG lead, which noise or wander would corrupt.
//
//   augment:
//     - {name: on_leads, leads: [MLII, MLII-median], step: {name: gaussian_noise, p: 0.3, std: 0.05}}
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/augment/augmenter.h"

namespace cardiotorch::augment {

struct OnLeadsOptions {
  std::vector<std::string> leads;  ///< lead names, looked up in the signal's lead list
  std::vector<int64_t> indices;    ///< or lead positions (0-based); exactly one of the two
  signal::StepConfig step;         ///< the wrapped step (any preprocessor or per-sample augmenter)
  template <class V>
  void fields(V& v) {
    v("leads", leads, "names of the leads the step sees (the signal must carry lead names)");
    v("indices", indices, "or their 0-based positions along the lead axis (give leads or indices)");
    v("step", step, "the step to run on those leads: {name: ..., options}");
  }
  void validate() const;
};

/// Selects the leads, runs the wrapped step on them as a signal of its own (same leading dims,
/// fs and lead names, so per-slice draws and probabilities are the step's own) and writes them
/// back; the labels pass through. An augmentation when the wrapped step is one. Batch-level steps
/// (mixup, cutmix, label_smooth) are refused: they change labels, which would then no longer
/// describe the leads left out.
class OnLeads : public signal::OptionsStep<OnLeadsOptions> {
 public:
  explicit OnLeads(OnLeadsOptions options);
  std::string name() const override { return "on_leads"; }
  void apply(SignalBatch& batch, StepContext& ctx) const override;
  bool is_augmentation() const override { return inner_->is_augmentation(); }
  bool needs_fs() const override { return inner_->needs_fs(); }
  const signal::Step& inner() const { return *inner_; }

 private:
  std::shared_ptr<signal::Step> inner_;
};

}  // namespace cardiotorch::augment
