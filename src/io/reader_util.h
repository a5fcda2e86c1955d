#pragma once
// Helpers shared by the RecordReader implementations (internal; needs torch, unlike record_util.h).
#include <string>

#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/summary.h"
#include "cardiotorch/io/wfdb.h"

namespace cardiotorch::io {

/// Applies options.channels and the [from, to) window to a fully decoded record (readers of
/// formats that cannot read part of a file). ConfigError naming the file when they do not fit.
void apply_window_and_channels(Record& r, const ReadOptions& options);

/// RecordInfo of a WFDB header (and, for a multi-segment record, the lead names of its first
/// segment with signals); `path` is the record as named by the caller, `format` its tag.
RecordInfo info_from_wfdb_header(const std::string& path, const wfdb::Header& header, const std::string& format);

}  // namespace cardiotorch::io
