#pragma once
// 1-D DenseNet (torch_ecg models/cnn/densenet.py) with torch_ecg's config keys, module names
// and presets densenet_vanilla, densenet_leadwise.
//
//   init_cba -> init_pool -> dense_macro_block_0 -> transition_0 -> ... -> dense_macro_block_<n>
// A dense macro block is num_layers building blocks, each appending growth_rate new channels
// to its input (basic: BN-ReLU-conv "bac"; bottleneck: a 1x1 "neck_conv" to bn_size x
// growth_rate channels, then "main_conv"). A transition compresses the channels (1x1 "bac")
// and subsamples ("down"). With groups > 1 the concatenation interleaves the groups, so every
// group of channels stays a group (lead-wise models keep their leads apart).
//
// Config keys (DenseNetOptions): num_layers (per macro block), init_num_filters,
// init_filter_length, init_pool_size, init_pool_stride, init_subsample_mode, growth_rates (one or
// per macro block), filter_lengths (one, per macro block, or per block a list per layer),
// subsample_lengths (one or per transition), bn_size, dropout (a rate or {p, type: 1d}),
// compression, groups, bias, activation (of init_cba), block{building_block, activation},
// transition{subsample_mode, activation}, base_fs.
// State dict: init_cba.{conv1d, batch_norm}, dense_macro_block_<i>.dense_building_block_<j>.bac
// (or .neck_conv, .main_conv), transition_<i>.bac. Capture points: every stage by its name.
//
// torch_ecg's `kernel_initializer` key is not used by its DenseNet (PyTorch's default
// initialisation everywhere); the importer reports it. memory_efficient (gradient
// checkpointing) is not implemented, as in torch_ecg.
#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/staged_backbone.h"

namespace cardiotorch::models {

struct DenseBlockOptions {
  std::string building_block = "basic";
  std::string activation = "relu";
  template <class V>
  void fields(V& v) {
    v("building_block", building_block, "basic (BN-ReLU-conv) | bottleneck (1x1 neck, then the conv)");
    v("activation", activation, "activation inside the building blocks");
  }
  void validate() const;
};

struct DenseTransitionOptions {
  std::string subsample_mode = "avg";
  std::string activation = "relu";
  template <class V>
  void fields(V& v) {
    v("subsample_mode", subsample_mode, "subsampling of the transitions (a DownSample mode)");
    v("activation", activation, "activation of the transitions' 1x1 convolutions");
  }
  void validate() const;
};

struct DenseNetOptions {
  std::vector<int64_t> num_layers{6, 6, 6, 6};
  int64_t init_num_filters = 64;
  int64_t init_filter_length = 25;
  int64_t init_pool_size = 3;
  int64_t init_pool_stride = 2;
  std::string init_subsample_mode = "avg";
  std::vector<int64_t> growth_rates{16};
  ConfigNode filter_lengths = ConfigNode::scalar("15");
  std::vector<int64_t> subsample_lengths{2};
  int64_t bn_size = 4;
  ConfigNode dropout = ConfigNode::scalar("0");
  double compression = 0.5;
  int64_t groups = 1;
  bool bias = false;
  std::string activation = "relu";
  DenseBlockOptions block;
  DenseTransitionOptions transition;
  double base_fs = 500.0;
  template <class V>
  void fields(V& v) {
    v("num_layers", num_layers, "building blocks of each dense macro block");
    v("init_num_filters", init_num_filters, "width of the initial convolution");
    v("init_filter_length", init_filter_length, "kernel of the initial convolution at base_fs");
    v("init_pool_size", init_pool_size, "window of the initial pooling");
    v("init_pool_stride", init_pool_stride, "stride of the initial pooling");
    v("init_subsample_mode", init_subsample_mode, "initial pooling (a DownSample mode)");
    v("growth_rates", growth_rates, "channels each building block adds (one or one per macro block)");
    v("filter_lengths", filter_lengths,
      "kernels at base_fs: one, one per macro block, or per macro block one per layer");
    v("subsample_lengths", subsample_lengths, "subsampling of each transition (one or one per transition)");
    v("bn_size", bn_size, "bottleneck: neck width = bn_size x growth rate");
    v("dropout", dropout, "dropout after each building block (a rate or {p, type: 1d})");
    v("compression", compression, "fraction of channels a transition keeps (per group), in (0, 1]");
    v("groups", groups, "groups of every convolution (lead-wise: the input leads)");
    v("bias", bias, "convolutions with bias");
    v("activation", activation, "activation of the initial convolution");
    v("block", block, "building-block options");
    v("transition", transition, "transition options");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
  }
  void validate() const;

  static DenseNetOptions densenet_vanilla();
  static DenseNetOptions densenet_leadwise();
};

class DenseNetImpl : public StagedBackboneImpl {
 public:
  DenseNetImpl(const DenseNetOptions& options, const ModelContext& context);

 private:
  DenseNetOptions options_;
};

}  // namespace cardiotorch::models
