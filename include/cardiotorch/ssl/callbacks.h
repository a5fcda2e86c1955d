#pragma once
// Trainer callbacks of self-supervised runs.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/train/trainer.h"

namespace cardiotorch::ssl {

struct ReconstructionPlotOptions {
  std::string dir;    ///< where the plots go (<run>/plots)
  int64_t every = 1;  ///< every N epochs (and once at the end of the run)
  std::vector<std::string> formats = {"svg", "png"};
  at::Tensor input;  ///< (leads, samples): the sample to reconstruct, as the model sees it
  double fs = 500.0;
  std::vector<std::string> leads;
  uint64_t seed = 0;  ///< masking seed: the same patches are masked in every plot
};

/// Writes <dir>/reconstruction_epoch<N>.<format> after every `every`-th epoch (N counted from 1)
/// and at the end of the run (the epoch in progress) when that epoch has none yet, through the
/// objective's reconstruct(). Objectives that do not reconstruct get no plots.
class ReconstructionPlots final : public train::Callback {
 public:
  explicit ReconstructionPlots(ReconstructionPlotOptions options);
  std::string name() const override { return "reconstruction_plots"; }
  void on_epoch_end(train::Trainer& trainer) override;
  void on_fit_end(train::Trainer& trainer) override;
  /// Files written by this process, in order.
  const std::vector<std::string>& written() const { return written_; }

 private:
  void plot(train::Trainer& trainer, int64_t epoch);
  ReconstructionPlotOptions options_;
  std::vector<std::string> written_;
  int64_t last_epoch_ = -1;
};

/// The reconstruction plots in `dir` (reconstruction_epoch<N>.*), ordered by N then format.
std::vector<std::string> list_reconstruction_plots(const std::string& dir);

}  // namespace cardiotorch::ssl
