#pragma once
// Cardiac-MRI encoder and classifier of the seed (dl-framework's CMREncoder / CMRClassifier,
// after Turgut et al.'s MMCL-ECG-CMR).
//
// CMREncoder is a torchvision ResNet-18/50 without its fc, kept as the seed keeps it — an
// nn.Sequential of the ResNet's children — so its parameters carry the seed's names:
//
//   encoder.0 conv1   encoder.1 bn1   (2 relu, 3 maxpool)   encoder.4..7 layer1..layer4   (8 avgpool)
//
// The seed's checkpoints hold them as `encoder_imaging.<same>`: one prefix rule
// `encoder_imaging.` -> `encoder.` loads them with every key used. forward() is the pooled
// vector (B, D), D = 512 (ResNet-18) or 2048 (ResNet-50), as the seed's `.squeeze()` gives for
// B > 1 (for B = 1 the seed would drop the batch dim too; here it stays (1, D)).
//
// CMRClassifier is the same encoder (same names) plus `head`: a Linear `head` (D -> classes),
// or an MLP `head.fc1` (D -> D/4), ReLU, `head.fc2` (D/4 -> D/16), ReLU, `head.fc3` (-> classes).
// freeze_encoder stops the encoder's gradients as the seed does (BatchNorm statistics still
// update in train mode, as there; freeze_bn also keeps the encoder's BatchNorm in eval mode).
//
// The encoders are built through ResNet2dImpl with its 1000-class fc, then the fc is dropped,
// as the seed does: after the same seed their initial weights equal the seed's.
//
// Capture points (Grad-CAM): "encoder.0" .. "encoder.8" (encoder.7 is layer4), and "head".
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/models/model.h"
#include "cardiotorch/models/resnet2d.h"

namespace cardiotorch::models {

struct CmrEncoderOptions {
  std::string arch = "resnet18";  ///< resnet18 | resnet50 (the seed's backbone_model_name)
  int64_t in_channels = 3;        ///< image channels; 0 = from the data (build context)
  bool repeat_grey = false;       ///< keep the RGB conv1 and repeat a grey input to 3 channels

  template <class V>
  void fields(V& v) {
    v("arch", arch, "torchvision ResNet: resnet18 (pooled dim 512) or resnet50 (2048)");
    v("in_channels", in_channels, "image channels (3 for RGB checkpoints); 0 = from the data");
    v("repeat_grey", repeat_grey, "keep a 3-channel conv1 and repeat a 1-channel (grey) input to RGB");
  }
  void validate() const;
  /// The torchvision ResNet options of `arch` with these input channels.
  ResNet2dOptions trunk() const;
};

struct CmrClassifierOptions {
  std::string arch = "resnet18";
  int64_t in_channels = 3;
  bool repeat_grey = false;
  std::string head = "linear";  ///< linear | mlp (the seed's classifier_type)
  int64_t num_classes = 0;      ///< 0 = from the data (build context)
  bool freeze_encoder = false;  ///< no gradients into the encoder (linear probing)
  bool freeze_bn = false;       ///< with freeze_encoder: the encoder's BatchNorm stays in eval mode

  template <class V>
  void fields(V& v) {
    v("arch", arch, "torchvision ResNet: resnet18 (pooled dim 512) or resnet50 (2048)");
    v("in_channels", in_channels, "image channels (3 for RGB checkpoints); 0 = from the data");
    v("repeat_grey", repeat_grey, "keep a 3-channel conv1 and repeat a 1-channel (grey) input to RGB");
    v("head", head, "linear (D -> classes) or mlp (fc1 D -> D/4, fc2 -> D/16, fc3 -> classes, ReLU between)");
    v("num_classes", num_classes, "classes; 0 = from the data");
    v("freeze_encoder", freeze_encoder, "train the head only (the encoder gets no gradients)");
    v("freeze_bn", freeze_bn, "with freeze_encoder, keep the encoder's BatchNorm statistics fixed (eval mode)");
  }
  void validate() const;
  CmrEncoderOptions encoder() const;
};

/// The seed's `nn.Sequential(*list(resnet.children())[:-1])` of a ResNet built from `trunk`
/// (its fc is built, for the random-number order, and dropped). `list` holds the children
/// under "0".."8" (a ModuleList: LibTorch's Sequential cannot hold the Sequential layers);
/// the typed holders share them and run them in order.
struct CmrTrunk {
  CmrTrunk(const ResNet2dOptions& trunk, const ModelContext& context);
  /// Children 0..last on `x` (a checked, prepared image batch), each offered as "encoder.<i>".
  at::Tensor run(at::Tensor x, size_t last);

  static constexpr size_t kLayer4 = 7;
  static constexpr size_t kAvgPool = 8;

  torch::nn::ModuleList list;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::ReLU relu{nullptr};
  torch::nn::MaxPool2d maxpool{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::AdaptiveAvgPool2d avgpool{nullptr};
};

class CmrEncoderImpl final : public ModelImpl {
 public:
  CmrEncoderImpl(const CmrEncoderOptions& options, const ModelContext& context = {});
  /// Any torchvision-style trunk (tests use narrow ones); `trunk.num_classes` is ignored.
  CmrEncoderImpl(const ResNet2dOptions& trunk, const ModelContext& context = {});

  at::Tensor forward(const at::Tensor& x) override;
  at::Tensor forward_localized(const at::Tensor& x) override;
  at::Tensor embed(const at::Tensor& x) override { return forward(x); }
  Shape output_shape(const Shape& input) const override;
  int64_t embed_dim() const override { return embed_dim_; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;
  Shape input_shape() const override { return {kUnknown, in_channels_, kUnknown, kUnknown}; }
  /// MMCL checkpoints (`encoder_imaging.N.*`) and torchvision ResNets (`conv1`, `layer1`, ...).
  weights::MatchRules weight_rules() const override;

  /// Registered as "encoder" (its ModuleList).
  CmrTrunk encoder;

 private:
  at::Tensor run(const at::Tensor& x, size_t last);
  ResNet2dOptions trunk_;
  int64_t embed_dim_ = 0;
};

class CmrClassifierImpl final : public ModelImpl {
 public:
  CmrClassifierImpl(const CmrClassifierOptions& options, const ModelContext& context = {});
  /// With any torchvision-style trunk (tests).
  CmrClassifierImpl(const CmrClassifierOptions& options, const ResNet2dOptions& trunk,
                    const ModelContext& context = {});

  at::Tensor forward(const at::Tensor& x) override;
  /// The pooled encoder output (B, D), before the head.
  at::Tensor forward_features(const at::Tensor& x) override;
  at::Tensor forward_localized(const at::Tensor& x) override;
  at::Tensor embed(const at::Tensor& x) override { return forward_features(x); }
  Shape output_shape(const Shape& input) const override;
  Shape features_shape(const Shape& input) const override;
  int64_t embed_dim() const override { return embed_dim_; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;
  Shape input_shape() const override { return {kUnknown, in_channels_, kUnknown, kUnknown}; }
  /// Keeps a frozen encoder's BatchNorm in eval mode when freeze_bn is set.
  void train(bool on = true) override;
  /// As the encoder's, plus the head of a CMRClassifier checkpoint under its own name.
  weights::MatchRules weight_rules() const override;

  int64_t num_classes() const { return num_classes_; }

  /// Registered as "encoder" (its ModuleList).
  CmrTrunk encoder;
  torch::nn::Linear head_linear{nullptr};   ///< registered as "head" when head: linear
  torch::nn::Sequential head_mlp{nullptr};  ///< registered as "head" when head: mlp

 private:
  CmrClassifierOptions options_;
  at::Tensor run(const at::Tensor& x, size_t last);
  ResNet2dOptions trunk_;
  int64_t embed_dim_ = 0, num_classes_ = 0;
};

}  // namespace cardiotorch::models
