#pragma once
// The `mae` objective: masked-autoencoder pretraining of a model that implements forward_mae
// (models/mae.h: mae_vit_patchx and its sizes), as in oetu/mae (ssl_anchors.md §1.2).
//
//   objective: {name: mae}                  # mask ratio, loss mode, NCC weight: the model's options
//   model: {name: mae_vit_patchx, mask_ratio: 0.8, loss_mode: anchor, ncc_weight: 0.1}
//
// The objective owns the masking noise: a generator of its own (checkpointed with the run, so
// a resumed run draws the same masks) in training, and in evaluation a fresh generator per
// sample seeded from its dataset index, so validation losses of different epochs see the same
// masks and compare, and a validation sharded over ranks (or batched otherwise) gives the same
// loss. Logged values: mse (all patches), masked_mse, ncc.
// The downstream encoder is the model's ViT encoder (cls_token, pos_embed, patch_embed.*,
// blocks.*, norm.*): the names vit_patchx / ecg_classifier load by.
#include <ATen/core/Generator.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/models/random_state.h"
#include "cardiotorch/ssl/objective.h"

namespace cardiotorch::models {
class MaskedAutoencoderViTImpl;
}

namespace cardiotorch::ssl {

struct MaeObjectiveOptions {
  int64_t seed = -1;  ///< masking seed; -1 = the experiment seed (pretrain sets it)
  template <class V>
  void fields(V& v) {
    v("seed", seed, "seed of the masking noise (-1 = the experiment seed)");
  }
  void validate() const;
};

class MaeObjective final : public SslObjective, public models::GeneratorOwner {
 public:
  explicit MaeObjective(MaeObjectiveOptions options);

  std::string objective_name() const override { return "mae"; }
  train::StepOutput step(models::ModelImpl& model, const data::Batch& batch, bool training) override;
  void check_model(models::ModelImpl& model) const override;
  weights::NamedTensors encoder_state(models::ModelImpl& model) override;
  std::optional<Reconstruction> reconstruct(models::ModelImpl& model, const at::Tensor& x, uint64_t seed) override;
  std::vector<std::pair<std::string, at::Generator>> generators() override { return {{"mask", generator_}}; }
  std::vector<std::pair<std::string, bool>> scalar_keys() const override {
    return {{"ncc", true}, {"mse", false}, {"masked_mse", false}};
  }

  /// Parameter-name globs of an MAE model that are not part of the encoder.
  static const std::vector<std::string>& decoder_globs();

 private:
  models::MaskedAutoencoderViTImpl& mae(models::ModelImpl& model) const;

  MaeObjectiveOptions options_;
  at::Generator generator_;
};

}  // namespace cardiotorch::ssl
