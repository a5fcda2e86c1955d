#pragma once
// Library side of the model commands (`forward`, `model-info`): which model a command line
// names, what input it reads, and the context the model is built with.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::app {

/// A model as a command line gives it: `--model NAME`, `--config FILE` (a model mapping
/// {name: ..., options}, an experiment file with a `model:` section, or torch_ecg's model_config
/// as a .json file) and `--set k=v` overrides relative to the model node (`--set global_pool=avg`).
///
/// torch_ecg configs (models/torch_ecg_import.h) come from `config_file` when it is a .json file
/// whose top level has neither `name` nor `model` (torch_ecg's model_config never does; a
/// cardiotorch config always names its model), or from a torch_ecg checkpoint's stored
/// model_config (`config_from_weights`). Both need `name` (torch_ecg's files do not say which
/// model class they belong to); the overrides apply after the import.
struct ModelSpec {
  std::string name;
  std::string config_file;
  std::vector<std::string> overrides;
  std::string config_from_weights;  ///< a torch_ecg checkpoint whose model_config builds the model
};

/// The resolved model node ({name: x, every option}), validated without building anything.
ConfigNode resolve_model_spec(const ModelSpec& spec);

/// A model input read from a file: .npy/.npz arrays as they are (a 2-D (C, L) array gains a
/// batch dim), any ECG record (WFDB, .mat, EDF, ...) as (1, leads, samples) in physical units,
/// optionally run through a preprocessing pipeline file first.
struct ModelInput {
  at::Tensor x;                    ///< float32, (B, C, L) or (B, C, H, W)
  double fs = 0.0;                 ///< 0 when the file stores none and --fs was not given
  std::string origin;              ///< the path
  std::vector<std::string> leads;  ///< lead names of a record (after the pipeline's lead selection); empty for arrays
  std::vector<std::string> units;  ///< a record's units; empty for arrays and after a pipeline (values may be rescaled)
};
ModelInput load_model_input(const std::string& path, double fs = 0.0, const std::string& pipeline_file = "");

/// The build context for an input shaped like `x` ((B, C, L) or (B, C, H, W)).
models::ModelContext context_for_input(const at::Tensor& x, double fs, int64_t num_classes = 0);
/// The build context for a given 1-D input shape when there is no input file.
models::ModelContext context_for_shape(int64_t in_channels, int64_t seq_len, double fs, int64_t num_classes = 0);

enum class ForwardOutput { kOutput, kFeatures, kLocalized, kEmbedding };
/// Eval mode, no grad: forward / forward_features / forward_localized / embed.
at::Tensor run_forward(models::ModelImpl& model, const at::Tensor& x, ForwardOutput what);

}  // namespace cardiotorch::app
