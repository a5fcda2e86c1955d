#include "cardiotorch/report/training_plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/report/ecg_plot.h"
#include "report/canvas.h"

namespace cardiotorch::report {

// --------------------------------------------------------------------------------- drawing

#ifdef CARDIOTORCH_HAVE_CAIRO

namespace {

using detail::Align;
using detail::ChartCanvas;

const unsigned kPalette[] = {0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e, 0x9467bd,
                             0x8c564b, 0xe377c2, 0x17becf, 0x7f7f7f, 0xbcbd22};
constexpr double kPi = 3.14159265358979323846;

std::string fmt_tick(double v) {
  char b[32];
  if (v != 0 && (std::fabs(v) < 1e-3 || std::fabs(v) >= 1e5)) std::snprintf(b, sizeof b, "%.0e", v);
  else std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

double nice_step(double range, int target) {
  if (!(range > 0)) return 1;
  const double raw = range / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

// A plot area mapping data to pixels (y may be log10).
struct Frame {
  double left, top, width, height;
  double x0, x1, y0, y1;  // data range (y in log10 units when log)
  bool log_y = false;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * width; }
  double py(double y) const {
    const double v = log_y ? std::log10(y) : y;
    return top + height - (v - y0) / (y1 - y0) * height;
  }
  bool usable(double x, double y) const { return std::isfinite(x) && std::isfinite(y) && (!log_y || y > 0); }
};

struct Ticks {
  std::vector<double> at;  // data values (not log)
  std::vector<std::string> label;
};

Ticks linear_ticks(double lo, double hi, int target) {
  Ticks t;
  const double step = nice_step(hi - lo, target);
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    const double x = std::fabs(v) < step * 1e-9 ? 0.0 : v;
    t.at.push_back(x);
    t.label.push_back(fmt_tick(x));
  }
  return t;
}

Ticks log_ticks(double lo, double hi) {  // lo, hi in log10 units
  Ticks t;
  const bool fine = hi - lo < 2.5;
  for (int k = static_cast<int>(std::floor(lo)); k <= static_cast<int>(std::ceil(hi)); ++k)
    for (double m : fine ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) {
      const double v = m * std::pow(10.0, k), lv = std::log10(v);
      if (lv < lo - 1e-9 || lv > hi + 1e-9) continue;
      t.at.push_back(v);
      t.label.push_back(fmt_tick(v));
    }
  return t;
}

void legend(const ChartCanvas& c, const std::vector<std::pair<std::string, unsigned>>& items, double x_right,
            double y_top, bool outside) {
  if (items.empty()) return;
  cairo_t* cr = c.cr();
  c.font(11);
  double w = 0;
  for (const auto& it : items) w = std::max(w, c.text_width(it.first));
  const double row = 16, box_w = w + 34, box_h = row * static_cast<double>(items.size()) + 8;
  const double x = outside ? x_right : x_right - box_w - 8, y = y_top + (outside ? 0 : 8);
  if (!outside) {
    c.rgb(0xffffff, 0.85);
    cairo_rectangle(cr, x, y, box_w, box_h);
    cairo_fill_preserve(cr);
    c.rgb(0xcccccc);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
  }
  for (size_t i = 0; i < items.size(); ++i) {
    const double yy = y + 4 + row * static_cast<double>(i) + row / 2;
    c.rgb(items[i].second);
    cairo_set_line_width(cr, 2.2);
    c.line(x + 6, yy, x + 24, yy);
    c.rgb(0x222222);
    c.text(x + 30, yy + 4, items[i].first);
  }
}

double legend_width(const ChartCanvas& c, const std::vector<std::string>& labels) {
  c.font(11);
  double w = 0;
  for (const auto& l : labels) w = std::max(w, c.text_width(l));
  return w + 44;
}

// Axes, grid, labels and title around `f`.
void draw_frame(const ChartCanvas& c, const Frame& f, const Ticks& xt, const Ticks& yt, const std::string& title,
                const std::string& x_label, const std::string& y_label, double canvas_w) {
  cairo_t* cr = c.cr();
  cairo_set_line_width(cr, 1);
  c.font(11);
  for (size_t i = 0; i < xt.at.size(); ++i) {
    const double x = std::round(f.px(xt.at[i])) + 0.5;
    c.rgb(0xebebeb);
    c.line(x, f.top, x, f.top + f.height);
    c.rgb(0x444444);
    c.text(x, f.top + f.height + 15, xt.label[i], Align::kCenter);
  }
  for (size_t i = 0; i < yt.at.size(); ++i) {
    const double y = std::round(f.py(yt.at[i])) + 0.5;
    c.rgb(0xebebeb);
    c.line(f.left, y, f.left + f.width, y);
    c.rgb(0x444444);
    c.text(f.left - 6, y + 4, yt.label[i], Align::kRight);
  }
  c.rgb(0x999999);
  cairo_rectangle(cr, std::round(f.left) + 0.5, std::round(f.top) + 0.5, std::round(f.width), std::round(f.height));
  cairo_stroke(cr);
  c.rgb(0x222222);
  c.font(12);
  if (!x_label.empty()) c.text(f.left + f.width / 2, f.top + f.height + 34, x_label, Align::kCenter);
  if (!y_label.empty()) c.text(16, f.top + f.height / 2, y_label, Align::kCenter, -kPi / 2);
  if (!title.empty()) {
    c.font(14, true);
    c.text(canvas_w / 2, 22, title, Align::kCenter);
  }
}

void draw_series(const ChartCanvas& c, const Frame& f, const Series& s, unsigned color, bool markers,
                 bool dashed = false) {
  cairo_t* cr = c.cr();
  cairo_save(cr);
  cairo_rectangle(cr, f.left, f.top, f.width, f.height);
  cairo_clip(cr);
  c.rgb(color);
  cairo_set_line_width(cr, 1.8);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  if (dashed) {
    const double d[] = {5, 4};
    cairo_set_dash(cr, d, 2, 0);
  }
  bool down = false;
  const size_t n = std::min(s.x.size(), s.y.size());
  for (size_t i = 0; i < n; ++i) {
    if (!f.usable(s.x[i], s.y[i])) {
      down = false;
      continue;
    }
    if (down) cairo_line_to(cr, f.px(s.x[i]), f.py(s.y[i]));
    else cairo_move_to(cr, f.px(s.x[i]), f.py(s.y[i]));
    down = true;
  }
  cairo_stroke(cr);
  cairo_set_dash(cr, nullptr, 0, 0);
  if (markers)
    for (size_t i = 0; i < n; ++i) {
      if (!f.usable(s.x[i], s.y[i])) continue;
      cairo_new_sub_path(cr);
      cairo_arc(cr, f.px(s.x[i]), f.py(s.y[i]), 2.6, 0, 2 * kPi);
      cairo_fill(cr);
    }
  cairo_restore(cr);
}

void draw_curves(ChartCanvas& c, const std::vector<Series>& series, const CurvePlotOptions& o, double plot_w) {
  Frame f;
  f.log_y = o.log_y;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  size_t max_points = 0;
  for (const auto& s : series) {
    max_points = std::max(max_points, s.x.size());
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!f.usable(s.x[i], s.y[i])) continue;
      const double y = o.log_y ? std::log10(s.y[i]) : s.y[i];
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x0 -= 0.5, x1 += 0.5;
  if (y1 == y0)
    y0 -= o.log_y ? 0.5 : std::max(0.5, std::fabs(y0) * 0.1), y1 += o.log_y ? 0.5 : std::max(0.5, std::fabs(y1) * 0.1);
  // Margins so lines and markers at the extremes are not cut by the frame.
  const double ypad = (y1 - y0) * (o.log_y ? 0.03 : 0.05), xpad = (x1 - x0) * 0.015;
  y0 -= ypad;
  y1 += ypad;
  x0 -= xpad;
  x1 += xpad;
  if (std::isfinite(o.y_min) && std::isfinite(o.y_max) && o.y_max > o.y_min && !o.log_y) y0 = o.y_min, y1 = o.y_max;
  const Ticks yt = o.log_y ? log_ticks(y0, y1) : linear_ticks(y0, y1, 5);
  c.font(11);
  double label_w = 0;
  for (const auto& l : yt.label) label_w = std::max(label_w, c.text_width(l));
  f.left = 30 + label_w + 8;
  f.top = o.title.empty() ? 14 : 36;
  f.width = plot_w - f.left - 16;
  f.height = o.height - f.top - 48;
  f.x0 = x0, f.x1 = x1, f.y0 = y0, f.y1 = y1;
  const Ticks xt = linear_ticks(x0, x1, std::max(3, static_cast<int>(f.width / 90)));
  draw_frame(c, f, xt, yt, o.title, o.x_label, o.y_label, o.width);
  const bool markers = o.markers || max_points <= 30;
  std::vector<std::pair<std::string, unsigned>> items;
  for (size_t k = 0; k < series.size(); ++k) {
    const unsigned color = kPalette[k % 10];
    draw_series(c, f, series[k], color, markers);
    if (!series[k].label.empty()) items.emplace_back(series[k].label, color);
  }
  const bool outside = items.size() > 6;
  legend(c, items, outside ? plot_w + 4 : f.left + f.width, f.top, outside);
}

std::vector<std::string> labels_of(const std::vector<Series>& series) {
  std::vector<std::string> l;
  for (const auto& s : series) l.push_back(s.label);
  return l;
}

// Draws to `path`, or returns the SVG markup without its XML prolog (for inlining in HTML).
template <class Draw>
std::string render(const std::string& path, double w, double h, double scale, Draw draw) {
  ChartCanvas c(path, w, h, scale);
  draw(c);
  c.finish();
  const std::string& svg = c.svg();
  const size_t start = svg.find("<svg");
  return start == std::string::npos ? svg : svg.substr(start);
}

double curves_width(const std::vector<Series>& series, const CurvePlotOptions& o, double* plot_w) {
  *plot_w = o.width;
  if (series.size() <= 6) return o.width;
  ChartCanvas probe("", 1, 1);
  return o.width + legend_width(probe, labels_of(series));
}

// Row-normalised share -> white..blue.
unsigned heat(double share) {
  const double t = std::clamp(share, 0.0, 1.0);
  const auto mix = [t](int a, int b) { return static_cast<unsigned>(std::lround(a + (b - a) * t)); };
  return mix(0xf7, 0x08) << 16 | mix(0xfb, 0x30) << 8 | mix(0xff, 0x6b);
}

void check_confusion(const std::vector<std::vector<int64_t>>& counts, const std::vector<std::string>& names) {
  CT_CHECK(!counts.empty(), DataError, "confusion matrix plot: no classes");
  for (const auto& row : counts)
    CT_CHECK(row.size() == counts.size(), DataError, "confusion matrix plot: expected a square matrix, got a row of ",
             row.size(), " for ", counts.size(), " rows");
  CT_CHECK(names.empty() || names.size() == counts.size(), DataError, "confusion matrix plot: ", names.size(),
           " class names for ", counts.size(), " classes");
}

struct ConfusionLayout {
  double left, top, cell, width, height, label_drop;
  bool rotate;
};

ConfusionLayout confusion_layout(const std::vector<std::string>& names, const ConfusionPlotOptions& o) {
  ChartCanvas probe("", 1, 1);
  probe.font(11);
  double w = 0;
  for (const auto& n : names) w = std::max(w, probe.text_width(n));
  ConfusionLayout l;
  l.cell = o.cell;
  l.rotate = w > o.cell - 6;
  l.left = 40 + w + 10;
  l.top = o.title.empty() ? 16 : 40;
  l.label_drop = l.rotate ? w * std::sin(kPi / 4) + 18 : 20;
  const double n = static_cast<double>(names.size());
  l.width = l.left + n * l.cell + 20 + (l.rotate ? 0 : 0);
  l.height = l.top + n * l.cell + l.label_drop + 30;
  return l;
}

void draw_confusion(const ChartCanvas& c, const std::vector<std::vector<int64_t>>& counts,
                    const std::vector<std::string>& names, const ConfusionPlotOptions& o, const ConfusionLayout& l) {
  cairo_t* cr = c.cr();
  const size_t n = counts.size();
  for (size_t r = 0; r < n; ++r) {
    double total = 0;
    for (int64_t v : counts[r]) total += static_cast<double>(v);
    for (size_t k = 0; k < n; ++k) {
      const double share = total > 0 ? static_cast<double>(counts[r][k]) / total : 0.0;
      const double x = l.left + static_cast<double>(k) * l.cell, y = l.top + static_cast<double>(r) * l.cell;
      c.rgb(heat(share));
      cairo_rectangle(cr, x, y, l.cell, l.cell);
      cairo_fill(cr);
      c.rgb(share > 0.5 ? 0xffffff : 0x222222);
      c.font(std::min(13.0, l.cell / 4), true);
      c.text(x + l.cell / 2, y + l.cell / 2 - 1, std::to_string(counts[r][k]), Align::kCenter);
      c.font(std::min(10.0, l.cell / 5));
      char pct[32];
      if (total > 0) std::snprintf(pct, sizeof pct, "%.1f%%", 100 * share);
      else std::snprintf(pct, sizeof pct, "-");
      c.text(x + l.cell / 2, y + l.cell / 2 + 12, pct, Align::kCenter);
    }
  }
  c.rgb(0xbbbbbb);
  cairo_set_line_width(cr, 1);
  for (size_t i = 0; i <= n; ++i) {
    const double d = static_cast<double>(i) * l.cell;
    c.line(l.left + d, l.top, l.left + d, l.top + static_cast<double>(n) * l.cell);
    c.line(l.left, l.top + d, l.left + static_cast<double>(n) * l.cell, l.top + d);
  }
  c.rgb(0x222222);
  c.font(11);
  for (size_t i = 0; i < n; ++i) {
    const std::string name = names.empty() ? std::to_string(i) : names[i];
    const double mid = static_cast<double>(i) * l.cell + l.cell / 2;
    c.text(l.left - 6, l.top + mid + 4, name, Align::kRight);
    if (l.rotate) c.text(l.left + mid + 3, l.top + static_cast<double>(n) * l.cell + 10, name, Align::kRight, -kPi / 4);
    else c.text(l.left + mid, l.top + static_cast<double>(n) * l.cell + 15, name, Align::kCenter);
  }
  c.font(12, true);
  const double grid = static_cast<double>(n) * l.cell;
  c.text(l.left + grid / 2, l.top + grid + l.label_drop + 16, "Predicted", Align::kCenter);
  c.text(16, l.top + grid / 2, "True", Align::kCenter, -kPi / 2);
  if (!o.title.empty()) {
    c.font(14, true);
    c.text(l.width / 2, 24, o.title, Align::kCenter);
  }
}

void draw_roc(ChartCanvas& c, const std::vector<RocSeries>& curves, const RocPlotOptions& o) {
  Frame f;
  f.left = 56;
  f.top = o.title.empty() ? 14 : 36;
  f.width = o.size - f.left - 16;
  f.height = o.size - f.top - 48;
  f.x0 = 0, f.x1 = 1, f.y0 = 0, f.y1 = 1;
  const Ticks t = linear_ticks(0, 1, 5);
  draw_frame(c, f, t, t, o.title, "False positive rate (1 - specificity)", "True positive rate (sensitivity)", o.size);
  draw_series(c, f, Series{"", {0, 1}, {0, 1}}, 0xaaaaaa, false, true);
  std::vector<std::pair<std::string, unsigned>> items;
  for (size_t k = 0; k < curves.size(); ++k) {
    const unsigned color = kPalette[k % 10];
    draw_series(c, f, Series{curves[k].label, curves[k].fpr, curves[k].tpr}, color, false);
    char auc[32] = "";
    if (std::isfinite(curves[k].auc)) std::snprintf(auc, sizeof auc, " (AUC %.3f)", curves[k].auc);
    items.emplace_back(curves[k].label + auc, color);
  }
  const bool outside = items.size() > 6;
  legend(c, items, outside ? o.size + 4 : f.left + f.width,
         outside ? f.top : f.top + f.height - 16.0 * static_cast<double>(items.size()) - 16, outside);
}

std::vector<std::string> roc_labels(const std::vector<RocSeries>& curves) {
  std::vector<std::string> l;
  for (const auto& c : curves) l.push_back(c.label + " (AUC 0.000)");
  return l;
}

}  // namespace

void plot_curves(const std::vector<Series>& series, const std::string& path, const CurvePlotOptions& o) {
  double plot_w;
  const double w = curves_width(series, o, &plot_w);
  render(path, w, o.height, o.png_scale, [&](ChartCanvas& c) { draw_curves(c, series, o, plot_w); });
}

std::string curves_svg(const std::vector<Series>& series, const CurvePlotOptions& o) {
  double plot_w;
  const double w = curves_width(series, o, &plot_w);
  return render("", w, o.height, o.png_scale, [&](ChartCanvas& c) { draw_curves(c, series, o, plot_w); });
}

void plot_confusion_matrix(const std::vector<std::vector<int64_t>>& counts, const std::vector<std::string>& names,
                           const std::string& path, const ConfusionPlotOptions& o) {
  check_confusion(counts, names);
  std::vector<std::string> n = names;
  for (size_t i = n.size(); i < counts.size(); ++i) n.push_back(std::to_string(i));
  const ConfusionLayout l = confusion_layout(n, o);
  render(path, l.width, l.height, o.png_scale, [&](ChartCanvas& c) { draw_confusion(c, counts, n, o, l); });
}

std::string confusion_matrix_svg(const std::vector<std::vector<int64_t>>& counts, const std::vector<std::string>& names,
                                 const ConfusionPlotOptions& o) {
  check_confusion(counts, names);
  std::vector<std::string> n = names;
  for (size_t i = n.size(); i < counts.size(); ++i) n.push_back(std::to_string(i));
  const ConfusionLayout l = confusion_layout(n, o);
  return render("", l.width, l.height, o.png_scale, [&](ChartCanvas& c) { draw_confusion(c, counts, n, o, l); });
}

void plot_roc_curves(const std::vector<RocSeries>& curves, const std::string& path, const RocPlotOptions& o) {
  ChartCanvas probe("", 1, 1);
  const double w = o.size + (curves.size() > 6 ? legend_width(probe, roc_labels(curves)) : 0);
  render(path, w, o.size, o.png_scale, [&](ChartCanvas& c) { draw_roc(c, curves, o); });
}

std::string roc_curves_svg(const std::vector<RocSeries>& curves, const RocPlotOptions& o) {
  ChartCanvas probe("", 1, 1);
  const double w = o.size + (curves.size() > 6 ? legend_width(probe, roc_labels(curves)) : 0);
  return render("", w, o.size, o.png_scale, [&](ChartCanvas& c) { draw_roc(c, curves, o); });
}

#else  // no cairo

namespace {
[[noreturn]] void no_cairo(const std::string& what) {
  throw Error(str_cat(what, ": plotting is unavailable: cardiotorch was built without cairo (install libcairo2-dev ",
                      "and reconfigure)"));
}
}  // namespace

void plot_curves(const std::vector<Series>&, const std::string& path, const CurvePlotOptions&) { no_cairo(path); }
std::string curves_svg(const std::vector<Series>&, const CurvePlotOptions&) { no_cairo("<svg>"); }
void plot_confusion_matrix(const std::vector<std::vector<int64_t>>&, const std::vector<std::string>&,
                           const std::string& path, const ConfusionPlotOptions&) {
  no_cairo(path);
}
std::string confusion_matrix_svg(const std::vector<std::vector<int64_t>>&, const std::vector<std::string>&,
                                 const ConfusionPlotOptions&) {
  no_cairo("<svg>");
}
void plot_roc_curves(const std::vector<RocSeries>&, const std::string& path, const RocPlotOptions&) { no_cairo(path); }
std::string roc_curves_svg(const std::vector<RocSeries>&, const RocPlotOptions&) { no_cairo("<svg>"); }

#endif

// ------------------------------------------------------------------------------ run figures

namespace {

std::string file_safe(const std::string& s) {
  std::string o;
  for (char ch : s) o += std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' ? ch : '_';
  return o;
}

bool any_finite(const Series& s) {
  for (double v : s.y)
    if (std::isfinite(v)) return true;
  return false;
}

}  // namespace

std::vector<TrainingFigure> training_figures(const MetricsLog& log, const TrainingPlotOptions& opt) {
  const std::string x = opt.x == "auto" ? log.default_x() : opt.x;
  CT_CHECK(x == "step" || x == "epoch", ConfigError, "training plots: x must be step, epoch or auto, got '", opt.x,
           "'");
  const std::vector<std::string> splits = log.splits();
  const std::vector<std::string> keys = log.keys();
  auto base = [&](const std::string& title, const std::string& y_label) {
    CurvePlotOptions o;
    o.title = title;
    o.x_label = x;
    o.y_label = y_label;
    o.width = opt.width;
    o.height = opt.height;
    return o;
  };
  auto add_series = [&](std::vector<Series>& out, const std::string& split, const std::string& key,
                        const std::string& label) {
    Series s = log.series(split, key, x);
    s.label = label;
    if (!s.x.empty() && any_finite(s)) out.push_back(std::move(s));
  };
  std::vector<TrainingFigure> figs;

  // Loss: every split, the total and its named terms.
  {
    TrainingFigure f{"loss", "Loss per split", {}, base("Loss", "loss")};
    f.options.log_y = opt.log_loss;
    std::vector<std::string> loss_keys;
    for (const auto& k : keys)
      if (k == "loss" || ends_with(k, "_loss")) loss_keys.push_back(k);
    for (const auto& sp : splits)
      for (const auto& k : loss_keys) add_series(f.series, sp, k, loss_keys.size() == 1 ? sp : sp + "/" + k);
    if (!f.series.empty()) figs.push_back(std::move(f));
  }
  // Learning rate(s).
  {
    TrainingFigure f{"lr", "Learning rate", {}, base("Learning rate", "lr")};
    std::vector<std::string> lr_keys;
    for (const auto& k : keys)
      if (k == "lr" || starts_with(k, "lr/")) lr_keys.push_back(k);
    for (const auto& sp : splits)
      for (const auto& k : lr_keys) {
        const size_t before = f.series.size();
        add_series(f.series, sp, k, k);
        if (f.series.size() > before) break;  // one split is enough (lr is global)
      }
    if (!f.series.empty()) figs.push_back(std::move(f));
  }
  // Every other key: scalars with every split, per-class keys one figure per (prefix, split).
  std::set<std::string> prefixes;
  for (const auto& k : keys) {
    if (k == "loss" || ends_with(k, "_loss") || k == "lr" || starts_with(k, "lr/")) continue;
    const size_t slash = k.find('/');
    if (slash != std::string::npos) {
      prefixes.insert(k.substr(0, slash));
      continue;
    }
    TrainingFigure f{file_safe(k), k + " per split", {}, base(k, k)};
    for (const auto& sp : splits) add_series(f.series, sp, k, sp);
    if (!f.series.empty()) figs.push_back(std::move(f));
  }
  for (const auto& p : prefixes)
    for (const auto& sp : splits) {
      TrainingFigure f{file_safe(sp + "_" + p), p + " per class (" + sp + ")", {}, base(p + " (" + sp + ")", p)};
      for (const auto& k : log.keys(sp))
        if (starts_with(k, p + "/")) add_series(f.series, sp, k, k.substr(p.size() + 1));
      if (!f.series.empty()) figs.push_back(std::move(f));
    }
  return figs;
}

std::vector<std::string> save_training_figures(const MetricsLog& log, const std::string& dir, const std::string& ext,
                                               const TrainingPlotOptions& opt) {
  CT_CHECK(ext == ".svg" || ext == ".png", ConfigError, "training plots: format must be .svg or .png, got '", ext, "'");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  CT_CHECK(!ec, Error, dir, ": cannot create the plot directory: ", ec.message());
  std::vector<std::string> paths;
  for (const auto& f : training_figures(log, opt)) {
    const std::string p = (std::filesystem::path(dir) / (f.name + ext)).string();
    plot_curves(f.series, p, f.options);
    paths.push_back(p);
  }
  return paths;
}

void add_training_section(HtmlReport& html, const MetricsLog& log, const TrainingPlotOptions& opt) {
  html.heading("Training");
  const auto figs = training_figures(log, opt);
  if (figs.empty()) {
    html.paragraph("No training metrics were logged (" + log.source + ").");
    return;
  }
  if (!plot_supported()) {
    html.paragraph("Figures are unavailable: cardiotorch was built without cairo.");
    return;
  }
  for (const auto& f : figs) html.svg(curves_svg(f.series, f.options), f.caption);
}

}  // namespace cardiotorch::report
