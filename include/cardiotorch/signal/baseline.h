#pragma once
// Baseline-wander removal on tensors shaped (..., leads, samples): y = x - baseline(x).
//
// Registered as `baseline_remove` {method: moving_average|median|als, pad: nearest|zero|reflect, ...}:
//
// method: moving_average (default; torch_ecg's BaselineRemove semantics)
//   For w in (window1, window2) seconds, in that order: k = round(w·fs) (Python round, half to
//   even), clipped to [1, samples], minus 1 if even and > 1; the current baseline estimate is
//   reflect-padded by k//2 samples at both ends (x[-i] = x[i], the edge sample not repeated) and
//   replaced by its length-k moving average (so the second average smooths the first). At
//   500 Hz the windows are 99 and 299 samples. The averages are O(samples) whatever the window,
//   in double precision: running sums in plain C++ over rows for CPU tensors (at::parallel_for),
//   cumulative sums with tensor ops on other devices.
//
// method: median — torch_ecg's numpy BaselineRemove: two cascaded median filters along the
//   last dim (the second filters the first's output), odd kernels k = 2·(int(w·fs)//2) + 1, i.e.
//   101 and 301 at 500 Hz; `pad` says what lies beyond the ends of the row:
//     nearest (default) the edge sample repeated: scipy.ndimage.median_filter(mode="nearest"),
//                       torch_ecg's definition;
//     zero              zeros: scipy.signal.medfilt (this step's behaviour before `pad` existed);
//     reflect           x[-i] = x[i], the edge not repeated (numpy/torch "reflect",
//                       scipy.ndimage "mirror"), repeating for windows longer than the signal.
//   CPU: a sorted sliding window per row in plain C++ (O(samples·k) moves, no extra memory);
//   other devices, or rows with NaN/Inf: unfold + median in row chunks.
//
// method: als — asymmetric least squares (Eilers & Boelens 2005): the baseline z minimises
//   sum_i w_i (x_i - z_i)^2 + lam · sum_i (z_{i+2} - 2 z_{i+1} + z_i)^2; starting from w = 1,
//   each of `niter` iterations solves (W + lam·DᵀD) z = W x and then sets w_i = p where x_i > z_i,
//   1 - p where x_i < z_i and 0 where equal. The pentadiagonal system is solved by a banded LDLᵀ
//   factorisation in O(samples) per iteration, in double precision. Smoothness: with equal weights the
//   smoother's gain is 1/2 at about fs·lam^(-1/4)/(2π) Hz, so lam = 1e8 at 500 Hz tracks ~0.8 Hz.
//   CPU tensors run plain C++ over rows (at::parallel_for); other devices run a tensor-op
//   recursion vectorised over rows (one step per sample: correct but slow).
#include <ATen/core/Tensor.h>

#include <string>

#include "cardiotorch/core/error.h"

namespace cardiotorch::signal {

/// The cascaded moving-average baseline (not subtracted) of x.
at::Tensor moving_average_baseline(const at::Tensor& x, double fs, double window1, double window2);
/// Centred moving average with reflect padding, window k (odd, 1 <= k, k//2 < samples).
at::Tensor moving_average(const at::Tensor& x, int64_t k);
/// Median filter along the last dim, odd kernel k, `pad` nearest | zero | reflect (see above);
/// ArgumentError for an even k or an unknown pad.
at::Tensor median_filter(const at::Tensor& x, int64_t k, const std::string& pad = "nearest");
/// scipy.signal.medfilt along the last dim: median_filter(x, k, "zero").
at::Tensor medfilt(const at::Tensor& x, int64_t k);
/// The ALS baseline (not subtracted) of x.
at::Tensor als_baseline(const at::Tensor& x, double lam, double p, int64_t niter);

namespace detail {
at::Tensor als_baseline_tensor_ops(const at::Tensor& x, double lam, double p, int64_t niter);
}

struct BaselineOptions {
  std::string method = "moving_average";  ///< moving_average | median | als
  double window1 = 0.2;                   ///< s (moving_average, median)
  double window2 = 0.6;                   ///< s (moving_average, median)
  std::string pad = "nearest";            ///< median: nearest | zero | reflect
  double lam = 1e8;                       ///< als smoothness
  double p = 0.05;                        ///< als asymmetry (weight of points above the baseline)
  int64_t niter = 10;                     ///< als iterations
  template <class V>
  void fields(V& v) {
    v("method", method, "moving_average (torch_ecg) | median (torch_ecg numpy path) | als (Eilers 2005)");
    v("window1", window1, "first window in seconds (moving_average, median)");
    v("window2", window2, "second window in seconds (moving_average, median)");
    v("pad", pad,
      "median: beyond the ends, nearest (torch_ecg, scipy.ndimage) | zero (scipy.signal.medfilt) | reflect");
    v("lam", lam, "als: smoothness penalty");
    v("p", p, "als: asymmetry, weight of samples above the baseline (0 < p < 1)");
    v("niter", niter, "als: reweighting iterations");
  }
  void validate() const;
};

}  // namespace cardiotorch::signal
