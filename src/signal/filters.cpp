#include "cardiotorch/signal/filters.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <complex>

#include "signal/common.h"

namespace cardiotorch::signal {

using cplx = std::complex<double>;

// ---------------------------------------------------------------------------------------
// Design (double precision, scipy's zpk route: prototype -> lp2xx_zpk -> bilinear_zpk)

Sos butter_sos(int order, const std::vector<double>& cut, const std::string& btype, double fs) {
  CT_CHECK(order >= 1, ConfigError, "butter: order must be >= 1, got ", order);
  CT_CHECK(fs > 0, ConfigError, "butter: fs must be > 0, got ", fs);
  const double nyq = fs / 2.0;
  const bool band = btype == "bandpass";
  CT_CHECK(band ? cut.size() == 2 : cut.size() == 1, ConfigError, "butter: ", btype, " needs ", band ? 2 : 1,
           " cut-off frequencies");
  for (double c : cut)
    CT_CHECK(c > 0 && c < nyq, ConfigError, "butter: cut-off frequencies must be in (0, fs/2 = ", nyq, "), got ", c);
  if (band) CT_CHECK(cut[0] < cut[1], ConfigError, "butter: lowcut must be < highcut, got ", cut[0], " >= ", cut[1]);

  // Analog prototype: poles -exp(i·pi·m/(2N)), m = -N+1, -N+3, ..., N-1; no zeros; gain 1.
  std::vector<cplx> p;
  for (int m = -order + 1; m < order; m += 2) p.push_back(-std::exp(cplx(0, M_PI * m / (2.0 * order))));
  std::vector<cplx> z;
  double k = 1.0;
  // Pre-warp with scipy's internal fs = 2 (frequencies normalised to Nyquist).
  auto warp = [&](double f) { return 4.0 * std::tan(M_PI * (f / nyq) / 2.0); };
  if (btype == "lowpass") {
    const double wo = warp(cut[0]);
    for (auto& q : p) q *= wo;
    k *= std::pow(wo, order);
  } else if (btype == "highpass") {
    const double wo = warp(cut[0]);
    cplx prod_neg_p = 1.0;
    for (auto& q : p) prod_neg_p *= -q;
    for (auto& q : p) q = wo / q;
    z.assign(order, cplx(0, 0));
    k *= (1.0 / prod_neg_p).real();
  } else if (btype == "bandpass") {
    const double w1 = warp(cut[0]), w2 = warp(cut[1]);
    const double bw = w2 - w1, wo = std::sqrt(w1 * w2);
    std::vector<cplx> pb;
    for (auto q : p) {
      const cplx lp = q * bw / 2.0;
      const cplx s = std::sqrt(lp * lp - wo * wo);
      pb.push_back(lp + s);
    }
    for (auto q : p) {
      const cplx lp = q * bw / 2.0;
      const cplx s = std::sqrt(lp * lp - wo * wo);
      pb.push_back(lp - s);
    }
    p = pb;
    z.assign(order, cplx(0, 0));
    k *= std::pow(bw, order);
  } else {
    throw ConfigError(str_cat("butter: btype must be lowpass, highpass or bandpass, got '", btype, "'"));
  }
  // Bilinear transform (fs = 2 -> 2·fs = 4); missing zeros go to z = -1.
  const double fs2 = 4.0;
  cplx num = 1.0, den = 1.0;
  for (auto q : z) num *= fs2 - q;
  for (auto q : p) den *= fs2 - q;
  k *= (num / den).real();
  std::vector<cplx> zd, pd;
  for (auto q : z) zd.push_back((fs2 + q) / (fs2 - q));
  for (auto q : p) pd.push_back((fs2 + q) / (fs2 - q));
  while (zd.size() < pd.size()) zd.emplace_back(-1.0, 0.0);

  // Sections: conjugate pole pairs (then real poles two by two); zeros are all real (±1),
  // handed out so that band-pass sections get one +1 and one -1 (keeps each section's gain sane).
  std::vector<cplx> upper;
  std::vector<double> real_poles;
  for (auto q : pd) {
    if (std::abs(q.imag()) <= 1e-12 * std::max(1.0, std::abs(q))) real_poles.push_back(q.real());
    else if (q.imag() > 0) upper.push_back(q);
  }
  std::vector<double> zpos, zneg;
  for (auto q : zd) (q.real() > 0 ? zpos : zneg).push_back(q.real());
  auto take_zero = [&]() {
    // Alternate sources so band-pass sections mix +1 and -1.
    std::vector<double>& from = (zpos.size() >= zneg.size()) ? zpos : zneg;
    const double v = from.back();
    from.pop_back();
    return v;
  };
  Sos sos;
  for (auto q : upper) {
    const double z1 = take_zero(), z2 = take_zero();
    sos.push_back({1.0, -(z1 + z2), z1 * z2, -2.0 * q.real(), std::norm(q)});
  }
  std::sort(real_poles.begin(), real_poles.end());
  for (size_t i = 0; i + 1 < real_poles.size(); i += 2) {
    const double z1 = take_zero(), z2 = take_zero();
    const double r1 = real_poles[i], r2 = real_poles[i + 1];
    sos.push_back({1.0, -(z1 + z2), z1 * z2, -(r1 + r2), r1 * r2});
  }
  if (real_poles.size() % 2 == 1) {
    const double z1 = take_zero();
    sos.push_back({1.0, -z1, 0.0, -real_poles.back(), 0.0});
  }
  CT_INTERNAL_ASSERT(zpos.empty() && zneg.empty(), "unpaired zeros");
  sos.front()[0] *= k;
  sos.front()[1] *= k;
  sos.front()[2] *= k;
  return sos;
}

Biquad iirnotch(double w0, double quality, double fs) {
  CT_CHECK(fs > 0, ConfigError, "iirnotch: fs must be > 0, got ", fs);
  CT_CHECK(w0 > 0 && w0 < fs / 2, ConfigError, "iirnotch: frequency must be in (0, fs/2 = ", fs / 2, "), got ", w0);
  CT_CHECK(quality > 0, ConfigError, "iirnotch: quality must be > 0, got ", quality);
  const double w = 2.0 * w0 / fs;
  const double bw = w / quality * M_PI;
  const double wp = w * M_PI;
  const double gb = 1.0 / std::sqrt(2.0);
  const double beta = (std::sqrt(1.0 - gb * gb) / gb) * std::tan(bw / 2.0);
  const double gain = 1.0 / (1.0 + beta);
  return {gain, -2.0 * gain * std::cos(wp), gain, -2.0 * gain * std::cos(wp), 2.0 * gain - 1.0};
}

std::pair<std::vector<double>, std::vector<double>> sos_to_ba(const Sos& sos) {
  std::vector<double> b{1.0}, a{1.0};
  auto mul = [](const std::vector<double>& u, const std::vector<double>& v) {
    std::vector<double> r(u.size() + v.size() - 1, 0.0);
    for (size_t i = 0; i < u.size(); ++i)
      for (size_t j = 0; j < v.size(); ++j) r[i + j] += u[i] * v[j];
    return r;
  };
  for (const auto& s : sos) {
    const bool first_order = s[2] == 0.0 && s[4] == 0.0;
    b = mul(b, first_order ? std::vector<double>{s[0], s[1]} : std::vector<double>{s[0], s[1], s[2]});
    a = mul(a, first_order ? std::vector<double>{1.0, s[3]} : std::vector<double>{1.0, s[3], s[4]});
  }
  return {b, a};
}

// ---------------------------------------------------------------------------------------
// Forward-backward filtering

namespace {

// Steady-state (DF2T) state of one section for a unit input, and its DC gain.
struct SectionZi {
  double z1, z2, gain;
};
std::vector<SectionZi> steady_states(const Sos& sos) {
  std::vector<SectionZi> out;
  double level = 1.0;  // input level of this section for a unit input to the cascade
  for (const auto& s : sos) {
    const double g = (s[0] + s[1] + s[2]) / (1.0 + s[3] + s[4]);
    out.push_back({(g - s[0]) * level, (s[2] - s[4] * g) * level, g});
    level *= g;
  }
  return out;
}

// Rows are filtered kGroup at a time, interleaved (ext[i·kGroup + g]) so the inner loop over g
// is independent work the compiler vectorises; this hides the latency of the recursion.
constexpr int64_t kGroup = 8;

// Forward then backward pass of every section over an interleaved group (ne samples each).
void filtfilt_group(double* ext, int64_t ne, const Sos& sos, const std::vector<SectionZi>& zi) {
  const size_t ns = sos.size();
  std::vector<double> z1(ns * kGroup), z2(ns * kGroup);
  for (int pass = 0; pass < 2; ++pass) {
    const int64_t first = pass == 0 ? 0 : ne - 1, step = pass == 0 ? 1 : -1;
    const double* x0 = ext + first * kGroup;
    for (size_t si = 0; si < ns; ++si)
      for (int64_t g = 0; g < kGroup; ++g) {
        z1[si * kGroup + g] = zi[si].z1 * x0[g];
        z2[si * kGroup + g] = zi[si].z2 * x0[g];
      }
    for (int64_t t = 0, i = first; t < ne; ++t, i += step) {
      double* v = ext + i * kGroup;
      for (size_t si = 0; si < ns; ++si) {
        const auto& c = sos[si];
        const double b0 = c[0], b1 = c[1], b2 = c[2], a1 = c[3], a2 = c[4];
        double* s1 = z1.data() + si * kGroup;
        double* s2 = z2.data() + si * kGroup;
        for (int64_t g = 0; g < kGroup; ++g) {
          const double xi = v[g];
          const double yi = b0 * xi + s1[g];
          s1[g] = b1 * xi - a1 * yi + s2[g];
          s2[g] = b2 * xi - a2 * yi;
          v[g] = yi;
        }
      }
    }
  }
}

template <class T>
void filtfilt_cpu(const T* in, T* out, int64_t rows, int64_t n, int64_t padlen, const Sos& sos) {
  const auto zi = steady_states(sos);
  const int64_t ne = n + 2 * padlen;
  const int64_t groups = (rows + kGroup - 1) / kGroup;
  at::parallel_for(0, groups, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> ext(static_cast<size_t>(ne * kGroup));
    for (int64_t gi = begin; gi < end; ++gi) {
      std::fill(ext.begin(), ext.end(), 0.0);
      const int64_t r0 = gi * kGroup, m = std::min(kGroup, rows - r0);
      for (int64_t g = 0; g < m; ++g) {
        const T* x = in + (r0 + g) * n;
        const double x_first = x[0], x_last = x[n - 1];
        for (int64_t i = 0; i < padlen; ++i) ext[i * kGroup + g] = 2.0 * x_first - static_cast<double>(x[padlen - i]);
        for (int64_t i = 0; i < n; ++i) ext[(padlen + i) * kGroup + g] = static_cast<double>(x[i]);
        for (int64_t i = 0; i < padlen; ++i)
          ext[(padlen + n + i) * kGroup + g] = 2.0 * x_last - static_cast<double>(x[n - 2 - i]);
      }
      filtfilt_group(ext.data(), ne, sos, zi);
      for (int64_t g = 0; g < m; ++g) {
        T* y = out + (r0 + g) * n;
        for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(ext[(padlen + i) * kGroup + g]);
      }
    }
  });
}

at::Tensor odd_extend(const at::Tensor& rows, int64_t padlen) {
  if (padlen == 0) return rows;
  const int64_t n = rows.size(1);
  auto first = rows.narrow(1, 0, 1), last = rows.narrow(1, n - 1, 1);
  auto left = 2 * first - rows.narrow(1, 1, padlen).flip({1});
  auto right = 2 * last - rows.narrow(1, n - 1 - padlen, padlen).flip({1});
  return at::cat({left, rows, right}, 1);
}

void check_padlen(int64_t n, int64_t padlen) {
  CT_CHECK(n > padlen, ShapeError, "filtfilt: the signal must be longer than padlen = ", padlen,
           " samples (3 x filter length, scipy's default), got ", n, " samples");
}

}  // namespace

namespace {

// One biquad over rows (R, n) from initial DF2T states s0 (R, 2), with tensor ops only, in
// blocks of T samples. As a state-space system s[k+1] = A s[k] + B x[k], y[k] = C s[k] + D x[k]
// (A = [[-a1, 1], [-a2, 0]], B = [b1 - a1·b0, b2 - a2·b0], C = [1, 0], D = b0), a block's output
// is its zero-state response (a T x T Toeplitz matrix of the impulse response) plus the
// response to the state at its start (C A^t); the states at block starts follow
// s_{j+1} = A^T s_j + sum_u A^(T-1-u) B x_j[u]: a short sequential loop over blocks.
at::Tensor biquad_blocked(const at::Tensor& x, const Biquad& c, const at::Tensor& s0) {
  constexpr int64_t T = 64;
  const int64_t rows = x.size(0), n = x.size(1);
  const int64_t nb = (n + T - 1) / T;
  const double b0 = c[0], b1 = c[1], b2 = c[2], a1 = c[3], a2 = c[4];
  // Powers of A (2x2) applied to B and C, computed on the host in double: tiny T x T tables.
  std::vector<std::array<double, 4>> pw(T + 1);  // A^t row-major
  pw[0] = {1, 0, 0, 1};
  for (int64_t t = 1; t <= T; ++t) {
    const auto& p = pw[t - 1];  // A^t = A · A^(t-1)
    pw[t] = {-a1 * p[0] + p[2], -a1 * p[1] + p[3], -a2 * p[0], -a2 * p[1]};
  }
  const double B[2] = {b1 - a1 * b0, b2 - a2 * b0};
  auto opts = at::TensorOptions().dtype(at::kDouble);
  at::Tensor M = at::zeros({T, T}, opts), P = at::empty({T, 2}, opts), G = at::empty({2, T}, opts);
  auto m = M.accessor<double, 2>();
  auto pa = P.accessor<double, 2>();
  auto ga = G.accessor<double, 2>();
  std::vector<double> h(T);
  h[0] = b0;
  for (int64_t k = 1; k < T; ++k) h[k] = pw[k - 1][0] * B[0] + pw[k - 1][1] * B[1];  // C A^(k-1) B
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t u = 0; u <= t; ++u) m[t][u] = h[t - u];
    pa[t][0] = pw[t][0];  // C A^t = first row of A^t
    pa[t][1] = pw[t][1];
    const auto& q = pw[T - 1 - t];  // A^(T-1-u) B, u = t
    ga[0][t] = q[0] * B[0] + q[1] * B[1];
    ga[1][t] = q[2] * B[0] + q[3] * B[1];
  }
  const auto& at_ = pw[T];
  at::Tensor AT = at::tensor({at_[0], at_[1], at_[2], at_[3]}, opts).reshape({2, 2});
  M = M.to(x.device());
  P = P.to(x.device());
  G = G.to(x.device());
  AT = AT.to(x.device());
  at::Tensor xb = at::constant_pad_nd(x, {0, nb * T - n}, 0.0).reshape({rows, nb, T});
  at::Tensor y = at::matmul(xb, M.t());  // zero-state responses (rows, nb, T)
  at::Tensor q = at::matmul(xb, G.t());  // block inputs' effect on the next state (rows, nb, 2)
  at::Tensor states = at::empty({rows, nb, 2}, x.options());
  at::Tensor s = s0;
  for (int64_t j = 0; j < nb; ++j) {
    states.select(1, j).copy_(s);
    s = at::matmul(s, AT.t()) + q.select(1, j);
  }
  y = y + at::matmul(states, P.t());
  return y.reshape({rows, nb * T}).narrow(1, 0, n);
}

}  // namespace

namespace detail {
at::Tensor sosfiltfilt_tensor_ops(const at::Tensor& x, const Sos& sos, int64_t padlen) {
  const int64_t n = x.size(-1);
  check_padlen(n, padlen);
  const auto zi = steady_states(sos);
  at::Tensor e = odd_extend(as_rows(x).to(at::kDouble), padlen);
  for (int pass = 0; pass < 2; ++pass) {
    at::Tensor x0 = e.narrow(1, 0, 1);
    for (size_t si = 0; si < sos.size(); ++si) {
      at::Tensor s0 = at::cat({x0 * zi[si].z1, x0 * zi[si].z2}, 1);
      e = biquad_blocked(e, sos[si], s0);
    }
    e = e.flip({1});
  }
  at::Tensor y = e.narrow(1, padlen, n).to(x.scalar_type());
  return y.reshape(x.sizes()).contiguous();
}
}  // namespace detail

at::Tensor sosfiltfilt(const at::Tensor& x, const Sos& sos, int64_t padlen) {
  detail::check_signal(x, "filtfilt");
  if (!x.device().is_cpu()) return detail::sosfiltfilt_tensor_ops(x, sos, padlen);
  const int64_t n = x.size(-1);
  check_padlen(n, padlen);
  at::Tensor rows = detail::as_rows(x);
  at::Tensor out = at::empty_like(rows);
  const int64_t r = rows.size(0);
  if (x.scalar_type() == at::kDouble) filtfilt_cpu(rows.data_ptr<double>(), out.data_ptr<double>(), r, n, padlen, sos);
  else filtfilt_cpu(rows.data_ptr<float>(), out.data_ptr<float>(), r, n, padlen, sos);
  return out.reshape(x.sizes());
}

at::Tensor fft_bandpass(const at::Tensor& x, double fs, std::optional<double> lowcut, std::optional<double> highcut) {
  detail::check_signal(x, "fft bandpass");
  CT_CHECK(fs > 0, ConfigError, "fft bandpass: fs must be > 0, got ", fs);
  const double nyq = fs / 2.0;
  if (lowcut && *lowcut <= 0) lowcut.reset();
  if (highcut && *highcut >= nyq) highcut.reset();
  CT_CHECK(!lowcut || *lowcut < nyq, ConfigError, "fft bandpass: lowcut must be < fs/2 = ", nyq, ", got ", *lowcut);
  CT_CHECK(!highcut || *highcut > 0, ConfigError, "fft bandpass: highcut must be > 0, got ", *highcut);
  CT_CHECK(!(lowcut && highcut) || *lowcut < *highcut, ConfigError, "fft bandpass: lowcut must be < highcut, got ",
           lowcut.value_or(0), " >= ", highcut.value_or(0));
  if (!lowcut && !highcut) return x.clone();
  const int64_t n = x.size(-1);
  const int64_t nb = n / 2 + 1;
  // f_k = k·fs/n; compared as k·fs against cut·n with slack so exact edges are kept. The kept
  // bins are one range [k_lo, k_hi]; the others are zeroed in the spectrum in place (no mask
  // tensor, no masked copy of the spectrum).
  constexpr double slack = 1e-9;
  int64_t k_lo = 0, k_hi = nb - 1;
  if (lowcut)
    while (k_lo < nb && static_cast<double>(k_lo) * fs < *lowcut * static_cast<double>(n) * (1.0 - slack)) ++k_lo;
  if (highcut)
    while (k_hi >= 0 && static_cast<double>(k_hi) * fs > *highcut * static_cast<double>(n) * (1.0 + slack)) --k_hi;
  at::Tensor spec = at::fft_rfft(x, n, -1);
  if (k_hi < k_lo) {
    spec.zero_();
  } else {
    if (k_lo > 0) spec.narrow(-1, 0, k_lo).zero_();
    if (k_hi + 1 < nb) spec.narrow(-1, k_hi + 1, nb - k_hi - 1).zero_();
  }
  return at::fft_irfft(spec, n, -1);
}

// ---------------------------------------------------------------------------------------
// Steps

namespace {

void check_method(const std::string& m) { check_choice("method", m, {"fft", "butter"}); }

int butter_order(const std::optional<int64_t>& order, double fs) {
  if (order) return static_cast<int>(*order);
  return static_cast<int>(std::max<int64_t>(1, detail::round_half_even(0.01 * fs)));
}

int64_t filtfilt_padlen(const Sos& sos) {
  auto [b, a] = sos_to_ba(sos);
  return 3 * static_cast<int64_t>(std::max(a.size(), b.size()));
}

class BandpassStep : public OptionsStep<BandpassOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "bandpass"; }
  bool needs_fs() const override { return true; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    const auto& o = options_;
    if (o.method == "fft") {
      b.x = fft_bandpass(b.x, b.fs, o.lowcut, o.highcut);
      return;
    }
    const double nyq = b.fs / 2;
    const bool lo = o.lowcut > 0, hi = o.highcut < nyq;
    CT_CHECK(lo || hi, ConfigError, "bandpass (butter): lowcut <= 0 and highcut >= fs/2 = ", nyq,
             " leave nothing to filter");
    Sos sos = lo && hi ? butter_sos(butter_order(o.order, b.fs), {o.lowcut, o.highcut}, "bandpass", b.fs)
              : lo     ? butter_sos(butter_order(o.order, b.fs), {o.lowcut}, "highpass", b.fs)
                       : butter_sos(butter_order(o.order, b.fs), {o.highcut}, "lowpass", b.fs);
    b.x = sosfiltfilt(b.x, sos, filtfilt_padlen(sos));
  }
};

class CutoffStep : public OptionsStep<CutoffOptions> {
 public:
  CutoffStep(CutoffOptions o, bool high) : OptionsStep(std::move(o)), high_(high) {}
  std::string name() const override { return high_ ? "highpass" : "lowpass"; }
  bool needs_fs() const override { return true; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    const auto& o = options_;
    CT_CHECK(o.cutoff < b.fs / 2, ConfigError, name(), ": cutoff must be < fs/2 = ", b.fs / 2, ", got ", o.cutoff);
    if (o.method == "fft") {
      b.x = high_ ? fft_bandpass(b.x, b.fs, o.cutoff, std::nullopt) : fft_bandpass(b.x, b.fs, std::nullopt, o.cutoff);
      return;
    }
    Sos sos = butter_sos(butter_order(o.order, b.fs), {o.cutoff}, high_ ? "highpass" : "lowpass", b.fs);
    b.x = sosfiltfilt(b.x, sos, filtfilt_padlen(sos));
  }

 private:
  bool high_;
};

class NotchStep : public OptionsStep<NotchOptions> {
 public:
  using OptionsStep::OptionsStep;
  std::string name() const override { return "notch"; }
  bool needs_fs() const override { return true; }
  void apply(SignalBatch& b, StepContext&) const override {
    detail::check_signal(b.x, name());
    const auto& o = options_;
    CT_CHECK(o.freq < b.fs / 2, ConfigError, "notch: freq must be < fs/2 = ", b.fs / 2, ", got ", o.freq);
    // k·freq must stay strictly below Nyquist (iirnotch needs 0 < w0 < 1).
    for (int k = 1; k * o.freq < b.fs / 2 * (1 - 1e-12); ++k) {
      Sos sos{iirnotch(k * o.freq, o.quality, b.fs)};
      b.x = sosfiltfilt(b.x, sos, 9);
      if (!o.harmonics) break;
    }
  }
};

std::shared_ptr<Step> make_highpass(const CutoffOptions& o) { return std::make_shared<CutoffStep>(o, true); }
std::shared_ptr<Step> make_lowpass(const CutoffOptions& o) { return std::make_shared<CutoffStep>(o, false); }
CutoffOptions lowpass_defaults() {
  CutoffOptions o;
  o.cutoff = 45.0;
  return o;
}

}  // namespace

void BandpassOptions::validate() const {
  check_method(method);
  CT_CHECK(!order || *order >= 1, ConfigError, "order must be >= 1, got ", order.value_or(0));
  CT_CHECK(lowcut < highcut, ConfigError, "lowcut must be < highcut, got ", lowcut, " >= ", highcut);
}

void CutoffOptions::validate() const {
  check_method(method);
  CT_CHECK(!order || *order >= 1, ConfigError, "order must be >= 1, got ", order.value_or(0));
  CT_CHECK(cutoff > 0, ConfigError, "cutoff must be > 0, got ", cutoff);
}

void NotchOptions::validate() const {
  CT_CHECK(freq > 0, ConfigError, "freq must be > 0, got ", freq);
  CT_CHECK(quality > 0, ConfigError, "quality must be > 0, got ", quality);
}

CT_REGISTER(preprocessor_registry(), "bandpass", (make_from_options<BandpassStep, BandpassOptions>),
            "zero-phase band-pass: FFT brick-wall (torch_ecg) or Butterworth filtfilt (scipy)");
CT_REGISTER(preprocessor_registry(), "highpass", (options_factory<Step, CutoffOptions>(make_highpass)),
            "zero-phase high-pass: FFT brick-wall or Butterworth filtfilt");
CT_REGISTER(preprocessor_registry(), "lowpass",
            (options_factory<Step, CutoffOptions>(make_lowpass, lowpass_defaults())),
            "zero-phase low-pass: FFT brick-wall or Butterworth filtfilt");
CT_REGISTER(preprocessor_registry(), "notch", (make_from_options<NotchStep, NotchOptions>),
            "mains notch (scipy iirnotch + filtfilt) at freq and its harmonics");

}  // namespace cardiotorch::signal
