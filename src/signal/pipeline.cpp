#include "cardiotorch/signal/pipeline.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <numeric>

namespace cardiotorch::signal {

Registry<Step>& preprocessor_registry() {
  static Registry<Step> r("preprocessor",
                          "deterministic signal preprocessing steps (filters, resampling, normalisation)");
  return r;
}

Registry<Step>& augmenter_registry() {
  static Registry<Step> r("augmenter", "random training-time augmentations (applied with probability p)");
  return r;
}

std::string flow_yaml(const ConfigNode& node) {
  if (node.is_map()) {
    std::vector<std::string> parts;
    for (const auto& k : node.keys()) parts.push_back(k + ": " + flow_yaml(node[k]));
    return "{" + join(parts) + "}";
  }
  if (node.is_sequence()) {
    std::vector<std::string> parts;
    for (size_t i = 0; i < node.size(); ++i) parts.push_back(flow_yaml(node[i]));
    return "[" + join(parts) + "]";
  }
  if (node.is_null()) return "null";
  return node.as_string();
}

const Registry<Step>& step_registry(const std::string& name, const std::string& where) {
  if (preprocessor_registry().contains(name)) return preprocessor_registry();
  if (augmenter_registry().contains(name)) return augmenter_registry();
  std::vector<std::string> all = preprocessor_registry().names();
  for (const auto& n : augmenter_registry().names()) all.push_back(n);
  throw ConfigError((where.empty() ? std::string() : where + ": ") + unknown_name_message("pipeline step", name, all) +
                    " (preprocessors, then augmenters; 'cardiotorch list step' describes them)");
}

std::shared_ptr<Step> build_step(const ConfigNode& node) {
  CT_CHECK(node.is_map() && node.has("name"), ConfigError, node.where(),
           ": a pipeline step must be a mapping with a 'name' key, e.g. {name: bandpass, lowcut: 0.5}");
  const std::string name = node["name"].as_string();
  return step_registry(name, node["name"].where()).build(name, node);
}

ConfigNode StepCategory::resolve(const ConfigNode& base, const ConfigNode& node) {
  const std::string name = component_name(base, node);
  CT_CHECK(!name.empty(), ConfigError, node.where(),
           ": a pipeline step needs a 'name', e.g. {name: gaussian_noise, std: 0.05}");
  const ConfigNode& at = node.is_map() && node.has("name") ? node["name"] : node;
  return step_registry(name, at.where()).resolve(base, node);
}

Pipeline Pipeline::from_config(const ConfigNode& node) {
  Pipeline p;
  if (node.is_null()) return p;
  ConfigNode steps = node;
  if (node.is_map()) {
    detail::check_unknown_keys(node, {"steps", "random_order"}, {});
    steps = node["steps"];
    if (node.has("random_order")) p.random_order_ = node["random_order"].as_bool();
  }
  CT_CHECK(steps.is_sequence() || steps.is_null(), ConfigError, steps.where(),
           ": a pipeline must be a list of steps (- {name: bandpass, ...})");
  for (size_t i = 0; i < steps.size(); ++i) p.add(build_step(steps[i]));
  return p;
}

Pipeline& Pipeline::add(std::shared_ptr<Step> step) {
  CT_INTERNAL_ASSERT(step != nullptr);
  steps_.push_back(std::move(step));
  return *this;
}

void Pipeline::apply(SignalBatch& batch, StepContext& ctx) const {
  CT_CHECK(batch.x.defined(), ShapeError, "pipeline: the input signal is undefined");
  CT_CHECK(batch.x.dim() >= 1, ShapeError, "pipeline: expected a signal shaped (..., leads, samples), got a scalar");
  std::vector<size_t> order(steps_.size());
  std::iota(order.begin(), order.end(), 0);
  if (random_order_ && order.size() > 1) {
    at::Tensor perm = ctx.generator.defined()
                          ? at::randperm(static_cast<int64_t>(order.size()), ctx.generator, at::kLong)
                          : at::randperm(static_cast<int64_t>(order.size()), at::kLong);
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<size_t>(perm[i].item<int64_t>());
  }
  for (size_t i : order) {
    const Step& s = *steps_[i];
    if (s.is_augmentation() && !ctx.training) continue;
    CT_CHECK(!s.needs_fs() || batch.fs > 0, ConfigError, "pipeline step '", s.name(),
             "' needs the sampling rate, but fs is unknown (set fs on the input)");
    CT_CHECK(!s.is_batch_level() || batch.x.dim() >= 3, ShapeError, "pipeline step '", s.name(),
             "' mixes samples of a batch and needs input shaped (batch, leads, samples); got ", batch.x.sizes(),
             " (the loader applies such steps after collating a batch)");
    s.apply(batch, ctx);
  }
}

ConfigNode Pipeline::config() const {
  ConfigNode steps = ConfigNode::sequence();
  for (const auto& s : steps_) steps.push_back(s->config());
  if (!random_order_) return steps;
  ConfigNode n = ConfigNode::map();
  n.set("steps", steps);
  n.set("random_order", ConfigNode::scalar("true"));
  return n;
}

std::pair<Pipeline, Pipeline> Pipeline::split_batch_level() const {
  std::pair<Pipeline, Pipeline> out;
  out.first.random_order_ = out.second.random_order_ = random_order_;
  for (const auto& s : steps_) (s->is_batch_level() ? out.second : out.first).add(s);
  return out;
}

at::Tensor Pipeline::operator()(const at::Tensor& x, double fs, bool training, uint64_t seed) const {
  SignalBatch b;
  b.x = x;
  b.fs = fs;
  StepContext ctx;
  ctx.training = training;
  ctx.generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  apply(b, ctx);
  return b.x;
}

std::string Pipeline::summary() const {
  std::string out;
  for (size_t i = 0; i < steps_.size(); ++i)
    out += str_cat(i + 1, ". ", steps_[i]->summary(), steps_[i]->is_augmentation() ? "  [aug]" : "",
                   steps_[i]->is_batch_level() ? " [batch]" : "", "\n");
  if (random_order_) out += "(steps run in random order)\n";
  return out;
}

}  // namespace cardiotorch::signal
