#include "cardiotorch/weights/pytree.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "cardiotorch/core/error.h"

namespace cardiotorch::weights {

size_t dtype_itemsize(const std::string& d) {
  static const std::map<std::string, size_t> sizes = {
      {"float64", 8},   {"float32", 4},       {"float16", 2},     {"bfloat16", 2},        {"int64", 8},
      {"int32", 4},     {"int16", 2},         {"int8", 1},        {"uint8", 1},           {"bool", 1},
      {"complex64", 8}, {"complex128", 16},   {"complex32", 4},   {"uint16", 2},          {"uint32", 4},
      {"uint64", 8},    {"float8_e4m3fn", 1}, {"float8_e5m2", 1}, {"float8_e4m3fnuz", 1}, {"float8_e5m2fnuz", 1},
      {"qint8", 1},     {"quint8", 1},        {"qint32", 4},      {"quint4x2", 1},        {"quint2x4", 1},
  };
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;  // sizes were checked against overflow when the node was built
  return n;
}

bool TensorInfo::contiguous() const {
  int64_t expected = 1;
  for (size_t d = sizes.size(); d-- > 0;) {
    if (sizes[d] != 1 && strides[d] != expected) return false;
    expected *= sizes[d];
  }
  return true;
}

PyNode* PyTree::make(PyNode::Kind kind) {
  nodes_.emplace_back();
  PyNode* n = &nodes_.back();
  n->kind = kind;
  if (kind == PyNode::Kind::kStorage) {
    n->storage = std::make_unique<StorageInfo>();
    storages_.push_back(n);
  } else if (kind == PyNode::Kind::kTensor) {
    n->tensor = std::make_unique<TensorInfo>();
    tensors_.push_back(n);
  }
  return n;
}

namespace {

using Kind = PyNode::Kind;

const PyNode* state_dict_of(const PyNode* n) {
  if (!n->state) return nullptr;
  if (n->state->kind == Kind::kDict) return n->state;
  // (state, slotstate) from objects with __slots__.
  if (n->state->kind == Kind::kTuple && !n->state->items.empty() && n->state->items[0]->kind == Kind::kDict)
    return n->state->items[0];
  return nullptr;
}

std::string quote(const std::string& s, size_t max_len) {
  std::string out = "'";
  for (char c : s) {
    if (out.size() >= max_len) {
      out += "...";
      break;
    }
    if (c == '\n') out += "\\n";
    else if (c == '\'') out += "\\'";
    else if (static_cast<unsigned char>(c) < 0x20) out += '?';
    else out += c;
  }
  return out + "'";
}

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  for (int prec = 6; prec <= 17; ++prec) {  // the shortest text that reads back exactly, like Python's repr
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";
  return s;
}

bool is_scalar(const PyNode* n) {
  switch (n->kind) {
    case Kind::kNone:
    case Kind::kBool:
    case Kind::kInt:
    case Kind::kFloat:
    case Kind::kString:
    case Kind::kBytes:
    case Kind::kGlobal: return true;
    default: return false;
  }
}

std::string join_dims(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

bool PyNode::is_dict_like() const {
  if (kind == Kind::kDict) return true;
  if (kind != Kind::kObject) return false;
  return !entries.empty() || state_dict_of(this) != nullptr;
}

std::string PyNode::key_text(const PyNode* key) {
  if (key->kind == Kind::kString) return key->s;
  if (key->kind == Kind::kInt) return std::to_string(key->i);
  return key->repr();
}

size_t PyNode::child_count() const {
  switch (kind) {
    case Kind::kDict: return entries.size();
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kSet: return items.size();
    case Kind::kObject: {
      const PyNode* st = state_dict_of(this);
      return entries.size() + appended.size() + (st ? st->entries.size() : 0);
    }
    default: return 0;
  }
}

std::vector<std::pair<std::string, const PyNode*>> PyNode::children(size_t limit) const {
  std::vector<std::pair<std::string, const PyNode*>> out;
  out.reserve(std::min(limit, child_count()));
  auto add = [&](std::string k, const PyNode* v) {
    if (out.size() >= limit) return false;
    out.emplace_back(std::move(k), v);
    return true;
  };
  if (kind == Kind::kDict || kind == Kind::kObject)
    for (const auto& [k, v] : entries)
      if (!add(key_text(k), v)) return out;
  if (kind == Kind::kObject) {
    for (size_t i = 0; i < appended.size(); ++i)
      if (!add(std::to_string(i), appended[i])) return out;
    if (const PyNode* st = state_dict_of(this))
      for (const auto& [k, v] : st->entries)
        if (!add(key_text(k), v)) return out;
  }
  if (kind == Kind::kList || kind == Kind::kTuple || kind == Kind::kSet)
    for (size_t i = 0; i < items.size(); ++i)
      if (!add(std::to_string(i), items[i])) return out;
  return out;
}

const PyNode* PyNode::get(const std::string& key) const {
  for (const auto& [k, v] : children())
    if (k == key) return v;
  return nullptr;
}

std::string PyNode::tensor_summary() const {
  if (kind != Kind::kTensor) return repr();
  std::string s = tensor->dtype + " " + join_dims(tensor->sizes);
  if (!tensor->contiguous()) s += " stride " + join_dims(tensor->strides);
  if (tensor->offset != 0) s += " offset " + std::to_string(tensor->offset);
  return s;
}

std::string PyNode::repr(size_t max_len) const {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return b ? "True" : "False";
    case Kind::kInt: return std::to_string(i);
    case Kind::kFloat: return number(f);
    case Kind::kString: return quote(s, max_len);
    case Kind::kBytes: return "bytes[" + std::to_string(s.size()) + "]";
    case Kind::kGlobal: return "<global " + s + ">";
    case Kind::kStorage:
      return "storage " + storage->dtype + "[" + std::to_string(storage->numel) + "] '" + storage->key + "'";
    case Kind::kTensor: return tensor_summary();
    case Kind::kObject: {
      std::string out = s;
      bool scalars = !items.empty();
      for (const PyNode* a : items) scalars = scalars && is_scalar(a);
      if (scalars) {
        out += "(";
        for (size_t k = 0; k < items.size(); ++k) out += (k ? ", " : "") + items[k]->repr(max_len / 2);
        out += ")";
      }
      return out.size() > max_len * 2 ? out.substr(0, max_len * 2) + "..." : out;
    }
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kSet: {
      const char* open = kind == Kind::kList ? "[" : kind == Kind::kTuple ? "(" : "{";
      const char* close = kind == Kind::kList ? "]" : kind == Kind::kTuple ? ")" : "}";
      std::string out = open;
      for (size_t k = 0; k < items.size(); ++k) {
        if (out.size() > max_len) {
          out += ", ...";
          break;
        }
        out += (k ? ", " : "") + (is_scalar(items[k]) ? items[k]->repr(max_len) : std::string("..."));
      }
      if (kind == Kind::kTuple && items.size() == 1) out += ",";
      return out + close;
    }
    case Kind::kDict: return "{" + std::to_string(entries.size()) + " entries}";
  }
  return "?";
}

void check_acyclic(const PyNode* root, size_t max_depth, const std::string& origin) {
  if (!root) return;
  // Iterative depth-first search with three colours (a grey node met again closes a cycle). A
  // node's height (its longest downward path) is known when it turns black; bounding heights,
  // not the depth at which the search first met a node, bounds every later recursive walk.
  struct Info {
    uint8_t colour = 0;  // 0 white, 1 grey (on the path), 2 black (done)
    size_t height = 0;
  };
  std::unordered_map<const PyNode*, Info> info;
  struct Frame {
    const PyNode* node;
    std::vector<const PyNode*> next;
    size_t at = 0;
    size_t height = 1;
  };
  auto successors = [](const PyNode* n) {
    std::vector<const PyNode*> out;
    out.reserve(n->items.size() + 2 * n->entries.size() + n->appended.size() + 2);
    for (const PyNode* c : n->items) out.push_back(c);
    for (const auto& [k, v] : n->entries) {
      out.push_back(k);
      out.push_back(v);
    }
    for (const PyNode* c : n->appended) out.push_back(c);
    if (n->state) out.push_back(n->state);
    if (n->tensor && n->tensor->storage) out.push_back(n->tensor->storage);
    return out;
  };
  auto fail_depth = [&] {
    throw DataError(
        str_cat(origin, ": containers nested deeper than ", max_depth, " levels (corrupt or hostile file)"));
  };
  std::vector<Frame> stack;
  stack.push_back({root, successors(root)});
  info[root].colour = 1;
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.at == f.next.size()) {
      Info& done = info[f.node];
      done.colour = 2;
      done.height = f.height;
      const size_t h = f.height;
      stack.pop_back();
      if (!stack.empty()) {
        stack.back().height = std::max(stack.back().height, h + 1);
        if (stack.back().height > max_depth) fail_depth();
      }
      continue;
    }
    const PyNode* c = f.next[f.at++];
    Info& ci = info[c];
    if (ci.colour == 2) {
      f.height = std::max(f.height, ci.height + 1);
      if (f.height > max_depth) fail_depth();
      continue;
    }
    CT_CHECK(ci.colour != 1, DataError, origin,
             ": recursive structure (a container holds itself); checkpoints never need one, the file is corrupt or "
             "hostile");
    if (stack.size() >= max_depth) fail_depth();
    ci.colour = 1;
    stack.push_back({c, successors(c)});
  }
}

const PyNode* find_path(const PyNode* node, const std::string& path) {
  std::string rest = path;
  while (node && !rest.empty()) {
    const PyNode* best = nullptr;
    size_t best_len = 0;
    for (const auto& [k, v] : node->children()) {
      const bool whole = rest == k;
      const bool prefix = rest.size() > k.size() && rest.compare(0, k.size(), k) == 0 && rest[k.size()] == '.';
      if ((whole || prefix) && (best == nullptr || k.size() > best_len)) {
        best = v;
        best_len = k.size();
      }
    }
    if (!best) return nullptr;
    node = best;
    rest = best_len == rest.size() ? std::string() : rest.substr(best_len + 1);
  }
  return node;
}

namespace {

struct Printer {
  const TreeFormat& opt;
  std::string out;
  size_t lines = 0;
  bool truncated = false;
  std::unordered_map<const PyNode*, std::pair<int64_t, int64_t>> counts;  // tensors, elements (with repeats)

  // Tensor entries and elements below `n`, counting shared references each time (as a flattened
  // state_dict would); memoised, so shared subtrees cost once.
  std::pair<int64_t, int64_t> count(const PyNode* n) {
    if (n->kind == Kind::kTensor) return {1, n->tensor->numel()};
    auto it = counts.find(n);
    if (it != counts.end()) return it->second;
    std::pair<int64_t, int64_t> c{0, 0};
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 2;
    for (const auto& [k, v] : n->children()) {
      const auto s = count(v);
      c.first = std::min(kMax, c.first + s.first);
      c.second = std::min(kMax, c.second + s.second);
    }
    counts[n] = c;
    return c;
  }

  void line(const std::string& s) {
    if (lines >= opt.max_lines) {
      truncated = true;
      return;
    }
    out += s;
    out += '\n';
    ++lines;
  }

  std::string describe(const PyNode* n) {
    const bool container = n->kind == Kind::kDict || n->kind == Kind::kList || n->kind == Kind::kTuple ||
                           n->kind == Kind::kSet || (n->kind == Kind::kObject && n->child_count() > 0);
    if (!container) {
      std::string s = n->kind == Kind::kTensor ? n->tensor_summary() : n->repr();
      if (n->kind == Kind::kObject) s += "  (placeholder)";
      else if (!n->py_class.empty() && is_scalar(n)) s += "  (" + n->py_class + ")";
      return s;
    }
    std::string cls = !n->py_class.empty()      ? n->py_class
                      : n->kind == Kind::kDict  ? "dict"
                      : n->kind == Kind::kList  ? "list"
                      : n->kind == Kind::kTuple ? "tuple"
                      : n->kind == Kind::kSet   ? "set"
                                                : n->s;
    // Short all-scalar sequences print inline: betas (0.9, 0.999).
    if ((n->kind == Kind::kList || n->kind == Kind::kTuple) && n->items.size() <= 24) {
      bool scalars = true;
      for (const PyNode* c : n->items) scalars = scalars && is_scalar(c);
      const std::string r = n->repr(70);
      if (scalars && r.size() <= 72 && r.find("...") == std::string::npos)
        return r + (n->py_class.empty() ? "" : "  (" + n->py_class + ")");
    }
    std::string s = cls + (n->kind == Kind::kObject ? " (placeholder)" : "");
    const auto [t, e] = count(n);
    const size_t kids = n->child_count();
    s += ", " + std::to_string(kids) + (kids == 1 ? " entry" : " entries");
    if (t > 0)
      s += ", " + std::to_string(t) + (t == 1 ? " tensor" : " tensors") + ", " + std::to_string(e) + " elements";
    return s;
  }

  void emit(const PyNode* n, const std::string& indent, size_t depth) {
    // Only what can be shown is materialised: a shared huge container may be visited often.
    const size_t total = n->child_count();
    const auto kids = n->children(opt.tensors_only ? total : opt.max_children + 1);
    size_t width = 0;
    for (size_t k = 0; k < kids.size() && k < opt.max_children; ++k) width = std::max(width, kids[k].first.size());
    width = std::min<size_t>(width, 48);
    size_t shown = 0;
    for (const auto& [key, child] : kids) {
      if (truncated) return;
      if (opt.tensors_only && count(child).first == 0) continue;
      if (shown == opt.max_children) {
        line(indent + "... " + std::to_string(total - shown) + " more");
        break;
      }
      ++shown;
      std::string k = key;
      if (k.size() < width) k.append(width - k.size(), ' ');
      const std::string d = describe(child);
      line(indent + k + "  " + d);
      const bool inline_seq =
          (child->kind == Kind::kList || child->kind == Kind::kTuple) && !d.empty() && (d[0] == '[' || d[0] == '(');
      if (!inline_seq && child->child_count() > 0) {
        if (depth + 1 >= opt.max_depth) line(indent + "  ...");
        else emit(child, indent + "  ", depth + 1);
      }
    }
  }
};

}  // namespace

std::string format_tree(const PyNode* root, const TreeFormat& options) {
  if (!root) return "(empty)\n";
  Printer p{options, {}, 0, false, {}};
  if (root->child_count() == 0) {
    p.line(p.describe(root));
  } else {
    p.line("(root)  " + p.describe(root));
    p.emit(root, "  ", 0);
  }
  if (p.truncated) p.out += "... (output truncated at " + std::to_string(options.max_lines) + " lines)\n";
  return p.out;
}

TreeStats tree_stats(const PyNode* root) {
  TreeStats st;
  if (!root) return st;
  std::unordered_set<const PyNode*> seen;
  std::map<std::string, int64_t> by_dtype;
  std::vector<const PyNode*> stack{root};
  seen.insert(root);
  while (!stack.empty()) {
    const PyNode* n = stack.back();
    stack.pop_back();
    if (n->kind == Kind::kTensor) {
      ++st.tensors;
      st.elements += n->tensor->numel();
      by_dtype[n->tensor->dtype] += n->tensor->numel();
    } else if (n->kind == Kind::kObject) {
      ++st.placeholders;
    }
    for (const auto& kv : n->children())
      if (seen.insert(kv.second).second) stack.push_back(kv.second);
  }
  st.elements_by_dtype.assign(by_dtype.begin(), by_dtype.end());
  return st;
}

}  // namespace cardiotorch::weights
