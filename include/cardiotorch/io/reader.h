#pragma once
// One entry point for reading any supported ECG record into a Record (physical units).
#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/io/record.h"

namespace cardiotorch::io {

struct ReadOptions {
  int64_t from = 0;                   ///< first sample (inclusive)
  int64_t to = -1;                    ///< last sample (exclusive); -1 = end of record
  std::vector<std::string> channels;  ///< lead names or indices ("0", "II"); empty = all, in file order
};

/// Reads a record, choosing the reader from the path:
///  - WFDB: "dir/100", "dir/100.hea" (signal files .dat/.mat/... named in the header)
///  - MATLAB .mat with a WFDB header beside it (CinC layout) or a bare v4/v5 file
///  - EDF / EDF+ / BDF
///  - NumPy .npy / .npz (needs fs from a sidecar or defaults to 0)
/// Errors name the file and what is wrong (DataError).
Record read_record(const std::string& path, const ReadOptions& options = {});

}  // namespace cardiotorch::io
