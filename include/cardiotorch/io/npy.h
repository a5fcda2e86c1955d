#pragma once
// NumPy .npy and .npz files as at::Tensor.
//
// Reading accepts format versions 1.0-3.0, little and big endian, C and Fortran order, and
// dtypes float16/32/64, int8/16/32/64, uint8, bool; uint16 and uint32 widen to int32 and int64
// (LibTorch has no such types); uint64 is refused. The result is always a contiguous tensor in
// C order. Writing stores a contiguous little-endian C-order copy (version 1.0 header, 2.0
// when the header would not fit). .npz: stored and deflate members are read; members are
// written stored (uncompressed), like numpy.savez.
#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace cardiotorch::io {

at::Tensor read_npy(const std::string& path);
/// Decodes .npy bytes held in memory; `origin` names them in errors.
at::Tensor decode_npy(const std::string& bytes, const std::string& origin);
void write_npy(const std::string& path, const at::Tensor& tensor);
std::string encode_npy(const at::Tensor& tensor);

/// Members keyed by name without the ".npy" suffix (numpy.load(...).files order is not kept).
std::map<std::string, at::Tensor> read_npz(const std::string& path);
void write_npz(const std::string& path, const std::map<std::string, at::Tensor>& arrays);

}  // namespace cardiotorch::io
