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
  double fs = 0.0;                    ///< sampling rate for files that store none (.npy, bare .mat); 0 = keep
  std::string variable;               ///< .mat variable ("val", "ECG.data") or .npz member; "" = automatic
};

/// Reads a record, choosing the reader from the path:
///  - WFDB: "dir/100", "dir/100.hea" (signal files .dat/.mat/... named in the header)
///  - MATLAB .mat with a WFDB header beside it (CinC layout) or a bare v4/v5 file
///  - EDF / EDF+ / BDF
///  - NumPy .npy ([samples], [leads, samples]) / .npz (array "signal", "ecg", "data" or "x", or the
///    only one; an optional scalar "fs"); fs otherwise from options.fs, else 0
/// A path without a known extension is recognised by its content (MATLAB, EDF/BDF, NumPy, zip
/// magic) or by "<path>.hea" existing. Errors name the file and what is wrong: DataError for bad
/// or unreadable data, ConfigError for options that do not fit the record (unknown channel,
/// window outside it).
Record read_record(const std::string& path, const ReadOptions& options = {});

/// The format read_record would use for `path`: "wfdb", "mat", "edf", "npy", "npz", or ""
/// when it is not a record (so directory scans can skip it without reading it).
std::string record_format(const std::string& path);

/// Records in `dir`, sorted: per directory, WFDB headers (a .mat with a .hea beside it counts
/// once, as its .hea), then .mat/.edf/.bdf/.npy/.npz files without a header. `recursive`
/// also walks subdirectories (PTB-XL's records100/00000/... layout).
std::vector<std::string> find_records(const std::string& dir, bool recursive = false);

}  // namespace cardiotorch::io
