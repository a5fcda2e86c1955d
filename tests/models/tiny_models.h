#pragma once
// Small models the saliency tests run: a 1-D CNN with capture points (the network of
// make_saliency_fixtures.py), the same without them, and a token model whose attention maps
// are given.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <utility>
#include <vector>

#include "cardiotorch/models/capture.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::test {

/// block1: Conv1d(C, 4, 5, s2, p2) + ReLU, block2: Conv1d(4, 6, 3, s2, p1) + ReLU, mean over
/// time, fc: Linear(6, 3). Capture points "block1", "block2", "fc".
class Tiny1dImpl : public models::ModelImpl {
 public:
  explicit Tiny1dImpl(int64_t in_channels) {
    in_channels_ = in_channels;
    set_model_name("tiny1d");
    block1 =
        register_module("block1", torch::nn::Conv1d(torch::nn::Conv1dOptions(in_channels, 4, 5).stride(2).padding(2)));
    block2 = register_module("block2", torch::nn::Conv1d(torch::nn::Conv1dOptions(4, 6, 3).stride(2).padding(1)));
    fc = register_module("fc", torch::nn::Linear(6, 3));
  }
  at::Tensor forward(const at::Tensor& x) override {
    models::check_input(x, 3, in_channels_, model_name());
    at::Tensor h = models::capture(at::relu(block1(x)), "block1");
    h = models::capture(at::relu(block2(h)), "block2");
    return models::capture(fc(h.mean(-1)), "fc");
  }
  models::Shape output_shape(const models::Shape& in) const override { return {in[0], 3}; }
  int64_t embed_dim() const override { return 6; }

  torch::nn::Conv1d block1{nullptr}, block2{nullptr};
  torch::nn::Linear fc{nullptr};
};

/// A CNN whose forward offers no capture points.
class SilentCnnImpl : public models::ModelImpl {
 public:
  SilentCnnImpl() {
    in_channels_ = 2;
    set_model_name("silent");
    conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(2, 3, 3)));
  }
  at::Tensor forward(const at::Tensor& x) override { return conv(x).mean(-1); }
  models::Shape output_shape(const models::Shape& in) const override { return {in[0], 3}; }
  int64_t embed_dim() const override { return 3; }
  torch::nn::Conv1d conv{nullptr};
};

/// A token model with fixed attention maps and a layout; forward gives (B, 4) scores from the
/// input's mean per lead so that it depends on x.
class FakeTokenModelImpl : public models::ModelImpl {
 public:
  FakeTokenModelImpl(std::vector<at::Tensor> maps, models::TokenLayout layout)
      : maps_(std::move(maps)), layout_(layout) {
    in_channels_ = layout.rows;
    set_model_name("fake_tokens");
  }
  at::Tensor forward(const at::Tensor& x) override { return at::cat({x.mean(-1), x.mean(-1) * 2.0}, 1).slice(1, 0, 4); }
  std::vector<at::Tensor> attention_maps(const at::Tensor& x) override {
    EXPECT_EQ(x.size(0), maps_.front().size(0));
    return maps_;
  }
  models::TokenLayout token_layout() const override { return layout_; }
  models::Shape output_shape(const models::Shape& in) const override { return {in[0], 4}; }
  int64_t embed_dim() const override { return 4; }

 private:
  std::vector<at::Tensor> maps_;
  models::TokenLayout layout_;
};

}  // namespace cardiotorch::test
