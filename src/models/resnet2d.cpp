#include "cardiotorch/models/resnet2d.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/init.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/capture.h"

namespace cardiotorch::models {

namespace nn = torch::nn;

ResNet2dOptions ResNet2dOptions::resnet18() { return {}; }

ResNet2dOptions ResNet2dOptions::resnet50() {
  ResNet2dOptions o;
  o.block = "bottleneck";
  o.layers = {3, 4, 6, 3};
  return o;
}

void ResNet2dOptions::validate() const {
  check_choice("block", block, {"basic", "bottleneck"});
  CT_CHECK(layers.size() == 4, ConfigError, "layers must list the blocks of the 4 layers, got ", layers.size(),
           " entries");
  for (auto n : layers) CT_CHECK(n >= 1, ConfigError, "layers must be >= 1 each, got ", n);
  CT_CHECK(base_planes >= 1, ConfigError, "base_planes must be >= 1, got ", base_planes);
  CT_CHECK(groups >= 1 && width_per_group >= 1, ConfigError, "groups and width_per_group must be >= 1, got ", groups,
           " and ", width_per_group);
  CT_CHECK(block == "bottleneck" || (groups == 1 && width_per_group == 64), ConfigError,
           "the basic block supports only groups 1 and width_per_group 64 (as torchvision's); use block: bottleneck");
  CT_CHECK(in_channels >= 0, ConfigError, "in_channels must be >= 0 (0 = from the data), got ", in_channels);
  CT_CHECK(!repeat_grey || in_channels == 3, ConfigError,
           "repeat_grey keeps a 3-channel conv1 (and takes grey input), but in_channels is ", in_channels);
  CT_CHECK(num_classes >= -1, ConfigError, "num_classes must be >= 0, or -1 for the data's, got ", num_classes);
}

namespace {

nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride, int64_t groups = 1) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).groups(groups).bias(false));
}

nn::Conv2d conv1x1(int64_t in, int64_t out, int64_t stride = 1) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
}

// torchvision's ResNet._make_layer. The downsample branch is built before the first block,
// as there: construction order decides which random numbers each weight gets.
nn::Sequential make_layer(const ResNet2dOptions& o, int64_t& inplanes, int64_t planes, int64_t blocks, int64_t stride) {
  const bool bottleneck = o.block == "bottleneck";
  const int64_t expansion = bottleneck ? Bottleneck2dImpl::kExpansion : BasicBlock2dImpl::kExpansion;
  nn::Sequential downsample{nullptr};
  if (stride != 1 || inplanes != planes * expansion) {
    downsample = nn::Sequential(conv1x1(inplanes, planes * expansion, stride), nn::BatchNorm2d(planes * expansion));
  }
  nn::Sequential layer;
  for (int64_t i = 0; i < blocks; ++i) {
    const int64_t s = i == 0 ? stride : 1;
    nn::Sequential ds = i == 0 ? downsample : nn::Sequential{nullptr};
    if (bottleneck) layer->push_back(Bottleneck2d(inplanes, planes, s, ds, o.groups, o.width_per_group));
    else layer->push_back(BasicBlock2d(inplanes, planes, s, ds));
    inplanes = planes * expansion;
  }
  return layer;
}

int64_t conv_out(int64_t n, int64_t k, int64_t s, int64_t p) { return n < 0 ? kUnknown : (n + 2 * p - k) / s + 1; }

}  // namespace

BasicBlock2dImpl::BasicBlock2dImpl(int64_t inplanes, int64_t planes, int64_t stride, nn::Sequential ds) {
  conv1 = register_module("conv1", conv3x3(inplanes, planes, stride));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv3x3(planes, planes, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  if (ds) downsample = register_module("downsample", ds);
}

at::Tensor BasicBlock2dImpl::forward(const at::Tensor& x) {
  at::Tensor out = at::relu(bn1(conv1(x)));
  out = bn2(conv2(out));
  out += downsample ? downsample->forward(x) : x;
  return out.relu_();
}

Bottleneck2dImpl::Bottleneck2dImpl(int64_t inplanes, int64_t planes, int64_t stride, nn::Sequential ds, int64_t groups,
                                   int64_t width_per_group) {
  // torchvision: int(planes * (base_width / 64.)) * groups.
  const int64_t width =
      static_cast<int64_t>(static_cast<double>(planes) * (static_cast<double>(width_per_group) / 64.0)) * groups;
  conv1 = register_module("conv1", conv1x1(inplanes, width));
  bn1 = register_module("bn1", nn::BatchNorm2d(width));
  conv2 = register_module("conv2", conv3x3(width, width, stride, groups));
  bn2 = register_module("bn2", nn::BatchNorm2d(width));
  conv3 = register_module("conv3", conv1x1(width, planes * kExpansion));
  bn3 = register_module("bn3", nn::BatchNorm2d(planes * kExpansion));
  if (ds) downsample = register_module("downsample", ds);
}

at::Tensor Bottleneck2dImpl::forward(const at::Tensor& x) {
  at::Tensor out = at::relu(bn1(conv1(x)));
  out = at::relu(bn2(conv2(out)));
  out = bn3(conv3(out));
  out += downsample ? downsample->forward(x) : x;
  return out.relu_();
}

ResNet2dImpl::ResNet2dImpl(const ResNet2dOptions& options, const ModelContext& context) : options_(options) {
  options_.validate();
  set_model_name("resnet_2d");
  const ResNet2dOptions& o = options_;
  if (o.repeat_grey) {
    in_channels_ = 1;
    conv1_channels_ = 3;
  } else {
    in_channels_ = o.in_channels > 0 ? o.in_channels : context.in_channels;
    CT_CHECK(in_channels_ >= 1, ConfigError, "resnet 2-d: in_channels must be >= 1, got ", in_channels_);
    conv1_channels_ = in_channels_;
  }
  num_classes_ = o.num_classes >= 0 ? o.num_classes : context.num_classes > 0 ? context.num_classes : 1000;
  const bool bottleneck = o.block == "bottleneck";
  const int64_t expansion = bottleneck ? Bottleneck2dImpl::kExpansion : BasicBlock2dImpl::kExpansion;
  embed_dim_ = o.base_planes * 8 * expansion;

  int64_t inplanes = o.base_planes;
  conv1 = register_module("conv1",
                          nn::Conv2d(nn::Conv2dOptions(conv1_channels_, inplanes, 7).stride(2).padding(3).bias(false)));
  bn1 = register_module("bn1", nn::BatchNorm2d(inplanes));
  relu = register_module("relu", nn::ReLU());
  maxpool = register_module("maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  layer1 = register_module("layer1", make_layer(o, inplanes, o.base_planes, o.layers[0], 1));
  layer2 = register_module("layer2", make_layer(o, inplanes, o.base_planes * 2, o.layers[1], 2));
  layer3 = register_module("layer3", make_layer(o, inplanes, o.base_planes * 4, o.layers[2], 2));
  layer4 = register_module("layer4", make_layer(o, inplanes, o.base_planes * 8, o.layers[3], 2));
  avgpool = register_module("avgpool", nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions({1, 1})));
  if (num_classes_ > 0) fc = register_module("fc", nn::Linear(embed_dim_, num_classes_));

  // torchvision's initialisation loop, over the modules in the same (pre-)order.
  at::NoGradGuard no_grad;
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    }
  }
  if (o.zero_init_residual) {
    for (const auto& m : modules(false)) {
      if (auto* b = m->as<Bottleneck2d>()) b->bn3->weight.zero_();
      else if (auto* b2 = m->as<BasicBlock2d>()) b2->bn2->weight.zero_();
    }
  }
}

at::Tensor prepare_image_input(const at::Tensor& x, int64_t in_channels, bool repeat_grey, const std::string& who) {
  CT_CHECK(x.defined() && x.dim() == 4, ShapeError, who,
           ": expected a 4-D input (batch, channels, height, width), got ",
           x.defined() ? str_cat("shape ", x.sizes()) : std::string("an undefined tensor"));
  const int64_t c = x.size(1);
  if (c != in_channels) {
    const std::string hint = c == 1 && in_channels == 3
                                 ? "; for grey images set repeat_grey: true (keeps RGB weights) or in_channels: 1"
                             : c == 3 && repeat_grey ? "; repeat_grey expects grey (1-channel) images"
                                                     : str_cat("; set in_channels: ", c);
    throw ShapeError(str_cat(who, ": expected ", in_channels, " input channels at dim 1, got shape ", x.sizes(), hint));
  }
  return repeat_grey ? x.expand({-1, 3, -1, -1}) : x;
}

std::vector<Shape> resnet2d_stage_shapes(const Shape& input, const std::vector<int64_t>& widths) {
  CT_CHECK(input.size() == 4, ShapeError, "a 2-D ResNet takes (batch, channels, height, width), got ",
           shape_string(input));
  CT_CHECK(widths.size() == 6, ShapeError, "resnet2d_stage_shapes needs 6 widths, got ", widths.size());
  for (size_t i = 2; i < 4; ++i)
    CT_CHECK(input[i] < 0 || input[i] >= 1, ShapeError, "image size must be >= 1, got ", shape_string(input));
  int64_t h = input[2], w = input[3];
  std::vector<Shape> out;
  auto down = [&](int64_t k, int64_t s, int64_t p) {
    h = conv_out(h, k, s, p);
    w = conv_out(w, k, s, p);
  };
  down(7, 2, 3);
  out.push_back({input[0], widths[0], h, w});  // conv1
  down(3, 2, 1);
  out.push_back({input[0], widths[1], h, w});  // maxpool
  out.push_back({input[0], widths[2], h, w});  // layer1
  for (size_t i = 3; i < 6; ++i) {
    down(3, 2, 1);
    out.push_back({input[0], widths[i], h, w});
  }
  return out;
}

at::Tensor ResNet2dImpl::run_trunk(const at::Tensor& input) {
  at::Tensor x = prepare_image_input(input, in_channels_, options_.repeat_grey, model_name());
  x = capture(conv1(x), "conv1");
  x = capture(bn1(x), "bn1");
  x = capture(relu(x), "relu");
  x = capture(maxpool(x), "maxpool");
  x = capture(layer1->forward(x), "layer1");
  x = capture(layer2->forward(x), "layer2");
  x = capture(layer3->forward(x), "layer3");
  return capture(layer4->forward(x), "layer4");
}

at::Tensor ResNet2dImpl::forward(const at::Tensor& x) {
  at::Tensor y = capture(avgpool(run_trunk(x)), "avgpool").flatten(1);
  return fc ? capture(fc(y), "fc") : y;
}

at::Tensor ResNet2dImpl::forward_features(const at::Tensor& x) { return run_trunk(x); }

at::Tensor ResNet2dImpl::embed(const at::Tensor& x) { return avgpool(run_trunk(x)).flatten(1); }

Shape ResNet2dImpl::input_shape() const { return {kUnknown, in_channels_, kUnknown, kUnknown}; }

std::vector<std::pair<std::string, Shape>> ResNet2dImpl::stage_shapes(const Shape& input) const {
  const int64_t e = options_.block == "bottleneck" ? Bottleneck2dImpl::kExpansion : BasicBlock2dImpl::kExpansion;
  const int64_t b = options_.base_planes;
  const auto s = resnet2d_stage_shapes(input, {b, b, b * e, 2 * b * e, 4 * b * e, 8 * b * e});
  std::vector<std::pair<std::string, Shape>> out{{"conv1", s[0]},  {"maxpool", s[1]}, {"layer1", s[2]},
                                                 {"layer2", s[3]}, {"layer3", s[4]},  {"layer4", s[5]}};
  out.push_back({"avgpool", {input[0], embed_dim_, 1, 1}});
  if (num_classes_ > 0) out.push_back({"fc", {input[0], num_classes_}});
  return out;
}

Shape ResNet2dImpl::features_shape(const Shape& input) const {
  CT_CHECK(input.size() == 4 && (input[1] < 0 || input[1] == in_channels_), ShapeError, model_name(),
           ": expected an input (batch, ", in_channels_, ", height, width), got ", shape_string(input));
  return stage_shapes(input)[5].second;
}

Shape ResNet2dImpl::output_shape(const Shape& input) const {
  const Shape f = features_shape(input);
  return {f[0], num_classes_ > 0 ? num_classes_ : embed_dim_};
}

std::string ResNet2dImpl::summary() const {
  std::vector<std::string> l;
  for (auto n : options_.layers) l.push_back(std::to_string(n));
  return str_cat(model_name(), ": 2-D ResNet (", options_.block, " [", join(l), "], base ", options_.base_planes,
                 options_.groups > 1 ? str_cat(", ", options_.groups, " groups") : "", "), ",
                 format_count(count_parameters(*this)), " parameters, embed_dim ", embed_dim_,
                 num_classes_ > 0 ? str_cat(", ", num_classes_, " classes") : ", no fc");
}

at::Tensor adapt_input_conv(const at::Tensor& weight, int64_t in_channels, const std::string& key) {
  CT_CHECK(weight.defined() && weight.dim() == 4, ShapeError, key, ": expected a conv weight (out, in, kh, kw), got ",
           weight.defined() ? str_cat("shape ", weight.sizes()) : std::string("nothing"));
  const int64_t have = weight.size(1);
  if (have == in_channels) return weight;
  if (have == 3 && in_channels == 1) return weight.sum(1, /*keepdim=*/true);
  throw ShapeError(str_cat(
      key, ": the checkpoint's first conv takes ", have, " input channels but the model was built for ", in_channels,
      "; build it with in_channels: ", have, have == 3 ? " (or repeat_grey: true for grey images)" : ""));
}

namespace {
ModelPtr make_resnet2d(const ResNet2dOptions& o, const ModelContext& c) { return std::make_shared<ResNet2dImpl>(o, c); }
}  // namespace

CT_REGISTER(backbone_registry(), "resnet18_2d",
            (options_factory<ModelImpl, ResNet2dOptions>(make_resnet2d, ResNet2dOptions::resnet18())),
            "torchvision ResNet-18 for images (cardiac MRI): torchvision parameter names and init, 11.69 M parameters")
CT_REGISTER(backbone_registry(), "resnet50_2d",
            (options_factory<ModelImpl, ResNet2dOptions>(make_resnet2d, ResNet2dOptions::resnet50())),
            "torchvision ResNet-50 for images (cardiac MRI): torchvision parameter names and init, 25.56 M parameters")

}  // namespace cardiotorch::models
