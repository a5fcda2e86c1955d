#pragma once
// Length and lead layout of tensors shaped (..., leads, samples).
//
// Registered preprocessors:
//   crop   {length: 5000, mode: centre, eval_mode: centre, pad_value: 0, pad: end}
//          Fixes the number of samples. Longer signals are cut: mode start | centre | end take
//          [0, length), [(n - length)//2, ...), [n - length, n); mode random takes, for each element
//          of the leading dims independently, a start drawn uniformly from [0, n - length] with
//          ctx.generator — in training only: in eval (ctx.training false) a random crop takes
//          eval_mode (start | centre | end) so evaluation is deterministic. Shorter signals are
//          padded with pad_value: pad end | start | both (both puts (length - n)//2 before).
//          "center" is accepted for "centre" wherever a mode is named (here and in the loader).
//          The loader's window cropping (LoaderOptions::crop) is this step: crop_start + crop_window.
//   ncrop  {length: 2500, n: 3}
//          n crops with starts round(i·(samples - length)/(n - 1)), i = 0..n-1 (one centred crop when
//          n = 1), stacked as a NEW LEADING dim: (..., leads, samples) -> (n, ..., leads, length), for
//          test-time averaging over dim 0. Signals shorter than length are zero-padded at the end
//          first. Labels are left as they are.
//   select_leads {leads: [I, II, V1], derive: true}
//          Reorders/selects leads by name using batch.leads (names are compared after
//          io::normalize_lead_name) and updates batch.leads. With derive true, missing limb leads
//          are computed from I and II (Einthoven/Goldberger): III = II - I, aVR = -(I + II)/2,
//          aVL = I - II/2, aVF = II - I/2. A 1-D signal is one lead; when one lead is selected
//          from it the output stays 1-D.
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "cardiotorch/core/error.h"

namespace cardiotorch::signal {

struct CropOptions {
  int64_t length = 5000;             ///< samples
  std::string mode = "centre";       ///< start | centre | end | random
  std::string eval_mode = "centre";  ///< what mode random does in eval: start | centre | end
  double pad_value = 0.0;
  std::string pad = "end";  ///< end | start | both
  template <class V>
  void fields(V& v) {
    v("length", length, "output length in samples");
    v("mode", mode, "start | centre | end | random (random only in training)");
    v("eval_mode", eval_mode, "crop used by mode random in eval: start | centre | end");
    v("pad_value", pad_value, "value for padding short signals");
    v("pad", pad, "where short signals are padded: end | start | both");
  }
  void validate() const;
};

/// True for "centre" and its US spelling "center".
bool is_centre(const std::string& mode);

/// Where the crop step cuts a signal of n samples: the start of [start, start + o.length), 0 when
/// n <= o.length. mode start | centre | end, or random: uniform in [0, n - length] from `gen`
/// (the global generator when undefined) in training, o.eval_mode otherwise.
int64_t crop_start(const CropOptions& o, int64_t n, bool training, const at::Generator& gen);
/// The crop step on one signal: samples [start, start + o.length) of the last dim (a view), or
/// the signal padded to o.length (o.pad, o.pad_value) when it is shorter.
at::Tensor crop_window(const at::Tensor& x, const CropOptions& o, int64_t start);

struct NCropOptions {
  int64_t length = 2500;
  int64_t n = 3;
  template <class V>
  void fields(V& v) {
    v("length", length, "crop length in samples");
    v("n", n, "number of evenly spaced crops (new leading dim)");
  }
  void validate() const;
};

struct SelectLeadsOptions {
  std::vector<std::string> leads = {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};
  bool derive = true;
  template <class V>
  void fields(V& v) {
    v("leads", leads, "output leads in order (names as in the record)");
    v("derive", derive, "compute missing III, aVR, aVL, aVF from I and II");
  }
  void validate() const;
};

}  // namespace cardiotorch::signal
