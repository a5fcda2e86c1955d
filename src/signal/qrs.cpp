#include "cardiotorch/signal/qrs.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cardiotorch/core/error.h"
#include "cardiotorch/signal/filters.h"

namespace cardiotorch::signal {

std::vector<int64_t> detect_qrs(const at::Tensor& lead, double fs, const QrsOptions& o) {
  CT_CHECK(lead.dim() == 1, ShapeError, "detect_qrs: expected one lead (1-D), got ", lead.sizes());
  CT_CHECK(fs > 0, ConfigError, "detect_qrs: the sampling rate must be > 0, got ", fs);
  const int64_t n = lead.size(0);
  const auto ms = [&](double v) { return std::max<int64_t>(1, static_cast<int64_t>(std::llround(v * fs / 1000.0))); };
  if (n < ms(500)) return {};
  const at::Tensor x = lead.to(at::kDouble).contiguous();
  const at::Tensor band = fft_bandpass(x.unsqueeze(0), fs, o.low_hz, std::min(o.high_hz, 0.45 * fs)).squeeze(0);
  // Derivative, square, moving-window integration (centred, so peaks stay aligned with the QRS).
  at::Tensor d = at::zeros_like(band);
  d.narrow(0, 1, n - 2).copy_((band.narrow(0, 2, n - 2) - band.narrow(0, 0, n - 2)) * (fs / 2.0));
  const at::Tensor sq = d * d;
  const int64_t w = ms(o.integration_ms);
  const at::Tensor cs = at::cat({at::zeros({1}, at::kDouble), sq.cumsum(0)});
  std::vector<double> mwi(static_cast<size_t>(n));
  {
    const double* c = cs.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t a = std::max<int64_t>(0, i - w / 2), b = std::min<int64_t>(n, i + w - w / 2);
      mwi[static_cast<size_t>(i)] = (c[b] - c[a]) / static_cast<double>(w);
    }
  }
  // Candidate peaks: local maxima of the integrated signal that are the largest within
  // +-neighbourhood (the ripples between beats would otherwise drag the noise level to zero).
  const int64_t nb = ms(o.neighbourhood_ms);
  std::vector<int64_t> cand;
  for (int64_t i = 1; i + 1 < n; ++i) {
    if (!(mwi[i] > mwi[i - 1] && mwi[i] >= mwi[i + 1] && mwi[i] > 0)) continue;
    bool top = true;
    for (int64_t j = std::max<int64_t>(0, i - nb); top && j <= std::min(n - 1, i + nb); ++j) top = mwi[j] <= mwi[i];
    if (top) cand.push_back(i);
  }
  // Steepest slope of the filtered lead over the integration window before a peak (T-wave test).
  std::vector<double> slope_at;
  {
    const at::Tensor ad = d.abs().contiguous();
    const double* a = ad.data_ptr<double>();
    slope_at.resize(static_cast<size_t>(n));
    for (int64_t i : cand) {
      double m = 0;
      for (int64_t j = std::max<int64_t>(0, i - w); j <= i; ++j) m = std::max(m, a[j]);
      slope_at[static_cast<size_t>(i)] = m;
    }
  }
  const int64_t t_wave = ms(o.t_wave_ms);
  // Adaptive thresholds, initialised on the first two seconds.
  const int64_t init = std::min<int64_t>(n, ms(2000));
  double mx = 0, mean = 0;
  for (int64_t i = 0; i < init; ++i) {
    mx = std::max(mx, mwi[i]);
    mean += mwi[i];
  }
  mean /= static_cast<double>(init);
  double spki = 0.25 * mx, npki = 0.5 * mean;
  const int64_t refractory = ms(o.refractory_ms);
  std::vector<int64_t> qrs;
  std::vector<double> rr;
  size_t last_cand = 0;  // first candidate after the last accepted beat
  for (size_t k = 0; k < cand.size(); ++k) {
    const int64_t i = cand[k];
    const double p = mwi[i];
    const double thr = npki + 0.25 * (spki - npki);
    if (!qrs.empty() && i - qrs.back() < refractory) {
      // Within the refractory period: keep the larger of the two as the beat.
      if (p > mwi[qrs.back()]) qrs.back() = i;
      continue;
    }
    // Search back for a missed beat when the RR interval grows past 166% of the mean.
    if (o.search_back && qrs.size() >= 2 && !rr.empty()) {
      const double mean_rr =
          std::accumulate(rr.end() - static_cast<std::ptrdiff_t>(std::min<size_t>(8, rr.size())), rr.end(), 0.0) /
          static_cast<double>(std::min<size_t>(8, rr.size()));
      if (static_cast<double>(i - qrs.back()) > 1.66 * mean_rr) {
        int64_t best = -1;
        for (size_t j = last_cand; j < k; ++j) {
          const int64_t c = cand[j];
          if (c - qrs.back() >= refractory && i - c >= refractory && mwi[c] > 0.5 * thr &&
              (best < 0 || mwi[c] > mwi[best]))
            best = c;
        }
        if (best >= 0) {
          rr.push_back(static_cast<double>(best - qrs.back()));
          qrs.push_back(best);
          spki = 0.25 * mwi[best] + 0.75 * spki;
        }
      }
    }
    // A peak soon after a beat with less than half its slope is the beat's T wave.
    if (p > thr && !qrs.empty() && i - qrs.back() < t_wave &&
        slope_at[static_cast<size_t>(i)] < 0.5 * slope_at[static_cast<size_t>(qrs.back())]) {
      npki = 0.125 * p + 0.875 * npki;
      continue;
    }
    if (p > thr && (qrs.empty() || i - qrs.back() >= refractory)) {
      if (!qrs.empty()) rr.push_back(static_cast<double>(i - qrs.back()));
      qrs.push_back(i);
      spki = 0.125 * p + 0.875 * spki;
      last_cand = k + 1;
    } else {
      npki = 0.125 * p + 0.875 * npki;
    }
  }
  // Place each beat on the R peak of the broadband lead.
  const at::Tensor wide = fft_bandpass(x.unsqueeze(0), fs, 0.5, std::min(40.0, 0.45 * fs)).squeeze(0).contiguous();
  const double* y = wide.data_ptr<double>();
  const int64_t r = ms(o.refine_ms);
  std::vector<int64_t> out;
  for (int64_t q : qrs) {
    const int64_t a = std::max<int64_t>(0, q - r), b = std::min<int64_t>(n, q + r + 1);
    std::vector<double> win(y + a, y + b);
    std::vector<double> sorted = win;
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2), sorted.end());
    const double med = sorted[sorted.size() / 2];
    int64_t best = a;
    for (int64_t i = a; i < b; ++i)
      if (std::abs(y[i] - med) > std::abs(y[best] - med)) best = i;
    if (out.empty() || best - out.back() >= refractory / 2) out.push_back(best);
  }
  return out;
}

}  // namespace cardiotorch::signal
