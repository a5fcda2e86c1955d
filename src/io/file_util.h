#pragma once
// Whole-file byte I/O with errors that name the file.
#include <string>

namespace cardiotorch::io {

/// The whole file; DataError "<path>: cannot open ..." when missing or unreadable.
std::string read_file_bytes(const std::string& path);
/// At most `max_bytes` from the start of the file ("" if it cannot be opened).
std::string read_file_prefix(const std::string& path, size_t max_bytes);
/// Writes atomically enough for our use (truncate + write); Error naming the file on failure.
void write_file_bytes(const std::string& path, const std::string& bytes);

}  // namespace cardiotorch::io
