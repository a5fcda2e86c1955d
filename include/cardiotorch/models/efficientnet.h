#pragma once
// 1-D EfficientNet (Tan & Le 2019) and EfficientNetV2 (Tan & Le 2021), stubs in torch_ecg
// (models/cnn/efficientnet.py raises NotImplementedError). Module names follow torchvision's
// EfficientNet, the reference PyTorch implementation, with 1-D convolutions:
//
//   features.0             stem: conv (stride 2) + BN + SiLU          (features.0.0, features.0.1)
//   features.<1..S>        stages; block j of a stage is features.<i>.<j>.block:
//       MBConv:      [expand 1x1 (when expansion != 1)], depthwise k, SE (fc1, fc2), project 1x1
//       FusedMBConv: [fused k conv (expansion x width), project 1x1] or one k conv (expansion 1)
//   features.<S+1>         head: 1x1 conv + BN + SiLU (head_num_filters; 0 = none)
// Residual blocks (stride 1, same width) add their input through stochastic depth: in training
// each sample's residual branch is dropped with probability drop_path_rate x block index /
// blocks (the "row" mode of torchvision.ops.stochastic_depth), the kept ones scaled by 1/(1-p).
// The squeeze-and-excitation width is se_ratio x the block's input width (at least 1).
//
// Compound scaling: widths are width_multiplier x the stage widths rounded to a multiple of
// `divisor` (never below 90 % of the scaled value), layers ceil(depth_multiplier x num_layers).
// Presets: efficientnet_b0 (torchvision's B0 stages: MBConv, kernels 3/5, 5.3 M-parameter 2-D
// net), efficientnet_b1 (depth x1.1), efficientnet_v2_s (Fused-MBConv stages then MBConv with
// SE, BatchNorm eps 1e-3). Kernel lengths are given at base_fs; ECG inputs may want longer
// kernels than the image defaults (set stages[i].filter_length).
// Capture points: features, features.<i>, features.<i>.<j>, features.<i>.<j>.block.<k>.
#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/staged_backbone.h"

namespace cardiotorch::models {

struct EfficientNetStageOptions {
  std::string block = "mbconv";
  double expansion = 6.0;
  int64_t filter_length = 3;
  int64_t stride = 1;
  int64_t out_channels = 16;
  int64_t num_layers = 1;
  double se_ratio = 0.25;
  template <class V>
  void fields(V& v) {
    v("block", block, "mbconv (expand, depthwise, SE, project) | fused_mbconv (one fused conv, project)");
    v("expansion", expansion, "expansion ratio of the block's hidden width");
    v("filter_length", filter_length, "kernel of the depthwise (or fused) convolution at base_fs");
    v("stride", stride, "stride of the stage's first block");
    v("out_channels", out_channels, "output width of the stage (before width_multiplier)");
    v("num_layers", num_layers, "blocks of the stage (before depth_multiplier)");
    v("se_ratio", se_ratio, "squeeze-and-excitation width / block input width; 0 = no SE (mbconv only)");
  }
  void validate() const;
};

struct EfficientNetOptions {
  int64_t stem_num_filters = 32;
  int64_t stem_filter_length = 3;
  int64_t stem_stride = 2;
  std::vector<EfficientNetStageOptions> stages;
  int64_t head_num_filters = -1;
  double width_multiplier = 1.0;
  double depth_multiplier = 1.0;
  int64_t divisor = 8;
  std::string activation = "silu";
  double norm_eps = 1e-5;
  double drop_path_rate = 0.2;
  double base_fs = 500.0;
  template <class V>
  void fields(V& v) {
    v("stem_num_filters", stem_num_filters, "width of the stem convolution (before width_multiplier)");
    v("stem_filter_length", stem_filter_length, "kernel of the stem convolution at base_fs");
    v("stem_stride", stem_stride, "stride of the stem convolution");
    v("stages", stages, "the stages, in order");
    v("head_num_filters", head_num_filters,
      "width of the 1x1 head convolution; -1 = 4 x the last stage's, 0 = no head");
    v("width_multiplier", width_multiplier, "compound scaling of the widths");
    v("depth_multiplier", depth_multiplier, "compound scaling of the layers per stage");
    v("divisor", divisor, "widths are rounded to a multiple of this");
    v("activation", activation, "activation of every convolution but the projections");
    v("norm_eps", norm_eps, "BatchNorm epsilon (1e-5 for V1, 1e-3 for V2 as in torchvision)");
    v("drop_path_rate", drop_path_rate, "stochastic depth of the last block (linear from 0 over the blocks)");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
  }
  void validate() const;

  static EfficientNetOptions efficientnet_b0();
  static EfficientNetOptions efficientnet_b1();
  static EfficientNetOptions efficientnet_v2_s();
};

/// torchvision's _make_divisible: `v` rounded to a multiple of `divisor`, at least divisor and
/// at least 90 % of v.
int64_t make_divisible(double v, int64_t divisor);

class EfficientNetImpl : public StagedBackboneImpl {
 public:
  EfficientNetImpl(const EfficientNetOptions& options, const ModelContext& context);
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;

 private:
  EfficientNetOptions options_;
  std::shared_ptr<BlockSequenceImpl> features_;
};

}  // namespace cardiotorch::models
