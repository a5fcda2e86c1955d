#pragma once
// A downstream model: any registered encoder (backbone, ViT, or a task model used through its
// embed()) plus a new head, with the parameter names "encoder.*" and "head.*".
//
//   pooled      head(encoder.embed(x)): (B, C) class logits or regression outputs
//   localized   head applied to every position of encoder.forward_localized(x): (B, C, N)
//               per-position logits (segmentation; the objective interpolates N to the label length)
//
// The head is a Linear layer (after optional dropout), or for a linear probe the MAE anchor's
// BatchNorm1d(D, affine=False, eps=1e-6) + Linear. A frozen encoder stays in eval mode while
// the head trains (its BatchNorm statistics and dropout do not move). Layer ids for lr decay
// are the encoder's (its LayerGroups or the name rule); the head gets the top id.
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/models/model.h"
#include "cardiotorch/train/optim.h"

namespace cardiotorch::train {

struct DownstreamOptions {
  bool localized = false;  ///< per-position head (segmentation) instead of a pooled one
  bool probe = false;      ///< BatchNorm(affine=False) + Linear (linear probing)
  double dropout = 0.0;    ///< before the Linear layer
  int64_t outputs = 1;     ///< classes / targets
};

class DownstreamModelImpl : public models::ModelImpl, public LayerGroups {
 public:
  DownstreamModelImpl(models::ModelPtr encoder, const DownstreamOptions& options);

  at::Tensor forward(const at::Tensor& x) override;
  at::Tensor forward_features(const at::Tensor& x) override { return encoder_->forward_features(x); }
  at::Tensor forward_localized(const at::Tensor& x) override { return encoder_->forward_localized(x); }
  at::Tensor embed(const at::Tensor& x) override { return encoder_->embed(x); }
  models::Shape output_shape(const models::Shape& input) const override;
  models::Shape features_shape(const models::Shape& input) const override { return encoder_->features_shape(input); }
  int64_t embed_dim() const override { return encoder_->embed_dim(); }
  models::Shape input_shape() const override { return encoder_->input_shape(); }
  std::vector<at::Tensor> attention_maps(const at::Tensor& x) override { return encoder_->attention_maps(x); }
  models::TokenLayout token_layout() const override { return encoder_->token_layout(); }
  std::string summary() const override;

  /// Keeps a frozen encoder in eval mode.
  void train(bool on = true) override;
  /// Freezes every encoder parameter (linear probing); the encoder then stays in eval mode.
  void freeze_encoder();

  int64_t num_layers() const override;
  int64_t layer_id(const std::string& param_name) const override;

  models::ModelImpl& encoder() { return *encoder_; }
  const DownstreamOptions& options() const { return options_; }

 private:
  models::ModelPtr encoder_;
  torch::nn::Linear linear_{nullptr};
  torch::nn::Sequential probe_{nullptr};  // BatchNorm1d + the Linear layer (MAE's linprobe names head.0, head.1)
  DownstreamOptions options_;
  bool frozen_ = false;
  LayerAssignment encoder_layers_;
  std::vector<std::string> encoder_names_;
};

}  // namespace cardiotorch::train
