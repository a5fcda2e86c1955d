#include "cardiotorch/models/unet.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/modules/batchnorm.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/blocks/layers.h"
#include "cardiotorch/models/capture.h"
#include "models/task_common.h"

namespace cardiotorch::models {

namespace {

int64_t kernel_at(int64_t k, double fs, double base_fs) {
  return base_fs > 0 && fs != base_fs ? adjust_kernel(k, fs, base_fs) : k;
}

void check_positive_list(const std::string& key, const std::vector<int64_t>& v) {
  for (size_t i = 0; i < v.size(); ++i) CT_CHECK(v[i] >= 1, ConfigError, key, "[", i, "] must be >= 1, got ", v[i]);
}

void check_dropouts(const std::string& key, const std::vector<double>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    CT_CHECK(v[i] >= 0 && v[i] < 1, ConfigError, key, "[", i, "] must be in [0, 1), got ", v[i]);
}

void check_size(const std::string& key, size_t n, size_t expected, const std::string& what) {
  CT_CHECK(n == expected, ConfigError, key, " has ", n, " entries, expected ", expected, " (", what, ")");
}

std::string scales_text(const std::vector<int64_t>& scales) {
  std::vector<std::string> parts;
  for (int64_t v : scales) parts.push_back(std::to_string(v));
  return join(parts, " x ");
}

// The centre-padded (or cropped: negative padding) `x` to `len` samples (torch_ecg's F.pad rule).
// Python's `diff // 2` floors: a map one sample too long loses its first sample, not its last
// (C++'s `/` would truncate towards zero).
at::Tensor centre_to(const at::Tensor& x, int64_t len) {
  const int64_t diff = len - x.size(-1);
  if (diff == 0) return x;
  const int64_t left = diff >= 0 ? diff / 2 : -((-diff + 1) / 2);
  return at::constant_pad_nd(x, {left, diff - left}, 0.0);
}

// The bottom of the subtract U-Net (torch_ecg's DownBranchedDoubleConv): subsampling, then
// branches whose outputs b_0, b_1 are concatenated with b_0 - b_1.
class SubtractBottomImpl : public BlockImpl {
 public:
  SubtractBottomImpl(int64_t in_channels, int64_t scale, const std::string& mode, std::vector<MultiConv> branches)
      : in_channels_(in_channels) {
    down_ = register_module("down_sample",
                            std::make_shared<DownSampleImpl>(DownSampleOptions(scale, in_channels).mode(mode)));
    auto branched = register_module("branched_conv", std::make_shared<torch::nn::Module>());
    auto holder = branched->register_module("branches", std::make_shared<torch::nn::Module>());
    for (size_t i = 0; i < branches.size(); ++i)
      branches_.push_back(holder->register_module(str_cat("multi_conv_", i), branches[i]));
    width_ = branches_.front()->out_channels();
  }
  at::Tensor forward(const at::Tensor& x) override {
    const at::Tensor d = down_->forward(x);
    std::vector<at::Tensor> out;
    for (auto& b : branches_) out.push_back(b->forward(d));
    out.push_back(out[0] - out[1]);  // micro scope minus macro scope, as torch_ecg
    return at::cat(out, 1);
  }
  Shape output_shape(const Shape& input) const override {
    const Shape s = branches_.front()->output_shape(down_->output_shape(input));
    return with_dim(s, 1, width_ * static_cast<int64_t>(branches_.size() + 1));
  }

 private:
  int64_t in_channels_, width_ = 0;
  DownSample down_;
  std::vector<MultiConv> branches_;
};

std::shared_ptr<BlockSequenceImpl> down_block(int64_t in, int64_t scale, const std::string& mode,
                                              const std::string& name, MultiConv conv) {
  auto b = std::make_shared<BlockSequenceImpl>();
  b->push_back("down_sample", std::make_shared<DownSampleImpl>(DownSampleOptions(scale, in).mode(mode)));
  b->push_back(name, std::move(conv));
  return b;
}

}  // namespace

// --- pieces -------------------------------------------------------------------------------------------

void UnetConvOptions::validate() const {
  check_activation("activation", activation);
  check_initializer("kernel_initializer", kernel_initializer);
}

MultiConvImpl::MultiConvImpl(int64_t in_channels, const std::vector<int64_t>& out_channels,
                             const std::vector<int64_t>& kernels, const std::vector<int64_t>& dilations,
                             const std::vector<double>& dropouts, int64_t groups, const UnetConvOptions& conv) {
  CT_INTERNAL_ASSERT(!out_channels.empty() && kernels.size() == out_channels.size() &&
                         dilations.size() == out_channels.size() && dropouts.size() == out_channels.size(),
                     "MultiConv: inconsistent per-convolution lists");
  int64_t in = in_channels;
  for (size_t i = 0; i < out_channels.size(); ++i) {
    push_back(str_cat("cba_", i), make_cba(ConvBnActivationOptions(in, out_channels[i], kernels[i])
                                               .dilation(dilations[i])
                                               .groups(groups)
                                               .norm(conv.batch_norm ? "batch_norm" : "none")
                                               .activation(conv.activation)
                                               .kernel_initializer(conv.kernel_initializer)));
    if (dropouts[i] > 0) push_back(str_cat("dropout_", i), std::make_shared<DropoutImpl>(dropouts[i]));
    in = out_channels[i];
  }
  out_channels_ = in;
}

const std::vector<std::string>& unet_up_modes() {
  static const std::vector<std::string> m{"nearest", "linear", "area", "deconv"};
  return m;
}

UnetUpBlockImpl::UnetUpBlockImpl(int64_t in_channels, int64_t skip_channels, int64_t scale, const std::string& mode,
                                 int64_t deconv_kernel, std::shared_ptr<MultiConvImpl> conv)
    : in_channels_(in_channels), scale_(scale), mode_(mode), conv_(std::move(conv)) {
  (void)skip_channels;
  if (mode_ == "deconv") {
    deconv_kernel_ = deconv_kernel;
    deconv_padding_ = std::max<int64_t>(0, (deconv_kernel - scale) / 2);
    up_ = register_module(
        "up", torch::nn::ConvTranspose1d(torch::nn::ConvTranspose1dOptions(in_channels, in_channels, deconv_kernel)
                                             .stride(scale)
                                             .padding(deconv_padding_)));
  }
  register_module("conv", conv_);
}

int64_t UnetUpBlockImpl::up_length(int64_t len) const {
  if (len < 0) return kUnknown;
  if (mode_ == "deconv") return (len - 1) * scale_ - 2 * deconv_padding_ + deconv_kernel_;
  return len * scale_;
}

at::Tensor UnetUpBlockImpl::forward(const at::Tensor& x, const at::Tensor& skip) {
  namespace F = torch::nn::functional;
  at::Tensor y;
  if (up_) {
    y = up_->forward(x);
  } else {
    auto o = F::InterpolateFuncOptions().scale_factor(std::vector<double>{static_cast<double>(scale_)});
    if (mode_ == "nearest") o.mode(torch::kNearest);
    else if (mode_ == "linear") o.mode(torch::kLinear).align_corners(false);
    else o.mode(torch::kArea);
    y = F::interpolate(x, o);
  }
  return conv_->forward(at::cat({skip, centre_to(y, skip.size(-1))}, 1));
}

// --- options -----------------------------------------------------------------------------------------------

void EcgUnetOptions::validate() const {
  CT_CHECK(groups >= 1, ConfigError, "groups must be >= 1, got ", groups);
  CT_CHECK(init_num_filters >= 1 && init_filter_length >= 1 && out_filter_length >= 1, ConfigError,
           "init_num_filters, init_filter_length and out_filter_length must be >= 1");
  check_activation("activation", activation);
  check_initializer("kernel_initializer", kernel_initializer);
  check_choice("down_mode", down_mode, DownSampleImpl::modes());
  check_choice("up_mode", up_mode, unet_up_modes());
  const size_t n = down_num_filters.size();
  CT_CHECK(n >= 1, ConfigError, "down_num_filters is empty (one entry per down block)");
  check_size("down_scales", down_scales.size(), n, "one per down block");
  check_size("down_filter_lengths", down_filter_lengths.size(), n, "one per down block");
  check_size("up_scales", up_scales.size(), n, "one per up block = one per down block");
  check_size("up_num_filters", up_num_filters.size(), n, "one per up block");
  check_size("up_conv_filter_lengths", up_conv_filter_lengths.size(), n, "one per up block");
  check_size("up_deconv_filter_lengths", up_deconv_filter_lengths.size(), n, "one per up block");
  for (const auto* l : {&down_scales, &down_num_filters, &down_filter_lengths, &up_scales, &up_num_filters,
                        &up_conv_filter_lengths, &up_deconv_filter_lengths})
    check_positive_list("U-Net sizes", *l);
  down_block.validate();
  up_block.validate();
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0, got ", base_fs);
}

void EcgSubtractUnetOptions::validate() const {
  CT_CHECK(groups >= 1, ConfigError, "groups must be >= 1, got ", groups);
  CT_CHECK(init_num_filters >= 1 && init_filter_length >= 1 && out_filter_length >= 1, ConfigError,
           "init_num_filters, init_filter_length and out_filter_length must be >= 1");
  check_size("init_dropouts", init_dropouts.size(), 3, "one per convolution of the TripleConv");
  check_dropouts("init_dropouts", init_dropouts);
  check_activation("activation", activation);
  check_initializer("kernel_initializer", kernel_initializer);
  check_choice("down_mode", down_mode, DownSampleImpl::modes());
  check_choice("up_mode", up_mode, unet_up_modes());
  const size_t n = down_scales.size();
  CT_CHECK(n >= 1, ConfigError, "down_scales is empty (one per down block, the bottom's last)");
  check_positive_list("down_scales", down_scales);
  check_size("down_num_filters", down_num_filters.size(), n - 1, "one per down block before the bottom");
  check_size("down_filter_lengths", down_filter_lengths.size(), n - 1, "one per down block before the bottom");
  check_size("down_dropouts", down_dropouts.size(), n - 1, "one per down block before the bottom");
  for (size_t i = 0; i + 1 < n; ++i) {
    check_size(str_cat("down_num_filters[", i, "]"), down_num_filters[i].size(), 3, "a TripleConv");
    check_size(str_cat("down_dropouts[", i, "]"), down_dropouts[i].size(), 3, "a TripleConv");
    check_positive_list(str_cat("down_num_filters[", i, "]"), down_num_filters[i]);
    check_dropouts(str_cat("down_dropouts[", i, "]"), down_dropouts[i]);
  }
  check_positive_list("down_filter_lengths", down_filter_lengths);
  check_size("bottom_num_filters", bottom_num_filters.size(), 2, "two branches: b1, b2 -> [b1, b2, b1 - b2]");
  for (const auto* l : {&bottom_filter_lengths, &bottom_dilations})
    check_size("bottom_filter_lengths / bottom_dilations", l->size(), 2, "two branches");
  check_size("bottom_dropouts", bottom_dropouts.size(), 2, "two branches");
  for (size_t b = 0; b < 2; ++b) {
    const size_t k = bottom_num_filters[b].size();
    CT_CHECK(k >= 1, ConfigError, "bottom_num_filters[", b, "] is empty");
    check_size(str_cat("bottom_filter_lengths[", b, "]"), bottom_filter_lengths[b].size(), k, "one per convolution");
    check_size(str_cat("bottom_dilations[", b, "]"), bottom_dilations[b].size(), k, "one per convolution");
    check_size(str_cat("bottom_dropouts[", b, "]"), bottom_dropouts[b].size(), k, "one per convolution");
    check_positive_list(str_cat("bottom_num_filters[", b, "]"), bottom_num_filters[b]);
    check_positive_list(str_cat("bottom_filter_lengths[", b, "]"), bottom_filter_lengths[b]);
    check_positive_list(str_cat("bottom_dilations[", b, "]"), bottom_dilations[b]);
    check_dropouts(str_cat("bottom_dropouts[", b, "]"), bottom_dropouts[b]);
  }
  CT_CHECK(bottom_num_filters[0].back() == bottom_num_filters[1].back(), ConfigError,
           "bottom_num_filters: both branches must end with the same width (b1 - b2), got ",
           bottom_num_filters[0].back(), " and ", bottom_num_filters[1].back());
  check_size("up_scales", up_scales.size(), n, "one per up block = one per down scale");
  check_size("up_num_filters", up_num_filters.size(), n, "one per up block");
  check_size("up_conv_filter_lengths", up_conv_filter_lengths.size(), n, "one per up block");
  check_size("up_deconv_filter_lengths", up_deconv_filter_lengths.size(), n, "one per up block");
  check_size("up_dropouts", up_dropouts.size(), n, "one per up block");
  for (size_t i = 0; i < n; ++i) {
    check_size(str_cat("up_num_filters[", i, "]"), up_num_filters[i].size(), 3, "a TripleConv");
    check_size(str_cat("up_dropouts[", i, "]"), up_dropouts[i].size(), 3, "a TripleConv");
    check_positive_list(str_cat("up_num_filters[", i, "]"), up_num_filters[i]);
    check_dropouts(str_cat("up_dropouts[", i, "]"), up_dropouts[i]);
  }
  check_positive_list("up_scales", up_scales);
  check_positive_list("up_conv_filter_lengths", up_conv_filter_lengths);
  check_positive_list("up_deconv_filter_lengths", up_deconv_filter_lengths);
  down_block.validate();
  up_block.validate();
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0, got ", base_fs);
}

// --- the U-Nets --------------------------------------------------------------------------------------------

UnetImpl::UnetImpl(const EcgUnetOptions& o, const ModelContext& c) {
  o.validate();
  in_channels_ = c.in_channels;
  num_classes_ = detail::resolve_num_classes(o.classes, c.num_classes, "ecg_unet");
  const auto k = [&](int64_t v) { return kernel_at(v, c.fs, o.base_fs); };
  down_scales_ = o.down_scales;
  const UnetConvOptions init{o.batch_norm, o.activation, o.kernel_initializer};
  const auto init_conv =
      std::make_shared<MultiConvImpl>(in_channels_, std::vector<int64_t>{o.init_num_filters, o.init_num_filters},
                                      std::vector<int64_t>(2, k(o.init_filter_length)), std::vector<int64_t>(2, 1),
                                      std::vector<double>(2, 0.0), o.groups, init);
  init_conv_ = register_module("init_conv", init_conv);
  std::vector<int64_t> widths{init_conv->out_channels()};
  auto downs = register_module("down_blocks", std::make_shared<torch::nn::Module>());
  for (size_t i = 0; i < o.down_num_filters.size(); ++i) {
    const int64_t f = o.down_num_filters[i];
    auto conv = std::make_shared<MultiConvImpl>(
        widths.back(), std::vector<int64_t>{f, f}, std::vector<int64_t>(2, k(o.down_filter_lengths[i])),
        std::vector<int64_t>(2, 1), std::vector<double>(2, 0.0), o.groups, o.down_block);
    downs_.push_back(downs->register_module(
        str_cat("down_", i), down_block(widths.back(), o.down_scales[i], o.down_mode, "double_conv", conv)));
    down_names_.push_back(str_cat("down_blocks.down_", i));
    widths.push_back(f);
  }
  auto ups = register_module("up_blocks", std::make_shared<torch::nn::Module>());
  int64_t in = widths.back();
  for (size_t i = 0; i < o.up_num_filters.size(); ++i) {
    const int64_t skip = widths[widths.size() - 2 - i];
    const int64_t f = o.up_num_filters[i];
    auto conv = std::make_shared<MultiConvImpl>(
        skip + in, std::vector<int64_t>{f, f}, std::vector<int64_t>(2, k(o.up_conv_filter_lengths[i])),
        std::vector<int64_t>(2, 1), std::vector<double>(2, 0.0), o.groups, o.up_block);
    ups_.push_back(ups->register_module(str_cat("up_", i),
                                        std::make_shared<UnetUpBlockImpl>(in, skip, o.up_scales[i], o.up_mode,
                                                                          k(o.up_deconv_filter_lengths[i]), conv)));
    in = f;
  }
  finish(in, k(o.out_filter_length), o.out_batch_norm, o.groups, o.kernel_initializer);
}

UnetImpl::UnetImpl(const EcgSubtractUnetOptions& o, const ModelContext& c) {
  o.validate();
  in_channels_ = c.in_channels;
  num_classes_ = detail::resolve_num_classes(o.classes, c.num_classes, "ecg_subtract_unet");
  const auto k = [&](int64_t v) { return kernel_at(v, c.fs, o.base_fs); };
  down_scales_ = o.down_scales;
  if (o.init_batch_norm) init_bn_ = register_module("init_bn", make_norm("batch_norm", in_channels_));
  const UnetConvOptions init{o.batch_norm, o.activation, o.kernel_initializer};
  const auto init_conv = std::make_shared<MultiConvImpl>(in_channels_, std::vector<int64_t>(3, o.init_num_filters),
                                                         std::vector<int64_t>(3, k(o.init_filter_length)),
                                                         std::vector<int64_t>(3, 1), o.init_dropouts, o.groups, init);
  init_conv_ = register_module("init_conv", init_conv);
  std::vector<int64_t> widths{init_conv->out_channels()};
  auto downs = register_module("down_blocks", std::make_shared<torch::nn::Module>());
  for (size_t i = 0; i < o.down_num_filters.size(); ++i) {
    auto conv = std::make_shared<MultiConvImpl>(widths.back(), o.down_num_filters[i],
                                                std::vector<int64_t>(3, k(o.down_filter_lengths[i])),
                                                std::vector<int64_t>(3, 1), o.down_dropouts[i], o.groups, o.down_block);
    downs_.push_back(downs->register_module(
        str_cat("down_", i), down_block(widths.back(), o.down_scales[i], o.down_mode, "triple_conv", conv)));
    down_names_.push_back(str_cat("down_blocks.down_", i));
    widths.push_back(conv->out_channels());
  }
  std::vector<MultiConv> branches;
  for (size_t b = 0; b < 2; ++b) {
    std::vector<int64_t> kernels;
    for (int64_t v : o.bottom_filter_lengths[b]) kernels.push_back(k(v));
    branches.push_back(std::make_shared<MultiConvImpl>(widths.back(), o.bottom_num_filters[b], kernels,
                                                       o.bottom_dilations[b], o.bottom_dropouts[b], o.groups,
                                                       o.down_block));
  }
  auto bottom = std::make_shared<SubtractBottomImpl>(widths.back(), o.down_scales.back(), o.down_mode, branches);
  downs_.push_back(register_module("bottom_block", bottom));
  down_names_.push_back("bottom_block");
  int64_t in = 3 * o.bottom_num_filters[0].back();
  auto ups = register_module("up_blocks", std::make_shared<torch::nn::Module>());
  for (size_t i = 0; i < o.up_num_filters.size(); ++i) {
    const int64_t skip = widths[widths.size() - 1 - i];
    auto conv = std::make_shared<MultiConvImpl>(skip + in, o.up_num_filters[i],
                                                std::vector<int64_t>(3, k(o.up_conv_filter_lengths[i])),
                                                std::vector<int64_t>(3, 1), o.up_dropouts[i], o.groups, o.up_block);
    ups_.push_back(ups->register_module(str_cat("up_", i),
                                        std::make_shared<UnetUpBlockImpl>(in, skip, o.up_scales[i], o.up_mode,
                                                                          k(o.up_deconv_filter_lengths[i]), conv)));
    in = conv->out_channels();
  }
  finish(in, k(o.out_filter_length), o.out_batch_norm, o.groups, o.kernel_initializer);
}

void UnetImpl::finish(int64_t up_out, int64_t out_kernel, bool out_bn, int64_t groups, const std::string& init) {
  feature_channels_ = up_out;
  out_conv_ = register_module("out_conv", make_cba(ConvBnActivationOptions(up_out, num_classes_, out_kernel)
                                                       .groups(groups)
                                                       .norm(out_bn ? "batch_norm" : "none")
                                                       .kernel_initializer(init)));
}

std::vector<int64_t> UnetImpl::down_lengths(int64_t len) const {
  std::vector<int64_t> lens;
  Shape cur = init_conv_->output_shape(Shape{kUnknown, in_channels_, len});
  lens.push_back(cur[2]);
  for (const auto& d : downs_) {
    cur = d->output_shape(cur);
    CT_CHECK(cur[2] < 0 || cur[2] >= 1, ShapeError, model_name().empty() ? "unet" : model_name(), ": an input of ", len,
             " samples is too short for the down path (subsampling ", scales_text(down_scales_), ")");
    lens.push_back(cur[2]);
  }
  return lens;
}

at::Tensor UnetImpl::forward_features(const at::Tensor& x) {
  check_input(x, 3, in_channels_, model_name().empty() ? "unet" : model_name());
  down_lengths(x.size(2));  // a clear error for inputs too short to subsample
  at::Tensor y = init_bn_ ? apply_norm(*init_bn_, x) : x;
  std::vector<at::Tensor> skips{capture(init_conv_->forward(y), "init_conv")};
  for (size_t i = 0; i < downs_.size(); ++i) skips.push_back(downs_[i]->forward(skips.back()));
  y = capture(skips.back(), "bottom");
  for (size_t i = 0; i < ups_.size(); ++i) y = ups_[i]->forward(y, skips[skips.size() - 2 - i]);
  return capture(y, "up_blocks");
}

at::Tensor UnetImpl::forward(const at::Tensor& x) { return out_conv_->forward(forward_features(x)).transpose(1, 2); }

Shape UnetImpl::features_shape(const Shape& input) const {
  check_shape(input, in_channels_, model_name().empty() ? "unet" : model_name());
  if (input[2] >= 0) down_lengths(input[2]);
  return Shape{input[0], feature_channels_, input[2]};
}

Shape UnetImpl::output_shape(const Shape& input) const {
  const Shape f = features_shape(input);
  return Shape{f[0], f[2], num_classes_};
}

std::vector<std::pair<std::string, Shape>> UnetImpl::stage_shapes(const Shape& input) const {
  std::vector<std::pair<std::string, Shape>> out;
  Shape s = init_conv_->output_shape(input);
  out.emplace_back("init_conv", s);
  for (size_t i = 0; i < downs_.size(); ++i) out.emplace_back(down_names_[i], s = downs_[i]->output_shape(s));
  out.emplace_back("up_blocks", features_shape(input));
  out.emplace_back("out_conv (channel-last)", output_shape(input));
  return out;
}

std::string UnetImpl::summary() const {
  return str_cat(model_name().empty() ? "unet" : model_name(), ": U-Net, ", downs_.size(), " down / ", ups_.size(),
                 " up blocks (subsampling ", scales_text(down_scales_), "), ", num_classes_, " classes, ",
                 format_count(count_parameters(*this)), " parameters");
}

namespace {
ModelPtr make_unet(const EcgUnetOptions& o, const ModelContext& c) { return std::make_shared<UnetImpl>(o, c); }
ModelPtr make_subtract(const EcgSubtractUnetOptions& o, const ModelContext& c) {
  return std::make_shared<UnetImpl>(o, c);
}
}  // namespace

CT_REGISTER(model_registry(), "ecg_unet", (options_factory<ModelImpl, EcgUnetOptions>(make_unet)),
            "torch_ecg ECG_UNET (ECG_UNET_VANILLA_CONFIG): 1-D U-Net for wave delineation, (B, L, K)")
CT_REGISTER(model_registry(), "ecg_subtract_unet", (options_factory<ModelImpl, EcgSubtractUnetOptions>(make_subtract)),
            "torch_ecg ECG_SUBTRACT_UNET (CPSC 2019 entry 0433): U-Net with a subtracting dilated bottom, (B, L, K)")

}  // namespace cardiotorch::models
