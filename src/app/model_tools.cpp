#include "cardiotorch/app/model_tools.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <filesystem>

#include "cardiotorch/core/log.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/models/torch_ecg_import.h"
#include "cardiotorch/signal/pipeline.h"

namespace fs = std::filesystem;

namespace cardiotorch::app {

namespace {

void log_import(const std::string& source, const models::TorchEcgImport& imp) {
  CT_LOG_INFO("torch_ecg config from ", source, " -> ", imp.model["name"].as_string(),
              imp.classes.empty() ? std::string() : str_cat(", classes [", join(imp.classes), "]"),
              imp.n_leads > 0 ? str_cat(", n_leads ", imp.n_leads) : std::string());
  for (const auto& n : imp.report.notes) CT_LOG_INFO("  ", n);
  for (const auto& i : imp.report.ignored) CT_LOG_DEBUG("  ignored: ", i);
  for (const auto& u : imp.report.unknown)
    CT_LOG_WARN(source, ": unknown torch_ecg key ", u, " (torch_ecg ignores it too)");
}

bool is_torch_ecg_file(const std::string& path, const ConfigNode& file) {
  return to_lower(fs::path(path).extension().string()) == ".json" && models::looks_like_torch_ecg_config(file);
}

}  // namespace

ConfigNode resolve_model_spec(const ModelSpec& spec) {
  ConfigNode node = ConfigNode::map();
  if (!spec.config_from_weights.empty()) {
    CT_CHECK(spec.config_file.empty(), UsageError, "--config and --config-from-weights exclude each other");
    CT_CHECK(!spec.name.empty(), UsageError,
             "--config-from-weights needs --model NAME (a torch_ecg checkpoint does not "
             "say which model it holds), e.g. --model ecg_crnn");
    const models::TorchEcgImport imp = models::import_torch_ecg_checkpoint(spec.name, spec.config_from_weights);
    log_import(spec.config_from_weights, imp);
    node = imp.model;
  } else if (!spec.config_file.empty()) {
    ConfigNode file = ConfigNode::load(spec.config_file);
    CT_CHECK(file.is_map(), ConfigError, spec.config_file,
             ": expected a model mapping {name: ..., options}, an "
             "experiment with a 'model:' section, or a torch_ecg model_config (.json)");
    if (is_torch_ecg_file(spec.config_file, file)) {
      CT_CHECK(!spec.name.empty(), UsageError, spec.config_file,
               ": a torch_ecg model_config needs --model NAME "
               "(e.g. --model ecg_crnn)");
      models::TorchEcgImport imp;
      try {
        imp = models::import_torch_ecg_config(spec.name, file);
      } catch (const ConfigError& e) {
        throw ConfigError(str_cat(spec.config_file, ": ", e.what()));
      }
      log_import(spec.config_file, imp);
      node = imp.model;
    } else {
      // An experiment file holds the model under `model:`; a model file is the node itself.
      node = file.has("model") ? file["model"].clone() : file.clone();
      if (node.is_scalar()) {
        const std::string n = node.as_string();
        node = ConfigNode::map();
        node.set("name", ConfigNode::string(n));
      }
    }
  }
  if (!spec.name.empty()) {
    // --model names the model; options from a file for another model do not carry over.
    if (node.has("name") && node["name"].as_string() != spec.name) node = ConfigNode::map();
    node.set("name", ConfigNode::string(spec.name));
  }
  for (const auto& o : spec.overrides) node.apply_override(o);
  CT_CHECK(node.has("name"), UsageError, "no model given: pass --model NAME or a --config file with a model name");
  const std::string name = node["name"].as_string();
  return models::registry_for(name).resolve(node);
}

ModelInput load_model_input(const std::string& path, double fs, const std::string& pipeline_file) {
  ModelInput in;
  in.origin = path;
  in.fs = fs;
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".npy") {
    in.x = io::read_npy(path).to(at::kFloat);
    CT_CHECK(in.x.dim() >= 2 && in.x.dim() <= 4, ShapeError, path, ": expected a (C, L), (B, C, L) or (B, C, H, W) ",
             "array, got shape ", in.x.sizes());
    if (in.x.dim() == 2) in.x = in.x.unsqueeze(0);
  } else {
    io::ReadOptions ro;
    ro.fs = fs;
    const io::Record rec = io::read_record(path, ro);
    in.x = rec.signal.to(at::kFloat).unsqueeze(0);
    in.fs = rec.fs;
    in.leads = rec.leads;
    in.units = rec.units;
  }
  if (!pipeline_file.empty()) {
    const ConfigNode cfg = ConfigNode::load(pipeline_file);
    const ConfigNode steps = cfg.is_map() && cfg.has("pipeline") ? cfg["pipeline"] : cfg;
    signal::SignalBatch batch;
    batch.x = in.x;
    batch.fs = in.fs;
    batch.leads = in.leads;
    signal::StepContext ctx;
    signal::Pipeline::from_config(steps).apply(batch, ctx);
    in.x = batch.x.to(at::kFloat).contiguous();
    in.fs = batch.fs;
    in.leads = batch.leads;
    in.units.clear();
  }
  CT_CHECK(at::isfinite(in.x).all().item<bool>(), DataError, path,
           ": the input holds NaN or infinite values; "
           "clean it first (e.g. a pipeline with {name: nan_to_num})");
  return in;
}

models::ModelContext context_for_input(const at::Tensor& x, double fs, int64_t num_classes) {
  models::ModelContext c;
  c.in_channels = x.size(1);
  if (fs > 0) c.fs = fs;
  if (x.dim() == 3) c.seq_len = x.size(2);
  if (x.dim() == 4) c.image_size = {x.size(2), x.size(3)};
  c.num_classes = num_classes;
  return c;
}

models::ModelContext context_for_shape(int64_t in_channels, int64_t seq_len, double fs, int64_t num_classes) {
  models::ModelContext c;
  c.in_channels = in_channels;
  c.seq_len = seq_len;
  if (fs > 0) c.fs = fs;
  c.num_classes = num_classes;
  return c;
}

at::Tensor run_forward(models::ModelImpl& model, const at::Tensor& x, ForwardOutput what) {
  model.eval();
  at::NoGradGuard no_grad;
  switch (what) {
    case ForwardOutput::kFeatures: return model.forward_features(x);
    case ForwardOutput::kLocalized: return model.forward_localized(x);
    case ForwardOutput::kEmbedding: return model.embed(x);
    case ForwardOutput::kOutput: break;
  }
  return model.forward(x);
}

}  // namespace cardiotorch::app
