#include "cardiotorch/train/metrics_ecg.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <set>
#include <tuple>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/data/csv.h"
#include "train/metrics_util.h"

namespace cardiotorch::train {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
double ratio(double a, double b) { return b > 0 ? a / b : kNaN; }
}  // namespace

// ------------------------------------------------------------------------------ CinC 2017

Cinc2017Score cinc2017_score(const at::Tensor& confusion, const std::vector<int64_t>& indices) {
  const auto [m, k] = detail::square_counts(confusion, "cinc2017_score");
  CT_CHECK(indices.size() == 4, ConfigError, "cinc2017_score: expected 4 class indices (N, A, O, ~), got ",
           indices.size());
  for (int64_t i : indices)
    CT_CHECK(i < k, ConfigError, "cinc2017_score: class index ", i, " outside the ", k, " x ", k, " confusion matrix");
  // The 4 x 4 confusion of N, A, O, ~ (score2017.m's AA); missing classes stay zero.
  double aa[4][4] = {};
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      if (indices[static_cast<size_t>(r)] >= 0 && indices[static_cast<size_t>(c)] >= 0)
        aa[r][c] = m[static_cast<size_t>(indices[static_cast<size_t>(r)] * k + indices[static_cast<size_t>(c)])];
  double f1[4];
  for (int x = 0; x < 4; ++x) {
    double row = 0, col = 0;
    for (int j = 0; j < 4; ++j) row += aa[x][j], col += aa[j][x];
    f1[x] = ratio(2 * aa[x][x], row + col);
  }
  Cinc2017Score s;
  s.f1_normal = f1[0];
  s.f1_af = f1[1];
  s.f1_other = f1[2];
  s.f1_noisy = f1[3];
  s.score = (f1[0] + f1[1] + f1[2]) / 3;
  return s;
}

// ---------------------------------------------------------------------- CinC 2020 / 2021

std::vector<std::vector<std::string>> default_equivalent_codes() {
  return {{"713427006", "59118001"}, {"284470004", "63593006"}, {"427172004", "17338001"}};
}

int64_t ChallengeWeights::find(const std::string& code) const {
  for (size_t k = 0; k < classes.size(); ++k)
    if (std::find(classes[k].begin(), classes[k].end(), code) != classes[k].end()) return static_cast<int64_t>(k);
  return -1;
}

ChallengeWeights load_challenge_weights(const std::string& path,
                                        const std::vector<std::vector<std::string>>& equivalent) {
  CT_CHECK(std::filesystem::exists(path), DataError, path,
           ": missing (the challenge's weights.csv; it ships with the CinC 2020/2021 data, e.g. data/sample/cinc2021)");
  data::CsvOptions co;
  co.header = false;
  const data::CsvTable t = data::read_csv(path, co);
  CT_CHECK(t.rows.size() >= 2 && t.rows[0].size() >= 2, DataError, path, ": not a weights table (need a header row ",
           "of class codes and one row per class)");
  const size_t k = t.rows[0].size() - 1;
  CT_CHECK(t.rows.size() == k + 1, DataError, path, ": ", k, " class columns but ", t.rows.size() - 1,
           " rows; the table must be square");
  ChallengeWeights w;
  w.source = path;
  auto codes_of = [](const std::string& cell) {
    std::vector<std::string> c;
    for (const auto& s : split(trim(cell), '|', false)) c.push_back(trim(s));
    return c;
  };
  for (size_t j = 1; j <= k; ++j) {
    w.classes.push_back(codes_of(t.rows[0][j]));
    CT_CHECK(!w.classes.back().empty(), DataError, t.where(0), ": empty class name in column ", j + 1);
  }
  w.weights.resize(k * k);
  for (size_t i = 1; i <= k; ++i) {
    auto row_codes = codes_of(t.rows[i][0]);
    auto col_codes = w.classes[i - 1];
    std::sort(row_codes.begin(), row_codes.end());
    std::sort(col_codes.begin(), col_codes.end());
    CT_CHECK(row_codes == col_codes, DataError, t.where(i), ": row '", trim(t.rows[i][0]), "' does not match column ",
             i, " '", trim(t.rows[0][i]), "' (rows and columns must list the same classes)");
    for (size_t j = 1; j <= k; ++j) {
      const std::string cell = trim(t.rows[i][j]);
      char* end = nullptr;
      const double v = std::strtod(cell.c_str(), &end);
      CT_CHECK(!cell.empty() && end && *end == '\0' && std::isfinite(v), DataError, t.where(i), ": weight '", cell,
               "' in column ", j + 1, " is not a number");
      w.weights[(i - 1) * k + (j - 1)] = v;
    }
  }
  // Merge columns of equivalent codes (the 2020 file lists them separately).
  for (const auto& eq : equivalent) {
    std::vector<size_t> hit;
    for (size_t c = 0; c < w.classes.size(); ++c)
      for (const auto& code : w.classes[c])
        if (std::find(eq.begin(), eq.end(), code) != eq.end()) {
          hit.push_back(c);
          break;
        }
    if (hit.size() < 2) continue;
    const size_t n = w.classes.size(), a = hit[0];
    for (size_t h = 1; h < hit.size(); ++h)
      for (size_t j = 0; j < n; ++j)
        CT_CHECK(w.weights[a * n + j] == w.weights[hit[h] * n + j] && w.weights[j * n + a] == w.weights[j * n + hit[h]],
                 DataError, path, ": equivalent classes '", join(w.classes[a], "|"), "' and '",
                 join(w.classes[hit[h]], "|"), "' have different weights");
    std::vector<size_t> keep;
    for (size_t c = 0; c < n; ++c)
      if (std::find(hit.begin() + 1, hit.end(), c) == hit.end()) keep.push_back(c);
    for (size_t h = 1; h < hit.size(); ++h)
      for (const auto& code : w.classes[hit[h]]) w.classes[a].push_back(code);
    ChallengeWeights m;
    m.source = w.source;
    for (size_t c : keep) m.classes.push_back(w.classes[c]);
    for (size_t r : keep)
      for (size_t c : keep) m.weights.push_back(w.weights[r * n + c]);
    w = std::move(m);
  }
  return w;
}

double challenge_score(const ChallengeWeights& w, const at::Tensor& labels, const at::Tensor& outputs,
                       const std::string& normal_code) {
  const int64_t k = w.size();
  CT_CHECK(labels.defined() && outputs.defined() && labels.dim() == 2 && labels.sizes() == outputs.sizes() &&
               labels.size(1) == k,
           ShapeError, "challenge_score: labels ", detail::shape_str(labels), " and outputs ",
           detail::shape_str(outputs), " must both be (N, ", k, ") in the order of ", w.source);
  const int64_t normal = w.find(normal_code);
  CT_CHECK(normal >= 0, ConfigError, "challenge_score: the normal class ", normal_code, " is not in ", w.source);
  const int64_t n = labels.size(0);
  const std::vector<double> l = detail::to_doubles(labels), o = detail::to_doubles(outputs);
  for (size_t i = 0; i < l.size(); ++i)
    CT_CHECK((l[i] == 0 || l[i] == 1) && (o[i] == 0 || o[i] == 1), DataError,
             "challenge_score: labels and outputs must be 0 or 1");
  // Sum over records of sum_{j label, k output} W[j, k] / |labels ∪ outputs|.
  auto total = [&](auto output_of) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double* lab = l.data() + i * k;
      int64_t active = 0;
      for (int64_t c = 0; c < k; ++c) active += lab[c] != 0 || output_of(i, c);
      const double norm = static_cast<double>(std::max<int64_t>(active, 1));
      for (int64_t j = 0; j < k; ++j) {
        if (lab[j] == 0) continue;
        for (int64_t c = 0; c < k; ++c)
          if (output_of(i, c)) sum += w.at(j, c) / norm;
      }
    }
    return sum;
  };
  const double observed = total([&](int64_t i, int64_t c) { return o[static_cast<size_t>(i * k + c)] != 0; });
  const double correct = total([&](int64_t i, int64_t c) { return l[static_cast<size_t>(i * k + c)] != 0; });
  const double inactive = total([&](int64_t, int64_t c) { return c == normal; });
  return correct != inactive ? (observed - inactive) / (correct - inactive) : 0.0;
}

std::vector<std::vector<int64_t>> map_classes_to_weights(const ChallengeWeights& w,
                                                         const std::vector<std::string>& class_codes) {
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(w.size()));
  for (size_t m = 0; m < class_codes.size(); ++m) {
    std::set<int64_t> hits;
    for (const auto& code : split(class_codes[m], '|', false)) {
      const int64_t k = w.find(trim(code));
      if (k >= 0) hits.insert(k);
    }
    CT_CHECK(hits.size() <= 1, ConfigError, "challenge score: class '", class_codes[m], "' matches ", hits.size(),
             " classes of ", w.source, "; a model class must map to at most one scored class");
    if (!hits.empty()) out[static_cast<size_t>(*hits.begin())].push_back(static_cast<int64_t>(m));
  }
  return out;
}

at::Tensor to_weights_order(const at::Tensor& columns, const std::vector<std::vector<int64_t>>& mapping) {
  CT_CHECK(columns.defined() && columns.dim() == 2, ShapeError, "to_weights_order: expected (N, C), got ",
           detail::shape_str(columns));
  const int64_t n = columns.size(0), c = columns.size(1), k = static_cast<int64_t>(mapping.size());
  const std::vector<double> v = detail::to_doubles(columns);
  at::Tensor out = at::zeros({n, k}, at::kByte);
  uint8_t* o = out.data_ptr<uint8_t>();
  for (int64_t j = 0; j < k; ++j)
    for (int64_t m : mapping[static_cast<size_t>(j)]) {
      CT_CHECK(m >= 0 && m < c, ShapeError, "to_weights_order: model class ", m, " outside ", c, " columns");
      for (int64_t i = 0; i < n; ++i) o[i * k + j] |= v[static_cast<size_t>(i * c + m)] != 0;
    }
  return out;
}

// --------------------------------------------------------------------------------- AAMI

AamiReport aami_statistics(const at::Tensor& confusion, const AamiOptions& opt) {
  auto [m, k] = detail::square_counts(confusion, "aami_statistics");
  CT_CHECK(k == 5, ShapeError, "aami_statistics: expected a 5 x 5 confusion over N, S, V, F, Q, got ", k, " x ", k);
  enum { N, S, V, F, Q };
  if (opt.exclude_reference_q)
    for (int j = 0; j < 5; ++j) m[static_cast<size_t>(Q * 5 + j)] = 0;
  auto at = [&](int r, int c) { return m[static_cast<size_t>(r * 5 + c)]; };
  double total = 0, trace = 0;
  for (int r = 0; r < 5; ++r)
    for (int c = 0; c < 5; ++c) total += at(r, c), trace += r == c ? at(r, c) : 0;
  AamiReport rep;
  rep.n_beats = static_cast<int64_t>(total);
  rep.gross_accuracy = ratio(trace, total);
  for (int c = 0; c < 5; ++c) {
    double row = 0, col = 0;
    for (int j = 0; j < 5; ++j) row += at(c, j), col += at(j, c);
    const double tp = at(c, c), fn = row - tp, fp_all = col - tp;
    const double fp = fp_all - (c == V && opt.fusion_as_veb_not_fp ? at(F, V) : 0.0);
    const double tn = total - tp - fn - fp_all;
    AamiClassStats s;
    s.tp = static_cast<int64_t>(tp);
    s.fn = static_cast<int64_t>(fn);
    s.fp = static_cast<int64_t>(fp);
    s.tn = static_cast<int64_t>(tn);
    s.se = ratio(tp, tp + fn);
    s.ppv = ratio(tp, tp + fp);
    s.fpr = ratio(fp, fp + tn);
    s.f1 = ratio(2 * tp, 2 * tp + fp + fn);
    rep.classes.push_back(s);
  }
  return rep;
}

// --------------------------------------------------------------------------- delineation

std::vector<WaveSpan> waves_from_mask(const at::Tensor& mask, double threshold) {
  CT_CHECK(mask.defined() && mask.dim() == 1, ShapeError, "waves_from_mask: expected a (T) mask, got ",
           detail::shape_str(mask));
  const std::vector<double> v = detail::to_doubles(mask);
  std::vector<WaveSpan> out;
  const int64_t n = static_cast<int64_t>(v.size());
  for (int64_t i = 0; i < n;) {
    if (!(v[static_cast<size_t>(i)] >= threshold)) {
      ++i;
      continue;
    }
    int64_t j = i;
    while (j + 1 < n && v[static_cast<size_t>(j + 1)] >= threshold) ++j;
    out.push_back({i, j});
    i = j + 1;
  }
  return out;
}

BoundaryMatch match_boundaries(const std::vector<int64_t>& reference, const std::vector<int64_t>& detected,
                               double tolerance) {
  // Every pair within the tolerance, closest first; each side is used at most once.
  std::vector<std::tuple<double, size_t, size_t>> pairs;
  for (size_t r = 0; r < reference.size(); ++r)
    for (size_t d = 0; d < detected.size(); ++d) {
      const double dist = std::fabs(static_cast<double>(detected[d] - reference[r]));
      if (dist <= tolerance) pairs.emplace_back(dist, r, d);
    }
  std::sort(pairs.begin(), pairs.end());
  std::vector<char> ref_used(reference.size(), 0), det_used(detected.size(), 0);
  BoundaryMatch m;
  for (const auto& [dist, r, d] : pairs) {
    if (ref_used[r] || det_used[d]) continue;
    ref_used[r] = det_used[d] = 1;
    ++m.tp;
    m.errors.push_back(static_cast<double>(detected[d] - reference[r]));
  }
  m.fn = static_cast<int64_t>(reference.size()) - m.tp;
  m.fp = static_cast<int64_t>(detected.size()) - m.tp;
  return m;
}

DelineationAccumulator::DelineationAccumulator(std::vector<std::string> class_names, double fs, DelineationOptions o)
    : names_(std::move(class_names)), fs_(fs), opt_(o) {
  CT_CHECK(fs > 0, ConfigError, "delineation metric: the sampling rate must be > 0, got ", fs);
  CT_CHECK(o.tolerance_ms > 0, ConfigError, "delineation metric: tolerance must be > 0 ms, got ", o.tolerance_ms);
  CT_CHECK(!names_.empty(), ConfigError, "delineation metric: no wave classes");
  reset();
}

void DelineationAccumulator::reset() {
  acc_.assign(names_.size() * 2, BoundaryMatch{});
  n_ref_.assign(names_.size() * 2, 0);
  n_det_.assign(names_.size() * 2, 0);
  records_ = 0;
}

void DelineationAccumulator::add(const at::Tensor& predicted, const at::Tensor& reference) {
  CT_CHECK(predicted.defined() && reference.defined() && predicted.sizes() == reference.sizes() &&
               (predicted.dim() == 2 || predicted.dim() == 3),
           ShapeError, "delineation metric: predicted masks ", detail::shape_str(predicted), " and reference masks ",
           detail::shape_str(reference), " must both be (C, T) or (N, C, T)");
  if (predicted.dim() == 3) {
    for (int64_t i = 0; i < predicted.size(0); ++i) add(predicted[i], reference[i]);
    return;
  }
  CT_CHECK(predicted.size(0) == static_cast<int64_t>(names_.size()), ShapeError,
           "delineation metric: ", predicted.size(0), " mask channels for ", names_.size(), " wave classes (",
           join(names_), ")");
  // Reference label -1 marks samples nobody annotated (LUDB leaves about a cycle at each end):
  // detections there are neither right nor wrong, so only those within the tolerance of the
  // annotated span [first, last] are counted. A record with nothing annotated is skipped.
  const int64_t t = predicted.size(1);
  int64_t first = 0, last = t - 1;
  const at::Tensor scored = reference.ge(0).all(0);
  if (!scored.all().item<bool>()) {
    const at::Tensor idx = scored.nonzero();
    if (idx.numel() == 0) return;
    first = idx.min().item<int64_t>();
    last = idx.max().item<int64_t>();
  }
  std::vector<std::vector<WaveSpan>> p, r;
  for (int64_t c = 0; c < predicted.size(0); ++c) {
    p.push_back(waves_from_mask(predicted[c], opt_.threshold));
    r.push_back(waves_from_mask(reference[c], opt_.threshold));
  }
  if (opt_.skip_edge_boundaries)
    for (auto* waves : {&p, &r})
      for (auto& list : *waves)
        for (auto& w : list) {
          if (w.onset == 0) w.onset = -1;  // marked: no onset inside the window
          if (w.offset == t - 1) w.offset = -1;
        }
  if (first > 0 || last < t - 1) {
    const double tol = opt_.tolerance_ms * fs_ / 1000.0;
    auto outside = [&](int64_t x) { return x < 0 || x < first - tol || x > last + tol; };
    for (auto& list : p)
      for (auto& w : list) {
        if (outside(w.onset)) w.onset = -1;
        if (outside(w.offset)) w.offset = -1;
      }
  }
  add_waves(p, r);
}

void DelineationAccumulator::add_waves(const std::vector<std::vector<WaveSpan>>& predicted,
                                       const std::vector<std::vector<WaveSpan>>& reference) {
  CT_CHECK(predicted.size() == names_.size() && reference.size() == names_.size(), ShapeError,
           "delineation metric: wave lists for ", predicted.size(), " / ", reference.size(), " classes, expected ",
           names_.size());
  const double tol = opt_.tolerance_ms * fs_ / 1000.0;
  for (size_t c = 0; c < names_.size(); ++c)
    for (int which = 0; which < 2; ++which) {
      auto points = [which](const std::vector<WaveSpan>& waves) {
        std::vector<int64_t> v;
        for (const auto& w : waves) {
          const int64_t x = which == 0 ? w.onset : w.offset;
          if (x >= 0) v.push_back(x);
        }
        return v;
      };
      const auto ref = points(reference[c]), det = points(predicted[c]);
      const BoundaryMatch m = match_boundaries(ref, det, tol);
      BoundaryMatch& a = acc_[c * 2 + static_cast<size_t>(which)];
      a.tp += m.tp;
      a.fp += m.fp;
      a.fn += m.fn;
      a.errors.insert(a.errors.end(), m.errors.begin(), m.errors.end());
      n_ref_[c * 2 + static_cast<size_t>(which)] += static_cast<int64_t>(ref.size());
      n_det_[c * 2 + static_cast<size_t>(which)] += static_cast<int64_t>(det.size());
    }
  ++records_;
}

BoundaryStats DelineationAccumulator::stats(size_t cls, int which) const {
  CT_CHECK(cls < names_.size(), ShapeError, "delineation metric: class ", cls, " of ", names_.size());
  const size_t i = cls * 2 + static_cast<size_t>(which);
  const BoundaryMatch& a = acc_[i];
  BoundaryStats s;
  s.n_reference = n_ref_[i];
  s.n_detected = n_det_[i];
  s.tp = a.tp;
  s.fp = a.fp;
  s.fn = a.fn;
  const double tp = static_cast<double>(a.tp), fp = static_cast<double>(a.fp), fn = static_cast<double>(a.fn);
  s.se = ratio(tp, tp + fn);
  s.ppv = ratio(tp, tp + fp);
  s.f1 = ratio(2 * tp, 2 * tp + fp + fn);
  if (a.errors.empty()) {
    s.mean_error_ms = s.std_error_ms = kNaN;
  } else {
    double mean = 0;
    for (double e : a.errors) mean += e;
    mean /= static_cast<double>(a.errors.size());
    double var = 0;
    for (double e : a.errors) var += (e - mean) * (e - mean);
    var /= static_cast<double>(a.errors.size());
    s.mean_error_ms = mean * 1000.0 / fs_;
    s.std_error_ms = std::sqrt(var) * 1000.0 / fs_;
  }
  return s;
}

}  // namespace cardiotorch::train
