// cardiotorch import-config SOURCE [-o FILE] [--name NAME]
// torch_ecg backbone config -> cardiotorch backbone YAML, with the report of what was ignored.
#include <fstream>
#include <iostream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/models/torch_ecg_config.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class ImportConfigCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("source", source_,
                   "torch_ecg checkpoint (.pth, .safetensors, checkpoint directory) or model_config .json/.yaml")
        ->required();
    app.add_option("-o,--output", output_, "write the cardiotorch backbone YAML here (default: stdout)");
    app.add_option("--name", name_,
                   "the source is one backbone's config (not ECG_CRNN's model_config) with this torch_ecg name, "
                   "e.g. multi_scopic");
  }
  int run() override {
    const ConfigNode mc = models::read_torch_ecg_model_config(source_);
    models::TorchEcgImport imp;
    if (!name_.empty()) {
      imp = models::import_torch_ecg_backbone(name_, mc, name_);
    } else {
      CT_CHECK(mc.is_map() && mc.has("cnn"), UsageError, source_,
               ": the model_config has no `cnn` section; for one backbone's config give its name with --name");
      imp = models::import_torch_ecg_backbone(mc["cnn"], "cnn");
    }
    std::cerr << models::format_import_report(imp);
    const std::string yaml = imp.config.to_yaml();
    if (output_.empty()) {
      std::cout << yaml;
    } else {
      std::ofstream out(output_);
      CT_CHECK(out && (out << yaml), IoError, output_, ": cannot write");
      std::cerr << "wrote " << output_ << " (build it with: cardiotorch model-info -c " << output_ << ")\n";
    }
    return 0;
  }

 private:
  std::string source_, output_, name_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("import-config", "map a torch_ecg backbone config (checkpoint or model_config JSON) onto cardiotorch's",
               "cardiotorch import-config ecg_crnn.pth -o backbone.yaml && cardiotorch model-info -c backbone.yaml",
               cardiotorch::cli::ImportConfigCommand)
