#include "cardiotorch/models/ecg_fcn.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/capture.h"
#include "models/task_common.h"

namespace cardiotorch::models {

void EcgFcnOptions::validate() const {
  CT_CHECK(!backbone.empty(), ConfigError, "backbone: a backbone is required (`cardiotorch list backbone`)");
  CT_CHECK(head_channels >= 0, ConfigError, "head_channels must be >= 0 (0 = backbone channels / 4), got ",
           head_channels);
  CT_CHECK(head_kernel >= 1 && head_kernel % 2 == 1, ConfigError, "head_kernel must be odd and >= 1, got ",
           head_kernel);
  CT_CHECK(dropout >= 0 && dropout < 1, ConfigError, "dropout must be in [0, 1), got ", dropout);
  detail::check_global_pool(global_pool);
}

EcgFcnImpl::EcgFcnImpl(const EcgFcnOptions& o, const ModelContext& c) {
  o.validate();
  in_channels_ = c.in_channels;
  global_pool_ = o.global_pool;
  recover_length_ = o.recover_length;
  num_classes_ = detail::resolve_num_classes(o.classes, c.num_classes, "ecg_fcn");
  ModelContext cc = c;
  cc.num_classes = 0;
  backbone_ = build_model(o.backbone.node, cc);
  register_module("backbone", backbone_);
  detail::check_feature_map_backbone(*backbone_, "ecg_fcn");
  feature_channels_ = backbone_->output_shape(Shape{kUnknown, in_channels_, kUnknown})[1];
  const int64_t mid = o.head_channels > 0 ? o.head_channels : std::max<int64_t>(1, feature_channels_ / 4);
  namespace nn = torch::nn;
  classifier_ = register_module(
      "classifier",
      nn::Sequential(
          nn::Conv1d(nn::Conv1dOptions(feature_channels_, mid, o.head_kernel).padding(o.head_kernel / 2).bias(false)),
          nn::BatchNorm1d(mid), nn::ReLU(), nn::Dropout(o.dropout),
          nn::Conv1d(nn::Conv1dOptions(mid, num_classes_, 1))));
}

at::Tensor EcgFcnImpl::forward_features(const at::Tensor& x) {
  check_input(x, 3, in_channels_, model_name().empty() ? "ecg_fcn" : model_name());
  at::Tensor y;
  {
    CaptureScope scope("backbone");
    y = backbone_->forward(x);
  }
  return capture(y, "backbone");
}

at::Tensor EcgFcnImpl::logit_map(const at::Tensor& x) {
  return capture(classifier_->forward(forward_features(x)), "classifier");
}

at::Tensor EcgFcnImpl::forward(const at::Tensor& x) {
  const at::Tensor m = logit_map(x);
  if (global_pool_ != "none") return detail::global_pool(m, global_pool_, 1);
  if (!recover_length_) return m.transpose(1, 2);
  namespace F = torch::nn::functional;
  const at::Tensor up = F::interpolate(
      m, F::InterpolateFuncOptions().size(std::vector<int64_t>{x.size(2)}).mode(torch::kLinear).align_corners(false));
  return up.transpose(1, 2);
}

Shape EcgFcnImpl::features_shape(const Shape& input) const {
  check_shape(input, in_channels_, model_name().empty() ? "ecg_fcn" : model_name());
  return backbone_->output_shape(input);
}

Shape EcgFcnImpl::output_shape(const Shape& input) const {
  const Shape f = features_shape(input);
  if (global_pool_ != "none") return Shape{f[0], num_classes_};
  return Shape{f[0], recover_length_ ? input[2] : f[2], num_classes_};
}

std::vector<std::pair<std::string, Shape>> EcgFcnImpl::stage_shapes(const Shape& input) const {
  const Shape f = features_shape(input);
  return {{str_cat("backbone (", backbone_->model_name(), ")"), f},
          {"classifier (logit map)", Shape{f[0], num_classes_, f[2]}},
          {global_pool_ == "none" ? "output (channel-last)" : str_cat("output (", global_pool_, " pool)"),
           output_shape(input)}};
}

std::string EcgFcnImpl::summary() const {
  return str_cat(model_name().empty() ? "ecg_fcn" : model_name(), ": FCN over ", backbone_->model_name(), ", ",
                 global_pool_ == "none" ? "per-position" : global_pool_ + "-pooled", " logits of ", num_classes_,
                 " classes, ", format_count(count_parameters(*this)), " parameters");
}

namespace {
ModelPtr make_fcn(const EcgFcnOptions& o, const ModelContext& c) { return std::make_shared<EcgFcnImpl>(o, c); }
}  // namespace

CT_REGISTER(model_registry(), "ecg_fcn", (options_factory<ModelImpl, EcgFcnOptions>(make_fcn)),
            "fully-convolutional segmenter / classifier over any 1-D backbone (torchvision FCN head; torch_ecg's "
            "ECG_FCN is an empty stub)")

}  // namespace cardiotorch::models
