#pragma once
// Whole-file I/O with one set of error messages ("<path>: cannot open (No such file or
// directory)"). Torch-free, so the parser fuzz targets build against it.
#include <cstddef>
#include <string>

namespace cardiotorch {

/// The whole file as bytes. IoError naming the file when it is missing, a directory or unreadable.
std::string read_file(const std::string& path);
/// At most `max_bytes` from the start of the file; "" when it cannot be opened (for sniffing
/// formats, where a missing file is not an error yet).
std::string read_file_prefix(const std::string& path, size_t max_bytes);
/// Writes `bytes` to `path` (truncating it; parent directories are created). IoError naming
/// the file on failure.
void write_file(const std::string& path, const std::string& bytes);

}  // namespace cardiotorch
