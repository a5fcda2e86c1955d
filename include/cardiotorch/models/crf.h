#pragma once
// Linear-chain conditional random field (Lafferty et al. 2001) over per-step emission scores,
// with torch_ecg's parameter names (models/_nets.py CRF / ExtendedCRF), batch-first:
//
//   emissions (B, L, T) scores of T tags at each of L steps; tags (B, L) int64 in [0, T);
//   mask (B, L) bool, true for the valid steps of each sequence, a prefix (the first step on).
//
//   score(y)      = start[y_0] + sum_t emissions[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t] + end[y_last]
//   log Z         = logsumexp over every tag path of score (forward algorithm)
//   nll           = log Z - score(tags)          (the training loss; reduction none | sum | mean | token_mean)
//   decode        = argmax over tag paths of score (Viterbi)
//
// State dict: start_transitions (T), end_transitions (T), transitions (T, T) with
// transitions[i, j] the score of moving from tag i to tag j; initialised U(-0.1, 0.1) as torch_ecg.
// ExtendedCRF adds `proj` (a Linear from the features to T) when the feature width is not T.
//
// A training loop reaches the CRF of a model through the CrfModel interface:
//
//   if (auto* crf = dynamic_cast<models::CrfModel*>(model.get()); crf && crf->crf()) {
//     at::Tensor emissions = model->forward(x);            // (B, L, T)
//     loss = crf->crf()->nll(emissions, tags, mask);       // instead of a cross-entropy
//     at::Tensor paths = crf->crf()->decode(emissions);    // (B, L) for the metrics
//   }
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <memory>
#include <string>

namespace cardiotorch::models {

class CRFImpl : public torch::nn::Module {
 public:
  explicit CRFImpl(int64_t num_tags);
  int64_t num_tags() const { return num_tags_; }

  /// Negative log-likelihood of `tags` given `emissions` (see the top). `reduction`: none (B,),
  /// sum, mean (over sequences) or token_mean (sum / valid steps). ShapeError / ArgumentError for
  /// inconsistent shapes, tags out of range or a mask whose first step is off.
  at::Tensor nll(const at::Tensor& emissions, const at::Tensor& tags, const at::Tensor& mask = {},
                 const std::string& reduction = "mean") const;
  /// score(tags) per sequence, (B,).
  at::Tensor score(const at::Tensor& emissions, const at::Tensor& tags, const at::Tensor& mask = {}) const;
  /// log Z per sequence, (B,).
  at::Tensor log_partition(const at::Tensor& emissions, const at::Tensor& mask = {}) const;
  /// The best tag path (B, L) int64; steps outside the mask are -1.
  at::Tensor decode(const at::Tensor& emissions, const at::Tensor& mask = {}) const;
  /// decode() one-hot encoded, (B, L, T) float (torch_ecg's CRF.forward); zero outside the mask.
  at::Tensor decode_one_hot(const at::Tensor& emissions, const at::Tensor& mask = {}) const;

  at::Tensor start_transitions, end_transitions, transitions;

 private:
  at::Tensor check(const at::Tensor& emissions, const at::Tensor& mask, const at::Tensor* tags) const;
  int64_t num_tags_;
};
using CRF = std::shared_ptr<CRFImpl>;

/// A Linear projection to the tags (`proj`, only when in_features != num_tags) then a CRF (`crf`).
class ExtendedCRFImpl : public torch::nn::Module {
 public:
  ExtendedCRFImpl(int64_t in_features, int64_t num_tags, bool bias = true);
  /// Emission scores (B, L, T) of features (B, L, in_features).
  at::Tensor emissions(const at::Tensor& features);
  const CRF& crf() const { return crf_; }

 private:
  int64_t in_features_, num_tags_;
  torch::nn::Linear proj_{nullptr};
  CRF crf_;
};
using ExtendedCRF = std::shared_ptr<ExtendedCRFImpl>;

/// A model whose head is a CRF: forward() gives emission scores (B, L, T) and crf() scores them.
class CrfModel {
 public:
  virtual ~CrfModel() = default;
  /// The CRF head, or nullptr when this configuration has none (a linear head).
  virtual CRFImpl* crf() = 0;
};

/// Free-function forms of CRFImpl::nll / decode.
at::Tensor crf_nll(const CRFImpl& crf, const at::Tensor& emissions, const at::Tensor& tags, const at::Tensor& mask = {},
                   const std::string& reduction = "mean");
at::Tensor crf_decode(const CRFImpl& crf, const at::Tensor& emissions, const at::Tensor& mask = {});

}  // namespace cardiotorch::models
