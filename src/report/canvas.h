#pragma once
// A cairo drawing surface for charts, in CSS pixels: an .svg or .png file, or SVG markup in
// memory (for inlining into the HTML report). Private to src/report/; only built with cairo.
#ifdef CARDIOTORCH_HAVE_CAIRO

#include <cairo-svg.h>
#include <cairo.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::report::detail {

enum class Align { kLeft, kCenter, kRight };

class ChartCanvas {
 public:
  /// `path` ending in .svg or .png; "" = SVG in memory (svg() after finish()). PNGs are drawn at
  /// `png_scale` device pixels per CSS pixel.
  ChartCanvas(const std::string& path, double width, double height, double png_scale = 2.0) : path_(path) {
    if (!path.empty()) {
      const std::string ext = to_lower(std::filesystem::path(path).extension().string());
      CT_CHECK(ext == ".svg" || ext == ".png", ConfigError, path, ": plot format must be .svg or .png, got '", ext,
               "'");
      png_ = ext == ".png";
    }
    if (png_) {
      surface_ = cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(std::ceil(width * png_scale)),
                                            static_cast<int>(std::ceil(height * png_scale)));
    } else if (path.empty()) {
      surface_ = cairo_svg_surface_create_for_stream(&ChartCanvas::append, &svg_, width, height);
    } else {
      surface_ = cairo_svg_surface_create(path.c_str(), width, height);
    }
    if (!png_ && cairo_surface_status(surface_) == CAIRO_STATUS_SUCCESS)
      cairo_svg_surface_set_document_unit(surface_, CAIRO_SVG_UNIT_PX);
    cr_ = cairo_create(surface_);
    CT_CHECK(cairo_surface_status(surface_) == CAIRO_STATUS_SUCCESS, Error, path.empty() ? "<svg>" : path,
             ": cannot create the plot (", cairo_status_to_string(cairo_surface_status(surface_)), ")");
    if (png_) cairo_scale(cr_, png_scale, png_scale);
    cairo_set_source_rgb(cr_, 1, 1, 1);
    cairo_paint(cr_);
  }
  ~ChartCanvas() {
    if (cr_) cairo_destroy(cr_);
    if (surface_) cairo_surface_destroy(surface_);
  }
  ChartCanvas(const ChartCanvas&) = delete;
  ChartCanvas& operator=(const ChartCanvas&) = delete;
  cairo_t* cr() const { return cr_; }

  void finish() {
    const std::string where = path_.empty() ? "<svg>" : path_;
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
    CT_CHECK(st == CAIRO_STATUS_SUCCESS, Error, where, ": cannot write the plot (", cairo_status_to_string(st), ")");
  }
  const std::string& svg() const { return svg_; }

  // ----- drawing helpers (CSS pixels)
  void rgb(unsigned hex, double alpha = 1.0) const {
    cairo_set_source_rgba(cr_, ((hex >> 16) & 0xFF) / 255.0, ((hex >> 8) & 0xFF) / 255.0, (hex & 0xFF) / 255.0, alpha);
  }
  void font(double size, bool bold = false) const {
    cairo_select_font_face(cr_, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr_, size);
  }
  double text_width(const std::string& s) const {
    cairo_text_extents_t e;
    cairo_text_extents(cr_, s.c_str(), &e);
    return e.x_advance;
  }
  /// Text with its baseline at y, aligned on x; rotated by `angle` radians around (x, y).
  void text(double x, double y, const std::string& s, Align align = Align::kLeft, double angle = 0) const {
    const double w = text_width(s);
    cairo_save(cr_);
    cairo_translate(cr_, x, y);
    cairo_rotate(cr_, angle);
    cairo_move_to(cr_, align == Align::kLeft ? 0 : align == Align::kCenter ? -w / 2 : -w, 0);
    cairo_show_text(cr_, s.c_str());
    cairo_restore(cr_);
  }
  void line(double x0, double y0, double x1, double y1) const {
    cairo_move_to(cr_, x0, y0);
    cairo_line_to(cr_, x1, y1);
    cairo_stroke(cr_);
  }

 private:
  static cairo_status_t append(void* closure, const unsigned char* data, unsigned int length) {
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
    return CAIRO_STATUS_SUCCESS;
  }
  std::string path_;
  bool png_ = false;
  std::string svg_;
  cairo_surface_t* surface_ = nullptr;
  cairo_t* cr_ = nullptr;
};

}  // namespace cardiotorch::report::detail

#endif  // CARDIOTORCH_HAVE_CAIRO
