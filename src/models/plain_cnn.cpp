// plain_cnn: a small VGG-style 1-D CNN backbone (conv-BN-ReLU blocks with max pooling), the
// classic baseline for heartbeat classification and a fast encoder for tests and smoke runs.
// Parameters: blocks.<k>.conv.weight, blocks.<k>.bn.*; embed() = global average pool.
#include <ATen/ATen.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/moduledict.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/capture.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::models {
namespace {

struct PlainCnnOptions {
  std::vector<int64_t> channels = {32, 64, 128};
  std::vector<int64_t> kernels = {7, 5, 3};  ///< at base_fs; rescaled to the input's fs
  double base_fs = 360.0;
  int64_t pool = 2;  ///< max-pool after every block but the last (1 = none)
  double dropout = 0.0;
  template <class V>
  void fields(V& v) {
    v("channels", channels, "output channels of each conv block");
    v("kernels", kernels, "kernel size of each block at base_fs (rescaled to the input's rate, kept odd)");
    v("base_fs", base_fs, "sampling rate the kernel sizes are given at");
    v("pool", pool, "max-pool factor after every block except the last (1 = no pooling)");
    v("dropout", dropout, "dropout after every block");
  }
  void validate() const {
    CT_CHECK(!channels.empty() && channels.size() == kernels.size(), ConfigError,
             "channels and kernels must be non-empty lists of the same length");
    for (int64_t c : channels) CT_CHECK(c >= 1, ConfigError, "channels must be >= 1, got ", c);
    for (int64_t k : kernels) CT_CHECK(k >= 1, ConfigError, "kernels must be >= 1, got ", k);
    CT_CHECK(pool >= 1, ConfigError, "pool must be >= 1, got ", pool);
    CT_CHECK(dropout >= 0 && dropout < 1, ConfigError, "dropout must be in [0, 1), got ", dropout);
    CT_CHECK(base_fs > 0, ConfigError, "base_fs must be > 0");
  }
};

class PlainCnnImpl final : public ModelImpl {
 public:
  PlainCnnImpl(const PlainCnnOptions& o, const ModelContext& c) : o_(o) {
    in_channels_ = c.in_channels;
    int64_t in = c.in_channels;
    blocks_ = register_module("blocks", torch::nn::ModuleList());
    for (size_t i = 0; i < o.channels.size(); ++i) {
      const int64_t k = adjust_kernel(o.kernels[i], c.fs > 0 ? c.fs : o.base_fs, o.base_fs);
      kernels_.push_back(k);
      auto block = torch::nn::ModuleDict();
      block->update({{"conv", std::make_shared<torch::nn::Conv1dImpl>(
                                  torch::nn::Conv1dOptions(in, o.channels[i], k).padding(k / 2).bias(false))},
                     {"bn", std::make_shared<torch::nn::BatchNorm1dImpl>(o.channels[i])}});
      blocks_->push_back(block);
      capture_names_.push_back(str_cat("blocks.", i));
      convs_.push_back(block["conv"]->as<torch::nn::Conv1dImpl>());
      bns_.push_back(block["bn"]->as<torch::nn::BatchNorm1dImpl>());
      in = o.channels[i];
    }
  }
  at::Tensor forward(const at::Tensor& x) override {
    check_input(x, 3, in_channels_, "plain_cnn");
    at::Tensor h = x;
    for (size_t i = 0; i < convs_.size(); ++i) {
      h = at::relu(bns_[i]->forward(convs_[i]->forward(h)));
      h = capture(h, capture_names_[i]);  // each block's map for Grad-CAM (models/capture.h)
      if (o_.dropout > 0) h = at::dropout(h, o_.dropout, is_training());
      if (o_.pool > 1 && i + 1 < convs_.size() && h.size(2) >= o_.pool) h = at::max_pool1d(h, {o_.pool});
    }
    return h;
  }
  Shape output_shape(const Shape& in) const override {
    int64_t len = in.size() > 2 ? in[2] : kUnknown;
    for (size_t i = 0; i + 1 < o_.channels.size(); ++i)
      if (o_.pool > 1 && len >= o_.pool) len /= o_.pool;
    return {in.empty() ? kUnknown : in[0], o_.channels.back(), len};
  }
  int64_t embed_dim() const override { return o_.channels.back(); }
  std::string summary() const override {
    return str_cat("plain_cnn: ", o_.channels.size(), " conv blocks (kernels ",
                   join(
                       [&] {
                         std::vector<std::string> k;
                         for (int64_t v : kernels_) k.push_back(std::to_string(v));
                         return k;
                       }(),
                       "/"),
                   "), ", format_count(count_parameters(*this)), " parameters");
  }

 private:
  PlainCnnOptions o_;
  std::vector<int64_t> kernels_;
  torch::nn::ModuleList blocks_{nullptr};
  std::vector<torch::nn::Conv1dImpl*> convs_;
  std::vector<std::string> capture_names_;
  std::vector<torch::nn::BatchNorm1dImpl*> bns_;
};

}  // namespace
}  // namespace cardiotorch::models

CT_REGISTER(cardiotorch::models::backbone_registry(), "plain_cnn",
            (cardiotorch::options_factory<cardiotorch::models::ModelImpl, cardiotorch::models::PlainCnnOptions>(
                [](const cardiotorch::models::PlainCnnOptions& o, const cardiotorch::models::ModelContext& c) {
                  return std::make_shared<cardiotorch::models::PlainCnnImpl>(o, c);
                })),
            "small VGG-style 1-D CNN (conv-BN-ReLU + max-pool blocks): a fast baseline encoder")
