#pragma once
// The safetensors container, read and written by our own code from the documented format:
//   [u64 little-endian N][N bytes of JSON header][raw little-endian tensor data]
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section) plus an optional "__metadata__" of string -> string.
// Torch-free, so the fuzz target builds against it alone; weights/archive.h reads the tensors.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cardiotorch::weights::safetensors {

struct TensorEntry {
  std::string name;
  std::string dtype;  ///< PyTorch's name ("float32", "bfloat16", ...)
  std::vector<int64_t> shape;
  uint64_t begin = 0;  ///< byte range inside the data section
  uint64_t end = 0;
};

struct Header {
  std::vector<TensorEntry> tensors;  ///< in data order
  std::vector<std::pair<std::string, std::string>> metadata;
  uint64_t data_start = 0;  ///< file offset of the data section (8 + N)
};

/// The reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;

/// N from the first 8 bytes, checked against the file size. DataError naming `origin`.
uint64_t header_length(const char* first8, uint64_t file_size, const std::string& origin);
/// Parses the JSON header (`json` holds N bytes) of a file of `file_size` bytes and checks every
/// tensor: known dtype, non-negative shape, byte range = numel x itemsize, and ranges that tile
/// the data section exactly (as the reference reader requires).
Header parse_header(const char* json, uint64_t n, uint64_t file_size, const std::string& origin);
/// The 8-byte length and the JSON header for `tensors` (their begin/end as given), padded with
/// spaces to a multiple of 8 bytes like the reference writer.
std::string format_header(const std::vector<TensorEntry>& tensors,
                          const std::vector<std::pair<std::string, std::string>>& metadata);

/// "F32" <-> "float32". "" for a name without a counterpart.
std::string dtype_from_safetensors(const std::string& code);
std::string dtype_to_safetensors(const std::string& dtype);

}  // namespace cardiotorch::weights::safetensors
