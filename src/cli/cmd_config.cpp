// cardiotorch config show|schema
#include <iostream>

#include "cardiotorch/app/experiment.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class ConfigCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.require_subcommand(1);
    show_ = app.add_subcommand("show", "print the resolved config (defaults, includes and --set applied)");
    show_->add_option("file", file_, "experiment YAML file")->required()->check(CLI::ExistingFile);
    show_->add_option("--set", overrides_, "override a key: --set a.b.c=value (repeatable)");
    show_->footer("Example:\n  cardiotorch config show configs/demo.yaml --set seed=3 --set data.batch_size=16");
    schema_ = app.add_subcommand("schema", "list the top-level experiment keys with defaults and help");
  }
  int run() override {
    if (show_->parsed()) {
      std::cout << resolve_experiment(file_, overrides_).to_yaml();
      return 0;
    }
    // A named object rather than describe_options<ExperimentOptions>()'s default temporary:
    // GCC 12 inlines that temporary's destruction and warns (-Wmaybe-uninitialized, a false
    // positive) about a string it thinks may be uninitialised.
    static const ExperimentOptions defaults;
    for (const auto& line : describe_options(defaults)) std::cout << line << "\n";
    return 0;
  }

 private:
  CLI::App* show_ = nullptr;
  CLI::App* schema_ = nullptr;
  std::string file_;
  std::vector<std::string> overrides_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("config", "show or check experiment configs", "cardiotorch config show configs/demo.yaml --set seed=3",
               cardiotorch::cli::ConfigCommand)
