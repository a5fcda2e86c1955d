#include "models/task_common.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/upsampling.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::models::detail {

int64_t resolve_num_classes(const std::vector<std::string>& classes, int64_t context_classes, const std::string& who) {
  if (!classes.empty()) {
    const int64_t n = static_cast<int64_t>(classes.size());
    CT_CHECK(context_classes <= 0 || context_classes == n, ConfigError, who, ": classes lists ", n,
             " names but the data has ", context_classes, " classes");
    return n;
  }
  CT_CHECK(context_classes > 0, ConfigError, who,
           ": the number of classes is unknown; set the option classes: [names...] or give the data's class count "
           "(an experiment's dataset, or --num-classes)");
  return context_classes;
}

void check_global_pool(const std::string& pool) {
  CT_CHECK(pool != "attn", ConfigError,
           "global_pool: attentive pooling is not implemented (torch_ecg raises too); "
           "use max, avg or none");
  check_choice("global_pool", pool, {"max", "avg", "none"});
}

at::Tensor global_pool(const at::Tensor& x, const std::string& mode, int64_t size) {
  const at::Tensor p =
      mode == "max" ? std::get<0>(at::adaptive_max_pool1d(x, {size})) : at::adaptive_avg_pool1d(x, {size});
  return p.flatten(1);
}

void check_feature_map_backbone(const ModelImpl& backbone, const std::string& who) {
  CT_CHECK(!backbone.token_layout().valid(), ConfigError, who, ": backbone '", backbone.model_name(),
           "' gives tokens (B, N, D); this model needs a CNN feature map (B, C, L)");
  const Shape in = backbone.input_shape();
  CT_CHECK(in.size() == 3, ConfigError, who, ": backbone '", backbone.model_name(), "' takes ", in.size(),
           "-D inputs; this model needs a 1-D backbone (B, C, L)");
}

double output_fs(const ModelImpl& backbone, double fs) {
  Shape in = backbone.input_shape();
  in[0] = 1;
  if (in[2] < 0) in[2] = 8192;
  const Shape out = backbone.output_shape(in);
  if (out.size() != 3 || out[2] <= 0) return fs;
  return fs * static_cast<double>(out[2]) / static_cast<double>(in[2]);
}

at::Tensor interpolate_linear(const at::Tensor& x, int64_t size) {
  namespace F = torch::nn::functional;
  return F::interpolate(
      x, F::InterpolateFuncOptions().size(std::vector<int64_t>{size}).mode(torch::kLinear).align_corners(true));
}

}  // namespace cardiotorch::models::detail
