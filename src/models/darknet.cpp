#include "cardiotorch/models/darknet.h"

#include "cardiotorch/core/registry.h"
#include "cardiotorch/models/blocks/conv_bn_act.h"
#include "models/cnn_util.h"
#include "models/resnet_detail.h"

namespace cardiotorch::models {

namespace {

class DarkResidualImpl : public BlockImpl {
 public:
  DarkResidualImpl(int64_t channels, int64_t kernel, const DarkNetOptions& o) : channels_(channels) {
    CT_CHECK(channels >= 2, ConfigError, "DarkNet residual block: width must be >= 2, got ", channels);
    auto cba = [&](int64_t in, int64_t out, int64_t k) {
      return make_cba(ConvBnActivationOptions(in, out, k)
                          .norm(o.norm)
                          .activation(o.activation)
                          .bias(is_no_norm(o.norm))
                          .kernel_initializer(o.kernel_initializer));
    };
    conv_1_ = register_module("conv_1", cba(channels, channels / 2, 1));
    conv_2_ = register_module("conv_2", cba(channels / 2, channels, kernel));
  }
  at::Tensor forward(const at::Tensor& x) override {
    return x + run_named(*conv_2_, "conv_2", run_named(*conv_1_, "conv_1", x));
  }
  Shape output_shape(const Shape& input) const override {
    check_shape(input, channels_, "DarkNet residual block");
    return conv_2_->output_shape(conv_1_->output_shape(input));
  }

 private:
  int64_t channels_;
  ConvBnActivation conv_1_, conv_2_;
};

}  // namespace

void DarkNetOptions::validate() const {
  CT_CHECK(stem_num_filters >= 1 && stem_filter_length >= 1, ConfigError,
           "stem_num_filters and stem_filter_length must be >= 1");
  CT_CHECK(!num_blocks.empty(), ConfigError, "num_blocks is empty");
  for (int64_t n : num_blocks) CT_CHECK(n >= 0, ConfigError, "num_blocks must be >= 0, got ", n);
  CT_CHECK(num_filters.size() == num_blocks.size(), ConfigError, "num_filters gives ", num_filters.size(),
           " stages, but num_blocks has ", num_blocks.size());
  for (int64_t n : num_filters) CT_CHECK(n >= 2, ConfigError, "num_filters must be >= 2, got ", n);
  detail::per_item(filter_lengths, num_blocks.size(), "filter_lengths");
  for (int64_t k : filter_lengths) CT_CHECK(k >= 1, ConfigError, "filter_lengths must be >= 1, got ", k);
  detail::per_item(subsample_lengths, num_blocks.size(), "subsample_lengths");
  for (int64_t s : subsample_lengths) CT_CHECK(s >= 1, ConfigError, "subsample_lengths must be >= 1, got ", s);
  check_activation("activation", activation);
  check_norm("norm", norm);
  check_initializer("kernel_initializer", kernel_initializer);
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0 (0 = never rescale kernels), got ", base_fs);
}

DarkNetImpl::DarkNetImpl(const DarkNetOptions& o, const ModelContext& ctx)
    : StagedBackboneImpl("DarkNet", ctx.in_channels), options_(o) {
  o.validate();
  // Convolutions followed by a norm carry no bias (the norm's shift replaces it), as in YOLO.
  auto cba = [&](int64_t in, int64_t out, int64_t k, int64_t stride) {
    return make_cba(ConvBnActivationOptions(in, out, k)
                        .stride(stride)
                        .norm(o.norm)
                        .activation(o.activation)
                        .bias(is_no_norm(o.norm))
                        .kernel_initializer(o.kernel_initializer));
  };
  add_stage("stem",
            cba(ctx.in_channels, o.stem_num_filters, detail::kernel_at(o.stem_filter_length, ctx.fs, o.base_fs), 1));
  const size_t n = o.num_blocks.size();
  const auto ks = detail::per_item(o.filter_lengths, n, "filter_lengths");
  const auto ss = detail::per_item(o.subsample_lengths, n, "subsample_lengths");
  int64_t in = o.stem_num_filters;
  int64_t blocks = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t k = detail::kernel_at(ks[i], ctx.fs, o.base_fs);
    auto stage = std::make_shared<BlockSequenceImpl>();
    stage->push_back("down", cba(in, o.num_filters[i], k, ss[i]));
    in = o.num_filters[i];
    for (int64_t j = 0; j < o.num_blocks[i]; ++j)
      stage->push_back(str_cat("block_", j), std::make_shared<DarkResidualImpl>(in, k, o));
    blocks += o.num_blocks[i];
    add_stage(str_cat("stage_", i), stage);
  }
  finish(str_cat(n, " stages, ", blocks, " residual blocks"));
}

DarkNetOptions DarkNetOptions::darknet53() { return DarkNetOptions{}; }

DarkNetOptions DarkNetOptions::darknet53_ecg() {
  DarkNetOptions o;
  o.stem_filter_length = 25;
  o.num_filters = {32, 64, 128, 256, 512};
  o.filter_lengths = {15, 11, 7, 5, 3};
  return o;
}

DarkNetOptions DarkNetOptions::darknet21() {
  DarkNetOptions o = darknet53_ecg();
  o.num_blocks = {1, 1, 2, 2, 1};
  return o;
}

namespace {
ModelPtr make_darknet(const DarkNetOptions& o, const ModelContext& c) { return std::make_shared<DarkNetImpl>(o, c); }
auto darknet(DarkNetOptions preset) {
  return options_factory<ModelImpl, DarkNetOptions>(make_darknet, std::move(preset));
}
}  // namespace

CT_REGISTER(backbone_registry(), "darknet53", (darknet(DarkNetOptions::darknet53())),
            "1-D Darknet-53 (YOLOv3 backbone): 5 stages [1, 2, 8, 8, 4], widths 64..1024, kernels 3")
CT_REGISTER(backbone_registry(), "darknet53_ecg", (darknet(DarkNetOptions::darknet53_ecg())),
            "1-D Darknet-53 for ECGs: widths 32..512, kernels [15, 11, 7, 5, 3] at 500 Hz")
CT_REGISTER(backbone_registry(), "darknet21", (darknet(DarkNetOptions::darknet21())),
            "1-D DarkNet, 5 stages [1, 1, 2, 2, 1], widths 32..512, kernels [15, 11, 7, 5, 3]")

}  // namespace cardiotorch::models
