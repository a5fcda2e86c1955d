// cardiotorch run CONFIG: the main job (see app/run.h).
#include <cstdio>
#include <iostream>

#include "cardiotorch/app/run.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class RunCommand : public Command {
 public:
  // app::run_experiment refuses a launcher itself, with advice specific to the main job.
  bool runs_on_ranks() const override { return true; }
  void setup(CLI::App& app) override {
    app.add_option("config", opts_.config_file, "experiment YAML file with a `stages:` list")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("--set", opts_.overrides, "override a config key: --set a.b.c=value (repeatable)");
    app.add_option("--stop-after", opts_.stop_after, "stop after this stage; the same command without it continues");
    app.add_flag("--overwrite", opts_.overwrite, "remove a previous run of the same name and start again");
    app.add_option("--max-steps", opts_.max_steps, "cap every training stage at N optimizer steps (smoke runs)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--max-batches", opts_.max_batches, "data stage: stop each loader pass after N batches (smoke runs)")
        ->check(CLI::NonNegativeNumber);
    app.footer(
        "Example:\n"
        "  cardiotorch run configs/demo.yaml                      # the whole chain on the bundled sample\n"
        "  cardiotorch run configs/demo.yaml --stop-after pretrain\n"
        "  cardiotorch run configs/demo.yaml --set stages=[data,finetune,report] --set name=ft_only\n\n"
        "Runs the config's stages in order (`cardiotorch list stage`). Finished stages are recorded in\n"
        "<run>/stages/; running the same command again skips them and resumes an interrupted training\n"
        "stage from its last checkpoint.");
  }
  int run() override {
    const app::RunResult r = app::run_experiment(opts_);
    std::printf("\n%-22s %9s  %s\n", "stage", "time", "result");
    for (const auto& s : r.stages)
      std::printf("%-22s %7.1f s  %s%s\n", s.name.c_str(), s.seconds, s.resumed ? "(earlier session) " : "",
                  s.summary.c_str());
    if (!r.table.empty()) std::printf("\n%s", r.table.c_str());
    std::printf("\nRun directory: %s\n", r.run_dir.c_str());
    if (!r.report_path.empty()) std::printf("Report: %s\n", r.report_path.c_str());
    return 0;
  }

 private:
  app::RunOptions opts_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("run",
               "run an experiment's stages: the main job (data, pretrain, finetune, linear probe, baseline, report)",
               "cardiotorch run configs/demo.yaml --set seed=1", cardiotorch::cli::RunCommand)
