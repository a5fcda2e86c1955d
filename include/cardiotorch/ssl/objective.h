#pragma once
// Self-supervised objectives: what every pretraining method (MAE now; SimCLR, BYOL, JEPA, CLOCS,
// ST-MEM, CLIP later) tells the trainer and `cardiotorch pretrain`, on top of train::Objective:
//
//   step(model, batch, training)  batch.views (or batch.x) -> loss + logged values ("ncc", ...)
//   views()                       independently augmented views per sample it needs (MAE 1, SimCLR 2)
//   check_model(model)            ConfigError at build time when the model cannot serve it
//   frozen_parameters(model)      model parameter globs that stay fixed (the objective's own
//                                 teachers are frozen by the objective itself)
//   downstream(model)             the encoder a downstream task reuses
//   encoder_state(model)          that encoder's tensors, named as the encoder model expects, so
//                                 the file `pretrain` writes feeds `finetune --init` directly
//   reconstruct(model, x)         input / output / mask for reconstruction plots (MAE-like only)
//
// They register in train::objective_registry() like the supervised tasks, so the trainer,
// checkpoints and exact resume need nothing new: an SSL objective is one file in src/ssl/ with
// one CT_REGISTER line (docs/pretraining.md walks through adding one).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cardiotorch/data/loader.h"
#include "cardiotorch/models/model.h"
#include "cardiotorch/train/objective.h"
#include "cardiotorch/weights/loader.h"

namespace cardiotorch::ssl {

/// What a reconstruction plot shows for a batch: every tensor (B, leads, samples), in the
/// units of the model input.
struct Reconstruction {
  at::Tensor input;                       ///< what the model saw
  at::Tensor output;                      ///< the model's reconstruction of every sample
  at::Tensor mask;                        ///< 1 where the model did not see the input (masked patches), else 0
  std::map<std::string, double> scalars;  ///< values for the title ("ncc", "masked_mse")
};

class SslObjective : public train::Objective {
 public:
  /// Views per sample that step() reads from batch.views (1: batch.x alone).
  virtual int64_t views() const { return 1; }
  /// Throws ConfigError naming the model when it cannot be trained by this objective.
  virtual void check_model(models::ModelImpl& model) const = 0;
  /// Globs of model parameters kept frozen while pretraining (default: none).
  virtual std::vector<std::string> frozen_parameters(const models::ModelImpl& /*model*/) const { return {}; }
  /// The downstream encoder's state: by default every tensor of downstream(model).
  virtual weights::NamedTensors encoder_state(models::ModelImpl& model);
  /// A reconstruction of `x` (B, leads, samples) in eval mode with a fixed masking seed;
  /// nullopt for objectives that do not reconstruct (contrastive ones).
  virtual std::optional<Reconstruction> reconstruct(models::ModelImpl& /*model*/, const at::Tensor& /*x*/,
                                                    uint64_t /*seed*/) {
    return std::nullopt;
  }
};

/// The SSL interface of an objective, or ConfigError "objective 'X' is not self-supervised".
SslObjective& as_ssl(train::Objective& objective);

/// The views of a batch an SSL objective reads: batch.views when the loader made them, else
/// {batch.x}; ConfigError when fewer than `needed` exist (data.loader.views too small).
std::vector<at::Tensor> batch_views(const data::Batch& batch, int64_t needed, const std::string& objective);

}  // namespace cardiotorch::ssl
