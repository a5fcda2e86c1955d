#include "cardiotorch/io/npy.h"

#include <ATen/ATen.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/npy_format.h"
#include "cardiotorch/core/file.h"
#include "io/zip.h"

namespace cardiotorch::io {
namespace {

at::ScalarType storage_type(const NpyHeader& h, const std::string& origin) {
  switch (h.kind) {
    case 'f': return h.item_size == 2 ? at::kHalf : h.item_size == 4 ? at::kFloat : at::kDouble;
    case 'i':
      return h.item_size == 1 ? at::kChar : h.item_size == 2 ? at::kShort : h.item_size == 4 ? at::kInt : at::kLong;
    case 'u':
      // Same-width signed storage; the widening below reinterprets the bits as unsigned.
      if (h.item_size == 1) return at::kByte;
      if (h.item_size == 2) return at::kShort;
      if (h.item_size == 4) return at::kInt;
      throw DataError(str_cat(origin, ": dtype uint64 is not supported (LibTorch has no uint64)"));
    case 'b': return at::kBool;
    default: throw DataError(str_cat(origin, ": unsupported dtype ", h.descr()));
  }
}

void byteswap(void* data, int64_t n, int item_size) {
  auto* p = static_cast<unsigned char*>(data);
  for (int64_t i = 0; i < n; ++i, p += item_size)
    for (int a = 0, b = item_size - 1; a < b; ++a, --b) std::swap(p[a], p[b]);
}

NpyHeader header_for(const at::Tensor& t) {
  NpyHeader h;
  switch (t.scalar_type()) {
    case at::kFloat: h.kind = 'f', h.item_size = 4; break;
    case at::kDouble: h.kind = 'f', h.item_size = 8; break;
    case at::kHalf: h.kind = 'f', h.item_size = 2; break;
    case at::kChar: h.kind = 'i', h.item_size = 1; break;
    case at::kShort: h.kind = 'i', h.item_size = 2; break;
    case at::kInt: h.kind = 'i', h.item_size = 4; break;
    case at::kLong: h.kind = 'i', h.item_size = 8; break;
    case at::kByte: h.kind = 'u', h.item_size = 1; break;
    case at::kBool: h.kind = 'b', h.item_size = 1; break;
    default:
      throw ShapeError(str_cat("write_npy: dtype ", t.scalar_type(),
                               " has no .npy equivalent (use float16/32/64, int8..int64, uint8 or bool)"));
  }
  h.byte_order = h.item_size == 1 ? '|' : '<';
  h.shape = t.sizes().vec();
  return h;
}

}  // namespace

at::Tensor decode_npy(const std::string& bytes, const std::string& origin) {
  const NpyHeader h = parse_npy_header(bytes.data(), bytes.size(), origin);
  const int64_t n = h.numel();
  const uint64_t need = static_cast<uint64_t>(n) * h.item_size;
  const uint64_t have = bytes.size() - h.data_offset;
  CT_CHECK(have >= need, DataError, origin, ": truncated .npy data: shape (", join([&] {
             std::vector<std::string> d;
             for (int64_t x : h.shape) d.push_back(std::to_string(x));
             return d;
           }()),
           ") ", h.descr(), " needs ", need, " bytes, the file has ", have);
  const at::ScalarType st = storage_type(h, origin);
  // Fortran order: the bytes are the transpose laid out in C order.
  std::vector<int64_t> layout = h.shape;
  if (h.fortran_order) std::reverse(layout.begin(), layout.end());
  at::Tensor t = at::empty(layout, at::TensorOptions().dtype(st));
  if (need > 0) std::memcpy(t.data_ptr(), bytes.data() + h.data_offset, need);
  if (h.byte_order == '>' && h.item_size > 1) byteswap(t.data_ptr(), n, h.item_size);
  if (h.kind == 'u' && h.item_size == 2) t = t.to(at::kInt).bitwise_and(0xffff);
  if (h.kind == 'u' && h.item_size == 4) t = t.to(at::kLong).bitwise_and(int64_t{0xffffffff});
  if (h.fortran_order && layout.size() > 1) {
    std::vector<int64_t> perm(layout.size());
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(perm.size() - 1 - i);
    t = t.permute(perm).contiguous();
  }
  return t;
}

at::Tensor read_npy(const std::string& path) { return decode_npy(read_file(path), path); }

std::string encode_npy(const at::Tensor& tensor) {
  CT_CHECK(tensor.defined(), ArgumentError, "write_npy: undefined tensor");
  const at::Tensor t = tensor.is_contiguous() && tensor.device().is_cpu() ? tensor : tensor.cpu().contiguous();
  const NpyHeader h = header_for(t);
  std::string out = format_npy_header(h);
  const size_t n = static_cast<size_t>(t.numel()) * h.item_size;
  const size_t at0 = out.size();
  out.resize(at0 + n);
  if (n) std::memcpy(&out[at0], t.data_ptr(), n);
  return out;
}

void write_npy(const std::string& path, const at::Tensor& tensor) { write_file(path, encode_npy(tensor)); }

std::map<std::string, at::Tensor> read_npz(const std::string& path) {
  const std::string bytes = read_file(path);
  std::map<std::string, at::Tensor> out;
  for (const zip::Member& m : zip::list(bytes, path)) {
    std::string key = m.name;
    if (ends_with(key, ".npy")) key.resize(key.size() - 4);
    const std::string where = path + ":" + m.name;
    out[key] = decode_npy(zip::extract(bytes, m, path), where);
  }
  return out;
}

void write_npz(const std::string& path, const std::map<std::string, at::Tensor>& arrays) {
  zip::Writer w;
  for (const auto& [name, t] : arrays) {
    CT_CHECK(!name.empty(), ArgumentError, path, ": empty array name");
    w.add(name + ".npy", encode_npy(t));
  }
  write_file(path, w.finish());
}

}  // namespace cardiotorch::io
