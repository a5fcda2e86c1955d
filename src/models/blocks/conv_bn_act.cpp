#include "cardiotorch/models/blocks/conv_bn_act.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include <cmath>
#include <limits>

#include "cardiotorch/core/error.h"

namespace cardiotorch::models {
namespace {

torch::nn::Conv1d make_conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding, int64_t dilation,
                            int64_t groups, bool bias) {
  return torch::nn::Conv1d(torch::nn::Conv1dOptions(in, out, k)
                               .stride(stride)
                               .padding(padding)
                               .dilation(dilation)
                               .groups(groups)
                               .bias(bias));
}

void check_positive(const char* who, const char* key, int64_t v) {
  CT_CHECK(v > 0, ConfigError, who, ": ", key, " must be positive, got ", v);
}

}  // namespace

// --- BlurPool -------------------------------------------------------------------------------

BlurPoolImpl::BlurPoolImpl(const BlurPoolOptions& o) : options_(o) {
  check_positive("BlurPool", "down_scale", o.down_scale());
  check_positive("BlurPool", "in_channels", o.in_channels());
  CT_CHECK(o.filt_size() >= 1 && o.filt_size() <= 16, ConfigError, "BlurPool: filt_size must be in 1..16, got ",
           o.filt_size());
  CT_CHECK(o.pad_off() >= 0, ConfigError, "BlurPool: pad_off must be >= 0, got ", o.pad_off());
  check_choice("pad_type", o.pad_type(), {"reflect", "replicate", "zero"});
  pad_left_ = (o.filt_size() - 1) / 2 + o.pad_off();
  pad_right_ = o.filt_size() / 2 + o.pad_off();  // ceil((filt_size - 1) / 2)
  // Binomial coefficients, normalised to sum 1 (in float32, like torch_ecg).
  std::vector<float> a(static_cast<size_t>(o.filt_size()), 1.0f);
  for (int64_t n = 1; n < o.filt_size(); ++n)
    for (int64_t i = n - 1; i >= 1; --i) a[static_cast<size_t>(i)] += a[static_cast<size_t>(i - 1)];
  at::Tensor f = at::tensor(a);
  f = f / f.sum();
  filt_ = register_buffer("filt", f.view({1, 1, -1}).repeat({o.in_channels(), 1, 1}));
}

at::Tensor BlurPoolImpl::forward(const at::Tensor& x) {
  at::Tensor y = x;
  if (pad_left_ + pad_right_ > 0) {
    const std::vector<int64_t> pad{pad_left_, pad_right_};
    const std::string& t = options_.pad_type();
    if (t == "reflect") {
      CT_CHECK(x.size(-1) > std::max(pad_left_, pad_right_), ShapeError, "BlurPool: reflect padding of ",
               std::max(pad_left_, pad_right_), " needs more than that many samples, got ", x.size(-1));
      y = at::reflection_pad1d(x, pad);
    } else if (t == "replicate") {
      y = at::replication_pad1d(x, pad);
    } else {
      y = at::constant_pad_nd(x, pad, 0.0);
    }
  }
  if (options_.filt_size() == 1) return y.slice(-1, 0, c10::nullopt, options_.down_scale()).contiguous();
  const std::vector<int64_t> stride{options_.down_scale()}, padding{0}, dilation{1};
  return at::conv1d(y, filt_.to(y.dtype()), c10::optional<at::Tensor>(), stride, padding, dilation,
                    options_.in_channels());
}

Shape BlurPoolImpl::output_shape(const Shape& input) const {
  check_shape(input, options_.in_channels(), "BlurPool");
  const int64_t L = input[2];
  if (L < 0) return input;
  const int64_t padded = L + pad_left_ + pad_right_;
  const int64_t out = options_.filt_size() == 1 ? (padded - 1) / options_.down_scale() + 1
                                                : conv_out_len(padded, options_.filt_size(), options_.down_scale());
  return with_dim(input, 2, out);
}

// --- SeparableConv, AntiAliasConv ------------------------------------------------------------

SeparableConvImpl::SeparableConvImpl(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding,
                                     int64_t dilation, int64_t groups, bool bias, int64_t depth_multiplier)
    : out_(out), k_(k), stride_(stride), padding_(padding), dilation_(dilation) {
  check_positive("SeparableConv", "depth_multiplier", depth_multiplier);
  const int64_t mid = in * depth_multiplier;
  CT_CHECK(mid % groups == 0 && out % groups == 0, ConfigError, "SeparableConv: ", mid, " depthwise and ", out,
           " output channels must be divisible by groups ", groups);
  depthwise_conv = register_module("depthwise_conv", make_conv(in, mid, k, stride, padding, dilation, in, bias));
  pointwise_conv = register_module("pointwise_conv", make_conv(mid, out, 1, 1, 0, 1, groups, bias));
}

at::Tensor SeparableConvImpl::forward(const at::Tensor& x) { return pointwise_conv(depthwise_conv(x)); }

Shape SeparableConvImpl::output_shape(const Shape& input) const {
  return Shape{input[0], out_, conv_out_len(input[2], k_, stride_, padding_, dilation_)};
}

AntiAliasConvImpl::AntiAliasConvImpl(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding,
                                     int64_t dilation, int64_t groups, bool bias, int64_t filt_size)
    : out_(out), k_(k), padding_(padding), dilation_(dilation) {
  conv = register_module("conv", make_conv(in, out, k, 1, padding, dilation, groups, bias));
  if (stride > 1)
    aa = register_module("aa", std::make_shared<BlurPoolImpl>(BlurPoolOptions(stride, out).filt_size(filt_size)));
}

at::Tensor AntiAliasConvImpl::forward(const at::Tensor& x) {
  at::Tensor y = conv(x);
  return aa ? aa->forward(y) : y;
}

Shape AntiAliasConvImpl::output_shape(const Shape& input) const {
  const Shape s{input[0], out_, conv_out_len(input[2], k_, 1, padding_, dilation_)};
  return aa ? aa->output_shape(s) : s;
}

// --- ConvBnActivation -----------------------------------------------------------------------

ConvBnActivationImpl::ConvBnActivationImpl(const ConvBnActivationOptions& o) : options_(o) {
  const char* who = "ConvBnActivation";
  check_positive(who, "in_channels", o.in_channels());
  check_positive(who, "out_channels", o.out_channels());
  check_positive(who, "kernel_size", o.kernel_size());
  check_positive(who, "stride", o.stride());
  check_positive(who, "dilation", o.dilation());
  check_positive(who, "groups", o.groups());
  CT_CHECK(o.width_multiplier() > 0, ConfigError, who, ": width_multiplier must be positive, got ",
           o.width_multiplier());
  check_norm("norm", o.norm());
  check_activation("activation", o.activation());
  check_initializer("kernel_initializer", o.kernel_initializer());
  check_choice("conv_type", o.conv_type(), {"", "separable", "aa", "anti_alias"});
  out_channels_ = static_cast<int64_t>(o.width_multiplier() * static_cast<double>(o.out_channels()));
  CT_CHECK(o.in_channels() % o.groups() == 0, ConfigError, who, ": in_channels ", o.in_channels(),
           " is not divisible by groups ", o.groups());
  CT_CHECK(out_channels_ > 0 && out_channels_ % o.groups() == 0, ConfigError, who, ": out_channels ", out_channels_,
           " (after width_multiplier ", o.width_multiplier(), ") is not divisible by groups ", o.groups());
  // "same" padding; an odd total d*(k-1) leaves one zero to prepend after the convolution.
  const bool same = !o.padding().has_value();
  padding_ = same ? same_padding(o.kernel_size(), o.dilation()) : *o.padding();
  CT_CHECK(padding_ >= 0, ConfigError, who, ": padding must be >= 0, got ", padding_);
  pad_one_ = same && o.stride() == 1 && (o.dilation() * (o.kernel_size() - 1)) % 2 == 1;

  const bool has_norm = !is_no_norm(o.norm());
  const bool has_act = !is_no_activation(o.activation());
  if (o.ordering().empty()) {
    ordering_ = std::string("c") + (has_norm ? "b" : "") + (has_act ? "a" : "");
  } else {
    ordering_ = o.ordering();
    for (auto& ch : ordering_) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    check_choice("ordering", ordering_, {"cba", "cb", "ca", "cab", "bac", "bc", "acb", "ac", "bca", "c"});
    const bool b = ordering_.find('b') != std::string::npos, a = ordering_.find('a') != std::string::npos;
    CT_CHECK(b == has_norm, ConfigError, who, ": ordering '", ordering_, "' ", b ? "has" : "lacks",
             " a norm (b) but norm is '", o.norm(), "'");
    CT_CHECK(a == has_act, ConfigError, who, ": ordering '", ordering_, "' ", a ? "has" : "lacks",
             " an activation (a) but activation is '", o.activation().empty() ? "none" : o.activation(), "'");
  }

  const std::string& type = o.conv_type();
  if (type.empty()) {
    plain_ = register_module("conv1d", make_conv(o.in_channels(), out_channels_, o.kernel_size(), o.stride(), padding_,
                                                 o.dilation(), o.groups(), o.bias()));
    init_weight(plain_->weight, o.kernel_initializer());
  } else if (type == "separable") {
    auto sep = std::make_shared<SeparableConvImpl>(o.in_channels(), out_channels_, o.kernel_size(), o.stride(),
                                                   padding_, o.dilation(), o.groups(), o.bias(), o.depth_multiplier());
    init_weight(sep->depthwise_conv->weight, o.kernel_initializer());
    init_weight(sep->pointwise_conv->weight, o.kernel_initializer());
    composite_conv_ = register_module("conv1d", sep);
  } else {
    auto aa = std::make_shared<AntiAliasConvImpl>(o.in_channels(), out_channels_, o.kernel_size(), o.stride(), padding_,
                                                  o.dilation(), o.groups(), o.bias(), o.filt_size());
    init_weight(aa->conv->weight, o.kernel_initializer());
    composite_conv_ = register_module("conv1d", aa);
  }
  if (has_norm) {
    const bool after_conv = ordering_.find('c') < ordering_.find('b');
    norm_ =
        register_module("batch_norm", make_norm(o.norm(), after_conv ? out_channels_ : o.in_channels(), o.groups()));
  }
  if (has_act)
    act_ = register_module("activation_" + activation_class_name(o.activation()), make_activation(o.activation()));
}

at::Tensor ConvBnActivationImpl::conv(const at::Tensor& x) {
  at::Tensor y = plain_ ? plain_->forward(x) : composite_conv_->forward(x);
  if (pad_one_) y = at::constant_pad_nd(y, {1, 0}, 0.0);
  return y;
}

at::Tensor ConvBnActivationImpl::forward(const at::Tensor& x) {
  at::Tensor y = x;
  for (char c : ordering_) {
    if (c == 'c') y = conv(y);
    else if (c == 'b') y = apply_norm(*norm_, y);
    else y = act_->forward(y);
  }
  return y;
}

Shape ConvBnActivationImpl::output_shape(const Shape& input) const {
  check_shape(input, options_.in_channels(), "ConvBnActivation");
  const auto& o = options_;
  Shape s = input;
  s[1] = out_channels_;
  if (o.conv_type() == "aa" || o.conv_type() == "anti_alias") {
    s = composite_conv_->output_shape(input);
  } else {
    s[2] = conv_out_len(input[2], o.kernel_size(), o.stride(), padding_, o.dilation());
  }
  if (pad_one_ && s[2] >= 0) s[2] += 1;
  if (act_) s = act_->output_shape(s);
  return s;
}

// --- DownSample -----------------------------------------------------------------------------

const std::vector<std::string>& DownSampleImpl::modes() {
  static const std::vector<std::string> m{"max", "avg", "lp", "lse", "conv", "nearest", "area", "linear", "blur"};
  return m;
}

DownSampleImpl::DownSampleImpl(const DownSampleOptions& o) : options_(o) {
  const char* who = "DownSample";
  check_positive(who, "down_scale", o.down_scale());
  check_positive(who, "in_channels", o.in_channels());
  check_choice("mode", o.mode(), modes());
  out_channels_ = o.out_channels() > 0 ? o.out_channels() : o.in_channels();
  kernel_ = o.kernel_size() > 0 ? o.kernel_size() : o.down_scale();
  groups_ = o.groups() > 0 ? o.groups() : o.in_channels();
  const std::string& m = o.mode();
  CT_CHECK(o.padding() >= 0, ConfigError, who, ": padding must be >= 0, got ", o.padding());
  if (m == "max" || m == "avg" || m == "lse")
    CT_CHECK(2 * o.padding() <= kernel_, ConfigError, who, ": padding ", o.padding(),
             " must be at most half the pooling window ", kernel_);
  if (m == "nearest" || m == "area" || m == "linear" || m == "blur")
    CT_CHECK(o.padding() == 0, ConfigError, who, ": mode ", m, " takes no padding, got ", o.padding());
  const bool change = out_channels_ != o.in_channels();
  if (m == "conv" || change)
    CT_CHECK(o.in_channels() % groups_ == 0 && out_channels_ % groups_ == 0, ConfigError, who, ": ", o.in_channels(),
             " -> ", out_channels_, " channels are not divisible by groups ", groups_);
  if (m == "conv") {
    conv_ = register_module(
        "down_sample", make_conv(o.in_channels(), out_channels_, 1, o.down_scale(), o.padding(), 1, groups_, false));
  } else {
    if (m == "blur")
      blur_ = std::make_shared<BlurPoolImpl>(BlurPoolOptions(o.down_scale(), o.in_channels()).filt_size(o.filt_size()));
    if (change) {
      // torch_ecg: nn.Sequential(<pooling>, Conv1d(1x1)), so the conv is down_sample.1.
      seq_ = torch::nn::Sequential();
      if (m == "max")
        seq_->push_back(
            torch::nn::MaxPool1d(torch::nn::MaxPool1dOptions(kernel_).stride(o.down_scale()).padding(o.padding())));
      else if (m == "avg")
        seq_->push_back(
            torch::nn::AvgPool1d(torch::nn::AvgPool1dOptions(kernel_).stride(o.down_scale()).padding(o.padding())));
      else if (m == "lp")
        seq_->push_back(torch::nn::LPPool1d(torch::nn::LPPool1dOptions(o.norm_type(), kernel_).stride(o.down_scale())));
      else if (m == "blur") seq_->push_back(blur_);
      else seq_->push_back(torch::nn::Identity());
      conv_ = make_conv(o.in_channels(), out_channels_, 1, 1, m == "lp" ? o.padding() : 0, 1, groups_, false);
      seq_->push_back(conv_);
      register_module("down_sample", seq_);
    } else if (blur_) {
      register_module("down_sample", blur_);
    }
  }
  if (o.norm()) norm_ = register_module("batch_normalization", make_norm("batch_norm", out_channels_));
}

at::Tensor DownSampleImpl::subsample(const at::Tensor& x) {
  const auto& o = options_;
  const std::string& m = o.mode();
  const int64_t s = o.down_scale();
  if (m == "max") return at::max_pool1d(x, {kernel_}, {s}, {o.padding()});
  if (m == "avg") return at::avg_pool1d(x, {kernel_}, {s}, {o.padding()});
  if (m == "lp") {
    at::Tensor y = torch::nn::functional::lp_pool1d(
        x, torch::nn::functional::LPPool1dFuncOptions(o.norm_type(), kernel_).stride(s));
    // Same channels: torch_ecg zero-pads after the pooling; otherwise the 1x1 conv pads.
    return out_channels_ == o.in_channels() && o.padding() > 0 ? at::constant_pad_nd(y, {o.padding(), o.padding()}, 0.0)
                                                               : y;
  }
  if (m == "lse") {
    at::Tensor y = o.padding() > 0
                       ? at::constant_pad_nd(x, {o.padding(), o.padding()}, -std::numeric_limits<double>::infinity())
                       : x;
    return y.unfold(-1, kernel_, s).logsumexp(-1);
  }
  if (m == "blur") return blur_->forward(x);
  namespace F = torch::nn::functional;
  auto o2 = F::InterpolateFuncOptions().size(std::vector<int64_t>{x.size(-1) / s});
  if (m == "nearest") return F::interpolate(x, o2.mode(torch::kNearest));
  if (m == "area") return F::interpolate(x, o2.mode(torch::kArea));
  return F::interpolate(x, o2.mode(torch::kLinear).align_corners(false));
}

at::Tensor DownSampleImpl::forward(const at::Tensor& x) {
  at::Tensor y = options_.mode() == "conv" ? conv_->forward(x) : subsample(x);
  if (options_.mode() != "conv" && conv_) y = conv_->forward(y);
  if (norm_) y = apply_norm(*norm_, y);
  return y;
}

Shape DownSampleImpl::output_shape(const Shape& input) const {
  check_shape(input, options_.in_channels(), "DownSample");
  const auto& o = options_;
  const std::string& m = o.mode();
  const int64_t L = input[2];
  int64_t out = kUnknown;
  if (m == "blur") {
    out = blur_->output_shape(input)[2];
  } else if (L >= 0) {
    if (m == "conv") out = conv_out_len(L, 1, o.down_scale(), o.padding());
    else if (m == "max" || m == "avg" || m == "lse") out = conv_out_len(L, kernel_, o.down_scale(), o.padding());
    else if (m == "lp") out = conv_out_len(L, kernel_, o.down_scale()) + 2 * o.padding();
    else out = L / o.down_scale();
  }
  return Shape{input[0], out_channels_, out};
}

// --- SpaceToDepth, ZeroPadding --------------------------------------------------------------

SpaceToDepthImpl::SpaceToDepthImpl(int64_t in_channels, int64_t out_channels, int64_t block_size)
    : in_channels_(in_channels), out_channels_(out_channels), block_size_(block_size) {
  check_positive("SpaceToDepth", "in_channels", in_channels);
  check_positive("SpaceToDepth", "out_channels", out_channels);
  check_positive("SpaceToDepth", "block_size", block_size);
  if (in_channels * block_size != out_channels)
    out_conv_ =
        register_module("out_conv", make_cba(ConvBnActivationOptions(in_channels * block_size, out_channels, 1)));
}

at::Tensor SpaceToDepthImpl::forward(const at::Tensor& x) {
  const int64_t B = x.size(0), C = x.size(1), n = x.size(2) / block_size_;
  // Time index t = i * block_size + j goes to channel j * C + c, sample i (TResNet's order).
  at::Tensor y = x.slice(2, 0, n * block_size_).reshape({B, C, n, block_size_}).permute({0, 3, 1, 2});
  y = y.reshape({B, C * block_size_, n});
  return out_conv_ ? out_conv_->forward(y) : y;
}

Shape SpaceToDepthImpl::output_shape(const Shape& input) const {
  check_shape(input, in_channels_, "SpaceToDepth");
  return Shape{input[0], out_channels_, input[2] < 0 ? kUnknown : input[2] / block_size_};
}

ZeroPaddingImpl::ZeroPaddingImpl(int64_t in_channels, int64_t out_channels, std::string loc)
    : in_channels_(in_channels), out_channels_(out_channels), loc_(std::move(loc)) {
  CT_CHECK(out_channels >= in_channels, ConfigError, "ZeroPadding: out_channels ", out_channels,
           " must be >= in_channels ", in_channels);
  check_choice("loc", loc_, {"head", "tail", "both"});
}

at::Tensor ZeroPaddingImpl::forward(const at::Tensor& x) {
  const int64_t inc = out_channels_ - in_channels_;
  if (inc == 0) return x;
  const int64_t head = loc_ == "head" ? inc : loc_ == "tail" ? 0 : inc / 2;
  return at::constant_pad_nd(x, {0, 0, head, inc - head}, 0.0);
}

Shape ZeroPaddingImpl::output_shape(const Shape& input) const {
  check_shape(input, in_channels_, "ZeroPadding");
  return with_dim(input, 1, out_channels_);
}

}  // namespace cardiotorch::models
