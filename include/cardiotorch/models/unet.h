#pragma once
// 1-D U-Nets for ECG delineation (torch_ecg models/unets): per-sample labels (B, L, K),
// channel-last as in torch_ecg, for any input length L.
//
//   ecg_unet           Moskalenko et al. 2019 (torch_ecg ECG_UNET, ECG_UNET_VANILLA_CONFIG):
//                      DoubleConv 4 filters (k 25) -> 4 x [max-pool 2, DoubleConv 8/16/32/64 (k 15)]
//                      -> 4 x [upsample 2 (nearest), concat the skip, DoubleConv 32/16/8/4 (k 15)]
//                      -> conv k 9 + BN to K classes
//   ecg_subtract_unet  CPSC 2019 entry 0433 (torch_ecg ECG_SUBTRACT_UNET): TripleConvs with
//                      dropout, down scales 10/5, a bottom of two dilated branches b1, b2
//                      (dilations 1 and 10) giving concat[b1, b2, b1 - b2], up scales 2/5/10
//
// Skip connections: the upsampled map is centre-padded (or centre-cropped) to its skip's length
// before the concatenation (torch_ecg's ECG_UNET rule), so every input length works and the
// output has the input's length. torch_ecg's ECG_SUBTRACT_UNET concatenates without padding and
// fails unless L is a multiple of the product of its down scales (100); here it pads like the
// U-Net, which is identical whenever torch_ecg works. The concatenated width is the skip's
// actual width plus the upsampled one (torch_ecg assumes in + in / 2, true for its configs).
//
// Sampling rate: kernel lengths are given at base_fs (500 Hz, like torch_ecg's configs) and
// rescaled to the build context's fs by torch_ecg's adjust_cnn_filter_lengths rule (rounded,
// made odd); base_fs 0 keeps them as given.
//
// State dict (torch_ecg's names): init_conv.cba_<i>, down_blocks.down_<i>.{down_sample,
// double_conv | triple_conv}.cba_<j>, bottom_block.branched_conv.branches.multi_conv_<b>.cba_<j>,
// up_blocks.up_<i>.{up (deconv), conv.cba_<j>}, out_conv.{conv1d, batch_norm}, init_bn;
// cba_<j> = {conv1d, batch_norm, activation_<Class>}, dropouts dropout_<j>.
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/conv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/blocks/conv_bn_act.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::models {

/// Settings of the convolutions of a group of blocks (torch_ecg's down_block / up_block).
struct UnetConvOptions {
  bool batch_norm = true;
  std::string activation = "relu";
  std::string kernel_initializer = "he_normal";
  template <class V>
  void fields(V& v) {
    v("batch_norm", batch_norm, "BatchNorm1d after each convolution");
    v("activation", activation, "activation after each convolution");
    v("kernel_initializer", kernel_initializer, "initialiser of the convolution kernels; empty = LibTorch's default");
  }
  void validate() const;
};

/// Convolutions in sequence (torch_ecg's MultiConv: DoubleConv, TripleConv): cba_<i> and, for a
/// positive dropout, dropout_<i>.
class MultiConvImpl : public BlockSequenceImpl {
 public:
  MultiConvImpl(int64_t in_channels, const std::vector<int64_t>& out_channels, const std::vector<int64_t>& kernels,
                const std::vector<int64_t>& dilations, const std::vector<double>& dropouts, int64_t groups,
                const UnetConvOptions& conv);
  int64_t out_channels() const { return out_channels_; }

 private:
  int64_t out_channels_;
};
using MultiConv = std::shared_ptr<MultiConvImpl>;

/// Upsampling by `scale` (interpolation, or a transposed convolution `up` for mode deconv), the
/// centre-padded concatenation with the skip, then convolutions (`conv`).
class UnetUpBlockImpl : public torch::nn::Module {
 public:
  UnetUpBlockImpl(int64_t in_channels, int64_t skip_channels, int64_t scale, const std::string& mode,
                  int64_t deconv_kernel, std::shared_ptr<MultiConvImpl> conv);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& skip);
  /// Length after the upsampling of `len` samples (-1 propagates).
  int64_t up_length(int64_t len) const;
  int64_t out_channels() const { return conv_->out_channels(); }

 private:
  int64_t in_channels_, scale_, deconv_kernel_ = 0, deconv_padding_ = 0;
  std::string mode_;
  torch::nn::ConvTranspose1d up_{nullptr};
  std::shared_ptr<MultiConvImpl> conv_;
};
using UnetUpBlock = std::shared_ptr<UnetUpBlockImpl>;

/// The modes of the up path: nearest | linear | area | deconv.
const std::vector<std::string>& unet_up_modes();

struct EcgUnetOptions {
  int64_t groups = 1;
  int64_t init_num_filters = 4;
  int64_t init_filter_length = 25;
  bool batch_norm = true;
  std::string activation = "relu";
  std::string kernel_initializer = "he_normal";
  std::string down_mode = "max";
  std::vector<int64_t> down_scales{2, 2, 2, 2};
  std::vector<int64_t> down_num_filters{8, 16, 32, 64};
  std::vector<int64_t> down_filter_lengths{15, 15, 15, 15};
  std::string up_mode = "nearest";
  std::vector<int64_t> up_scales{2, 2, 2, 2};
  std::vector<int64_t> up_num_filters{32, 16, 8, 4};
  std::vector<int64_t> up_deconv_filter_lengths{15, 15, 15, 15};
  std::vector<int64_t> up_conv_filter_lengths{15, 15, 15, 15};
  UnetConvOptions down_block, up_block;
  int64_t out_filter_length = 9;
  bool out_batch_norm = true;
  double base_fs = 500.0;
  std::vector<std::string> classes;
  template <class V>
  void fields(V& v) {
    v("groups", groups, "groups of every convolution");
    v("init_num_filters", init_num_filters, "filters of the first DoubleConv");
    v("init_filter_length", init_filter_length, "kernel of the first DoubleConv at base_fs");
    v("batch_norm", batch_norm, "BatchNorm1d in the first DoubleConv");
    v("activation", activation, "activation of the first DoubleConv");
    v("kernel_initializer", kernel_initializer, "initialiser of the first and the output convolutions");
    v("down_mode", down_mode, "subsampling of the down path (a DownSample mode: max, avg, ...)");
    v("down_scales", down_scales, "subsampling factor of each down block");
    v("down_num_filters", down_num_filters, "filters of each down block (their count = the depth)");
    v("down_filter_lengths", down_filter_lengths, "kernel of each down block at base_fs");
    v("up_mode", up_mode, "upsampling: nearest | linear | area | deconv (transposed convolution)");
    v("up_scales", up_scales, "upsampling factor of each up block");
    v("up_num_filters", up_num_filters, "filters of each up block");
    v("up_deconv_filter_lengths", up_deconv_filter_lengths, "deconv: kernel of each transposed convolution at base_fs");
    v("up_conv_filter_lengths", up_conv_filter_lengths, "kernel of each up block's convolutions at base_fs");
    v("down_block", down_block, "convolutions of the down blocks");
    v("up_block", up_block, "convolutions of the up blocks");
    v("out_filter_length", out_filter_length, "kernel of the output convolution at base_fs");
    v("out_batch_norm", out_batch_norm, "BatchNorm1d after the output convolution");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
    v("classes", classes, "class names; empty = the class count of the data");
  }
  void validate() const;
};

struct EcgSubtractUnetOptions {
  int64_t groups = 1;
  bool init_batch_norm = false;
  int64_t init_num_filters = 16;
  int64_t init_filter_length = 21;
  std::vector<double> init_dropouts{0.0, 0.15, 0.0};
  bool batch_norm = true;
  std::string activation = "relu";
  std::string kernel_initializer = "he_normal";
  std::string down_mode = "max";
  std::vector<int64_t> down_scales{10, 5, 2};
  std::vector<std::vector<int64_t>> down_num_filters{{24, 24, 24}, {48, 48, 48}};
  std::vector<int64_t> down_filter_lengths{11, 5};
  std::vector<std::vector<double>> down_dropouts{{0.0, 0.15, 0.0}, {0.0, 0.15, 0.0}};
  std::vector<std::vector<int64_t>> bottom_num_filters{{96, 96}, {96, 96}};
  std::vector<std::vector<int64_t>> bottom_filter_lengths{{5, 5}, {5, 5}};
  std::vector<std::vector<int64_t>> bottom_dilations{{1, 1}, {10, 10}};
  std::vector<std::vector<double>> bottom_dropouts{{0.15, 0.0}, {0.15, 0.0}};
  std::string up_mode = "nearest";
  std::vector<int64_t> up_scales{2, 5, 10};
  std::vector<std::vector<int64_t>> up_num_filters{{48, 48, 48}, {24, 24, 24}, {16, 16, 16}};
  std::vector<int64_t> up_deconv_filter_lengths{9, 9, 9};
  std::vector<int64_t> up_conv_filter_lengths{5, 11, 21};
  std::vector<std::vector<double>> up_dropouts{{0.15, 0.15, 0.0}, {0.15, 0.15, 0.0}, {0.15, 0.15, 0.0}};
  UnetConvOptions down_block, up_block;
  int64_t out_filter_length = 1;
  bool out_batch_norm = true;
  double base_fs = 500.0;
  std::vector<std::string> classes;
  template <class V>
  void fields(V& v) {
    v("groups", groups, "groups of every convolution");
    v("init_batch_norm", init_batch_norm, "BatchNorm1d on the input (init_bn)");
    v("init_num_filters", init_num_filters, "filters of the first TripleConv");
    v("init_filter_length", init_filter_length, "kernel of the first TripleConv at base_fs");
    v("init_dropouts", init_dropouts, "dropout after each convolution of the first TripleConv");
    v("batch_norm", batch_norm, "BatchNorm1d in the first TripleConv");
    v("activation", activation, "activation of the first TripleConv");
    v("kernel_initializer", kernel_initializer, "initialiser of the first and the output convolutions");
    v("down_mode", down_mode, "subsampling of the down path and the bottom (a DownSample mode)");
    v("down_scales", down_scales, "subsampling factor of each down block, the bottom's last");
    v("down_num_filters", down_num_filters, "filters of the three convolutions of each down block");
    v("down_filter_lengths", down_filter_lengths, "kernel of each down block at base_fs");
    v("down_dropouts", down_dropouts, "dropouts of each down block's convolutions");
    v("bottom_num_filters", bottom_num_filters, "filters of each bottom branch's convolutions (equal: b1 - b2)");
    v("bottom_filter_lengths", bottom_filter_lengths, "kernels of each bottom branch at base_fs");
    v("bottom_dilations", bottom_dilations, "dilations of each bottom branch");
    v("bottom_dropouts", bottom_dropouts, "dropouts of each bottom branch's convolutions");
    v("up_mode", up_mode, "upsampling: nearest | linear | area | deconv");
    v("up_scales", up_scales, "upsampling factor of each up block");
    v("up_num_filters", up_num_filters, "filters of the three convolutions of each up block");
    v("up_deconv_filter_lengths", up_deconv_filter_lengths, "deconv: kernel of each transposed convolution at base_fs");
    v("up_conv_filter_lengths", up_conv_filter_lengths, "kernel of each up block's convolutions at base_fs");
    v("up_dropouts", up_dropouts, "dropouts of each up block's convolutions");
    v("down_block", down_block, "convolutions of the down blocks and the bottom");
    v("up_block", up_block, "convolutions of the up blocks");
    v("out_filter_length", out_filter_length, "kernel of the output convolution at base_fs");
    v("out_batch_norm", out_batch_norm, "BatchNorm1d after the output convolution");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
    v("classes", classes, "class names; empty = the class count of the data");
  }
  void validate() const;
};

/// The shared U-Net body: an input stage, down blocks, an optional bottom (subtract U-Net),
/// up blocks with skips, the output convolution; output (B, L, K).
class UnetImpl : public ModelImpl {
 public:
  UnetImpl(const EcgUnetOptions& options, const ModelContext& context);
  UnetImpl(const EcgSubtractUnetOptions& options, const ModelContext& context);

  at::Tensor forward(const at::Tensor& x) override;
  /// The last up block's map (B, C, L) before the output convolution.
  at::Tensor forward_features(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  Shape features_shape(const Shape& input) const override;
  int64_t embed_dim() const override { return feature_channels_; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;
  int64_t num_classes() const { return num_classes_; }

 private:
  /// Lengths of the skip maps and of the bottom for an input of `len` samples; ShapeError when
  /// the input is too short for the down path.
  std::vector<int64_t> down_lengths(int64_t len) const;
  void finish(int64_t up_out_channels, int64_t out_kernel, bool out_bn, int64_t groups, const std::string& init);

  int64_t num_classes_ = 0, feature_channels_ = 0;
  std::vector<int64_t> down_scales_;
  std::shared_ptr<torch::nn::Module> init_bn_;
  std::shared_ptr<BlockImpl> init_conv_;
  std::vector<std::shared_ptr<BlockImpl>> downs_;  // the last one is the bottom of the subtract U-Net
  std::vector<std::string> down_names_;
  std::vector<UnetUpBlock> ups_;
  ConvBnActivation out_conv_;
};

}  // namespace cardiotorch::models
