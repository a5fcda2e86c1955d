#pragma once
// torchvision's ResNet in 2-D, for cardiac MRI: BasicBlock (ResNet-18/34) and Bottleneck
// (ResNet-50/101/152, ResNeXt, wide ResNets; stride on the 3x3 conv as torchvision's "v1.5").
//
// Parameter names, construction order and initialisation are torchvision's, so a torchvision
// state dict loads as it is and, after the same torch::manual_seed / torch.manual_seed, the
// freshly built weights are bit-identical to torchvision.models.resnet18() (tests check both):
//
//   conv1 bn1 relu maxpool layer1..layer4 avgpool fc
//   layerK.N.{conv1,bn1,conv2,bn2[,conv3,bn3]}  layerK.0.downsample.{0,1}
//
// Registered as backbones `resnet18_2d` and `resnet50_2d` (presets of one options struct).
// forward() is torchvision's (logits from `fc`, or the pooled (B, D) features when
// num_classes is 0); forward_features() is the layer4 map (B, D, h, w) and embed() its spatial
// mean. Every child's output is a capture point under its own name ("layer4", ...), for
// Grad-CAM (models/capture.h).
//
// Input channels: torchvision's nets take RGB. `in_channels` builds conv1 for another count
// (ACDC frames are grey: 1); `repeat_grey` keeps a 3-channel conv1 (so RGB checkpoints load)
// and repeats a 1-channel input to 3 channels, which is exactly what adapt_input_conv() does
// to the weights instead.
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/models/model.h"

namespace cardiotorch::models {

struct ResNet2dOptions {
  std::string block = "basic";  ///< basic | bottleneck
  std::vector<int64_t> layers = {2, 2, 2, 2};
  int64_t base_planes = 64;         ///< planes of layer1; layer k has base_planes * 2^(k-1)
  int64_t groups = 1;               ///< grouped 3x3 convs (bottleneck only; ResNeXt)
  int64_t width_per_group = 64;     ///< bottleneck width per group (wide ResNet: 128)
  int64_t in_channels = 3;          ///< image channels (RGB as torchvision); 0 = the data's
  bool repeat_grey = false;         ///< 3-channel conv1 fed a 1-channel input repeated
  int64_t num_classes = -1;         ///< -1 = the context's (1000 without one), 0 = no fc
  bool zero_init_residual = false;  ///< last BN of each block starts at 0 (torchvision's flag)

  static ResNet2dOptions resnet18();
  static ResNet2dOptions resnet50();

  template <class V>
  void fields(V& v) {
    v("block", block, "residual block: basic (ResNet-18/34) or bottleneck (ResNet-50 and up)");
    v("layers", layers, "blocks in layer1..layer4");
    v("base_planes", base_planes, "planes of layer1 (torchvision: 64); doubled in each later layer");
    v("groups", groups, "groups of the bottleneck's 3x3 conv (ResNeXt: 32)");
    v("width_per_group", width_per_group, "bottleneck width per group (64; ResNeXt 4, wide ResNet 128)");
    v("in_channels", in_channels, "image channels (3 for RGB checkpoints); 0 = from the data (build context)");
    v("repeat_grey", repeat_grey, "keep a 3-channel conv1 and repeat a 1-channel (grey) input to RGB");
    v("num_classes", num_classes, "outputs of fc; -1 = from the data (1000 without one), 0 = no fc");
    v("zero_init_residual", zero_init_residual, "initialise the last BN of each block to zero");
  }
  void validate() const;
};

/// conv3x3 -> BN -> ReLU -> conv3x3 -> BN, + identity or downsample, ReLU.
class BasicBlock2dImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlock2dImpl(int64_t inplanes, int64_t planes, int64_t stride, torch::nn::Sequential downsample);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock2d);

/// conv1x1 -> conv3x3 (stride, groups) -> conv1x1 (x4), + identity or downsample, ReLU.
class Bottleneck2dImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck2dImpl(int64_t inplanes, int64_t planes, int64_t stride, torch::nn::Sequential downsample, int64_t groups,
                   int64_t width_per_group);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck2d);

class ResNet2dImpl final : public ModelImpl {
 public:
  /// `context` supplies in_channels / num_classes where the options leave them to it.
  explicit ResNet2dImpl(const ResNet2dOptions& options, const ModelContext& context = {});

  at::Tensor forward(const at::Tensor& x) override;
  at::Tensor forward_features(const at::Tensor& x) override;
  at::Tensor embed(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  Shape features_shape(const Shape& input) const override;
  int64_t embed_dim() const override { return embed_dim_; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;
  Shape input_shape() const override;

  const ResNet2dOptions& options() const { return options_; }
  /// Classes of fc (0 without one).
  int64_t num_classes() const { return num_classes_; }
  /// Channels conv1 was built for (3 with repeat_grey).
  int64_t conv1_channels() const { return conv1_channels_; }

  // torchvision's children, in its order (public for models reusing the trunk, e.g. CMR).
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::ReLU relu{nullptr};
  torch::nn::MaxPool2d maxpool{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::AdaptiveAvgPool2d avgpool{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  at::Tensor run_trunk(const at::Tensor& x);  // conv1 .. layer4, with capture points
  ResNet2dOptions options_;
  int64_t num_classes_ = 0, conv1_channels_ = 3, embed_dim_ = 0;
};

/// The input a 2-D ResNet trunk takes: checks (B, C, H, W) against `in_channels` (naming `who`
/// and the options that fit a mismatch) and repeats a grey input to RGB when `repeat_grey`.
at::Tensor prepare_image_input(const at::Tensor& x, int64_t in_channels, bool repeat_grey, const std::string& who);

/// (B, C, h, w) after each torchvision ResNet stage for an input (B, C, H, W): conv1, maxpool,
/// layer1..layer4 (-1 sizes stay -1). `widths` are the channels after each of those stages.
std::vector<Shape> resnet2d_stage_shapes(const Shape& input, const std::vector<int64_t>& widths);

/// The first conv's weight of a checkpoint made to take `in_channels` inputs. 3 -> 1 sums the
/// RGB kernels: on a grey image that is exactly the RGB net fed the grey image repeated to 3
/// channels (what repeat_grey does at run time). Equal counts pass through; any other pair
/// throws ShapeError naming `key` and the options that fit (in_channels, repeat_grey).
at::Tensor adapt_input_conv(const at::Tensor& weight, int64_t in_channels, const std::string& key = "conv1.weight");

}  // namespace cardiotorch::models
