#pragma once
// Library side of `cardiotorch saliency`: build a model, explain one input with a registered
// saliency method, draw the map (ECG on grid paper, or the image) and/or save it as .npy.
#include <string>
#include <vector>

#include "cardiotorch/app/model_tools.h"
#include "cardiotorch/models/saliency.h"
#include "cardiotorch/report/ecg_plot.h"

namespace cardiotorch::app {

struct SaliencyRequest {
  ModelSpec model;
  std::string input;                          ///< .npy array or an ECG record
  double fs = 0.0;                            ///< for inputs that store no rate
  std::string pipeline;                       ///< preprocessing pipeline YAML run on the input first
  int64_t num_classes = 0;                    ///< build context
  std::string method = "gradcam";             ///< saliency registry name
  std::vector<std::string> method_overrides;  ///< "key=value" options of the method (layer=layer4)
  int64_t target = models::kTopClass;
  int64_t index = 0;                 ///< batch item drawn when the input holds several
  std::vector<std::string> outputs;  ///< .png / .svg (drawn) and/or .npy (the map of every item)
  report::EcgPlotOptions plot;       ///< window, layout, leads of ECG plots (relevance is set here)
};

struct SaliencyOutcome {
  models::SaliencyResult result;
  std::string model_summary;
  std::vector<std::string> written;  ///< files, in the order of request.outputs
};

/// The method node ({name: m, options}) from a name and "key=value" overrides, validated.
ConfigNode resolve_saliency_method(const std::string& name, const std::vector<std::string>& overrides);

/// Builds the model of `request.model` for the input and explains it (see below).
SaliencyOutcome run_saliency(const SaliencyRequest& request);
/// Explains `input` with a built model and writes `request.outputs` (the model spec, input
/// path, pipeline and fs of `request` are not used; `request.input` names the drawing).
SaliencyOutcome explain_and_write(models::ModelImpl& model, const ModelInput& input, const SaliencyRequest& request);

/// A one-line legend: "Grad-CAM at layer4, class 3 (score 1.27)".
std::string saliency_caption(const models::SaliencyResult& r, int64_t index);

}  // namespace cardiotorch::app
