#pragma once
// Convolution blocks (torch_ecg models/_nets.py): ConvBnActivation (Conv_Bn_Activation) with
// its plain / separable / anti-aliased convolutions, BlurPool, DownSample, SpaceToDepth and
// ZeroPadding (channel padding).
//
// "Same" padding: a convolution without an explicit padding is padded p = dilation*(k-1)/2 on
// both sides; at stride 1, when dilation*(k-1) is odd (an even kernel), one more zero is
// prepended after the convolution (torch_ecg's ZeroPad1d(1, 0)) so the length is kept exactly:
//   L_out = floor((L + 2p - d(k-1) - 1) / s) + 1   (+1 in that case)
//
// State-dict names (torch_ecg's): ConvBnActivation -> conv1d.{weight,bias} (separable:
// conv1d.depthwise_conv / conv1d.pointwise_conv; anti-aliased: conv1d.conv, conv1d.aa.filt),
// batch_norm.{weight,bias,running_mean,running_var,num_batches_tracked},
// activation_<Class> (parameters only for prelu). DownSample -> down_sample[.1] (1x1 conv),
// batch_normalization. SpaceToDepth -> out_conv. BlurPool -> filt (a buffer).
#include <ATen/core/Tensor.h>
#include <torch/arg.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/blocks/layers.h"

namespace cardiotorch::models {

// --- BlurPool -------------------------------------------------------------------------------

struct BlurPoolOptions {
  BlurPoolOptions(int64_t down_scale, int64_t in_channels) : down_scale_(down_scale), in_channels_(in_channels) {}
  TORCH_ARG(int64_t, down_scale);
  TORCH_ARG(int64_t, in_channels);
  /// Length of the binomial filter, 1..16 ([1, 2, 1] / 4 for 3; torch_ecg allows 1..7).
  TORCH_ARG(int64_t, filt_size) = 3;
  /// reflect | replicate | zero
  TORCH_ARG(std::string, pad_type) = "reflect";
  TORCH_ARG(int64_t, pad_off) = 0;
};

/// Anti-aliased subsampling (Zhang 2019): a fixed binomial low-pass per channel, then stride.
class BlurPoolImpl : public BlockImpl {
 public:
  explicit BlurPoolImpl(const BlurPoolOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  const BlurPoolOptions& options() const { return options_; }

 private:
  BlurPoolOptions options_;
  int64_t pad_left_ = 0, pad_right_ = 0;
  at::Tensor filt_;  // (C, 1, filt_size) buffer, saved in the state dict
};
using BlurPool = std::shared_ptr<BlurPoolImpl>;

// --- ConvBnActivation -----------------------------------------------------------------------

struct ConvBnActivationOptions {
  ConvBnActivationOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(int64_t, stride) = 1;
  /// Unset: "same" padding (see the top of this header).
  TORCH_ARG(std::optional<int64_t>, padding) = std::nullopt;
  TORCH_ARG(int64_t, dilation) = 1;
  TORCH_ARG(int64_t, groups) = 1;
  /// batch_norm | group_norm | instance_norm | none
  TORCH_ARG(std::string, norm) = "batch_norm";
  /// An activation name (layers.h); "" = none.
  TORCH_ARG(std::string, activation) = "";
  /// cba, cb, ca, cab, bac, bc, acb, ac, bca or c (c conv, b norm, a activation). "" = "cba"
  /// without the parts that are absent. An explicit ordering must name exactly the parts
  /// that are present.
  TORCH_ARG(std::string, ordering) = "";
  /// "" (plain Conv1d) | separable (depthwise + pointwise) | aa (anti-aliased: stride-1 conv
  /// then BlurPool; alias anti_alias)
  TORCH_ARG(std::string, conv_type) = "";
  /// out_channels is scaled to int(width_multiplier * out_channels).
  TORCH_ARG(double, width_multiplier) = 1.0;
  /// separable only: depthwise channels = in_channels * depth_multiplier.
  TORCH_ARG(int64_t, depth_multiplier) = 1;
  TORCH_ARG(bool, bias) = true;
  /// An initialiser name (layers.h) for the conv weights; "" = LibTorch's default.
  TORCH_ARG(std::string, kernel_initializer) = "";
  /// aa only: the BlurPool filter length.
  TORCH_ARG(int64_t, filt_size) = 3;
};

/// Conv -> norm -> activation in any of torch_ecg's orderings.
class ConvBnActivationImpl : public BlockImpl {
 public:
  explicit ConvBnActivationImpl(const ConvBnActivationOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  const ConvBnActivationOptions& options() const { return options_; }
  /// Output channels after the width multiplier.
  int64_t out_channels() const { return out_channels_; }
  /// The effective ordering ("cba" etc.).
  const std::string& ordering() const { return ordering_; }
  int64_t padding() const { return padding_; }

 private:
  at::Tensor conv(const at::Tensor& x);
  ConvBnActivationOptions options_;
  int64_t out_channels_ = 0;
  int64_t padding_ = 0;
  bool pad_one_ = false;  // the extra ZeroPad1d(1, 0) for stride 1 and an even kernel
  std::string ordering_;
  std::shared_ptr<torch::nn::Module> norm_;
  torch::nn::Conv1d plain_{nullptr};
  std::shared_ptr<BlockImpl> composite_conv_;  // separable / anti-aliased
  Activation act_;
};
using ConvBnActivation = std::shared_ptr<ConvBnActivationImpl>;
inline ConvBnActivation make_cba(const ConvBnActivationOptions& o) { return std::make_shared<ConvBnActivationImpl>(o); }

/// Depthwise (k, groups = in_channels) then pointwise (1, groups) convolution; submodules
/// depthwise_conv, pointwise_conv (torch_ecg's SeparableConv).
class SeparableConvImpl : public BlockImpl {
 public:
  SeparableConvImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride, int64_t padding,
                    int64_t dilation, int64_t groups, bool bias, int64_t depth_multiplier = 1);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  torch::nn::Conv1d depthwise_conv{nullptr}, pointwise_conv{nullptr};

 private:
  int64_t out_, k_, stride_, padding_, dilation_;
};

/// A stride-1 convolution followed, when stride > 1, by BlurPool(stride); submodules conv, aa
/// (torch_ecg's AntiAliasConv).
class AntiAliasConvImpl : public BlockImpl {
 public:
  AntiAliasConvImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride, int64_t padding,
                    int64_t dilation, int64_t groups, bool bias, int64_t filt_size = 3);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  torch::nn::Conv1d conv{nullptr};
  BlurPool aa;

 private:
  int64_t out_, k_, padding_, dilation_;
};

// --- DownSample -----------------------------------------------------------------------------

struct DownSampleOptions {
  DownSampleOptions(int64_t down_scale, int64_t in_channels) : down_scale_(down_scale), in_channels_(in_channels) {}
  TORCH_ARG(int64_t, down_scale);
  TORCH_ARG(int64_t, in_channels);
  /// 0 = in_channels; a different count adds a 1x1 convolution (bias-free).
  TORCH_ARG(int64_t, out_channels) = 0;
  /// Pooling window; 0 = down_scale.
  TORCH_ARG(int64_t, kernel_size) = 0;
  /// Groups of the 1x1 convolution; 0 = in_channels (torch_ecg's default).
  TORCH_ARG(int64_t, groups) = 0;
  TORCH_ARG(int64_t, padding) = 0;
  /// BatchNorm1d after the subsampling.
  TORCH_ARG(bool, norm) = false;
  /// max | avg | lp | lse | conv | nearest | area | linear | blur
  TORCH_ARG(std::string, mode) = "max";
  /// blur: BlurPool filter length.
  TORCH_ARG(int64_t, filt_size) = 3;
  /// lp: the power of the LP pooling.
  TORCH_ARG(double, norm_type) = 2.0;
};

/// Subsampling by `down_scale` with an optional change of channels (torch_ecg's DownSample).
/// nearest / area / linear interpolate to exactly floor(L / down_scale) samples; lse is a
/// log-sum-exp pooling window (both raise NotImplementedError in torch_ecg).
class DownSampleImpl : public BlockImpl {
 public:
  explicit DownSampleImpl(const DownSampleOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  const DownSampleOptions& options() const { return options_; }
  static const std::vector<std::string>& modes();

 private:
  at::Tensor subsample(const at::Tensor& x);
  DownSampleOptions options_;
  int64_t out_channels_ = 0, kernel_ = 0, groups_ = 0;
  torch::nn::Sequential seq_{nullptr};  // down_sample when it is pooling + 1x1 conv
  torch::nn::Conv1d conv_{nullptr};     // the 1x1 (or strided 1x1) convolution
  BlurPool blur_;
  std::shared_ptr<torch::nn::Module> norm_;  // batch_normalization
};
using DownSample = std::shared_ptr<DownSampleImpl>;

// --- SpaceToDepth, ZeroPadding --------------------------------------------------------------

/// (B, C, L) -> (B, C * block_size, L / block_size) by folding time into channels (TResNet's
/// stem), then a 1x1 ConvBnActivation (out_conv) when C * block_size != out_channels.
class SpaceToDepthImpl : public BlockImpl {
 public:
  SpaceToDepthImpl(int64_t in_channels, int64_t out_channels, int64_t block_size = 4);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;

 private:
  int64_t in_channels_, out_channels_, block_size_;
  ConvBnActivation out_conv_;
};

/// Zero channels added at the head, the tail or both ends (torch_ecg's ZeroPadding); the
/// identity when the counts are equal.
class ZeroPaddingImpl : public BlockImpl {
 public:
  ZeroPaddingImpl(int64_t in_channels, int64_t out_channels, std::string loc = "head");
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;

 private:
  int64_t in_channels_, out_channels_;
  std::string loc_;
};

}  // namespace cardiotorch::models
