#pragma once
// Sequence layers (torch_ecg models/_nets.py): MLP (SeqLin) over the last dim and
// StackedLSTM over (L, B, C).
//
// State-dict names: MLP -> lin_<i>.{weight,bias} (activations act_<i>, dropouts dropout_<i>
// have none); StackedLSTM -> bidirectional_lstm_<i> (or lstm_<i>) with torch.nn.LSTM's
// weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0 (+ _reverse), i counted from 1.
#include <ATen/core/Tensor.h>
#include <torch/arg.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/blocks/layers.h"

namespace cardiotorch::models {

struct MLPOptions {
  MLPOptions(int64_t in_channels, std::vector<int64_t> out_channels)
      : in_channels_(in_channels), out_channels_(std::move(out_channels)) {}
  TORCH_ARG(int64_t, in_channels);
  /// Width of each linear layer.
  TORCH_ARG(std::vector<int64_t>, out_channels);
  TORCH_ARG(std::string, activation) = "relu";
  TORCH_ARG(bool, bias) = true;
  /// One value: after every layer but the last (torch_ecg's rule); else one per layer.
  TORCH_ARG(std::vector<double>, dropouts) = {0.0};
  TORCH_ARG(bool, skip_last_activation) = false;
  TORCH_ARG(std::string, kernel_initializer) = "";
};

/// Linear -> activation -> dropout, repeated; works on the last dim of any input
/// ((B, C) or (B, L, C)). output_shape replaces the last dim.
class MLPImpl : public BlockImpl {
 public:
  explicit MLPImpl(const MLPOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  const MLPOptions& options() const { return options_; }

 private:
  MLPOptions options_;
  std::vector<torch::nn::Linear> lins_;
  std::vector<Activation> acts_;
  std::vector<std::shared_ptr<DropoutImpl>> drops_;
};
using MLP = std::shared_ptr<MLPImpl>;

struct StackedLSTMOptions {
  StackedLSTMOptions(int64_t input_size, std::vector<int64_t> hidden_sizes)
      : input_size_(input_size), hidden_sizes_(std::move(hidden_sizes)) {}
  TORCH_ARG(int64_t, input_size);
  /// Hidden size of each LSTM layer.
  TORCH_ARG(std::vector<int64_t>, hidden_sizes);
  TORCH_ARG(bool, bias) = true;
  /// One value for every layer, or one per layer; applied between layers (not after the last).
  TORCH_ARG(std::vector<double>, dropouts) = {0.0};
  TORCH_ARG(bool, bidirectional) = true;
  /// false: only the last time step, (B, C).
  TORCH_ARG(bool, return_sequences) = true;
};

/// LSTM layers with their own hidden sizes, input (L, B, C) (torch_ecg's StackedLSTM: batch
/// second); output (L, B, H * directions), or (B, H * directions) without return_sequences.
/// Each layer starts from a zero state.
class StackedLSTMImpl : public BlockImpl {
 public:
  explicit StackedLSTMImpl(const StackedLSTMOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  const StackedLSTMOptions& options() const { return options_; }

 private:
  StackedLSTMOptions options_;
  std::vector<torch::nn::LSTM> layers_;
  std::vector<double> dropouts_;
};
using StackedLSTM = std::shared_ptr<StackedLSTMImpl>;

}  // namespace cardiotorch::models
