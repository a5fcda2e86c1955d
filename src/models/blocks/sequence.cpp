#include "cardiotorch/models/blocks/sequence.h"

#include <ATen/ATen.h>

#include "cardiotorch/core/error.h"

namespace cardiotorch::models {
namespace {

// torch_ecg's rule: one dropout value goes after every layer but the last.
std::vector<double> per_layer_dropouts(const std::vector<double>& d, size_t layers, const char* who, bool skip_last) {
  if (d.empty()) return std::vector<double>(layers, 0.0);
  if (d.size() == 1) {
    std::vector<double> out(layers, d[0]);
    if (skip_last && layers > 1) out.back() = 0.0;
    return out;
  }
  CT_CHECK(d.size() == layers, ConfigError, who, ": ", layers, " layers but ", d.size(), " dropouts");
  return d;
}

}  // namespace

MLPImpl::MLPImpl(const MLPOptions& o) : options_(o) {
  CT_CHECK(o.in_channels() > 0, ConfigError, "MLP: in_channels must be positive, got ", o.in_channels());
  CT_CHECK(!o.out_channels().empty(), ConfigError, "MLP: out_channels is empty");
  check_activation("activation", o.activation());
  check_initializer("kernel_initializer", o.kernel_initializer());
  const size_t n = o.out_channels().size();
  const std::vector<double> dropouts = per_layer_dropouts(o.dropouts(), n, "MLP", true);
  int64_t in = o.in_channels();
  for (size_t i = 0; i < n; ++i) {
    const int64_t out = o.out_channels()[i];
    CT_CHECK(out > 0, ConfigError, "MLP: out_channels[", i, "] must be positive, got ", out);
    const std::string k = std::to_string(i);
    lins_.push_back(register_module("lin_" + k, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(o.bias()))));
    init_weight(lins_.back()->weight, o.kernel_initializer());
    Activation act;
    if (i + 1 < n || !o.skip_last_activation()) act = make_activation(o.activation());
    acts_.push_back(act ? register_module("act_" + k, act) : nullptr);
    drops_.push_back(dropouts[i] > 0 ? register_module("dropout_" + k, std::make_shared<DropoutImpl>(dropouts[i]))
                                     : nullptr);
    in = out;
  }
}

at::Tensor MLPImpl::forward(const at::Tensor& x) {
  at::Tensor y = x;
  for (size_t i = 0; i < lins_.size(); ++i) {
    y = lins_[i]->forward(y);
    if (acts_[i]) y = acts_[i]->forward(y);
    if (drops_[i]) y = drops_[i]->forward(y);
  }
  return y;
}

Shape MLPImpl::output_shape(const Shape& input) const {
  CT_CHECK(!input.empty(), ShapeError, "MLP: empty input shape");
  CT_CHECK(input.back() < 0 || input.back() == options_.in_channels(), ShapeError, "MLP: expected ",
           options_.in_channels(), " features in the last dim, got shape ", shape_string(input));
  return with_dim(input, -1, options_.out_channels().back());
}

StackedLSTMImpl::StackedLSTMImpl(const StackedLSTMOptions& o) : options_(o) {
  CT_CHECK(o.input_size() > 0, ConfigError, "StackedLSTM: input_size must be positive, got ", o.input_size());
  CT_CHECK(!o.hidden_sizes().empty(), ConfigError, "StackedLSTM: hidden_sizes is empty");
  const size_t n = o.hidden_sizes().size();
  dropouts_ = per_layer_dropouts(o.dropouts(), n, "StackedLSTM", false);
  const std::string prefix = o.bidirectional() ? "bidirectional_lstm_" : "lstm_";
  int64_t in = o.input_size();
  for (size_t i = 0; i < n; ++i) {
    const int64_t h = o.hidden_sizes()[i];
    CT_CHECK(h > 0, ConfigError, "StackedLSTM: hidden_sizes[", i, "] must be positive, got ", h);
    layers_.push_back(register_module(
        prefix + std::to_string(i + 1),
        torch::nn::LSTM(torch::nn::LSTMOptions(in, h).num_layers(1).bias(o.bias()).bidirectional(o.bidirectional()))));
    in = o.bidirectional() ? 2 * h : h;
  }
}

at::Tensor StackedLSTMImpl::forward(const at::Tensor& x) {
  CT_CHECK(x.dim() == 3 && x.size(2) == options_.input_size(), ShapeError, "StackedLSTM: expected (samples, batch, ",
           options_.input_size(), "), got shape ", x.sizes());
  at::Tensor y = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    y = std::get<0>(layers_[i]->forward(y));
    if (i + 1 < layers_.size() && dropouts_[i] > 0 && is_training()) y = at::dropout(y, dropouts_[i], true);
  }
  return options_.return_sequences() ? y : y.select(0, -1);
}

Shape StackedLSTMImpl::output_shape(const Shape& input) const {
  CT_CHECK(input.size() == 3, ShapeError, "StackedLSTM: expected a (samples, batch, features) shape, got ",
           shape_string(input));
  const int64_t width = options_.hidden_sizes().back() * (options_.bidirectional() ? 2 : 1);
  if (!options_.return_sequences()) return Shape{input[1], width};
  return Shape{input[0], input[1], width};
}

}  // namespace cardiotorch::models
