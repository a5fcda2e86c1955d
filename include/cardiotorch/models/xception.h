#pragma once
// 1-D Xception (torch_ecg models/cnn/xception.py) with torch_ecg's config keys, module names
// and presets xception_vanilla, xception_leadwise.
//
//   entry_flow:  init_convs (cba_<i>) then entry_flow_conv_block_<i>
//   middle_flow: middle_flow_conv_block_<i>
//   exit_flow:   exit_flow_conv_block_<i> then final_convs (separable, cba_<i>)
// Each conv block is a stack of pre-activation depthwise-separable convolutions
// (main_stream_conv.acb_<j>), max-pooled when it subsamples (subsample), plus a shortcut (a
// strided 1x1 conv + BN when subsampling, else the identity).
//
// Config keys (XceptionOptions): groups, entry_flow{init_num_filters, init_filter_lengths,
// init_subsample_lengths, num_filters, filter_lengths, subsample_lengths, subsample_kernels,
// dilations, dropouts, block_dropouts}, middle_flow{num_filters, filter_lengths, dilations,
// dropouts, block_dropouts}, exit_flow{final_num_filters, final_filter_lengths, num_filters,
// filter_lengths, subsample_lengths, subsample_kernels, dilations, dropouts, block_dropouts},
// base_fs. num_filters is per block: an int (2 convolutions in the entry and exit flows, 3 in the
// middle flow) or a list of widths. Kernel lengths are given at base_fs.
// Capture points: entry_flow, middle_flow, exit_flow and every block inside them.
//
// Differences from torch_ecg: a flow's `groups` defaults to the top-level `groups` (torch_ecg
// read a flow-level key that its configs never set, so its lead-wise preset ran the flows with
// one group; the preset here spells out groups: 1 in the flows to keep its parameter count).
#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/staged_backbone.h"

namespace cardiotorch::models {

struct XceptionFlowOptions {
  // entry flow only
  std::vector<int64_t> init_num_filters;
  std::vector<int64_t> init_filter_lengths;
  std::vector<int64_t> init_subsample_lengths;
  // exit flow only
  std::vector<int64_t> final_num_filters;
  std::vector<int64_t> final_filter_lengths;
  // every flow
  ConfigNode num_filters;
  ConfigNode filter_lengths;
  std::vector<int64_t> subsample_lengths{1};
  std::vector<int64_t> subsample_kernels;
  ConfigNode dilations = ConfigNode::scalar("1");
  ConfigNode dropouts = ConfigNode::scalar("0");
  ConfigNode block_dropouts = ConfigNode::scalar("0");
  int64_t groups = 0;
  std::string activation = "relu";
  std::string kernel_initializer = "he_normal";
  std::string subsample_mode = "max";
  template <class V>
  void fields(V& v) {
    v("init_num_filters", init_num_filters, "entry flow: widths of the initial (plain) convolutions");
    v("init_filter_lengths", init_filter_lengths, "entry flow: initial kernels at base_fs (one or one per conv)");
    v("init_subsample_lengths", init_subsample_lengths, "entry flow: initial strides (one or one per conv)");
    v("final_num_filters", final_num_filters, "exit flow: widths of the final separable convolutions");
    v("final_filter_lengths", final_filter_lengths, "exit flow: final kernels at base_fs (one or one per conv)");
    v("num_filters", num_filters, "per block: an int (2 convs; 3 in the middle flow) or a list of widths");
    v("filter_lengths", filter_lengths, "kernels at base_fs: one, one per block, or per block a list per conv");
    v("subsample_lengths", subsample_lengths, "subsampling of each block (one or one per block; middle flow: 1)");
    v("subsample_kernels", subsample_kernels,
      "max-pool window of each block (one or one per block; empty = subsample_lengths)");
    v("dilations", dilations, "dilations: one, one per block, or per block a list per conv");
    v("dropouts", dropouts, "dropout after each conv: one, one per block, or per block a list per conv");
    v("block_dropouts", block_dropouts,
      "dropout after each block (one or one per block; exit flow: also the final convs)");
    v("groups", groups, "groups of the convolutions; 0 = the top-level groups");
    v("activation", activation, "activation (before each separable convolution)");
    v("kernel_initializer", kernel_initializer, "initialiser of the conv kernels");
    v("subsample_mode", subsample_mode, "pooling of the subsampling blocks (a DownSample mode)");
  }
};

struct XceptionOptions {
  int64_t groups = 1;
  XceptionFlowOptions entry_flow, middle_flow, exit_flow;
  double base_fs = 500.0;
  template <class V>
  void fields(V& v) {
    v("groups", groups, "groups of every convolution unless a flow sets its own");
    v("entry_flow", entry_flow, "entry flow: initial convolutions then subsampling blocks");
    v("middle_flow", middle_flow, "middle flow: residual blocks at constant width");
    v("exit_flow", exit_flow, "exit flow: subsampling blocks then the final convolutions");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
  }
  void validate() const;

  static XceptionOptions xception_vanilla();
  static XceptionOptions xception_leadwise();
};

class XceptionImpl : public StagedBackboneImpl {
 public:
  XceptionImpl(const XceptionOptions& options, const ModelContext& context);

 private:
  XceptionOptions options_;
};

}  // namespace cardiotorch::models
