// cardiotorch saliency --model NAME --input RECORD|x.npy [--method gradcam|attention|rollout]
//                      [--layer NAME] [--target CLASS|auto] -o map.png [-o map.npy]
#include <iostream>

#include "cardiotorch/app/saliency.h"
#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/model.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class SaliencyCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("-m,--model", q_.model.name,
                   "registered model or backbone (`cardiotorch list model`, `list backbone`)");
    app.add_option("-c,--config", q_.model.config_file,
                   "model YAML ({name: ..., options}) or an experiment with model:")
        ->check(CLI::ExistingFile);
    app.add_option("--set", q_.model.overrides, "override a model option: --set head=mlp (repeatable)");
    app.add_option("-i,--input", q_.input, "input: an ECG record, or .npy (C, L), (B, C, L) or (B, C, H, W)")
        ->required();
    app.add_option("-o,--output", q_.outputs, "output: .png/.svg (drawn) and/or .npy (the map); repeatable")
        ->required();
    app.add_option("--method", q_.method, "saliency method (`cardiotorch list saliency`): gradcam, attention, rollout");
    app.add_option("--layer", layer_, "Grad-CAM layer (capture point), e.g. layer4; default: the last feature map");
    app.add_option("--method-set", q_.method_overrides, "a method option: --method-set discard_ratio=0.9 (repeatable)");
    app.add_option("--target", target_, "class to explain: an index, or auto (each input's top class)");
    app.add_option("--index", q_.index, "which input of a batch to draw (default 0)")->check(CLI::NonNegativeNumber);
    app.add_option("--fs", q_.fs, "sampling rate of inputs that store none (Hz)")->check(CLI::NonNegativeNumber);
    app.add_option("--pipeline", q_.pipeline, "preprocessing pipeline YAML run on the input first");
    app.add_option("--num-classes", q_.num_classes, "classes of the model's head (build context)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--layout", q_.plot.layout, "ECG layout: auto, 12lead or strips")
        ->check(CLI::IsMember({"auto", "12lead", "strips"}));
    app.add_option("--from", q_.plot.from_s, "ECG window start in seconds")->check(CLI::NonNegativeNumber);
    app.add_option("--duration", q_.plot.duration_s, "ECG window length in seconds (default 10 s)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--dpi", q_.plot.dpi, "PNG resolution of ECG plots (default 150)");
  }

  int run() override {
    if (!layer_.empty()) {
      CT_CHECK(q_.method == "gradcam", UsageError, "--layer applies to --method gradcam, not ", q_.method);
      q_.method_overrides.push_back("layer=" + layer_);
    }
    if (target_ != "auto") {
      try {
        size_t used = 0;
        q_.target = std::stoll(target_, &used);
        CT_CHECK(used == target_.size() && q_.target >= 0, UsageError, "");
      } catch (const std::exception&) {
        throw UsageError(str_cat("--target must be a class index (0, 1, ...) or auto, got '", target_, "'"));
      }
    }
    CT_LOG_WARN(
        "saliency: the model's weights are freshly initialised (checkpoint loading is not wired into this "
        "command yet), so the map explains an untrained model");
    const app::SaliencyOutcome out = app::run_saliency(q_);
    const auto& r = out.result;
    std::cout << out.model_summary << "\n";
    std::cout << r.method << ": " << r.layer << "; map " << models::shape_string(r.map.sizes().vec()) << "\n";
    for (int64_t i = 0; i < r.target.size(0); ++i)
      std::cout << "  [" << i << "] " << app::saliency_caption(r, i) << "\n";
    for (const auto& w : out.written) std::cout << "wrote " << w << "\n";
    return 0;
  }

 private:
  app::SaliencyRequest q_;
  std::string layer_, target_ = "auto";
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("saliency",
               "explain a model's output: Grad-CAM (CNNs), attention or attention rollout (token models), drawn "
               "under the ECG on grid paper (or over an image) and/or saved as .npy",
               "cardiotorch saliency --model cmr_classifier --num-classes 5 --input frames.npy --layer encoder.7 "
               "-o cam.png -o cam.npy   (ECG: --model NAME --input data/sample/cinc2021/E07500 -o map.png)",
               cardiotorch::cli::SaliencyCommand)
