#include "support/npy.h"

#include <ATen/ATen.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "cardiotorch/core/error.h"

namespace cardiotorch::test {

namespace {
std::string header_value(const std::string& header, const std::string& key, const std::string& path) {
  const auto k = header.find("'" + key + "'");
  CT_CHECK(k != std::string::npos, DataError, path, ": npy header has no '", key, "'");
  const auto colon = header.find(':', k);
  CT_CHECK(colon != std::string::npos, DataError, path, ": malformed npy header");
  size_t b = colon + 1;
  while (b < header.size() && header[b] == ' ') ++b;
  size_t e = b;
  if (header[b] == '(') {
    e = header.find(')', b);
    CT_CHECK(e != std::string::npos, DataError, path, ": malformed shape in npy header");
    return header.substr(b, e - b + 1);
  }
  if (header[b] == '\'') {
    e = header.find('\'', b + 1);
    return header.substr(b + 1, e - b - 1);
  }
  while (e < header.size() && header[e] != ',' && header[e] != '}') ++e;
  return header.substr(b, e - b);
}
}  // namespace

at::Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  CT_CHECK(in, DataError, path, ": cannot open");
  char magic[8];
  in.read(magic, 8);
  CT_CHECK(in && std::memcmp(magic, "\x93NUMPY", 6) == 0, DataError, path, ": not an .npy file (bad magic)");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t hlen = 0;
  if (major == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  std::string header(hlen, '\0');
  in.read(header.data(), hlen);
  CT_CHECK(in, DataError, path, ": truncated npy header");
  const std::string descr = header_value(header, "descr", path);
  const std::string fortran = header_value(header, "fortran_order", path);
  CT_CHECK(fortran.find("False") != std::string::npos, DataError, path, ": Fortran-order arrays are not supported");
  at::ScalarType type;
  size_t item = 0;
  if (descr == "<f8") type = at::kDouble, item = 8;
  else if (descr == "<f4") type = at::kFloat, item = 4;
  else if (descr == "<i2") type = at::kShort, item = 2;
  else if (descr == "<i4") type = at::kInt, item = 4;
  else if (descr == "<i8") type = at::kLong, item = 8;
  else throw DataError(str_cat(path, ": unsupported npy dtype '", descr, "' (need <f8, <f4, <i2, <i4, <i8)"));
  std::vector<int64_t> shape;
  std::string s = header_value(header, "shape", path);
  std::stringstream ss(s.substr(1, s.size() - 2));
  std::string tok;
  while (std::getline(ss, tok, ','))
    if (tok.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(tok));
  int64_t count = 1;
  for (auto d : shape) count *= d;
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(count * item));
  CT_CHECK(in, DataError, path, ": truncated npy data (expected ", count, " items)");
  return t;
}

}  // namespace cardiotorch::test
