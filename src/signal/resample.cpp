#include "cardiotorch/signal/resample.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <algorithm>
#include <numeric>
#include <vector>

#include "signal/common.h"

namespace cardiotorch::signal {

namespace {

double sinc(double v) {
  if (v == 0.0) return 1.0;
  return std::sin(M_PI * v) / (M_PI * v);
}

// Modified Bessel function I0 by its power series sum_k ((x/2)^k / k!)^2 (converges quickly for
// the Kaiser window's arguments, |x| <= beta); std::cyl_bessel_i is missing from libc++.
double bessel_i0(double x) {
  const double q = x * x / 4.0;
  double term = 1.0, sum = 1.0;
  for (int k = 1; k < 500; ++k) {
    term *= q / (static_cast<double>(k) * static_cast<double>(k));
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

// ((in_len - 1)·up + len_h - 1) // down + 1: scipy's upfirdn output length.
int64_t upfirdn_length(int64_t len_h, int64_t in_len, int64_t up, int64_t down) {
  return ((in_len - 1) * up + len_h - 1) / down + 1;
}

}  // namespace

std::vector<double> resample_poly_filter(int64_t up, int64_t down) {
  const int64_t max_rate = std::max(up, down);
  const double fc = 1.0 / static_cast<double>(max_rate);
  const int64_t half_len = 10 * max_rate;
  const int64_t numtaps = 2 * half_len + 1;
  const double alpha = 0.5 * static_cast<double>(numtaps - 1);
  const double beta = 5.0;
  const double i0_beta = bessel_i0(beta);
  std::vector<double> h(numtaps);
  double sum = 0.0;
  for (int64_t i = 0; i < numtaps; ++i) {
    const double m = static_cast<double>(i) - alpha;
    const double r = m / alpha;
    const double win = bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / i0_beta;
    h[i] = fc * sinc(fc * m) * win;
    sum += h[i];
  }
  for (auto& v : h) v = v / sum * static_cast<double>(up);
  return h;
}

namespace {
at::Tensor resample_poly_impl(const at::Tensor& x, int64_t up, int64_t down, bool tensor_ops) {
  detail::check_signal(x, "resample_poly");
  CT_CHECK(up >= 1 && down >= 1, ArgumentError, "resample_poly: up and down must be >= 1, got ", up, " and ", down);
  const int64_t g = std::gcd(up, down);
  up /= g;
  down /= g;
  if (up == 1 && down == 1) return x.clone();
  const int64_t n_in = x.size(-1);
  CT_CHECK(n_in >= 1, ShapeError, "resample_poly: the signal is empty");
  const int64_t n_out = (n_in * up + down - 1) / down;
  std::vector<double> h0 = resample_poly_filter(up, down);
  const int64_t half_len = (static_cast<int64_t>(h0.size()) - 1) / 2;
  const int64_t n_pre_pad = down - half_len % down;
  const int64_t n_pre_remove = (half_len + n_pre_pad) / down;
  int64_t n_post_pad = 0;
  while (upfirdn_length(static_cast<int64_t>(h0.size()) + n_pre_pad + n_post_pad, n_in, up, down) <
         n_out + n_pre_remove)
    ++n_post_pad;
  std::vector<double> h(static_cast<size_t>(n_pre_pad), 0.0);
  h.insert(h.end(), h0.begin(), h0.end());
  h.resize(h.size() + static_cast<size_t>(n_post_pad), 0.0);
  const int64_t len_h = static_cast<int64_t>(h.size());
  const int64_t ntaps = (len_h + up - 1) / up;

  // Output k reads y_full[j], j = (k + n_pre_remove)·down = q·up + r:
  //   y[k] = sum_i x[q - i] · h[r + i·up].
  std::vector<int64_t> q(n_out), r(n_out);
  int64_t q_max = 0;
  for (int64_t k = 0; k < n_out; ++k) {
    const int64_t j = (k + n_pre_remove) * down;
    q[k] = j / up;
    r[k] = j % up;
    q_max = std::max(q_max, q[k]);
  }
  const int64_t left = ntaps, right = std::max<int64_t>(0, q_max - (n_in - 1));
  at::Tensor rows = detail::as_rows(x).to(at::kDouble);
  if (x.device().is_cpu() && !tensor_ops) {
    // Plain C++ polyphase sum over rows; the zero padding is implicit (out-of-range taps skipped).
    at::Tensor y = at::empty({rows.size(0), n_out}, rows.options());
    const double* in = rows.data_ptr<double>();
    double* out = y.data_ptr<double>();
    at::parallel_for(0, rows.size(0), 1, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const double* xr = in + row * n_in;
        double* yr = out + row * n_out;
        for (int64_t k = 0; k < n_out; ++k) {
          double acc = 0.0;
          const int64_t i_lo = std::max<int64_t>(0, q[k] - (n_in - 1));
          const int64_t i_hi = std::min<int64_t>(ntaps - 1, q[k]);
          for (int64_t i = i_lo; i <= i_hi; ++i) {
            const int64_t t = r[k] + i * up;
            if (t >= len_h) break;
            acc += xr[q[k] - i] * h[t];
          }
          yr[k] = acc;
        }
      }
    });
    return y.to(x.scalar_type()).reshape(detail::with_length(x, n_out));
  }
  at::Tensor xp = at::constant_pad_nd(rows, {left, right}, 0.0);
  auto cpu_long = at::TensorOptions().dtype(at::kLong);
  auto cpu_double = at::TensorOptions().dtype(at::kDouble);
  at::Tensor idx = at::empty({ntaps, n_out}, cpu_long), coef = at::empty({ntaps, n_out}, cpu_double);
  auto ia = idx.accessor<int64_t, 2>();
  auto ca = coef.accessor<double, 2>();
  for (int64_t i = 0; i < ntaps; ++i)
    for (int64_t k = 0; k < n_out; ++k) {
      const int64_t t = r[k] + i * up;
      ia[i][k] = q[k] - i + left;
      ca[i][k] = t < len_h ? h[t] : 0.0;
    }
  idx = idx.to(x.device());
  coef = coef.to(x.device());
  at::Tensor y = at::zeros({rows.size(0), n_out}, rows.options());
  for (int64_t i = 0; i < ntaps; ++i) y.addcmul_(xp.index_select(1, idx[i]), coef[i].unsqueeze(0));
  return y.to(x.scalar_type()).reshape(detail::with_length(x, n_out));
}
}  // namespace

at::Tensor resample_poly(const at::Tensor& x, int64_t up, int64_t down) {
  return resample_poly_impl(x, up, down, false);
}

namespace detail {
at::Tensor resample_poly_tensor_ops(const at::Tensor& x, int64_t up, int64_t down) {
  return resample_poly_impl(x, up, down, true);
}
}  // namespace detail

at::Tensor resample_fft(const at::Tensor& x, int64_t num) {
  detail::check_signal(x, "resample_fft");
  CT_CHECK(num >= 1, ArgumentError, "resample_fft: the target length must be >= 1, got ", num);
  const int64_t nx = x.size(-1);
  CT_CHECK(nx >= 1, ShapeError, "resample_fft: the signal is empty");
  at::Tensor X = at::fft_rfft(x, nx, -1);
  const int64_t n = std::min(num, nx);
  const int64_t nyq = n / 2 + 1;
  std::vector<int64_t> shape = detail::with_length(X, num / 2 + 1);
  at::Tensor Y = at::zeros(shape, X.options());
  Y.narrow(-1, 0, nyq).copy_(X.narrow(-1, 0, nyq));
  if (n % 2 == 0) {
    if (num < nx) Y.narrow(-1, n / 2, 1).mul_(2.0);
    else if (nx < num) Y.narrow(-1, n / 2, 1).mul_(0.5);
  }
  at::Tensor y = at::fft_irfft(Y, num, -1);
  return y * (static_cast<double>(num) / static_cast<double>(nx));
}

namespace {

// Source indices and weights of ATen's CPU upsample_linear1d with align_corners=True, as torch
// 1.13 computes them (found by matching its outputs bit for bit): the scale in the signal's
// dtype T, scale = T(n-1) / T(num-1); the position in double, p_i = double(scale)·i; i0 = int(p_i),
// i1 = i0 + 1 unless i0 is the last sample; w1 = T(clamp(p_i - i0, 0, 1)), w0 = T(1) - w1; an
// identity resize copies. Positions computed wholly in double or wholly in float32 both move
// float32 outputs by 1e-5 to 1e-4 of the signal's range on a 10 s record.
template <class T>
void linear_weights(int64_t n, int64_t num, std::vector<int64_t>& i0, std::vector<int64_t>& i1, std::vector<T>& w0,
                    std::vector<T>& w1) {
  i0.resize(num), i1.resize(num), w0.resize(num), w1.resize(num);
  const T scale = num > 1 ? static_cast<T>(n - 1) / static_cast<T>(num - 1) : T(0);
  for (int64_t i = 0; i < num; ++i) {
    if (num == n) {
      i0[i] = i1[i] = i, w0[i] = T(1), w1[i] = T(0);
      continue;
    }
    const double pos = static_cast<double>(scale) * static_cast<double>(i);
    i0[i] = static_cast<int64_t>(pos);
    i1[i] = i0[i] + (i0[i] < n - 1 ? 1 : 0);
    w1[i] = static_cast<T>(std::min(std::max(pos - static_cast<double>(i0[i]), 0.0), 1.0));
    w0[i] = T(1) - w1[i];
  }
}

// out = x[i0]·w0 + x[i1]·w1 with the first product fused into the sum (one rounding), as the
// compiled ATen kernel evaluates it.
template <class T>
at::Tensor resample_linear_as(const at::Tensor& x, int64_t num) {
  const int64_t n = x.size(-1);
  std::vector<int64_t> i0, i1;
  std::vector<T> w0, w1;
  linear_weights<T>(n, num, i0, i1, w0, w1);
  if (x.device().is_cpu()) {
    const at::Tensor rows = detail::as_rows(x);
    at::Tensor out = at::empty({rows.size(0), num}, rows.options());
    const T* in = rows.data_ptr<T>();
    T* o = out.data_ptr<T>();
    at::parallel_for(0, rows.size(0), 1, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* xr = in + r * n;
        T* yr = o + r * num;
        for (int64_t i = 0; i < num; ++i) yr[i] = std::fma(xr[i0[i]], w0[i], xr[i1[i]] * w1[i]);
      }
    });
    return out.reshape(detail::with_length(x, num));
  }
  // Other devices: tensor ops, the fused sum emulated in double (equal but for rare double rounding).
  const auto dev = x.device();
  const at::Tensor a = x.index_select(-1, at::tensor(i0, at::kLong).to(dev));
  const at::Tensor b = x.index_select(-1, at::tensor(i1, at::kLong).to(dev));
  const at::Tensor wa = at::tensor(w0, x.scalar_type()).to(dev), wb = at::tensor(w1, x.scalar_type()).to(dev);
  return (a.to(at::kDouble) * wa.to(at::kDouble) + (b * wb).to(at::kDouble)).to(x.scalar_type());
}

}  // namespace

at::Tensor resample_linear(const at::Tensor& x, int64_t num) {
  detail::check_signal(x, "resample_linear");
  CT_CHECK(num >= 1, ArgumentError, "resample_linear: the target length must be >= 1, got ", num);
  const int64_t n = x.size(-1);
  CT_CHECK(n >= 1, ShapeError, "resample_linear: the signal is empty");
  return x.scalar_type() == at::kDouble ? resample_linear_as<double>(x, num) : resample_linear_as<float>(x, num);
}

int64_t linear_resample_length(int64_t n, double fs_old, double fs_new) {
  CT_CHECK(fs_old > 0 && fs_new > 0, ArgumentError, "resample: sampling rates must be > 0, got ", fs_old, " -> ",
           fs_new);
  // torch's F.interpolate(scale_factor=s, recompute_scale_factor=True): floor(float(n) * s).
  return static_cast<int64_t>(std::floor(static_cast<double>(n) * (fs_new / fs_old)));
}

std::pair<int64_t, int64_t> rational_ratio(double fs_old, double fs_new) {
  CT_CHECK(fs_old > 0 && fs_new > 0, ArgumentError, "resample: sampling rates must be > 0, got ", fs_old, " -> ",
           fs_new);
  double scale = 1.0;
  for (int e = 0; e <= 6; ++e, scale *= 10.0) {
    const double a = fs_old * scale, b = fs_new * scale;
    if (std::abs(a - std::round(a)) <= 1e-9 * scale && std::abs(b - std::round(b)) <= 1e-9 * scale) {
      const auto down = static_cast<int64_t>(std::llround(a)), up = static_cast<int64_t>(std::llround(b));
      const int64_t g = std::gcd(up, down);
      return {up / g, down / g};
    }
  }
  throw ConfigError(str_cat("resample: cannot express ", fs_new, "/", fs_old,
                            " as a ratio of integers (rates need at most 6 decimals); use length instead"));
}

void ResampleOptions::validate() const {
  CT_CHECK(fs.has_value() != length.has_value(), ConfigError, "set exactly one of fs (Hz) or length (samples)");
  CT_CHECK(!fs || *fs > 0, ConfigError, "fs must be > 0, got ", fs.value_or(0));
  CT_CHECK(!length || *length >= 1, ConfigError, "length must be >= 1, got ", length.value_or(0));
  check_choice("method", method, {"poly", "fft", "linear"});
  CT_CHECK(method != "poly" || fs, ConfigError, "method poly needs fs (a rational rate change), not length");
}

namespace {
class ResampleStep : public OptionsStep<ResampleOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "resample"; }
  bool needs_fs() const override { return true; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    const auto& o = options_;
    const int64_t n = b.x.size(-1);
    int64_t num = 0;
    int64_t up = 1, down = 1;
    if (o.fs && o.method == "linear") {
      num = linear_resample_length(n, b.fs, *o.fs);  // any rate ratio, torch_ecg's length
      CT_CHECK(num >= 1, ShapeError, name(), ": ", n, " samples at ", b.fs, " Hz give no sample at ", *o.fs, " Hz");
    } else if (o.fs) {
      std::tie(up, down) = rational_ratio(b.fs, *o.fs);
      num = (n * up + down - 1) / down;
    } else {
      num = *o.length;
    }
    if (o.method == "poly") b.x = resample_poly(b.x, up, down);
    else if (o.method == "fft") b.x = resample_fft(b.x, num);
    else b.x = resample_linear(b.x, num);
    b.fs = o.fs ? *o.fs : b.fs * static_cast<double>(num) / static_cast<double>(n);
  }
};
}  // namespace

CT_REGISTER(preprocessor_registry(), "resample", (make_from_options<ResampleStep, ResampleOptions>),
            "resample to a rate or length: polyphase (scipy resample_poly), FFT (scipy resample) or linear");

}  // namespace cardiotorch::signal
