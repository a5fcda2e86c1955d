// cardiotorch ensemble CKPT CKPT [CKPT ...] -o ENSEMBLE.safetensors [--weights auto|model|ema] [--tune val [--decisions
// YAML]]
#include <iostream>

#include "cardiotorch/app/task.h"
#include "cardiotorch/core/strings.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class EnsembleCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("checkpoints", req_.checkpoints,
                   "two or more fine-tuning checkpoints of one task (seeds, folds, other architectures) that read "
                   "the same input")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("-o,--output", req_.output, "the ensemble file to write (.safetensors)")->required();
    app.add_option("--weights", req_.weights, "auto | model | ema: which weights of each member to keep")
        ->check(CLI::IsMember({"auto", "model", "ema"}));
    app.add_option("--tune", req_.tune,
                   "val: tune the ensemble's decision rule on the members' common validation split (their "
                   "finetune.decisions settings) instead of averaging the members' rules")
        ->check(CLI::IsMember({"val"}));
    app.add_option("--decisions", req_.decisions,
                   "with --tune: a YAML mapping over the first member's finetune.decisions, e.g. "
                   "'{tune: f1, classes: [N, S, V]}' (needed for runs trained without a rule to tune)");
  }
  int run() override {
    app::save_ensemble(req_);
    // Read back, so that what was written is known to load.
    const app::TrainedModel t = app::load_trained(req_.output);
    std::cout << "wrote " << req_.output << ": " << t.model->summary() << "\n";
    if (!t.info.decisions.empty()) std::cout << "decisions: " << t.info.decisions << "\n";
    return 0;
  }

 private:
  app::EnsembleRequest req_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND(
    "ensemble",
    "pack fine-tuned checkpoints of one task into one ensemble file (mean probabilities) that evaluate "
    "and predict read like a single checkpoint",
    "cardiotorch ensemble runs/mitdb_beats_s{0,1,2}/checkpoints/best.safetensors -o mitdb_beats_ens.safetensors",
    cardiotorch::cli::EnsembleCommand)
