#include "cardiotorch/ssl/callbacks.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <tuple>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/report/ecg_plot.h"
#include "cardiotorch/report/reconstruction_plot.h"
#include "cardiotorch/ssl/objective.h"

namespace fs = std::filesystem;

namespace cardiotorch::ssl {

ReconstructionPlots::ReconstructionPlots(ReconstructionPlotOptions options) : options_(std::move(options)) {
  CT_CHECK(options_.input.defined() && options_.input.dim() == 2, ShapeError,
           "reconstruction plots: the input must be (leads, samples)");
}

void ReconstructionPlots::on_epoch_end(train::Trainer& trainer) {
  const int64_t epoch = trainer.state().epoch;  // epochs completed
  if (options_.every > 0 && epoch % options_.every == 0) plot(trainer, epoch);
}

void ReconstructionPlots::on_fit_end(train::Trainer& trainer) {
  if (options_.every <= 0) return;
  const train::TrainState& s = trainer.state();
  const int64_t epoch = s.epoch + (s.batch > 0 ? 1 : 0);  // a run cut mid-epoch names the epoch in progress
  if (epoch != last_epoch_ && epoch > 0) plot(trainer, epoch);
}

void ReconstructionPlots::plot(train::Trainer& trainer, int64_t epoch) {
  last_epoch_ = epoch;
  if (!report::plot_supported()) return;
  auto* objective = dynamic_cast<SslObjective*>(trainer.context().objective.get());
  if (objective == nullptr) return;
  models::ModelImpl& model = *trainer.context().model;
  const at::Tensor x = options_.input.unsqueeze(0).to(trainer.context().device);
  const std::optional<Reconstruction> r = objective->reconstruct(model, x, options_.seed);
  if (!r) return;
  fs::create_directories(options_.dir);
  report::ReconstructionPlotOptions po;
  po.fs = options_.fs;
  po.leads = options_.leads;
  std::string values;
  for (const auto& [k, v] : r->scalars) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    values += str_cat("    ", k, " ", buf);
  }
  po.title = str_cat("reconstruction, epoch ", epoch, " (step ", trainer.state().step, ")", values,
                     "    normalised units (1 = ", po.gain_mm_mv, " mm)");
  for (const auto& f : options_.formats) {
    const std::string path = (fs::path(options_.dir) / str_cat("reconstruction_epoch", epoch, ".", f)).string();
    try {
      report::plot_reconstruction(r->input[0], r->output[0], r->mask[0], path, po);
      written_.push_back(path);
    } catch (const Error& e) {
      // A figure is never worth a training run.
      CT_LOG_WARN("reconstruction plot ", path, " not written: ", e.what());
    }
  }
}

std::vector<std::string> list_reconstruction_plots(const std::string& dir) {
  std::vector<std::tuple<int64_t, std::string, std::string>> found;
  if (!fs::is_directory(dir)) return {};
  static const std::regex name(R"(reconstruction_epoch(\d+)\.(svg|png))");
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string file = e.path().filename().string();
    if (std::regex_match(file, m, name)) found.emplace_back(std::stoll(m[1].str()), m[2].str(), e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::get<2>(f));
  return out;
}

}  // namespace cardiotorch::ssl
