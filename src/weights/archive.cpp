#include "cardiotorch/weights/archive.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/weights/safetensors_format.h"
#include "io/zip.h"
#include "weights/internal.h"

namespace fs = std::filesystem;

namespace cardiotorch::weights {

using Kind = PyNode::Kind;

// --- dtypes ------------------------------------------------------------------------------------

at::ScalarType scalar_type_of(const std::string& d) {
  static const std::map<std::string, at::ScalarType> m = {
    {"float64", at::kDouble},
    {"float32", at::kFloat},
    {"float16", at::kHalf},
    {"bfloat16", at::kBFloat16},
    {"int64", at::kLong},
    {"int32", at::kInt},
    {"int16", at::kShort},
    {"int8", at::kChar},
    {"uint8", at::kByte},
    {"bool", at::kBool},
    {"complex64", at::kComplexFloat},
    {"complex128", at::kComplexDouble},
    {"complex32", at::kComplexHalf},
#if CT_TORCH_AT_LEAST(2, 1)
    {"float8_e4m3fn", at::kFloat8_e4m3fn},
    {"float8_e5m2", at::kFloat8_e5m2},
#endif
#if CT_TORCH_AT_LEAST(2, 3)
    {"uint16", at::kUInt16},
    {"uint32", at::kUInt32},
    {"uint64", at::kUInt64},
#endif
  };
  auto it = m.find(d);
  CT_CHECK(it != m.end(), ConfigError, "dtype ", d, " is not supported by this LibTorch (", torch_version_string(),
           ")");
  return it->second;
}

std::string dtype_name(at::ScalarType type) {
  switch (type) {
    case at::kDouble: return "float64";
    case at::kFloat: return "float32";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128";
    case at::kComplexHalf: return "complex32";
#if CT_TORCH_AT_LEAST(2, 1)
    case at::kFloat8_e4m3fn: return "float8_e4m3fn";
    case at::kFloat8_e5m2: return "float8_e5m2";
#endif
#if CT_TORCH_AT_LEAST(2, 3)
    case at::kUInt16: return "uint16";
    case at::kUInt32: return "uint32";
    case at::kUInt64: return "uint64";
#endif
    default: return c10::toString(type);
  }
}

const at::Tensor& Checkpoint::tensor(const PyNode* node) const {
  CT_CHECK(node && node->kind == Kind::kTensor, Error, path, ": not a tensor node");
  const int64_t i = node->tensor->index;
  CT_CHECK(i >= 0 && static_cast<size_t>(i) < tensors.size(), DataError, path,
           ": tensors were not loaded (read with load_tensors = false)");
  return tensors[static_cast<size_t>(i)];
}

// --- shared helpers ----------------------------------------------------------------------------

namespace detail {

PyNode* json_to_tree(PyTree& tree, const nlohmann::json& j, const std::string& origin, size_t max_depth) {
  CT_CHECK(max_depth > 0, DataError, origin, ": JSON nested too deeply");
  PyNode* n = nullptr;
  switch (j.type()) {
    case nlohmann::json::value_t::null: return tree.make(Kind::kNone);
    case nlohmann::json::value_t::boolean:
      n = tree.make(Kind::kBool);
      n->b = j.get<bool>();
      return n;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        n = tree.make(Kind::kFloat);
        n->f = j.get<double>();
        return n;
      }
      n = tree.make(Kind::kInt);
      n->i = j.get<int64_t>();
      return n;
    case nlohmann::json::value_t::number_float:
      n = tree.make(Kind::kFloat);
      n->f = j.get<double>();
      return n;
    case nlohmann::json::value_t::string:
      n = tree.make(Kind::kString);
      n->s = j.get<std::string>();
      return n;
    case nlohmann::json::value_t::array:
      n = tree.make(Kind::kList);
      for (const auto& e : j) n->items.push_back(json_to_tree(tree, e, origin, max_depth - 1));
      return n;
    case nlohmann::json::value_t::object: {
      n = tree.make(Kind::kDict);
      for (auto it = j.begin(); it != j.end(); ++it) {
        PyNode* k = tree.make(Kind::kString);
        k->s = it.key();
        n->entries.emplace_back(k, json_to_tree(tree, it.value(), origin, max_depth - 1));
      }
      return n;
    }
    default: return tree.make(Kind::kNone);
  }
}

nlohmann::json parse_json(const std::string& text, const std::string& origin) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(str_cat(origin, ": not valid JSON (", e.what(), ")"));
  }
}

void swap_bytes(void* data, uint64_t nbytes, size_t itemsize, bool complex) {
  const size_t unit = complex ? itemsize / 2 : itemsize;
  if (unit <= 1) return;
  auto* p = static_cast<unsigned char*>(data);
  for (uint64_t i = 0; i + unit <= nbytes; i += unit) std::reverse(p + i, p + i + unit);
}

void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  const std::string tmp = str_cat(path, ".tmp-", ::getpid());
  try {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    CT_CHECK(f.good(), Error, path, ": cannot open ", tmp, " for writing (", std::strerror(errno), ")");
    write(f);
    f.flush();
    CT_CHECK(f.good(), Error, path, ": write failed (disk full?)");
    f.close();
    CT_CHECK(!f.fail(), Error, path, ": write failed (disk full?)");
    fs::rename(tmp, target, ec);
    CT_CHECK(!ec, Error, path, ": cannot move the finished file into place (", ec.message(), ")");
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace detail

namespace {

// --- materialising tensors ---------------------------------------------------------------------

using StorageReader = std::function<void(const StorageInfo&, void* dst, uint64_t nbytes)>;

uint64_t storage_nbytes(const StorageInfo& s, const std::string& origin) {
  const size_t item = dtype_itemsize(s.dtype);
  CT_CHECK(item > 0, DataError, origin, ": storage '", s.key, "' of unknown dtype ", s.dtype);
  CT_CHECK(s.numel <= (uint64_t{1} << 62) / item, DataError, origin, ": storage '", s.key, "' of ", s.numel,
           " elements");
  return s.numel * item;
}

// Reads every storage once and makes each tensor a view of its storage (set_ with the pickled
// offset, sizes and strides), so views and tied weights keep sharing memory as in Python.
void materialise(Checkpoint& ck, const StorageReader& read, bool big_endian) {
  std::unordered_map<const PyNode*, at::Storage> storages;
  for (PyNode* s : ck.tree->storages()) {
    const uint64_t nbytes = storage_nbytes(*s->storage, ck.path);
    at::Tensor buf = at::empty({static_cast<int64_t>(nbytes)}, at::TensorOptions().dtype(at::kByte));
    read(*s->storage, buf.data_ptr(), nbytes);
    if (big_endian) {
      const bool complex = s->storage->dtype.rfind("complex", 0) == 0;
      detail::swap_bytes(buf.data_ptr(), nbytes, dtype_itemsize(s->storage->dtype), complex);
    }
    storages.emplace(s, buf.storage());
  }
  for (PyNode* t : ck.tree->tensors()) {
    TensorInfo& ti = *t->tensor;
    at::Tensor x = at::empty({0}, at::TensorOptions().dtype(scalar_type_of(ti.dtype)));
    x.set_(storages.at(ti.storage), ti.offset, ti.sizes, ti.strides);
    ti.index = static_cast<int64_t>(ck.tensors.size());
    ck.tensors.push_back(std::move(x));
  }
}

// --- torch.save zip archives -------------------------------------------------------------------

void read_torch_zip(Checkpoint& ck, const ReadOptions& opt) {
  io::zip::FileSource src(ck.path);
  const auto members = io::zip::list(src, ck.path);
  // The pickle is <archive>/data.pkl; torch names the folder after the file, so find it.
  const io::zip::Member* pkl = nullptr;
  for (const auto& m : members) {
    const bool top =
        m.name == "data.pkl" || (ends_with(m.name, "/data.pkl") && std::count(m.name.begin(), m.name.end(), '/') == 1);
    if (top && (!pkl || m.name.size() < pkl->name.size())) pkl = &m;
  }
  if (!pkl) {
    std::vector<std::string> names;
    for (size_t i = 0; i < members.size() && i < 8; ++i) names.push_back(members[i].name);
    throw DataError(str_cat(ck.path, ": a zip archive without data.pkl, so not a torch.save file (members: ",
                            join(names), members.size() > 8 ? ", ..." : "", ")"));
  }
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - std::string("data.pkl").size());
  std::unordered_map<std::string, const io::zip::Member*> by_name;
  bool torchscript = false;
  for (const auto& m : members) {
    by_name[m.name] = &m;
    if (m.name == prefix + "constants.pkl" || starts_with(m.name, prefix + "code/")) torchscript = true;
  }
  ck.format = torchscript ? "TorchScript archive (torch.jit.save)" : "torch.save zip archive";
  bool big_endian = false;
  for (const char* rec : {"version", ".data/version", "byteorder"}) {
    auto it = by_name.find(prefix + rec);
    if (it == by_name.end() || it->second->size > 64) continue;
    std::string v = trim(io::zip::extract(src, *it->second, ck.path));
    ck.metadata.emplace_back(rec, v);
    if (std::string(rec) == "byteorder") {
      CT_CHECK(v == "little" || v == "big", DataError, ck.path, ": byteorder record says '", v, "'");
      big_endian = v == "big";
    }
  }
  const std::string pickle_bytes = io::zip::extract(src, *pkl, ck.path);
  pickle::unpickle(pickle_bytes.data(), pickle_bytes.size(), *ck.tree, ck.path + ":" + pkl->name, opt.limits);
  // Every storage the pickle names must be a record large enough for it.
  std::unordered_map<const StorageInfo*, const io::zip::Member*> records;
  for (const PyNode* s : ck.tree->storages()) {
    const StorageInfo& si = *s->storage;
    const std::string name = prefix + "data/" + si.key;
    auto it = by_name.find(name);
    CT_CHECK(it != by_name.end(), DataError, ck.path, ": record ", name, " is missing (truncated or corrupt archive)");
    const uint64_t nbytes = storage_nbytes(si, ck.path);
    CT_CHECK(it->second->size >= nbytes, DataError, ck.path, ": record ", name, " holds ", it->second->size,
             " bytes, but the pickle declares ", si.numel, " ", si.dtype, " elements (", nbytes,
             " bytes): corrupt or hostile archive");
    // The sizes come from the central directory, which a corrupt file can fake: the bytes must
    // really be in the file (stored) or plausibly inflate from it (deflate) before we allocate.
    const io::zip::Member& m = *it->second;
    (void)io::zip::data_offset(src, m, ck.path);
    CT_CHECK(
        (m.method == 0 && m.compressed_size == m.size) || (m.method == 8 && m.size <= m.compressed_size * 1032 + 1024),
        DataError, ck.path, ": record ", name, " claims ", m.size, " bytes from ", m.compressed_size,
        " in the file (method ", m.method, "): corrupt archive");
    records[&si] = it->second;
  }
  if (!opt.load_tensors) return;
  materialise(
      ck,
      [&](const StorageInfo& si, void* dst, uint64_t nbytes) {
        const io::zip::Member& m = *records.at(&si);
        if (m.method == 0) {
          src.read(io::zip::data_offset(src, m, ck.path), dst, nbytes, ck.path);
          if (m.size == nbytes)
            CT_CHECK(io::zip::crc32_of(dst, nbytes) == m.crc32, DataError, ck.path, ": record ", m.name,
                     ": CRC mismatch (corrupt archive)");
        } else {
          const std::string data = io::zip::extract(src, m, ck.path);
          std::memcpy(dst, data.data(), nbytes);
        }
      },
      big_endian);
}

// --- the legacy (torch < 1.6) stream format ----------------------------------------------------

constexpr char kLegacyMagic[] = "0x1950a86a20f9469cfc6c";

void read_legacy(Checkpoint& ck, const std::string& bytes, const ReadOptions& opt) {
  ck.format = "torch.save legacy format (torch < 1.6)";
  size_t pos = 0;
  auto next = [&](PyTree& tree, const char* what) -> const PyNode* {
    CT_CHECK(pos < bytes.size(), DataError, ck.path, ": legacy torch.save file ends before its ", what);
    pos +=
        pickle::unpickle(bytes.data() + pos, bytes.size() - pos, tree, str_cat(ck.path, " (", what, ")"), opt.limits);
    return tree.root;
  };
  PyTree scratch;
  const PyNode* magic = next(scratch, "magic number");
  CT_CHECK(
      magic->kind == Kind::kObject && magic->s == "int" && !magic->items.empty() && magic->items[0]->s == kLegacyMagic,
      DataError, ck.path, ": a bare pickle, not a torch.save file (no torch magic number)");
  const PyNode* version = next(scratch, "protocol version");
  CT_CHECK(version->kind == Kind::kInt && version->i == 1001, DataError, ck.path,
           ": legacy torch.save protocol version ", version->repr(), " (expected 1001)");
  const PyNode* sys_info = next(scratch, "system info");
  bool big_endian = false;
  if (const PyNode* le = sys_info->get("little_endian"); le && le->kind == Kind::kBool) big_endian = !le->b;
  next(*ck.tree, "data");
  const PyNode* keys = next(scratch, "storage keys");
  CT_CHECK(keys->kind == Kind::kList, DataError, ck.path, ": legacy storage key list is not a list");
  std::unordered_map<std::string, PyNode*> by_key;
  for (PyNode* s : ck.tree->storages()) by_key[s->storage->key] = s;
  std::unordered_set<std::string> seen;
  for (const PyNode* k : keys->items) {
    const std::string key = PyNode::key_text(k);
    auto it = by_key.find(key);
    CT_CHECK(it != by_key.end(), DataError, ck.path, ": data for storage '", key, "' that the pickle never names");
    CT_CHECK(seen.insert(key).second, DataError, ck.path, ": storage '", key, "' stored twice");
    StorageInfo& si = *it->second->storage;
    CT_CHECK(bytes.size() - pos >= 8, DataError, ck.path, ": truncated (storage '", key, "' is missing)");
    uint64_t numel = 0;
    for (int b = 0; b < 8; ++b) numel |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[pos + b])) << (8 * b);
    if (big_endian) detail::swap_bytes(&numel, 8, 8, false);
    CT_CHECK(numel == si.numel, DataError, ck.path, ": storage '", key, "' has ", numel, " elements, the pickle says ",
             si.numel);
    const uint64_t nbytes = storage_nbytes(si, ck.path);
    CT_CHECK(bytes.size() - pos - 8 >= nbytes, DataError, ck.path, ": truncated (storage '", key, "' needs ", nbytes,
             " bytes)");
    si.file_offset = pos + 8;
    pos += 8 + nbytes;
  }
  for (const auto& [key, node] : by_key)
    CT_CHECK(seen.count(key), DataError, ck.path, ": storage '", key, "' has no data (truncated file?)");
  if (!opt.load_tensors) return;
  materialise(
      ck, [&](const StorageInfo& si, void* dst, uint64_t n) { std::memcpy(dst, bytes.data() + si.file_offset, n); },
      big_endian);
}

// --- safetensors -------------------------------------------------------------------------------

PyNode* make_string(PyTree& tree, const std::string& s) {
  PyNode* n = tree.make(Kind::kString);
  n->s = s;
  return n;
}

PyNode* tensor_node(PyTree& tree, const safetensors::TensorEntry& e, uint64_t data_start) {
  PyNode* s = tree.make(Kind::kStorage);
  s->storage->key = e.name;
  s->storage->dtype = e.dtype;
  s->storage->numel = (e.end - e.begin) / std::max<size_t>(1, dtype_itemsize(e.dtype));
  s->storage->location = "cpu";
  s->storage->file_offset = data_start + e.begin;
  PyNode* t = tree.make(Kind::kTensor);
  TensorInfo& ti = *t->tensor;
  ti.storage = s;
  ti.dtype = e.dtype;
  ti.sizes = e.shape;
  ti.strides.assign(e.shape.size(), 1);
  for (size_t d = e.shape.size(); d-- > 1;) ti.strides[d - 1] = ti.strides[d] * std::max<int64_t>(1, e.shape[d]);
  return t;
}

// Groups of a dict by the first '/' of their names ("__extra__/ema/w" -> "ema" -> "w").
PyNode* group(PyTree& tree, PyNode* root, const std::string& name) {
  for (auto& [k, v] : root->entries)
    if (k->s == name) return v;
  PyNode* d = tree.make(Kind::kDict);
  root->entries.emplace_back(make_string(tree, name), d);
  return d;
}

std::string meta(const std::vector<std::pair<std::string, std::string>>& m, const std::string& key) {
  for (const auto& [k, v] : m)
    if (k == key) return v;
  return "";
}

// Lays safetensors tensors out as the checkpoint they came from: torch_ecg's single file as its
// .pth ({model_state_dict, model_config, train_config, extras}), cardiotorch's as
// {model, <group>..., config, ...}, anything else flat.
void shape_safetensors(Checkpoint& ck, const safetensors::Header& h) {
  PyTree& tree = *ck.tree;
  PyNode* root = tree.make(Kind::kDict);
  tree.root = root;
  const std::string fmt = meta(h.metadata, "__format__");
  const std::string own = meta(h.metadata, "format");
  if (starts_with(fmt, "torch_ecg.ckpt")) {
    ck.format = "torch_ecg checkpoint (safetensors, " + fmt + ")";
    PyNode* model = group(tree, root, "model_state_dict");
    for (const auto& e : h.tensors) {
      if (starts_with(e.name, "__extra__/")) {
        const std::string rest = e.name.substr(10);
        const size_t slash = rest.find('/');
        PyNode* g = group(tree, root, slash == std::string::npos ? "__extra__" : rest.substr(0, slash));
        g->entries.emplace_back(make_string(tree, slash == std::string::npos ? rest : rest.substr(slash + 1)),
                                tensor_node(tree, e, h.data_start));
      } else {
        model->entries.emplace_back(make_string(tree, e.name), tensor_node(tree, e, h.data_start));
      }
    }
    for (const auto& [k, v] : h.metadata) {
      if (k == "model_config" || k == "train_config" || starts_with(k, "__extra_json__/")) {
        const std::string name = starts_with(k, "__extra_json__/") ? k.substr(15) : k;
        root->entries.emplace_back(make_string(tree, name),
                                   detail::json_to_tree(tree, detail::parse_json(v, ck.path + ": " + k), ck.path));
      }
    }
    return;
  }
  if (own == "cardiotorch.checkpoint") {
    ck.format = "cardiotorch checkpoint v" + meta(h.metadata, "format_version");
    PyNode* model = group(tree, root, "model");
    for (const auto& e : h.tensors) {
      const size_t slash = e.name.find('/');
      PyNode* g = slash == std::string::npos ? model : group(tree, root, e.name.substr(0, slash));
      g->entries.emplace_back(make_string(tree, slash == std::string::npos ? e.name : e.name.substr(slash + 1)),
                              tensor_node(tree, e, h.data_start));
    }
    for (const auto& [k, v] : h.metadata) {
      if (k == "format" || k == "format_version") continue;
      PyNode* value = nullptr;
      if (k != "config" && !v.empty() && (v[0] == '{' || v[0] == '[')) {
        try {
          value = detail::json_to_tree(tree, nlohmann::json::parse(v), ck.path);
        } catch (const nlohmann::json::exception&) {
        }
      }
      root->entries.emplace_back(make_string(tree, k), value ? value : make_string(tree, v));
    }
    return;
  }
  ck.format = "safetensors";
  for (const auto& e : h.tensors)
    root->entries.emplace_back(make_string(tree, e.name), tensor_node(tree, e, h.data_start));
}

void read_safetensors(Checkpoint& ck, const io::zip::Source& src, const ReadOptions& opt) {
  char first8[8];
  CT_CHECK(src.size() >= 8, DataError, ck.path, ": not a safetensors file (too short)");
  src.read(0, first8, 8, ck.path);
  const uint64_t n = safetensors::header_length(first8, src.size(), ck.path);
  std::string json(n, '\0');
  src.read(8, json.data(), n, ck.path);
  const safetensors::Header h = safetensors::parse_header(json.data(), n, src.size(), ck.path);
  ck.metadata = h.metadata;
  shape_safetensors(ck, h);
  if (!opt.load_tensors) return;
  materialise(
      ck, [&](const StorageInfo& si, void* dst, uint64_t nbytes) { src.read(si.file_offset, dst, nbytes, ck.path); },
      false);
}

// torch_ecg's directory layout: model.safetensors + model_config.json + train_config.json
// (+ <extra>.safetensors / <extra>.json).
void read_torch_ecg_dir(Checkpoint& ck, const ReadOptions& opt) {
  const fs::path dir(ck.path);
  const fs::path model = dir / "model.safetensors";
  CT_CHECK(fs::exists(model), DataError, ck.path,
           ": a directory without model.safetensors (torch_ecg's layout: model.safetensors, model_config.json, "
           "train_config.json); pass a checkpoint file instead");
  Checkpoint inner;
  inner.path = model.string();
  inner.tree = ck.tree;
  io::zip::FileSource src(inner.path);
  read_safetensors(inner, src, opt);
  PyTree& tree = *ck.tree;
  PyNode* root = tree.make(Kind::kDict);
  PyNode* flat = tree.root;
  tree.root = root;
  root->entries.emplace_back(make_string(tree, "model_state_dict"), flat);
  ck.tensors = std::move(inner.tensors);
  ck.metadata = inner.metadata;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    if (f.extension() != ".json") continue;
    std::ifstream in(f);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    root->entries.emplace_back(make_string(tree, f.stem().string()),
                               detail::json_to_tree(tree, detail::parse_json(text, f.string()), f.string()));
  }
  ck.format = "torch_ecg checkpoint directory";
}

// The metadata length a safetensors file starts with (little-endian u64, then '{'); 0 when the
// first bytes are not that.
uint64_t safetensors_header_length(const std::string& head) {
  if (head.size() < 9 || head[8] != '{') return 0;
  uint64_t n = 0;
  for (int b = 0; b < 8; ++b) n |= static_cast<uint64_t>(static_cast<unsigned char>(head[b])) << (8 * b);
  return n;
}

bool looks_like_safetensors(const std::string& head, uint64_t file_size) {
  const uint64_t n = safetensors_header_length(head);
  return n >= 2 && n <= file_size - 8;
}

}  // namespace

Checkpoint read_checkpoint(const std::string& path, const ReadOptions& opt) {
  Checkpoint ck;
  ck.path = path;
  ck.tree = std::make_shared<PyTree>();
  std::error_code ec;
  CT_CHECK(fs::exists(path, ec), DataError, path, ": no such file or directory");
  if (fs::is_directory(path, ec)) {
    read_torch_ecg_dir(ck, opt);
    return ck;
  }
  io::zip::FileSource src(path);
  std::string head(static_cast<size_t>(std::min<uint64_t>(src.size(), 512)), '\0');
  src.read(0, head.data(), head.size(), path);
  if (starts_with(head, "PK\x03\x04") || starts_with(head, "PK\x05\x06")) {
    read_torch_zip(ck, opt);
  } else if (looks_like_safetensors(head, src.size())) {
    read_safetensors(ck, src, opt);
  } else if (!head.empty() && static_cast<unsigned char>(head[0]) == 0x80) {
    std::string bytes(static_cast<size_t>(src.size()), '\0');
    src.read(0, bytes.data(), bytes.size(), path);
    read_legacy(ck, bytes, opt);
  } else if (const uint64_t n = safetensors_header_length(head); n >= 2 && n > src.size() - 8) {
    // A safetensors header whose announced length runs past the end: the file was cut short.
    throw DataError(str_cat(path, ": truncated safetensors file: its header announces ", n,
                            " bytes of metadata, the whole file has ", src.size(),
                            " bytes (an interrupted download or copy?)"));
  } else if (head.size() >= 262 && head.compare(257, 5, "ustar") == 0) {
    throw DataError(str_cat(path,
                            ": torch.save's tar format (torch < 0.4) is not supported; load it with an old "
                            "torch and save it again"));
  } else {
    throw DataError(str_cat(path,
                            ": unrecognised checkpoint format (expected a torch.save archive "
                            "(.pt/.pth/.ckpt), a safetensors file or a torch_ecg checkpoint directory)"));
  }
  CT_CHECK(ck.root(), DataError, path, ": empty checkpoint");
  return ck;
}

// --- state dicts -------------------------------------------------------------------------------

namespace {

struct Flattener {
  const Checkpoint& ck;
  NamedTensors& out;
  std::unordered_set<std::string> names;
  // Shared references can expand a small tree enormously ([x, x] nested 60 deep): bound the walk.
  size_t visits = size_t{1} << 24;

  void visit() {
    CT_CHECK(visits-- > 0, DataError, ck.path,
             ": the tree expands to more than 16M entries (shared references in a corrupt or hostile file?)");
  }

  void add(const std::string& name, const PyNode* t) {
    CT_CHECK(names.insert(name).second, DataError, ck.path, ": the key '", name, "' appears twice");
    out.emplace_back(name, ck.tensors.empty() ? at::Tensor() : ck.tensor(t));
  }

  static std::string join_key(const std::string& prefix, const std::string& k) {
    return prefix.empty() ? k : prefix + "." + k;
  }

  void walk(const PyNode* n, const std::string& prefix) {
    visit();
    if (n->kind == Kind::kTensor) {
      add(prefix, n);
      return;
    }
    if (n->kind == Kind::kObject && n->state && n->state->kind == Kind::kDict && n->state->get("_parameters")) {
      module(n->state, prefix);
      return;
    }
    for (const auto& [k, v] : n->children())
      if (v->kind != Kind::kStorage) walk(v, join_key(prefix, k));
  }

  // A pickled nn.Module: PyTorch's state_dict order and names (parameters, buffers, children).
  void module(const PyNode* state, const std::string& prefix) {
    std::unordered_set<std::string> non_persistent;
    if (const PyNode* np = state->get("_non_persistent_buffers_set"))
      for (const PyNode* e : np->items) non_persistent.insert(PyNode::key_text(e));
    for (const char* part : {"_parameters", "_buffers"})
      if (const PyNode* d = state->get(part))
        for (const auto& [k, v] : d->children())
          if (v->kind == Kind::kTensor && !non_persistent.count(k)) add(join_key(prefix, k), v);
    if (const PyNode* mods = state->get("_modules"))
      for (const auto& [k, v] : mods->children())
        if (v->kind != Kind::kNone) walk(v, join_key(prefix, k));
  }
};

int64_t count_tensors(const PyNode* n) { return tree_stats(n).tensors; }

}  // namespace

NamedTensors flatten_tensors(const Checkpoint& ckpt, const PyNode* node) {
  NamedTensors out;
  if (!node) return out;
  Flattener f{ckpt, out, {}};
  f.walk(node, "");
  return out;
}

const std::vector<std::string>& state_dict_keys() {
  static const std::vector<std::string> keys = {"state_dict", "model_state_dict", "model", "network", "encoder"};
  return keys;
}

StateDictSelection select_state_dict(const Checkpoint& ckpt, const std::string& key) {
  StateDictSelection sel;
  const PyNode* root = ckpt.root();
  CT_CHECK(root, DataError, ckpt.path, ": empty checkpoint");
  const PyNode* node = root;
  std::vector<std::pair<const PyNode*, const PyNode*>> steps;  // (parent, chosen child) along the path
  if (!key.empty()) {
    node = find_path(root, key);
    if (!node) {
      // Name the keys at the deepest level of `key` that does exist.
      std::string have, rest = key;
      const PyNode* at = root;
      for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1)) {
        const PyNode* n = find_path(root, key.substr(0, dot));
        if (n && n->kind != Kind::kTensor) at = n, have = key.substr(0, dot), rest = key.substr(dot + 1);
      }
      std::vector<std::string> names;
      for (const auto& kv : at->children()) names.push_back(kv.first);
      const size_t shown = std::min<size_t>(names.size(), 20);
      throw DataError(str_cat(ckpt.path, ": no key '", key, "'", did_you_mean(rest, names), "; keys",
                              have.empty() ? std::string(" at the top level") : " under '" + have + "'", ": ",
                              join(std::vector<std::string>(names.begin(), names.begin() + static_cast<long>(shown))),
                              names.size() > shown ? ", ..." : ""));
    }
    CT_CHECK(node->kind != Kind::kTensor, DataError, ckpt.path, ": '", key, "' is a single tensor (",
             node->tensor_summary(), "), not a state_dict; pass its parent");
    sel.key = key;
    sel.automatic = false;
    if (node != root) steps.emplace_back(root, find_path(root, key.substr(0, key.find('.'))));
  } else {
    for (int guard = 0; guard < 8; ++guard) {
      const PyNode* next = nullptr;
      for (const std::string& k : state_dict_keys()) {
        const PyNode* c = node->get(k);
        if (c && c->is_dict_like() && count_tensors(c) > 0) {
          next = c;
          sel.key += (sel.key.empty() ? "" : ".") + k;
          break;
        }
      }
      if (!next) break;
      steps.emplace_back(node, next);
      node = next;
    }
  }
  for (const auto& [parent, chosen] : steps) {
    for (const auto& [k, v] : parent->children()) {
      if (v == chosen || v->kind == Kind::kTensor) continue;
      const int64_t c = count_tensors(v);
      if (c > 0) sel.alternatives.emplace_back(k, c);
    }
  }
  sel.tensors = flatten_tensors(ckpt, node);
  if (sel.tensors.empty()) {
    std::vector<std::string> with;
    for (const auto& [k, v] : root->children())
      if (count_tensors(v) > 0) with.push_back(k);
    throw DataError(str_cat(ckpt.path, ": no tensors under '", sel.key.empty() ? "(root)" : sel.key, "'",
                            with.empty() ? std::string(" (the checkpoint holds no tensors at all)")
                                         : str_cat("; keys holding tensors: ", join(with))));
  }
  return sel;
}

NamedTensors read_state_dict(const std::string& path, const std::string& key) {
  return select_state_dict(read_checkpoint(path), key).tensors;
}

}  // namespace cardiotorch::weights
