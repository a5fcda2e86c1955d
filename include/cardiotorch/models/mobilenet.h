#pragma once
// 1-D MobileNet V1, V2 and V3 (torch_ecg models/cnn/mobilenet.py) with torch_ecg's config
// keys, module names and presets mobilenet_v1, mobilenet_v2, mobilenet_v3 (torch_ecg's
// mobilenet_v1_vanilla, mobilenet_v2_vanilla, mobilenet_v3_small).
//
//   V1: init_convs -> entry_flow / middle_flow / exit_flow of depthwise-separable convolutions
//       (separable_conv_<i>.{depthwise_conv, pointwise_conv}, each a ConvBnActivation).
//   V2: stem -> inverted residual blocks inv_res_<k> (numbered through all stages; each
//       main_stream.{expansion, depthwise_conv, pointwise_conv}, residual when the stride is 1
//       and the width is kept) -> exit_flow.
//   V3: stem.{init_conv, inv_res_<i>} -> block_<i>.inv_res_<j> with per-stage activations,
//       dilations and attention (SE) -> exit_flow.
//
// Kernel lengths are given at base_fs (torch_ecg's fs 500) and rescaled for other rates.
// Capture points: every stage by its module name (init_convs, entry_flow, ..., inv_res_3,
// block_2, block_2.inv_res_0.main_stream.depthwise_conv, exit_flow).
//
// Differences from torch_ecg (parameter counts and shapes of its configs unchanged):
//  - the top-level `ordering` applies to V1's separable convolutions (torch_ecg never passes it
//    on, so its flows always use cba);
//  - an attention block of an inverted residual is sized by the channels where it sits
//    (torch_ecg used the block input's channels after the expansion and pointwise convolutions,
//    which only worked for position 2 after an expansion); its position is inv_res.attn_pos
//    (torch_ecg: `pos` inside the attention config);
//  - V3 takes one expansion, width, kernel, dilation and activation per stage (torch_ecg also
//    accepts per-block lists);
//  - a list-valued exit_flow.num_filters builds convolutions on the last block's output
//    (torch_ecg passed the network input's channels there and failed);
//  - one value in init_num_filters / stem.num_filters builds a single ConvBnActivation named as
//    the stage (torch_ecg does so for an int; a one-element list gave <stage>.cba_0).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/staged_backbone.h"

namespace cardiotorch::models {

// --- MobileNet V1 ---------------------------------------------------------------------------

struct MobileNetFlowOptions {
  std::vector<int64_t> out_channels;
  std::vector<int64_t> filter_lengths{15};
  std::vector<int64_t> subsample_lengths{1};
  std::vector<int64_t> dilations{1};
  int64_t groups = 1;
  std::string batch_norm = "true";
  std::string activation = "relu6";
  template <class V>
  void fields(V& v) {
    v("out_channels", out_channels, "output channels of each separable convolution");
    v("filter_lengths", filter_lengths, "depthwise kernel at base_fs (one or one per convolution)");
    v("subsample_lengths", subsample_lengths, "depthwise stride (one or one per convolution)");
    v("dilations", dilations, "depthwise dilation (one or one per convolution)");
    v("groups", groups, "groups of the pointwise convolutions");
    v("batch_norm", batch_norm, "normalisation: true, false or a norm name");
    v("activation", activation, "activation after the depthwise and the pointwise convolution");
  }
  void validate() const;
};

struct MobileNetV1Options {
  int64_t groups = 1;
  std::string batch_norm = "true";
  std::string activation = "relu6";
  int64_t depth_multiplier = 1;
  double width_multiplier = 1.0;
  bool bias = true;
  std::string ordering = "cba";
  std::vector<int64_t> init_num_filters{36};
  std::vector<int64_t> init_filter_lengths{27};
  std::vector<int64_t> init_subsample_lengths{2};
  MobileNetFlowOptions entry_flow, middle_flow, exit_flow;
  double base_fs = 500.0;
  template <class V>
  void fields(V& v) {
    v("groups", groups, "groups of the initial convolutions");
    v("batch_norm", batch_norm, "normalisation of the initial convolutions: true, false or a norm name");
    v("activation", activation, "activation of the initial convolutions");
    v("depth_multiplier", depth_multiplier, "depthwise output channels = input channels x depth_multiplier");
    v("width_multiplier", width_multiplier, "scales every output width");
    v("bias", bias, "convolutions with bias");
    v("ordering", ordering, "order of conv (c), norm (b), activation (a) in the separable convolutions");
    v("init_num_filters", init_num_filters, "initial convolution widths (one: a single conv named init_convs)");
    v("init_filter_lengths", init_filter_lengths, "initial kernels at base_fs (one or one per conv)");
    v("init_subsample_lengths", init_subsample_lengths, "initial strides (one or one per conv)");
    v("entry_flow", entry_flow, "entry flow of separable convolutions");
    v("middle_flow", middle_flow, "middle flow of separable convolutions");
    v("exit_flow", exit_flow, "exit flow of separable convolutions");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
  }
  void validate() const;
  static MobileNetV1Options mobilenet_v1();
};

class MobileNetV1Impl : public StagedBackboneImpl {
 public:
  MobileNetV1Impl(const MobileNetV1Options& options, const ModelContext& context);

 private:
  MobileNetV1Options options_;
};

// --- shared by V2 and V3 --------------------------------------------------------------------

struct MobileNetStemOptions {
  std::vector<int64_t> num_filters{48};
  std::vector<int64_t> filter_lengths{27};
  std::vector<int64_t> subsample_lengths{2};
  template <class V>
  void fields(V& v) {
    v("num_filters", num_filters,
      "stem widths (V2: one = a single conv; V3: the first is init_conv, the rest "
      "inverted residuals)");
    v("filter_lengths", filter_lengths, "stem kernels at base_fs (one or one per conv; V3 takes one)");
    v("subsample_lengths", subsample_lengths, "stem strides (one or one per conv; V3 takes one)");
  }
  void validate() const;
};

struct MobileNetExitOptions {
  std::vector<int64_t> num_filters{1536};
  std::vector<int64_t> filter_lengths{19};
  std::vector<int64_t> subsample_lengths{2};
  template <class V>
  void fields(V& v) {
    v("num_filters", num_filters, "exit convolution widths (one = a single conv named exit_flow)");
    v("filter_lengths", filter_lengths, "exit kernels at base_fs (one or one per conv)");
    v("subsample_lengths", subsample_lengths, "exit strides (one or one per conv)");
  }
  void validate() const;
};

/// The top level of V2 and V3 (stem -> inverted residual stages `InvRes` -> exit flow): the same
/// keys in the same order; the default activation and two help texts differ.
template <class InvRes>
struct MobileNetInvResNetOptions {
  int64_t groups = 1;
  std::string batch_norm = "true";
  std::string activation;
  double width_multiplier = 1.0;
  bool bias = true;
  MobileNetStemOptions stem;
  InvRes inv_res;
  MobileNetExitOptions exit_flow;
  double base_fs = 500.0;

 protected:
  explicit MobileNetInvResNetOptions(std::string default_activation) : activation(std::move(default_activation)) {}
  template <class V>
  void fields(V& v, const char* groups_doc, const char* activation_doc) {
    v("groups", groups, groups_doc);
    v("batch_norm", batch_norm, "normalisation: true, false or a norm name");
    v("activation", activation, activation_doc);
    v("width_multiplier", width_multiplier, "scales the stem and the projections (the exit flow by at least 1)");
    v("bias", bias, "stem and exit convolutions with bias");
    v("stem", stem, "the stem");
    v("inv_res", inv_res, "the inverted residual stages");
    v("exit_flow", exit_flow, "the exit convolution(s)");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
  }
  /// `one_stem_kernel`: V3's stem takes one filter length and one subsample length.
  void validate_common(bool one_stem_kernel) const;
};

/// What one inverted residual block needs (MobileNetV2/V3's InvertedResidual).
struct InvertedResidualArgs {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  double expansion = 1.0;
  int64_t filter_length = 3;
  int64_t stride = 1;
  int64_t dilation = 1;
  int64_t groups = 1;
  std::string norm = "batch_norm";
  std::string activation = "relu6";
  double width_multiplier = 1.0;
  BlockConfig attn;
  int64_t attn_pos = -1;
  double fs = 500.0;
};

/// 1x1 expansion (when expansion != 1) -> depthwise conv -> linear 1x1 projection, with an
/// optional attention block at position attn_pos (counting expansion, depthwise, projection and
/// the attention itself, as torch_ecg does) and an identity shortcut when the stride is 1 and the
/// width is kept. Submodules main_stream.{expansion, depthwise_conv, <attn name>, pointwise_conv}.
class InvertedResidualImpl : public BlockImpl {
 public:
  explicit InvertedResidualImpl(const InvertedResidualArgs& args);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  int64_t out_channels() const { return out_channels_; }

 private:
  int64_t in_channels_, out_channels_;
  bool residual_ = false;
  BlockSequence main_stream_;
};

// --- MobileNet V2 ---------------------------------------------------------------------------

struct MobileNetV2InvResOptions {
  std::vector<double> expansions{1, 6, 6, 6, 6, 6, 6};
  std::vector<int64_t> out_channels{24, 36, 48, 72, 96, 240, 480};
  std::vector<int64_t> n_blocks{1, 2, 3, 4, 3, 3, 1};
  std::vector<int64_t> strides{1, 2, 2, 2, 1, 2, 1};
  std::vector<int64_t> filter_lengths{15};
  template <class V>
  void fields(V& v) {
    v("expansions", expansions, "expansion ratio of each stage (one or one per stage)");
    v("out_channels", out_channels, "output width of each stage");
    v("n_blocks", n_blocks, "inverted residual blocks of each stage");
    v("strides", strides, "stride of each stage's first block (one or one per stage)");
    v("filter_lengths", filter_lengths, "depthwise kernel of each stage at base_fs (one or one per stage)");
  }
  void validate() const;
};

struct MobileNetV2Options : MobileNetInvResNetOptions<MobileNetV2InvResOptions> {
  MobileNetV2Options() : MobileNetInvResNetOptions("relu6") {}
  template <class V>
  void fields(V& v) {
    MobileNetInvResNetOptions::fields(v, "groups of the stem, the 1x1 convolutions and the exit flow",
                                      "activation of every convolution but the projections");
  }
  void validate() const { validate_common(/*one_stem_kernel=*/false); }
  static MobileNetV2Options mobilenet_v2();
};

class MobileNetV2Impl : public StagedBackboneImpl {
 public:
  MobileNetV2Impl(const MobileNetV2Options& options, const ModelContext& context);

 private:
  MobileNetV2Options options_;
};

// --- MobileNet V3 ---------------------------------------------------------------------------

struct MobileNetV3InvResOptions {
  std::vector<int64_t> n_blocks{1, 2, 5, 3};
  std::vector<double> expansions{4};
  std::vector<int64_t> out_channels{48, 96, 192, 384};
  std::vector<int64_t> strides{2};
  std::vector<int64_t> filter_lengths{11, 11, 17, 17};
  std::vector<int64_t> dilations{1};
  std::vector<std::string> activations{"relu", "relu", "hardswish", "hardswish"};
  int64_t groups = 1;
  std::vector<BlockConfig> attns;
  std::vector<int64_t> attn_pos{2};
  template <class V>
  void fields(V& v) {
    v("n_blocks", n_blocks, "inverted residual blocks of each stage");
    v("expansions", expansions, "expansion ratio of each stage (one or one per stage)");
    v("out_channels", out_channels, "output width of each stage (one or one per stage)");
    v("strides", strides, "stride of each stage's first block (one or one per stage)");
    v("filter_lengths", filter_lengths, "depthwise kernel at base_fs (one or one per stage)");
    v("dilations", dilations, "depthwise dilation (one or one per stage; > 1 forces stride 1)");
    v("activations", activations, "activation of each stage (one or one per stage)");
    v("groups", groups, "groups of the 1x1 convolutions");
    v("attns", attns, "attention block of each stage's blocks, ~ for none (one or one per stage)");
    v("attn_pos", attn_pos,
      "position of the attention: 0 before the expansion, then after each conv (one or per stage)");
  }
  void validate() const;
};

struct MobileNetV3Options : MobileNetInvResNetOptions<MobileNetV3InvResOptions> {
  MobileNetV3Options() : MobileNetInvResNetOptions("relu") {}
  template <class V>
  void fields(V& v) {
    MobileNetInvResNetOptions::fields(v, "groups of the stem and the exit flow",
                                      "activation of the stem and the exit flow");
  }
  void validate() const { validate_common(/*one_stem_kernel=*/true); }
  static MobileNetV3Options mobilenet_v3();
};

class MobileNetV3Impl : public StagedBackboneImpl {
 public:
  MobileNetV3Impl(const MobileNetV3Options& options, const ModelContext& context);

 private:
  MobileNetV3Options options_;
};

}  // namespace cardiotorch::models
