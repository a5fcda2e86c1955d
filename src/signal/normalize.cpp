#include "cardiotorch/signal/normalize.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include <limits>
#include <type_traits>

#include "signal/common.h"

namespace cardiotorch::signal {

namespace {

void check_axis(const std::string& axis) { check_choice("axis", axis, {"lead", "record"}); }

int64_t count_of(const at::Tensor& x, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (auto d : dims) n *= x.size(d);
  return n;
}

void check_count(int64_t n, int64_t ddof, const std::string& who) {
  CT_CHECK(n - ddof > 0, ShapeError, who, ": need more than ddof = ", ddof, " samples per statistic, got ", n);
}

// Mean and std (ddof) over dims, kept.
std::pair<at::Tensor, at::Tensor> mean_std(const at::Tensor& x, const std::vector<int64_t>& dims, int64_t ddof,
                                           const std::string& who) {
  const int64_t n = count_of(x, dims);
  check_count(n, ddof, who);
  at::Tensor m = x.mean(dims, true);
  at::Tensor var = (x - m).square().sum(dims, true) / static_cast<double>(n - ddof);
  return {m, var.sqrt()};
}

// x with the statistic dims of `axis` flattened into the last one.
at::Tensor flat_for(const at::Tensor& x, const std::string& axis) {
  return (axis == "record" && x.dim() >= 2) ? x.flatten(-2) : x;
}

// ---------------------------------------------------------------------------------------
// Fused CPU kernels: statistics and output of each group (a row, or a whole record) in one
// kernel, reading the group three times while it is in cache (sum, squared deviations, write)
// and writing in place or into one output buffer. The tensor-op version ran 7 full passes with
// 6 signal-sized temporaries (mean, x - m, square, sum, sub, div, mul, add).

// Sum of a group in double with 8 independent accumulators (vectorisable, and much less
// rounding error than one running float sum).
template <class T>
double group_sum(const T* x, int64_t m) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= m; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += static_cast<double>(x[i + j]);
  double s = 0;
  for (; i < m; ++i) s += static_cast<double>(x[i]);
  return s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

template <class T>
double group_sq_dev(const T* x, int64_t m, double mean) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= m; i += 8)
    for (int j = 0; j < 8; ++j) {
      const double d = static_cast<double>(x[i + j]) - mean;
      acc[j] += d * d;
    }
  double s = 0;
  for (; i < m; ++i) {
    const double d = static_cast<double>(x[i]) - mean;
    s += d * d;
  }
  return s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Mean and std (ddof) of one group; NaN/Inf propagate as in the tensor ops.
template <class T>
std::pair<double, double> group_mean_std(const T* x, int64_t m, int64_t ddof) {
  const double mean = group_sum(x, m) / static_cast<double>(m);
  return {mean, std::sqrt(group_sq_dev(x, m, mean) / static_cast<double>(m - ddof))};
}

// Runs f(in_group, out_group, m) over the groups of x (consecutive runs of `m` values) in
// parallel and returns the output: x's own buffer when `writable`, else one new tensor.
template <class F>
at::Tensor map_groups(const at::Tensor& x, int64_t m, bool writable, F&& f) {
  const detail::InOut io = detail::in_out(x, writable);
  const int64_t groups = x.numel() / m;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / m);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "map_groups", [&] {
    const scalar_t* pi = io.in.data_ptr<scalar_t>();
    scalar_t* po = io.out.data_ptr<scalar_t>();
    at::parallel_for(0, groups, grain, [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g) f(pi + g * m, po + g * m, m);
    });
  });
  return io.out;
}

// Values per statistic group for an axis (a row, or all leads of a record).
int64_t group_size(const at::Tensor& x, const std::string& axis) {
  return (axis == "record" && x.dim() >= 2) ? x.size(-2) * x.size(-1) : x.size(-1);
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
    else quantiles_cpu(rows.data_ptr<float>(), out.data_ptr<float>(), rows.size(0), n, qs);
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
    if (!b.x.device().is_cpu()) {
      auto [m, s] = mean_std(b.x, stat_dims(b.x, o.axis), o.ddof, name());
      b.x = (b.x - m) / (s + o.eps) * o.std + o.mean;
      return;
    }
    const bool writable = detail::can_overwrite(b.x);
    const int64_t m = group_size(b.x, o.axis);
    check_count(m, o.ddof, name());
    b.x = map_groups(b.x, m, writable, [&](auto* in, auto* out, int64_t len) {
      using T = std::remove_const_t<std::remove_pointer_t<decltype(in)>>;
      const auto [mean, sd] = group_mean_std(in, len, o.ddof);
      // y = (x - mean) / (sd + eps) * std + target mean, as one multiply-add per sample.
      const double scale = o.std / (sd + o.eps), shift = o.mean;
      for (int64_t i = 0; i < len; ++i) out[i] = static_cast<T>((static_cast<double>(in[i]) - mean) * scale + shift);
    });
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
      CT_CHECK(v.size() == 1 || static_cast<int64_t>(v.size()) == leads, ShapeError, name(), ": ", what, " has ",
               v.size(), " values; expected 1 or one per lead (", leads, ")");
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
    const auto& o = options_;
    if (!b.x.device().is_cpu()) {
      auto [m, s] = mean_std(b.x, stat_dims(b.x, o.axis), o.ddof, name());
      b.x = at::max(at::min(b.x, m + s * o.k), m - s * o.k);
      return;
    }
    const bool writable = detail::can_overwrite(b.x);
    const int64_t m = group_size(b.x, o.axis);
    check_count(m, o.ddof, name());
    b.x = map_groups(b.x, m, writable, [&](auto* in, auto* out, int64_t len) {
      using T = std::remove_const_t<std::remove_pointer_t<decltype(in)>>;
      const auto [mean, sd] = group_mean_std(in, len, o.ddof);
      // Bounds rounded to T like the tensor version's (m ± k·s computed in T).
      const T lo = static_cast<T>(static_cast<T>(mean) - static_cast<T>(sd) * static_cast<T>(o.k));
      const T hi = static_cast<T>(static_cast<T>(mean) + static_cast<T>(sd) * static_cast<T>(o.k));
      if (std::isnan(lo) || std::isnan(hi)) {  // a NaN statistic makes every output NaN (min/max propagate it)
        for (int64_t i = 0; i < len; ++i) out[i] = std::numeric_limits<T>::quiet_NaN();
        return;
      }
      // NaN samples stay NaN: both comparisons are false.
      for (int64_t i = 0; i < len; ++i) out[i] = in[i] > hi ? hi : (in[i] < lo ? lo : in[i]);
    });
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
