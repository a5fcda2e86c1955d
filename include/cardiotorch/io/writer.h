#pragma once
// Writing a Record to a file, the format chosen by the file's extension. Each format is a
// RecordWriter registered in writer_registry() from its own source file, like the readers:
//   CT_REGISTER(writer_registry(), "npy", make_writer<NpyWriter>, ".npy: float32 [leads, samples]");
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/core/registry.h"
#include "cardiotorch/io/record.h"

namespace cardiotorch::io {

struct WriteRecordOptions {
  /// Time of the record's first sample in the original recording (a window read with --from):
  /// CSV time stamps keep it.
  double time_offset_s = 0.0;
};

class RecordWriter {
 public:
  virtual ~RecordWriter() = default;
  /// Lower-case extensions, with the dot, this writer produces (".hea").
  virtual std::vector<std::string> extensions() const = 0;
  /// Writes `record` to `path` (parent directories exist). Errors name the file.
  virtual void write(const Record& record, const std::string& path, const WriteRecordOptions& options) const = 0;
};

Registry<RecordWriter>& writer_registry();

/// Factory for writers without options.
template <class Writer>
std::shared_ptr<RecordWriter> make_writer(const ConfigNode& /*options*/) {
  return std::make_shared<Writer>();
}

/// The writer format whose extensions include `path`'s ("npy", "wfdb", ...), or "".
std::string writer_format(const std::string& path);
/// Every extension a writer produces, in registry order (".csv", ".npy", ...).
std::vector<std::string> writer_extensions();

/// Writes `record` to `path` in the format its extension names, creating parent directories:
///  .npy  float32 [leads, samples] in the record's units (lossless for float32 data)
///  .npz  arrays signal (as .npy) and fs (float64 scalar)
///  .csv  a time_s column (seconds from the recording's start; the sample index when fs is 0) and
///        one column per lead, 7 significant digits, NaN for invalid samples
///  .hea  a WFDB record: format 16 .dat beside the header, per-lead gain the largest of 1000, 500,
///        200, ..., 1 adu/unit at which the lead fits 16 bits (exact for 1000/mV and 200/mV
///        sources), else whatever gain fits its peak; needs fs > 0
/// ArgumentError when no writer has the extension.
void write_record(const Record& record, const std::string& path, const WriteRecordOptions& options = {});

}  // namespace cardiotorch::io
