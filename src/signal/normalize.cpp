#include "cardiotorch/signal/normalize.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include <limits>

#include "signal/common.h"

namespace cardiotorch::signal {

namespace {

void check_axis(const std::string& axis) {
  check_choice("axis", axis, {"lead", "record"});
}

int64_t count_of(const at::Tensor& x, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (auto d : dims) n *= x.size(d);
  return n;
}

// Mean and std (ddof) over dims, kept.
std::pair<at::Tensor, at::Tensor> mean_std(const at::Tensor& x, const std::vector<int64_t>& dims, int64_t ddof,
                                           const std::string& who) {
  const int64_t n = count_of(x, dims);
  CT_CHECK(n - ddof > 0, ShapeError, who, ": need more than ddof = ", ddof, " samples per statistic, got ", n);
  at::Tensor m = x.mean(dims, true);
  at::Tensor var = (x - m).square().sum(dims, true) / static_cast<double>(n - ddof);
  return {m, var.sqrt()};
}

// x with the statistic dims of `axis` flattened into the last one.
at::Tensor flat_for(const at::Tensor& x, const std::string& axis) {
  return (axis == "record" && x.dim() >= 2) ? x.flatten(-2) : x;
}

}  // namespace

std::vector<int64_t> stat_dims(const at::Tensor& x, const std::string& axis) {
  check_axis(axis);
  if (axis == "record" && x.dim() >= 2) return {-2, -1};
  return {-1};
}

namespace {

// Quantiles of each row by selection (nth_element), in double, on contiguous CPU rows.
template <class T>
void quantiles_cpu(const T* in, T* out, int64_t rows, int64_t n, const std::vector<double>& qs) {
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = in + r * n;
      for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(xr[i]);
      for (size_t j = 0; j < qs.size(); ++j) {
        const double pos = qs[j] * static_cast<double>(n - 1);
        const auto lo = static_cast<int64_t>(std::floor(pos));
        const double frac = pos - static_cast<double>(lo);
        std::nth_element(v.begin(), v.begin() + lo, v.end());
        const double a = v[lo];
        // the next order statistic is the minimum of the upper part
        const double b = lo + 1 < n ? *std::min_element(v.begin() + lo + 1, v.end()) : a;
        out[r * static_cast<int64_t>(qs.size()) + static_cast<int64_t>(j)] = static_cast<T>(a + (b - a) * frac);
      }
    }
  });
}

}  // namespace

at::Tensor quantile_last(const at::Tensor& x, double q) { return quantiles_last(x, {q}); }

at::Tensor quantiles_last(const at::Tensor& x, const std::vector<double>& qs) {
  const int64_t n = x.size(-1);
  CT_CHECK(n >= 1, ShapeError, "quantile: the signal is empty");
  for (double q : qs) CT_CHECK(q >= 0 && q <= 1, ConfigError, "quantile: q must be in [0, 1], got ", q);
  std::vector<int64_t> shape = detail::with_length(x, static_cast<int64_t>(qs.size()));
  const bool finite = x.device().is_cpu() && at::isfinite(x).all().item<bool>();
  if (finite) {
    // Selection needs a total order; NaN/Inf go through the sort below.
    at::Tensor rows = detail::as_rows(x);
    at::Tensor out = at::empty({rows.size(0), static_cast<int64_t>(qs.size())}, rows.options());
    if (x.scalar_type() == at::kDouble)
      quantiles_cpu(rows.data_ptr<double>(), out.data_ptr<double>(), rows.size(0), n, qs);
    else
      quantiles_cpu(rows.data_ptr<float>(), out.data_ptr<float>(), rows.size(0), n, qs);
    return out.reshape(shape);
  }
  at::Tensor s = std::get<0>(x.sort(-1));
  std::vector<at::Tensor> parts;
  for (double q : qs) {
    const double pos = q * static_cast<double>(n - 1);
    const auto lo = static_cast<int64_t>(std::floor(pos));
    const int64_t hi = std::min(lo + 1, n - 1);
    const double frac = pos - static_cast<double>(lo);
    at::Tensor a = s.narrow(-1, lo, 1), b = s.narrow(-1, hi, 1);
    parts.push_back(frac == 0.0 ? a : a + (b - a) * frac);
  }
  return at::cat(parts, -1);
}

void ZScoreOptions::validate() const {
  check_axis(axis);
  CT_CHECK(ddof >= 0, ConfigError, "ddof must be >= 0, got ", ddof);
  CT_CHECK(eps >= 0, ConfigError, "eps must be >= 0, got ", eps);
  CT_CHECK(std > 0, ConfigError, "std must be > 0, got ", std);
}

void GroupZScoreOptions::validate() const {
  CT_CHECK(!groups.empty(), ConfigError, "groups must list at least one [start, end) range");
  std::vector<std::pair<int64_t, int64_t>> seen;
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& g = groups[i];
    CT_CHECK(g.size() == 2 && g[0] >= 0 && g[0] < g[1], ConfigError, "groups[", i,
             "] must be [start, end) with 0 <= start < end");
    for (const auto& s : seen)
      CT_CHECK(g[1] <= s.first || g[0] >= s.second, ConfigError, "groups[", i, "] = [", g[0], ", ", g[1],
               ") overlaps [", s.first, ", ", s.second, ")");
    seen.emplace_back(g[0], g[1]);
  }
  CT_CHECK(ddof >= 0, ConfigError, "ddof must be >= 0, got ", ddof);
  CT_CHECK(eps >= 0, ConfigError, "eps must be >= 0, got ", eps);
}

void MinMaxOptions::validate() const {
  check_axis(axis);
  CT_CHECK(eps >= 0, ConfigError, "eps must be >= 0, got ", eps);
}

void FixedNormOptions::validate() const {
  CT_CHECK(!mean.empty() && !std.empty(), ConfigError, "mean and std need at least one value");
  for (double s : std) CT_CHECK(s > 0, ConfigError, "std values must be > 0, got ", s);
}

void ClipOptions::validate() const {
  check_axis(axis);
  CT_CHECK(k > 0, ConfigError, "k must be > 0, got ", k);
  CT_CHECK(ddof >= 0, ConfigError, "ddof must be >= 0, got ", ddof);
}

namespace {

class ZScoreStep : public OptionsStep<ZScoreOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "zscore"; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    const auto& o = options_;
    auto [m, s] = mean_std(b.x, stat_dims(b.x, o.axis), o.ddof, name());
    b.x = (b.x - m) / (s + o.eps) * o.std + o.mean;
  }
};

class GroupZScoreStep : public OptionsStep<GroupZScoreOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "groupwise_zscore"; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    at::Tensor x = detail::as_blc(b.x);
    const int64_t leads = x.size(1);
    at::Tensor y = x.clone();
    for (size_t i = 0; i < options_.groups.size(); ++i) {
      const auto& g = options_.groups[i];
      CT_CHECK(g[1] <= leads, ShapeError, name(), ": groups[", i, "] = [", g[0], ", ", g[1], ") needs ", g[1],
               " leads, the signal has ", leads);
      at::Tensor part = x.narrow(1, g[0], g[1] - g[0]);
      auto [m, s] = mean_std(part, {-2, -1}, options_.ddof, name());
      y.narrow(1, g[0], g[1] - g[0]).copy_((part - m) / (s + options_.eps));
    }
    b.x = y.reshape(b.x.sizes());
  }
};

class MinMaxStep : public OptionsStep<MinMaxOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "minmax"; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    at::Tensor f = flat_for(b.x, options_.axis);
    at::Tensor lo = std::get<0>(f.min(-1, true)), hi = std::get<0>(f.max(-1, true));
    b.x = ((f - lo) / (hi - lo + options_.eps)).reshape(b.x.sizes());
  }
};

class RobustStep : public OptionsStep<MinMaxOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "robust_scale"; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    at::Tensor f = flat_for(b.x, options_.axis);
    at::Tensor q = quantiles_last(f, {0.5, 0.25, 0.75});
    at::Tensor med = q.narrow(-1, 0, 1), q25 = q.narrow(-1, 1, 1), q75 = q.narrow(-1, 2, 1);
    b.x = ((f - med) / (q75 - q25 + options_.eps)).reshape(b.x.sizes());
  }
};

class FixedNormStep : public OptionsStep<FixedNormOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "normalize"; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    const int64_t leads = b.x.dim() >= 2 ? b.x.size(-2) : 1;
    auto per_lead = [&](const std::vector<double>& v, const char* what) {
      CT_CHECK(v.size() == 1 || static_cast<int64_t>(v.size()) == leads, ShapeError, name(), ": ", what,
               " has ", v.size(), " values; expected 1 or one per lead (", leads, ")");
      at::Tensor t = at::tensor(v, at::TensorOptions().dtype(at::kDouble)).to(b.x.options());
      return b.x.dim() >= 2 ? t.reshape({-1, 1}) : t;
    };
    b.x = (b.x - per_lead(options_.mean, "mean")) / per_lead(options_.std, "std");
  }
};

class ClipStep : public OptionsStep<ClipOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "clip"; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    auto [m, s] = mean_std(b.x, stat_dims(b.x, options_.axis), options_.ddof, name());
    b.x = at::max(at::min(b.x, m + s * options_.k), m - s * options_.k);
  }
};

class NanToNumStep : public OptionsStep<NanToNumOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "nan_to_num"; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    auto opt = [](const std::optional<double>& v) { return v ? c10::optional<double>(*v) : c10::nullopt; };
    b.x = at::nan_to_num(b.x, options_.nan, opt(options_.posinf), opt(options_.neginf));
  }
};

}  // namespace

CT_REGISTER(preprocessor_registry(), "zscore", (make_from_options<ZScoreStep, ZScoreOptions>),
            "z-score per lead or per record (ddof 1 like torch_ecg by default)");
CT_REGISTER(preprocessor_registry(), "groupwise_zscore", (make_from_options<GroupZScoreStep, GroupZScoreOptions>),
            "z-score with one set of statistics per lead group ([0,3), [3,6), [6,12) by default)");
CT_REGISTER(preprocessor_registry(), "minmax", (make_from_options<MinMaxStep, MinMaxOptions>),
            "min-max scaling to [0, 1] per lead or per record");
CT_REGISTER(preprocessor_registry(), "robust_scale", (make_from_options<RobustStep, MinMaxOptions>),
            "(x - median) / IQR per lead or per record");
CT_REGISTER(preprocessor_registry(), "normalize", (make_from_options<FixedNormStep, FixedNormOptions>),
            "(x - mean) / std with fixed values (scalar or per lead)");
CT_REGISTER(preprocessor_registry(), "clip", (make_from_options<ClipStep, ClipOptions>),
            "clamp to mean +- k*std per lead or per record");
CT_REGISTER(preprocessor_registry(), "nan_to_num", (make_from_options<NanToNumStep, NanToNumOptions>),
            "replace NaN / +-Inf by finite values");

}  // namespace cardiotorch::signal
