#pragma once
// One entry point for reading any supported ECG record into a Record (physical units), and the
// registry of record formats behind it.
//
// Each format is a RecordReader registered under its format tag in reader_registry(), from its
// own source file (src/io/reader_<format>.cpp):
//   CT_REGISTER(reader_registry(), "edf", make_reader<EdfReader>, "EDF, EDF+ and BDF (EDFlib)");
// read_record, read_record_info, record_format and find_records ask the registered readers, so a
// new format (cardiac MRI formats are next) is one new file and touches no existing one.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/core/registry.h"
#include "cardiotorch/io/record.h"
#include "cardiotorch/io/summary.h"

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

/// The extensions directory listings recognise as records (".hea", ".mat", ...), for messages.
std::vector<std::string> record_extensions();

/// One record format.
class RecordReader {
 public:
  virtual ~RecordReader() = default;
  /// Lower-case extensions, with the dot, that name a file of this format (".edf", ".bdf").
  virtual std::vector<std::string> extensions() const = 0;
  /// For a path without a known extension: whether it is this format, judged from `head` (the
  /// file's first 256 bytes, "" when `path` is not a regular file) or its surroundings.
  virtual bool sniff(const std::string& path, const std::string& head) const {
    (void)path, (void)head;
    return false;
  }
  /// Whether a directory listing counts `file` (which has one of extensions()) as a record of
  /// its own; false e.g. for a CinC .mat with a .hea beside it (the header lists it).
  virtual bool lists(const std::string& file) const {
    (void)file;
    return true;
  }
  /// Listing order within a directory, lower first (WFDB headers before bare files).
  virtual int listing_rank() const { return 1; }
  /// The record (see read_record for the options' meaning).
  virtual Record read(const std::string& path, const ReadOptions& options) const = 0;
  /// What the header says, without decoding samples where the format allows; the default
  /// decodes the record.
  virtual RecordInfo info(const std::string& path) const;
};

Registry<RecordReader>& reader_registry();

/// The reader registered as `format` ("wfdb", "edf", ...); ConfigError for an unknown tag.
const RecordReader& record_reader(const std::string& format);

/// Factory for readers without options (readers are built once, the first time they are used).
template <class Reader>
std::shared_ptr<RecordReader> make_reader(const ConfigNode& /*options*/) {
  return std::make_shared<Reader>();
}

}  // namespace cardiotorch::io
