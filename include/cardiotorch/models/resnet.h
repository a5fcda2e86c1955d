#pragma once
// 1-D ResNet family and RegNet (torch_ecg models/cnn/resnet.py, regnet.py) with torch_ecg's
// config keys, module names and presets.
//
//   ModelPtr net = build_model(ConfigNode::parse("{name: resnet_nature_comm_se}"), ModelContext{});
//   net->output_shape(2000, 2);   // (2, 320, 8), without running anything
//
// Config keys (ResNetOptions): num_blocks (per stage), filter_lengths and subsample_lengths
// with torch_ecg's granularity (one int for the whole net, one per stage, or one list per
// stage with one value per block; an int per stage subsamples at the stage's first block),
// num_filters (default 2^i * stem width), groups, base_width / base_groups /
// base_filter_length (bottleneck), dropouts (one or per stage), activation (stem), stem{...},
// building_block (basic | bottleneck, one or per stage), block{...} (one for all stages or a
// list per stage), base_fs.
//
// Sampling rate: kernel lengths (filter_lengths, stem.filter_lengths, base_filter_length) are
// given at `base_fs` (500 Hz, like every torch_ecg preset). Built for an input at another rate
// (ModelContext::fs), each is rescaled and made odd by adjust_kernel (torch_ecg's
// adjust_cnn_filter_lengths); base_fs 0 keeps them as given.
//
// State dict (torch_ecg's names): input_stem.{conv_0,..,pool|s2d}, then one child per block,
// ResNetBasicBlock_<stage>_<block> or ResNetBottleNeck_<stage>_<block>, each with
// main_stream.{cba_0, cba_1 | cba_head, cba_neck, cba_tail, <attn name>} and shortcut.
// RegNet: input_stem, stage_<i>.block_<i>_<j>.
//
// Differences from torch_ecg (deliberate; parameter counts and shapes are unchanged):
//  - block.dropout applies to every block of the net (torch_ecg pops it from the shared block
//    config, so it reached only the first block: resnet_stanford had dropout in block 0_0 only);
//    without block.dropout each block takes its stage's `dropouts`.
//  - the attention position is block.attn_pos (torch_ecg: attn.pos inside the attention's own
//    config), so block.attn validates against the attention block's schema.
//  - a block's output width is computed from the block itself (torch_ecg multiplies by the
//    class-level expansion 4, so a bottleneck `expansion` other than 4 broke the next stage).
//  - a shortcut projection is made whenever the block changes the width (torch_ecg made one
//    only for a stride or an increase, and crashed on a decrease).
//  - torch_ecg's TResNet configs set block-level `reduction: 4` and `pos: 2` that its blocks
//    ignore; our TResNet presets hold the values in effect (SE reduction 8 at the block end).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/blocks/conv_bn_act.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::models {

struct ResNetStemOptions {
  std::vector<int64_t> num_filters{64};
  std::vector<int64_t> filter_lengths{25};
  int64_t conv_stride = 2;
  int64_t pool_size = 3;
  int64_t pool_stride = 2;
  std::string subsample_mode = "max";
  int64_t block_size = 4;
  bool bias = true;
  std::string kernel_initializer;
  template <class V>
  void fields(V& v) {
    v("num_filters", num_filters, "output channels of each stem convolution (one or a list)");
    v("filter_lengths", filter_lengths, "kernel of each stem convolution at base_fs (one per num_filters entry)");
    v("conv_stride", conv_stride, "stride of the first stem convolution");
    v("pool_size", pool_size, "window of the stem pooling");
    v("pool_stride", pool_stride, "stride of the stem pooling; < 2 = no pooling");
    v("subsample_mode", subsample_mode,
      "stem pooling (a DownSample mode: max, avg, ...) or s2d (space-to-depth, TResNet)");
    v("block_size", block_size, "s2d: samples folded into channels");
    v("bias", bias, "stem convolutions with bias (torch_ecg: true)");
    v("kernel_initializer", kernel_initializer, "stem kernel initialiser; empty = LibTorch default (torch_ecg)");
  }
  void validate() const;
};

struct ResNetBlockOptions {
  std::string increase_channels_method = "conv";
  std::string subsample_mode = "conv";
  int64_t subsample_at = 0;
  int64_t expansion = 4;
  std::string conv_type;
  std::string activation = "relu";
  std::string kernel_initializer = "he_normal";
  bool bias = false;
  BlockConfig attn;
  int64_t attn_pos = -1;
  int64_t filt_size = 3;
  std::optional<double> dropout;
  template <class V>
  void fields(V& v) {
    v("increase_channels_method", increase_channels_method,
      "shortcut to more channels: conv (1x1 projection) | zero_padding");
    v("subsample_mode", subsample_mode, "shortcut subsampling: conv, max, avg, blur, lp, ... (DownSample modes)");
    v("subsample_at", subsample_at, "bottleneck: the conv that strides, 0 (head, ResNet) or 1 (neck, ResNet-B)");
    v("expansion", expansion, "bottleneck: output channels = num_filters * expansion");
    v("conv_type", conv_type, "convolutions: empty (plain) | separable | aa (anti-aliased)");
    v("activation", activation, "activation inside and at the end of the block");
    v("kernel_initializer", kernel_initializer, "initialiser of the block's conv kernels");
    v("bias", bias, "block convolutions with bias");
    v("attn", attn, "attention block inside the residual branch, e.g. {name: se, reduction: 8}");
    v("attn_pos", attn_pos, "where attn goes: before conv i (0, 1, 2) or -1 after the last conv");
    v("filt_size", filt_size, "blur subsampling of the shortcut: BlurPool filter length");
    v("dropout", dropout, "dropout of every block (overrides the stage dropouts); ~ = use dropouts");
  }
  void validate() const;
};

struct ResNetOptions {
  std::vector<int64_t> num_blocks{2, 2, 2, 2};
  ConfigNode filter_lengths = ConfigNode::scalar("15");
  ConfigNode subsample_lengths = ConfigNode::scalar("[1, 2, 2, 2]");
  std::vector<int64_t> num_filters;
  int64_t groups = 1;
  int64_t base_groups = 1;
  double base_width = 48.0;
  int64_t base_filter_length = 1;
  std::vector<double> dropouts{0.0};
  std::string activation = "relu";
  ResNetStemOptions stem;
  std::vector<std::string> building_block{"basic"};
  std::vector<ResNetBlockOptions> block{ResNetBlockOptions{}};
  double base_fs = 500.0;
  template <class V>
  void fields(V& v) {
    v("num_blocks", num_blocks, "building blocks per stage");
    v("filter_lengths", filter_lengths,
      "kernel at base_fs: one int, one per stage, or a list per stage with one per block");
    v("subsample_lengths", subsample_lengths, "stride: one int, one per stage (at its first block) or one per block");
    v("num_filters", num_filters, "filters per stage; empty = 2^i * stem width");
    v("groups", groups, "groups of the block convolutions (the bottleneck's neck)");
    v("base_groups", base_groups, "groups of the stem and of the bottleneck's 1x1 convolutions");
    v("base_width", base_width, "bottleneck neck width = int(num_filters * base_width / 48) * groups");
    v("base_filter_length", base_filter_length, "kernel of the bottleneck's head and tail convolutions");
    v("dropouts", dropouts, "dropout of the blocks of each stage (one or one per stage)");
    v("activation", activation, "activation of the stem");
    v("stem", stem, "input stem");
    v("building_block", building_block, "basic | bottleneck (one or one per stage)");
    v("block", block, "building-block options (one for every stage or one per stage)");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
  }
  void validate() const;

  // torch_ecg's presets (model_configs/cnn/resnet.py at fs 500, names of ECG_CRNN_CONFIG.cnn).
  static ResNetOptions resnet_18();
  static ResNetOptions resnet_34();
  static ResNetOptions resnet_50();
  static ResNetOptions resnet_101();
  static ResNetOptions resnet_152();
  static ResNetOptions resnext_50_32x4d();
  static ResNetOptions resnext_101_32x8d();
  static ResNetOptions resnet_wide_50_2();
  static ResNetOptions resnet_wide_101_2();
  static ResNetOptions resnetN();
  static ResNetOptions resnetNB();
  static ResNetOptions resnetNS();
  static ResNetOptions resnetNBS();
  static ResNetOptions resnet_nature_comm();
  static ResNetOptions resnet_nature_comm_se();
  static ResNetOptions resnet_nature_comm_gc();
  static ResNetOptions resnet_nature_comm_nl();
  static ResNetOptions resnet_nature_comm_bottle_neck();
  static ResNetOptions resnet_nature_comm_bottle_neck_se();
  static ResNetOptions resnet_nature_comm_bottle_neck_gc();
  static ResNetOptions resnet_nature_comm_bottle_neck_nl();
  static ResNetOptions tresnetF();
  static ResNetOptions tresnetP();
  static ResNetOptions tresnetN();
  static ResNetOptions tresnetS();
  static ResNetOptions tresnetM();
  static ResNetOptions tresnetL();
  static ResNetOptions tresnetXL();
  static ResNetOptions tresnetM_V2();
  static ResNetOptions resnet_cpsc2018();
  static ResNetOptions resnet_leadwise();
  static ResNetOptions resnet_stanford();
};

/// The input stem: ConvBnActivation(s) then a DownSample pooling (conv_0, .., pool), or
/// space-to-depth (s2d).
class ResNetStemImpl : public BlockSequenceImpl {
 public:
  /// `kernels` are the stem's filter lengths after any sampling-rate adjustment.
  ResNetStemImpl(int64_t in_channels, const ResNetStemOptions& options, const std::vector<int64_t>& kernels,
                 int64_t groups, const std::string& activation);
  int64_t out_channels() const { return out_channels_; }

 private:
  int64_t out_channels_ = 0;
};

/// Everything one building block needs; the net derives it per block from its options.
struct ResNetBlockArgs {
  bool bottleneck = false;
  int64_t in_channels = 0;
  int64_t num_filters = 0;
  int64_t filter_length = 0;
  int64_t subsample_length = 1;
  int64_t groups = 1;
  double base_width = 48.0;
  int64_t base_groups = 1;
  int64_t base_filter_length = 1;
  double dropout = 0.0;
  double fs = 500.0;  ///< sampling rate of the block's input (for its attention block)
};

/// ResNetBasicBlock (two convs) or ResNetBottleNeck (1x1 head, neck, 1x1 tail) with a
/// shortcut, an optional attention block, output activation and dropout.
class ResNetBlockImpl : public BlockImpl {
 public:
  ResNetBlockImpl(const ResNetBlockArgs& args, const ResNetBlockOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  int64_t out_channels() const { return out_channels_; }

 private:
  int64_t in_channels_, out_channels_;
  BlockSequence main_stream_;
  std::shared_ptr<BlockImpl> shortcut_;  // null: identity
  Activation out_activation_;
  std::shared_ptr<DropoutImpl> out_dropout_;
};
using ResNetBlock = std::shared_ptr<ResNetBlockImpl>;

class ResNetImpl : public ModelImpl {
 public:
  ResNetImpl(const ResNetOptions& options, const ModelContext& context);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  int64_t embed_dim() const override { return out_channels_; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;
  const ResNetOptions& options() const { return options_; }

 private:
  ResNetOptions options_;
  int64_t out_channels_ = 0;
  std::shared_ptr<ResNetStemImpl> stem_;
  std::vector<std::vector<std::pair<std::string, ResNetBlock>>> stages_;
};

// --- RegNet -------------------------------------------------------------------------------

struct RegNetOptions {
  ResNetStemOptions stem;
  int64_t tot_blocks = 16;
  double w_a = 27.89;
  double w_0 = 48.0;
  double w_m = 2.09;
  std::vector<int64_t> num_blocks;
  std::vector<int64_t> num_filters;
  std::vector<int64_t> group_widths{8};
  std::vector<int64_t> filter_lengths{11};
  std::vector<int64_t> subsample_lengths{2};
  std::vector<double> dropouts{0.0};
  std::string building_block = "bottleneck";
  ResNetBlockOptions block;
  int64_t base_groups = 1;
  std::string activation = "relu";
  double base_fs = 500.0;
  template <class V>
  void fields(V& v) {
    v("stem", stem, "input stem (as ResNet's)");
    v("tot_blocks", tot_blocks, "generated widths: total blocks (0 with explicit num_blocks)");
    v("w_a", w_a, "generated widths: slope");
    v("w_0", w_0, "generated widths: initial width (a multiple of 8)");
    v("w_m", w_m, "generated widths: width multiplier (> 1)");
    v("num_blocks", num_blocks, "explicit widths: blocks per stage (then set tot_blocks: 0)");
    v("num_filters", num_filters, "explicit widths: filters per stage");
    v("group_widths", group_widths, "channels per group of the neck convolutions (one or per stage)");
    v("filter_lengths", filter_lengths, "kernel at base_fs (one or per stage)");
    v("subsample_lengths", subsample_lengths, "stride at each stage's first block (one or per stage)");
    v("dropouts", dropouts, "dropout of the blocks of each stage (one or per stage)");
    v("building_block", building_block, "basic | bottleneck");
    v("block", block, "building-block options (ResNet's)");
    v("base_groups", base_groups, "groups of the stem");
    v("activation", activation, "activation of the stem");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
  }
  void validate() const;

  static RegNetOptions regnet_16_8();
  static RegNetOptions regnet_27_24();
  static RegNetOptions regnet_23_168();
  static RegNetOptions regnet_S();
};

/// One RegNet stage: its width and block count.
struct RegNetStage {
  int64_t num_blocks = 0;
  int64_t num_filters = 0;
};
/// The stages of `options`: explicit, or generated from tot_blocks, w_a, w_0, w_m (widths
/// quantised to 8, one stage per distinct width; float32 arithmetic like torch_ecg).
std::vector<RegNetStage> regnet_stages(const RegNetOptions& options);

class RegNetImpl : public ModelImpl {
 public:
  RegNetImpl(const RegNetOptions& options, const ModelContext& context);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  int64_t embed_dim() const override { return out_channels_; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;

 private:
  RegNetOptions options_;
  int64_t out_channels_ = 0;
  std::shared_ptr<ResNetStemImpl> stem_;
  std::vector<BlockSequence> stages_;
};

}  // namespace cardiotorch::models
