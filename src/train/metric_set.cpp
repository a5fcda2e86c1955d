#include "cardiotorch/train/metric_set.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/data/dataset.h"
#include "train/metrics_util.h"

namespace cardiotorch::train {

Registry<Metric>& metric_registry() {
  static Registry<Metric> r("metric", "evaluation metrics a training loop computes per epoch (train/metric_set.h)");
  return r;
}

const char* task_name(TaskKind task) {
  switch (task) {
    case TaskKind::kMulticlass: return "multiclass";
    case TaskKind::kMultilabel: return "multilabel";
    case TaskKind::kRegression: return "regression";
    case TaskKind::kSegmentation: return "segmentation";
  }
  return "?";
}

TaskKind parse_task(const std::string& text) {
  check_choice("task", text, {"multiclass", "multilabel", "regression", "segmentation"});
  return text == "multiclass"   ? TaskKind::kMulticlass
         : text == "multilabel" ? TaskKind::kMultilabel
         : text == "regression" ? TaskKind::kRegression
                                : TaskKind::kSegmentation;
}

std::vector<double> MetricContext::thresholds_for(int64_t n) const {
  if (thresholds.empty()) return std::vector<double>(static_cast<size_t>(n), threshold);
  CT_CHECK(static_cast<int64_t>(thresholds.size()) == n, ConfigError, "metrics: ", thresholds.size(),
           " per-class thresholds for ", n, " classes");
  return thresholds;
}

MetricContext context_for(const data::DatasetInfo& info) {
  MetricContext c;
  switch (info.label_kind) {
    case data::LabelKind::kClassIndex: c.task = TaskKind::kMulticlass; break;
    case data::LabelKind::kMultiHot: c.task = TaskKind::kMultilabel; break;
    case data::LabelKind::kMask: c.task = TaskKind::kSegmentation; break;
    case data::LabelKind::kNone: c.task = TaskKind::kRegression; break;
  }
  c.class_names = info.class_names;
  c.class_codes = info.class_codes;
  c.fs = info.fs;
  if (!info.config.empty()) {
    const ConfigNode opts = ConfigNode::parse(info.config, info.name + " options");
    if (opts.is_map() && opts.has("root") && opts["root"].is_scalar()) c.data_dir = opts["root"].as_string();
  }
  return c;
}

// ------------------------------------------------------------------------------ MetricSet

MetricSet::MetricSet(MetricContext context, const ConfigNode& metrics) : ctx_(std::move(context)) {
  if (metrics.is_null()) {
    init();
    return;
  }
  auto build = [&](const ConfigNode& n) {
    if (n.is_scalar()) return metric_registry().build(n.as_string(), ConfigNode());
    return metric_registry().build(n);
  };
  if (metrics.is_sequence()) {
    for (size_t i = 0; i < metrics.size(); ++i) metrics_.push_back(build(metrics[i]));
  } else {
    metrics_.push_back(build(metrics));
  }
  init();
}

MetricSet::MetricSet(MetricContext context, const std::vector<std::string>& names) : ctx_(std::move(context)) {
  for (const auto& n : names) metrics_.push_back(metric_registry().build(n, ConfigNode()));
  init();
}

MetricSet::MetricSet(MetricContext context, std::vector<std::shared_ptr<Metric>> metrics)
    : ctx_(std::move(context)), metrics_(std::move(metrics)) {
  init();
}

void MetricSet::init() {
  const bool classification =
      ctx_.task == TaskKind::kMulticlass || ctx_.task == TaskKind::kMultilabel || ctx_.task == TaskKind::kSegmentation;
  CT_CHECK(!classification || !ctx_.class_names.empty(), ConfigError, "metrics: a ", task_name(ctx_.task),
           " task needs its class names in the metric context (train::context_for(dataset.info()))");
  CT_CHECK(ctx_.class_codes.empty() || ctx_.class_codes.size() == ctx_.class_names.size(), ConfigError,
           "metrics: ", ctx_.class_codes.size(), " class codes for ", ctx_.class_names.size(), " classes");
  std::set<std::string> seen;
  for (const auto& m : metrics_) {
    CT_CHECK(m != nullptr, ConfigError, "metrics: null metric");
    CT_CHECK(m->supports(ctx_.task), ConfigError, "metrics: '", m->name(), "' does not apply to a ",
             task_name(ctx_.task), " task");
    for (const auto& k : m->keys(ctx_))
      CT_CHECK(seen.insert(k).second, ConfigError, "metrics: '", k, "' is computed twice (listed twice?)");
    m->bind(ctx_);
    store_ = store_ || !m->streaming();
  }
  reset();
}

void MetricSet::reset() {
  outputs_.clear();
  targets_.clear();
  count_ = 0;
  for (const auto& m : metrics_) m->reset();
}

std::vector<std::string> MetricSet::names() const {
  std::vector<std::string> out;
  for (const auto& m : metrics_) out.push_back(m->name());
  return out;
}

void MetricSet::update(const at::Tensor& outputs_in, const at::Tensor& targets_in) {
  CT_CHECK(outputs_in.defined() && targets_in.defined(), ShapeError, "metrics: undefined outputs or targets");
  at::Tensor outputs = outputs_in.detach(), targets = targets_in.detach();
  const int64_t c = ctx_.n_classes();
  const std::string shapes = str_cat("outputs ", detail::shape_str(outputs), ", targets ", detail::shape_str(targets));
  switch (ctx_.task) {
    case TaskKind::kMulticlass:
      CT_CHECK(outputs.dim() == 2 && outputs.size(1) == c && targets.dim() == 1 && targets.size(0) == outputs.size(0),
               ShapeError, "metrics (multiclass, ", c, " classes): expected outputs (N, ", c,
               ") and class indices (N), got ", shapes);
      break;
    case TaskKind::kMultilabel:
      if (c == 1 && outputs.dim() == 1) outputs = outputs.unsqueeze(1);
      if (c == 1 && targets.dim() == 1) targets = targets.unsqueeze(1);
      CT_CHECK(outputs.dim() == 2 && outputs.size(1) == c && targets.sizes() == outputs.sizes(), ShapeError,
               "metrics (multilabel, ", c, " classes): expected outputs and targets (N, ", c, "), got ", shapes);
      break;
    case TaskKind::kRegression:
      CT_CHECK(outputs.dim() >= 1 && targets.sizes() == outputs.sizes(), ShapeError,
               "metrics (regression): outputs and targets must have the same shape, got ", shapes);
      break;
    case TaskKind::kSegmentation:
      CT_CHECK(outputs.dim() == 3 && outputs.size(1) == c && targets.sizes() == outputs.sizes(), ShapeError,
               "metrics (segmentation, ", c, " classes): expected outputs and masks (N, ", c, ", T), got ", shapes);
      break;
  }
  // Label values are checked here, so the error points at the batch that holds them.
  if (ctx_.task == TaskKind::kMulticlass) {
    detail::to_labels(targets, c, "metrics (multiclass targets)");
  } else if (ctx_.task == TaskKind::kMultilabel) {
    const bool binary = targets.eq(0).logical_or(targets.eq(1)).all().item<bool>();
    CT_CHECK(binary, DataError, "metrics (", task_name(ctx_.task),
             "): targets must be 0 or 1 (soft labels? compute metrics on the hard labels)");
  } else if (ctx_.task == TaskKind::kSegmentation) {
    const bool valid = targets.eq(0).logical_or(targets.eq(1)).logical_or(targets.eq(-1)).all().item<bool>();
    CT_CHECK(valid, DataError,
             "metrics (segmentation): mask targets must be 0 or 1 (-1: not annotated; soft labels? compute metrics "
             "on the hard labels)");
  }
  for (const auto& m : metrics_)
    if (m->streaming()) m->update(outputs, targets, ctx_);
  if (store_) {
    outputs_.push_back(outputs.to(at::kCPU, at::kDouble).contiguous());
    targets_.push_back(targets.to(at::kCPU, ctx_.task == TaskKind::kMulticlass ? at::kLong : at::kDouble).contiguous());
  }
  count_ += outputs.size(0);
}

EpochOutputs MetricSet::epoch() const {
  EpochOutputs e;
  e.context = &ctx_;
  const int64_t c = ctx_.n_classes();
  if (ctx_.task != TaskKind::kMulticlass && ctx_.task != TaskKind::kMultilabel) return e;
  at::Tensor out = outputs_.empty() ? at::zeros({0, c}, at::kDouble) : at::cat(outputs_, 0);
  at::Tensor tgt = targets_.empty() ? (ctx_.task == TaskKind::kMulticlass ? at::zeros({0}, at::kLong)
                                                                          : at::zeros({0, c}, at::kDouble))
                                    : at::cat(targets_, 0);
  if (ctx_.task == TaskKind::kMulticlass) {
    e.probabilities = ctx_.from_logits ? at::softmax(out, 1) : out;
    e.labels = tgt;
    e.targets = train::one_hot(tgt, c);
    e.predictions = offset_argmax_predictions(e.probabilities, ctx_.class_offsets);
    e.confusion = confusion_matrix(e.labels, e.predictions, c);
    e.counts = one_vs_rest_counts(e.confusion);
  } else {
    e.probabilities = ctx_.from_logits ? at::sigmoid(out) : out;
    e.targets = tgt.to(at::kByte);
    e.predictions = threshold_predictions(e.probabilities, ctx_.thresholds_for(c));
    e.counts = multilabel_counts(e.targets, e.predictions);
  }
  return e;
}

MetricValues MetricSet::compute() const {
  MetricValues out;
  EpochOutputs e;
  if (store_ && count_ > 0) e = epoch();
  for (const auto& m : metrics_) {
    if (!m->streaming() && count_ == 0) {
      for (const auto& k : m->keys(ctx_)) out[k] = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    m->compute(e, out);
  }
  return out;
}

std::vector<TunedThreshold> MetricSet::tune_thresholds(ThresholdObjective objective) const {
  CT_CHECK(ctx_.task == TaskKind::kMultilabel, ConfigError, "metrics: thresholds are tuned for multilabel tasks, not ",
           task_name(ctx_.task));
  CT_CHECK(store_ && count_ > 0, ConfigError,
           "metrics: no stored outputs to tune thresholds on (list a classification metric and update() first)");
  const EpochOutputs e = epoch();
  return train::tune_thresholds(e.probabilities, e.targets, objective, ctx_.threshold);
}

void MetricSet::set_thresholds(std::vector<double> thresholds) {
  CT_CHECK(thresholds.empty() || static_cast<int64_t>(thresholds.size()) == ctx_.n_classes(), ConfigError,
           "metrics: ", thresholds.size(), " thresholds for ", ctx_.n_classes(), " classes");
  ctx_.thresholds = std::move(thresholds);
}

void MetricSet::set_class_offsets(std::vector<double> offsets) {
  CT_CHECK(offsets.empty() || static_cast<int64_t>(offsets.size()) == ctx_.n_classes(), ConfigError,
           "metrics: ", offsets.size(), " class offsets for ", ctx_.n_classes(), " classes");
  for (double x : offsets) CT_CHECK(std::isfinite(x), ConfigError, "metrics: class offsets must be finite, got ", x);
  ctx_.class_offsets = std::move(offsets);
}

void DecisionTuning::validate() const {
  check_choice("decisions.tune", tune, {"none", "f1", "youden"});
  CT_CHECK(min_positives >= 1, ConfigError, "decisions.min_positives must be >= 1, got ", min_positives);
  CT_CHECK(std::isfinite(max_offset) && max_offset > 0 && max_offset <= 20, ConfigError,
           "decisions.max_offset must be in (0, 20], got ", max_offset);
  CT_CHECK(std::set<std::string>(classes.begin(), classes.end()).size() == classes.size(), ConfigError,
           "decisions.classes: a class is listed twice");
}

TunedDecisions MetricSet::tune_decisions(const DecisionTuning& tuning) const {
  tuning.validate();
  CT_CHECK(tuning.enabled(), ConfigError, "metrics: decisions.tune is none");
  CT_CHECK(ctx_.task == TaskKind::kMulticlass || ctx_.task == TaskKind::kMultilabel, ConfigError,
           "metrics: decisions are tuned for multiclass and multilabel tasks, not ", task_name(ctx_.task));
  CT_CHECK(store_ && count_ > 0, ConfigError,
           "metrics: no stored outputs to tune decisions on (list a classification metric and update() first)");
  const ThresholdObjective objective = parse_threshold_objective(tuning.tune);
  std::vector<int64_t> classes;
  std::vector<bool> listed(static_cast<size_t>(ctx_.n_classes()), tuning.classes.empty());
  for (const auto& name : tuning.classes) {
    const auto it = std::find(ctx_.class_names.begin(), ctx_.class_names.end(), name);
    CT_CHECK(it != ctx_.class_names.end(), ConfigError, "decisions.classes: '", name, "' is not a class (",
             join(ctx_.class_names), ")");
    classes.push_back(it - ctx_.class_names.begin());
    listed[static_cast<size_t>(classes.back())] = true;
  }
  const EpochOutputs e = epoch();
  TunedDecisions out;
  if (ctx_.task == TaskKind::kMulticlass) {
    ClassOffsetSearch search;
    search.objective = objective;
    search.min_positives = tuning.min_positives;
    search.classes = classes;
    search.max_offset = tuning.max_offset;
    const TunedOffsets t = tune_class_offsets(e.probabilities, e.labels, search);
    out.offsets = t.offsets;
    out.tuned = t.tuned;
    out.reference = t.reference;
    out.before = t.before;
    out.after = t.after;
    return out;
  }
  // Multilabel: each class's threshold on its own; classes with too few positives keep the default.
  const std::vector<TunedThreshold> t = train::tune_thresholds(e.probabilities, e.targets, objective, ctx_.threshold);
  const std::vector<double> defaults = ctx_.thresholds_for(ctx_.n_classes());
  const std::vector<BinaryCounts> at_default =
      multilabel_counts(e.targets, threshold_predictions(e.probabilities, defaults));
  double before = 0, after = 0;
  int64_t n = 0;
  for (size_t c = 0; c < t.size(); ++c) {
    const BinaryCounts& k = at_default[c];
    const bool ok = listed[c] && k.support() >= tuning.min_positives && !t[c].fallback;
    out.tuned.push_back(ok);
    out.thresholds.push_back(ok ? t[c].threshold : defaults[c]);
    if (!ok) continue;
    before += detail::objective_value(objective, static_cast<double>(k.tp), static_cast<double>(k.fp),
                                      static_cast<double>(k.support()), static_cast<double>(k.fp + k.tn));
    after += t[c].value;
    ++n;
  }
  out.before = n ? before / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
  out.after = n ? after / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
  return out;
}

bool MetricSet::higher_is_better(const std::string& key) const {
  if (key == "loss" || ends_with(key, "_loss")) return false;
  std::vector<std::string> all{"loss"};
  for (const auto& m : metrics_)
    for (const auto& k : m->keys(ctx_)) {
      if (k == key) return m->higher_is_better(key);
      all.push_back(k);
    }
  throw ConfigError(
      str_cat("metrics: no metric computes '", key, "'", did_you_mean(key, all), "; available: ", join(all)));
}

// -------------------------------------------------------------------------------- monitor

bool Monitor::improved(double best, double value, double min_delta) const {
  if (std::isnan(value)) return false;
  if (std::isnan(best)) return true;
  return higher_is_better ? value > best + min_delta : value < best - min_delta;
}

Monitor parse_monitor(const std::string& monitor, const MetricSet& metrics) {
  const size_t slash = monitor.find('/');
  CT_CHECK(slash != std::string::npos && slash > 0 && slash + 1 < monitor.size(), ConfigError, "monitor: expected ",
           "'split/key' such as 'val/auroc_macro' or 'val/loss', got '", monitor, "'");
  Monitor m;
  m.split = monitor.substr(0, slash);
  m.key = monitor.substr(slash + 1);
  m.higher_is_better = metrics.higher_is_better(m.key);
  return m;
}

}  // namespace cardiotorch::train
