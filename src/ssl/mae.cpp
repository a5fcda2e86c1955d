#include "cardiotorch/ssl/mae.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/mae.h"
#include "cardiotorch/models/transformer.h"

namespace cardiotorch::ssl {

void MaeObjectiveOptions::validate() const {
  CT_CHECK(seed >= -1, ConfigError, "seed must be >= 0, or -1 for the experiment seed; got ", seed);
}

MaeObjective::MaeObjective(MaeObjectiveOptions options)
    : options_(options),
      generator_(models::make_cpu_generator(static_cast<uint64_t>(std::max<int64_t>(0, options.seed)))) {
  options_.validate();
}

const std::vector<std::string>& MaeObjective::decoder_globs() {
  static const std::vector<std::string> globs = {"decoder_*", "mask_token"};
  return globs;
}

models::MaskedAutoencoderViTImpl& MaeObjective::mae(models::ModelImpl& model) const {
  check_model(model);
  return static_cast<models::MaskedAutoencoderViTImpl&>(model);
}

void MaeObjective::check_model(models::ModelImpl& model) const {
  if (dynamic_cast<models::MaskedAutoencoderViTImpl*>(&model) != nullptr) return;
  std::vector<std::string> maes;
  for (const auto& n : models::model_registry().names())
    if (starts_with(n, "mae_")) maes.push_back(n);
  throw ConfigError(str_cat("objective mae: model '",
                            model.model_name().empty() ? std::string("?") : model.model_name(),
                            "' is not a masked autoencoder (it has no forward_mae); use one of ", join(maes, ", ")));
}

train::StepOutput MaeObjective::step(models::ModelImpl& model, const data::Batch& batch, bool training) {
  models::MaskedAutoencoderViTImpl& m = mae(model);
  const at::Tensor x = batch_views(batch, 1, "mae").front();
  const double ratio = m.options().mask_ratio;
  at::Tensor noise;
  if (ratio > 0) {
    const int64_t B = x.size(0), L = m.geometry().num_patches();
    if (training) {
      noise = models::masking_noise(generator_, B, L, x.device());
    } else {
      // Evaluation masks depend on each sample alone (its dataset index): every validation sees
      // the same ones, whatever batch or rank's shard the sample falls in, so a validation
      // sharded over ranks gives the single process's loss.
      std::vector<at::Tensor> rows;
      rows.reserve(static_cast<size_t>(B));
      for (int64_t i = 0; i < B; ++i) {
        const uint64_t index =
            i < batch.size() ? static_cast<uint64_t>(batch.indices[static_cast<size_t>(i)]) : static_cast<uint64_t>(i);
        at::Generator g = models::make_cpu_generator(
            derive_seed(static_cast<uint64_t>(std::max<int64_t>(0, options_.seed)), index, 0x6d6165 /* "mae" */));
        rows.push_back(models::masking_noise(g, 1, L, x.device()));
      }
      noise = at::cat(rows, 0);
    }
  }
  models::MaeOutput o = m.forward_mae(x, ratio, noise);
  train::StepOutput r;
  r.loss = o.loss;
  r.scalars.emplace_back("mse", o.mse.detach());
  if (ratio > 0) r.scalars.emplace_back("masked_mse", o.masked_mse.detach());
  r.scalars.emplace_back("ncc", o.ncc.detach());
  return r;
}

weights::NamedTensors MaeObjective::encoder_state(models::ModelImpl& model) {
  mae(model);
  weights::NamedTensors out;
  for (auto& [name, t] : weights::module_state_dict(model)) {
    bool decoder = false;
    for (const auto& g : decoder_globs()) decoder = decoder || weights::glob_match(g, name);
    if (!decoder) out.emplace_back(name, t);
  }
  return out;
}

std::optional<Reconstruction> MaeObjective::reconstruct(models::ModelImpl& model, const at::Tensor& x, uint64_t seed) {
  models::MaskedAutoencoderViTImpl& m = mae(model);
  const bool was_training = m.is_training();
  m.eval();
  at::NoGradGuard no_grad;
  const models::VitGeometry& g = m.geometry();
  const int64_t B = x.size(0), L = g.num_patches();
  const double ratio = m.options().mask_ratio;
  at::Tensor noise;
  if (ratio > 0) {
    at::Generator gen = models::make_cpu_generator(seed);
    noise = models::masking_noise(gen, B, L, x.device());
  }
  models::MaeOutput o = m.forward_mae(x, ratio, noise);
  m.train(was_training);
  at::Tensor pred = o.pred;
  if (m.options().norm_pix_loss) {
    // The model predicts z-scored patches; show them in the input's units.
    const at::Tensor target = m.patchify(m.as_image(x));
    pred = pred * (target.var(at::IntArrayRef{-1}, true, true) + 1e-6).sqrt() + target.mean(-1, true);
  }
  Reconstruction r;
  r.input = x.detach().to(at::kCPU, at::kFloat);
  r.output = m.unpatchify(pred).reshape({B, g.leads, g.samples}).to(at::kCPU, at::kFloat);
  r.mask = o.mask.reshape({B, g.rows(), 1, g.cols(), 1})
               .expand({B, g.rows(), g.patch_h, g.cols(), g.patch_w})
               .reshape({B, g.leads, g.samples})
               .to(at::kCPU, at::kFloat);
  r.scalars["ncc"] = o.ncc.item<double>();
  r.scalars["mse"] = o.mse.item<double>();
  if (ratio > 0) r.scalars["masked_mse"] = o.masked_mse.item<double>();
  return r;
}

namespace {
auto make_mae_objective = [](const MaeObjectiveOptions& o, const train::ObjectiveContext&) {
  return std::make_shared<MaeObjective>(o);
};
}  // namespace

CT_REGISTER(train::objective_registry(), "mae",
            (options_factory<train::Objective, MaeObjectiveOptions>(make_mae_objective)),
            "masked-autoencoder pretraining (oetu/mae) of a model with forward_mae (mae_vit_patchx, ...): "
            "anchor loss 0.9 MSE + 0.1 (1 - NCC) or the masked MSE; logs mse, masked_mse, ncc")

}  // namespace cardiotorch::ssl
