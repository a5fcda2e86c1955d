#include "cardiotorch/models/efficientnet.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>

#include <cmath>

#include "cardiotorch/core/registry.h"
#include "cardiotorch/models/blocks/layers.h"
#include "models/cnn_util.h"
#include "models/resnet_detail.h"

namespace cardiotorch::models {

namespace {

// torchvision's Conv2dNormActivation in 1-D: "0" conv (no bias), "1" BatchNorm, activation.
class ConvNormActImpl : public BlockImpl {
 public:
  ConvNormActImpl(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups, const std::string& act,
                  double eps)
      : in_(in), out_(out), k_(k), stride_(stride) {
    conv_ = register_module(
        "0", torch::nn::Conv1d(
                 torch::nn::Conv1dOptions(in, out, k).stride(stride).padding((k - 1) / 2).groups(groups).bias(false)));
    init_weight(conv_->weight, "he_normal");
    bn_ = register_module("1", torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(out).eps(eps)));
    act_ = make_activation(act);
  }
  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor y = bn_->forward(conv_->forward(x));
    return act_ ? act_->forward(y) : y;
  }
  Shape output_shape(const Shape& input) const override {
    check_shape(input, in_, "ConvNormActivation");
    return Shape{input[0], out_, conv_out_len(input[2], k_, stride_, (k_ - 1) / 2)};
  }

 private:
  int64_t in_, out_, k_, stride_;
  torch::nn::Conv1d conv_{nullptr};
  torch::nn::BatchNorm1d bn_{nullptr};
  Activation act_;
};

// torchvision's SqueezeExcitation: x * sigmoid(fc2(act(fc1(mean_t x)))) with 1x1 convs.
class SqueezeExcitationImpl : public BlockImpl {
 public:
  SqueezeExcitationImpl(int64_t channels, int64_t squeeze, const std::string& act) : channels_(channels) {
    fc1_ = register_module("fc1", torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, squeeze, 1)));
    fc2_ = register_module("fc2", torch::nn::Conv1d(torch::nn::Conv1dOptions(squeeze, channels, 1)));
    act_ = make_activation(act);
  }
  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor s = fc1_->forward(x.mean(-1, /*keepdim=*/true));
    if (act_) s = act_->forward(s);
    return x * at::sigmoid(fc2_->forward(s));
  }
  Shape output_shape(const Shape& input) const override {
    check_shape(input, channels_, "SqueezeExcitation");
    return input;
  }

 private:
  int64_t channels_;
  torch::nn::Conv1d fc1_{nullptr}, fc2_{nullptr};
  Activation act_;
};

// MBConv / FusedMBConv with stochastic depth on the residual branch.
class MBConvImpl : public BlockImpl {
 public:
  MBConvImpl(const EfficientNetStageOptions& s, int64_t in, int64_t out, int64_t stride, int64_t kernel,
             double drop_path, const EfficientNetOptions& o)
      : in_(in), drop_path_(drop_path) {
    const int64_t hidden = make_divisible(static_cast<double>(in) * s.expansion, o.divisor);
    block_ = register_module("block", std::make_shared<BlockSequenceImpl>());
    int64_t idx = 0;
    auto add = [&](BlockPtr b) { block_->push_back(std::to_string(idx++), b); };
    const bool fused = s.block == "fused_mbconv";
    if (fused) {
      if (s.expansion != 1.0) {
        add(std::make_shared<ConvNormActImpl>(in, hidden, kernel, stride, 1, o.activation, o.norm_eps));
        add(std::make_shared<ConvNormActImpl>(hidden, out, 1, 1, 1, "", o.norm_eps));
      } else {
        add(std::make_shared<ConvNormActImpl>(in, out, kernel, stride, 1, o.activation, o.norm_eps));
      }
    } else {
      const int64_t mid = s.expansion != 1.0 ? hidden : in;
      if (s.expansion != 1.0) add(std::make_shared<ConvNormActImpl>(in, mid, 1, 1, 1, o.activation, o.norm_eps));
      add(std::make_shared<ConvNormActImpl>(mid, mid, kernel, stride, mid, o.activation, o.norm_eps));
      if (s.se_ratio > 0) {
        const int64_t squeeze = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(in) * s.se_ratio));
        add(std::make_shared<SqueezeExcitationImpl>(mid, squeeze, o.activation));
      }
      add(std::make_shared<ConvNormActImpl>(mid, out, 1, 1, 1, "", o.norm_eps));
    }
    residual_ = stride == 1 && in == out;
  }
  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor y = run_named(*block_, "block", x);
    if (!residual_) return y;
    if (is_training() && drop_path_ > 0) {
      // One keep/drop draw per sample (torchvision's stochastic_depth, mode "row").
      const double keep = 1.0 - drop_path_;
      const at::Tensor mask = at::empty({y.size(0), 1, 1}, y.options()).bernoulli_(keep).div_(keep);
      y = y * mask;
    }
    return y + x;
  }
  Shape output_shape(const Shape& input) const override {
    check_shape(input, in_, "MBConv");
    return block_->output_shape(input);
  }

 private:
  int64_t in_;
  double drop_path_;
  bool residual_ = false;
  std::shared_ptr<BlockSequenceImpl> block_;
};

}  // namespace

int64_t make_divisible(double v, int64_t divisor) {
  int64_t out =
      std::max<int64_t>(divisor, static_cast<int64_t>(v + static_cast<double>(divisor) / 2.0) / divisor * divisor);
  if (static_cast<double>(out) < 0.9 * v) out += divisor;
  return out;
}

void EfficientNetStageOptions::validate() const {
  check_choice("block", block, {"mbconv", "fused_mbconv"});
  CT_CHECK(expansion >= 1.0, ConfigError, "expansion must be >= 1, got ", expansion);
  CT_CHECK(filter_length >= 1 && stride >= 1 && out_channels >= 1 && num_layers >= 1, ConfigError,
           "filter_length, stride, out_channels and num_layers must be >= 1");
  CT_CHECK(se_ratio >= 0 && se_ratio <= 1, ConfigError, "se_ratio must be in [0, 1], got ", se_ratio);
}

void EfficientNetOptions::validate() const {
  CT_CHECK(stem_num_filters >= 1 && stem_filter_length >= 1 && stem_stride >= 1, ConfigError,
           "stem_num_filters, stem_filter_length and stem_stride must be >= 1");
  CT_CHECK(!stages.empty(), ConfigError, "stages is empty");
  for (const auto& s : stages) s.validate();
  CT_CHECK(head_num_filters >= -1, ConfigError,
           "head_num_filters must be -1 (4 x the last width), 0 (none) or a width");
  CT_CHECK(width_multiplier > 0 && depth_multiplier > 0, ConfigError,
           "width_multiplier and depth_multiplier must be positive");
  CT_CHECK(divisor >= 1, ConfigError, "divisor must be >= 1, got ", divisor);
  check_activation("activation", activation);
  CT_CHECK(norm_eps > 0, ConfigError, "norm_eps must be positive, got ", norm_eps);
  CT_CHECK(drop_path_rate >= 0 && drop_path_rate < 1, ConfigError, "drop_path_rate must be in [0, 1), got ",
           drop_path_rate);
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0 (0 = never rescale kernels), got ", base_fs);
}

EfficientNetImpl::EfficientNetImpl(const EfficientNetOptions& o, const ModelContext& ctx)
    : StagedBackboneImpl("EfficientNet", ctx.in_channels), options_(o) {
  o.validate();
  auto width = [&](int64_t c) { return make_divisible(static_cast<double>(c) * o.width_multiplier, o.divisor); };
  auto depth = [&](int64_t n) { return static_cast<int64_t>(std::ceil(static_cast<double>(n) * o.depth_multiplier)); };
  features_ = std::make_shared<BlockSequenceImpl>();
  int64_t in = width(o.stem_num_filters);
  features_->push_back("0", std::make_shared<ConvNormActImpl>(
                                ctx.in_channels, in, detail::kernel_at(o.stem_filter_length, ctx.fs, o.base_fs),
                                o.stem_stride, 1, o.activation, o.norm_eps));
  int64_t total = 0;
  for (const auto& s : o.stages) total += depth(s.num_layers);
  int64_t block_id = 0;
  for (size_t i = 0; i < o.stages.size(); ++i) {
    const auto& s = o.stages[i];
    auto stage = std::make_shared<BlockSequenceImpl>();
    const int64_t out = width(s.out_channels);
    const int64_t k = detail::kernel_at(s.filter_length, ctx.fs, o.base_fs);
    for (int64_t j = 0; j < depth(s.num_layers); ++j) {
      const double p = o.drop_path_rate * static_cast<double>(block_id++) / static_cast<double>(total);
      stage->push_back(std::to_string(j), std::make_shared<MBConvImpl>(s, in, out, j == 0 ? s.stride : 1, k, p, o));
      in = out;
    }
    features_->push_back(std::to_string(i + 1), stage);
  }
  if (o.head_num_filters != 0) {
    const int64_t head = o.head_num_filters < 0 ? 4 * in : o.head_num_filters;
    features_->push_back(std::to_string(o.stages.size() + 1),
                         std::make_shared<ConvNormActImpl>(in, head, 1, 1, 1, o.activation, o.norm_eps));
  }
  add_stage("features", features_);
  finish(str_cat(o.stages.size(), " stages, ", total, " blocks"));
}

std::vector<std::pair<std::string, Shape>> EfficientNetImpl::stage_shapes(const Shape& input) const {
  std::vector<std::pair<std::string, Shape>> out;
  Shape s = input;
  for (const auto& b : features_->blocks()) {
    s = b.second->output_shape(s);
    out.emplace_back("features." + b.first, s);
  }
  return out;
}

namespace {
EfficientNetStageOptions stage(const char* block, double e, int64_t k, int64_t s, int64_t out, int64_t n, double se) {
  EfficientNetStageOptions o;
  o.block = block;
  o.expansion = e;
  o.filter_length = k;
  o.stride = s;
  o.out_channels = out;
  o.num_layers = n;
  o.se_ratio = se;
  return o;
}
}  // namespace

EfficientNetOptions EfficientNetOptions::efficientnet_b0() {
  EfficientNetOptions o;
  o.stages = {stage("mbconv", 1, 3, 1, 16, 1, 0.25),  stage("mbconv", 6, 3, 2, 24, 2, 0.25),
              stage("mbconv", 6, 5, 2, 40, 2, 0.25),  stage("mbconv", 6, 3, 2, 80, 3, 0.25),
              stage("mbconv", 6, 5, 1, 112, 3, 0.25), stage("mbconv", 6, 5, 2, 192, 4, 0.25),
              stage("mbconv", 6, 3, 1, 320, 1, 0.25)};
  return o;
}

EfficientNetOptions EfficientNetOptions::efficientnet_b1() {
  EfficientNetOptions o = efficientnet_b0();
  o.depth_multiplier = 1.1;
  return o;
}

EfficientNetOptions EfficientNetOptions::efficientnet_v2_s() {
  EfficientNetOptions o;
  o.stem_num_filters = 24;
  o.stages = {stage("fused_mbconv", 1, 3, 1, 24, 2, 0), stage("fused_mbconv", 4, 3, 2, 48, 4, 0),
              stage("fused_mbconv", 4, 3, 2, 64, 4, 0), stage("mbconv", 4, 3, 2, 128, 6, 0.25),
              stage("mbconv", 6, 3, 1, 160, 9, 0.25),   stage("mbconv", 6, 3, 2, 256, 15, 0.25)};
  o.head_num_filters = 1280;
  o.norm_eps = 1e-3;
  return o;
}

namespace {
ModelPtr make_effnet(const EfficientNetOptions& o, const ModelContext& c) {
  return std::make_shared<EfficientNetImpl>(o, c);
}
auto effnet(EfficientNetOptions preset) {
  return options_factory<ModelImpl, EfficientNetOptions>(make_effnet, std::move(preset));
}
}  // namespace

CT_REGISTER(backbone_registry(), "efficientnet_b0", (effnet(EfficientNetOptions::efficientnet_b0())),
            "1-D EfficientNet-B0: 7 MBConv stages with SE, stochastic depth (torchvision's stages)")
CT_REGISTER(backbone_registry(), "efficientnet_b1", (effnet(EfficientNetOptions::efficientnet_b1())),
            "1-D EfficientNet-B1: B0 with depth x1.1")
CT_REGISTER(backbone_registry(), "efficientnet_v2_s", (effnet(EfficientNetOptions::efficientnet_v2_s())),
            "1-D EfficientNetV2-S: Fused-MBConv then MBConv stages (torchvision's stages)")

}  // namespace cardiotorch::models
