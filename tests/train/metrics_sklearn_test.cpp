// Parity of train/metrics.h with scikit-learn 1.2.1 (tests/fixtures/train/make_fixtures.py).
#include <gtest/gtest.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/train/metrics.h"
#include "train/fixture_util.h"

namespace tr = cardiotorch::train;
using cardiotorch::test::expect_all_close;
using cardiotorch::test::expect_close;
using cardiotorch::test::load_json_fixture;
using cardiotorch::test::num;
using cardiotorch::test::nums;
using cardiotorch::test::tensor_of;
using nlohmann::json;

namespace {

constexpr double kTol = 1e-12;

std::vector<double> column_of(const json& mcm, int which) {  // mcm[c] = [[tn, fp], [fn, tp]]
  std::vector<double> v;
  for (const auto& m : mcm) v.push_back(m[which / 2][which % 2].get<double>());
  return v;
}

// Checks counts, per-class and averaged precision/recall/F1/specificity against a fixture case.
void check_count_scores(const std::vector<tr::BinaryCounts>& counts, const json& c, const std::string& name) {
  const auto tn = column_of(c["mcm"], 0), fp = column_of(c["mcm"], 1), fn = column_of(c["mcm"], 2),
             tp = column_of(c["mcm"], 3);
  ASSERT_EQ(counts.size(), tp.size()) << name;
  for (size_t k = 0; k < counts.size(); ++k) {
    EXPECT_EQ(counts[k].tp, tp[k]) << name;
    EXPECT_EQ(counts[k].fp, fp[k]) << name;
    EXPECT_EQ(counts[k].fn, fn[k]) << name;
    EXPECT_EQ(counts[k].tn, tn[k]) << name;
  }
  const std::pair<const char*, tr::ZeroDivision> zds[] = {{"zd0", tr::ZeroDivision::kZero},
                                                          {"zd1", tr::ZeroDivision::kOne}};
  const std::pair<const char*, tr::CountScore> scores[] = {{"precision", tr::CountScore::kPrecision},
                                                           {"recall", tr::CountScore::kRecall},
                                                           {"f1", tr::CountScore::kF1},
                                                           {"specificity", tr::CountScore::kSpecificity}};
  const std::pair<const char*, tr::Average> avgs[] = {
      {"macro", tr::Average::kMacro}, {"micro", tr::Average::kMicro}, {"weighted", tr::Average::kWeighted}};
  for (const auto& [zname, zd] : zds)
    for (const auto& [sname, score] : scores) {
      const json& blk = c[zname];
      const std::string what = name + " " + zname + " " + sname;
      expect_all_close(tr::per_class_score(score, counts, zd), nums(blk[std::string(sname) + "_per_class"]), kTol,
                       what + " per class");
      for (const auto& [aname, avg] : avgs)
        expect_close(tr::averaged_score(score, counts, avg, zd), num(blk[std::string(sname) + "_" + aname]), kTol,
                     what + " " + aname);
    }
}

void check_rankings(const at::Tensor& scores, const at::Tensor& targets, const json& c, const std::string& name) {
  expect_all_close(tr::per_class_auroc(scores, targets), nums(c["auroc"]), kTol, name + " auroc");
  expect_close(tr::auroc(scores, targets, tr::Average::kMacro), num(c["auroc_macro"]), kTol, name + " auroc macro");
  expect_close(tr::auroc(scores, targets, tr::Average::kWeighted), num(c["auroc_weighted"]), kTol,
               name + " auroc weighted");
  expect_close(tr::auroc(scores, targets, tr::Average::kMicro), num(c["auroc_micro"]), kTol, name + " auroc micro");
  expect_all_close(tr::per_class_average_precision(scores, targets), nums(c["ap"]), kTol, name + " ap");
  expect_close(tr::average_precision(scores, targets, tr::Average::kMacro), num(c["ap_macro"]), kTol,
               name + " ap macro");
  expect_close(tr::average_precision(scores, targets, tr::Average::kMicro), num(c["ap_micro"]), kTol,
               name + " ap micro");
  expect_close(tr::average_precision(scores, targets, tr::Average::kWeighted), num(c["ap_weighted"]), kTol,
               name + " ap weighted");
}

}  // namespace

TEST(MetricsSklearn, BinaryAurocApAndCurves) {
  const json fx = load_json_fixture("classification.json");
  ASSERT_EQ(fx["sklearn"], "1.2.1");
  for (const auto& c : fx["binary"]) {
    const std::string name = c["name"];
    const at::Tensor y = tensor_of(c["y"], true), s = tensor_of(c["s"]);
    expect_close(tr::roc_auc(s, y), num(c["auroc"]), kTol, name + " auroc");
    expect_close(tr::average_precision(s, y), num(c["ap"]), kTol, name + " ap");
    const tr::RocCurve roc = tr::roc_curve(s, y);
    expect_all_close(roc.fpr, nums(c["roc_fpr"]), kTol, name + " roc fpr");
    expect_all_close(roc.tpr, nums(c["roc_tpr"]), kTol, name + " roc tpr");
    expect_close(roc.auc, num(c["auroc"]), kTol, name + " roc auc");
    const tr::PrCurve pr = tr::precision_recall_curve(s, y);
    expect_all_close(pr.precision, nums(c["pr_precision"]), kTol, name + " pr precision");
    expect_all_close(pr.recall, nums(c["pr_recall"]), kTol, name + " pr recall");
  }
}

TEST(MetricsSklearn, AurocIsTheTiedPairProbability) {
  // An invariant independent of sklearn: AUROC = P(s+ > s-) + P(s+ = s-)/2 over all pairs.
  const json fx = load_json_fixture("classification.json");
  for (const auto& c : fx["binary"]) {
    const auto y = nums(c["y"]), s = nums(c["s"]);
    double num_pairs = 0, wins = 0;
    for (size_t i = 0; i < y.size(); ++i)
      for (size_t j = 0; j < y.size(); ++j)
        if (y[i] == 1 && y[j] == 0) {
          ++num_pairs;
          wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
        }
    const double auc = tr::roc_auc(tensor_of(c["s"]), tensor_of(c["y"], true));
    if (num_pairs == 0) EXPECT_TRUE(std::isnan(auc));
    else EXPECT_NEAR(auc, wins / num_pairs, 1e-12) << c["name"];
  }
}

TEST(MetricsSklearn, MulticlassCountsAndSummaries) {
  const json fx = load_json_fixture("classification.json");
  for (const auto& c : fx["multiclass"]) {
    const std::string name = c["name"];
    const int64_t k = c["n_classes"];
    const at::Tensor y = tensor_of(c["y"], true), p = tensor_of(c["p"]);
    const at::Tensor pred = tr::argmax_predictions(p);
    EXPECT_TRUE(pred.equal(tensor_of(c["pred"], true))) << name;
    const at::Tensor cm = tr::confusion_matrix(y, pred, k);
    EXPECT_TRUE(cm.equal(tensor_of(c["confusion"], true))) << name;
    expect_close(tr::accuracy(y, pred), num(c["accuracy"]), kTol, name + " accuracy");
    expect_close(tr::balanced_accuracy(cm), num(c["balanced_accuracy"]), kTol, name + " balanced accuracy");
    expect_close(tr::matthews_corrcoef(cm), num(c["mcc"]), kTol, name + " mcc");
    for (auto it = c["top_k"].begin(); it != c["top_k"].end(); ++it)
      expect_close(tr::top_k_accuracy(p, y, std::stoi(it.key())), num(it.value()), kTol, name + " top" + it.key());
    check_count_scores(tr::one_vs_rest_counts(cm), c, name);
  }
}

TEST(MetricsSklearn, MulticlassRankingsOneVsRest) {
  const json fx = load_json_fixture("classification.json");
  for (const auto& c : fx["multiclass"]) {
    const at::Tensor y = tensor_of(c["y"], true), p = tensor_of(c["p"]);
    check_rankings(p, tr::one_hot(y, c["n_classes"].get<int64_t>()), c, c["name"]);
  }
}

TEST(MetricsSklearn, MultilabelCountsRankingsAndMcc) {
  const json fx = load_json_fixture("multilabel.json");
  ASSERT_EQ(fx["sklearn"], "1.2.1");
  for (const auto& c : fx["multilabel"]) {
    const std::string name = c["name"];
    const at::Tensor y = tensor_of(c["y"], true), s = tensor_of(c["s"]);
    const at::Tensor pred = tr::threshold_predictions(s, c["threshold"].get<double>());
    EXPECT_TRUE(pred.to(at::kLong).equal(tensor_of(c["pred"], true))) << name;
    expect_close(tr::accuracy(y, pred), num(c["subset_accuracy"]), kTol, name + " subset accuracy");
    const auto counts = tr::multilabel_counts(y, pred);
    check_count_scores(counts, c, name);
    check_rankings(s, y, c, name);
    const auto mcc = nums(c["mcc_per_class"]);
    for (size_t k = 0; k < counts.size(); ++k)
      expect_close(tr::matthews_corrcoef(counts[k]), mcc[k], kTol, name + " mcc " + std::to_string(k));
  }
}

TEST(MetricsSklearn, ZeroDivisionNanLeavesUndefinedClassesOutOfAverages) {
  // l4_degenerate: label 2 has no positive and is never predicted (tp = fp = fn = 0).
  const json fx = load_json_fixture("multilabel.json");
  const json* deg = nullptr;
  for (const auto& c : fx["multilabel"])
    if (c["name"] == "l4_degenerate") deg = &c;
  ASSERT_NE(deg, nullptr);
  const at::Tensor y = tensor_of((*deg)["y"], true), s = tensor_of((*deg)["s"]);
  const auto counts = tr::multilabel_counts(y, tr::threshold_predictions(s, 0.5));
  const auto f1 = tr::per_class_score(tr::CountScore::kF1, counts, tr::ZeroDivision::kNaN);
  EXPECT_TRUE(std::isnan(f1[2]));
  const auto f1_zero = nums((*deg)["zd0"]["f1_per_class"]);
  for (size_t k : {0u, 1u, 3u}) EXPECT_NEAR(f1[k], f1_zero[k], kTol);
  EXPECT_NEAR(tr::averaged_score(tr::CountScore::kF1, counts, tr::Average::kMacro, tr::ZeroDivision::kNaN),
              (f1_zero[0] + f1_zero[1] + f1_zero[3]) / 3, kTol);
  // Precision of label 2 is 0/0 and recall 0/0: NaN; specificity of label 3 (no negative) too.
  EXPECT_TRUE(std::isnan(tr::per_class_score(tr::CountScore::kPrecision, counts, tr::ZeroDivision::kNaN)[2]));
  EXPECT_TRUE(std::isnan(tr::per_class_score(tr::CountScore::kRecall, counts, tr::ZeroDivision::kNaN)[2]));
  EXPECT_TRUE(std::isnan(tr::per_class_score(tr::CountScore::kSpecificity, counts, tr::ZeroDivision::kNaN)[3]));
  // AUROC of labels 2 and 3 is undefined (sklearn raises): NaN, and the macro skips them.
  const auto au = tr::per_class_auroc(s, y);
  EXPECT_TRUE(std::isnan(au[2]) && std::isnan(au[3]));
  EXPECT_NEAR(tr::auroc(s, y, tr::Average::kMacro), (au[0] + au[1]) / 2, kTol);
}

TEST(MetricsSklearn, TunedThresholdsReachTheBruteForceOptimum) {
  const json fx = load_json_fixture("multilabel.json");
  for (const auto& c : fx["multilabel"]) {
    const std::string name = c["name"];
    const at::Tensor y = tensor_of(c["y"], true), s = tensor_of(c["s"]);
    const auto best_f1 = nums(c["best_f1"]), best_j = nums(c["best_youden"]);
    const auto f1 = tr::tune_thresholds(s, y, tr::ThresholdObjective::kF1);
    const auto yj = tr::tune_thresholds(s, y, tr::ThresholdObjective::kYouden);
    for (size_t k = 0; k < f1.size(); ++k) {
      const std::string what = name + " class " + std::to_string(k);
      if (f1[k].fallback) {
        EXPECT_EQ(best_f1[k], 0.0) << what;  // no positive: F1 is 0 everywhere
        EXPECT_EQ(f1[k].threshold, 0.5) << what;
      } else {
        EXPECT_NEAR(f1[k].value, best_f1[k], kTol) << what;
        // Applying the tuned threshold reproduces the optimum on the tuning data.
        const at::Tensor col = s.select(1, static_cast<int64_t>(k)).unsqueeze(1);
        const auto cnt = tr::multilabel_counts(y.select(1, static_cast<int64_t>(k)).unsqueeze(1),
                                               tr::threshold_predictions(col, f1[k].threshold));
        EXPECT_NEAR(tr::per_class_score(tr::CountScore::kF1, cnt)[0], best_f1[k], kTol) << what;
      }
      if (std::isnan(best_j[k])) {
        EXPECT_TRUE(yj[k].fallback) << what;
      } else {
        EXPECT_FALSE(yj[k].fallback) << what;
        EXPECT_NEAR(yj[k].value, best_j[k], kTol) << what;
      }
    }
  }
}

TEST(MetricsSklearn, RegressionFunctionsAndStreamingAgree) {
  const json fx = load_json_fixture("regression.json");
  for (const auto& c : fx["regression"]) {
    const std::string name = c["name"];
    const at::Tensor y = tensor_of(c["y"]), p = tensor_of(c["p"]);
    expect_close(tr::mean_squared_error(p, y), num(c["mse"]), 1e-12, name + " mse");
    expect_close(tr::mean_absolute_error(p, y), num(c["mae"]), 1e-12, name + " mae");
    expect_close(tr::r2_score(p, y), num(c["r2"]), 1e-12, name + " r2");
    // Batches of 2 rows (Chan's merge) give the same values.
    tr::RegressionAccumulator acc;
    for (int64_t i = 0; i < y.size(0); i += 2) acc.update(p.slice(0, i, i + 2), y.slice(0, i, i + 2));
    EXPECT_EQ(acc.count(), y.size(0));
    expect_close(acc.mse(), num(c["mse"]), 1e-12, name + " streaming mse");
    expect_close(acc.mae(), num(c["mae"]), 1e-12, name + " streaming mae");
    expect_close(acc.r2(), num(c["r2"]), 1e-10, name + " streaming r2");
  }
}

TEST(MetricsSklearn, NccMatchesTheMaeAnchorDefinition) {
  const json fx = load_json_fixture("ncc.json");
  for (const auto& c : fx["ncc"]) {
    std::vector<int64_t> shape = c["shape"].get<std::vector<int64_t>>();
    const at::Tensor x = tensor_of(c["x"]).reshape(shape), y = tensor_of(c["y"]).reshape(shape);
    EXPECT_NEAR(tr::ncc(y, x), num(c["ncc"]), 1e-12) << c["name"];
    tr::NccAccumulator acc;  // batch by batch along the first dim
    for (int64_t i = 0; i < x.size(0); ++i) acc.update(y.slice(0, i, i + 1), x.slice(0, i, i + 1));
    EXPECT_NEAR(acc.value(), num(c["ncc"]), 1e-12) << c["name"];
  }
  const at::Tensor x = at::randn({2, 3, 40}, at::kDouble);
  EXPECT_NEAR(tr::ncc(x, x), 1.0, 1e-9);
  EXPECT_NEAR(tr::ncc(-2 * x + 1, x), -1.0, 1e-9);
  EXPECT_TRUE(std::isnan(tr::NccAccumulator().value()));
}

TEST(MetricsSklearn, BadInputsAreClearErrors) {
  using cardiotorch::DataError;
  using cardiotorch::ShapeError;
  EXPECT_THROW(tr::confusion_matrix(at::tensor({0, 1, 3}), at::tensor({0, 1, 1}), 3), ShapeError);
  EXPECT_THROW(tr::confusion_matrix(at::tensor({0, 1}), at::tensor({0, 1, 1}), 3), ShapeError);
  EXPECT_THROW(tr::roc_auc(at::tensor({0.1, 0.2}), at::tensor({0.0, 0.5})), DataError);  // soft target
  EXPECT_THROW(tr::roc_auc(at::tensor({0.1, NAN}), at::tensor({0, 1})), DataError);
  EXPECT_THROW(tr::per_class_auroc(at::rand({4, 3}), at::tensor({0, 1, 2, 1})), ShapeError);
  EXPECT_THROW(tr::ncc(at::rand({3, 1}), at::rand({3, 1})), ShapeError);
  EXPECT_THROW(tr::mean_squared_error(at::rand({3}), at::rand({4})), ShapeError);
  try {
    tr::confusion_matrix(at::tensor({0, 7}), at::tensor({0, 1}), 3);
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("label 7 at index 1"), std::string::npos) << e.what();
  }
}
