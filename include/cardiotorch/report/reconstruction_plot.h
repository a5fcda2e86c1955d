#pragma once
// Reconstruction plots of masked-signal models (MAE): the input and the model's reconstruction
// of every lead on ECG grid paper (ecg_plot.h's strips layout), the patches the model did not see
// shaded in blue, the reconstruction in green over the black original.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace cardiotorch::report {

struct ReconstructionPlotOptions {
  double fs = 500.0;               ///< sampling rate of the model input
  std::vector<std::string> leads;  ///< lead names (empty = "lead 1", "lead 2", ...)
  std::string units = "";          ///< units of the values ("" = normalised: drawn as if mV)
  std::string title;               ///< "" = a generic title
  double gain_mm_mv = 5.0;         ///< mm per unit: z-scored leads span about +-4 units
  double dpi = 150.0;
};

/// Draws `original`, `reconstruction` and `mask` (each (leads, samples); mask 1 = masked) to
/// `path` (.svg or .png). DataError when the shapes disagree.
void plot_reconstruction(const at::Tensor& original, const at::Tensor& reconstruction, const at::Tensor& mask,
                         const std::string& path, const ReconstructionPlotOptions& options = {});

}  // namespace cardiotorch::report
