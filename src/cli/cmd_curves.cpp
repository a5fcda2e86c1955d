// cardiotorch curves RUN_DIR|metrics.jsonl [-o DIR] [--format png] [--tensorboard DIR]
#include <filesystem>
#include <iostream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/report/metrics_log.h"
#include "cardiotorch/report/training_plots.h"
#include "cli/command.h"

namespace fs = std::filesystem;

namespace cardiotorch::cli {
namespace {

class CurvesCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("run", input_, "run directory (its metrics.jsonl) or a metrics.jsonl file")->required();
    app.add_option("-o,--output", output_, "directory for the figures (default: <run>/plots)");
    app.add_option("--format", format_, "svg or png (default svg)")->check(CLI::IsMember({"svg", "png"}));
    app.add_option("--x", opts_.x, "x axis: step, epoch or auto (default auto: step when every record has one)")
        ->check(CLI::IsMember({"auto", "step", "epoch"}));
    app.add_flag("--log-loss", opts_.log_loss, "log scale for the loss figure");
    app.add_option("--tensorboard", tensorboard_, "also write the values as a TensorBoard event file into DIR");
  }

  int run() override {
    const fs::path in(input_);
    CT_CHECK(fs::exists(in), UsageError, input_, ": no such run directory or metrics.jsonl file");
    const fs::path jsonl = fs::is_directory(in) ? in / "metrics.jsonl" : in;
    const report::MetricsLog log = report::read_metrics_log(jsonl.string());
    CT_CHECK(!log.records.empty(), DataError, jsonl.string(),
             ": no metric records (lines with \"split\" and \"step\"/\"epoch\"; see docs/metrics.md)");
    if (!tensorboard_.empty()) std::cout << "wrote " << report::write_tensorboard(log, tensorboard_) << "\n";
    const std::string dir = output_.empty() ? (jsonl.parent_path() / "plots").string() : output_;
    for (const auto& p : report::save_training_figures(log, dir, "." + format_, opts_))
      std::cout << "wrote " << p << "\n";
    return 0;
  }

 private:
  std::string input_, output_, tensorboard_;
  std::string format_ = "svg";
  report::TrainingPlotOptions opts_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("curves",
               "plot a run's loss, learning rate and metrics from its metrics.jsonl (SVG/PNG; TensorBoard export)",
               "cardiotorch curves runs/demo --format png --log-loss   (or: --tensorboard runs/demo/tb)",
               cardiotorch::cli::CurvesCommand)
