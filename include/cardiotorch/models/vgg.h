#pragma once
// 1-D VGG16 (torch_ecg models/cnn/vgg.py) with torch_ecg's config keys, module names and
// presets vgg16, vgg16_mish, vgg16_swish, vgg16_leadwise (ECG_CRNN_CONFIG.cnn).
//
//   ModelPtr net = build_model(ConfigNode::parse("{name: vgg16}"), ModelContext{});
//   net->output_shape(2000, 2);   // (2, 384, 61)
//
// Config keys (VGG16Options): num_convs and num_filters (one per block), groups, block{...}
// (filter_length, subsample_length, dilation, batch_norm, pool_size, pool_stride, activation,
// kernel_initializer, bias), base_fs. Each VGG block is num_convs ConvBnActivations then
// MaxPool1d(pool_size, pool_stride).
//
// State dict (torch_ecg's names): vgg_block_<i>.cba_<j>.{conv1d, batch_norm}, i and j counted
// from 1. Capture points: vgg_block_<i> and vgg_block_<i>.cba_<j> / .max_pool.
//
// Differences from torch_ecg (parameter counts and shapes unchanged): block.dilation dilates
// the convolutions (torch_ecg reads the key but never passes it on); the top-level
// activation / kernel_initializer keys of torch_ecg's vgg16 config, which its blocks ignore,
// are not options here (the importer reports them).
#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/staged_backbone.h"

namespace cardiotorch::models {

struct VGGBlockOptions {
  int64_t filter_length = 15;
  int64_t subsample_length = 1;
  int64_t dilation = 1;
  std::string batch_norm = "true";
  int64_t pool_size = 3;
  int64_t pool_stride = 2;
  std::string activation = "relu";
  std::string kernel_initializer = "he_normal";
  bool bias = true;
  template <class V>
  void fields(V& v) {
    v("filter_length", filter_length, "kernel of every convolution at base_fs");
    v("subsample_length", subsample_length, "stride of every convolution");
    v("dilation", dilation, "dilation of every convolution");
    v("batch_norm", batch_norm, "normalisation after each convolution: true, false or a norm name (group_norm, ...)");
    v("pool_size", pool_size, "max-pool window at the end of each block");
    v("pool_stride", pool_stride, "max-pool stride");
    v("activation", activation, "activation after each convolution");
    v("kernel_initializer", kernel_initializer, "initialiser of the conv kernels");
    v("bias", bias, "convolutions with bias");
  }
  void validate() const;
};

struct VGG16Options {
  std::vector<int64_t> num_convs{2, 2, 3, 3, 3};
  std::vector<int64_t> num_filters{48, 96, 192, 384, 384};
  int64_t groups = 1;
  VGGBlockOptions block;
  double base_fs = 500.0;
  template <class V>
  void fields(V& v) {
    v("num_convs", num_convs, "convolutions of each VGG block");
    v("num_filters", num_filters, "output channels of each VGG block");
    v("groups", groups, "groups of every convolution (12 = lead-wise for 12 leads)");
    v("block", block, "options of the VGG blocks");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
  }
  void validate() const;

  static VGG16Options vgg16();
  static VGG16Options vgg16_mish();
  static VGG16Options vgg16_swish();
  static VGG16Options vgg16_leadwise();
};

class VGG16Impl : public StagedBackboneImpl {
 public:
  VGG16Impl(const VGG16Options& options, const ModelContext& context);
  const VGG16Options& options() const { return options_; }

 private:
  VGG16Options options_;
};

}  // namespace cardiotorch::models
