#pragma once
// The NumPy .npy header (format versions 1.0, 2.0 and 3.0), without tensors: parsing and
// writing the preamble that precedes the raw array bytes. Kept torch-free so the fuzz
// target can build it alone.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cardiotorch::io {

struct NpyHeader {
  int major = 1;  ///< format version (1, 2 or 3)
  int minor = 0;
  char byte_order = '<';       ///< '<' little endian, '>' big endian, '|' single-byte types
  char kind = 'f';             ///< 'f' float, 'i' signed int, 'u' unsigned int, 'b' bool
  int item_size = 4;           ///< bytes per element
  bool fortran_order = false;  ///< column-major data
  std::vector<int64_t> shape;  ///< empty = 0-d scalar
  size_t data_offset = 0;      ///< offset of the first data byte from the start of the file

  int64_t numel() const;
  /// "<f4", ">i2", "|b1" ...
  std::string descr() const;
};

/// Parses the magic, version and header dict at the start of `data`. Throws DataError naming
/// `origin` on a bad magic, an unsupported dtype (structured, complex, object, strings) or a
/// header that runs past `size`. Does not check that the data bytes are all present.
NpyHeader parse_npy_header(const char* data, size_t size, const std::string& origin);

/// The bytes that precede the data: magic, version, header length and the padded dict
/// (total a multiple of 64, like NumPy). Version 1.0 unless the dict needs 2.0.
std::string format_npy_header(const NpyHeader& header);

}  // namespace cardiotorch::io
