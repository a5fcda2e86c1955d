#pragma once
// ECG_FCN: a fully-convolutional network over any registered 1-D backbone. torch_ecg ships
// models/ecg_fcn.py fully commented out (no public names) pointing at torchvision's
// segmentation FCN; this is that design in 1-D:
//
//   backbone (B, C, L')  ->  classifier: conv k (C -> C/4, no bias) -> BN -> ReLU -> dropout
//                            -> conv 1 (C/4 -> K)          = per-position class logits (B, K, L')
//   then one of
//     global_pool none   (segmentation) linear interpolation (align_corners false, torchvision's
//                        rule) back to the input length, channel-last (B, L, K) like the other
//                        sequence models; recover_length false keeps (B, L', K)
//     global_pool avg    (classification) the mean of the logit maps, (B, K): global average
//                        pooling then a linear layer, which is what the 1x1 convolution is
//     global_pool max    the largest logit of each class over positions, (B, K) (multiple-
//                        instance style: a class is present if it shows anywhere)
//
// No dense layer depends on the input length, so one model runs on every length.
//
// State dict (torchvision's FCN names): backbone.*, classifier.{0 (conv), 1 (BN), 4 (conv)}.
// Capture points: backbone (and its own points as backbone.<name>), classifier (the logit map).
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::models {

struct EcgFcnOptions {
  BackboneConfig backbone = BackboneConfig::named("resnet_nature_comm");
  int64_t head_channels = 0;
  int64_t head_kernel = 3;
  double dropout = 0.1;
  std::string global_pool = "none";
  bool recover_length = true;
  std::vector<std::string> classes;
  template <class V>
  void fields(V& v) {
    v("backbone", backbone, "the fully-convolutional feature extractor");
    v("head_channels", head_channels, "channels of the head's first convolution; 0 = backbone channels / 4");
    v("head_kernel", head_kernel, "kernel of the head's first convolution (odd)");
    v("dropout", dropout, "dropout before the class convolution");
    v("global_pool", global_pool, "none (per-position labels) | avg | max (one label per input)");
    v("recover_length", recover_length, "global_pool none: interpolate the labels back to the input length");
    v("classes", classes, "class names; empty = the class count of the data");
  }
  void validate() const;
};

class EcgFcnImpl : public ModelImpl {
 public:
  EcgFcnImpl(const EcgFcnOptions& options, const ModelContext& context);
  at::Tensor forward(const at::Tensor& x) override;
  /// The backbone's feature map (B, C, L').
  at::Tensor forward_features(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  Shape features_shape(const Shape& input) const override;
  int64_t embed_dim() const override { return feature_channels_; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;
  /// Per-position class logits (B, K, L') at the backbone's resolution.
  at::Tensor logit_map(const at::Tensor& x);

 private:
  std::string global_pool_;
  bool recover_length_ = true;
  int64_t num_classes_ = 0, feature_channels_ = 0;
  ModelPtr backbone_;
  torch::nn::Sequential classifier_{nullptr};
};

}  // namespace cardiotorch::models
