// cardiotorch pretrain --config F [--resume [RUN|CKPT]] [--overwrite] [--set k=v]
#include <cstdio>

#include "cardiotorch/app/pretrain.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class PretrainCommand : public Command {
 public:
  // One rank of a data-parallel job under launch / torchrun / srun.
  bool runs_on_ranks() const override { return true; }
  void setup(CLI::App& app) override {
    app.add_option(
           "-c,--config", req_.config_file,
           "experiment YAML (data, preprocess, augment, model, objective: {name: mae}, optimizer, scheduler, train)")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("--set", req_.overrides, "override a config key: --set train.epochs=5 (repeatable)");
    app.add_option("--resume", req_.resume,
                   "continue a run: its directory, a checkpoint, or 'auto' (the run directory of this config)")
        ->expected(0, 1)
        ->default_str("auto");
    app.add_flag("--overwrite", req_.overwrite,
                 "replace a previous run of the same name (its checkpoints, plots and logs)");
    app.add_flag("--allow-version-mismatch", req_.allow_version_mismatch,
                 "resume a checkpoint written by another cardiotorch version");
  }
  int run() override {
    const app::PretrainResult r = app::pretrain(req_);
    if (!r.main_rank) return 0;  // one summary per job: rank 0's
    std::printf("\nrun directory: %s\n", r.run_dir.c_str());
    std::printf("stopped: %s at step %lld (epoch %lld)\n", r.state.stop_reason.c_str(),
                static_cast<long long>(r.state.step), static_cast<long long>(r.state.epoch));
    if (!r.final.empty()) {
      std::printf("last values:");
      for (const auto& [k, v] : r.final)
        if (k != "lr") std::printf(" %s %.4f", k.c_str(), v);
      std::printf("\n");
    }
    if (!r.last_checkpoint.empty()) std::printf("last checkpoint: %s\n", r.last_checkpoint.c_str());
    if (!r.reconstruction_plots.empty())
      std::printf("reconstructions: %s (%zu files)\n", r.reconstruction_plots.back().c_str(),
                  r.reconstruction_plots.size());
    if (!r.encoder_checkpoint.empty())
      std::printf("encoder: %s\n  fine-tune from it: cardiotorch finetune --config F --init %s\n",
                  r.encoder_checkpoint.c_str(), r.encoder_checkpoint.c_str());
    return 0;
  }

 private:
  app::PretrainRequest req_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("pretrain",
               "self-supervised pretraining (mae, ...) of an encoder on a dataset's signals; checkpoints, logs, "
               "reconstruction plots and the encoder alone for finetune --init in the run directory",
               "cardiotorch pretrain --config configs/pretrain/mae_sample.yaml --set train.epochs=2",
               cardiotorch::cli::PretrainCommand)
