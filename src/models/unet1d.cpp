// unet1d: a 1-D U-Net for per-sample labelling (ECG wave delineation), after Ronneberger et
// al. 2015 and the layout of torch_ecg's ECG_UNET: a double conv, `depth` down steps (max-pool 2
// + double conv, filters doubling), as many up steps (nearest x2, concatenated skip, double conv)
// and a 1x1 output conv. Output (B, num_classes, L) logits for an input of any length (padded
// to a multiple of 2^depth inside and cropped back).
#include <ATen/ATen.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::models {
namespace {

struct Unet1dOptions {
  int64_t filters = 16;  ///< first level's filters (doubled at every level down)
  int64_t depth = 4;     ///< down/up steps
  int64_t kernel = 9;    ///< at base_fs
  double base_fs = 500.0;
  int64_t num_classes = 0;  ///< 0 = the task's (build context)
  template <class V>
  void fields(V& v) {
    v("filters", filters, "filters of the first level (doubled per level down)");
    v("depth", depth, "number of down (and up) steps");
    v("kernel", kernel, "conv kernel size at base_fs (rescaled to the input's rate, kept odd)");
    v("base_fs", base_fs, "sampling rate the kernel size is given at");
    v("num_classes", num_classes, "output channels (0 = from the task)");
  }
  void validate() const {
    CT_CHECK(filters >= 1 && depth >= 1 && depth <= 8 && kernel >= 1, ConfigError,
             "filters >= 1, depth in [1, 8] and kernel >= 1 required");
  }
};

torch::nn::Sequential double_conv(int64_t in, int64_t out, int64_t k) {
  return torch::nn::Sequential(torch::nn::Conv1d(torch::nn::Conv1dOptions(in, out, k).padding(k / 2).bias(false)),
                               torch::nn::BatchNorm1d(out), torch::nn::ReLU(),
                               torch::nn::Conv1d(torch::nn::Conv1dOptions(out, out, k).padding(k / 2).bias(false)),
                               torch::nn::BatchNorm1d(out), torch::nn::ReLU());
}

class Unet1dImpl final : public ModelImpl {
 public:
  Unet1dImpl(const Unet1dOptions& o, const ModelContext& c) : o_(o) {
    in_channels_ = c.in_channels;
    classes_ = o.num_classes > 0 ? o.num_classes : c.num_classes;
    CT_CHECK(classes_ >= 1, ConfigError, "unet1d: num_classes is 0 and the task gives none");
    const int64_t k = adjust_kernel(o.kernel, c.fs > 0 ? c.fs : o.base_fs, o.base_fs);
    down_ = register_module("down", torch::nn::ModuleList());
    up_ = register_module("up", torch::nn::ModuleList());
    int64_t f = o.filters;
    down_->push_back(double_conv(in_channels_, f, k));
    for (int64_t d = 0; d < o.depth; ++d) {
      down_->push_back(double_conv(f, 2 * f, k));
      f *= 2;
    }
    for (int64_t d = 0; d < o.depth; ++d) {
      up_->push_back(double_conv(f + f / 2, f / 2, k));
      f /= 2;
    }
    out_ = register_module("out", torch::nn::Conv1d(torch::nn::Conv1dOptions(f, classes_, 1)));
  }

  at::Tensor forward(const at::Tensor& x) override { return run(x, false); }
  at::Tensor forward_features(const at::Tensor& x) override { return run(x, true); }

  Shape output_shape(const Shape& in) const override {
    return {in.empty() ? kUnknown : in[0], classes_, in.size() > 2 ? in[2] : kUnknown};
  }
  Shape features_shape(const Shape& in) const override {
    int64_t len = in.size() > 2 ? in[2] : kUnknown;
    if (len > 0) {
      const int64_t m = int64_t{1} << o_.depth;
      len = (len + m - 1) / m;
    }
    return {in.empty() ? kUnknown : in[0], embed_dim(), len};
  }
  int64_t embed_dim() const override { return o_.filters << o_.depth; }
  std::string summary() const override {
    return str_cat("unet1d: depth ", o_.depth, ", ", o_.filters, "-", embed_dim(), " filters, ", classes_, " outputs, ",
                   format_count(count_parameters(*this)), " parameters");
  }

 private:
  at::Tensor run(const at::Tensor& x, bool bottleneck) {
    check_input(x, 3, in_channels_, "unet1d");
    const int64_t len = x.size(2), m = int64_t{1} << o_.depth;
    const int64_t padded = (len + m - 1) / m * m;
    at::Tensor h = padded == len ? x : at::constant_pad_nd(x, {0, padded - len}, 0);
    std::vector<at::Tensor> skips;
    h = down_[0]->as<torch::nn::SequentialImpl>()->forward(h);
    for (int64_t d = 1; d <= o_.depth; ++d) {
      skips.push_back(h);
      h = down_[d]->as<torch::nn::SequentialImpl>()->forward(at::max_pool1d(h, {2}));
    }
    if (bottleneck) return h;
    for (int64_t d = 0; d < o_.depth; ++d) {
      const at::Tensor skip = skips[static_cast<size_t>(o_.depth - 1 - d)];
      h = at::upsample_nearest1d(h, at::IntArrayRef{skip.size(2)}, c10::optional<double>());
      h = up_[d]->as<torch::nn::SequentialImpl>()->forward(at::cat({skip, h}, 1));
    }
    h = out_->forward(h);
    return padded == len ? h : h.narrow(2, 0, len);
  }

  Unet1dOptions o_;
  int64_t classes_ = 0;
  torch::nn::ModuleList down_{nullptr}, up_{nullptr};
  torch::nn::Conv1d out_{nullptr};
};

}  // namespace
}  // namespace cardiotorch::models

CT_REGISTER(cardiotorch::models::model_registry(), "unet1d",
            (cardiotorch::options_factory<cardiotorch::models::ModelImpl, cardiotorch::models::Unet1dOptions>(
                [](const cardiotorch::models::Unet1dOptions& o, const cardiotorch::models::ModelContext& c) {
                  return std::make_shared<cardiotorch::models::Unet1dImpl>(o, c);
                })),
            "1-D U-Net for per-sample labelling (wave delineation): (B, classes, L) logits")
