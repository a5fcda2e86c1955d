#pragma once
// MATLAB .mat files (v4, v5, v7.3 through matio) as ECG records.
//
// Layouts handled by read_mat_record():
//  - PhysioNet/CinC (2017, 2020, 2021): a v4/v5 file holding `val` (leads x samples, digital)
//    with a WFDB header "<stem>.hea" beside it. Gain, baseline, units, lead names, fs and the
//    header comments come from that header (parsed by io::wfdb); physical = (val - baseline) / gain,
//    NaN where val is -32768 (WFDB's invalid sample), exactly like reading the record via its .hea.
//  - CPSC 2018: a v5 struct ECG with fields data (12 x N, mV), sex, age; fs 500 Hz and the
//    standard 12-lead order (I II III aVR aVL aVF V1..V6); sex/age go to Record::meta.
//  - Bare files: the variable named by MatOptions::variable, else the first of val, ecg, data, ECG
//    (a struct: its `data` field). A matrix is taken as leads x samples when it has fewer rows
//    than columns, else as samples x leads (so a 5000 x 1 CPSC 2019 column is one lead).
//    Units default to "mV" for floating-point data and "adu" for integer-valued classes.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "cardiotorch/io/record.h"

namespace cardiotorch::io {

struct MatOptions {
  std::string variable;            ///< "" = automatic (see above); "ECG.data" selects a struct field
  double fs = 0.0;                 ///< sampling rate of a bare file (which does not store one); 0 = unknown
  std::string units;               ///< override the default units of a bare file
  std::vector<std::string> leads;  ///< lead names of a bare file (default "ch0", "ch1", ...)
  bool use_header = true;          ///< use "<stem>.hea" beside the file when it exists
};

/// Names of the top-level variables in file order.
std::vector<std::string> mat_variable_names(const std::string& path);

/// One numeric variable with MATLAB's shape (rows, cols, ...), in C order. matio widens v4
/// data to double; v5 classes keep their type (int16 -> kShort, single -> kFloat, ...; uint16
/// and uint32 widen to int32/int64). "S.f" reads field f of struct S. Complex, sparse, cell
/// and uint64 variables are refused with a DataError.
at::Tensor read_mat_array(const std::string& path, const std::string& variable);

/// A record from a .mat file (see the layouts above). Throws DataError naming the file.
Record read_mat_record(const std::string& path, const MatOptions& options = {});

}  // namespace cardiotorch::io
