#include "cardiotorch/train/metrics.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/error.h"
#include "train/metrics_util.h"

namespace cardiotorch::train {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double divide(double num, double den, ZeroDivision zd) {
  if (den != 0) return num / den;
  return zd == ZeroDivision::kZero ? 0.0 : zd == ZeroDivision::kOne ? 1.0 : kNaN;
}

// The score of one set of counts (a class, or the summed counts for micro).
double score_of(CountScore score, double tp, double fp, double fn, double tn, ZeroDivision zd) {
  switch (score) {
    case CountScore::kPrecision: return divide(tp, tp + fp, zd);
    case CountScore::kRecall: return divide(tp, tp + fn, zd);
    case CountScore::kSpecificity: return divide(tn, tn + fp, zd);
    case CountScore::kF1: {
      if (zd == ZeroDivision::kNaN) return tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : kNaN;
      // sklearn 1.2: F from the substituted P and R; 0 when both are 0.
      const double p = divide(tp, tp + fp, zd), r = divide(tp, tp + fn, zd);
      return p + r == 0 ? 0.0 : 2 * p * r / (p + r);
    }
  }
  return kNaN;
}

std::vector<uint8_t> binary_targets(const at::Tensor& targets, const char* what) {
  const std::vector<double> t = detail::to_doubles(targets);
  std::vector<uint8_t> out(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    CT_CHECK(t[i] == 0 || t[i] == 1, DataError, what, ": targets must be 0 or 1, got ", t[i], " at index ", i);
    out[i] = t[i] == 1;
  }
  return out;
}

BinaryCurve curve_of(const double* s, const uint8_t* y, size_t n) {
  BinaryCurve c;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  for (size_t i = 0; i < n; ++i)
    CT_CHECK(!std::isnan(s[i]), DataError, "metric: score ", i, " is NaN (a diverged model?)");
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s[a] > s[b]; });
  double tp = 0, fp = 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = order[k];
    if (y[i]) ++tp;
    else ++fp;
    if (k + 1 == n || s[order[k + 1]] != s[i]) {
      c.thresholds.push_back(s[i]);
      c.tps.push_back(tp);
      c.fps.push_back(fp);
    }
  }
  c.n_pos = static_cast<int64_t>(tp);
  c.n_neg = static_cast<int64_t>(fp);
  return c;
}

double auc_of(const BinaryCurve& c) {
  if (c.n_pos == 0 || c.n_neg == 0) return kNaN;
  // Trapezoids in count space, scaled once: exact for integer counts.
  double area = 0, ptp = 0, pfp = 0;
  for (size_t i = 0; i < c.tps.size(); ++i) {
    area += (c.fps[i] - pfp) * (c.tps[i] + ptp) / 2;
    ptp = c.tps[i];
    pfp = c.fps[i];
  }
  return area / (static_cast<double>(c.n_pos) * static_cast<double>(c.n_neg));
}

double ap_of(const BinaryCurve& c) {
  if (c.n_pos == 0) return 0.0;  // sklearn 1.2: recall set to 1 everywhere -> AP 0
  double ap = 0, prev_tp = 0;
  for (size_t i = 0; i < c.tps.size(); ++i) {
    const double p = c.tps[i] / (c.tps[i] + c.fps[i]);
    ap += (c.tps[i] - prev_tp) / static_cast<double>(c.n_pos) * p;
    prev_tp = c.tps[i];
  }
  return ap;
}

// Column c of a row-major (N, C) matrix.
std::vector<double> column(const std::vector<double>& m, int64_t n, int64_t cols, int64_t c) {
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = m[static_cast<size_t>(i * cols + c)];
  return out;
}
std::vector<uint8_t> column(const std::vector<uint8_t>& m, int64_t n, int64_t cols, int64_t c) {
  std::vector<uint8_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = m[static_cast<size_t>(i * cols + c)];
  return out;
}

void check_matrix_pair(const at::Tensor& scores, const at::Tensor& targets, const char* what) {
  CT_CHECK(scores.defined() && targets.defined(), ShapeError, what, ": undefined tensor");
  CT_CHECK(scores.dim() == 2, ShapeError, what, ": scores must be (N, C), got ", detail::shape_str(scores));
  CT_CHECK(targets.sizes() == scores.sizes(), ShapeError, what, ": targets ", detail::shape_str(targets),
           " must match scores ", detail::shape_str(scores), " (use one_hot() for class indices)");
}

template <class F>
std::vector<double> per_column(const at::Tensor& scores, const at::Tensor& targets, const char* what, F f) {
  check_matrix_pair(scores, targets, what);
  const int64_t n = scores.size(0), cols = scores.size(1);
  const std::vector<double> s = detail::to_doubles(scores);
  const std::vector<uint8_t> y = binary_targets(targets, what);
  std::vector<double> out(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) {
    const auto sc = column(s, n, cols, c);
    const auto yc = column(y, n, cols, c);
    out[static_cast<size_t>(c)] = f(curve_of(sc.data(), yc.data(), sc.size()));
  }
  return out;
}

// Macro / weighted over the finite entries; weights = positives per class.
double average_defined(const std::vector<double>& v, const std::vector<double>& weights, bool weighted) {
  double sum = 0, wsum = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(v[i])) continue;
    const double w = weighted ? weights[i] : 1.0;
    sum += w * v[i];
    wsum += w;
  }
  return wsum > 0 ? sum / wsum : kNaN;
}

std::vector<double> positives_per_column(const at::Tensor& targets) {
  const std::vector<uint8_t> y = binary_targets(targets, "metric");
  const int64_t n = targets.size(0), cols = targets.size(1);
  std::vector<double> out(static_cast<size_t>(cols), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < cols; ++c) out[static_cast<size_t>(c)] += y[static_cast<size_t>(i * cols + c)];
  return out;
}

}  // namespace

ZeroDivision parse_zero_division(const std::string& text) {
  check_choice("zero_division", text, {"0", "1", "nan", "warn"});
  return text == "1" ? ZeroDivision::kOne : text == "nan" ? ZeroDivision::kNaN : ZeroDivision::kZero;
}

CountScore parse_count_score(const std::string& text) {
  check_choice("score", text, {"precision", "recall", "sensitivity", "specificity", "f1"});
  return text == "precision"     ? CountScore::kPrecision
         : text == "specificity" ? CountScore::kSpecificity
         : text == "f1"          ? CountScore::kF1
                                 : CountScore::kRecall;
}

ThresholdObjective parse_threshold_objective(const std::string& text) {
  check_choice("objective", text, {"f1", "youden"});
  return text == "f1" ? ThresholdObjective::kF1 : ThresholdObjective::kYouden;
}

// ----------------------------------------------------------------------------- predictions

at::Tensor argmax_predictions(const at::Tensor& scores) {
  CT_CHECK(scores.defined() && scores.dim() == 2 && scores.size(1) > 0, ShapeError,
           "argmax_predictions: scores must be (N, C) with C > 0, got ", detail::shape_str(scores));
  const int64_t n = scores.size(0), cols = scores.size(1);
  const std::vector<double> s = detail::to_doubles(scores);
  at::Tensor out = at::empty({n}, at::kLong);
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const double* row = s.data() + i * cols;
    int64_t best = 0;
    for (int64_t c = 1; c < cols; ++c)
      if (row[c] > row[best] || (std::isnan(row[c]) && !std::isnan(row[best]))) best = c;  // numpy: NaN wins
    o[i] = best;
  }
  return out;
}

at::Tensor threshold_predictions(const at::Tensor& scores, double threshold) {
  CT_CHECK(scores.defined() && scores.dim() == 2, ShapeError, "threshold_predictions: scores must be (N, C), got ",
           detail::shape_str(scores));
  return threshold_predictions(scores, std::vector<double>(static_cast<size_t>(scores.size(1)), threshold));
}

at::Tensor threshold_predictions(const at::Tensor& scores, const std::vector<double>& thresholds) {
  CT_CHECK(scores.defined() && scores.dim() == 2, ShapeError, "threshold_predictions: scores must be (N, C), got ",
           detail::shape_str(scores));
  const int64_t n = scores.size(0), cols = scores.size(1);
  CT_CHECK(static_cast<int64_t>(thresholds.size()) == cols, ShapeError, "threshold_predictions: ", thresholds.size(),
           " thresholds for ", cols, " classes");
  const std::vector<double> s = detail::to_doubles(scores);
  at::Tensor out = at::empty({n, cols}, at::kByte);
  uint8_t* o = out.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n * cols; ++i) o[i] = s[static_cast<size_t>(i)] >= thresholds[static_cast<size_t>(i % cols)];
  return out;
}

at::Tensor one_hot(const at::Tensor& labels, int64_t n_classes) {
  const std::vector<int64_t> y = detail::to_labels(labels, n_classes, "one_hot");
  at::Tensor out = at::zeros({static_cast<int64_t>(y.size()), n_classes}, at::kByte);
  uint8_t* o = out.data_ptr<uint8_t>();
  for (size_t i = 0; i < y.size(); ++i) o[static_cast<int64_t>(i) * n_classes + y[i]] = 1;
  return out;
}

// ---------------------------------------------------------------------------------- counts

at::Tensor confusion_matrix(const at::Tensor& y_true, const at::Tensor& y_pred, int64_t n_classes) {
  CT_CHECK(n_classes > 0, ShapeError, "confusion_matrix: n_classes must be > 0");
  const std::vector<int64_t> t = detail::to_labels(y_true, n_classes, "confusion_matrix (y_true)");
  const std::vector<int64_t> p = detail::to_labels(y_pred, n_classes, "confusion_matrix (y_pred)");
  CT_CHECK(t.size() == p.size(), ShapeError, "confusion_matrix: ", t.size(), " true labels but ", p.size(),
           " predictions");
  at::Tensor cm = at::zeros({n_classes, n_classes}, at::kLong);
  int64_t* m = cm.data_ptr<int64_t>();
  for (size_t i = 0; i < t.size(); ++i) ++m[t[i] * n_classes + p[i]];
  return cm;
}

std::vector<BinaryCounts> one_vs_rest_counts(const at::Tensor& confusion) {
  const auto [m, k] = detail::square_counts(confusion, "one_vs_rest_counts");
  int64_t total = 0;
  for (double v : m) total += static_cast<int64_t>(v);
  std::vector<BinaryCounts> out(static_cast<size_t>(k));
  for (int64_t c = 0; c < k; ++c) {
    int64_t row = 0, col = 0;
    for (int64_t j = 0; j < k; ++j) {
      row += static_cast<int64_t>(m[static_cast<size_t>(c * k + j)]);
      col += static_cast<int64_t>(m[static_cast<size_t>(j * k + c)]);
    }
    BinaryCounts& b = out[static_cast<size_t>(c)];
    b.tp = static_cast<int64_t>(m[static_cast<size_t>(c * k + c)]);
    b.fn = row - b.tp;
    b.fp = col - b.tp;
    b.tn = total - b.tp - b.fn - b.fp;
  }
  return out;
}

std::vector<BinaryCounts> multilabel_counts(const at::Tensor& y_true, const at::Tensor& y_pred) {
  check_matrix_pair(y_pred, y_true, "multilabel_counts");
  const int64_t n = y_true.size(0), cols = y_true.size(1);
  const std::vector<uint8_t> t = binary_targets(y_true, "multilabel_counts (y_true)");
  const std::vector<uint8_t> p = binary_targets(y_pred, "multilabel_counts (y_pred)");
  std::vector<BinaryCounts> out(static_cast<size_t>(cols));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < cols; ++c) {
      const size_t k = static_cast<size_t>(i * cols + c);
      BinaryCounts& b = out[static_cast<size_t>(c)];
      if (t[k] && p[k]) ++b.tp;
      else if (p[k]) ++b.fp;
      else if (t[k]) ++b.fn;
      else ++b.tn;
    }
  return out;
}

// ---------------------------------------------------------------------- confusion scores

std::vector<double> per_class_score(CountScore score, const std::vector<BinaryCounts>& counts, ZeroDivision zd) {
  std::vector<double> out;
  out.reserve(counts.size());
  for (const auto& b : counts)
    out.push_back(score_of(score, static_cast<double>(b.tp), static_cast<double>(b.fp), static_cast<double>(b.fn),
                           static_cast<double>(b.tn), zd));
  return out;
}

double averaged_score(CountScore score, const std::vector<BinaryCounts>& counts, Average average, ZeroDivision zd) {
  if (counts.empty()) return kNaN;
  if (average == Average::kMicro) {
    double tp = 0, fp = 0, fn = 0, tn = 0;
    for (const auto& b : counts) {
      tp += static_cast<double>(b.tp);
      fp += static_cast<double>(b.fp);
      fn += static_cast<double>(b.fn);
      tn += static_cast<double>(b.tn);
    }
    return score_of(score, tp, fp, fn, tn, zd);
  }
  const std::vector<double> v = per_class_score(score, counts, zd);
  if (average == Average::kMacro) {
    if (zd != ZeroDivision::kNaN) return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    return average_defined(v, {}, false);
  }
  std::vector<double> w;
  double wsum = 0, pred = 0;
  for (const auto& b : counts) {
    w.push_back(static_cast<double>(b.support()));
    wsum += w.back();
    pred += static_cast<double>(b.tp + b.fp);
  }
  if (wsum == 0) {
    // sklearn: no positive label anywhere. Precision, F1 (and our specificity) are the
    // zero-division value when nothing is predicted either; else precision and F1 are 0.
    // Specificity (not in sklearn) follows recall: its weights are all 0 too.
    const double zv = zd == ZeroDivision::kZero ? 0.0 : zd == ZeroDivision::kOne ? 1.0 : kNaN;
    if (score == CountScore::kRecall || score == CountScore::kSpecificity || pred == 0) return zv;
    return 0.0;
  }
  if (zd != ZeroDivision::kNaN) {
    double s = 0;
    for (size_t i = 0; i < v.size(); ++i) s += w[i] * v[i];
    return s / wsum;
  }
  return average_defined(v, w, true);
}

// -------------------------------------------------------------------------------- summaries

double accuracy(const at::Tensor& y_true, const at::Tensor& y_pred) {
  CT_CHECK(y_true.defined() && y_pred.defined() && y_true.sizes() == y_pred.sizes() && y_true.dim() >= 1 &&
               y_true.dim() <= 2,
           ShapeError, "accuracy: y_true ", detail::shape_str(y_true), " and y_pred ", detail::shape_str(y_pred),
           " must have the same (N) or (N, C) shape");
  const int64_t n = y_true.size(0);
  if (n == 0) return kNaN;
  const int64_t cols = y_true.dim() == 2 ? y_true.size(1) : 1;
  const std::vector<double> t = detail::to_doubles(y_true), p = detail::to_doubles(y_pred);
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool same = true;
    for (int64_t c = 0; c < cols && same; ++c)
      same = t[static_cast<size_t>(i * cols + c)] == p[static_cast<size_t>(i * cols + c)];
    correct += same;
  }
  return static_cast<double>(correct) / static_cast<double>(n);
}

double top_k_accuracy(const at::Tensor& scores, const at::Tensor& y_true, int64_t k) {
  CT_CHECK(scores.defined() && scores.dim() == 2, ShapeError, "top_k_accuracy: scores must be (N, C), got ",
           detail::shape_str(scores));
  const int64_t n = scores.size(0), cols = scores.size(1);
  CT_CHECK(k >= 1, ConfigError, "top_k_accuracy: k must be >= 1, got ", k);
  const std::vector<int64_t> y = detail::to_labels(y_true, cols, "top_k_accuracy");
  CT_CHECK(static_cast<int64_t>(y.size()) == n, ShapeError, "top_k_accuracy: ", y.size(), " labels for ", n,
           " score rows");
  if (n == 0) return kNaN;
  const std::vector<double> s = detail::to_doubles(scores);
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double* row = s.data() + i * cols;
    const int64_t c = y[static_cast<size_t>(i)];
    // Rank of the true class: classes scored higher, plus equal-scored classes of higher index.
    int64_t rank = 0;
    for (int64_t j = 0; j < cols; ++j) rank += row[j] > row[c] || (row[j] == row[c] && j > c);
    hits += rank < k;
  }
  return static_cast<double>(hits) / static_cast<double>(n);
}

double balanced_accuracy(const at::Tensor& confusion) {
  const auto counts = one_vs_rest_counts(confusion);
  double sum = 0;
  int64_t present = 0;
  for (const auto& b : counts) {
    if (b.support() == 0) continue;
    sum += static_cast<double>(b.tp) / static_cast<double>(b.support());
    ++present;
  }
  return present ? sum / static_cast<double>(present) : kNaN;
}

double matthews_corrcoef(const at::Tensor& confusion) {
  const auto [m, k] = detail::square_counts(confusion, "matthews_corrcoef");
  std::vector<double> t(static_cast<size_t>(k), 0.0), p(static_cast<size_t>(k), 0.0);
  double correct = 0, n = 0;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const double v = m[static_cast<size_t>(i * k + j)];
      t[static_cast<size_t>(i)] += v;
      p[static_cast<size_t>(j)] += v;
      n += v;
      if (i == j) correct += v;
    }
  double tp = 0, pp = 0, tt = 0;
  for (int64_t c = 0; c < k; ++c) {
    tp += t[static_cast<size_t>(c)] * p[static_cast<size_t>(c)];
    pp += p[static_cast<size_t>(c)] * p[static_cast<size_t>(c)];
    tt += t[static_cast<size_t>(c)] * t[static_cast<size_t>(c)];
  }
  const double cov_tp = correct * n - tp, cov_pp = n * n - pp, cov_tt = n * n - tt;
  if (cov_pp * cov_tt == 0) return 0.0;
  return cov_tp / std::sqrt(cov_tt * cov_pp);
}

double matthews_corrcoef(const BinaryCounts& b) {
  at::Tensor cm = at::empty({2, 2}, at::kLong);
  int64_t* m = cm.data_ptr<int64_t>();
  m[0] = b.tn, m[1] = b.fp, m[2] = b.fn, m[3] = b.tp;
  return matthews_corrcoef(cm);
}

// ---------------------------------------------------------------------------------- ranking

BinaryCurve binary_curve(const at::Tensor& scores, const at::Tensor& targets) {
  CT_CHECK(scores.defined() && targets.defined() && scores.numel() == targets.numel(), ShapeError,
           "binary_curve: scores ", detail::shape_str(scores), " and targets ", detail::shape_str(targets),
           " must have the same number of elements");
  const std::vector<double> s = detail::to_doubles(scores);
  const std::vector<uint8_t> y = binary_targets(targets, "binary_curve");
  return curve_of(s.data(), y.data(), s.size());
}

RocCurve roc_curve(const at::Tensor& scores, const at::Tensor& targets, bool drop_intermediate) {
  const BinaryCurve c = binary_curve(scores, targets);
  RocCurve r;
  r.auc = auc_of(c);
  if (std::isnan(r.auc)) return r;
  std::vector<size_t> keep;
  const size_t m = c.tps.size();
  for (size_t i = 0; i < m; ++i) {
    // sklearn: keep the ends and every point where the curve bends (second difference != 0).
    const bool bend = i == 0 || i + 1 == m || !drop_intermediate || m <= 2 ||
                      (c.fps[i + 1] - 2 * c.fps[i] + c.fps[i - 1]) != 0 ||
                      (c.tps[i + 1] - 2 * c.tps[i] + c.tps[i - 1]) != 0;
    if (bend) keep.push_back(i);
  }
  r.fpr.push_back(0.0);
  r.tpr.push_back(0.0);
  r.thresholds.push_back(std::numeric_limits<double>::infinity());
  for (size_t i : keep) {
    r.fpr.push_back(c.fps[i] / static_cast<double>(c.n_neg));
    r.tpr.push_back(c.tps[i] / static_cast<double>(c.n_pos));
    r.thresholds.push_back(c.thresholds[i]);
  }
  return r;
}

PrCurve precision_recall_curve(const at::Tensor& scores, const at::Tensor& targets) {
  const BinaryCurve c = binary_curve(scores, targets);
  PrCurve r;
  for (size_t k = c.tps.size(); k-- > 0;) {
    const double ps = c.tps[k] + c.fps[k];
    r.precision.push_back(ps > 0 ? c.tps[k] / ps : 0.0);
    r.recall.push_back(c.n_pos > 0 ? c.tps[k] / static_cast<double>(c.n_pos) : 1.0);
    r.thresholds.push_back(c.thresholds[k]);
  }
  r.precision.push_back(1.0);
  r.recall.push_back(0.0);
  return r;
}

double roc_auc(const at::Tensor& scores, const at::Tensor& targets) { return auc_of(binary_curve(scores, targets)); }

double average_precision(const at::Tensor& scores, const at::Tensor& targets) {
  return ap_of(binary_curve(scores, targets));
}

std::vector<double> per_class_auroc(const at::Tensor& scores, const at::Tensor& targets) {
  return per_column(scores, targets, "per_class_auroc", auc_of);
}

std::vector<double> per_class_average_precision(const at::Tensor& scores, const at::Tensor& targets) {
  return per_column(scores, targets, "per_class_average_precision", ap_of);
}

double auroc(const at::Tensor& scores, const at::Tensor& targets, Average average) {
  if (average == Average::kMicro) {
    check_matrix_pair(scores, targets, "auroc");
    return roc_auc(scores, targets);
  }
  const std::vector<double> v = per_class_auroc(scores, targets);
  return average_defined(v, positives_per_column(targets), average == Average::kWeighted);
}

double average_precision(const at::Tensor& scores, const at::Tensor& targets, Average average) {
  if (average == Average::kMicro) {
    check_matrix_pair(scores, targets, "average_precision");
    return average_precision(scores, targets);
  }
  const std::vector<double> v = per_class_average_precision(scores, targets);
  if (average == Average::kMacro) return average_defined(v, {}, false);
  const std::vector<double> w = positives_per_column(targets);
  if (std::accumulate(w.begin(), w.end(), 0.0) == 0) return 0.0;  // every class AP 0 (no positives)
  return average_defined(v, w, true);
}

// --------------------------------------------------------------------------- threshold tuning

TunedThreshold tune_threshold(const at::Tensor& scores, const at::Tensor& targets, ThresholdObjective objective,
                              double fallback_threshold) {
  const BinaryCurve c = binary_curve(scores, targets);
  TunedThreshold out;
  out.threshold = fallback_threshold;
  const bool defined = objective == ThresholdObjective::kF1 ? c.n_pos > 0 : c.n_pos > 0 && c.n_neg > 0;
  if (!defined) {
    out.fallback = true;
    out.value = kNaN;
    return out;
  }
  const double P = static_cast<double>(c.n_pos), N = static_cast<double>(c.n_neg);
  auto value = [&](double tp, double fp) { return detail::objective_value(objective, tp, fp, P, N); };
  // Candidate 0: nothing positive (just above the highest score); candidate k + 1: the first k + 1
  // distinct scores positive.
  double best = value(0, 0);
  double best_t = std::nextafter(c.thresholds.front(), std::numeric_limits<double>::infinity());
  for (size_t k = 0; k < c.tps.size(); ++k) {
    const double v = value(c.tps[k], c.fps[k]);
    if (!(v > best)) continue;
    best = v;
    if (k + 1 < c.thresholds.size()) {
      const double mid = c.thresholds[k] / 2 + c.thresholds[k + 1] / 2;
      best_t = mid > c.thresholds[k + 1] && mid <= c.thresholds[k] ? mid : c.thresholds[k];
    } else {
      best_t = c.thresholds[k];
    }
  }
  out.threshold = best_t;
  out.value = best;
  return out;
}

std::vector<TunedThreshold> tune_thresholds(const at::Tensor& scores, const at::Tensor& targets,
                                            ThresholdObjective objective, double fallback_threshold) {
  check_matrix_pair(scores, targets, "tune_thresholds");
  std::vector<TunedThreshold> out;
  for (int64_t c = 0; c < scores.size(1); ++c)
    out.push_back(tune_threshold(scores.select(1, c), targets.select(1, c), objective, fallback_threshold));
  return out;
}

namespace {

// log p per cell; p = 0 gives -inf (never chosen over a class with p > 0, whatever the offset).
std::vector<double> log_probabilities(const at::Tensor& p) {
  std::vector<double> v = detail::to_doubles(p);
  for (double& x : v) x = std::log(x);
  return v;
}

int64_t offset_argmax_row(const double* logp, const double* off, int64_t cols) {
  int64_t best = 0;
  double best_v = logp[0] + off[0];
  for (int64_t c = 1; c < cols; ++c) {
    const double v = logp[c] + off[c];
    if (v > best_v || (std::isnan(v) && !std::isnan(best_v))) {
      best = c;
      best_v = v;
    }
  }
  return best;
}

}  // namespace

at::Tensor offset_argmax_predictions(const at::Tensor& probabilities, const std::vector<double>& offsets) {
  if (offsets.empty()) return argmax_predictions(probabilities);
  CT_CHECK(probabilities.defined() && probabilities.dim() == 2 &&
               probabilities.size(1) == static_cast<int64_t>(offsets.size()),
           ShapeError, "offset_argmax_predictions: probabilities must be (N, ", offsets.size(), "), got ",
           detail::shape_str(probabilities));
  const int64_t n = probabilities.size(0), cols = probabilities.size(1);
  const std::vector<double> lp = log_probabilities(probabilities);
  at::Tensor out = at::empty({n}, at::kLong);
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) o[i] = offset_argmax_row(lp.data() + i * cols, offsets.data(), cols);
  return out;
}

TunedOffsets tune_class_offsets(const at::Tensor& probabilities, const at::Tensor& labels,
                                const ClassOffsetSearch& search) {
  CT_CHECK(probabilities.defined() && probabilities.dim() == 2 && probabilities.size(1) > 0, ShapeError,
           "tune_class_offsets: probabilities must be (N, C), got ", detail::shape_str(probabilities));
  CT_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == probabilities.size(0), ShapeError,
           "tune_class_offsets: labels must be (", probabilities.size(0), "), got ", detail::shape_str(labels));
  CT_CHECK(search.max_offset > 0 && search.step > 0 && search.step <= search.max_offset && search.sweeps >= 1 &&
               search.min_positives >= 1,
           ConfigError, "tune_class_offsets: needs max_offset > 0, 0 < step <= max_offset, sweeps >= 1, ",
           "min_positives >= 1");
  const int64_t n = probabilities.size(0), cols = probabilities.size(1);
  const std::vector<int64_t> y = detail::to_labels(labels, cols, "tune_class_offsets (labels)");
  const std::vector<double> lp = log_probabilities(probabilities);
  std::vector<int64_t> positives(static_cast<size_t>(cols), 0);
  for (int64_t i = 0; i < n; ++i) ++positives[static_cast<size_t>(y[i])];
  TunedOffsets out;
  out.offsets.assign(static_cast<size_t>(cols), 0.0);
  out.tuned.assign(static_cast<size_t>(cols), false);
  std::vector<bool> allowed(static_cast<size_t>(cols), search.classes.empty());
  for (int64_t c : search.classes) {
    CT_CHECK(c >= 0 && c < cols, ConfigError, "tune_class_offsets: class index ", c, " is not in [0, ", cols, ")");
    allowed[static_cast<size_t>(c)] = true;
  }
  std::vector<int64_t> scored;
  for (int64_t c = 0; c < cols; ++c)
    if (allowed[static_cast<size_t>(c)] && positives[static_cast<size_t>(c)] >= search.min_positives) {
      scored.push_back(c);
      out.tuned[static_cast<size_t>(c)] = true;
      if (out.reference < 0 || positives[static_cast<size_t>(c)] > positives[static_cast<size_t>(out.reference)])
        out.reference = c;
    }
  out.before = out.after = std::numeric_limits<double>::quiet_NaN();
  if (scored.empty()) return out;

  std::vector<int64_t> tp(static_cast<size_t>(cols)), predicted(static_cast<size_t>(cols));
  auto objective = [&](const std::vector<double>& off) {
    std::fill(tp.begin(), tp.end(), 0);
    std::fill(predicted.begin(), predicted.end(), 0);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = offset_argmax_row(lp.data() + i * cols, off.data(), cols);
      ++predicted[static_cast<size_t>(k)];
      if (k == y[i]) ++tp[static_cast<size_t>(k)];
    }
    double sum = 0;
    for (int64_t c : scored) {
      const auto u = static_cast<size_t>(c);
      const double t = static_cast<double>(tp[u]), p = static_cast<double>(positives[u]);
      const double fp = static_cast<double>(predicted[u]) - t;
      sum += detail::objective_value(search.objective, t, fp, p, static_cast<double>(n - positives[u]));
    }
    return sum / static_cast<double>(scored.size());
  };
  // The grid holds 0 exactly (k = half), so "no change" is always a candidate.
  const auto half = static_cast<int64_t>(std::floor(search.max_offset / search.step + 1e-9));
  out.before = objective(out.offsets);
  double current = out.before;
  for (int64_t sweep = 0; sweep < search.sweeps; ++sweep) {
    bool moved = false;
    for (int64_t c : scored) {
      if (c == out.reference) continue;
      const auto u = static_cast<size_t>(c);
      std::vector<double> trial = out.offsets;
      double best_x = out.offsets[u], best_v = current;
      for (int64_t k = -half; k <= half; ++k) {
        const double x = static_cast<double>(k) * search.step;
        trial[u] = x;
        const double v = objective(trial);
        if (v > best_v + 1e-12 || (std::abs(v - best_v) <= 1e-12 && std::abs(x) < std::abs(best_x))) {
          best_v = v;
          best_x = x;
        }
      }
      if (best_x != out.offsets[u]) {
        out.offsets[u] = best_x;
        current = best_v;
        moved = true;
      }
    }
    if (!moved) break;
  }
  out.after = current;
  return out;
}

// ------------------------------------------------------------------------------ regression

void RegressionAccumulator::reset() {
  n_ = 0;
  mean_.clear();
  m2_.clear();
  sse_.clear();
  sae_.clear();
}

void RegressionAccumulator::update(const at::Tensor& pred, const at::Tensor& target) {
  CT_CHECK(pred.defined() && target.defined() && pred.sizes() == target.sizes() && pred.dim() >= 1, ShapeError,
           "regression metric: predictions ", detail::shape_str(pred), " and targets ", detail::shape_str(target),
           " must have the same shape (N) or (N, ...)");
  const int64_t n = pred.size(0);
  if (n == 0) return;
  const int64_t d = pred.numel() / n;
  if (mean_.empty()) {
    mean_.assign(static_cast<size_t>(d), 0.0);
    m2_ = sse_ = sae_ = mean_;
  }
  CT_CHECK(static_cast<int64_t>(mean_.size()) == d, ShapeError, "regression metric: a batch has ", d,
           " outputs per row, earlier batches ", mean_.size());
  const std::vector<double> p = detail::to_doubles(pred), t = detail::to_doubles(target);
  for (int64_t j = 0; j < d; ++j) {
    double bm = 0;
    for (int64_t i = 0; i < n; ++i) bm += t[static_cast<size_t>(i * d + j)];
    bm /= static_cast<double>(n);
    double bm2 = 0, se = 0, ae = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double y = t[static_cast<size_t>(i * d + j)], e = p[static_cast<size_t>(i * d + j)] - y;
      bm2 += (y - bm) * (y - bm);
      se += e * e;
      ae += std::fabs(e);
    }
    CT_CHECK(std::isfinite(se) && std::isfinite(bm2), DataError, "regression metric: non-finite prediction or target");
    const size_t k = static_cast<size_t>(j);
    const double na = static_cast<double>(n_), nb = static_cast<double>(n), delta = bm - mean_[k];
    mean_[k] += delta * nb / (na + nb);
    m2_[k] += bm2 + delta * delta * na * nb / (na + nb);
    sse_[k] += se;
    sae_[k] += ae;
  }
  n_ += n;
}

double RegressionAccumulator::mse() const {
  if (n_ == 0) return kNaN;
  return std::accumulate(sse_.begin(), sse_.end(), 0.0) / static_cast<double>(n_ * static_cast<int64_t>(sse_.size()));
}

double RegressionAccumulator::mae() const {
  if (n_ == 0) return kNaN;
  return std::accumulate(sae_.begin(), sae_.end(), 0.0) / static_cast<double>(n_ * static_cast<int64_t>(sae_.size()));
}

double RegressionAccumulator::r2() const {
  if (n_ < 2) return kNaN;  // sklearn: undefined for fewer than two samples
  double sum = 0;
  for (size_t k = 0; k < m2_.size(); ++k) sum += m2_[k] != 0 ? 1.0 - sse_[k] / m2_[k] : sse_[k] == 0 ? 1.0 : 0.0;
  return sum / static_cast<double>(m2_.size());
}

double mean_squared_error(const at::Tensor& pred, const at::Tensor& target) {
  RegressionAccumulator a;
  a.update(pred, target);
  return a.mse();
}
double mean_absolute_error(const at::Tensor& pred, const at::Tensor& target) {
  RegressionAccumulator a;
  a.update(pred, target);
  return a.mae();
}
double r2_score(const at::Tensor& pred, const at::Tensor& target) {
  RegressionAccumulator a;
  a.update(pred, target);
  return a.r2();
}

void NccAccumulator::update(const at::Tensor& x, const at::Tensor& y) {
  CT_CHECK(x.defined() && y.defined() && x.sizes() == y.sizes() && x.dim() >= 1, ShapeError, "ncc: reconstruction ",
           detail::shape_str(x), " and target ", detail::shape_str(y), " must have the same shape (..., T)");
  const int64_t t = x.size(-1);
  CT_CHECK(t >= 2, ShapeError, "ncc: signals need at least 2 samples (last dim), got ", t);
  const int64_t signals = x.numel() / t;
  const std::vector<double> a = detail::to_doubles(x), b = detail::to_doubles(y);
  auto zstats = [t](const double* v, double* mean, double* inv_sd) {
    double m = 0;
    for (int64_t i = 0; i < t; ++i) m += v[i];
    m /= static_cast<double>(t);
    double ss = 0;
    for (int64_t i = 0; i < t; ++i) ss += (v[i] - m) * (v[i] - m);
    *mean = m;
    *inv_sd = 1.0 / std::sqrt(ss / static_cast<double>(t - 1) + 1e-12);
  };
  for (int64_t s = 0; s < signals; ++s) {
    const double* u = a.data() + s * t;
    const double* v = b.data() + s * t;
    double mu, iu, mv, iv;
    zstats(u, &mu, &iu);
    zstats(v, &mv, &iv);
    double acc = 0;
    for (int64_t i = 0; i < t; ++i) acc += (u[i] - mu) * iu * ((v[i] - mv) * iv);
    const double value = acc / static_cast<double>(t - 1);
    CT_CHECK(std::isfinite(value), DataError, "ncc: non-finite value in signal ", s);
    sum_ += value;
  }
  n_ += signals;
}

double NccAccumulator::value() const { return n_ > 0 ? sum_ / static_cast<double>(n_) : kNaN; }

double ncc(const at::Tensor& reconstruction, const at::Tensor& target) {
  NccAccumulator a;
  a.update(reconstruction, target);
  return a.value();
}

}  // namespace cardiotorch::train
