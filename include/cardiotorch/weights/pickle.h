#pragma once
// A restricted pickle VM for torch.save's data.pkl (and the pickles of the legacy format), and
// the matching writer for a plain state_dict.
//
// Reading never executes or imports anything. Globals are names; a small set of them is
// understood (collections.OrderedDict, torch._utils._rebuild_tensor_v2/_v3, _rebuild_parameter,
// torch.*Storage, _codecs.encode, numpy scalars, ...), every other one becomes an inert
// placeholder, and calling a placeholder gives a placeholder. A call of a global that only an
// exploit would call (os.system, builtins.eval, subprocess.*, ...) is refused with a DataError.
// Memory is bounded (Limits), the VM has no recursion, and the result is checked for cycles.
// Torch-free, so the fuzz target builds against it alone.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/weights/pytree.h"

namespace cardiotorch::weights::pickle {

struct Limits {
  size_t max_depth = 256;                     ///< nesting of containers in the result
  uint64_t max_memory = uint64_t{512} << 20;  ///< bytes of nodes and strings the VM may build
};

/// Unpickles one pickle from `data` into `tree` (setting tree.root). Returns the bytes consumed,
/// through the STOP opcode (the legacy format stores several pickles back to back).
/// Persistent ids ('storage', <type>, key, location, numel[, view]) become kStorage nodes, one
/// per key. DataError naming `origin` on anything malformed, unsupported or over the limits.
size_t unpickle(const char* data, size_t size, PyTree& tree, const std::string& origin, const Limits& limits = {});

/// One tensor of a state_dict to pickle: a strided view of the storage `storage_key`.
struct TensorRecord {
  std::string name;
  std::string dtype;  ///< PyTorch's name: "float32", "bfloat16", ...
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
  int64_t offset = 0;
  std::string storage_key;
  uint64_t storage_numel = 0;
  bool requires_grad = false;
};

/// data.pkl for an OrderedDict of tensors, in pickle protocol 2 with the globals torch.save
/// uses (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.<Type>Storage), so
/// torch.load(..., weights_only=True) accepts it. Throws ConfigError for a dtype with no typed
/// storage class (such tensors need _rebuild_tensor_v3, which torch 1.x cannot read).
std::string write_state_dict(const std::vector<TensorRecord>& tensors);

/// "float32" -> "FloatStorage"; "" for a dtype without a typed storage class.
std::string storage_class_of(const std::string& dtype);
/// "FloatStorage" -> "float32", "UntypedStorage" -> "uint8"; "" if unknown.
std::string dtype_of_storage_class(const std::string& name);

}  // namespace cardiotorch::weights::pickle
