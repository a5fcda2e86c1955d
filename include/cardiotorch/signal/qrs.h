#pragma once
// QRS detection: R-peak positions of one ECG lead, for records without beat annotations
// (`cardiotorch predict` on a beat classifier).
//
// The Pan-Tompkins chain (IEEE TBME 32(3), 1985): a 5-15 Hz band-pass, the derivative,
// squaring and a 150 ms moving-window integration; candidate peaks at least a refractory period
// apart are accepted against adaptive signal/noise levels (SPKI/NPKI), with a search back at
// half the threshold when an RR interval exceeds 166% of the running mean. Each detection is
// then placed on the R peak: the largest deviation from the local median of the 0.5-40 Hz
// filtered lead within +-`refine_ms`.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace cardiotorch::signal {

struct QrsOptions {
  double low_hz = 5.0, high_hz = 15.0;  ///< the detection band
  double integration_ms = 150.0;        ///< moving-window integration length
  double refractory_ms = 200.0;         ///< least distance between two beats
  double refine_ms = 80.0;              ///< R-peak search half-window around a detection
  bool search_back = true;
};

/// R-peak sample indices (ascending) of `lead` (1-D, any float dtype, physical units) at `fs`.
std::vector<int64_t> detect_qrs(const at::Tensor& lead, double fs, const QrsOptions& options = {});

}  // namespace cardiotorch::signal
