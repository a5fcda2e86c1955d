#pragma once
// Figures of a training run, drawn with cairo as SVG or PNG files, or as SVG markup to inline in
// the HTML report: loss and metric curves over steps or epochs (train vs val, several series,
// optional log scale), the learning rate, a confusion-matrix heat map (counts and row-normalised
// percentages) and ROC curves.
//
// Input is either in-memory series or a run's metrics.jsonl (report/metrics_log.h).
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cardiotorch/report/html.h"
#include "cardiotorch/report/metrics_log.h"

namespace cardiotorch::report {

// ------------------------------------------------------------------------------- line charts

struct CurvePlotOptions {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_y = false;    ///< log10 y axis (values <= 0 are left out)
  bool markers = false;  ///< a dot on every point (default: only for series of <= 30 points)
  double width = 720;    ///< CSS pixels
  double height = 400;
  double png_scale = 2.0;  ///< device pixels per CSS pixel for .png
  /// Fixed y range (both finite to apply), e.g. [0, 1] for AUROC.
  double y_min = NAN, y_max = NAN;
};

/// Draws series (NaN values break the line) to `path` (.svg or .png). Throws Error when built
/// without cairo, ConfigError for another extension.
void plot_curves(const std::vector<Series>& series, const std::string& path, const CurvePlotOptions& options = {});
/// The same as SVG markup.
std::string curves_svg(const std::vector<Series>& series, const CurvePlotOptions& options = {});

// ------------------------------------------------------------------------- confusion matrix

struct ConfusionPlotOptions {
  std::string title = "Confusion matrix";
  double cell = 56;  ///< cell size in CSS pixels
  double png_scale = 2.0;
};
/// A heat map of `counts` (rows = true class, columns = predicted), each cell coloured by its
/// row-normalised share and labelled with the count and that percentage.
void plot_confusion_matrix(const std::vector<std::vector<int64_t>>& counts, const std::vector<std::string>& class_names,
                           const std::string& path, const ConfusionPlotOptions& options = {});
std::string confusion_matrix_svg(const std::vector<std::vector<int64_t>>& counts,
                                 const std::vector<std::string>& class_names, const ConfusionPlotOptions& options = {});

// ---------------------------------------------------------------------------------- ROC curves

struct RocSeries {
  std::string label;
  std::vector<double> fpr, tpr;
  double auc = NAN;  ///< shown in the legend when finite
};
struct RocPlotOptions {
  std::string title = "ROC curves";
  double size = 480;  ///< square, CSS pixels
  double png_scale = 2.0;
};
void plot_roc_curves(const std::vector<RocSeries>& curves, const std::string& path, const RocPlotOptions& options = {});
std::string roc_curves_svg(const std::vector<RocSeries>& curves, const RocPlotOptions& options = {});

// ------------------------------------------------------------------------------ run figures

struct TrainingPlotOptions {
  std::string x = "auto";  ///< step | epoch | auto (MetricsLog::default_x)
  bool log_loss = false;   ///< log scale for the loss figure
  double width = 720, height = 400;
};

/// One figure of a run: what to draw and a file-safe name.
struct TrainingFigure {
  std::string name;  ///< "loss", "lr", "auroc_macro", "val_f1" (per-class keys "f1/<class>" of val)...
  std::string caption;
  std::vector<Series> series;
  CurvePlotOptions options;
};

/// The figures of a log: "loss" (every split's loss and *_loss keys; log scale on request), "lr"
/// ("lr" and "lr/<group>"), one per other key with every split that logs it, and one per
/// (prefix, split) for per-class keys "<prefix>/<class>".
std::vector<TrainingFigure> training_figures(const MetricsLog& log, const TrainingPlotOptions& options = {});
/// Writes every figure as <dir>/<name><ext> (ext .svg or .png); returns the paths.
std::vector<std::string> save_training_figures(const MetricsLog& log, const std::string& dir,
                                               const std::string& ext = ".svg",
                                               const TrainingPlotOptions& options = {});
/// Appends a "Training" section with every figure inlined as SVG (nothing without cairo).
void add_training_section(HtmlReport& html, const MetricsLog& log, const TrainingPlotOptions& options = {});

}  // namespace cardiotorch::report
