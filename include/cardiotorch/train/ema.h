#pragma once
// An exponential moving average of a model's weights (timm's ModelEmaV2 rule): after each
// optimizer step, every floating-point parameter and buffer e <- d e + (1 - d) w, other buffers
// (counters) are copied. With `warmup` the decay ramps up as min(d, (1 + n) / (10 + n)) over
// the n updates so far, so early averages are not dominated by the random initialisation.
// Validation may run on the averaged weights (swap() in, evaluate, swap() back).
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cardiotorch::train {

struct EmaOptions {
  bool enabled = false;
  double decay = 0.9999;
  bool warmup = false;   ///< decay = min(decay, (1 + n) / (10 + n))
  bool validate = true;  ///< validate (and pick the best checkpoint) with the averaged weights
  template <class V>
  void fields(V& v) {
    v("enabled", enabled, "keep an exponential moving average of the weights");
    v("decay", decay, "EMA decay per optimizer step");
    v("warmup", warmup, "ramp the decay up as (1 + n) / (10 + n)");
    v("validate", validate, "validate with the averaged weights");
  }
  void validate_options() const;
};

class ModelEma {
 public:
  ModelEma(const torch::nn::Module& model, double decay, bool warmup = false);
  /// One update from the model's current weights.
  void update(const torch::nn::Module& model);
  /// The decay the next update uses.
  double current_decay() const;
  int64_t num_updates() const { return updates_; }

  /// Exchanges the model's weights with the averages (a second call restores them).
  void swap(torch::nn::Module& model);
  /// The averages under the model's state_dict names, plus "__num_updates__".
  std::vector<std::pair<std::string, at::Tensor>> state_dict() const;
  /// DataError naming a missing, unexpected or mis-shaped entry.
  void load_state_dict(const std::vector<std::pair<std::string, at::Tensor>>& state);

 private:
  std::vector<std::pair<std::string, at::Tensor>> model_tensors(const torch::nn::Module& model) const;
  double decay_;
  bool warmup_;
  int64_t updates_ = 0;
  std::vector<std::pair<std::string, at::Tensor>> shadow_;
};

}  // namespace cardiotorch::train
