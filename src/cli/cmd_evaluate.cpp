// cardiotorch evaluate --checkpoint C [C2 ...] [--data DIR] [--split S] [-o OUT]
#include <cstdio>
#include <iostream>

#include "cardiotorch/app/inference.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class EvaluateCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("--checkpoint", req_.checkpoints,
                   "a fine-tuning checkpoint (its config is inside); several (--checkpoint A B C) average the "
                   "probabilities of runs of one task: an ensemble of seeds or folds")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("--data", req_.data, "a directory a dataset adapter reads (default: the training dataset)")
        ->check(CLI::ExistingDirectory);
    app.add_option("--data-set", req_.data_set, "override a dataset option: --data-set records=[100,103] (repeatable)");
    app.add_option("--split", req_.split, "all | train | val | test (default: all with --data, else test)");
    app.add_option(
        "-o,--output", req_.out_dir,
        "report directory (default: eval_<data> in the run directory, or beside a checkpoint kept outside one)");
    app.add_option("--weights", req_.weights, "auto | model | ema");
    app.add_option("--batch-size", req_.batch_size, "batch size (default: the training loader's)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--workers", req_.num_workers, "loader threads (default: the training loader's)");
    app.add_option("--decisions", req_.decisions,
                   "stored: the checkpoint's decision rule (tuned on validation by finetune.decisions, else the "
                   "default) | default: argmax (multiclass), 0.5 (multilabel)")
        ->check(CLI::IsMember({"stored", "default"}));
  }
  int run() override {
    const app::EvaluationReport r = app::evaluate_checkpoint(req_);
    std::printf("%lld samples, loss %.4f\n", static_cast<long long>(r.samples), r.loss);
    if (!r.table.empty()) std::printf("\n%s\n", r.table.c_str());
    for (const auto& [k, v] : r.metrics)
      if (k.find('/') == std::string::npos && k != "loss") std::printf("%-20s %.4f\n", k.c_str(), v);
    std::printf("\nreports: %s\n", r.out_dir.c_str());
    return 0;
  }

 private:
  app::EvaluateRequest req_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("evaluate",
               "evaluate a fine-tuned checkpoint on a dataset directory: metrics JSON, per-class Se/+P/Sp/F1, "
               "confusion matrix",
               "cardiotorch evaluate --checkpoint runs/mitdb_beats/checkpoints/best.safetensors --data /data/mitdb_ds2",
               cardiotorch::cli::EvaluateCommand)
