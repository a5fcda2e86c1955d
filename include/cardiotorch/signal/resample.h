#pragma once
// Resampling along the last dim of (..., leads, samples); registered as `resample`
// {fs: 250, length: ~, method: poly|fft|linear}. The step sets batch.fs to the new rate.
//
// Target: `fs` (Hz) gives the rational factor up/down = fs_new/fs_old (both rates are scaled by
//   the smallest power of ten, up to 1e6, that makes them integers, then reduced by their gcd);
//   methods poly and fft output ceil(samples·up/down) samples, as scipy.signal.resample_poly
//   produces; method linear outputs floor(samples·(fs_new/fs_old)) samples (the ratio in double,
//   as torch's F.interpolate with recompute_scale_factor=True computes it) and takes any ratio.
//   `length` (samples) instead fixes the output length; then batch.fs becomes fs·length/samples
//   (method poly needs `fs`).
//
// method: poly — scipy.signal.resample_poly(x, up, down) with its defaults: window
//   ('kaiser', 5.0), half_len = 10·max(up, down), h = firwin(2·half_len + 1, 1/max(up, down),
//   window) · up (normalised to unit DC gain before the ·up), zero padding outside the signal,
//   scipy's alignment (pre-padding of the filter by down - half_len % down samples). Computed as a
//   polyphase sum (each output sample needs ceil(len(h)/up) taps) in double: plain C++ over rows
//   on CPU, index_select/addcmul over all rows per tap elsewhere.
// method: fft — scipy.signal.resample(x, num): rfft, keep min(num, samples) frequencies, split or
//   join the Nyquist bin as scipy does, irfft(num), scale by num/samples (periodic assumption).
// method: linear — torch_ecg's Resample, i.e. F.interpolate(x, mode="linear", align_corners=True,
//   scale_factor=fs_new/fs_old, recompute_scale_factor=True) (or size=length), reproducing
//   torch 1.13's CPU kernel bit for bit: scale = (samples-1)/(num-1) in the signal's dtype,
//   position p_i = scale·i in double, i0 = int(p_i), i1 = min(i0+1, samples-1),
//   w1 = dtype(p_i - i0), w0 = 1 - w1, out[i] = fma(x[i0], w0, x[i1]·w1); num = 1 takes x[0],
//   num = samples copies. Off CPU the fused sum is emulated in double.
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

#include "cardiotorch/core/error.h"

namespace cardiotorch::signal {

/// scipy.signal.resample_poly along the last dim (up, down > 0; reduced by their gcd).
at::Tensor resample_poly(const at::Tensor& x, int64_t up, int64_t down);
/// scipy.signal.resample along the last dim.
at::Tensor resample_fft(const at::Tensor& x, int64_t num);
namespace detail {
/// The tensor-op polyphase sum used off CPU; exposed so CPU tests can check it.
at::Tensor resample_poly_tensor_ops(const at::Tensor& x, int64_t up, int64_t down);
}  // namespace detail
/// Linear interpolation (align_corners=True) to num samples, exactly as torch's
/// F.interpolate(mode="linear", align_corners=True, size=num) on CPU.
at::Tensor resample_linear(const at::Tensor& x, int64_t num);
/// Output length of method linear for a rate change: floor(n·(fs_new/fs_old)).
int64_t linear_resample_length(int64_t n, double fs_old, double fs_new);
/// The FIR that resample_poly uses (firwin + Kaiser(5.0), times up), for tests.
std::vector<double> resample_poly_filter(int64_t up, int64_t down);
/// up/down for fs_old -> fs_new, reduced; ConfigError when the ratio is not rational enough.
std::pair<int64_t, int64_t> rational_ratio(double fs_old, double fs_new);

struct ResampleOptions {
  std::optional<double> fs;       ///< target rate in Hz
  std::optional<int64_t> length;  ///< target length in samples (instead of fs)
  std::string method = "poly";    ///< poly | fft | linear
  template <class V>
  void fields(V& v) {
    v("fs", fs, "target sampling rate in Hz");
    v("length", length, "target length in samples (instead of fs)");
    v("method", method, "poly (scipy resample_poly) | fft (scipy resample) | linear (torch_ecg)");
  }
  void validate() const;
};

}  // namespace cardiotorch::signal
