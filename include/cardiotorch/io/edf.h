#pragma once
// EDF, EDF+ and BDF/BDF+ files (European Data Format) through EDFlib (Debian libedf-dev).
//
// Values are the library's physical values in the file's own physical dimension ("uV", "mV";
// Record::units says which). Lead names come from the labels: the EDF+ signal-type prefix is
// dropped ("ECG I" -> "I", "EEG Fp1" -> "Fp1", "ECG V2" -> "V2") and the rest normalised.
// Each signal has its own rate (samples per data record / record duration); a Record needs one,
// so reading signals with different rates is an error unless the channels chosen share it.
#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/record.h"

namespace cardiotorch::io {

struct EdfSignalInfo {
  std::string label;  ///< as stored (trimmed), e.g. "ECG I"
  std::string lead;   ///< normalised lead name, e.g. "I"
  double fs = 0.0;    ///< Hz
  std::string units;  ///< physical dimension, e.g. "uV"
  int64_t n_samples = 0;
  double physical_min = 0.0, physical_max = 0.0;
  int digital_min = 0, digital_max = 0;
  std::string transducer, prefilter;
};

struct EdfAnnotation {
  double onset_s = 0.0;      ///< seconds from the start of the file
  double duration_s = -1.0;  ///< -1 = not given
  std::string text;          ///< UTF-8
};

struct EdfHeader {
  std::string path;
  std::string file_type;               ///< "EDF", "EDF+", "BDF" or "BDF+"
  std::vector<EdfSignalInfo> signals;  ///< data signals (annotation channels excluded)
  double duration_s = 0.0;
  std::string start;               ///< "YYYY-MM-DD HH:MM:SS"
  std::string patient, recording;  ///< EDF/BDF identification fields (EDF+ splits them up; see meta)
  int64_t n_annotations = 0;
};

/// True when the library was built with EDFlib (otherwise every function below throws).
bool edf_supported();

/// Lead name from an EDF label: "ECG I" -> "I", "EEG Fp1" -> "Fp1", "ECG V2" -> "V2", "II" -> "II".
std::string edf_lead_name(const std::string& label);

EdfHeader read_edf_header(const std::string& path);
std::vector<EdfAnnotation> read_edf_annotations(const std::string& path);

/// A record from the signals chosen by options.channels (index, label or lead name; all when
/// empty) over samples [from, to). DataError naming the file when the file is malformed, has no
/// data signals, or the chosen signals' rates differ.
Record read_edf(const std::string& path, const ReadOptions& options = {});

}  // namespace cardiotorch::io
