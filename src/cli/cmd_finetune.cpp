// cardiotorch finetune --config F [--init CKPT] [--resume [RUN|CKPT]] [--set k=v]
#include <cmath>
#include <cstdio>

#include "cardiotorch/app/finetune.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class FinetuneCommand : public Command {
 public:
  // One rank of a data-parallel job under launch / torchrun / srun.
  bool runs_on_ranks() const override { return true; }
  void setup(CLI::App& app) override {
    app.add_option("-c,--config", req_.config_file,
                   "experiment YAML (data, model, objective, optimizer, scheduler, train)")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("--set", req_.overrides, "override a config key: --set train.epochs=5 (repeatable)");
    app.add_option("--init", req_.init,
                   "initial weights: a cardiotorch, PyTorch (.pt/.pth/.ckpt) or safetensors checkpoint");
    app.add_option("--resume", req_.resume,
                   "continue a run: its directory, a checkpoint, or 'auto' (the run directory of this config)")
        ->expected(0, 1)
        ->default_str("auto");
    app.add_flag("--overwrite", req_.overwrite, "replace a previous run of the same name (its checkpoints and logs)");
    app.add_flag("--allow-version-mismatch", req_.allow_version_mismatch,
                 "resume a checkpoint written by another cardiotorch version");
  }
  int run() override {
    const app::FinetuneResult r = app::finetune(req_);
    if (!r.main_rank) return 0;  // one summary per job: rank 0's
    std::printf("\nrun directory: %s\n", r.run_dir.c_str());
    std::printf("stopped: %s at step %lld (epoch %lld)\n", r.state.stop_reason.c_str(),
                static_cast<long long>(r.state.step), static_cast<long long>(r.state.epoch));
    if (!r.best_checkpoint.empty()) std::printf("best checkpoint: %s\n", r.best_checkpoint.c_str());
    if (!r.last_checkpoint.empty()) std::printf("last checkpoint: %s\n", r.last_checkpoint.c_str());
    auto show = [](const char* part, const std::map<std::string, double>& m) {
      if (m.empty()) return;
      std::printf("%s:", part);
      for (const auto& [k, v] : m)
        if (k.find('/') == std::string::npos) std::printf(" %s %.4f", k.c_str(), v);
      std::printf("\n");
    };
    show("val", r.val);
    show("test", r.test);
    return 0;
  }

 private:
  app::FinetuneRequest req_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("finetune",
               "train a model on a dataset's labels (multiclass, multilabel, regression, segmentation); "
               "checkpoints, logs, curves and the best checkpoint's evaluation in the run directory",
               "cardiotorch finetune --config configs/finetune/mitdb_beats.yaml --set train.epochs=2",
               cardiotorch::cli::FinetuneCommand)
