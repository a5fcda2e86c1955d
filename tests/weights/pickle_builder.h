#pragma once
// Hand-made pickles and torch archives for the tests: the cases Python 1.13 cannot produce
// (torch 2.x's _rebuild_tensor_v3 and untyped storages, big-endian archives) and hostile ones.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/zip.h"
#include "support/test_util.h"

namespace cardiotorch::test {

struct PickleBuilder {
  std::string b = std::string("\x80\x02", 2);

  PickleBuilder& op(char c) {
    b += c;
    return *this;
  }
  PickleBuilder& raw(const std::string& s) {
    b += s;
    return *this;
  }
  PickleBuilder& u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) b += static_cast<char>((v >> (8 * i)) & 0xff);
    return *this;
  }
  PickleBuilder& str(const std::string& s) {  // BINUNICODE
    op('X').u32(static_cast<uint32_t>(s.size()));
    return raw(s);
  }
  PickleBuilder& integer(int64_t v) {  // LONG1 covers every value
    std::string bytes;
    for (int i = 0; i < 8; ++i) bytes += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
    op('\x8a');
    b += static_cast<char>(8);
    return raw(bytes);
  }
  PickleBuilder& global(const std::string& module, const std::string& name) {
    return op('c').raw(module + "\n" + name + "\n");
  }
  PickleBuilder& tuple_of(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) integer(x);
    return op('t');
  }
  /// ('storage', <storage_class>, key, 'cpu', numel) BINPERSID
  PickleBuilder& storage(const std::string& cls, const std::string& key, int64_t numel) {
    op('(').str("storage").global("torch", cls).str(key).str("cpu").integer(numel).op('t');
    return op('Q');
  }
  PickleBuilder& empty_ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }
  /// _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())
  PickleBuilder& tensor_v2(const std::string& cls, const std::string& key, int64_t numel, int64_t offset,
                           const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    storage(cls, key, numel).integer(offset).tuple_of(size).tuple_of(stride).op('\x89');
    return empty_ordered_dict().op('t').op('R');
  }
  /// torch 2.x: _rebuild_tensor_v3(UntypedStorage, offset, size, stride, False, OrderedDict(), torch.<dtype>)
  PickleBuilder& tensor_v3(const std::string& key, int64_t nbytes, const std::string& dtype, int64_t offset,
                           const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v3").op('(');
    storage("UntypedStorage", key, nbytes).integer(offset).tuple_of(size).tuple_of(stride).op('\x89');
    return empty_ordered_dict().global("torch", dtype).op('t').op('R');
  }
  std::string done() { return b + "."; }
};

/// A torch.save-style zip: archive/data.pkl plus the given records (names relative to archive/).
inline std::string torch_zip(const std::string& pkl, const std::vector<std::pair<std::string, std::string>>& records) {
  io::zip::Writer w;
  w.add("archive/data.pkl", pkl);
  for (const auto& [name, data] : records) w.add("archive/" + name, data);
  return w.finish();
}

inline std::string float_bytes(const std::vector<float>& v, bool big_endian = false) {
  std::string out(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  if (big_endian)
    for (size_t i = 0; i < out.size(); i += 4) std::swap(out[i], out[i + 3]), std::swap(out[i + 1], out[i + 2]);
  return out;
}

}  // namespace cardiotorch::test
