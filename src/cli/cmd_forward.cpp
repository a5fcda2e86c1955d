// cardiotorch forward --model NAME [--config F] [--set k=v] --input x.npy|RECORD -o y.npy
#include <ATen/ATen.h>

#include <iostream>

#include "cardiotorch/app/model_tools.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/io/npy.h"
#include "cli/command.h"
#include "cli/weights_args.h"

namespace cardiotorch::cli {
namespace {

class ForwardCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("-m,--model", spec_.name,
                   "registered model or backbone (`cardiotorch list model`, `list backbone`)");
    app.add_option("-c,--config", spec_.config_file,
                   "model YAML ({name: ..., options}), an experiment with model:, or torch_ecg's model_config .json")
        ->check(CLI::ExistingFile);
    app.add_option("--set", spec_.overrides, "override a model option: --set global_pool=avg (repeatable)");
    app.add_option("-i,--input", input_, "input: .npy (C, L), (B, C, L) or (B, C, H, W), or an ECG record")->required();
    app.add_option("-o,--output", output_, "output .npy")->required();
    app.add_option("--fs", fs_, "sampling rate of the input when the file stores none (Hz)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--pipeline", pipeline_, "preprocessing pipeline YAML run on the input first");
    app.add_option("--num-classes", num_classes_, "classes of the model's head (build context)");
    weights_.add(app);
    app.add_flag("--config-from-weights", config_from_weights_,
                 "build the model from the model_config stored in the --weights torch_ecg checkpoint (needs --model)");
    auto* f = app.add_flag("--features", features_, "write forward_features() (before any head)");
    auto* l = app.add_flag("--localized", localized_, "write per-position features (B, N, D)");
    auto* e = app.add_flag("--embed", embed_, "write the pooled embedding (B, D)");
    f->excludes(l)->excludes(e);
    l->excludes(e);
  }
  int run() override {
    if (config_from_weights_) {
      CT_CHECK(weights_.given(), UsageError,
               "--config-from-weights reads the config of the --weights checkpoint; "
               "pass --weights FILE");
      spec_.config_from_weights = weights_.options_.path;
    }
    const ConfigNode node = app::resolve_model_spec(spec_);
    const app::ModelInput in = app::load_model_input(input_, fs_, pipeline_);
    const models::ModelPtr model = models::build_model(node, app::context_for_input(in.x, in.fs, num_classes_));
    if (weights_.given()) {
      // load_into logs the statistics (info level), and a checkpoint that matched little is an
      // error, never silent; printing the report here as well showed it twice.
      weights::load_into(*model, weights_.options(), model->weight_rules());
    }
    const auto what = features_    ? app::ForwardOutput::kFeatures
                      : localized_ ? app::ForwardOutput::kLocalized
                      : embed_     ? app::ForwardOutput::kEmbedding
                                   : app::ForwardOutput::kOutput;
    const at::Tensor y = app::run_forward(*model, in.x, what);
    io::write_npy(output_, y.to(at::kFloat).contiguous());
    std::cout << model->summary() << "\n"
              << in.origin << " " << models::shape_string(in.x.sizes().vec()) << " -> " << output_ << " "
              << models::shape_string(y.sizes().vec()) << "\n";
    return 0;
  }

 private:
  app::ModelSpec spec_;
  WeightsArgs weights_;
  std::string input_, output_, pipeline_;
  double fs_ = 0.0;
  int64_t num_classes_ = 0;
  bool features_ = false, localized_ = false, embed_ = false, config_from_weights_ = false;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("forward", "run a model on an input file (eval mode, deterministic) and save the output as .npy",
               "cardiotorch forward --model vit_patchx --weights mae.pth --input x.npy -o y.npy --features\n"
               "  cardiotorch forward --model ecg_crnn --weights torch_ecg.pth --config-from-weights "
               "--input ptbxl/records500/00000/00001_hr -o y.npy",
               cardiotorch::cli::ForwardCommand)
