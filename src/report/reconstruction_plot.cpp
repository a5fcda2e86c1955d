#include "cardiotorch/report/reconstruction_plot.h"

#include <ATen/ATen.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/record.h"
#include "cardiotorch/report/ecg_plot.h"

namespace cardiotorch::report {

void plot_reconstruction(const at::Tensor& original, const at::Tensor& reconstruction, const at::Tensor& mask,
                         const std::string& path, const ReconstructionPlotOptions& o) {
  CT_CHECK(original.defined() && original.dim() == 2 && original.size(0) > 0 && original.size(1) > 0, DataError, path,
           ": the original must be (leads, samples), got ", original.defined() ? original.sizes() : at::IntArrayRef{});
  CT_CHECK(reconstruction.defined() && reconstruction.sizes() == original.sizes(), DataError, path,
           ": the reconstruction must have the original's shape ", original.sizes());
  CT_CHECK(!mask.defined() || mask.sizes() == original.sizes(), DataError, path,
           ": the mask must have the original's shape ", original.sizes());
  CT_CHECK(o.fs > 0, ConfigError, path, ": fs must be > 0, got ", o.fs);
  const int64_t n = original.size(0);
  CT_CHECK(o.leads.empty() || static_cast<int64_t>(o.leads.size()) == n, DataError, path, ": ", o.leads.size(),
           " lead names for ", n, " leads");
  io::Record r;
  r.name = "reconstruction";
  r.source = path;
  r.fs = o.fs;
  r.signal = original.detach().to(at::kCPU, at::kFloat).contiguous();
  for (int64_t i = 0; i < n; ++i) {
    r.leads.push_back(o.leads.empty() ? str_cat("lead ", i + 1) : o.leads[static_cast<size_t>(i)]);
    // Normalised inputs are drawn at 1 unit = 1 mV; the title says so rather than every lead.
    r.units.push_back(o.units.empty() ? "mV" : o.units);
  }
  EcgPlotOptions po;
  po.layout = "strips";
  po.duration_s = r.duration_s();
  po.gain_mm_mv = o.gain_mm_mv;
  po.dpi = o.dpi;
  po.title = !o.title.empty()
                 ? o.title
                 : str_cat("MAE reconstruction    ", r.duration_s(), " s at ", o.fs, " Hz",
                           o.units.empty() ? str_cat("    normalised units (1 = ", o.gain_mm_mv, " mm)") : "");
  if (mask.defined()) {
    po.relevance = mask.detach().to(at::kCPU, at::kFloat);
    po.relevance_label = "masked patches (not seen by the encoder)";
  }
  po.overlay = reconstruction.detach().to(at::kCPU, at::kFloat).contiguous();
  po.overlay_label = "reconstruction";
  plot_ecg(r, path, po);
}

}  // namespace cardiotorch::report
