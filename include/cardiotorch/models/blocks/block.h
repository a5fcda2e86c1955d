#pragma once
// Building blocks of the 1-D CNNs: the BlockImpl contract, the `block` registry of attention
// and transformer blocks, a named sequence of blocks, and shape arithmetic.
//
// Every block maps a tensor to a tensor and knows its output shape from its configuration
// alone (torch_ecg's compute_output_shape): output_shape({B, C, L}) with -1 for a size that is
// not known (a free batch or length), which propagates. Composites (a ResNet block, a whole
// backbone) compute their shapes by folding their children's, so the next stage is sized
// without running anything and users never type a later stage's `in_channels`.
//
// Layout: blocks of the CNNs and everything in the `block` registry take channel-first maps
// (B, C, L) and return channel-first maps (B, C', L'). Sequence layers say otherwise in their
// header (MLP works on the last dim, StackedLSTM on (L, B, C) like torch_ecg).
//
// Module and parameter names follow torch_ecg (models/_nets.py), so a torch_ecg state_dict
// loads by name: a Conv_Bn_Activation is {conv1d, batch_norm, activation_<Name>}, an SE block
// {avg_pool, fc.0.lin_0, fc.0.lin_1}, and so on (see each header).
//
// The `block` registry holds the blocks a config names as a typed nested component, e.g. the
// attention of a ResNet block:
//
//   struct ResNetBlockOptions { Component<BlockCategory> attn; ... };   // attn: {name: se, reduction: 8}
//   BlockPtr attn = build_block(o.attn, BlockContext{channels});
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/registry.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::models {

class BlockImpl : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  /// forward()'s output shape for `input`, from the configuration alone; -1 = unknown.
  virtual Shape output_shape(const Shape& input) const = 0;
};
using BlockPtr = std::shared_ptr<BlockImpl>;

/// What a registered block needs from its owner besides its options.
struct BlockContext {
  int64_t in_channels = 0;  ///< channels C of the (B, C, L) input
  double fs = 500.0;        ///< sampling rate of the input map in Hz (after any subsampling)
};
using BlockRegistry = Registry<BlockImpl, BlockContext>;
/// Attention and transformer blocks on (B, C, L) maps: se, gc, nl, cbam, self_attention,
/// transformer (`cardiotorch list block`).
BlockRegistry& block_registry();

/// Category of typed nested components naming a registered block.
struct BlockCategory {
  static constexpr const char* category = "block";
};
using BlockConfig = Component<BlockCategory>;

/// Builds a resolved block component; nullptr when `config` is empty (`attn: ~`).
BlockPtr build_block(const BlockConfig& config, const BlockContext& context);

/// Runs `block` on `x` as the child `name` of the running model: its own capture points are
/// prefixed with "<name>." and its output is offered under `name` (models/capture.h), so
/// Grad-CAM reaches every stage by its state-dict module path.
at::Tensor run_named(BlockImpl& block, const std::string& name, const at::Tensor& x);

/// Named children run in order (torch_ecg's nn.Sequential): the names are the state_dict keys.
/// Each child runs through run_named, so its output is a capture point "<name>" (nested under
/// the sequence's own name when the owner runs the sequence through run_named too).
class BlockSequenceImpl : public BlockImpl {
 public:
  /// Appends `block` under `name`; returns it.
  template <class B>
  std::shared_ptr<B> push_back(const std::string& name, std::shared_ptr<B> block) {
    blocks_.emplace_back(name, register_module(name, block));
    return block;
  }
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  const std::vector<std::pair<std::string, BlockPtr>>& blocks() const { return blocks_; }
  bool empty() const { return blocks_.empty(); }

 private:
  std::vector<std::pair<std::string, BlockPtr>> blocks_;
};
using BlockSequence = std::shared_ptr<BlockSequenceImpl>;

/// Element-wise dropout (torch.nn.Dropout) or, with `channelwise`, whole channels
/// (torch.nn.Dropout1d); no parameters. Active in training mode only.
class DropoutImpl : public BlockImpl {
 public:
  explicit DropoutImpl(double p, bool channelwise = false);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override { return input; }
  double p() const { return p_; }

 private:
  double p_;
  bool channelwise_;
};

// --- shape arithmetic (-1 propagates) -------------------------------------------------------

/// Output length of a convolution or pooling window: floor((L + 2p - d(k - 1) - 1) / s) + 1.
int64_t conv_out_len(int64_t len, int64_t kernel, int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1);
/// torch_ecg's "same" padding for odd kernels: dilation * (kernel - 1) / 2.
inline int64_t same_padding(int64_t kernel, int64_t dilation = 1) { return dilation * (kernel - 1) / 2; }
/// `shape` with dim `dim` (negative: from the end) set to `size`.
Shape with_dim(Shape shape, int64_t dim, int64_t size);
/// Checks that `shape` is (B, C, L) with C == channels (when channels > 0); ShapeError naming
/// `who` otherwise. Used by output_shape() of (B, C, L) blocks.
void check_shape(const Shape& shape, int64_t channels, const std::string& who);

}  // namespace cardiotorch::models
