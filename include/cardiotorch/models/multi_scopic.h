#pragma once
// MultiScopicCNN (torch_ecg models/cnn/multi_scopic.py; Cai & Hu, CPSC 2019 entry 0416):
// parallel branches of dilated ("multi-scopic") convolutions whose outputs are concatenated
// on channels. Presets multi_scopic and multi_scopic_leadwise (ECG_CRNN_CONFIG.cnn).
//
//   ModelPtr net = build_model(ConfigNode::parse("{name: multi_scopic}"), ModelContext{});
//   net->output_shape(2000, 2);   // (2, 1152, 250)
//
// Config keys (MultiScopicOptions), torch_ecg's granularity (a scalar anywhere applies to
// everything below it):
//   scopes             branch x block x conv: the dilation of every convolution
//   num_filters        branch x block (x conv): output channels
//   filter_lengths     branch x block (x conv): kernel at base_fs
//   subsample_lengths  branch (x block): max-pool factor at the end of each block
//   dropouts           branch (x block): a rate or {p, type: 1d} at the end of each block
//   groups, block{subsample_mode, batch_norm, activation, kernel_initializer, bias}, base_fs
// A block is n x (dilated conv + activation, no norm by default) -> BatchNorm1d -> DownSample
// -> dropout.
//
// State dict (torch_ecg's names): branches.branch_<i>.block_<j>.{ca_<k>.conv1d, bn, down}.
// Capture points: branches.branch_<i>, branches.branch_<i>.block_<j>(.ca_<k>, .bn, ...).
//
// Lead-wise models (groups == input leads) keep the leads apart through the whole network, so
// a model trained on 12 leads can hand its weights to a model on any subset of them:
//   model12->assign_weights_lead_wise(*model6, {0, 1, 2, 3, 4, 10});
// copies, for every convolution and normalisation, the channels of the chosen leads (torch_ecg's
// MultiScopicCNN.assign_weights_lead_wise; running statistics included). Afterwards the 6-lead
// model's branch outputs equal the 12-lead model's at the channels of those leads when the
// other leads are zero.
//
// Differences from torch_ecg: a per-block subsample_lengths list is honoured (torch_ecg's
// MultiScopicBranch used the filter lengths instead); branches whose output lengths would differ
// are a ConfigError at construction (torch.cat fails at run time in torch_ecg);
// assign_weights_lead_wise also copies BatchNorm running statistics (torch_ecg copies weight and
// bias only, which matters once the model has been trained).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::models {

struct MultiScopicBlockOptions {
  std::string subsample_mode = "max";
  std::string batch_norm = "false";
  std::string activation = "relu";
  std::string kernel_initializer = "he_normal";
  bool bias = true;
  template <class V>
  void fields(V& v) {
    v("subsample_mode", subsample_mode,
      "subsampling at the end of each block (a DownSample mode: max, avg, conv, ...)");
    v("batch_norm", batch_norm, "normalisation inside each dilated conv: false (torch_ecg), true or a norm name");
    v("activation", activation, "activation after each dilated convolution");
    v("kernel_initializer", kernel_initializer, "initialiser of the conv kernels");
    v("bias", bias, "convolutions with bias");
  }
  void validate() const;
};

struct MultiScopicOptions {
  ConfigNode scopes =
      ConfigNode::scalar("[[[1], [1, 1], [1, 1, 1]], [[2], [2, 4], [8, 8, 8]], [[4], [4, 8], [16, 32, 64]]]");
  ConfigNode num_filters = ConfigNode::scalar("[[96, 192, 384], [96, 192, 384], [96, 192, 384]]");
  ConfigNode filter_lengths = ConfigNode::scalar("[[11, 7, 5], [11, 7, 5], [11, 7, 5]]");
  ConfigNode subsample_lengths = ConfigNode::scalar("[2, 2, 2]");
  ConfigNode dropouts = ConfigNode::scalar("[[0, 0.2, 0], [0, 0.2, 0], [0, 0.2, 0]]");
  int64_t groups = 1;
  MultiScopicBlockOptions block;
  double base_fs = 500.0;
  template <class V>
  void fields(V& v) {
    v("scopes", scopes, "dilation of each convolution: branch x block x conv");
    v("num_filters", num_filters, "output channels: branch x block, or branch x block x conv");
    v("filter_lengths", filter_lengths, "kernels at base_fs: branch x block, or branch x block x conv");
    v("subsample_lengths", subsample_lengths, "subsampling at each block's end: one per branch or branch x block");
    v("dropouts", dropouts, "dropout at each block's end: one per branch or branch x block (rate or {p, type: 1d})");
    v("groups", groups, "groups of every convolution (12 = lead-wise for 12 leads)");
    v("block", block, "options of the multi-scopic blocks");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
  }
  void validate() const;

  static MultiScopicOptions multi_scopic();
  static MultiScopicOptions multi_scopic_leadwise();
};

/// Every convolution of a MultiScopicCNN, resolved from the options' granularity.
struct MultiScopicLayout {
  struct Block {
    std::vector<int64_t> dilations, num_filters, filter_lengths;
    int64_t subsample_length = 1;
    double dropout = 0.0;
    bool dropout_channelwise = false;
  };
  std::vector<std::vector<Block>> branches;
};
/// ConfigError naming the key at fault when the shapes of the keys disagree.
MultiScopicLayout multi_scopic_layout(const MultiScopicOptions& options);

class MultiScopicCNNImpl : public ModelImpl {
 public:
  MultiScopicCNNImpl(const MultiScopicOptions& options, const ModelContext& context);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  int64_t embed_dim() const override { return out_channels_; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;

  const MultiScopicOptions& options() const { return options_; }
  size_t num_branches() const { return branches_.size(); }
  /// Branch `i` (branches.branch_<i>), runnable on its own like torch_ecg's branches[...].
  BlockImpl& branch(size_t i) const;
  /// True when every convolution has one group per input lead (groups == in_channels).
  bool lead_wise() const { return options_.groups == in_channels_; }

  /// Copies this lead-wise model's weights for the leads `indices` into `other`, a lead-wise
  /// model on indices.size() leads with proportional filter counts (num_filters of this model x
  /// other's leads == other's num_filters x this model's leads) and otherwise the same
  /// configuration. ConfigError naming the violated precondition.
  void assign_weights_lead_wise(MultiScopicCNNImpl& other, const std::vector<int64_t>& indices) const;

 private:
  MultiScopicOptions options_;
  int64_t out_channels_ = 0;
  std::vector<std::shared_ptr<BlockSequenceImpl>> branches_;
};

}  // namespace cardiotorch::models
