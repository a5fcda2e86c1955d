// cardiotorch embed --checkpoint C --data DIR -o emb.npy [--localized]
#include <cstdio>

#include "cardiotorch/app/inference.h"
#include "cardiotorch/core/strings.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class EmbedCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("--checkpoint", req_.checkpoint, "a fine-tuning checkpoint (its config is inside)")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("--data", req_.data, "a directory a dataset adapter reads (default: the training dataset)")
        ->check(CLI::ExistingDirectory);
    app.add_option("--data-set", req_.data_set, "override a dataset option (repeatable)");
    app.add_option("--split", req_.split, "without --data: all | train | val | test");
    app.add_option("-o,--output", req_.output, "embeddings .npy (ids: <stem>_ids.csv, labels: <stem>_labels.npy)")
        ->required();
    app.add_flag("--localized", req_.localized, "per-position features (N, T, D) instead of pooled (N, D)");
    app.add_option("--weights", req_.weights, "auto | model | ema");
    app.add_option("--batch-size", req_.batch_size, "batch size")->check(CLI::NonNegativeNumber);
  }
  int run() override {
    const app::EmbedResult r = app::embed_dataset(req_);
    std::vector<std::string> dims;
    for (int64_t d : r.shape) dims.push_back(std::to_string(d));
    std::printf("%s (%s)\n%s\n", req_.output.c_str(), join(dims, ", ").c_str(), r.ids_path.c_str());
    if (!r.labels_path.empty()) std::printf("%s\n", r.labels_path.c_str());
    return 0;
  }

 private:
  app::EmbedRequest req_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND(
    "embed", "embeddings of a dataset from a fine-tuned checkpoint's encoder (+ ids and labels)",
    "cardiotorch embed --checkpoint runs/ptbxl/checkpoints/best.safetensors --data ../shared/data/ptbxl -o emb.npy",
    cardiotorch::cli::EmbedCommand)
