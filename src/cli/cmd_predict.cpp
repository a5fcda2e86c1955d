// cardiotorch predict --checkpoint C [--checkpoint C2 ...] RECORD... [-o out.csv|out.json]
#include <cstdio>
#include <iostream>

#include "cardiotorch/app/inference.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class PredictCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("--checkpoint", req_.checkpoints,
                   "a fine-tuning checkpoint (its config is inside); repeat it to average the probabilities of "
                   "several runs of one task (an ensemble of seeds or folds)")
        ->allow_extra_args(false)  // one path per --checkpoint: predict's records follow it
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("records", req_.records, "records: WFDB (dir/100), .mat, .edf, .npy ...")->required();
    app.add_option("-o,--output", req_.output, "predictions .csv or .json (default: CSV on stdout)");
    app.add_option("--stride", req_.stride_s, "window stride in seconds for record models (default: the window)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--aggregate", req_.aggregate, "mean | max: record probability from its windows");
    app.add_option("--beats", req_.beats, "beat models: auto | annotations | detector (QRS detection)");
    app.add_option("--annotator", req_.annotator,
                   "annotation file extension for beat positions (default: the training one)");
    app.add_option("--fs", req_.fs, "sampling rate of files that store none (Hz)")->check(CLI::NonNegativeNumber);
    app.add_option("--weights", req_.weights, "auto | model | ema");
  }
  int run() override {
    std::vector<std::string> names;
    const auto preds = app::predict_records(req_, &names);
    if (req_.output.empty()) {
      std::cout << app::predictions_csv(preds, names);
    } else {
      app::write_predictions(preds, names, req_.output);
      std::printf("%zu predictions -> %s\n", preds.size(), req_.output.c_str());
    }
    return 0;
  }

 private:
  app::PredictRequest req_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("predict",
               "per-class probabilities and decisions for records (record-level over windows; beats from "
               "annotations or a QRS detector; waves for delineation models)",
               "cardiotorch predict --checkpoint runs/cinc2017/checkpoints/best.safetensors data/A00001 -o pred.csv",
               cardiotorch::cli::PredictCommand)
