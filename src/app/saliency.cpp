#include "cardiotorch/app/saliency.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <filesystem>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/report/image_plot.h"

namespace fs = std::filesystem;

namespace cardiotorch::app {

ConfigNode resolve_saliency_method(const std::string& name, const std::vector<std::string>& overrides) {
  ConfigNode node = ConfigNode::map();
  node.set("name", ConfigNode::string(name));
  for (const auto& o : overrides) node.apply_override(o);
  return models::saliency_registry().resolve(node);
}

std::string saliency_caption(const models::SaliencyResult& r, int64_t index) {
  const int64_t t = r.target[index].item<int64_t>();
  char score[32];
  std::snprintf(score, sizeof score, "%.3g", r.scores[index][t].item<double>());
  const std::string what = r.method == "gradcam" ? str_cat("Grad-CAM at ", r.layer) : r.layer;
  return r.class_specific ? str_cat(what, ", class ", t, " (score ", score, ")")
                          : str_cat(what, "; top class ", t, " (score ", score, ")");
}

namespace {

std::vector<std::string> default_leads(int64_t n) {
  static const std::vector<std::string> twelve{"I",  "II", "III", "aVR", "aVL", "aVF",
                                               "V1", "V2", "V3",  "V4",  "V5",  "V6"};
  if (n == 12) return twelve;
  std::vector<std::string> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}

}  // namespace

namespace {
void check_outputs(const std::vector<std::string>& outputs) {
  CT_CHECK(!outputs.empty(), UsageError, "saliency: nothing to write; give -o map.png (or .svg, .npy)");
  for (const auto& out : outputs) {
    const std::string ext = to_lower(fs::path(out).extension().string());
    CT_CHECK(ext == ".png" || ext == ".svg" || ext == ".npy", UsageError, out,
             ": output must be .png or .svg (a drawing) or .npy (the map)");
  }
}
}  // namespace

SaliencyOutcome run_saliency(const SaliencyRequest& q) {
  // Bad outputs or method options fail before anything is read or built.
  check_outputs(q.outputs);
  resolve_saliency_method(q.method, q.method_overrides);
  const ConfigNode model_node = resolve_model_spec(q.model);
  const ModelInput in = load_model_input(q.input, q.fs, q.pipeline);
  const models::ModelPtr model = models::build_model(model_node, context_for_input(in.x, in.fs, q.num_classes));
  return explain_and_write(*model, in, q);
}

SaliencyOutcome explain_and_write(models::ModelImpl& model, const ModelInput& in, const SaliencyRequest& q) {
  check_outputs(q.outputs);
  const int64_t batch = in.x.size(0);
  CT_CHECK(q.index >= 0 && q.index < batch, UsageError, "saliency: --index ", q.index, " is out of range: ", q.input,
           " holds ", batch, " input", batch == 1 ? "" : "s");
  const models::SaliencyPtr method =
      models::saliency_registry().build(resolve_saliency_method(q.method, q.method_overrides));
  SaliencyOutcome out;
  out.model_summary = model.summary();
  out.result = method->explain(model, in.x, q.target);
  const models::SaliencyResult& r = out.result;

  for (const auto& path : q.outputs) {
    const std::string ext = to_lower(fs::path(path).extension().string());
    if (ext == ".npy") {
      io::write_npy(path, r.map.to(at::kFloat).contiguous());
    } else if (in.x.dim() == 4) {
      report::ImagePlotOptions po;
      po.title = str_cat(fs::path(q.input).filename().string(), "  [", q.index, "]  ", model.model_name());
      po.relevance_label = saliency_caption(r, q.index);
      report::plot_image(in.x[q.index], r.map[q.index], path, po);
    } else {
      io::Record rec;
      rec.name = str_cat(fs::path(q.input).stem().string(), batch > 1 ? str_cat(" [", q.index, "]") : "");
      rec.source = q.input;
      rec.fs = in.fs;
      CT_CHECK(rec.fs > 0, UsageError, q.input, ": the input stores no sampling rate; pass --fs to draw it");
      rec.signal = in.x[q.index].to(at::kFloat).contiguous();
      rec.leads =
          in.leads.size() == static_cast<size_t>(rec.signal.size(0)) ? in.leads : default_leads(rec.signal.size(0));
      rec.units = in.units.size() == rec.leads.size() ? in.units : std::vector<std::string>(rec.leads.size(), "");
      report::EcgPlotOptions po = q.plot;
      po.relevance = r.map[q.index];
      po.relevance_label = saliency_caption(r, q.index);
      report::plot_ecg(rec, path, po);
    }
    out.written.push_back(path);
  }
  return out;
}

}  // namespace cardiotorch::app
