#pragma once
// A decoded ECG record in physical units, the common currency between readers,
// datasets, preprocessing and the CLI.
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace cardiotorch::io {

struct Record {
  std::string name;                         ///< record name (file stem, e.g. "100")
  std::string source;                       ///< path it was read from
  double fs = 0.0;                          ///< sampling rate in Hz
  at::Tensor signal;                        ///< float32 [leads, samples], physical units; NaN = invalid sample
  std::vector<std::string> leads;           ///< normalised lead names (I, II, III, aVR, aVL, aVF, V1..V6, ...)
  std::vector<std::string> units;           ///< per lead ("mV")
  std::vector<std::string> comments;        ///< free-text header comments
  std::map<std::string, std::string> meta;  ///< e.g. age, sex, dx (reader/dataset specific)

  int64_t n_leads() const { return signal.defined() ? signal.size(0) : 0; }
  int64_t n_samples() const { return signal.defined() ? signal.size(1) : 0; }
  double duration_s() const { return fs > 0 ? n_samples() / fs : 0.0; }
};

/// Canonical lead name: "ii" -> "II", "AVR"/"avr" -> "aVR", "v1" -> "V1", "MLII" stays "MLII".
std::string normalize_lead_name(const std::string& name);

}  // namespace cardiotorch::io
