// The general metrics of metric_registry(): classification counts, rankings, regression.
#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/registry.h"
#include "cardiotorch/train/metric_set.h"
#include "cardiotorch/train/metrics.h"

namespace cardiotorch::train {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_classification(TaskKind t) { return t == TaskKind::kMulticlass || t == TaskKind::kMultilabel; }

std::vector<std::string> class_keys(const std::string& prefix, const MetricContext& ctx) {
  std::vector<std::string> out;
  for (const auto& c : ctx.class_names) out.push_back(prefix + "/" + c);
  return out;
}

struct ZeroDivisionOptions {
  std::string zero_division = "0";
  template <class V>
  void fields(V& v) {
    v("zero_division", zero_division, "value of 0/0: 0, 1 or nan (nan: left out of averages)");
  }
  void validate() const { parse_zero_division(zero_division); }
};

// precision / recall / specificity / F1 with one averaging mode (or per class).
class CountMetric : public Metric {
 public:
  CountMetric(std::string score_name, std::string average, const ZeroDivisionOptions& o)
      : score_name_(std::move(score_name)),
        average_(std::move(average)),
        score_(parse_count_score(score_name_)),
        zd_(parse_zero_division(o.zero_division)) {}
  std::string name() const override { return score_name_ + "_" + average_; }
  std::vector<std::string> keys(const MetricContext& ctx) const override {
    return average_ == "per_class" ? class_keys(score_name_, ctx) : std::vector<std::string>{name()};
  }
  bool supports(TaskKind t) const override { return is_classification(t); }
  void compute(const EpochOutputs& e, MetricValues& out) const override {
    if (average_ == "per_class") {
      const auto v = per_class_score(score_, e.counts, zd_);
      const auto k = keys(*e.context);
      for (size_t i = 0; i < v.size(); ++i) out[k[i]] = v[i];
      return;
    }
    const Average a = average_ == "macro"   ? Average::kMacro
                      : average_ == "micro" ? Average::kMicro
                                            : Average::kWeighted;
    out[name()] = averaged_score(score_, e.counts, a, zd_);
  }

 private:
  std::string score_name_, average_;
  CountScore score_;
  ZeroDivision zd_;
};

// AUROC / average precision (auprc) per class or averaged; multiclass is one-vs-rest.
class RankMetric : public Metric {
 public:
  RankMetric(std::string kind, std::string average) : kind_(std::move(kind)), average_(std::move(average)) {}
  std::string name() const override { return kind_ + "_" + average_; }
  std::vector<std::string> keys(const MetricContext& ctx) const override {
    return average_ == "per_class" ? class_keys(kind_, ctx) : std::vector<std::string>{name()};
  }
  bool supports(TaskKind t) const override { return is_classification(t); }
  void compute(const EpochOutputs& e, MetricValues& out) const override {
    const bool roc = kind_ == "auroc";
    if (average_ == "per_class") {
      const auto v =
          roc ? per_class_auroc(e.probabilities, e.targets) : per_class_average_precision(e.probabilities, e.targets);
      const auto k = keys(*e.context);
      for (size_t i = 0; i < v.size(); ++i) out[k[i]] = v[i];
      return;
    }
    const Average a = average_ == "macro"   ? Average::kMacro
                      : average_ == "micro" ? Average::kMicro
                                            : Average::kWeighted;
    out[name()] = roc ? auroc(e.probabilities, e.targets, a) : average_precision(e.probabilities, e.targets, a);
  }

 private:
  std::string kind_, average_;
};

// Multiclass accuracy; multilabel subset (exact-match) accuracy.
class AccuracyMetric : public Metric {
 public:
  std::string name() const override { return "accuracy"; }
  bool supports(TaskKind t) const override { return is_classification(t); }
  void compute(const EpochOutputs& e, MetricValues& out) const override {
    out[name()] = e.context->task == TaskKind::kMulticlass ? accuracy(e.labels, e.predictions)
                                                           : accuracy(e.targets, e.predictions);
  }
};

struct TopKOptions {
  int64_t k = 3;
  template <class V>
  void fields(V& v) {
    v("k", k, "a row counts as correct when its class is among the k highest scores");
  }
  void validate() const { CT_CHECK(k >= 1, ConfigError, "k must be >= 1, got ", k); }
};

class TopKMetric : public Metric {
 public:
  explicit TopKMetric(const TopKOptions& o) : k_(o.k) {}
  std::string name() const override { return str_cat("top", k_, "_accuracy"); }
  bool supports(TaskKind t) const override { return t == TaskKind::kMulticlass; }
  void compute(const EpochOutputs& e, MetricValues& out) const override {
    out[name()] = top_k_accuracy(e.probabilities, e.labels, k_);
  }

 private:
  int64_t k_;
};

class BalancedAccuracyMetric : public Metric {
 public:
  std::string name() const override { return "balanced_accuracy"; }
  bool supports(TaskKind t) const override { return t == TaskKind::kMulticlass; }
  void compute(const EpochOutputs& e, MetricValues& out) const override {
    out[name()] = balanced_accuracy(e.confusion);
  }
};

// Multiclass (and binary) MCC; multilabel: per-label binary MCC averaged (macro).
class MccMetric : public Metric {
 public:
  std::string name() const override { return "mcc"; }
  bool supports(TaskKind t) const override { return is_classification(t); }
  void compute(const EpochOutputs& e, MetricValues& out) const override {
    if (e.context->task == TaskKind::kMulticlass) {
      out[name()] = matthews_corrcoef(e.confusion);
      return;
    }
    double sum = 0;
    for (const auto& c : e.counts) sum += matthews_corrcoef(c);
    out[name()] = e.counts.empty() ? kNaN : sum / static_cast<double>(e.counts.size());
  }
};

// ------------------------------------------------------------------------------ regression

class RegressionMetric : public Metric {
 public:
  explicit RegressionMetric(std::string which) : which_(std::move(which)) {}
  std::string name() const override { return which_; }
  bool higher_is_better(const std::string&) const override { return which_ == "r2" || which_ == "ncc"; }
  bool supports(TaskKind t) const override { return t == TaskKind::kRegression; }
  bool streaming() const override { return true; }
  void reset() override {
    acc_.reset();
    ncc_.reset();
  }
  void update(const at::Tensor& outputs, const at::Tensor& targets, const MetricContext&) override {
    if (which_ == "ncc") ncc_.update(outputs, targets);
    else acc_.update(outputs, targets);
  }
  void compute(const EpochOutputs&, MetricValues& out) const override {
    out[name()] = which_ == "mse"   ? acc_.mse()
                  : which_ == "mae" ? acc_.mae()
                  : which_ == "r2"  ? acc_.r2()
                                    : ncc_.value();
  }

 private:
  std::string which_;
  RegressionAccumulator acc_;
  NccAccumulator ncc_;
};

struct NoOptions {
  template <class V>
  void fields(V&) {}
};

// A factory for a metric without options (any key is an unknown-key error; the empty schema
// lets `list metric x` and config validation work without building it).
template <class M, class... Args>
auto plain(Args... args) {
  return options_factory<Metric, NoOptions>(
      [args...](const NoOptions&) -> std::shared_ptr<Metric> { return std::make_shared<M>(args...); });
}

// The score x averaging families: one entry each, so a config names exactly what it logs.
const bool kFamilies = [] {
  const char* averages[] = {"macro", "micro", "weighted", "per_class"};
  const char* avg_help[] = {"unweighted mean over classes", "from the summed counts",
                            "mean weighted by support (positives per class)", "one value per class"};
  const char* scores[][2] = {{"precision", "precision tp/(tp+fp)"},
                             {"recall", "recall = sensitivity tp/(tp+fn)"},
                             {"sensitivity", "sensitivity = recall tp/(tp+fn)"},
                             {"specificity", "specificity tn/(tn+fp)"},
                             {"f1", "F1 = 2PR/(P+R)"}};
  for (const auto& sc : scores)
    for (size_t a = 0; a < 4; ++a) {
      const std::string score = sc[0], avg = averages[a];
      metric_registry().add(
          score + "_" + avg,
          [score, avg](const ConfigNode& n) -> std::shared_ptr<Metric> {
            return std::make_shared<CountMetric>(score, avg, from_config<ZeroDivisionOptions>(n));
          },
          str_cat(sc[1], ", ", avg_help[a],
                  " (multiclass: argmax, plus any tuned class offsets; multilabel: score >= threshold); option "
                  "zero_division"),
          __FILE__, __LINE__);
    }
  const char* ranks[][2] = {{"auroc", "area under the ROC curve (sklearn roc_auc_score; undefined classes skipped)"},
                            {"auprc", "average precision (sklearn average_precision_score, step-wise)"}};
  for (const auto& r : ranks)
    for (size_t a = 0; a < 4; ++a) {
      const std::string kind = r[0], avg = averages[a];
      metric_registry().add(kind + "_" + avg, plain<RankMetric>(kind, avg),
                            str_cat(r[1], ", ", avg == "micro" ? "over every (sample, class) pair" : avg_help[a]),
                            __FILE__, __LINE__);
    }
  const char* regression[][2] = {
      {"mse", "mean squared error (sklearn mean_squared_error)"},
      {"mae", "mean absolute error (sklearn mean_absolute_error)"},
      {"r2", "coefficient of determination, outputs averaged (sklearn r2_score)"},
      {"ncc", "normalised cross-correlation of reconstructions (the ECG MAE anchor's metric)"}};
  for (const auto& r : regression)
    metric_registry().add(r[0], plain<RegressionMetric>(std::string(r[0])), r[1], __FILE__, __LINE__);
  return true;
}();

}  // namespace

}  // namespace cardiotorch::train

CT_REGISTER(cardiotorch::train::metric_registry(), "accuracy",
            cardiotorch::train::plain<cardiotorch::train::AccuracyMetric>(),
            "fraction correct (multiclass argmax; multilabel: every label right, sklearn's subset accuracy)")
CT_REGISTER(cardiotorch::train::metric_registry(), "top_k_accuracy",
            (cardiotorch::options_factory<cardiotorch::train::Metric, cardiotorch::train::TopKOptions>(
                [](const cardiotorch::train::TopKOptions& o) {
                  return std::make_shared<cardiotorch::train::TopKMetric>(o);
                })),
            "true class among the k highest scores (option k, default 3; logged as top<k>_accuracy)")
CT_REGISTER(cardiotorch::train::metric_registry(), "balanced_accuracy",
            cardiotorch::train::plain<cardiotorch::train::BalancedAccuracyMetric>(),
            "mean recall over the classes present (sklearn balanced_accuracy_score)")
CT_REGISTER(cardiotorch::train::metric_registry(), "mcc", cardiotorch::train::plain<cardiotorch::train::MccMetric>(),
            "Matthews correlation (multiclass R_K as sklearn; multilabel: mean of per-label MCC)")
