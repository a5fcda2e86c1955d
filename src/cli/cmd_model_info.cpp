// cardiotorch model-info NAME [--config F] [--set k=v] [--seq-len L | --image-size H W] [--in-channels C] [--fs HZ]
#include <iostream>

#include "cardiotorch/app/model_tools.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class ModelInfoCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("model", spec_.name, "registered model or backbone (`cardiotorch list model`, `list backbone`)");
    app.add_option("-c,--config", spec_.config_file,
                   "model YAML ({name: ..., options}), an experiment with model:, or torch_ecg's model_config .json")
        ->check(CLI::ExistingFile);
    app.add_option("--set", spec_.overrides, "override a model option (repeatable)");
    app.add_option("--seq-len", seq_len_,
                   "input length in samples (default: the model's own when it fixes one, e.g. a ViT, else 5000)")
        ->check(CLI::PositiveNumber);
    app.add_option("--image-size", image_size_, "image height and width (2-D models; default 224 224)")
        ->expected(2)
        ->check(CLI::PositiveNumber);
    app.add_option("--in-channels", in_channels_, "input channels: leads (default 12), image channels (default 3)")
        ->check(CLI::PositiveNumber);
    app.add_option("--fs", fs_, "sampling rate in Hz")->check(CLI::PositiveNumber);
    app.add_option("--num-classes", num_classes_, "classes of the model's head")->check(CLI::NonNegativeNumber);
    app.add_option("--batch", batch_, "batch size shown in the shapes")->check(CLI::PositiveNumber);
    app.add_flag("--config-only", config_only_, "print the resolved options only (nothing is built)");
  }
  int run() override {
    const ConfigNode node = app::resolve_model_spec(spec_);
    if (config_only_) {
      std::cout << node.to_yaml();
      return 0;
    }
    // The build context: what the data would say. Images default to RGB. Without --seq-len the
    // length stays open, so a model whose positional embedding fixes it (vit_patchx: 2500) builds
    // at its own length; free-length models are shown at 5000.
    const bool image = !image_size_.empty();
    const int64_t channels = in_channels_ > 0 ? in_channels_ : image ? 3 : 12;
    auto ctx = app::context_for_shape(channels, seq_len_ > 0 ? seq_len_ : models::kUnknown, fs_, num_classes_);
    if (image) {
      ctx.seq_len = models::kUnknown;
      ctx.image_size = image_size_;
    }
    const models::ModelPtr model = models::build_model(node, ctx);
    // The shapes shown follow the input the model declares: (B, D) features, (B, C, L)
    // signals or (B, C, H, W) images.
    models::Shape input = model->input_shape();
    if (input.size() < 2) input = {models::kUnknown, channels, models::kUnknown};
    input[0] = batch_;
    if (input.size() == 3 && input[2] < 0) input[2] = seq_len_ > 0 ? seq_len_ : 5000;
    if (input.size() == 4) {
      const models::Shape hw = image ? image_size_ : models::Shape{224, 224};
      if (input[2] < 0) input[2] = hw[0];
      if (input[3] < 0) input[3] = hw[1];
    }
    std::cout << model->summary() << "\n";
    std::cout << "parameters: " << models::count_parameters(*model) << " (trainable "
              << models::count_parameters(*model, true) << ")\n";
    std::cout << "input:    " << models::shape_string(input) << "\n";
    const auto stages = model->stage_shapes(input);
    size_t w = 0;
    for (const auto& s : stages) w = std::max(w, s.first.size());
    for (const auto& s : stages)
      std::cout << "  " << s.first << std::string(w - s.first.size() + 2, ' ') << models::shape_string(s.second)
                << "\n";
    std::cout << "features: " << models::shape_string(model->features_shape(input)) << "\n";
    std::cout << "output:   " << models::shape_string(model->output_shape(input)) << "\n";
    std::cout << "embed_dim: " << model->embed_dim() << "\n";
    std::cout << "config:\n" << node.to_yaml();
    return 0;
  }

 private:
  app::ModelSpec spec_;
  int64_t seq_len_ = 0, in_channels_ = 0, num_classes_ = 0, batch_ = 2;
  std::vector<int64_t> image_size_;
  double fs_ = 500.0;
  bool config_only_ = false;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND(
    "model-info", "parameters, per-stage output shapes and resolved options of a model",
    "cardiotorch model-info resnet_nature_comm --seq-len 2000   (images: model-info cmr_encoder --image-size 224 224)",
    cardiotorch::cli::ModelInfoCommand)
