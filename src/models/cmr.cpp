#include "cardiotorch/models/cmr.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/capture.h"

namespace cardiotorch::models {

namespace nn = torch::nn;

namespace {

const std::vector<std::string>& archs() {
  static const std::vector<std::string> a{"resnet18", "resnet50"};
  return a;
}

ResNet2dOptions trunk_of(const std::string& arch, int64_t in_channels, bool repeat_grey) {
  ResNet2dOptions t = arch == "resnet50" ? ResNet2dOptions::resnet50() : ResNet2dOptions::resnet18();
  t.in_channels = in_channels;
  t.repeat_grey = repeat_grey;
  return t;
}

int64_t trunk_dim(const ResNet2dOptions& t) {
  return t.base_planes * 8 * (t.block == "bottleneck" ? Bottleneck2dImpl::kExpansion : BasicBlock2dImpl::kExpansion);
}

int64_t input_channels(const ResNet2dOptions& t, const ModelContext& c) {
  return t.repeat_grey ? 1 : t.in_channels > 0 ? t.in_channels : c.in_channels;
}

std::vector<std::pair<std::string, Shape>> trunk_stages(const ResNet2dOptions& t, const Shape& input,
                                                        int64_t in_channels, const std::string& who) {
  CT_CHECK(input.size() == 4 && (input[1] < 0 || input[1] == in_channels), ShapeError, who,
           ": expected an input (batch, ", in_channels, ", height, width), got ", shape_string(input));
  const int64_t e = t.block == "bottleneck" ? Bottleneck2dImpl::kExpansion : BasicBlock2dImpl::kExpansion;
  const int64_t b = t.base_planes;
  const auto s = resnet2d_stage_shapes(input, {b, b, b * e, 2 * b * e, 4 * b * e, 8 * b * e});
  return {{"encoder.0 (conv1)", s[0]},
          {"encoder.3 (maxpool)", s[1]},
          {"encoder.4 (layer1)", s[2]},
          {"encoder.5 (layer2)", s[3]},
          {"encoder.6 (layer3)", s[4]},
          {"encoder.7 (layer4)", s[5]},
          {"encoder.8 (avgpool)", {input[0], 8 * b * e, 1, 1}}};
}

}  // namespace

void CmrEncoderOptions::validate() const {
  check_choice("arch", arch, archs());
  CT_CHECK(in_channels >= 0, ConfigError, "in_channels must be >= 0 (0 = from the data), got ", in_channels);
  CT_CHECK(!repeat_grey || in_channels == 3, ConfigError,
           "repeat_grey keeps a 3-channel conv1 (and takes grey input), but in_channels is ", in_channels);
}

ResNet2dOptions CmrEncoderOptions::trunk() const { return trunk_of(arch, in_channels, repeat_grey); }

void CmrClassifierOptions::validate() const {
  encoder().validate();
  check_choice("head", head, {"linear", "mlp"});
  CT_CHECK(num_classes >= 0, ConfigError, "num_classes must be >= 0 (0 = from the data), got ", num_classes);
  CT_CHECK(!freeze_bn || freeze_encoder, ConfigError,
           "freeze_bn applies to a frozen encoder: set freeze_encoder: true");
}

CmrEncoderOptions CmrClassifierOptions::encoder() const {
  CmrEncoderOptions e;
  e.arch = arch;
  e.in_channels = in_channels;
  e.repeat_grey = repeat_grey;
  return e;
}

CmrTrunk::CmrTrunk(const ResNet2dOptions& trunk, const ModelContext& context) {
  ResNet2dOptions t = trunk;
  t.num_classes = 1000;  // torchvision.models.resnetXX() as the seed builds it, fc included
  ModelContext c = context;
  c.num_classes = 0;
  const auto r = std::make_shared<ResNet2dImpl>(t, c);
  conv1 = r->conv1;
  bn1 = r->bn1;
  relu = r->relu;
  maxpool = r->maxpool;
  layer1 = r->layer1;
  layer2 = r->layer2;
  layer3 = r->layer3;
  layer4 = r->layer4;
  avgpool = r->avgpool;
  list = nn::ModuleList(conv1, bn1, relu, maxpool, layer1, layer2, layer3, layer4, avgpool);
}

at::Tensor CmrTrunk::run(at::Tensor x, size_t last) {
  static const char* const names[] = {"encoder.0", "encoder.1", "encoder.2", "encoder.3", "encoder.4",
                                      "encoder.5", "encoder.6", "encoder.7", "encoder.8"};
  CT_INTERNAL_ASSERT(last <= kAvgPool, "CmrTrunk::run: child ", last, " of 9");
  for (size_t i = 0; i <= last; ++i) {
    switch (i) {
      case 0: x = conv1(x); break;
      case 1: x = bn1(x); break;
      case 2: x = relu(x); break;
      case 3: x = maxpool(x); break;
      case 4: x = layer1->forward(x); break;
      case 5: x = layer2->forward(x); break;
      case 6: x = layer3->forward(x); break;
      case 7: x = layer4->forward(x); break;
      default: x = avgpool(x); break;
    }
    x = capture(x, names[i]);
  }
  return x;
}

// The seed's CMREncoder is nn.Sequential(*list(resnet.children())[:-1]): our `encoder.N` are its
// children. Checkpoints name them three ways: `encoder.N` (a CMREncoder state_dict),
// `encoder_imaging.N` (MMCL's multimodal Lightning checkpoints and image_encoder.pth) and
// torchvision's own names (an ImageNet resnet18/50), so the rules cover all three.
namespace {
weights::MatchRules cmr_trunk_rules() {
  weights::MatchRules r;
  r.prefixes = {{"encoder_imaging.", "encoder."}};
  // The other halves of an MMCL checkpoint are expected, not surprising.
  r.skip_source = {"encoder_ecg.*", "projection_head*", "projector*", "predictor*"};
  r.candidates = [](const std::string& key) -> std::vector<std::string> {
    static const char* const torchvision[] = {"conv1", "bn1", nullptr, nullptr, "layer1", "layer2", "layer3", "layer4"};
    if (!starts_with(key, "encoder.")) return {};
    const std::string rest = key.substr(8);
    const size_t dot = rest.find('.');
    if (dot == std::string::npos || dot != 1 || rest[0] < '0' || rest[0] > '7') return {};
    const char* name = torchvision[rest[0] - '0'];
    if (name == nullptr) return {};
    return {std::string(name) + rest.substr(dot)};
  };
  return r;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
weights::MatchRules CmrEncoderImpl::weight_rules() const {
  weights::MatchRules r = cmr_trunk_rules();
  r.skip_source.push_back("fc.*");  // torchvision's ImageNet classifier
  return r;
}

weights::MatchRules CmrClassifierImpl::weight_rules() const {
  weights::MatchRules r = cmr_trunk_rules();
  r.skip_source.push_back("fc.*");
  return r;
}

CmrEncoderImpl::CmrEncoderImpl(const CmrEncoderOptions& options, const ModelContext& context)
    : CmrEncoderImpl((options.validate(), options.trunk()), context) {}

CmrEncoderImpl::CmrEncoderImpl(const ResNet2dOptions& trunk, const ModelContext& context)
    : encoder(trunk, context), trunk_(trunk) {
  set_model_name("cmr_encoder");
  in_channels_ = input_channels(trunk_, context);
  embed_dim_ = trunk_dim(trunk_);
  register_module("encoder", encoder.list);
}

at::Tensor CmrEncoderImpl::run(const at::Tensor& x, size_t last) {
  return encoder.run(prepare_image_input(x, in_channels_, trunk_.repeat_grey, model_name()), last);
}

at::Tensor CmrEncoderImpl::forward(const at::Tensor& x) { return run(x, CmrTrunk::kAvgPool).flatten(1); }

at::Tensor CmrEncoderImpl::forward_localized(const at::Tensor& x) {
  return run(x, CmrTrunk::kLayer4).flatten(2).transpose(1, 2);
}

Shape CmrEncoderImpl::output_shape(const Shape& input) const {
  return {trunk_stages(trunk_, input, in_channels_, model_name()).back().second[0], embed_dim_};
}

std::vector<std::pair<std::string, Shape>> CmrEncoderImpl::stage_shapes(const Shape& input) const {
  return trunk_stages(trunk_, input, in_channels_, model_name());
}

std::string CmrEncoderImpl::summary() const {
  return str_cat(model_name(), ": CMR encoder (torchvision ResNet ", trunk_.block, ", no fc), ",
                 format_count(count_parameters(*this)), " parameters, pooled dim ", embed_dim_);
}

// ---------------------------------------------------------------------------------------------
CmrClassifierImpl::CmrClassifierImpl(const CmrClassifierOptions& options, const ModelContext& context)
    : CmrClassifierImpl(options, (options.validate(), options.encoder().trunk()), context) {}

CmrClassifierImpl::CmrClassifierImpl(const CmrClassifierOptions& options, const ResNet2dOptions& trunk,
                                     const ModelContext& context)
    : encoder((options.validate(), trunk), context), options_(options), trunk_(trunk) {
  set_model_name("cmr_classifier");
  in_channels_ = input_channels(trunk_, context);
  embed_dim_ = trunk_dim(trunk_);
  num_classes_ = options_.num_classes > 0 ? options_.num_classes : context.num_classes;
  CT_CHECK(num_classes_ > 0, ConfigError,
           "cmr_classifier: num_classes is not set and the data gives none; set num_classes");
  register_module("encoder", encoder.list);
  const int64_t d = embed_dim_;
  if (options_.head == "mlp") {
    CT_CHECK(d / 16 >= 1, ConfigError, "cmr_classifier: the mlp head needs a pooled dim >= 16, got ", d);
    nn::Sequential mlp;
    mlp->push_back("fc1", nn::Linear(d, d / 4));
    mlp->push_back("relu1", nn::ReLU());
    mlp->push_back("fc2", nn::Linear(d / 4, d / 16));
    mlp->push_back("relu2", nn::ReLU());
    mlp->push_back("fc3", nn::Linear(d / 16, num_classes_));
    head_mlp = register_module("head", mlp);
  } else {
    head_linear = register_module("head", nn::Linear(d, num_classes_));
  }
  if (options_.freeze_encoder)
    for (auto& p : encoder.list->parameters()) p.set_requires_grad(false);
}

at::Tensor CmrClassifierImpl::run(const at::Tensor& x, size_t last) {
  return encoder.run(prepare_image_input(x, in_channels_, trunk_.repeat_grey, model_name()), last);
}

at::Tensor CmrClassifierImpl::forward_features(const at::Tensor& x) { return run(x, CmrTrunk::kAvgPool).flatten(1); }

at::Tensor CmrClassifierImpl::forward(const at::Tensor& x) {
  const at::Tensor f = forward_features(x);
  return capture(head_mlp ? head_mlp->forward(f) : head_linear(f), "head");
}

at::Tensor CmrClassifierImpl::forward_localized(const at::Tensor& x) {
  return run(x, CmrTrunk::kLayer4).flatten(2).transpose(1, 2);
}

Shape CmrClassifierImpl::features_shape(const Shape& input) const {
  return {trunk_stages(trunk_, input, in_channels_, model_name()).back().second[0], embed_dim_};
}

Shape CmrClassifierImpl::output_shape(const Shape& input) const { return {features_shape(input)[0], num_classes_}; }

std::vector<std::pair<std::string, Shape>> CmrClassifierImpl::stage_shapes(const Shape& input) const {
  auto s = trunk_stages(trunk_, input, in_channels_, model_name());
  s.push_back({str_cat("head (", options_.head, ")"), {input[0], num_classes_}});
  return s;
}

std::string CmrClassifierImpl::summary() const {
  return str_cat(model_name(), ": CMR classifier (torchvision ResNet ", trunk_.block, ", ", options_.head, " head, ",
                 num_classes_, " classes", options_.freeze_encoder ? ", encoder frozen" : "", "), ",
                 format_count(count_parameters(*this)), " parameters (", format_count(count_parameters(*this, true)),
                 " trainable)");
}

void CmrClassifierImpl::train(bool on) {
  ModelImpl::train(on);
  if (on && options_.freeze_encoder && options_.freeze_bn) encoder.list->eval();
}

namespace {
ModelPtr make_encoder(const CmrEncoderOptions& o, const ModelContext& c) {
  return std::make_shared<CmrEncoderImpl>(o, c);
}
ModelPtr make_classifier(const CmrClassifierOptions& o, const ModelContext& c) {
  return std::make_shared<CmrClassifierImpl>(o, c);
}
}  // namespace

CT_REGISTER(backbone_registry(), "cmr_encoder", (options_factory<ModelImpl, CmrEncoderOptions>(make_encoder)),
            "cardiac-MRI encoder of the seed: torchvision ResNet-18/50 without fc, pooled (B, 512|2048); "
            "names encoder.N.* (checkpoints: encoder_imaging.N.*)")
CT_REGISTER(model_registry(), "cmr_classifier", (options_factory<ModelImpl, CmrClassifierOptions>(make_classifier)),
            "cardiac-MRI classifier of the seed: the CMR encoder + a linear or MLP head (optionally frozen encoder)")

}  // namespace cardiotorch::models
