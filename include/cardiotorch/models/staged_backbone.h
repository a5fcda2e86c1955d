#pragma once
// The shape shared by torch_ecg's sequential backbones (VGG16, DenseNet, MobileNet, Xception,
// and the former stubs DarkNet, EfficientNet, the higher-order ResNets): named stages run in
// order, each a BlockImpl that knows its output shape.
//
// forward() checks the (B, C, L) input and runs every stage through run_named(), so each
// stage output is a capture point under its torch_ecg module name ("vgg_block_3",
// "entry_flow", "dense_macro_block_2", ...) and the stages' own children nest under it
// ("vgg_block_3.cba_2"); Grad-CAM reaches any of them by the name a PyTorch forward hook would
// use. output_shape() folds the stages' shapes without running anything; stage_shapes() lists
// them for `cardiotorch model-info`.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::models {

class StagedBackboneImpl : public ModelImpl {
 public:
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  int64_t embed_dim() const override { return out_channels_; }
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  /// "<name>: <family>, <description>, <C> output channels, <N> parameters".
  std::string summary() const override;
  /// The stages in order, by module name.
  const std::vector<std::pair<std::string, BlockPtr>>& stages() const { return stages_; }
  /// Output channels of the last stage.
  int64_t out_channels() const { return out_channels_; }

 protected:
  /// `family` ("VGG16") and `in_channels` for the input check and summary().
  StagedBackboneImpl(std::string family, int64_t in_channels);
  /// Registers `stage` under `name` (its state-dict prefix) and appends it.
  template <class B>
  std::shared_ptr<B> add_stage(const std::string& name, std::shared_ptr<B> stage) {
    stages_.emplace_back(name, register_module(name, stage));
    return stage;
  }
  /// Output channels of the stages so far, from their shapes (for sizing the next stage).
  int64_t channels_so_far() const;
  /// Called once the stages are added: records the output width.
  void finish(std::string description);

 private:
  std::string family_, description_;
  int64_t out_channels_ = 0;
  std::vector<std::pair<std::string, BlockPtr>> stages_;
};

}  // namespace cardiotorch::models
