#pragma once
// A self-contained HTML report (inline CSS and SVG, no external assets), written to a run
// directory so a person can open one file and see what a run did.
#include <string>
#include <utility>
#include <vector>

namespace cardiotorch::report {

/// Escapes &, <, >, " and ' for HTML text and attributes.
std::string html_escape(const std::string& text);

class HtmlReport {
 public:
  explicit HtmlReport(std::string title);

  HtmlReport& heading(const std::string& text, int level = 2);
  HtmlReport& paragraph(const std::string& text);
  /// Preformatted text (configs, logs).
  HtmlReport& preformatted(const std::string& text);
  HtmlReport& table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
  /// Inline SVG markup (e.g. from svg_line_chart or the ECG plotter) with a caption.
  HtmlReport& svg(const std::string& svg_markup, const std::string& caption = "");
  /// Raw HTML (already escaped by the caller).
  HtmlReport& raw(const std::string& html);

  std::string str() const;
  void save(const std::string& path) const;

 private:
  std::string title_;
  std::string body_;
  int n_figures_ = 0;
};

/// Prefixes every id (and every #reference to one) in SVG markup, so several SVGs can be
/// inlined into one page without their ids colliding.
std::string namespace_svg_ids(std::string svg, const std::string& prefix);

struct Series {
  std::string label;
  std::vector<double> x;
  std::vector<double> y;
};

struct ChartOptions {
  std::string title;
  std::string x_label;
  std::string y_label;
  int width = 640;
  int height = 320;
  bool log_y = false;
};

/// A line chart of one or more series as standalone SVG (axes, ticks, legend).
std::string svg_line_chart(const std::vector<Series>& series, const ChartOptions& options);

}  // namespace cardiotorch::report
