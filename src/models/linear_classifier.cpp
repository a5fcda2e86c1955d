#include "cardiotorch/models/linear_classifier.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/init.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/capture.h"

namespace cardiotorch::models {

void LinearClassifierOptions::validate() const {
  CT_CHECK(in_features >= 0, ConfigError, "in_features must be >= 0 (0 = from the build context), got ", in_features);
  CT_CHECK(num_classes >= 0, ConfigError, "num_classes must be >= 0 (0 = from the data), got ", num_classes);
  check_choice("init", init, {"normal", "xavier", "kaiming", "orthogonal", "default"});
  CT_CHECK(gain > 0, ConfigError, "gain must be > 0, got ", gain);
  CT_CHECK(normal_std > 0, ConfigError, "std must be > 0, got ", normal_std);
}

LinearClassifierImpl::LinearClassifierImpl(const LinearClassifierOptions& options, const ModelContext& context)
    : options_(options) {
  options_.validate();
  set_model_name("linear_classifier");
  in_features_ = options_.in_features > 0 ? options_.in_features : context.in_channels;
  num_classes_ = options_.num_classes > 0 ? options_.num_classes : context.num_classes;
  CT_CHECK(in_features_ >= 1, ConfigError, "linear_classifier: in_features is not set and the context gives none");
  CT_CHECK(num_classes_ >= 1, ConfigError,
           "linear_classifier: num_classes is not set and the data gives none; set num_classes");
  in_channels_ = in_features_;
  model = register_module("model", torch::nn::Linear(in_features_, num_classes_));
  reset_weights();
}

void LinearClassifierImpl::reset_weights() {
  namespace init = torch::nn::init;
  at::NoGradGuard no_grad;
  const std::string& t = options_.init;
  if (t == "normal") init::normal_(model->weight, 0.0, options_.normal_std);
  else if (t == "xavier") init::xavier_normal_(model->weight, options_.gain);
  else if (t == "kaiming") init::kaiming_normal_(model->weight, 0.0, torch::kFanIn, torch::kLeakyReLU);
  else if (t == "orthogonal") init::orthogonal_(model->weight, options_.gain);
  // "default": nn.Linear's own draw, made when `model` was built.
  model->bias.zero_();
}

void LinearClassifierImpl::check(const at::Tensor& x) const {
  CT_CHECK(x.defined() && x.dim() == 2 && x.size(1) == in_features_, ShapeError, model_name(),
           ": expected features (batch, ", in_features_, "), got ",
           x.defined() ? str_cat("shape ", x.sizes()) : std::string("an undefined tensor"));
}

at::Tensor LinearClassifierImpl::forward(const at::Tensor& x) {
  check(x);
  return capture(model(x), "model");
}

at::Tensor LinearClassifierImpl::forward_features(const at::Tensor& x) {
  check(x);
  return x;
}

Shape LinearClassifierImpl::features_shape(const Shape& input) const {
  CT_CHECK(input.size() == 2 && (input[1] < 0 || input[1] == in_features_), ShapeError, model_name(),
           ": expected features (batch, ", in_features_, "), got ", shape_string(input));
  return {input[0], in_features_};
}

Shape LinearClassifierImpl::output_shape(const Shape& input) const { return {features_shape(input)[0], num_classes_}; }

std::string LinearClassifierImpl::summary() const {
  return str_cat(model_name(), ": linear classifier ", in_features_, " -> ", num_classes_, " (", options_.init,
                 " init), ", format_count(count_parameters(*this)), " parameters");
}

namespace {
ModelPtr make_linear(const LinearClassifierOptions& o, const ModelContext& c) {
  return std::make_shared<LinearClassifierImpl>(o, c);
}
}  // namespace

CT_REGISTER(model_registry(), "linear_classifier", (options_factory<ModelImpl, LinearClassifierOptions>(make_linear)),
            "one Linear layer from features (B, D) to logits (the seed's LinearClassifier: linear probe, "
            "SimCLR's online classifier); init normal, xavier, kaiming, orthogonal")

}  // namespace cardiotorch::models
