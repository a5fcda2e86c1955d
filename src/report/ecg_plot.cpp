#include "cardiotorch/report/ecg_plot.h"

#include "cardiotorch/core/config.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

#ifdef CARDIOTORCH_HAVE_CAIRO
#include <cairo-svg.h>
#include <cairo.h>
#endif

namespace cardiotorch::report {

void EcgPlotOptions::validate() const {
  check_choice("layout", layout, {"auto", "12lead", "strips"});
  CT_CHECK(from_s >= 0, ConfigError, "from must be >= 0 s, got ", from_s);
  CT_CHECK(duration_s >= 0, ConfigError, "duration must be >= 0 s, got ", duration_s);
  CT_CHECK(speed_mm_s > 0 && speed_mm_s <= 200, ConfigError, "speed must be in (0, 200] mm/s, got ", speed_mm_s);
  CT_CHECK(gain_mm_mv > 0 && gain_mm_mv <= 100, ConfigError, "gain must be in (0, 100] mm/mV, got ", gain_mm_mv);
  CT_CHECK(dpi >= 30 && dpi <= 1200, ConfigError, "dpi must be in [30, 1200], got ", dpi);
}

std::vector<PlotMarker> beat_markers(const std::vector<io::Annotation>& annotations, double fs) {
  std::vector<PlotMarker> out;
  if (fs <= 0) return out;
  for (const auto& a : annotations)
    if (io::is_beat_code(a.code)) out.push_back({static_cast<double>(a.sample) / fs, a.symbol});
  return out;
}

std::vector<PlotMarker> edf_markers(const std::vector<io::EdfAnnotation>& annotations, size_t max_chars) {
  std::vector<PlotMarker> out;
  for (const auto& a : annotations) {
    std::string t = trim(a.text);
    if (t.empty()) continue;
    if (t.size() > max_chars) {
      size_t cut = max_chars;
      while (cut > 0 && (static_cast<unsigned char>(t[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
      t = t.substr(0, cut) + "...";
    }
    out.push_back({a.onset_s, t});
  }
  return out;
}

#ifdef CARDIOTORCH_HAVE_CAIRO

namespace {

constexpr double kPt = 72.0 / 25.4;  // SVG points per mm

// mV per unit of the record's values.
double to_mv(const std::string& units, bool* calibrated) {
  const std::string u = to_lower(trim(units));
  *calibrated = true;
  if (u == "mv") return 1.0;
  if (u == "uv" || u == "\xc2\xb5v" || u == "microvolt" || u == "microvolts") return 1e-3;
  if (u == "v") return 1e3;
  *calibrated = false;
  return 1.0;
}

struct Trace {
  std::string label;
  std::vector<double> mv;  // NaN = gap
  double fs = 0;
  double median_mv = 0;  // subtracted from mv
};

// Sample range [a, b) of the window [t0, t0 + dur).
std::pair<int64_t, int64_t> sample_range(const io::Record& r, double t0, double dur) {
  const int64_t n = r.n_samples();
  const int64_t a = std::clamp<int64_t>(static_cast<int64_t>(std::llround(t0 * r.fs)), 0, n);
  const int64_t b = std::clamp<int64_t>(static_cast<int64_t>(std::llround((t0 + dur) * r.fs)), a, n);
  return {a, b};
}

// Samples [t0, t0 + dur) of lead `lead` in mV, centred on their median.
Trace segment(const io::Record& r, int lead, double t0, double dur, bool* calibrated) {
  Trace t;
  t.label = r.leads[static_cast<size_t>(lead)];
  t.fs = r.fs;
  const auto [a, b] = sample_range(r, t0, dur);
  bool cal = true;
  const double k = to_mv(lead < static_cast<int>(r.units.size()) ? r.units[static_cast<size_t>(lead)] : "", &cal);
  if (!cal) *calibrated = false;
  const at::Tensor row = r.signal[lead].slice(0, a, b).to(at::kDouble).contiguous();
  const double* p = row.data_ptr<double>();
  std::vector<double> finite;
  for (int64_t i = 0; i < b - a; ++i)
    if (std::isfinite(p[i])) finite.push_back(p[i]);
  double median = 0;
  if (!finite.empty()) {
    std::nth_element(finite.begin(), finite.begin() + finite.size() / 2, finite.end());
    median = finite[finite.size() / 2];
  }
  t.median_mv = median * k;
  t.mv.resize(static_cast<size_t>(b - a));
  for (int64_t i = 0; i < b - a; ++i) t.mv[static_cast<size_t>(i)] = std::isfinite(p[i]) ? (p[i] - median) * k : NAN;
  return t;
}

class Canvas {
 public:
  Canvas(const std::string& path, double width_mm, double height_mm, double dpi) : path_(path) {
    const std::string ext = to_lower(std::filesystem::path(path).extension().string());
    CT_CHECK(ext == ".svg" || ext == ".png", ConfigError, path, ": plot format must be .svg or .png, got '", ext, "'");
    png_ = ext == ".png";
    if (png_) {
      const double px_per_mm = dpi / 25.4;
      surface_ = cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(std::ceil(width_mm * px_per_mm)),
                                            static_cast<int>(std::ceil(height_mm * px_per_mm)));
      cr_ = cairo_create(surface_);
      cairo_scale(cr_, px_per_mm, px_per_mm);
    } else {
      surface_ = cairo_svg_surface_create(path.c_str(), width_mm * kPt, height_mm * kPt);
      cr_ = cairo_create(surface_);
      cairo_scale(cr_, kPt, kPt);
    }
    CT_CHECK(cairo_surface_status(surface_) == CAIRO_STATUS_SUCCESS, Error, path, ": cannot create the plot (",
             cairo_status_to_string(cairo_surface_status(surface_)), ")");
    cairo_set_source_rgb(cr_, 1, 1, 1);
    cairo_paint(cr_);
  }
  ~Canvas() {
    if (cr_) cairo_destroy(cr_);
    if (surface_) cairo_surface_destroy(surface_);
  }
  Canvas(const Canvas&) = delete;
  Canvas& operator=(const Canvas&) = delete;
  cairo_t* cr() const { return cr_; }

  void finish() {
    cairo_surface_flush(surface_);
    if (png_) {
      const cairo_status_t st = cairo_surface_write_to_png(surface_, path_.c_str());
      CT_CHECK(st == CAIRO_STATUS_SUCCESS, Error, path_, ": cannot write PNG (", cairo_status_to_string(st), ")");
    }
    cairo_destroy(cr_);
    cr_ = nullptr;
    cairo_surface_finish(surface_);
    const cairo_status_t st = cairo_surface_status(surface_);
    cairo_surface_destroy(surface_);
    surface_ = nullptr;
    CT_CHECK(st == CAIRO_STATUS_SUCCESS, Error, path_, ": cannot write the plot (", cairo_status_to_string(st), ")");
  }

 private:
  std::string path_;
  bool png_ = false;
  cairo_surface_t* surface_ = nullptr;
  cairo_t* cr_ = nullptr;
};

// Millimetre paper: the grid spans [x0, x0 + w] x [y0, y0 + h], both multiples of 5 mm.
void draw_grid(cairo_t* cr, double x0, double y0, double w, double h) {
  cairo_set_source_rgb(cr, 1.0, 0.965, 0.965);
  cairo_rectangle(cr, x0, y0, w, h);
  cairo_fill(cr);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
  for (int pass = 0; pass < 2; ++pass) {  // minor lines first, major lines on top
    const bool major = pass == 1;
    if (major) {
      cairo_set_source_rgb(cr, 0.93, 0.45, 0.45);
      cairo_set_line_width(cr, 0.2);
    } else {
      cairo_set_source_rgb(cr, 0.98, 0.78, 0.78);
      cairo_set_line_width(cr, 0.08);
    }
    for (int i = 0; i <= static_cast<int>(std::lround(w)); ++i) {
      if ((i % 5 == 0) != major) continue;
      cairo_move_to(cr, x0 + i, y0);
      cairo_line_to(cr, x0 + i, y0 + h);
    }
    for (int j = 0; j <= static_cast<int>(std::lround(h)); ++j) {
      if ((j % 5 == 0) != major) continue;
      cairo_move_to(cr, x0, y0 + j);
      cairo_line_to(cr, x0 + w, y0 + j);
    }
    cairo_stroke(cr);
  }
}

// The 1 mV calibration pulse: 0.2 s wide, gain_mm_mv tall, standing on the row's baseline.
void draw_calibration(cairo_t* cr, double x, double baseline_y, double speed, double gain) {
  const double w = 0.2 * speed;
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_line_width(cr, 0.3);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_MITER);
  cairo_move_to(cr, x, baseline_y);
  cairo_line_to(cr, x + 1.0, baseline_y);
  cairo_line_to(cr, x + 1.0, baseline_y - gain);
  cairo_line_to(cr, x + 1.0 + w, baseline_y - gain);
  cairo_line_to(cr, x + 1.0 + w, baseline_y);
  cairo_line_to(cr, x + 2.0 + w, baseline_y);
  cairo_stroke(cr);
}

// The overlay's colour: a green apart from the red grid, the blue relevance and the black trace.
constexpr double kOverR = 0.0, kOverG = 0.55, kOverB = 0.25;

void draw_trace(cairo_t* cr, const Trace& t, double x, double baseline_y, double speed, double gain, double r = 0,
                double g = 0, double b = 0) {
  cairo_set_source_rgb(cr, r, g, b);
  cairo_set_line_width(cr, 0.25);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  bool pen_down = false;
  for (size_t i = 0; i < t.mv.size(); ++i) {
    if (!std::isfinite(t.mv[i])) {
      pen_down = false;
      continue;
    }
    const double px = x + static_cast<double>(i) / t.fs * speed;
    const double py = baseline_y - t.mv[i] * gain;
    if (pen_down) cairo_line_to(cr, px, py);
    else cairo_move_to(cr, px, py);
    pen_down = true;
  }
  cairo_stroke(cr);
}

// The relevance map's colour: a blue that stays apart from the red grid and the black trace.
constexpr double kRelR = 0.16, kRelG = 0.36, kRelB = 0.94, kRelAlpha = 0.5;

// Relevance of lead `lead` over [t0, t0 + dur) as a band [y, y + h] starting at x: one
// gradient whose stops are the maxima of each 0.5 mm of paper.
void draw_relevance(cairo_t* cr, const io::Record& r, const at::Tensor& rel, int lead, double t0, double dur, double x,
                    double y, double h, double speed) {
  if (!rel.defined()) return;
  const auto [a, b] = sample_range(r, t0, dur);
  if (b <= a) return;
  const at::Tensor row = (rel.dim() == 1 ? rel : rel[lead]).slice(0, a, b).to(at::kDouble).clamp(0.0, 1.0).contiguous();
  const double* p = row.data_ptr<double>();
  const int64_t n = b - a;
  const double width = static_cast<double>(n) / r.fs * speed;
  const int64_t per_bin = std::max<int64_t>(1, static_cast<int64_t>(std::floor(0.5 / speed * r.fs)));
  cairo_pattern_t* pat = cairo_pattern_create_linear(x, 0, x + width, 0);
  for (int64_t i = 0; i < n; i += per_bin) {
    const int64_t j = std::min(n, i + per_bin);
    double v = 0;
    for (int64_t k = i; k < j; ++k) v = std::max(v, std::isfinite(p[k]) ? p[k] : 0.0);
    const double centre = (static_cast<double>(i + j) / 2.0) / static_cast<double>(n);
    cairo_pattern_add_color_stop_rgba(pat, centre, kRelR, kRelG, kRelB, kRelAlpha * v);
  }
  cairo_set_source(cr, pat);
  cairo_rectangle(cr, x, y, width, h);
  cairo_fill(cr);
  cairo_pattern_destroy(pat);
}

// A 20 mm colour bar from 0 to 1 with the label after it.
void draw_relevance_legend(cairo_t* cr, double x, double y, const std::string& label) {
  cairo_pattern_t* pat = cairo_pattern_create_linear(x, 0, x + 20, 0);
  cairo_pattern_add_color_stop_rgba(pat, 0, kRelR, kRelG, kRelB, 0.0);
  cairo_pattern_add_color_stop_rgba(pat, 1, kRelR, kRelG, kRelB, kRelAlpha);
  cairo_set_source(cr, pat);
  cairo_rectangle(cr, x, y - 2.2, 20, 2.6);
  cairo_fill(cr);
  cairo_pattern_destroy(pat);
  cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
  cairo_set_line_width(cr, 0.1);
  cairo_rectangle(cr, x, y - 2.2, 20, 2.6);
  cairo_stroke(cr);
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 2.8);
  cairo_move_to(cr, x - 2.5, y);
  cairo_show_text(cr, "0");
  cairo_move_to(cr, x + 21.0, y);
  cairo_show_text(cr, "1");
  cairo_move_to(cr, x + 25.0, y);
  cairo_show_text(cr, label.c_str());
}

// A black and a green line sample with their labels ("original", the overlay's label).
void draw_overlay_legend(cairo_t* cr, double x, double y, const std::string& label) {
  cairo_set_line_width(cr, 0.4);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 2.8);
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_move_to(cr, x, y - 1.0);
  cairo_line_to(cr, x + 8, y - 1.0);
  cairo_stroke(cr);
  cairo_move_to(cr, x + 10, y);
  cairo_show_text(cr, "original");
  cairo_set_source_rgb(cr, kOverR, kOverG, kOverB);
  cairo_move_to(cr, x + 26, y - 1.0);
  cairo_line_to(cr, x + 34, y - 1.0);
  cairo_stroke(cr);
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_move_to(cr, x + 36, y);
  cairo_show_text(cr, label.c_str());
}

void text(cairo_t* cr, double x, double y, const std::string& s, double size, bool bold = false) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_move_to(cr, x, y);
  cairo_show_text(cr, s.c_str());
}

void draw_markers(cairo_t* cr, const std::vector<PlotMarker>& markers, double t0, double dur, double x, double y_top,
                  double speed) {
  cairo_set_source_rgb(cr, 0.1, 0.25, 0.75);
  for (const auto& m : markers) {
    if (m.time_s < t0 || m.time_s >= t0 + dur) continue;
    const double px = x + (m.time_s - t0) * speed;
    cairo_set_line_width(cr, 0.2);
    cairo_move_to(cr, px, y_top + 3.2);
    cairo_line_to(cr, px, y_top + 4.6);
    cairo_stroke(cr);
    cairo_text_extents_t ext;
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 2.6);
    cairo_text_extents(cr, m.label.c_str(), &ext);
    cairo_move_to(cr, px - ext.width / 2 - ext.x_bearing, y_top + 2.8);
    cairo_show_text(cr, m.label.c_str());
  }
}

bool units_calibrated(const io::Record& r) {
  for (const auto& u : r.units) {
    bool cal = true;
    to_mv(u, &cal);
    if (!cal) return false;
  }
  return !r.units.empty();
}

double text_width(const std::string& s, double size) {
  cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_A8, 1, 1);
  cairo_t* cr = cairo_create(surface);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t ext;
  cairo_text_extents(cr, s.c_str(), &ext);
  cairo_destroy(cr);
  cairo_surface_destroy(surface);
  return ext.x_advance;
}

int find_lead(const io::Record& r, const std::string& name) {
  const std::string want = io::normalize_lead_name(name);
  for (size_t i = 0; i < r.leads.size(); ++i)
    if (r.leads[i] == want || to_lower(r.leads[i]) == to_lower(want)) return static_cast<int>(i);
  if (want.find_first_not_of("0123456789") == std::string::npos && !want.empty() && want.size() < 6) {
    const int idx = std::stoi(want);
    if (idx < static_cast<int>(r.leads.size())) return idx;
  }
  return -1;
}

bool has_standard_12(const io::Record& r) {
  for (const char* l : {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"})
    if (find_lead(r, l) < 0) return false;
  return true;
}

std::string fmt(double v, int prec = 1) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

}  // namespace

bool plot_supported() { return true; }

void plot_ecg(const io::Record& record, const std::string& path, const EcgPlotOptions& o) {
  o.validate();
  CT_CHECK(record.signal.defined() && record.n_leads() > 0 && record.n_samples() > 0, DataError, record.source,
           ": nothing to plot (empty record)");
  CT_CHECK(record.fs > 0, DataError, record.source, ": cannot plot without a sampling rate (fs unknown; pass --fs)");
  const double total = record.duration_s();
  CT_CHECK(o.from_s < total, DataError, record.source, ": plot start ", o.from_s, " s is past the end of the record (",
           fmt(total, 3), " s)");
  const double dur = o.duration_s > 0 ? std::min(o.duration_s, total - o.from_s) : std::min(10.0, total - o.from_s);
  const std::string layout = o.layout != "auto"
                                 ? o.layout
                                 // Under 4 s a quarter-window column is too narrow to read (or to label).
                                 : (o.leads.empty() && has_standard_12(record) && dur >= 4.0 ? "12lead" : "strips");
  const double speed = o.speed_mm_s, gain = o.gain_mm_mv;
  bool calibrated = true;
  const at::Tensor& rel = o.relevance;
  if (rel.defined()) {
    CT_CHECK(
        (rel.dim() == 1 || (rel.dim() == 2 && rel.size(0) == record.n_leads())) && rel.size(-1) == record.n_samples(),
        DataError, record.source, ": the relevance map must be (", record.n_samples(), ",) or (", record.n_leads(),
        ", ", record.n_samples(), ") to match the record, got ", rel.sizes());
  }
  io::Record overlay;
  if (o.overlay.defined()) {
    CT_CHECK(o.overlay.dim() == 2 && o.overlay.size(0) == record.n_leads() && o.overlay.size(1) == record.n_samples(),
             DataError, record.source, ": the overlay must be (", record.n_leads(), ", ", record.n_samples(),
             ") to match the record, got ", o.overlay.sizes());
    overlay = record;
    overlay.signal = o.overlay;
  }
  // The overlay of a lead, centred with the record's median (`under`'s) rather than its own.
  auto draw_overlay = [&](cairo_t* c, const Trace& under, int lead, double t0, double d, double x, double base) {
    if (!o.overlay.defined()) return;
    bool cal = true;
    Trace t = segment(overlay, lead, t0, d, &cal);
    for (double& v : t.mv) v += t.median_mv - under.median_mv;
    draw_trace(c, t, x, base, speed, gain, kOverR, kOverG, kOverB);
  };

  std::vector<int> strip_leads;
  if (layout == "strips") {
    if (o.leads.empty()) {
      for (int i = 0; i < record.n_leads(); ++i) strip_leads.push_back(i);
    } else {
      for (const auto& l : o.leads) {
        const int i = find_lead(record, l);
        CT_CHECK(i >= 0, DataError, record.source, ": no lead '", l, "' to plot", did_you_mean(l, record.leads),
                 " (leads: ", join(record.leads), ")");
        strip_leads.push_back(i);
      }
    }
  } else {
    CT_CHECK(has_standard_12(record), DataError, record.source,
             ": the 12lead layout needs the leads I II III aVR aVL aVF V1-V6 (record has ", join(record.leads), ")");
    CT_CHECK(find_lead(record, o.rhythm_lead) >= 0, DataError, record.source, ": no rhythm lead '", o.rhythm_lead, "'");
  }

  // Geometry in mm. The calibration pulse gets a 10 mm band at the left of the grid.
  const double cal_band = 10.0;
  const double signal_w = std::ceil(dur * speed / 5.0) * 5.0;
  const double grid_w = cal_band + signal_w;
  const double row_h = std::ceil(3.5 * gain / 5.0) * 5.0;  // 3.5 mV per row
  const int n_rows = layout == "12lead" ? 4 : static_cast<int>(strip_leads.size());
  const double grid_h = row_h * n_rows;
  const bool legend = rel.defined() || o.overlay.defined();
  const double margin = 6.0, title_h = legend ? 15.0 : 10.0;
  const double page_w = grid_w + 2 * margin, page_h = grid_h + title_h + 2 * margin;
  const double gx = margin, gy = margin + title_h;

  std::string title = o.title;
  if (title.empty()) {
    title = str_cat(record.name.empty() ? "record" : record.name, "    ",
                    fmt(record.fs, record.fs == std::floor(record.fs) ? 0 : 2), " Hz    ",
                    fmt(o.time_offset_s + o.from_s, 2), "-", fmt(o.time_offset_s + o.from_s + dur, 2), " s",
                    o.total_duration_s > 0 ? " of " + fmt(o.total_duration_s, 1) + " s"
                    : o.time_offset_s > 0  ? std::string()
                                           : " of " + fmt(total, 1) + " s",
                    "    ", fmt(speed, 0), " mm/s    ", fmt(gain, 0), " mm/mV");
    if (!units_calibrated(record)) title += "    (units not mV: drawn uncalibrated)";
  }
  // A short window makes a narrow grid; widen the page so the title fits.
  double page_w_all = std::max(page_w, text_width(title, 4.0) + 2 * margin);
  const double rel_legend_w = rel.defined() ? text_width(o.relevance_label, 2.8) + 28.0 + 6.0 : 0.0;
  const double over_legend_w = o.overlay.defined() ? text_width(o.overlay_label, 2.8) + 36.0 : 0.0;
  if (legend) page_w_all = std::max(page_w_all, rel_legend_w + over_legend_w + 3.0 + 2 * margin);
  Canvas canvas(path, page_w_all, page_h, o.dpi);
  cairo_t* cr = canvas.cr();
  draw_grid(cr, gx, gy, grid_w, grid_h);
  const double sx = gx + cal_band;  // x of t = from_s

  // Traces are clipped to the grid so a tall QRS cannot run off the paper.
  auto clip_grid = [&] {
    cairo_save(cr);
    cairo_rectangle(cr, gx, gy, grid_w, grid_h);
    cairo_clip(cr);
  };
  auto label = [&](double x, double y, const std::string& s) {
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, x, y, s, 3.5, true);
  };

  if (layout == "12lead") {
    static const char* grid_leads[3][4] = {
        {"I", "aVR", "V1", "V4"}, {"II", "aVL", "V2", "V5"}, {"III", "aVF", "V3", "V6"}};
    const double col_dur = dur / 4.0;
    for (int row = 0; row < 4; ++row) {
      const double base = gy + row_h * row + row_h * 0.6;
      draw_calibration(cr, gx + 2.0, base, speed, gain);
    }
    clip_grid();
    for (int row = 0; row < 3; ++row) {
      const double base = gy + row_h * row + row_h * 0.6;
      for (int col = 0; col < 4; ++col) {
        const int lead = find_lead(record, grid_leads[row][col]);
        const double t0 = o.from_s + col * col_dur;
        draw_relevance(cr, record, rel, lead, t0, col_dur, sx + col * col_dur * speed, gy + row_h * row, row_h, speed);
        const Trace tr = segment(record, lead, t0, col_dur, &calibrated);
        const double x = sx + col * col_dur * speed;
        draw_trace(cr, tr, x, base, speed, gain);
        draw_overlay(cr, tr, lead, t0, col_dur, x, base);
        if (col > 0) {  // the column boundary tick
          cairo_set_line_width(cr, 0.3);
          cairo_move_to(cr, x, base - 3);
          cairo_line_to(cr, x, base + 3);
          cairo_stroke(cr);
        }
      }
    }
    const double base = gy + row_h * 3 + row_h * 0.6;
    const int rl = find_lead(record, o.rhythm_lead);
    draw_relevance(cr, record, rel, rl, o.from_s, dur, sx, gy + row_h * 3, row_h, speed);
    const Trace rhythm = segment(record, rl, o.from_s, dur, &calibrated);
    draw_trace(cr, rhythm, sx, base, speed, gain);
    draw_overlay(cr, rhythm, rl, o.from_s, dur, sx, base);
    draw_markers(cr, o.markers, o.time_offset_s + o.from_s, dur, sx, gy + row_h * 3, speed);
    cairo_restore(cr);
    for (int row = 0; row < 3; ++row)
      for (int col = 0; col < 4; ++col)
        label(sx + col * col_dur * speed + 1.5, gy + row_h * row + 5.0, grid_leads[row][col]);
    // Over the calibration band, so beat markers along the strip never cover it.
    label(gx + 1.0, gy + row_h * 3 + 5.0, record.leads[static_cast<size_t>(rl)]);
  } else {
    for (int row = 0; row < n_rows; ++row) draw_calibration(cr, gx + 2.0, gy + row_h * row + row_h * 0.6, speed, gain);
    clip_grid();
    for (int row = 0; row < n_rows; ++row) {
      const double base = gy + row_h * row + row_h * 0.6;
      draw_relevance(cr, record, rel, strip_leads[static_cast<size_t>(row)], o.from_s, dur, sx, gy + row_h * row, row_h,
                     speed);
      const int lead = strip_leads[static_cast<size_t>(row)];
      const Trace tr = segment(record, lead, o.from_s, dur, &calibrated);
      draw_trace(cr, tr, sx, base, speed, gain);
      draw_overlay(cr, tr, lead, o.from_s, dur, sx, base);
      draw_markers(cr, o.markers, o.time_offset_s + o.from_s, dur, sx, gy + row_h * row, speed);
    }
    cairo_restore(cr);
    for (int row = 0; row < n_rows; ++row)
      label(gx + 1.0, gy + row_h * row + 5.0, record.leads[static_cast<size_t>(strip_leads[static_cast<size_t>(row)])]);
  }

  cairo_set_source_rgb(cr, 0, 0, 0);
  text(cr, gx, margin + 6.0, title, 4.0);
  if (rel.defined()) draw_relevance_legend(cr, gx + 3.0, margin + 12.0, o.relevance_label);
  if (o.overlay.defined()) draw_overlay_legend(cr, gx + 3.0 + rel_legend_w, margin + 12.0, o.overlay_label);
  canvas.finish();
}

#else  // no cairo

bool plot_supported() { return false; }

void plot_ecg(const io::Record& record, const std::string& path, const EcgPlotOptions&) {
  throw Error(str_cat(path, ": plotting of ", record.name,
                      " is unavailable: cardiotorch was built without cairo (install libcairo2-dev and reconfigure)"));
}

#endif

}  // namespace cardiotorch::report
