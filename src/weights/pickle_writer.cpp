// data.pkl of a plain state_dict, written opcode by opcode in protocol 2 the way torch.save does:
// only opcodes and globals that torch.load(weights_only=True) accepts, from torch 1.13 on.
#include <cstdint>
#include <unordered_map>

#include "cardiotorch/core/error.h"
#include "cardiotorch/weights/pickle.h"

namespace cardiotorch::weights::pickle {
namespace {

class Writer {
 public:
  std::string out;

  void op(char c) { out += c; }
  void u32(uint32_t v) {
    for (int b = 0; b < 4; ++b) out += static_cast<char>((v >> (8 * b)) & 0xff);
  }
  void string(const std::string& s) {
    CT_CHECK(s.size() < 0xffffffffull, ConfigError, "state_dict key of ", s.size(), " bytes");
    op('X');  // BINUNICODE: keys and names are UTF-8 already
    u32(static_cast<uint32_t>(s.size()));
    out += s;
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      op('K');
      out += static_cast<char>(v);
    } else if (v >= 0 && v < 65536) {
      op('M');
      out += static_cast<char>(v & 0xff);
      out += static_cast<char>(v >> 8);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      u32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {  // LONG1: minimal two's complement, little-endian
      std::string bytes;
      auto u = static_cast<uint64_t>(v);
      for (int b = 0; b < 8; ++b) bytes += static_cast<char>((u >> (8 * b)) & 0xff);
      while (bytes.size() > 1) {
        const auto last = static_cast<unsigned char>(bytes.back());
        const auto prev = static_cast<unsigned char>(bytes[bytes.size() - 2]);
        if ((last == 0x00 && !(prev & 0x80)) || (last == 0xff && (prev & 0x80))) bytes.pop_back();
        else break;
      }
      op('\x8a');
      out += static_cast<char>(bytes.size());
      out += bytes;
    }
  }
  void tuple_of(const std::vector<int64_t>& v) {
    if (v.empty()) {
      op(')');
      return;
    }
    if (v.size() > 3) op('(');
    for (int64_t x : v) integer(x);
    op(v.size() == 1 ? '\x85' : v.size() == 2 ? '\x86' : v.size() == 3 ? '\x87' : 't');
  }
  // A global written once, then fetched from the memo (as Python's pickler does).
  void global(const std::string& module, const std::string& name) {
    const std::string key = module + "\n" + name + "\n";
    auto it = memo_.find(key);
    if (it != memo_.end()) {
      op('j');  // LONG_BINGET
      u32(it->second);
      return;
    }
    op('c');
    out += key;
    const auto idx = static_cast<uint32_t>(memo_.size());
    op('r');  // LONG_BINPUT
    u32(idx);
    memo_[key] = idx;
  }

 private:
  std::unordered_map<std::string, uint32_t> memo_;
};

}  // namespace

std::string write_state_dict(const std::vector<TensorRecord>& tensors) {
  Writer w;
  w.op('\x80');
  w.out += '\x02';
  w.global("collections", "OrderedDict");
  w.op(')');
  w.op('R');
  if (!tensors.empty()) w.op('(');
  for (const TensorRecord& t : tensors) {
    const std::string cls = storage_class_of(t.dtype);
    CT_CHECK(!cls.empty(), ConfigError, "tensor '", t.name, "': dtype ", t.dtype,
             " has no torch storage class, so torch 1.x cannot load it from a .pt file; save as .safetensors");
    CT_CHECK(t.sizes.size() == t.strides.size(), ConfigError, "tensor '", t.name,
             "': sizes and strides differ in rank");
    w.string(t.name);
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.op('(');
    // The persistent id ('storage', torch.<Type>Storage, key, location, numel).
    w.op('(');
    w.string("storage");
    w.global("torch", cls);
    w.string(t.storage_key);
    w.string("cpu");
    w.integer(static_cast<int64_t>(t.storage_numel));
    w.op('t');
    w.op('Q');
    w.integer(t.offset);
    w.tuple_of(t.sizes);
    w.tuple_of(t.strides);
    w.op(t.requires_grad ? '\x88' : '\x89');
    w.global("collections", "OrderedDict");  // backward hooks: always empty
    w.op(')');
    w.op('R');
    w.op('t');
    w.op('R');
  }
  if (!tensors.empty()) w.op('u');
  w.op('.');
  return std::move(w.out);
}

}  // namespace cardiotorch::weights::pickle
