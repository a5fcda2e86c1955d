#pragma once
// The Python values inside a checkpoint, rebuilt without executing anything: the neutral tree
// the restricted unpickler, the safetensors reader and the JSON configs all produce. Tensors are
// descriptions (storage, dtype, offset, sizes, strides); the torch-side reader (weights/archive.h)
// turns them into at::Tensors. Objects of classes we do not know (argparse.Namespace, Lightning's
// AttributeDict, torch_ecg's CFG, optimizer state, numpy scalars) become inspectable
// placeholders that keep their class name, constructor arguments, items and state.
// Torch-free, so the fuzz targets build against it alone.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cardiotorch::weights {

/// Storage and tensor element types, by PyTorch's names ("float32", "bfloat16", "int64", ...).
/// Bytes per element, or 0 for a name we do not know.
size_t dtype_itemsize(const std::string& dtype);

struct PyNode;

/// Where a tensor's bytes live: one torch storage (`data/<key>` in a zip archive) or one
/// safetensors data range. Several tensors may view the same storage.
struct StorageInfo {
  std::string key;           ///< record name inside the archive, or the tensor name for safetensors
  std::string dtype;         ///< element type the storage was saved as ("uint8" for untyped storages)
  uint64_t numel = 0;        ///< elements of `dtype`, as the file declares
  std::string location;      ///< "cpu", "cuda:0", ... (always loaded on the CPU)
  uint64_t file_offset = 0;  ///< byte offset in the file, where the format has one (safetensors, legacy)
};

/// A strided view of a storage, as torch._utils._rebuild_tensor_v2/v3 describe it.
struct TensorInfo {
  PyNode* storage = nullptr;  ///< a kStorage node
  std::string dtype;          ///< the tensor's dtype (the storage's, unless _rebuild_tensor_v3 says otherwise)
  int64_t offset = 0;         ///< in elements of `dtype`
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
  bool requires_grad = false;
  bool parameter = false;  ///< rebuilt through torch._utils._rebuild_parameter
  int64_t index = -1;      ///< index into the materialised tensors (weights::Checkpoint::tensors)
  int64_t numel() const;
  bool contiguous() const;
};

struct PyNode {
  enum class Kind : uint8_t {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kBytes,
    kList,
    kTuple,
    kDict,
    kSet,
    kGlobal,  ///< a reference to a Python global ("module.name"), never resolved
    kObject,  ///< placeholder for an instance of a class we do not rebuild
    kStorage,
    kTensor,
  };
  Kind kind = Kind::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  /// string/bytes value; "module.name" of a global; the class of an object placeholder.
  std::string s;
  /// The Python class where it differs from the kind's builtin: "collections.OrderedDict",
  /// "numpy.float64" (for a number decoded from a numpy scalar), "torch.Size", ...
  std::string py_class;
  /// list/tuple/set elements; an object's constructor arguments.
  std::vector<PyNode*> items;
  /// dict entries in insertion order; the dict items of a dict-subclass placeholder.
  std::vector<std::pair<PyNode*, PyNode*>> entries;
  /// Object state from BUILD (its attributes); also a dict's instance __dict__ (state_dict._metadata).
  PyNode* state = nullptr;
  /// Items appended to an object placeholder (a list subclass).
  std::vector<PyNode*> appended;
  std::unique_ptr<StorageInfo> storage;  ///< kStorage
  std::unique_ptr<TensorInfo> tensor;    ///< kTensor

  bool is_dict_like() const;  ///< a dict, or a placeholder holding dict items or a dict state
  /// The child under `key` of a dict (or of a placeholder's dict items, then its state dict); nullptr if none.
  const PyNode* get(const std::string& key) const;
  /// The children reached by key: a dict's entries, a list's/tuple's/set's items by index, a
  /// placeholder's dict items, appended items and attributes (its state dict). At most `limit`.
  std::vector<std::pair<std::string, const PyNode*>> children(size_t limit = SIZE_MAX) const;
  size_t child_count() const;
  /// Short rendering of a scalar or a placeholder ("3", "'vit'", "argparse.Namespace", "torch.device('cpu')").
  std::string repr(size_t max_len = 60) const;
  /// "float32 [64, 1, 1, 10]".
  std::string tensor_summary() const;
  /// A dict key as text: strings as is, integers in decimal, anything else as repr.
  static std::string key_text(const PyNode* key);
};

/// Owns every node of one checkpoint's tree (nodes point at each other, shared references and
/// all); nodes keep their addresses for the tree's lifetime.
class PyTree {
 public:
  PyNode* make(PyNode::Kind kind);
  PyNode* root = nullptr;
  size_t size() const { return nodes_.size(); }
  /// Every kStorage / kTensor node, in creation order.
  const std::vector<PyNode*>& storages() const { return storages_; }
  const std::vector<PyNode*>& tensors() const { return tensors_; }

 private:
  std::deque<PyNode> nodes_;
  std::vector<PyNode*> storages_, tensors_;
};

/// Throws DataError (naming `origin`) if the tree under `root` contains itself (a recursive
/// structure) or nests deeper than `max_depth`. Runs in linear time without recursion, so the
/// recursive walks afterwards are safe.
void check_acyclic(const PyNode* root, size_t max_depth, const std::string& origin);

/// The node at a dotted key path ("state_dict", "model.encoder"). Keys may contain dots
/// themselves (state-dict keys do): at each level the longest key that matches wins.
/// nullptr when there is no such path.
const PyNode* find_path(const PyNode* root, const std::string& path);

/// Options for format_tree.
struct TreeFormat {
  size_t max_children = 200;  ///< per container; the rest is summarised as "... N more"
  size_t max_depth = 12;
  size_t max_lines = 20000;   ///< shared references can make a small tree print huge
  bool tensors_only = false;  ///< hide non-tensor leaves
};

/// The tree as indented text: containers with their class, tensors with dtype and shape,
/// placeholders with their Python class and their state. Used by `cardiotorch weights inspect`.
std::string format_tree(const PyNode* root, const TreeFormat& options = {});

/// Counts over a subtree: distinct tensors and their elements, bytes by dtype.
struct TreeStats {
  int64_t tensors = 0;
  int64_t elements = 0;
  int64_t placeholders = 0;
  std::vector<std::pair<std::string, int64_t>> elements_by_dtype;
};
TreeStats tree_stats(const PyNode* root);

}  // namespace cardiotorch::weights
