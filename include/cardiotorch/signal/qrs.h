#pragma once
// QRS detection: R-peak positions of one ECG lead, for records without beat annotations
// (`cardiotorch predict` on a beat classifier).
//
// The Pan-Tompkins chain (IEEE TBME 32(3), 1985): a band-pass, the derivative, squaring and a
// 150 ms moving-window integration; candidate peaks at least a refractory period apart are
// accepted against adaptive signal/noise levels (SPKI/NPKI), peaks within 360 ms of a beat with
// less than half its slope are T waves, and a search back at half the threshold runs when an RR
// interval exceeds 166% of the running mean. Each detection is
// then placed on the R peak: the largest deviation from the local median of the 0.5-40 Hz
// filtered lead within +-`refine_ms`.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace cardiotorch::signal {

struct QrsOptions {
  /// The detection band. Pan-Tompkins' 5-15 Hz misses wide, low-frequency ventricular beats
  /// (MIT-BIH 208: Se 0.92); 3-20 Hz finds them (0.996) at a small cost in +P (108: 0.98).
  double low_hz = 3.0, high_hz = 20.0;
  double integration_ms = 150.0;    ///< moving-window integration length
  double neighbourhood_ms = 100.0;  ///< a candidate is the largest integrated value within +-this
  double t_wave_ms = 360.0;         ///< peaks closer to the last beat are tested for being its T wave
  double refractory_ms = 200.0;     ///< least distance between two beats
  double refine_ms = 80.0;          ///< R-peak search half-window around a detection
  bool search_back = true;
};

/// R-peak sample indices (ascending) of `lead` (1-D, any float dtype, physical units) at `fs`.
std::vector<int64_t> detect_qrs(const at::Tensor& lead, double fs, const QrsOptions& options = {});

}  // namespace cardiotorch::signal
