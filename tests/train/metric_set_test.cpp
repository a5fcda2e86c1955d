// MetricSet: batch-by-batch accumulation equals the functions on the whole epoch (and so
// sklearn), registry errors, monitors, thresholds, and the dataset-bound ECG metrics.
#include <gtest/gtest.h>

#include <cmath>

#include "cardiotorch/core/error.h"
#include "cardiotorch/data/adapters.h"
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/train/metric_set.h"
#include "cardiotorch/train/metrics_ecg.h"
#include "train/fixture_util.h"

namespace tr = cardiotorch::train;
using cardiotorch::ConfigError;
using cardiotorch::ConfigNode;
using cardiotorch::ShapeError;
using cardiotorch::test::load_json_fixture;
using cardiotorch::test::num;
using cardiotorch::test::nums;
using cardiotorch::test::tensor_of;

namespace {

// A copy: the fixture document is a temporary at the call sites.
nlohmann::json find_case(const nlohmann::json& list, const std::string& name) {
  for (const auto& c : list)
    if (c["name"] == name) return c;
  throw std::runtime_error("no fixture case " + name);
}

tr::MetricContext ctx_of(tr::TaskKind task, int64_t n_classes) {
  tr::MetricContext c;
  c.task = task;
  for (int64_t i = 0; i < n_classes; ++i) c.class_names.push_back("c" + std::to_string(i));
  return c;
}

// Feeds rows [0, N) in batches of `batch`.
void feed(tr::MetricSet& set, const at::Tensor& outputs, const at::Tensor& targets, int64_t batch) {
  for (int64_t i = 0; i < outputs.size(0); i += batch)
    set.update(outputs.slice(0, i, i + batch), targets.slice(0, i, i + batch));
}

}  // namespace

TEST(MetricSet, RegistryListsEveryFamily) {
  const auto names = tr::metric_registry().names();
  for (const char* n : {"accuracy",
                        "top_k_accuracy",
                        "balanced_accuracy",
                        "mcc",
                        "f1_macro",
                        "f1_micro",
                        "f1_weighted",
                        "f1_per_class",
                        "precision_macro",
                        "recall_macro",
                        "sensitivity_per_class",
                        "specificity_macro",
                        "auroc_macro",
                        "auroc_micro",
                        "auroc_weighted",
                        "auroc_per_class",
                        "auprc_macro",
                        "cinc2017",
                        "cinc2020",
                        "cinc2021",
                        "aami",
                        "delineation",
                        "mse",
                        "mae",
                        "r2",
                        "ncc"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  EXPECT_EQ(&cardiotorch::registry_of("metric"), &tr::metric_registry());
}

TEST(MetricSet, MulticlassLogitsInBatchesMatchSklearn) {
  const auto c = find_case(load_json_fixture("classification.json")["multiclass"], "c5_random");
  const at::Tensor p = tensor_of(c["p"]), y = tensor_of(c["y"], true);
  tr::MetricSet set(ctx_of(tr::TaskKind::kMulticlass, 5),
                    ConfigNode::parse("[accuracy, balanced_accuracy, mcc, f1_macro, f1_weighted, precision_micro, "
                                      "f1_per_class, auroc_macro, auroc_per_class, auprc_macro, "
                                      "{name: top_k_accuracy, k: 3}, {name: recall_macro, zero_division: 1}, "
                                      "sensitivity_per_class]"));
  feed(set, at::log(p).to(at::kFloat).to(at::kDouble), y, 7);  // logits: softmax(log p) = p
  EXPECT_EQ(set.count(), 60);
  const tr::MetricValues v = set.compute();
  EXPECT_NEAR(v.at("accuracy"), num(c["accuracy"]), 1e-12);
  EXPECT_NEAR(v.at("balanced_accuracy"), num(c["balanced_accuracy"]), 1e-12);
  EXPECT_NEAR(v.at("mcc"), num(c["mcc"]), 1e-12);
  EXPECT_NEAR(v.at("f1_macro"), num(c["zd0"]["f1_macro"]), 1e-12);
  EXPECT_NEAR(v.at("f1_weighted"), num(c["zd0"]["f1_weighted"]), 1e-12);
  EXPECT_NEAR(v.at("precision_micro"), num(c["zd0"]["precision_micro"]), 1e-12);
  EXPECT_NEAR(v.at("recall_macro"), num(c["zd1"]["recall_macro"]), 1e-12);
  EXPECT_NEAR(v.at("top3_accuracy"), num(c["top_k"]["3"]), 1e-12);
  EXPECT_NEAR(v.at("auroc_macro"), num(c["auroc_macro"]), 1e-6);  // float logits: ranks may shift at 1e-7
  EXPECT_NEAR(v.at("auprc_macro"), num(c["ap_macro"]), 1e-6);
  const auto f1 = nums(c["zd0"]["f1_per_class"]);
  const auto recall = nums(c["zd0"]["recall_per_class"]);
  for (int k = 0; k < 5; ++k) {
    EXPECT_NEAR(v.at("f1/c" + std::to_string(k)), f1[static_cast<size_t>(k)], 1e-12);
    EXPECT_NEAR(v.at("sensitivity/c" + std::to_string(k)), recall[static_cast<size_t>(k)], 1e-12);
  }
  EXPECT_EQ(v.count("auroc/c4"), 1u);
  // reset() starts a new epoch; an empty epoch is NaN.
  set.reset();
  EXPECT_EQ(set.count(), 0);
  EXPECT_TRUE(std::isnan(set.compute().at("f1_macro")));
}

TEST(MetricSet, MultilabelProbabilitiesWithTiesMatchSklearn) {
  const auto c = find_case(load_json_fixture("multilabel.json")["multilabel"], "l4_ties");
  const at::Tensor s = tensor_of(c["s"]), y = tensor_of(c["y"]);
  tr::MetricContext ctx = ctx_of(tr::TaskKind::kMultilabel, 4);
  ctx.from_logits = false;
  tr::MetricSet set(ctx, std::vector<std::string>{"accuracy", "f1_micro", "auroc_macro", "auroc_micro",
                                                  "auprc_weighted", "specificity_macro", "mcc"});
  feed(set, s.to(at::kFloat), y, 16);  // float32 outputs, as a model returns them (0.1 steps: exact ties kept)
  const tr::MetricValues v = set.compute();
  EXPECT_NEAR(v.at("accuracy"), num(c["subset_accuracy"]), 1e-12);
  EXPECT_NEAR(v.at("f1_micro"), num(c["zd0"]["f1_micro"]), 1e-12);
  EXPECT_NEAR(v.at("specificity_macro"), num(c["zd0"]["specificity_macro"]), 1e-12);
  EXPECT_NEAR(v.at("auroc_macro"), num(c["auroc_macro"]), 1e-12);
  EXPECT_NEAR(v.at("auroc_micro"), num(c["auroc_micro"]), 1e-12);
  EXPECT_NEAR(v.at("auprc_weighted"), num(c["ap_weighted"]), 1e-12);
  const auto mcc = nums(c["mcc_per_class"]);
  EXPECT_NEAR(v.at("mcc"), (mcc[0] + mcc[1] + mcc[2] + mcc[3]) / 4, 1e-12);
}

TEST(MetricSet, ThresholdsTunedOnValidationApplyToTest) {
  const auto c = find_case(load_json_fixture("multilabel.json")["multilabel"], "l4_random");
  const at::Tensor s = tensor_of(c["s"]), y = tensor_of(c["y"]);
  tr::MetricContext ctx = ctx_of(tr::TaskKind::kMultilabel, 4);
  ctx.from_logits = false;
  tr::MetricSet val(ctx, std::vector<std::string>{"f1_per_class", "f1_macro"});
  feed(val, s, y, 10);
  const auto tuned = val.tune_thresholds(tr::ThresholdObjective::kF1);
  ASSERT_EQ(tuned.size(), 4u);
  std::vector<double> t;
  for (const auto& x : tuned) t.push_back(x.threshold);
  tr::MetricSet test(ctx, std::vector<std::string>{"f1_per_class", "f1_macro"});
  test.set_thresholds(t);
  feed(test, s, y, 50);  // same data: the tuned F1 is reached
  const tr::MetricValues v = test.compute();
  const auto best = nums(c["best_f1"]);
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(v.at("f1/c" + std::to_string(k)), best[static_cast<size_t>(k)], 1e-12);
  EXPECT_GE(v.at("f1_macro"), val.compute().at("f1_macro"));
  EXPECT_THROW(test.set_thresholds({0.5}), ConfigError);
}

// Multiclass decisions: offsets on log p tuned on validation. A model that never calls class 1
// (its class-1 rows have p = 0.4 against 0.6, the others 0.1 against 0.9) gets the offset gap
// that separates them: the smallest on the grid, so p1 / p0 = 0.4 / 0.6 must just win.
TEST(MetricSet, ClassOffsetsTunedOnValidationFindTheMissedClass) {
  const int64_t n0 = 100, n1 = 50;
  at::Tensor p = at::empty({n0 + n1, 2}, at::kDouble), y = at::zeros({n0 + n1}, at::kLong);
  p.slice(0, 0, n0).select(1, 1).fill_(0.1);
  p.slice(0, n0).select(1, 1).fill_(0.4);
  p.select(1, 0).copy_(1 - p.select(1, 1));
  y.slice(0, n0).fill_(1);
  tr::MetricContext ctx = ctx_of(tr::TaskKind::kMulticlass, 2);
  ctx.from_logits = false;
  tr::MetricSet val(ctx, std::vector<std::string>{"f1_macro", "accuracy"});
  feed(val, p, y, 32);
  EXPECT_NEAR(val.compute().at("f1_macro"), (2.0 * 100 / (2 * 100 + 50)) / 2, 1e-12);  // class 1 never predicted
  const tr::TunedDecisions d = val.tune_decisions(tr::DecisionTuning{"f1", 10, {}, 3.0});
  ASSERT_EQ(d.offsets.size(), 2u);
  EXPECT_TRUE(d.thresholds.empty());
  EXPECT_EQ(d.tuned, (std::vector<bool>{true, true}));
  EXPECT_EQ(d.reference, 0);  // the most frequent class anchors the offsets
  EXPECT_EQ(d.offsets[0], 0.0);
  const double gap = d.offsets[1] - d.offsets[0];
  EXPECT_GT(gap, std::log(0.6 / 0.4));
  EXPECT_LT(gap, std::log(0.6 / 0.4) + 0.05 + 1e-9);  // the nearest grid point: the smallest change
  EXPECT_DOUBLE_EQ(d.after, 1.0);
  EXPECT_LT(d.before, 0.5);
  // Applied: every row decided right; AUROC-type metrics would not change, accuracy does.
  val.set_class_offsets(d.offsets);
  EXPECT_DOUBLE_EQ(val.compute().at("accuracy"), 1.0);
  EXPECT_TRUE(at::equal(tr::offset_argmax_predictions(p, d.offsets), y));
  EXPECT_TRUE(at::equal(tr::offset_argmax_predictions(p, {}), at::zeros({n0 + n1}, at::kLong)));
  EXPECT_THROW(val.set_class_offsets({0.0}), ConfigError);
  EXPECT_THROW(val.set_class_offsets({0.0, std::nan("")}), ConfigError);
  EXPECT_THROW(tr::offset_argmax_predictions(p, {0.0, 0.0, 0.0}), ShapeError);

  // A class with too few validation positives is neither tuned nor scored.
  const tr::TunedDecisions few = val.tune_decisions(tr::DecisionTuning{"f1", 60, {}, 3.0});
  EXPECT_EQ(few.tuned, (std::vector<bool>{true, false}));
  EXPECT_EQ(few.offsets, (std::vector<double>{0.0, 0.0}));  // the reference alone: nothing to move
  EXPECT_EQ(few.after, few.before);
  // Only the listed classes are tuned; an unknown name is refused with the class list.
  const tr::TunedDecisions listed = val.tune_decisions(tr::DecisionTuning{"f1", 10, {"c1", "c0"}, 3.0});
  EXPECT_EQ(listed.offsets, d.offsets);
  EXPECT_EQ(val.tune_decisions(tr::DecisionTuning{"f1", 10, {"c1"}, 3.0}).offsets, (std::vector<double>{0.0, 0.0}));
  try {
    val.tune_decisions(tr::DecisionTuning{"f1", 10, {"c7"}, 3.0});
    ADD_FAILURE() << "an unknown class was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'c7' is not a class (c0, c1)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(val.tune_decisions(tr::DecisionTuning{"f1", 10, {"c0", "c0"}, 3.0}), ConfigError);
  // Decisions already optimal: nothing moves.
  tr::MetricSet right(ctx, std::vector<std::string>{"f1_macro"});
  feed(right, tr::one_hot(y, 2).to(at::kDouble) * 0.8 + 0.1, y, 64);
  const tr::TunedDecisions none = right.tune_decisions(tr::DecisionTuning{"youden", 10, {}, 3.0});
  EXPECT_EQ(none.offsets, (std::vector<double>{0.0, 0.0}));
  EXPECT_DOUBLE_EQ(none.before, 1.0);
  EXPECT_DOUBLE_EQ(none.after, 1.0);
  EXPECT_THROW(right.tune_decisions(tr::DecisionTuning{"none", 10, {}, 3.0}), ConfigError);
  EXPECT_THROW(right.tune_decisions(tr::DecisionTuning{"f2", 10, {}, 3.0}), ConfigError);
}

// On random 4-class outputs the search never ends below where it starts, and the value it
// reports is the f1_macro (sklearn's) of the decisions it chose.
TEST(MetricSet, ClassOffsetsReportTheMacroF1TheyReach) {
  at::manual_seed(3);
  const int64_t n = 400;
  const at::Tensor y = at::randint(4, {n}, at::kLong);
  // Informative but miscalibrated: the true class gets a boost, class 3 is scaled down.
  at::Tensor logits = at::randn({n, 4}, at::kDouble) + 1.5 * tr::one_hot(y, 4).to(at::kDouble);
  logits.select(1, 3).sub_(1.0);
  const at::Tensor p = at::softmax(logits, 1);
  tr::MetricContext ctx = ctx_of(tr::TaskKind::kMulticlass, 4);
  ctx.from_logits = false;
  for (const char* objective : {"f1", "youden"}) {
    tr::MetricSet val(ctx, std::vector<std::string>{"f1_macro", "recall_per_class", "specificity_per_class"});
    feed(val, p, y, 100);
    const double f1_before = val.compute().at("f1_macro");
    const tr::TunedDecisions d = val.tune_decisions(tr::DecisionTuning{objective, 10, {}, 3.0});
    EXPECT_GE(d.after, d.before) << objective;
    val.set_class_offsets(d.offsets);
    const tr::MetricValues v = val.compute();
    if (std::string(objective) == "f1") {
      EXPECT_NEAR(d.before, f1_before, 1e-12);
      EXPECT_NEAR(d.after, v.at("f1_macro"), 1e-12);
      EXPECT_GT(d.after, d.before + 0.01);  // class 3 was under-called
      EXPECT_GT(d.offsets[3] - d.offsets[0], 0.0);
    } else {
      double j = 0;
      for (int k = 0; k < 4; ++k)
        j += v.at("recall/c" + std::to_string(k)) + v.at("specificity/c" + std::to_string(k)) - 1;
      EXPECT_NEAR(d.after, j / 4, 1e-12);
    }
    for (double x : d.offsets) EXPECT_LE(std::abs(x), 3.0 + 1e-12);
  }
}

// Multilabel: the per-class thresholds of tune_thresholds, but a class with too few positives
// keeps the default.
TEST(MetricSet, DecisionTuningForMultilabelIsPerClassThresholds) {
  const auto c = find_case(load_json_fixture("multilabel.json")["multilabel"], "l4_random");
  const at::Tensor s = tensor_of(c["s"]), y = tensor_of(c["y"]);
  tr::MetricContext ctx = ctx_of(tr::TaskKind::kMultilabel, 4);
  ctx.from_logits = false;
  tr::MetricSet val(ctx, std::vector<std::string>{"f1_macro"});
  feed(val, s, y, 10);
  const auto tuned = val.tune_thresholds(tr::ThresholdObjective::kF1);
  const tr::TunedDecisions d = val.tune_decisions(tr::DecisionTuning{"f1", 1, {}, 3.0});
  ASSERT_EQ(d.thresholds.size(), 4u);
  EXPECT_TRUE(d.offsets.empty());
  double mean = 0;
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(d.thresholds[k], tuned[k].threshold) << k;
    mean += tuned[k].value / 4;
  }
  EXPECT_NEAR(d.after, mean, 1e-12);
  EXPECT_GE(d.after, d.before);
  const at::Tensor positives = y.sum(0);
  const int64_t fewest = positives.min().item<int64_t>();
  const tr::TunedDecisions strict = val.tune_decisions(tr::DecisionTuning{"f1", fewest + 1, {}, 3.0});
  for (int64_t k = 0; k < 4; ++k) {
    const bool keep = positives[k].item<int64_t>() <= fewest;
    EXPECT_EQ(strict.tuned[static_cast<size_t>(k)], !keep) << k;
    if (keep) {
      EXPECT_EQ(strict.thresholds[static_cast<size_t>(k)], 0.5) << k;
    }
  }
}

TEST(MetricSet, ConfigErrorsNameTheProblem) {
  const auto mc = ctx_of(tr::TaskKind::kMulticlass, 3);
  auto message = [&](const std::string& yaml, const tr::MetricContext& ctx) {
    try {
      tr::MetricSet s(ctx, ConfigNode::parse(yaml));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("[f1_macor]", mc).find("did you mean 'f1_macro'"), std::string::npos);
  EXPECT_NE(message("[mse]", mc).find("does not apply to a multiclass task"), std::string::npos);
  EXPECT_NE(message("[f1_macro, f1_macro]", mc).find("computed twice"), std::string::npos);
  EXPECT_NE(message("[{name: top_k_accuracy, kk: 2}]", mc).find("kk"), std::string::npos);
  EXPECT_NE(message("[{name: f1_macro, zero_division: 2}]", mc).find("zero_division"), std::string::npos);
  EXPECT_NE(message("[cinc2017]", mc).find("no class 'N'"), std::string::npos);
  EXPECT_NE(message("[auroc_macro]", tr::MetricContext{}).find("class names"), std::string::npos);
  auto ml = ctx_of(tr::TaskKind::kMultilabel, 3);
  EXPECT_NE(message("[cinc2021]", ml).find("weights.csv"), std::string::npos);
}

TEST(MetricSet, UpdateChecksShapes) {
  tr::MetricSet mc(ctx_of(tr::TaskKind::kMulticlass, 3), std::vector<std::string>{"accuracy"});
  EXPECT_THROW(mc.update(at::rand({4, 2}), at::zeros({4}, at::kLong)), ShapeError);
  EXPECT_THROW(mc.update(at::rand({4, 3}), at::zeros({5}, at::kLong)), ShapeError);
  EXPECT_THROW(mc.update(at::rand({4, 3}), at::tensor({0, 1, 2, 7})), ShapeError);  // label 7 of 3 classes
  EXPECT_EQ(mc.count(), 0);
  tr::MetricSet ml(ctx_of(tr::TaskKind::kMultilabel, 3), std::vector<std::string>{"f1_macro"});
  EXPECT_THROW(ml.update(at::rand({4, 3}), at::zeros({4}, at::kLong)), ShapeError);
  EXPECT_THROW(ml.update(at::rand({2, 3}), at::full({2, 3}, 0.9)), cardiotorch::DataError);  // soft labels
  // Binary with one output column: (N) logits and (N) targets are accepted.
  tr::MetricSet bin(ctx_of(tr::TaskKind::kMultilabel, 1), std::vector<std::string>{"auroc_macro", "f1_macro"});
  bin.update(at::tensor({2.0, -1.0, 0.5, -3.0}), at::tensor({1.0, 0.0, 0.0, 0.0}));
  EXPECT_DOUBLE_EQ(bin.compute().at("auroc_macro"), 1.0);
  EXPECT_DOUBLE_EQ(bin.compute().at("f1_macro"), 2.0 / 3);  // sigmoid(0.5) >= 0.5: one FP
}

TEST(MetricSet, MonitorsKnowTheirDirection) {
  tr::MetricSet set(ctx_of(tr::TaskKind::kMulticlass, 3), std::vector<std::string>{"auroc_macro", "f1_per_class"});
  const tr::Monitor m = tr::parse_monitor("val/auroc_macro", set);
  EXPECT_EQ(m.split, "val");
  EXPECT_EQ(m.key, "auroc_macro");
  EXPECT_TRUE(m.higher_is_better);
  EXPECT_TRUE(m.improved(0.8, 0.81));
  EXPECT_FALSE(m.improved(0.8, 0.805, 0.01));
  EXPECT_TRUE(m.improved(NAN, 0.5));
  EXPECT_FALSE(m.improved(0.5, NAN));
  const tr::Monitor loss = tr::parse_monitor("val/loss", set);
  EXPECT_FALSE(loss.higher_is_better);
  EXPECT_TRUE(loss.improved(0.5, 0.4));
  EXPECT_TRUE(tr::parse_monitor("val/f1/c2", set).higher_is_better);
  EXPECT_THROW(tr::parse_monitor("auroc_macro", set), ConfigError);
  try {
    tr::parse_monitor("val/auroc_macr", set);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'auroc_macro'"), std::string::npos) << e.what();
  }
  tr::MetricSet reg(ctx_of(tr::TaskKind::kRegression, 0), std::vector<std::string>{"mse", "r2", "ncc"});
  EXPECT_FALSE(tr::parse_monitor("val/mse", reg).higher_is_better);
  EXPECT_TRUE(tr::parse_monitor("val/ncc", reg).higher_is_better);
}

TEST(MetricSet, RegressionAndReconstructionStream) {
  const auto c = find_case(load_json_fixture("regression.json")["regression"], "3d");
  tr::MetricSet set(ctx_of(tr::TaskKind::kRegression, 0), std::vector<std::string>{"mse", "mae", "r2"});
  feed(set, tensor_of(c["p"]), tensor_of(c["y"]), 4);
  const tr::MetricValues v = set.compute();
  EXPECT_NEAR(v.at("mse"), num(c["mse"]), 1e-12);
  EXPECT_NEAR(v.at("mae"), num(c["mae"]), 1e-12);
  EXPECT_NEAR(v.at("r2"), num(c["r2"]), 1e-10);
  const auto n = find_case(load_json_fixture("ncc.json")["ncc"], "n3c1h2");
  const auto shape = n["shape"].get<std::vector<int64_t>>();
  tr::MetricSet rec(ctx_of(tr::TaskKind::kRegression, 0), std::vector<std::string>{"ncc"});
  feed(rec, tensor_of(n["y"]).reshape(shape), tensor_of(n["x"]).reshape(shape), 2);
  EXPECT_NEAR(rec.compute().at("ncc"), num(n["ncc"]), 1e-12);
}

TEST(MetricSet, Cinc2017AndAamiThroughClassNames) {
  tr::MetricContext ctx;
  ctx.class_names = {"N", "A", "O", "~"};
  ctx.from_logits = false;
  tr::MetricSet set(ctx, std::vector<std::string>{"cinc2017"});
  // Predictions equal to the hand case of Cinc2017Score: build rows from the confusion.
  const int64_t cm[4][4] = {{50, 2, 5, 1}, {3, 20, 2, 0}, {6, 1, 30, 2}, {1, 0, 2, 5}};
  std::vector<int64_t> y;
  std::vector<double> p;
  for (int r = 0; r < 4; ++r)
    for (int k = 0; k < 4; ++k)
      for (int64_t i = 0; i < cm[r][k]; ++i) {
        y.push_back(r);
        for (int j = 0; j < 4; ++j) p.push_back(j == k ? 0.7 : 0.1);
      }
  set.update(at::tensor(p).reshape({-1, 4}), at::tensor(y));
  const tr::MetricValues v = set.compute();
  EXPECT_NEAR(v.at("cinc2017"), (100.0 / 118 + 40.0 / 48 + 60.0 / 78) / 3, 1e-15);
  EXPECT_NEAR(v.at("cinc2017/F1p"), 10.0 / 16, 1e-15);

  tr::MetricContext beats;
  beats.class_names = {"N", "S", "V", "F", "Q"};
  tr::MetricSet aami(beats, std::vector<std::string>{"aami"});
  aami.update(at::tensor(std::vector<double>{5, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 5, 0, 0}).reshape({3, 5}),
              at::tensor({0, 1, 2}));
  const tr::MetricValues a = aami.compute();
  EXPECT_NEAR(a.at("aami/accuracy"), 2.0 / 3, 1e-15);
  EXPECT_DOUBLE_EQ(a.at("aami/S_se"), 0.0);
  EXPECT_DOUBLE_EQ(a.at("aami/V_ppv"), 0.5);
  EXPECT_FALSE(tr::parse_monitor("val/aami/V_fpr", aami).higher_is_better);
}

TEST(MetricSet, Cinc2021ScoreOnTheBundledSample) {
  cardiotorch::data::CincOptions o;
  o.root = cardiotorch::test::source_path("data/sample/cinc2021");
  const auto ds = cardiotorch::data::make_cinc(o, "cinc2021");
  tr::MetricContext ctx = tr::context_for(ds->info());
  EXPECT_EQ(ctx.task, tr::TaskKind::kMultilabel);
  EXPECT_EQ(ctx.data_dir, o.root);
  const int64_t n = ds->size(), c = ctx.n_classes();
  at::Tensor labels = at::zeros({n, c});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k : ds->item(i).classes) labels[i][k] = 1;
  tr::MetricSet set(ctx, ConfigNode::parse("[cinc2021, {name: cinc2020, weights: " + o.root + "/weights.csv}]"));
  set.update(labels * 8 - 4, labels);  // logits: +4 where labelled, -4 elsewhere
  EXPECT_NEAR(set.compute().at("cinc2021"), 1.0, 1e-12);
  EXPECT_NEAR(set.compute().at("cinc2020"), 1.0, 1e-12);
  // Always the normal class (sinus rhythm) scores 0.
  const auto& codes = ds->info().class_codes;
  int64_t normal = -1;
  for (size_t k = 0; k < codes.size(); ++k)
    if (codes[k].find(tr::kChallengeNormalCode) != std::string::npos) normal = static_cast<int64_t>(k);
  ASSERT_GE(normal, 0);
  at::Tensor always_normal = at::full({n, c}, -4.0);
  always_normal.select(1, normal).fill_(4.0);
  set.reset();
  set.update(always_normal, labels);
  EXPECT_NEAR(set.compute().at("cinc2021"), 0.0, 1e-12);
}

TEST(MetricSet, DelineationOnSegmentationOutputs) {
  tr::MetricContext ctx = ctx_of(tr::TaskKind::kSegmentation, 2);
  ctx.fs = 100;
  tr::MetricSet set(ctx, ConfigNode::parse("[{name: delineation, tolerance_ms: 50}]"));
  at::Tensor ref = at::zeros({2, 2, 100});
  ref.select(1, 0).slice(1, 20, 31).fill_(1);
  ref.select(1, 1).slice(1, 50, 61).fill_(1);
  set.update(ref * 10 - 5, ref);  // logits
  const tr::MetricValues v = set.compute();
  EXPECT_DOUBLE_EQ(v.at("delineation/f1"), 1.0);
  EXPECT_DOUBLE_EQ(v.at("delineation/c1_offset_error_mean_ms"), 0.0);
  EXPECT_FALSE(set.higher_is_better("delineation/c0_onset_error_std_ms"));
  ctx.fs = 0;
  EXPECT_THROW(tr::MetricSet(ctx, std::vector<std::string>{"delineation"}), ConfigError);
}
