// metrics.jsonl parsing, the figures of a run, and the cairo charts (SVG/PNG, inline SVG).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/run_dir.h"
#include "cardiotorch/report/ecg_plot.h"
#include "cardiotorch/report/html.h"
#include "cardiotorch/report/tensorboard.h"
#include "cardiotorch/report/training_plots.h"
#include "support/test_util.h"

namespace rp = cardiotorch::report;
namespace fs = std::filesystem;

namespace {

const char* kLog =
    R"({"stage": "dataset", "seconds": 0.1, "summary": "50 items"})"
    "\n"
    R"({"split": "train", "step": 10, "epoch": 0, "loss": 0.9, "lr": 0.001})"
    "\n"
    R"({"split": "train", "step": 20, "epoch": 0, "loss": 0.7, "lr": 0.002, "time": 12.5})"
    "\n"
    R"({"split": "val", "step": 20, "epoch": 0, "loss": 0.8, "auroc_macro": 0.71, "f1/AF": 0.5, "f1/N": 0.9})"
    "\n\n"
    R"({"split": "train", "step": 30, "epoch": 1, "loss": 0.5, "lr": 0.001, "note": "text is ignored"})"
    "\n"
    R"({"split": "val", "step": 40, "epoch": 1, "loss": 0.6, "auroc_macro": null, "f1/AF": 0.6, "f1/N": 0.92})"
    "\n";

std::string read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// The (width, height) attributes of an SVG document, in px (regex on the <svg> tag only:
// std::regex recurses per character).
std::pair<double, double> svg_size(const std::string& svg) {
  const size_t at = svg.find("<svg");
  if (at == std::string::npos) return {-1, -1};
  const std::string tag = svg.substr(at, svg.find('>', at) - at);
  std::smatch m;
  const std::regex re("width=\"([0-9.]+)px\"[^>]*height=\"([0-9.]+)px\"");
  if (!std::regex_search(tag, m, re)) return {-1, -1};
  return {std::stod(m[1]), std::stod(m[2])};
}

// cairo numbers its surfaces per process ("surface156"): drop the number.
std::string without_surface_ids(std::string s) {
  for (size_t p = s.find("surface"); p != std::string::npos; p = s.find("surface", p + 7)) {
    size_t e = p + 7;
    while (e < s.size() && std::isdigit(static_cast<unsigned char>(s[e]))) ++e;
    s.erase(p + 7, e - p - 7);
  }
  return s;
}

}  // namespace

TEST(TrainingPlots, ParsesTheMetricsJsonlSchema) {
  const rp::MetricsLog log = rp::parse_metrics_log(kLog, "m.jsonl");
  ASSERT_EQ(log.records.size(), 5u);  // the stage line is skipped
  EXPECT_EQ(log.splits(), (std::vector<std::string>{"train", "val"}));
  EXPECT_EQ(log.keys("train"), (std::vector<std::string>{"loss", "lr"}));
  EXPECT_EQ(log.keys("val"), (std::vector<std::string>{"auroc_macro", "f1/AF", "f1/N", "loss"}));
  EXPECT_EQ(log.records[1].time, 12.5);
  EXPECT_EQ(log.default_x(), "step");
  const rp::Series s = log.series("val", "auroc_macro", "step");
  EXPECT_EQ(s.x, (std::vector<double>{20, 40}));
  EXPECT_EQ(s.y[0], 0.71);
  EXPECT_TRUE(std::isnan(s.y[1]));  // null
  EXPECT_EQ(log.series("train", "loss", "epoch").x, (std::vector<double>{0, 0, 1}));

  auto error = [](const std::string& text) {
    try {
      rp::parse_metrics_log(text, "bad.jsonl");
    } catch (const cardiotorch::DataError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error("{\"split\": \"train\", \"step\": 1}\n{oops\n").find("bad.jsonl:2"), std::string::npos);
  EXPECT_NE(error("[1, 2]\n").find("one JSON object per line"), std::string::npos);
  EXPECT_NE(error("{\"split\": \"train\", \"loss\": 1}\n").find("needs \"step\" or \"epoch\""), std::string::npos);
  EXPECT_NE(error("{\"split\": \"train\", \"step\": 1.5}\n").find("\"step\" must be an integer"), std::string::npos);
  EXPECT_NE(error("{\"split\": 3, \"step\": 1}\n").find("\"split\" must be"), std::string::npos);
}

TEST(TrainingPlots, MetricsWriterOutputReadsBack) {
  // The run directory's writer (core/run_dir.h) produces the schema the plots read.
  const std::string dir = cardiotorch::test::make_temp_dir("plots_writer");
  {
    cardiotorch::MetricsWriter w(dir + "/metrics.jsonl");
    w.write({{"split", std::string("train")}, {"step", int64_t{5}}, {"epoch", int64_t{0}}, {"loss", 0.25}});
    w.write({{"stage", std::string("cache")}, {"seconds", 1.0}});
  }
  const rp::MetricsLog log = rp::read_metrics_log(dir + "/metrics.jsonl");
  ASSERT_EQ(log.records.size(), 1u);
  EXPECT_EQ(log.records[0].step, 5);
  EXPECT_EQ(log.records[0].values.at("loss"), 0.25);
  EXPECT_THROW(rp::read_metrics_log(dir + "/missing.jsonl"), cardiotorch::DataError);
}

TEST(TrainingPlots, FiguresOfARun) {
  const auto figs = rp::training_figures(rp::parse_metrics_log(kLog));
  std::vector<std::string> names;
  for (const auto& f : figs) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"loss", "lr", "auroc_macro", "val_f1"}));
  ASSERT_EQ(figs[0].series.size(), 2u);  // train and val loss
  EXPECT_EQ(figs[0].series[0].label, "train");
  EXPECT_EQ(figs[0].series[1].y, (std::vector<double>{0.8, 0.6}));
  EXPECT_EQ(figs[1].series.size(), 1u);  // lr once
  ASSERT_EQ(figs[3].series.size(), 2u);  // per class: AF and N
  EXPECT_EQ(figs[3].series[0].label, "AF");
  EXPECT_EQ(figs[0].options.x_label, "step");
  rp::TrainingPlotOptions by_epoch;
  by_epoch.x = "epoch";
  by_epoch.log_loss = true;
  const auto e = rp::training_figures(rp::parse_metrics_log(kLog), by_epoch);
  EXPECT_EQ(e[0].options.x_label, "epoch");
  EXPECT_TRUE(e[0].options.log_y);
  by_epoch.x = "time";
  EXPECT_THROW(rp::training_figures(rp::parse_metrics_log(kLog), by_epoch), cardiotorch::ConfigError);
}

class TrainingCharts : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!rp::plot_supported()) GTEST_SKIP() << "built without cairo";
  }
  std::string dir_ = cardiotorch::test::make_temp_dir("charts");
};

TEST_F(TrainingCharts, CurvesAsSvgPngAndInline) {
  const rp::MetricsLog log = rp::parse_metrics_log(kLog);
  const auto paths = rp::save_training_figures(log, dir_ + "/plots", ".png");
  ASSERT_EQ(paths.size(), 4u);
  for (const auto& p : paths) EXPECT_EQ(read(p).substr(1, 3), "PNG") << p;
  const auto svgs = rp::save_training_figures(log, dir_ + "/plots", ".svg");
  const std::string svg = read(svgs[0]);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_EQ(svg_size(svg), std::make_pair(720.0, 400.0));
  // The in-memory SVG is the same drawing.
  const auto figs = rp::training_figures(log);
  const std::string inline_svg = rp::curves_svg(figs[0].series, figs[0].options);
  EXPECT_EQ(inline_svg.rfind("<svg", 0), 0u);  // no XML prolog
  EXPECT_EQ(without_surface_ids(svg.substr(svg.find("<svg"))), without_surface_ids(inline_svg));
  EXPECT_THROW(rp::save_training_figures(log, dir_, ".pdf"), cardiotorch::ConfigError);
}

TEST_F(TrainingCharts, DegenerateSeriesStillDraw) {
  rp::CurvePlotOptions o;
  o.log_y = true;
  // Zero and negative values on a log axis, a NaN gap, a single point, an empty series.
  const std::vector<rp::Series> s = {{"a", {0, 1, 2, 3}, {1.0, 0.0, NAN, 1e-3}}, {"b", {5}, {2.0}}, {"c", {}, {}}};
  EXPECT_NO_THROW(rp::plot_curves(s, dir_ + "/log.svg", o));
  EXPECT_NO_THROW(rp::plot_curves({}, dir_ + "/empty.png"));
  // Many series move the legend outside: the figure widens.
  std::vector<rp::Series> many;
  for (int i = 0; i < 9; ++i) many.push_back({"class " + std::to_string(i), {0, 1}, {0.1 * i, 0.1 * i + 0.05}});
  EXPECT_GT(svg_size(rp::curves_svg(many)).first, 720.0);
  EXPECT_THROW(rp::plot_curves(s, dir_ + "/x.jpg"), cardiotorch::ConfigError);
}

TEST_F(TrainingCharts, ConfusionMatrixAndRocCurves) {
  const std::vector<std::vector<int64_t>> cm = {{50, 2, 5}, {3, 20, 2}, {0, 0, 0}};
  const std::string small = rp::confusion_matrix_svg(cm, {"N", "A", "O"});
  rp::plot_confusion_matrix(cm, {"N", "A", "O"}, dir_ + "/cm.png");
  EXPECT_EQ(read(dir_ + "/cm.png").substr(1, 3), "PNG");
  // Long class names rotate the column labels and make room for them.
  const std::string long_names = rp::confusion_matrix_svg(cm, {"sinus rhythm", "atrial fibrillation", "other"});
  EXPECT_GT(svg_size(long_names).second, svg_size(small).second);
  // Cell size scales the figure.
  rp::ConfusionPlotOptions big;
  big.cell = 112;
  EXPECT_NEAR(svg_size(rp::confusion_matrix_svg(cm, {"N", "A", "O"}, big)).first - svg_size(small).first, 3 * 56, 1e-9);
  EXPECT_THROW(rp::confusion_matrix_svg({{1, 2}, {3}}, {}), cardiotorch::DataError);
  EXPECT_THROW(rp::confusion_matrix_svg(cm, {"N", "A"}), cardiotorch::DataError);

  const std::vector<rp::RocSeries> roc = {{"AF", {0, 0.1, 1}, {0, 0.8, 1}, 0.85}, {"N", {0, 1}, {0, 1}, 0.5}};
  rp::plot_roc_curves(roc, dir_ + "/roc.svg");
  EXPECT_EQ(svg_size(read(dir_ + "/roc.svg")), std::make_pair(480.0, 480.0));
}

TEST_F(TrainingCharts, CurvesCommandPlotsARunAndExportsTensorBoard) {
  cardiotorch::test::write_file(dir_ + "/run/metrics.jsonl", kLog);
  std::string out;
  ASSERT_EQ(cardiotorch::test::run_cli("curves " + dir_ + "/run --log-loss --tensorboard " + dir_ + "/tb", &out), 0)
      << out;
  for (const char* f : {"loss.svg", "lr.svg", "auroc_macro.svg", "val_f1.svg"})
    EXPECT_TRUE(fs::exists(dir_ + "/run/plots/" + f)) << f << "\n" << out;
  std::string event;
  for (const auto& e : fs::directory_iterator(dir_ + "/tb")) event = e.path().string();
  const auto events = rp::read_tensorboard_events(event);
  ASSERT_EQ(events.size(), 6u);  // file version + 5 records
  EXPECT_EQ(events[3].step, 20);
  EXPECT_EQ(events[3].values.size(), 4u);  // val: auroc_macro, f1/AF, f1/N, loss
  EXPECT_EQ(events[3].values[0].tag, "val/auroc_macro");
}

TEST(TrainingPlotsCli, CurvesCommandNamesAMissingRun) {
  std::string out;
  EXPECT_EQ(cardiotorch::test::run_cli("curves /nonexistent/run", &out), 2);
  EXPECT_NE(out.find("no such run directory"), std::string::npos) << out;
}

TEST_F(TrainingCharts, HtmlReportInlinesTheFigures) {
  rp::HtmlReport html("run");
  rp::add_training_section(html, rp::parse_metrics_log(kLog));
  html.svg(rp::confusion_matrix_svg({{5, 1}, {2, 7}}, {"neg", "pos"}), "Confusion matrix (val)");
  const std::string s = html.str();
  size_t figures = 0;
  for (size_t p = s.find("<figure>"); p != std::string::npos; p = s.find("<figure>", p + 1)) ++figures;
  EXPECT_EQ(figures, 5u);
  EXPECT_EQ(s.find("<?xml"), std::string::npos);     // inline SVG: no XML prolog inside HTML
  EXPECT_NE(s.find("id=\"f5-"), std::string::npos);  // ids namespaced per figure
  rp::HtmlReport empty("run");
  rp::add_training_section(empty, rp::parse_metrics_log("{\"stage\": \"x\"}\n", "m.jsonl"));
  EXPECT_NE(empty.str().find("No training metrics"), std::string::npos);
}
