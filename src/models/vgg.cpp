#include "cardiotorch/models/vgg.h"

#include "cardiotorch/core/registry.h"
#include "cardiotorch/models/blocks/conv_bn_act.h"
#include "models/cnn_util.h"
#include "models/resnet_detail.h"

namespace cardiotorch::models {

void VGGBlockOptions::validate() const {
  CT_CHECK(filter_length >= 1, ConfigError, "filter_length must be >= 1, got ", filter_length);
  CT_CHECK(subsample_length >= 1, ConfigError, "subsample_length must be >= 1, got ", subsample_length);
  CT_CHECK(dilation >= 1, ConfigError, "dilation must be >= 1, got ", dilation);
  detail::check_batch_norm(batch_norm, "batch_norm");
  CT_CHECK(pool_size >= 1 && pool_stride >= 1, ConfigError, "pool_size and pool_stride must be >= 1, got ", pool_size,
           " and ", pool_stride);
  check_activation("activation", activation);
  check_initializer("kernel_initializer", kernel_initializer);
}

void VGG16Options::validate() const {
  CT_CHECK(!num_convs.empty(), ConfigError, "num_convs is empty");
  CT_CHECK(num_filters.size() == num_convs.size(), ConfigError, "num_filters gives ", num_filters.size(),
           " blocks, but num_convs has ", num_convs.size());
  for (size_t i = 0; i < num_convs.size(); ++i) {
    CT_CHECK(num_convs[i] >= 1, ConfigError, "num_convs[", i, "] must be >= 1, got ", num_convs[i]);
    CT_CHECK(num_filters[i] >= 1, ConfigError, "num_filters[", i, "] must be >= 1, got ", num_filters[i]);
  }
  CT_CHECK(groups >= 1, ConfigError, "groups must be >= 1, got ", groups);
  block.validate();
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0 (0 = never rescale kernels), got ", base_fs);
}

VGG16Impl::VGG16Impl(const VGG16Options& o, const ModelContext& ctx)
    : StagedBackboneImpl("VGG16", ctx.in_channels), options_(o) {
  o.validate();
  const VGGBlockOptions& b = o.block;
  const int64_t k = detail::kernel_at(b.filter_length, ctx.fs, o.base_fs);
  int64_t in = ctx.in_channels;
  for (size_t i = 0; i < o.num_convs.size(); ++i) {
    auto blk = std::make_shared<BlockSequenceImpl>();
    for (int64_t j = 0; j < o.num_convs[i]; ++j) {
      blk->push_back(str_cat("cba_", j + 1), make_cba(ConvBnActivationOptions(in, o.num_filters[i], k)
                                                          .stride(b.subsample_length)
                                                          .dilation(b.dilation)
                                                          .groups(o.groups)
                                                          .norm(detail::norm_of(b.batch_norm, "block.batch_norm"))
                                                          .activation(b.activation)
                                                          .kernel_initializer(b.kernel_initializer)
                                                          .bias(b.bias)));
      in = o.num_filters[i];
    }
    blk->push_back("max_pool", std::make_shared<DownSampleImpl>(
                                   DownSampleOptions(b.pool_stride, in).kernel_size(b.pool_size).mode("max")));
    add_stage(str_cat("vgg_block_", i + 1), blk);
  }
  finish(str_cat(o.num_convs.size(), " blocks, kernel ", k, o.groups > 1 ? str_cat(", groups ", o.groups) : ""));
}

// --- presets (torch_ecg model_configs/cnn/vgg.py, as ECG_CRNN_CONFIG.cnn holds them) -------

VGG16Options VGG16Options::vgg16() { return VGG16Options{}; }

VGG16Options VGG16Options::vgg16_mish() {
  VGG16Options o;
  o.block.activation = "mish";
  return o;
}

VGG16Options VGG16Options::vgg16_swish() {
  VGG16Options o;
  o.block.activation = "swish";
  return o;
}

VGG16Options VGG16Options::vgg16_leadwise() {
  // ECG_CRNN_CONFIG pairs the lead-wise widths (x4, groups 12) with the swish block.
  VGG16Options o = vgg16_swish();
  o.groups = 12;
  o.num_filters = {192, 384, 768, 1536, 1536};
  return o;
}

namespace {
ModelPtr make_vgg(const VGG16Options& o, const ModelContext& c) { return std::make_shared<VGG16Impl>(o, c); }
auto vgg(VGG16Options preset) { return options_factory<ModelImpl, VGG16Options>(make_vgg, std::move(preset)); }
}  // namespace

CT_REGISTER(backbone_registry(), "vgg16", (vgg(VGG16Options::vgg16())),
            "VGG16 (1-D, 5 blocks, kernels 15, torch_ecg vgg16)")
CT_REGISTER(backbone_registry(), "vgg16_mish", (vgg(VGG16Options::vgg16_mish())),
            "VGG16 with mish activations (torch_ecg vgg16_mish)")
CT_REGISTER(backbone_registry(), "vgg16_swish", (vgg(VGG16Options::vgg16_swish())),
            "VGG16 with swish activations (torch_ecg vgg16_swish)")
CT_REGISTER(backbone_registry(), "vgg16_leadwise", (vgg(VGG16Options::vgg16_leadwise())),
            "lead-wise VGG16: groups 12, 4x widths, swish (torch_ecg vgg16_leadwise)")

}  // namespace cardiotorch::models
