#include "cardiotorch/signal/baseline.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "signal/common.h"

namespace cardiotorch::signal {

namespace {

int64_t torch_ecg_window(double w, double fs, int64_t n) {
  int64_t k = detail::round_half_even(w * fs);
  k = std::clamp<int64_t>(k, 1, n);
  if (k % 2 == 0 && k > 1) --k;
  return k;
}

int64_t medfilt_window(double w, double fs) {
  // Python int() truncates toward zero.
  const int64_t t = static_cast<int64_t>(w * fs);
  return 2 * (t / 2) + 1;
}

}  // namespace

at::Tensor moving_average(const at::Tensor& x, int64_t k) {
  detail::check_signal(x, "moving_average");
  const int64_t n = x.size(-1);
  CT_CHECK(k >= 1 && k % 2 == 1 && k / 2 < std::max<int64_t>(n, 1), ShapeError,
           "moving_average: window must be odd and shorter than twice the signal, got ", k, " for ", n, " samples");
  if (k == 1) return x.clone();
  const int64_t h = k / 2;
  at::Tensor rows = detail::as_rows(x).to(at::kDouble);
  at::Tensor padded = at::reflection_pad1d(rows, {h, h});
  at::Tensor c = at::cumsum(padded, 1);
  c = at::cat({at::zeros({c.size(0), 1}, c.options()), c}, 1);
  at::Tensor ma = (c.narrow(1, k, n) - c.narrow(1, 0, n)) / static_cast<double>(k);
  return ma.to(x.scalar_type()).reshape(x.sizes());
}

namespace {

// Centred running mean of `in` (n samples, reflect-padded by k/2) into `out`, in double.
void running_mean_reflect(const double* in, double* out, int64_t n, int64_t k) {
  const int64_t h = k / 2;
  auto at_reflect = [&](int64_t j) { return in[j < 0 ? -j : (j >= n ? 2 * (n - 1) - j : j)]; };
  double s = 0.0;
  for (int64_t j = -h; j <= h; ++j) s += at_reflect(j);
  // Divide (not multiply by 1/k) so a constant signal gives its value back exactly.
  const double kd = static_cast<double>(k);
  out[0] = s / kd;
  for (int64_t i = 1; i < n; ++i) {
    s += at_reflect(i + h) - at_reflect(i - 1 - h);
    out[i] = s / kd;
  }
}

// Per-thread scratch rows, grown to the longest row seen and then reused: no allocation (and
// no page faults on fresh memory) per call.
std::vector<double>& scratch(int which) {
  thread_local std::vector<double> rows[2];
  return rows[which];
}

// The cascaded moving-average baseline of each row; writes x - baseline (subtract) or the
// baseline into `out`, which may be `x` itself (each sample is read before it is written).
template <class T>
void ma_baseline_cpu(const T* x, T* out, int64_t rows, int64_t n, int64_t k1, int64_t k2, bool subtract) {
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<double>& a = scratch(0);
    std::vector<double>& b = scratch(1);
    if (static_cast<int64_t>(a.size()) < n) {
      a.resize(static_cast<size_t>(n));
      b.resize(static_cast<size_t>(n));
    }
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      for (int64_t i = 0; i < n; ++i) a[i] = static_cast<double>(xr[i]);
      running_mean_reflect(a.data(), b.data(), n, k1);
      running_mean_reflect(b.data(), a.data(), n, k2);
      T* o = out + r * n;
      if (subtract) {
        for (int64_t i = 0; i < n; ++i) o[i] = xr[i] - static_cast<T>(a[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(a[i]);
      }
    }
  });
}

// CPU: the kernel over the rows of x, into a new buffer or x's own when writable.
at::Tensor ma_baseline_rows(const at::Tensor& x, double fs, double window1, double window2, bool subtract,
                            bool writable) {
  const int64_t n = x.size(-1), rows = x.numel() / n;
  const detail::InOut io = detail::in_out(x, writable);
  const int64_t k1 = torch_ecg_window(window1, fs, n), k2 = torch_ecg_window(window2, fs, n);
  if (x.scalar_type() == at::kDouble)
    ma_baseline_cpu(io.in.data_ptr<double>(), io.out.data_ptr<double>(), rows, n, k1, k2, subtract);
  else ma_baseline_cpu(io.in.data_ptr<float>(), io.out.data_ptr<float>(), rows, n, k1, k2, subtract);
  return io.out;
}

}  // namespace

at::Tensor moving_average_baseline(const at::Tensor& x, double fs, double window1, double window2) {
  detail::check_signal(x, "moving_average");
  const int64_t n = x.size(-1);
  // One pass per row in plain C++ (the tensor-op version below runs ~10 ops over the batch).
  if (x.device().is_cpu() && n >= 1) return ma_baseline_rows(x, fs, window1, window2, /*subtract=*/false, false);
  at::Tensor base = moving_average(x.to(at::kDouble), torch_ecg_window(window1, fs, n));
  base = moving_average(base, torch_ecg_window(window2, fs, n));
  return base.to(x.scalar_type());
}

namespace {

enum class MedianPad { kNearest, kZero, kReflect };

MedianPad parse_median_pad(const std::string& pad) {
  if (pad == "nearest") return MedianPad::kNearest;
  if (pad == "zero") return MedianPad::kZero;
  if (pad == "reflect") return MedianPad::kReflect;
  throw ArgumentError(str_cat("median_filter: pad must be nearest, zero or reflect, got '", pad, "'"));
}

// Index into [0, n) that padded position j (j < 0 or j >= n) reads; -1 reads a zero. Reflection
// repeats with period 2(n-1), so windows longer than the signal stay defined.
int64_t padded_index(int64_t j, int64_t n, MedianPad pad) {
  if (j >= 0 && j < n) return j;
  switch (pad) {
    case MedianPad::kZero: return -1;
    case MedianPad::kNearest: return j < 0 ? 0 : n - 1;
    case MedianPad::kReflect: {
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      int64_t m = j % period;
      if (m < 0) m += period;
      return m < n ? m : period - m;
    }
  }
  return -1;
}

// Sliding median over a padded row with a sorted window: O(k) memmove per sample.
template <class T>
void medfilt_cpu(const T* x, T* out, int64_t rows, int64_t n, int64_t k, MedianPad pad) {
  const int64_t h = k / 2;
  std::vector<int64_t> src(static_cast<size_t>(2 * h));  // where each pad sample comes from
  for (int64_t j = 0; j < h; ++j) {
    src[j] = padded_index(j - h, n, pad);
    src[h + j] = padded_index(n + j, n, pad);
  }
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> p(static_cast<size_t>(n + 2 * h), 0.0), w;
    w.reserve(static_cast<size_t>(k));
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      for (int64_t i = 0; i < n; ++i) p[h + i] = static_cast<double>(xr[i]);
      for (int64_t j = 0; j < h; ++j) {
        p[j] = src[j] < 0 ? 0.0 : static_cast<double>(xr[src[j]]);
        p[h + n + j] = src[h + j] < 0 ? 0.0 : static_cast<double>(xr[src[h + j]]);
      }
      w.assign(p.begin(), p.begin() + k);
      std::sort(w.begin(), w.end());
      T* o = out + r * n;
      o[0] = static_cast<T>(w[h]);
      for (int64_t i = 1; i < n; ++i) {
        w.erase(std::lower_bound(w.begin(), w.end(), p[i - 1]));
        const double add = p[i + k - 1];
        w.insert(std::upper_bound(w.begin(), w.end(), add), add);
        o[i] = static_cast<T>(w[h]);
      }
    }
  });
}

}  // namespace

at::Tensor median_filter(const at::Tensor& x, int64_t k, const std::string& pad) {
  detail::check_signal(x, "median_filter");
  CT_CHECK(k >= 1 && k % 2 == 1, ArgumentError, "median_filter: kernel size must be odd and >= 1, got ", k);
  const MedianPad mode = parse_median_pad(pad);
  if (k == 1) return x.clone();
  const int64_t n = x.size(-1), h = k / 2;
  if (n == 0) return x.clone();
  at::Tensor rows = detail::as_rows(x);
  at::Tensor out = at::empty_like(rows);
  // The sorted-window kernel needs a total order: NaN/Inf rows take the tensor path.
  if (x.device().is_cpu() && at::isfinite(rows).all().item<bool>()) {
    if (x.scalar_type() == at::kDouble)
      medfilt_cpu(rows.data_ptr<double>(), out.data_ptr<double>(), rows.size(0), n, k, mode);
    else medfilt_cpu(rows.data_ptr<float>(), out.data_ptr<float>(), rows.size(0), n, k, mode);
    return out.reshape(x.sizes());
  }
  // Padded positions as gather indices (zero padding reads an appended zero column).
  std::vector<int64_t> gather(static_cast<size_t>(n + 2 * h));
  for (int64_t j = -h; j < n + h; ++j) {
    const int64_t s = padded_index(j, n, mode);
    gather[static_cast<size_t>(j + h)] = s < 0 ? n : s;
  }
  const at::Tensor idx = at::tensor(gather, at::kLong).to(x.device());
  // Bound the unfolded (rows, n, k) working set to ~32M elements per chunk.
  const int64_t per_row = std::max<int64_t>(1, n * k);
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 25) / per_row);
  for (int64_t r0 = 0; r0 < rows.size(0); r0 += chunk) {
    const int64_t m = std::min(chunk, rows.size(0) - r0);
    at::Tensor part = at::constant_pad_nd(rows.narrow(0, r0, m), {0, 1}, 0.0).index_select(1, idx);
    out.narrow(0, r0, m).copy_(std::get<0>(part.unfold(1, k, 1).median(-1)));
  }
  return out.reshape(x.sizes());
}

at::Tensor medfilt(const at::Tensor& x, int64_t k) { return median_filter(x, k, "zero"); }

// ---------------------------------------------------------------------------------------
// ALS

namespace {

// Bands of DᵀD for the (n-2) x n second-difference matrix D: diagonal, first and second
// super-diagonals.
void second_difference_bands(int64_t n, std::vector<double>& e0, std::vector<double>& e1, std::vector<double>& e2) {
  e0.assign(n, 0.0);
  e1.assign(std::max<int64_t>(n - 1, 0), 0.0);
  e2.assign(std::max<int64_t>(n - 2, 0), 0.0);
  const double c[3] = {1.0, -2.0, 1.0};
  for (int64_t r = 0; r + 2 < n; ++r)
    for (int a = 0; a < 3; ++a) {
      e0[r + a] += c[a] * c[a];
      if (a + 1 < 3) e1[r + a] += c[a] * c[a + 1];
      if (a + 2 < 3) e2[r + a] += c[a] * c[a + 2];
    }
}

// One row: y (n doubles) -> baseline z.
void als_row(const double* y, double* z, int64_t n, double lam, double p, int64_t niter, const std::vector<double>& e0,
             const std::vector<double>& e1, const std::vector<double>& e2, std::vector<double>& w,
             std::vector<double>& d, std::vector<double>& l1, std::vector<double>& l2, std::vector<double>& u) {
  std::fill(w.begin(), w.end(), 1.0);
  for (int64_t it = 0; it < niter; ++it) {
    // LDLᵀ of the pentadiagonal A = W + lam·DᵀD: l1[i] = L(i, i-1), l2[i] = L(i, i-2).
    for (int64_t i = 0; i < n; ++i) {
      const double a2 = i >= 2 ? lam * e2[i - 2] : 0.0;
      const double a1 = i >= 1 ? lam * e1[i - 1] : 0.0;
      const double li2 = i >= 2 ? a2 / d[i - 2] : 0.0;
      const double li1 = i >= 1 ? (a1 - (i >= 2 ? li2 * d[i - 2] * l1[i - 1] : 0.0)) / d[i - 1] : 0.0;
      double di = w[i] + lam * e0[i];
      if (i >= 1) di -= li1 * li1 * d[i - 1];
      if (i >= 2) di -= li2 * li2 * d[i - 2];
      l1[i] = li1;
      l2[i] = li2;
      d[i] = di;
    }
    for (int64_t i = 0; i < n; ++i) {
      double v = w[i] * y[i];
      if (i >= 1) v -= l1[i] * u[i - 1];
      if (i >= 2) v -= l2[i] * u[i - 2];
      u[i] = v;
    }
    for (int64_t i = n - 1; i >= 0; --i) {
      double v = u[i] / d[i];
      if (i + 1 < n) v -= l1[i + 1] * z[i + 1];
      if (i + 2 < n) v -= l2[i + 2] * z[i + 2];
      z[i] = v;
    }
    int64_t nonzero = 0;
    for (int64_t i = 0; i < n; ++i) {
      w[i] = y[i] > z[i] ? p : (y[i] < z[i] ? 1.0 - p : 0.0);
      nonzero += w[i] != 0.0;
    }
    // A fit through every sample (a constant or straight lead: an absent lead stored as zeros)
    // zeroes every weight, and W + lam·DᵀD is singular without two weighted samples (scipy's
    // spsolve returns NaN there). Uniform weights reproduce the exact fit instead.
    if (nonzero < 2) std::fill(w.begin(), w.end(), 1.0);
  }
}

void check_als(int64_t n, double lam, double p, int64_t niter) {
  CT_CHECK(lam > 0, ConfigError, "als: lam must be > 0, got ", lam);
  CT_CHECK(p > 0 && p < 1, ConfigError, "als: p must be in (0, 1), got ", p);
  CT_CHECK(niter >= 1, ConfigError, "als: niter must be >= 1, got ", niter);
  (void)n;
}

}  // namespace

at::Tensor als_baseline(const at::Tensor& x, double lam, double p, int64_t niter) {
  detail::check_signal(x, "als");
  const int64_t n = x.size(-1);
  check_als(n, lam, p, niter);
  if (n < 3) return x.clone();  // no second differences: the fit is exact
  if (!x.device().is_cpu()) return detail::als_baseline_tensor_ops(x, lam, p, niter);
  at::Tensor rows = detail::as_rows(x).to(at::kDouble).contiguous();
  at::Tensor out = at::empty_like(rows);
  std::vector<double> e0, e1, e2;
  second_difference_bands(n, e0, e1, e2);
  const double* in = rows.data_ptr<double>();
  double* o = out.data_ptr<double>();
  at::parallel_for(0, rows.size(0), 1, [&](int64_t begin, int64_t end) {
    std::vector<double> w(n), d(n), l1(n), l2(n), u(n);
    for (int64_t r = begin; r < end; ++r) als_row(in + r * n, o + r * n, n, lam, p, niter, e0, e1, e2, w, d, l1, l2, u);
  });
  return out.to(x.scalar_type()).reshape(x.sizes());
}

namespace detail {
at::Tensor als_baseline_tensor_ops(const at::Tensor& x, double lam, double p, int64_t niter) {
  const int64_t n = x.size(-1);
  check_als(n, lam, p, niter);
  if (n < 3) return x.clone();
  std::vector<double> e0, e1, e2;
  second_difference_bands(n, e0, e1, e2);
  // Time-major (n, rows): each step works on one contiguous [rows] slice.
  at::Tensor y = as_rows(x).to(at::kDouble).t().contiguous();
  at::Tensor w = at::ones_like(y), d = at::empty_like(y), l1 = at::zeros_like(y), l2 = at::zeros_like(y);
  at::Tensor u = at::empty_like(y), z = at::empty_like(y);
  for (int64_t it = 0; it < niter; ++it) {
    for (int64_t i = 0; i < n; ++i) {
      at::Tensor di = w[i] + lam * e0[i];
      if (i >= 2) {
        at::Tensor li2 = (lam * e2[i - 2]) / d[i - 2];
        l2[i].copy_(li2);
        di = di - li2 * li2 * d[i - 2];
      }
      if (i >= 1) {
        at::Tensor li1 =
            (i >= 2 ? (lam * e1[i - 1] - l2[i] * d[i - 2] * l1[i - 1]) : at::full_like(di, lam * e1[i - 1])) / d[i - 1];
        l1[i].copy_(li1);
        di = di - li1 * li1 * d[i - 1];
      }
      d[i].copy_(di);
    }
    at::Tensor b = w * y;
    for (int64_t i = 0; i < n; ++i) {
      at::Tensor v = b[i];
      if (i >= 1) v = v - l1[i] * u[i - 1];
      if (i >= 2) v = v - l2[i] * u[i - 2];
      u[i].copy_(v);
    }
    for (int64_t i = n - 1; i >= 0; --i) {
      at::Tensor v = u[i] / d[i];
      if (i + 1 < n) v = v - l1[i + 1] * z[i + 1];
      if (i + 2 < n) v = v - l2[i + 2] * z[i + 2];
      z[i].copy_(v);
    }
    w = at::where(y > z, at::full_like(y, p), at::where(y < z, at::full_like(y, 1.0 - p), at::zeros_like(y)));
    // Rows fitted exactly (constant or straight leads) keep uniform weights (see als_row).
    w = at::where((w != 0).sum(0, /*keepdim=*/true) < 2, at::ones_like(w), w);
  }
  return z.t().to(x.scalar_type()).reshape(x.sizes()).contiguous();
}
}  // namespace detail

// ---------------------------------------------------------------------------------------

void BaselineOptions::validate() const {
  check_choice("method", method, {"moving_average", "median", "als"});
  check_choice("pad", pad, {"nearest", "zero", "reflect"});
  CT_CHECK(window1 > 0 && window2 > 0, ConfigError, "window1 and window2 must be > 0 s, got ", window1, " and ",
           window2);
  CT_CHECK(lam > 0, ConfigError, "lam must be > 0, got ", lam);
  CT_CHECK(p > 0 && p < 1, ConfigError, "p must be in (0, 1), got ", p);
  CT_CHECK(niter >= 1, ConfigError, "niter must be >= 1, got ", niter);
}

namespace {
class BaselineStep : public OptionsStep<BaselineOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "baseline_remove"; }
  bool needs_fs() const override { return options_.method != "als"; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    const auto& o = options_;
    at::Tensor base;
    if (o.method == "moving_average") {
      if (b.x.device().is_cpu() && b.x.size(-1) >= 1) {
        // Fused: x - baseline in one kernel, in place when the pipeline owns the buffer.
        const bool writable = detail::can_overwrite(b.x);
        b.x = ma_baseline_rows(b.x, b.fs, o.window1, o.window2, /*subtract=*/true, writable);
        return;
      }
      base = moving_average_baseline(b.x, b.fs, o.window1, o.window2);
    } else if (o.method == "median") {
      base = median_filter(median_filter(b.x, medfilt_window(o.window1, b.fs), o.pad), medfilt_window(o.window2, b.fs),
                           o.pad);
    } else {
      base = als_baseline(b.x, o.lam, o.p, o.niter);
    }
    b.x = b.x - base;
  }
};
}  // namespace

CT_REGISTER(preprocessor_registry(), "baseline_remove", (make_from_options<BaselineStep, BaselineOptions>),
            "baseline-wander removal: cascaded moving averages (torch_ecg), median filters or ALS");

}  // namespace cardiotorch::signal
