#pragma once
// 2-D images (cardiac MRI frames) with an optional relevance map overlaid (saliency), as PNG
// or SVG, rendered with cairo.
//
// The image is drawn in grey (one channel, or the channel mean) or RGB (three channels), each
// scaled by its own minimum and maximum; small images are enlarged (bilinear) to at least
// `min_size_px`. The relevance, values in [0, 1], is a "hot" overlay (transparent at 0,
// black-red-yellow-white and more opaque towards 1) with a colour bar and a label.
#include <ATen/core/Tensor.h>

#include <string>

namespace cardiotorch::report {

struct ImagePlotOptions {
  std::string title;            ///< top line (empty = none)
  std::string relevance_label;  ///< next to the colour bar
  int64_t min_size_px = 384;    ///< the longer side is enlarged to at least this many pixels
  double overlay_alpha = 0.6;   ///< opacity of the overlay at relevance 1
};

/// Draws `image` ((H, W) or (C, H, W), C = 1 or 3; other C drawn as their mean) with
/// `relevance` ((H, W) in [0, 1], or undefined for none) to `path` (.png or .svg).
/// Throws ShapeError when the shapes disagree, Error when cairo is missing or the file
/// cannot be written.
void plot_image(const at::Tensor& image, const at::Tensor& relevance, const std::string& path,
                const ImagePlotOptions& options = {});

}  // namespace cardiotorch::report
