// cardiotorch import-config SOURCE [--model NAME] [--cnn-only | --backbone NAME] [-o FILE]
// A torch_ecg model_config (from a checkpoint or a .json/.yaml file) -> the cardiotorch model
// YAML the registry importer (models/torch_ecg_import.h) maps it onto, with its report.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/torch_ecg_import.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class ImportConfigCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("source", source_,
                   "torch_ecg checkpoint (.pth, .safetensors, checkpoint directory) or model_config .json/.yaml")
        ->required();
    app.add_option("-o,--output", output_, "write the cardiotorch YAML here (default: stdout)");
    app.add_option("--model", model_,
                   "the cardiotorch model the config is for (`cardiotorch list torch_ecg_model`; torch_ecg's files "
                   "do not say)")
        ->capture_default_str();
    app.add_flag("--cnn-only", cnn_only_, "write only the model's backbone (its `cnn`), e.g. to build it alone");
    app.add_option("--backbone", backbone_,
                   "the source is one backbone's config (a cnn.<NAME> dict), not a model_config; NAME is its "
                   "torch_ecg name, e.g. multi_scopic_leadwise (`cardiotorch list torch_ecg_backbone`)");
  }

  int run() override {
    models::TorchEcgImportReport report;
    ConfigNode out;
    std::string what;
    if (!backbone_.empty()) {
      const ConfigNode cfg = load_text_config();
      models::TorchEcgKeys keys(cfg, "cnn." + backbone_, report);
      models::TorchEcgContext ctx;
      out = models::import_torch_ecg_backbone(backbone_, keys, ctx);
      keys.finish();
      what = "backbone " + out["name"].as_string();
    } else {
      models::TorchEcgImport imp;
      if (is_text_config()) {
        const ConfigNode file = load_text_config();
        imp = models::import_torch_ecg_config(
            model_, file.is_map() && file.has("model_config") ? file["model_config"] : file,
            file.is_map() && file.has("train_config") ? file["train_config"] : ConfigNode());
      } else {
        imp = models::import_torch_ecg_checkpoint(model_, source_);
      }
      report = imp.report;
      out = imp.model;
      what = "model " + model_;
      if (cnn_only_) {
        CT_CHECK(out.has("cnn"), UsageError, "--cnn-only: model ", model_, " has no cnn");
        out = out["cnn"];
        what = "backbone " + out["name"].as_string() + " (the cnn of " + model_ + ")";
      }
    }
    std::cerr << "torch_ecg config " << source_ << " -> cardiotorch " << what << "\n" << report.to_string();
    const std::string yaml = out.to_yaml();
    if (output_.empty()) {
      std::cout << yaml;
    } else {
      std::ofstream f(output_);
      CT_CHECK(f && (f << yaml), IoError, output_, ": cannot write");
      std::cerr << "wrote " << output_ << " (inspect it with: cardiotorch model-info -c " << output_ << ")\n";
    }
    return 0;
  }

 private:
  bool is_text_config() const {
    const std::string ext = to_lower(std::filesystem::path(source_).extension().string());
    return !std::filesystem::is_directory(source_) && (ext == ".json" || ext == ".yaml" || ext == ".yml");
  }
  ConfigNode load_text_config() const {
    CT_CHECK(is_text_config(), UsageError, source_,
             ": --backbone takes a .json/.yaml file holding the backbone's config");
    return ConfigNode::load(source_);
  }

  std::string source_, output_, model_ = "ecg_crnn", backbone_;
  bool cnn_only_ = false;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND(
    "import-config",
    "map a torch_ecg model_config (checkpoint or JSON) onto cardiotorch's model YAML, reporting what it ignored",
    "cardiotorch import-config ecg_crnn.pth -o model.yaml && cardiotorch model-info -c model.yaml   "
    "(backbone only: --cnn-only)",
    cardiotorch::cli::ImportConfigCommand)
