#include "cardiotorch/models/model.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::models {

ModelRegistry& backbone_registry() {
  static ModelRegistry r("backbone", "feature extractors: 1-D CNNs, the ViT ECG encoder, 2-D ResNets for cardiac MRI");
  return r;
}

ModelRegistry& model_registry() {
  static ModelRegistry r("model", "task models with heads: ECG_CRNN, sequence labelling, U-Nets, classifiers, MAE");
  return r;
}

const ModelRegistry& registry_for(const std::string& name) {
  if (model_registry().contains(name)) return model_registry();
  if (backbone_registry().contains(name)) return backbone_registry();
  std::vector<std::string> all = model_registry().names();
  for (const auto& n : backbone_registry().names()) all.push_back(n);
  throw ConfigError(str_cat("unknown model or backbone '", name, "'", did_you_mean(name, all),
                            "; see `cardiotorch list model` and `cardiotorch list backbone`"));
}

ConfigNode ModelCategory::resolve(const ConfigNode& base, const ConfigNode& node) {
  const std::string name = component_name(base, node);
  CT_CHECK(!name.empty(), ConfigError, node.where(),
           ": missing 'name' (a model or backbone; see `cardiotorch list model`)");
  try {
    return registry_for(name).resolve(base, node);
  } catch (const ConfigError& e) {
    // registry_for's message has no location; say where the name was given.
    if (!model_registry().contains(name) && !backbone_registry().contains(name))
      throw ConfigError(str_cat(node.where(), ": ", e.what()));
    throw;
  }
}

ModelPtr build_model(const ConfigNode& node, const ModelContext& context) {
  std::string name;
  if (node.is_scalar()) {
    name = node.as_string();
  } else {
    CT_CHECK(node.is_map() && node.has("name"), ConfigError, node.where(),
             ": expected a model as {name: ..., options} or a bare name");
    name = node["name"].as_string();
  }
  ModelPtr m = registry_for(name).build(node, context);
  CT_INTERNAL_ASSERT(m != nullptr, "factory of '", name, "' returned null");
  m->set_model_name(name);
  return m;
}

at::Tensor ModelImpl::forward_localized(const at::Tensor& x) {
  at::Tensor f = forward_features(x);
  CT_CHECK(f.dim() >= 3, ShapeError, model_name(), ": forward_features gave ", f.sizes(),
           "; per-position features need a (B, C, L) map");
  return f.flatten(2).transpose(1, 2);
}

at::Tensor ModelImpl::embed(const at::Tensor& x) {
  at::Tensor f = forward_features(x);
  if (f.dim() <= 2) return f;
  return f.flatten(2).mean(-1);
}

Shape ModelImpl::output_shape(int64_t seq_len, int64_t batch) const {
  return output_shape(Shape{batch, in_channels_, seq_len});
}

std::string ModelImpl::summary() const {
  return str_cat(model_name().empty() ? name() : model_name(), ": ", format_count(count_parameters(*this)),
                 " parameters, embed_dim ", embed_dim());
}

int64_t count_parameters(const torch::nn::Module& module, bool trainable_only) {
  int64_t n = 0;
  for (const auto& p : module.parameters(/*recurse=*/true))
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

std::string format_count(int64_t n) {
  char b[32];
  if (n >= 1000000) std::snprintf(b, sizeof b, "%.2f M", static_cast<double>(n) / 1e6);
  else if (n >= 1000) std::snprintf(b, sizeof b, "%.1f k", static_cast<double>(n) / 1e3);
  else std::snprintf(b, sizeof b, "%lld", static_cast<long long>(n));
  return b;
}

std::string shape_string(const Shape& s) {
  std::vector<std::string> parts;
  for (auto d : s) parts.push_back(d < 0 ? "?" : std::to_string(d));
  return "(" + join(parts) + ")";
}

int64_t adjust_kernel(int64_t k, double fs, double base_fs, bool ensure_odd) {
  CT_CHECK(fs > 0 && base_fs > 0, ConfigError, "kernel sizes need positive sampling rates, got fs ", fs,
           " and base fs ", base_fs);
  if (k <= 1) return k;
  // Python's round(): half to even (nearbyint under the default rounding mode).
  int64_t out = static_cast<int64_t>(std::nearbyint(static_cast<double>(k) * fs / base_fs));
  out = std::max<int64_t>(out, 1);
  if (ensure_odd) out = out - out % 2 + 1;
  return out;
}

void check_input(const at::Tensor& x, int64_t dims, int64_t channels, const std::string& who) {
  CT_CHECK(x.defined(), ShapeError, who, ": undefined input");
  const char* layout = dims == 3 ? "(batch, channels, samples)" : dims == 4 ? "(batch, channels, height, width)" : "";
  CT_CHECK(x.dim() == dims, ShapeError, who, ": expected a ", dims, "-D input ", layout, ", got shape ", x.sizes());
  CT_CHECK(channels <= 0 || x.size(1) == channels, ShapeError, who, ": expected ", channels,
           " input channels at dim 1, got shape ", x.sizes());
}

}  // namespace cardiotorch::models
