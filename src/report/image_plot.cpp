#include "cardiotorch/report/image_plot.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

#ifdef CARDIOTORCH_HAVE_CAIRO
#include <cairo-svg.h>
#include <cairo.h>
#endif

namespace cardiotorch::report {

#ifdef CARDIOTORCH_HAVE_CAIRO
namespace {

// "hot": black -> red -> yellow -> white.
std::array<double, 3> hot(double v) {
  v = std::clamp(v, 0.0, 1.0);
  return {std::clamp(v * 3.0, 0.0, 1.0), std::clamp(v * 3.0 - 1.0, 0.0, 1.0), std::clamp(v * 3.0 - 2.0, 0.0, 1.0)};
}

uint8_t byte(double v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); }

// (C, H, W) scaled to [0, 1] per channel; constant channels become mid grey.
at::Tensor unit_range(const at::Tensor& img) {
  const at::Tensor flat = img.flatten(1);
  const at::Tensor lo = std::get<0>(flat.min(1, true)), hi = std::get<0>(flat.max(1, true));
  const at::Tensor span = hi - lo;
  const at::Tensor out =
      at::where(span > 0, (flat - lo) / at::where(span > 0, span, at::ones_like(span)), at::full_like(flat, 0.5));
  return out.view(img.sizes());
}

// An ARGB32 surface (premultiplied) of H x W pixels filled by `pixel(y, x, rgba)`.
template <class F>
cairo_surface_t* make_surface(int64_t h, int64_t w, F pixel) {
  cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, static_cast<int>(w), static_cast<int>(h));
  cairo_surface_flush(s);
  unsigned char* data = cairo_image_surface_get_data(s);
  const int stride = cairo_image_surface_get_stride(s);
  for (int64_t y = 0; y < h; ++y) {
    auto* row = reinterpret_cast<uint32_t*>(data + y * stride);
    for (int64_t x = 0; x < w; ++x) {
      double rgba[4];
      pixel(y, x, rgba);
      const double a = rgba[3];
      row[x] = (static_cast<uint32_t>(byte(a)) << 24) | (static_cast<uint32_t>(byte(rgba[0] * a)) << 16) |
               (static_cast<uint32_t>(byte(rgba[1] * a)) << 8) | static_cast<uint32_t>(byte(rgba[2] * a));
    }
  }
  cairo_surface_mark_dirty(s);
  return s;
}

}  // namespace

void plot_image(const at::Tensor& image, const at::Tensor& relevance, const std::string& path,
                const ImagePlotOptions& o) {
  CT_CHECK(image.defined() && (image.dim() == 2 || image.dim() == 3), ShapeError, path,
           ": the image must be (H, W) or (C, H, W), got ",
           image.defined() ? str_cat("shape ", image.sizes()) : "nothing");
  at::Tensor img = (image.dim() == 2 ? image.unsqueeze(0) : image).to(at::kDouble);
  if (img.size(0) != 1 && img.size(0) != 3) img = img.mean(0, true);
  img = unit_range(at::nan_to_num(img)).contiguous();
  const int64_t c = img.size(0), h = img.size(1), w = img.size(2);
  CT_CHECK(h >= 1 && w >= 1, ShapeError, path, ": empty image ", image.sizes());
  at::Tensor rel;
  if (relevance.defined()) {
    CT_CHECK(relevance.dim() == 2 && relevance.size(0) == h && relevance.size(1) == w, ShapeError, path,
             ": the relevance map must be (", h, ", ", w, ") like the image, got ", relevance.sizes());
    rel = at::nan_to_num(relevance.to(at::kDouble)).clamp(0.0, 1.0).contiguous();
  }
  const std::string ext = to_lower(std::filesystem::path(path).extension().string());
  CT_CHECK(ext == ".png" || ext == ".svg", ConfigError, path, ": image format must be .png or .svg, got '", ext, "'");

  const double scale = std::max(1.0, static_cast<double>(o.min_size_px) / static_cast<double>(std::max(h, w)));
  const double margin = 12.0, title_h = o.title.empty() ? 0.0 : 22.0, bar_h = rel.defined() ? 30.0 : 0.0;
  const double page_w = std::max(w * scale + 2 * margin, rel.defined() ? 360.0 : 0.0);
  const double page_h = h * scale + 2 * margin + title_h + bar_h;

  cairo_surface_t* surface = ext == ".png"
                                 ? cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(std::ceil(page_w)),
                                                              static_cast<int>(std::ceil(page_h)))
                                 : cairo_svg_surface_create(path.c_str(), page_w, page_h);
  cairo_t* cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);

  const double* pi = img.data_ptr<double>();
  cairo_surface_t* base = make_surface(h, w, [&](int64_t y, int64_t x, double* px) {
    for (int k = 0; k < 3; ++k) px[k] = pi[(c == 3 ? k : 0) * h * w + y * w + x];
    px[3] = 1.0;
  });
  cairo_surface_t* overlay = nullptr;
  if (rel.defined()) {
    const double* pr = rel.data_ptr<double>();
    overlay = make_surface(h, w, [&](int64_t y, int64_t x, double* px) {
      const double v = pr[y * w + x];
      const auto col = hot(v);
      px[0] = col[0];
      px[1] = col[1];
      px[2] = col[2];
      px[3] = o.overlay_alpha * v;
    });
  }
  const double ix = margin, iy = margin + title_h;
  for (cairo_surface_t* s : {base, overlay}) {
    if (s == nullptr) continue;
    cairo_save(cr);
    cairo_translate(cr, ix, iy);
    cairo_scale(cr, scale, scale);
    cairo_set_source_surface(cr, s, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR);
    cairo_rectangle(cr, 0, 0, static_cast<double>(w), static_cast<double>(h));
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(s);
  }

  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_source_rgb(cr, 0, 0, 0);
  if (!o.title.empty()) {
    cairo_set_font_size(cr, 13.0);
    cairo_move_to(cr, margin, margin + 12.0);
    cairo_show_text(cr, o.title.c_str());
  }
  if (rel.defined()) {
    const double by = iy + h * scale + 10.0, bw = 100.0;
    cairo_pattern_t* pat = cairo_pattern_create_linear(margin + 12, 0, margin + 12 + bw, 0);
    for (int i = 0; i <= 10; ++i) {
      const auto col = hot(i / 10.0);
      cairo_pattern_add_color_stop_rgb(pat, i / 10.0, col[0], col[1], col[2]);
    }
    cairo_set_source(cr, pat);
    cairo_rectangle(cr, margin + 12, by, bw, 10);
    cairo_fill(cr);
    cairo_pattern_destroy(pat);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 11.0);
    cairo_move_to(cr, margin, by + 9);
    cairo_show_text(cr, "0");
    cairo_move_to(cr, margin + 16 + bw, by + 9);
    cairo_show_text(cr, "1");
    cairo_move_to(cr, margin + 30 + bw, by + 9);
    cairo_show_text(cr, o.relevance_label.c_str());
  }
  cairo_destroy(cr);
  cairo_surface_flush(surface);
  cairo_status_t st = cairo_surface_status(surface);
  if (st == CAIRO_STATUS_SUCCESS && ext == ".png") st = cairo_surface_write_to_png(surface, path.c_str());
  cairo_surface_finish(surface);
  if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(surface);
  cairo_surface_destroy(surface);
  CT_CHECK(st == CAIRO_STATUS_SUCCESS, Error, path, ": cannot write the image (", cairo_status_to_string(st), ")");
}

#else  // no cairo

void plot_image(const at::Tensor&, const at::Tensor&, const std::string& path, const ImagePlotOptions&) {
  throw Error(str_cat(path,
                      ": image plots are unavailable: cardiotorch was built without cairo (install libcairo2-dev "
                      "and reconfigure)"));
}

#endif

}  // namespace cardiotorch::report
