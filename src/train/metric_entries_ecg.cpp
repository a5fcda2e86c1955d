// The ECG metrics of metric_registry(): CinC 2017, CinC 2020/2021, AAMI beats, delineation.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/registry.h"
#include "cardiotorch/train/metric_set.h"
#include "cardiotorch/train/metrics_ecg.h"

namespace cardiotorch::train {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Index of each name in the context's classes (-1 when absent).
std::vector<int64_t> find_classes(const MetricContext& ctx, const std::vector<std::string>& names) {
  std::vector<int64_t> out;
  for (const auto& n : names) {
    const auto it = std::find(ctx.class_names.begin(), ctx.class_names.end(), n);
    out.push_back(it == ctx.class_names.end() ? -1 : static_cast<int64_t>(it - ctx.class_names.begin()));
  }
  return out;
}

// ------------------------------------------------------------------------------ CinC 2017

struct Cinc2017MetricOptions {
  std::vector<std::string> classes = {"N", "A", "O", "~"};
  template <class V>
  void fields(V& v) {
    v("classes", classes, "names of the normal, AF, other and noisy classes in the dataset's class list");
  }
  void validate() const {
    CT_CHECK(classes.size() == 4, ConfigError, "classes must name 4 classes (N, A, O, ~), got ", classes.size());
  }
};

class Cinc2017Metric : public Metric {
 public:
  explicit Cinc2017Metric(Cinc2017MetricOptions o) : opt_(std::move(o)) {}
  std::string name() const override { return "cinc2017"; }
  std::vector<std::string> keys(const MetricContext&) const override {
    return {"cinc2017", "cinc2017/F1n", "cinc2017/F1a", "cinc2017/F1o", "cinc2017/F1p"};
  }
  bool supports(TaskKind t) const override { return t == TaskKind::kMulticlass; }
  void bind(const MetricContext& ctx) override {
    idx_ = find_classes(ctx, opt_.classes);
    for (size_t i = 0; i < 3; ++i)
      CT_CHECK(idx_[i] >= 0, ConfigError, "cinc2017: no class '", opt_.classes[i], "' among the classes (",
               join(ctx.class_names), "); name them with {name: cinc2017, classes: [N, A, O, \"~\"]}");
  }
  void compute(const EpochOutputs& e, MetricValues& out) const override {
    const Cinc2017Score s = cinc2017_score(e.confusion, idx_);
    out["cinc2017"] = s.score;
    out["cinc2017/F1n"] = s.f1_normal;
    out["cinc2017/F1a"] = s.f1_af;
    out["cinc2017/F1o"] = s.f1_other;
    out["cinc2017/F1p"] = s.f1_noisy;
  }

 private:
  Cinc2017MetricOptions opt_;
  std::vector<int64_t> idx_;
};

// ---------------------------------------------------------------------- CinC 2020 / 2021

struct ChallengeMetricOptions {
  std::string weights;  ///< "" = <dataset root>/weights.csv
  std::string normal_class = kChallengeNormalCode;
  std::vector<std::vector<std::string>> equivalent = default_equivalent_codes();
  template <class V>
  void fields(V& v) {
    v("weights", weights, "the challenge's weights.csv (empty: weights.csv in the dataset root)");
    v("normal_class", normal_class, "SNOMED CT code of the normal (inactive) class");
    v("equivalent", equivalent, "groups of codes scored as one class");
  }
};

class ChallengeMetric : public Metric {
 public:
  ChallengeMetric(std::string name, ChallengeMetricOptions o) : name_(std::move(name)), opt_(std::move(o)) {}
  std::string name() const override { return name_; }
  bool supports(TaskKind t) const override { return t == TaskKind::kMultilabel; }
  void bind(const MetricContext& ctx) override {
    std::string path = opt_.weights;
    if (path.empty()) {
      CT_CHECK(!ctx.data_dir.empty(), ConfigError, name_, ": no weights.csv: set {name: ", name_,
               ", weights: path/to/weights.csv} or the dataset root");
      path = (std::filesystem::path(ctx.data_dir) / "weights.csv").string();
    }
    weights_ = load_challenge_weights(path, opt_.equivalent);
    CT_CHECK(weights_.find(opt_.normal_class) >= 0, ConfigError, name_, ": the normal class ", opt_.normal_class,
             " is not a class of ", path);
    const auto& codes = ctx.class_codes.empty() ? ctx.class_names : ctx.class_codes;
    mapping_ = map_classes_to_weights(weights_, codes);
    int64_t mapped = 0;
    for (const auto& m : mapping_) mapped += !m.empty();
    CT_CHECK(mapped > 0, ConfigError, name_, ": none of the model's classes (", join(codes), ") is scored in ", path);
    if (mapping_[static_cast<size_t>(weights_.find(opt_.normal_class))].empty())
      CT_LOG_WARN(name_, ": the model has no class for the normal code ", opt_.normal_class,
                  "; its labels are taken as absent, which biases the score");
    if (mapped < weights_.size())
      CT_LOG_DEBUG(name_, ": ", weights_.size() - mapped, " of ", weights_.size(),
                   " scored classes have no model class (never labelled, never output)");
  }
  void compute(const EpochOutputs& e, MetricValues& out) const override {
    out[name_] = challenge_score(weights_, to_weights_order(e.targets, mapping_),
                                 to_weights_order(e.predictions, mapping_), opt_.normal_class);
  }

 private:
  std::string name_;
  ChallengeMetricOptions opt_;
  ChallengeWeights weights_;
  std::vector<std::vector<int64_t>> mapping_;
};

// ----------------------------------------------------------------------------------- AAMI

struct AamiMetricOptions {
  bool exclude_reference_q = true;
  bool fusion_as_veb_not_fp = true;
  template <class V>
  void fields(V& v) {
    v("exclude_reference_q", exclude_reference_q, "leave beats whose reference is Q out (EC57)");
    v("fusion_as_veb_not_fp", fusion_as_veb_not_fp, "F beats labelled V are not VEB false positives (EC57)");
  }
};

class AamiMetric : public Metric {
 public:
  explicit AamiMetric(const AamiMetricOptions& o) {
    opt_.exclude_reference_q = o.exclude_reference_q;
    opt_.fusion_as_veb_not_fp = o.fusion_as_veb_not_fp;
  }
  std::string name() const override { return "aami"; }
  std::vector<std::string> keys(const MetricContext&) const override {
    std::vector<std::string> k{"aami/accuracy"};
    for (const char* c : {"N", "S", "V", "F"})
      for (const char* s : {"se", "ppv", "fpr"}) k.push_back(str_cat("aami/", c, "_", s));
    return k;
  }
  bool higher_is_better(const std::string& key) const override { return !ends_with(key, "_fpr"); }
  bool supports(TaskKind t) const override { return t == TaskKind::kMulticlass; }
  void bind(const MetricContext& ctx) override {
    idx_ = find_classes(ctx, aami_classes());
    for (size_t i = 0; i < idx_.size(); ++i)
      CT_CHECK(idx_[i] >= 0, ConfigError, "aami: no class '", aami_classes()[i], "' among the classes (",
               join(ctx.class_names), "); the metric needs the AAMI classes N, S, V, F, Q (dataset mitdb)");
  }
  void compute(const EpochOutputs& e, MetricValues& out) const override {
    const int64_t c = e.confusion.size(0);
    at::Tensor cm = at::zeros({5, 5}, at::kLong);
    const at::Tensor src = e.confusion.contiguous();
    const int64_t* s = src.data_ptr<int64_t>();
    int64_t* d = cm.data_ptr<int64_t>();
    for (int r = 0; r < 5; ++r)
      for (int k = 0; k < 5; ++k) d[r * 5 + k] = s[idx_[static_cast<size_t>(r)] * c + idx_[static_cast<size_t>(k)]];
    const AamiReport rep = aami_statistics(cm, opt_);
    out["aami/accuracy"] = rep.gross_accuracy;
    const char* names[] = {"N", "S", "V", "F"};
    for (size_t i = 0; i < 4; ++i) {
      out[str_cat("aami/", names[i], "_se")] = rep.classes[i].se;
      out[str_cat("aami/", names[i], "_ppv")] = rep.classes[i].ppv;
      out[str_cat("aami/", names[i], "_fpr")] = rep.classes[i].fpr;
    }
  }

 private:
  AamiOptions opt_;
  std::vector<int64_t> idx_;
};

// ---------------------------------------------------------------------------- delineation

struct DelineationMetricOptions {
  double tolerance_ms = 150.0;
  bool skip_edge_boundaries = true;
  template <class V>
  void fields(V& v) {
    v("tolerance_ms", tolerance_ms, "a detected boundary within this many ms of a reference one is a hit");
    v("skip_edge_boundaries", skip_edge_boundaries, "waves cut by the window edge have no boundary there");
  }
  void validate() const { CT_CHECK(tolerance_ms > 0, ConfigError, "tolerance_ms must be > 0, got ", tolerance_ms); }
};

class DelineationMetric : public Metric {
 public:
  explicit DelineationMetric(const DelineationMetricOptions& o) {
    opt_.tolerance_ms = o.tolerance_ms;
    opt_.skip_edge_boundaries = o.skip_edge_boundaries;
  }
  std::string name() const override { return "delineation"; }
  std::vector<std::string> keys(const MetricContext& ctx) const override {
    std::vector<std::string> k{"delineation/f1"};
    for (const auto& c : ctx.class_names)
      for (const char* b : {"onset", "offset"})
        for (const char* s : {"se", "ppv", "f1", "error_mean_ms", "error_std_ms"})
          k.push_back(str_cat("delineation/", c, "_", b, "_", s));
    return k;
  }
  bool higher_is_better(const std::string& key) const override { return !ends_with(key, "_ms"); }
  bool supports(TaskKind t) const override { return t == TaskKind::kSegmentation; }
  bool streaming() const override { return true; }
  void bind(const MetricContext& ctx) override {
    CT_CHECK(ctx.fs > 0, ConfigError, "delineation: the metric context needs the sampling rate (fs) to turn ",
             opt_.tolerance_ms, " ms into samples");
    acc_ = std::make_unique<DelineationAccumulator>(ctx.class_names, ctx.fs, opt_);
  }
  void reset() override {
    if (acc_) acc_->reset();
  }
  void update(const at::Tensor& outputs, const at::Tensor& targets, const MetricContext& ctx) override {
    const at::Tensor p = ctx.from_logits ? at::sigmoid(outputs.to(at::kFloat)) : outputs.to(at::kFloat);
    acc_->add(p.ge(ctx.threshold).to(at::kFloat), targets);
  }
  void compute(const EpochOutputs&, MetricValues& out) const override {
    double f1_sum = 0;
    int64_t f1_n = 0;
    const auto& names = acc_->class_names();
    for (size_t c = 0; c < names.size(); ++c)
      for (int b = 0; b < 2; ++b) {
        const BoundaryStats s = b == 0 ? acc_->onset(c) : acc_->offset(c);
        const std::string p = str_cat("delineation/", names[c], b == 0 ? "_onset_" : "_offset_");
        out[p + "se"] = s.se;
        out[p + "ppv"] = s.ppv;
        out[p + "f1"] = s.f1;
        out[p + "error_mean_ms"] = s.mean_error_ms;
        out[p + "error_std_ms"] = s.std_error_ms;
        if (!std::isnan(s.f1)) f1_sum += s.f1, ++f1_n;
      }
    out["delineation/f1"] = f1_n ? f1_sum / static_cast<double>(f1_n) : kNaN;
  }

 private:
  DelineationOptions opt_;
  std::unique_ptr<DelineationAccumulator> acc_;
};

template <class M, class O>
auto with_options() {
  return make_from_options<M, O>;
}

const bool kChallengeNames = [] {
  for (const char* year : {"cinc2020", "cinc2021"})
    metric_registry().add(
        year,
        options_factory<Metric, ChallengeMetricOptions>(
            [name = std::string(year)](const ChallengeMetricOptions& o) -> std::shared_ptr<Metric> {
              return std::make_shared<ChallengeMetric>(name, o);
            }),
        str_cat("PhysioNet/CinC ", std::string(year).substr(4),
                " challenge score (weights.csv of the dataset root, normal class 426783006; 1 = perfect, 0 = always "
                "normal); options weights, normal_class, equivalent"),
        __FILE__, __LINE__);
  return true;
}();

}  // namespace

}  // namespace cardiotorch::train

CT_REGISTER(
    cardiotorch::train::metric_registry(), "cinc2017",
    (cardiotorch::train::with_options<cardiotorch::train::Cinc2017Metric, cardiotorch::train::Cinc2017MetricOptions>()),
    "PhysioNet/CinC 2017 score: mean F1 of N, A and O from the 4 x 4 confusion (score2017.m); option classes")
CT_REGISTER(cardiotorch::train::metric_registry(), "aami",
            (cardiotorch::train::with_options<cardiotorch::train::AamiMetric, cardiotorch::train::AamiMetricOptions>()),
            "beat classification Se/+P/FPR per AAMI class and gross accuracy (EC57, de Chazal 2004)")
CT_REGISTER(cardiotorch::train::metric_registry(), "delineation",
            (cardiotorch::train::with_options<cardiotorch::train::DelineationMetric,
                                              cardiotorch::train::DelineationMetricOptions>()),
            "wave onset/offset Se, +P, F1 and error (ms) within a tolerance (LUDB style); option tolerance_ms")
