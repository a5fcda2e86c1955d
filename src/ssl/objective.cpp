#include "cardiotorch/ssl/objective.h"

#include "cardiotorch/core/error.h"

namespace cardiotorch::ssl {

weights::NamedTensors SslObjective::encoder_state(models::ModelImpl& model) {
  return weights::module_state_dict(downstream(model));
}

SslObjective& as_ssl(train::Objective& objective) {
  auto* ssl = dynamic_cast<SslObjective*>(&objective);
  CT_CHECK(ssl != nullptr, ConfigError, "objective: '", objective.objective_name(),
           "' is not a self-supervised objective; pretraining needs one such as mae (`cardiotorch list objective`)");
  return *ssl;
}

std::vector<at::Tensor> batch_views(const data::Batch& batch, int64_t needed, const std::string& objective) {
  std::vector<at::Tensor> views = batch.views.empty() ? std::vector<at::Tensor>{batch.x} : batch.views;
  CT_CHECK(static_cast<int64_t>(views.size()) >= needed, ConfigError, "objective ", objective, ": needs ", needed,
           " augmented views per sample, the loader makes ", views.size(), " (set data.loader.views: ", needed, ")");
  return views;
}

}  // namespace cardiotorch::ssl
