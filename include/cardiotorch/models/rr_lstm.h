#pragma once
// RR_LSTM (torch_ecg models/rr_lstm.py): an LSTM over an RR-interval series (or any per-beat
// feature series) for atrial-fibrillation detection and other rhythm labelling:
//
//   input (B, C, L) (C = 1 for RR intervals; torch_ecg's batch_first layout)
//     -> lstm (StackedLSTM, bidirectional [200])
//     -> attn (se | gc | nl | ... | none) -> global pool (max | avg | none)
//     -> clf: crf  (a projection + a linear-chain CRF, models/crf.h): per-step emissions (B, L, K)
//             linear (an MLP): pooled (B, K) or per step (B, L, K)
//
// Presets (torch_ecg's configs): rr_lstm (RR_LSTM_CONFIG: SE + CRF), rr_af_crf (RR_AF_CRF_CONFIG:
// CRF, no attention), rr_af_vanilla (RR_AF_VANILLA_CONFIG: max pool + linear, one label per input).
//
// With a CRF head, forward() returns the emission scores (B, L, K), differentiable; the
// training loss is crf()->nll(emissions, tags, mask) and predictions are decode(x) (Viterbi).
// (torch_ecg's forward returns the one-hot Viterbi path, which has no gradient; that is
// decode_one_hot(x) here.) RrLstmImpl is a CrfModel, so a training loop finds the CRF through
// that interface.
//
// State dict (torch_ecg's): lstm.bidirectional_lstm_<i>.*, attn.*, clf.lin_<i>.* (linear) or
// clf.proj.*, clf.crf.{start_transitions, end_transitions, transitions} (crf).
//
// Differences from torch_ecg: with retseq false torch_ecg silently switches a CRF head to linear
// and drops attention and pooling; here a CRF head or an attention without a sequence is a
// ConfigError (global pooling is skipped: there is nothing to pool).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/blocks/sequence.h"
#include "cardiotorch/models/crf.h"
#include "cardiotorch/models/ecg_crnn.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::models {

/// The head: `crf` (projection + CRF) or `linear` (an MLP ending in the classes).
struct RrLstmHeadOptions {
  std::string name = "crf";
  bool proj_bias = true;
  std::vector<int64_t> out_channels{50};
  bool bias = true;
  std::vector<double> dropouts{0.1};
  std::string activation = "relu";
  template <class V>
  void fields(V& v) {
    v("name", name, "crf (per-step CRF over projected features) | linear (MLP)");
    v("proj_bias", proj_bias, "crf: the projection to the tags has a bias");
    v("out_channels", out_channels, "linear: hidden widths before the class layer");
    v("bias", bias, "linear: layers with biases");
    v("dropouts", dropouts, "linear: dropout after each hidden layer (one value) or per layer");
    v("activation", activation, "linear: activation after each hidden layer");
  }
  void validate() const;
};

struct RrLstmOptions {
  int64_t in_channels = 1;
  LstmStageOptions lstm;
  AttentionConfig attn;
  std::string global_pool = "none";
  int64_t global_pool_size = 1;
  RrLstmHeadOptions clf;
  std::vector<std::string> classes;
  RrLstmOptions();
  template <class V>
  void fields(V& v) {
    v("in_channels", in_channels, "features per step (1: RR intervals)");
    v("lstm", lstm, "the LSTM stack");
    v("attn", attn, "attention block over the LSTM outputs, or ~ (none)");
    v("global_pool", global_pool, "max | avg (one label per input; linear head) | none (one label per step)");
    v("global_pool_size", global_pool_size, "positions kept by the pooling");
    v("clf", clf, "the head: crf or linear");
    v("classes", classes, "class names; empty = the class count of the data");
  }
  void validate() const;

  static RrLstmOptions rr_lstm();
  static RrLstmOptions rr_af_crf();
  static RrLstmOptions rr_af_vanilla();
};

class RrLstmImpl : public ModelImpl, public CrfModel {
 public:
  RrLstmImpl(const RrLstmOptions& options, const ModelContext& context);

  /// Per-step emissions (B, L, K) (crf, or linear without pooling), or (B, K) (pooled / no retseq).
  at::Tensor forward(const at::Tensor& x) override;
  /// The features entering the head: (B, C, L) per step, (B, D) pooled.
  at::Tensor forward_features(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  Shape features_shape(const Shape& input) const override;
  int64_t embed_dim() const override;
  Shape input_shape() const override { return {kUnknown, in_channels_, kUnknown}; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;

  CRFImpl* crf() override { return crf_ ? crf_->crf().get() : nullptr; }
  /// Viterbi tag paths (B, L) (CRF head); the per-step argmax of the logits for a linear head
  /// without pooling. ConfigError for a pooled head (no sequence to label).
  at::Tensor decode(const at::Tensor& x, const at::Tensor& mask = {});
  /// decode() one-hot, (B, L, K): torch_ecg's RR_LSTM output with a CRF head.
  at::Tensor decode_one_hot(const at::Tensor& x, const at::Tensor& mask = {});
  int64_t num_classes() const { return num_classes_; }

 private:
  at::Tensor head_input(const at::Tensor& features) const;
  Shape features_of(const Shape& input) const;

  std::string global_pool_;
  int64_t global_pool_size_ = 1;
  bool sequence_ = true;
  int64_t num_classes_ = 0, feature_channels_ = 0;
  std::shared_ptr<LstmStageImpl> lstm_;
  BlockPtr attn_;
  MLP linear_;
  ExtendedCRF crf_;
};

}  // namespace cardiotorch::models
