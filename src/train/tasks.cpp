// The supervised objectives: multiclass, multilabel, regression, segmentation.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/train/objective.h"

namespace cardiotorch::train {

Registry<Objective, ObjectiveContext>& objective_registry() {
  static Registry<Objective, ObjectiveContext> r(
      "objective", "training objectives: supervised tasks and self-supervised losses (train/objective.h)");
  return r;
}

std::string default_objective(data::LabelKind kind) {
  switch (kind) {
    case data::LabelKind::kClassIndex: return "multiclass";
    case data::LabelKind::kMultiHot: return "multilabel";
    case data::LabelKind::kMask: return "segmentation";
    case data::LabelKind::kNone: break;
  }
  throw ConfigError(
      "objective: the dataset has no labels; name a self-supervised objective (`cardiotorch list objective`)");
}

std::vector<double> balanced_class_weights(const std::vector<int64_t>& counts, int64_t n) {
  std::vector<double> w;
  const double c = static_cast<double>(counts.size());
  for (int64_t k : counts) w.push_back(k > 0 ? static_cast<double>(n) / (c * static_cast<double>(k)) : 0.0);
  return w;
}

std::vector<double> sqrt_class_weights(const std::vector<int64_t>& counts) {
  const int64_t top = counts.empty() ? 0 : *std::max_element(counts.begin(), counts.end());
  std::vector<double> w;
  for (int64_t k : counts) w.push_back(k > 0 ? std::sqrt(static_cast<double>(top) / static_cast<double>(k)) : 0.0);
  return w;
}

std::vector<double> cap_weights(std::vector<double> w, double ratio) {
  if (ratio <= 0) return w;
  double lo = 0;
  for (double v : w)
    if (v > 0 && (lo == 0 || v < lo)) lo = v;
  for (double& v : w) v = std::min(v, ratio * lo);
  return w;
}

std::vector<double> balanced_pos_weight(const std::vector<int64_t>& counts, int64_t n, double cap) {
  std::vector<double> w;
  for (int64_t k : counts)
    w.push_back(k > 0 ? std::min(cap, static_cast<double>(n - k) / static_cast<double>(k)) : cap);
  return w;
}

void MulticlassOptions::validate() const {
  CT_CHECK(label_smoothing >= 0 && label_smoothing < 1, ConfigError, "label_smoothing must be in [0, 1), got ",
           label_smoothing);
  check_choice("balance", balance, {"none", "balanced", "sqrt"});
  CT_CHECK(max_weight_ratio >= 0, ConfigError, "max_weight_ratio must be >= 0, got ", max_weight_ratio);
  for (double w : class_weights) CT_CHECK(w >= 0, ConfigError, "class_weights must be >= 0, got ", w);
}
void MultilabelOptions::validate() const {
  check_choice("balance", balance, {"none", "balanced"});
  for (double w : pos_weight) CT_CHECK(w > 0, ConfigError, "pos_weight must be > 0, got ", w);
  CT_CHECK(max_pos_weight > 0, ConfigError, "max_pos_weight must be > 0");
}
void RegressionOptions::validate() const {
  check_choice("loss", loss, {"mse", "l1", "smooth_l1"});
  CT_CHECK(beta > 0, ConfigError, "beta must be > 0, got ", beta);
}
void SegmentationOptions::validate() const {
  for (double w : pos_weight) CT_CHECK(w > 0, ConfigError, "pos_weight must be > 0, got ", w);
}

namespace {

at::Tensor weights_tensor(const std::vector<double>& w) { return at::tensor(w, at::kFloat); }

void check_weights(const std::vector<double>& w, const ObjectiveContext& c, const char* what) {
  CT_CHECK(w.empty() || static_cast<int64_t>(w.size()) == c.n_classes(), ConfigError, "objective: ", what, " has ",
           w.size(), " values but the dataset has ", c.n_classes(), " classes (", join(c.class_names), ")");
}

void check_outputs(const at::Tensor& out, int64_t dims, int64_t channels, const std::string& who) {
  CT_CHECK(out.dim() == dims && (channels <= 0 || out.size(1) == channels), ShapeError, who,
           ": the model gave outputs ", out.sizes(), "; expected ",
           dims == 2 ? "(B, classes)" : "(B, classes, samples)", " with ", channels, " classes");
}

class Multiclass final : public Objective {
 public:
  Multiclass(const MulticlassOptions& o, const ObjectiveContext& c) : o_(o), n_(c.n_classes()) {
    CT_CHECK(n_ >= 2, ConfigError, "objective multiclass: the dataset needs at least 2 classes, it has ", n_);
    check_weights(o.class_weights, c, "class_weights");
    std::vector<double> w = o.class_weights;
    if (w.empty() && o.balance == "balanced") w = balanced_class_weights(c.train_label_counts, c.train_size);
    if (w.empty() && o.balance == "sqrt") w = sqrt_class_weights(c.train_label_counts);
    if (o.class_weights.empty()) w = cap_weights(w, o.max_weight_ratio);
    if (!w.empty()) weight_ = register_buffer("class_weights", weights_tensor(w));
  }
  std::string objective_name() const override { return "multiclass"; }
  std::optional<TaskKind> task() const override { return TaskKind::kMulticlass; }
  int64_t num_outputs() const override { return n_; }
  at::Tensor probabilities(const at::Tensor& out) const override { return at::softmax(out.to(at::kFloat), -1); }

  StepOutput step(models::ModelImpl& model, const data::Batch& b, bool) override {
    CT_CHECK(b.y.defined(), ShapeError, "objective multiclass: the batch has no labels");
    const at::Tensor out = model.forward(b.x).to(at::kFloat);
    check_outputs(out, 2, n_, "objective multiclass");
    StepOutput r;
    const c10::optional<at::Tensor> w = weight_.defined() ? c10::optional<at::Tensor>(weight_) : c10::nullopt;
    at::Tensor hard;
    if (b.y.dim() == 2 && b.y.is_floating_point()) {  // soft targets (mixup / cutmix)
      r.loss = at::cross_entropy_loss(out, b.y.to(at::kFloat), w, at::Reduction::Mean, -100, o_.label_smoothing);
      hard = b.y.argmax(1);
    } else {
      hard = b.y.to(at::kLong).reshape({-1});
      r.loss = at::cross_entropy_loss(out, hard, w, at::Reduction::Mean, -100, o_.label_smoothing);
    }
    r.outputs = out.detach();
    r.targets = hard;
    return r;
  }

 private:
  MulticlassOptions o_;
  int64_t n_;
  at::Tensor weight_;
};

class Multilabel final : public Objective {
 public:
  Multilabel(const MultilabelOptions& o, const ObjectiveContext& c) : n_(c.n_classes()) {
    CT_CHECK(n_ >= 1, ConfigError, "objective multilabel: the dataset has no classes");
    check_weights(o.pos_weight, c, "pos_weight");
    std::vector<double> w = o.pos_weight;
    if (w.empty() && o.balance == "balanced")
      w = balanced_pos_weight(c.train_label_counts, c.train_size, o.max_pos_weight);
    if (!w.empty()) pos_weight_ = register_buffer("pos_weight", weights_tensor(w));
  }
  std::string objective_name() const override { return "multilabel"; }
  std::optional<TaskKind> task() const override { return TaskKind::kMultilabel; }
  int64_t num_outputs() const override { return n_; }
  at::Tensor probabilities(const at::Tensor& out) const override { return at::sigmoid(out.to(at::kFloat)); }

  StepOutput step(models::ModelImpl& model, const data::Batch& b, bool) override {
    CT_CHECK(b.y.defined(), ShapeError, "objective multilabel: the batch has no labels");
    const at::Tensor out = model.forward(b.x).to(at::kFloat);
    check_outputs(out, 2, n_, "objective multilabel");
    const at::Tensor y = b.y.to(at::kFloat).reshape(out.sizes());
    StepOutput r;
    const c10::optional<at::Tensor> pw = pos_weight_.defined() ? c10::optional<at::Tensor>(pos_weight_) : c10::nullopt;
    r.loss = at::binary_cross_entropy_with_logits(out, y, c10::nullopt, pw, at::Reduction::Mean);
    r.outputs = out.detach();
    r.targets = (y >= 0.5).to(at::kFloat);  // soft targets (mixup) are thresholded for the metrics
    return r;
  }

 private:
  int64_t n_;
  at::Tensor pos_weight_;
};

class Regression final : public Objective {
 public:
  Regression(const RegressionOptions& o, const ObjectiveContext& c) : o_(o), n_(c.n_classes()) {}
  std::string objective_name() const override { return "regression"; }
  std::optional<TaskKind> task() const override { return TaskKind::kRegression; }
  int64_t num_outputs() const override { return n_; }

  StepOutput step(models::ModelImpl& model, const data::Batch& b, bool) override {
    CT_CHECK(b.y.defined(), ShapeError, "objective regression: the batch has no targets");
    const at::Tensor out = model.forward(b.x).to(at::kFloat);
    const at::Tensor y = b.y.to(at::kFloat);
    CT_CHECK(out.numel() == y.numel(), ShapeError, "objective regression: outputs ", out.sizes(), " vs targets ",
             y.sizes());
    const at::Tensor t = y.reshape(out.sizes());
    StepOutput r;
    if (o_.loss == "mse") r.loss = at::mse_loss(out, t);
    else if (o_.loss == "l1") r.loss = at::l1_loss(out, t);
    else r.loss = at::smooth_l1_loss(out, t, at::Reduction::Mean, o_.beta);
    r.outputs = out.detach();
    r.targets = t;
    return r;
  }

 private:
  RegressionOptions o_;
  int64_t n_;
};

class Segmentation final : public Objective {
 public:
  Segmentation(const SegmentationOptions& o, const ObjectiveContext& c) : n_(c.n_classes()) {
    CT_CHECK(n_ >= 1, ConfigError, "objective segmentation: the dataset has no classes");
    check_weights(o.pos_weight, c, "pos_weight");
    if (!o.pos_weight.empty())
      pos_weight_ = register_buffer("pos_weight", weights_tensor(o.pos_weight).reshape({n_, 1}));
  }
  std::string objective_name() const override { return "segmentation"; }
  std::optional<TaskKind> task() const override { return TaskKind::kSegmentation; }
  int64_t num_outputs() const override { return n_; }
  at::Tensor probabilities(const at::Tensor& out) const override { return at::sigmoid(out.to(at::kFloat)); }

  StepOutput step(models::ModelImpl& model, const data::Batch& b, bool) override {
    CT_CHECK(b.y.defined() && b.y.dim() == 3, ShapeError,
             "objective segmentation: expected mask labels (B, classes, samples)");
    at::Tensor out = model.forward(b.x).to(at::kFloat);
    // Models that return (B, L, C) (torch_ecg's sequence labellers) are accepted as well.
    if (out.dim() == 3 && out.size(1) != n_ && out.size(2) == n_) out = out.transpose(1, 2);
    check_outputs(out, 3, n_, "objective segmentation");
    const int64_t len = b.y.size(2);
    if (out.size(2) != len) out = at::upsample_linear1d(out.contiguous(), {len}, /*align_corners=*/true);
    const at::Tensor y = b.y.to(at::kFloat);
    StepOutput r;
    const c10::optional<at::Tensor> pw = pos_weight_.defined() ? c10::optional<at::Tensor>(pos_weight_) : c10::nullopt;
    if (y.lt(0).any().item<bool>()) {
      // Label -1 marks samples the reference does not annotate (LUDB's record ends): no loss
      // there, and the mean runs over the annotated samples only.
      const at::Tensor keep = y.ge(0).to(at::kFloat);
      r.loss = at::binary_cross_entropy_with_logits(out, y.clamp_min(0), keep, pw, at::Reduction::Sum) /
               keep.sum().clamp_min(1);
    } else {
      r.loss = at::binary_cross_entropy_with_logits(out, y, c10::nullopt, pw, at::Reduction::Mean);
    }
    r.outputs = out.detach();
    r.targets = y;
    return r;
  }

 private:
  int64_t n_;
  at::Tensor pos_weight_;
};

template <class T, class O>
auto task_factory() {
  return options_factory<Objective, O>([](const O& o, const ObjectiveContext& c) { return std::make_shared<T>(o, c); });
}

}  // namespace

CT_REGISTER(objective_registry(), "multiclass", (task_factory<Multiclass, MulticlassOptions>()),
            "single-label classification: cross-entropy with label smoothing and class weights")
CT_REGISTER(objective_registry(), "multilabel", (task_factory<Multilabel, MultilabelOptions>()),
            "multi-label classification: binary cross-entropy with logits and pos_weight")
CT_REGISTER(objective_registry(), "regression", (task_factory<Regression, RegressionOptions>()),
            "regression: MSE (or L1, smooth L1) between outputs and targets")
CT_REGISTER(objective_registry(), "segmentation", (task_factory<Segmentation, SegmentationOptions>()),
            "per-sample segmentation masks (waves): binary cross-entropy per class and sample")

}  // namespace cardiotorch::train
