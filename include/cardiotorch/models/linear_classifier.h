#pragma once
// The seed's LinearClassifier (dl-framework src/models/linear_classifier.py): one Linear layer
// from a feature vector to class logits, parameter names `model.weight` / `model.bias`, used as
// the online linear probe of SimCLR and as a stand-alone probe over frozen embeddings.
//
// Input (B, in_features), output (B, num_classes). Initialisation as the seed's (the bias is
// zero in every case):
//   normal      weight ~ N(0, std) with std 0.001
//   xavier      xavier_normal_ with gain 0.02
//   kaiming     kaiming_normal_ (a 0, fan_in)
//   orthogonal  orthogonal_ with gain 0.02
//   default     torch.nn.Linear's own weight init
// After the same torch::manual_seed / torch.manual_seed the weights equal the seed's.
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/linear.h>

#include <string>

#include "cardiotorch/models/model.h"

namespace cardiotorch::models {

struct LinearClassifierOptions {
  int64_t in_features = 0;  ///< 0 = the build context's in_channels (the feature width)
  int64_t num_classes = 0;  ///< 0 = the build context's
  std::string init = "kaiming";
  double gain = 0.02;         ///< xavier / orthogonal gain (the seed's init_gain)
  double normal_std = 0.001;  ///< normal init's standard deviation

  template <class V>
  void fields(V& v) {
    v("in_features", in_features, "width of the input features; 0 = from the build context");
    v("num_classes", num_classes, "classes; 0 = from the data (build context)");
    v("init", init, "weight init: normal, xavier, kaiming, orthogonal or default (nn.Linear's); bias 0");
    v("gain", gain, "gain of the xavier and orthogonal inits");
    v("std", normal_std, "standard deviation of the normal init");
  }
  void validate() const;
};

class LinearClassifierImpl final : public ModelImpl {
 public:
  LinearClassifierImpl(const LinearClassifierOptions& options, const ModelContext& context = {});

  at::Tensor forward(const at::Tensor& x) override;
  /// A probe has no feature extractor: its features are its input.
  at::Tensor forward_features(const at::Tensor& x) override;
  at::Tensor embed(const at::Tensor& x) override { return forward_features(x); }
  Shape output_shape(const Shape& input) const override;
  Shape features_shape(const Shape& input) const override;
  int64_t embed_dim() const override { return in_features_; }
  std::string summary() const override;
  Shape input_shape() const override { return {kUnknown, in_features_}; }

  int64_t num_classes() const { return num_classes_; }
  /// Re-draws the weights with the configured init (and zeroes the bias).
  void reset_weights();

  torch::nn::Linear model{nullptr};

 private:
  void check(const at::Tensor& x) const;
  LinearClassifierOptions options_;
  int64_t in_features_ = 0, num_classes_ = 0;
};

}  // namespace cardiotorch::models
