// The restricted pickle VM (see weights/pickle.h). It understands the opcodes of protocols 0-5
// except out-of-band buffers and the extension registry, and the handful of globals torch.save,
// numpy and the Python standard library put into checkpoints; everything else is a placeholder.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/weights/pickle.h"

namespace cardiotorch::weights::pickle {
namespace {

using Kind = PyNode::Kind;

// A call of one of these can only mean an exploit; refuse the file instead of keeping a placeholder.
bool is_dangerous(const std::string& global) {
  static const std::unordered_set<std::string> modules = {
      "os",       "posix",      "nt",        "subprocess",      "sys",
      "shutil",   "socket",     "importlib", "runpy",           "pty",
      "ctypes",   "code",       "codeop",    "pickle",          "_pickle",
      "marshal",  "webbrowser", "commands",  "multiprocessing", "signal",
      "asyncio",  "pdb",        "platform",  "tempfile",        "urllib",
      "http",     "ftplib",     "smtplib",   "telnetlib",       "requests",
      "torch.hub"};
  static const std::unordered_set<std::string> builtins = {
      "eval",    "exec",    "execfile",   "compile", "open",      "file",       "getattr",
      "setattr", "delattr", "__import__", "input",   "raw_input", "breakpoint", "globals",
      "locals",  "vars",    "exit",       "quit",    "help",      "reload",     "memoryview"};
  const size_t dot = global.rfind('.');
  const std::string module = dot == std::string::npos ? global : global.substr(0, dot);
  const std::string name = dot == std::string::npos ? "" : global.substr(dot + 1);
  if (module == "builtins" || module == "__builtin__") return builtins.count(name) != 0;
  if (module == "operator") return name == "attrgetter" || name == "methodcaller" || name == "itemgetter";
  if (global == "torch.load" || global == "torch.jit.load" || global == "numpy.load") return true;
  const std::string root = module.substr(0, module.find('.'));
  return modules.count(root) != 0 || modules.count(module) != 0;
}

std::string torch_dtype_global(const std::string& global) {
  static const std::unordered_map<std::string, std::string> m = {
      {"torch.float32", "float32"},
      {"torch.float", "float32"},
      {"torch.float64", "float64"},
      {"torch.double", "float64"},
      {"torch.float16", "float16"},
      {"torch.half", "float16"},
      {"torch.bfloat16", "bfloat16"},
      {"torch.int64", "int64"},
      {"torch.long", "int64"},
      {"torch.int32", "int32"},
      {"torch.int", "int32"},
      {"torch.int16", "int16"},
      {"torch.short", "int16"},
      {"torch.int8", "int8"},
      {"torch.uint8", "uint8"},
      {"torch.bool", "bool"},
      {"torch.complex64", "complex64"},
      {"torch.cfloat", "complex64"},
      {"torch.complex128", "complex128"},
      {"torch.cdouble", "complex128"},
      {"torch.complex32", "complex32"},
      {"torch.uint16", "uint16"},
      {"torch.uint32", "uint32"},
      {"torch.uint64", "uint64"},
      {"torch.float8_e4m3fn", "float8_e4m3fn"},
      {"torch.float8_e5m2", "float8_e5m2"},
      {"torch.float8_e4m3fnuz", "float8_e4m3fnuz"},
      {"torch.float8_e5m2fnuz", "float8_e5m2fnuz"},
  };
  auto it = m.find(global);
  return it == m.end() ? "" : it->second;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | ((cp >> 18) & 0x07));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// UTF-8 text whose code points are all < 256 -> those bytes (Python's str.encode('latin1'),
// which protocol 2 uses to carry bytes objects). false if a code point is >= 256 or the
// UTF-8 is malformed.
bool latin1_bytes(const std::string& utf8, std::string& out) {
  out.clear();
  for (size_t i = 0; i < utf8.size(); ++i) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if ((c & 0xe0) == 0xc0 && i + 1 < utf8.size()) {
      const uint32_t cp = ((c & 0x1fu) << 6) | (static_cast<unsigned char>(utf8[i + 1]) & 0x3fu);
      if (cp >= 256) return false;
      out += static_cast<char>(cp);
      ++i;
    } else {
      return false;
    }
  }
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Vm {
 public:
  Vm(const char* data, size_t size, PyTree& tree, const std::string& origin, const Limits& limits)
      : p_(reinterpret_cast<const unsigned char*>(data)), n_(size), tree_(tree), origin_(origin), limits_(limits) {}

  size_t run();

 private:
  const unsigned char* p_;
  size_t n_;
  size_t pos_ = 0;
  size_t op_at_ = 0;  // position of the opcode being run, for error messages
  PyTree& tree_;
  const std::string& origin_;
  const Limits& limits_;
  std::vector<PyNode*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyNode*> memo_;
  std::unordered_map<std::string, PyNode*> storages_;
  uint64_t memory_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw DataError(str_cat(origin_, ": pickle byte ", op_at_, ": ", what));
  }
  void charge(uint64_t bytes) {
    memory_ += bytes;
    if (memory_ > limits_.max_memory)
      fail(str_cat("the pickle builds more than ",
                   limits_.max_memory >= (1u << 20) ? str_cat(limits_.max_memory >> 20, " MiB")
                                                    : str_cat(limits_.max_memory >> 10, " KiB"),
                   " of objects (corrupt or hostile file; raise Limits::max_memory if it is genuine)"));
  }

  // --- input -----------------------------------------------------------------------------
  void need(uint64_t k) const {
    if (k > n_ - pos_) fail(str_cat("truncated pickle (", k, " more bytes needed, ", n_ - pos_, " left)"));
  }
  uint8_t u8() {
    need(1);
    return p_[pos_++];
  }
  uint64_t le(int k) {
    need(static_cast<uint64_t>(k));
    uint64_t v = 0;
    for (int b = 0; b < k; ++b) v |= static_cast<uint64_t>(p_[pos_ + b]) << (8 * b);
    pos_ += static_cast<size_t>(k);
    return v;
  }
  std::string raw(uint64_t k) {
    need(k);
    charge(k);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(k));
    pos_ += static_cast<size_t>(k);
    return s;
  }
  std::string line() {
    const void* nl = std::memchr(p_ + pos_, '\n', n_ - pos_);
    if (!nl) fail("truncated pickle (a text argument has no newline)");
    const size_t end = static_cast<size_t>(static_cast<const unsigned char*>(nl) - p_);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), end - pos_);
    charge(s.size());
    pos_ = end + 1;
    if (!s.empty() && s.back() == '\r') s.pop_back();
    return s;
  }

  // --- stack -----------------------------------------------------------------------------
  void push(PyNode* v) {
    charge(sizeof(PyNode*));
    stack_.push_back(v);
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  PyNode* pop() {
    if (stack_.size() <= floor()) fail("stack underflow (corrupt pickle)");
    PyNode* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PyNode* top() const {
    if (stack_.size() <= floor()) fail("stack underflow (corrupt pickle)");
    return stack_.back();
  }
  std::vector<PyNode*> pop_mark() {
    if (marks_.empty()) fail("MARK expected (corrupt pickle)");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyNode*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }

  // --- values ----------------------------------------------------------------------------
  PyNode* make(Kind k) {
    charge(sizeof(PyNode) + 16);
    return tree_.make(k);
  }
  PyNode* make_int(int64_t v) {
    PyNode* n = make(Kind::kInt);
    n->i = v;
    return n;
  }
  PyNode* make_string(std::string s, Kind k = Kind::kString) {
    PyNode* n = make(k);
    n->s = std::move(s);
    return n;
  }
  PyNode* make_big_int(const std::string& text) {
    PyNode* n = make(Kind::kObject);
    n->s = "int";
    n->py_class = "int";
    n->items.push_back(make_string(text));
    return n;
  }
  PyNode* make_tuple(std::vector<PyNode*> items) {
    charge(items.size() * sizeof(PyNode*));
    PyNode* n = make(Kind::kTuple);
    n->items = std::move(items);
    return n;
  }
  PyNode* placeholder(const std::string& cls, const PyNode* args) {
    PyNode* n = make(Kind::kObject);
    n->s = cls;
    if (args) {
      charge(args->items.size() * sizeof(PyNode*));
      n->items = args->items;
    }
    return n;
  }

  PyNode* decode_long(const std::string& bytes) {
    if (bytes.empty()) return make_int(0);
    // Two's complement little-endian; strip redundant sign bytes, then it fits int64 or not.
    size_t len = bytes.size();
    const bool negative = static_cast<unsigned char>(bytes[len - 1]) & 0x80;
    const unsigned char fill = negative ? 0xff : 0x00;
    while (len > 1 && static_cast<unsigned char>(bytes[len - 1]) == fill &&
           ((static_cast<unsigned char>(bytes[len - 2]) & 0x80) != 0) == negative)
      --len;
    if (len <= 8) {
      uint64_t v = negative ? ~uint64_t{0} : 0;
      for (size_t b = 0; b < len; ++b) {
        v &= ~(uint64_t{0xff} << (8 * b));
        v |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[b])) << (8 * b);
      }
      return make_int(static_cast<int64_t>(v));
    }
    std::string hex = negative ? "-(two's complement) 0x" : "0x";
    static const char* digits = "0123456789abcdef";
    for (size_t b = len; b-- > 0;) {
      hex += digits[static_cast<unsigned char>(bytes[b]) >> 4];
      hex += digits[static_cast<unsigned char>(bytes[b]) & 15];
    }
    return make_big_int(hex);
  }

  PyNode* parse_int_text(std::string t) {
    if (!t.empty() && (t.back() == 'L')) t.pop_back();
    if (t.empty()) fail("empty integer literal");
    size_t i = (t[0] == '-' || t[0] == '+') ? 1 : 0;
    if (i == t.size()) fail("bad integer literal '" + t + "'");
    for (size_t k = i; k < t.size(); ++k)
      if (t[k] < '0' || t[k] > '9') fail("bad integer literal '" + t.substr(0, 40) + "'");
    errno = 0;
    const long long v = std::strtoll(t.c_str(), nullptr, 10);
    if (errno == ERANGE) return make_big_int(t);
    return make_int(v);
  }

  std::string unquote(const std::string& t) {
    if (t.size() < 2 || (t[0] != '\'' && t[0] != '"') || t.back() != t[0]) fail("bad STRING literal");
    std::string out;
    for (size_t i = 1; i + 1 < t.size(); ++i) {
      if (t[i] != '\\' || i + 2 >= t.size()) {
        out += t[i];
        continue;
      }
      const char e = t[++i];
      if (e == 'n') out += '\n';
      else if (e == 't') out += '\t';
      else if (e == 'r') out += '\r';
      else if (e == 'x' && i + 2 < t.size() && hex_digit(t[i + 1]) >= 0 && hex_digit(t[i + 2]) >= 0) {
        out += static_cast<char>(hex_digit(t[i + 1]) * 16 + hex_digit(t[i + 2]));
        i += 2;
      } else out += e;
    }
    return out;
  }

  std::string raw_unicode_escape(const std::string& t) {
    std::string out;
    for (size_t i = 0; i < t.size(); ++i) {
      const size_t digits = (t[i] == '\\' && i + 1 < t.size()) ? (t[i + 1] == 'u' ? 4 : t[i + 1] == 'U' ? 8 : 0) : 0;
      if (digits && i + 2 + digits <= t.size()) {
        uint32_t cp = 0;
        bool ok = true;
        for (size_t k = 0; k < digits; ++k) {
          const int h = hex_digit(t[i + 2 + k]);
          ok = ok && h >= 0;
          cp = cp * 16 + static_cast<uint32_t>(h < 0 ? 0 : h);
        }
        if (ok && cp <= 0x10ffff) {
          append_utf8(out, cp);
          i += 1 + digits;
          continue;
        }
      }
      append_utf8(out, static_cast<unsigned char>(t[i]));
    }
    return out;
  }

  // --- containers ------------------------------------------------------------------------
  void set_items(PyNode* target, const std::vector<PyNode*>& kv) {
    if (kv.size() % 2) fail("odd number of items for SETITEMS");
    if (target->kind != Kind::kDict && target->kind != Kind::kObject)
      fail(str_cat("SETITEM on a ", target->repr(30), " (corrupt pickle)"));
    charge(kv.size() * sizeof(PyNode*));
    for (size_t k = 0; k < kv.size(); k += 2) target->entries.emplace_back(kv[k], kv[k + 1]);
  }
  void append_items(PyNode* target, const std::vector<PyNode*>& items) {
    charge(items.size() * sizeof(PyNode*));
    if (target->kind == Kind::kList) target->items.insert(target->items.end(), items.begin(), items.end());
    else if (target->kind == Kind::kObject) target->appended.insert(target->appended.end(), items.begin(), items.end());
    else fail(str_cat("APPEND to a ", target->repr(30), " (corrupt pickle)"));
  }
  void add_items(PyNode* target, const std::vector<PyNode*>& items) {
    if (target->kind != Kind::kSet) fail("ADDITEMS to something that is not a set");
    charge(items.size() * sizeof(PyNode*));
    target->items.insert(target->items.end(), items.begin(), items.end());
  }

  // --- calls -----------------------------------------------------------------------------
  PyNode* call(PyNode* callable, PyNode* args);
  /// NEWOBJ only allocates (cls.__new__); INST and OBJ also run __init__, so they count as calls.
  PyNode* new_object(PyNode* cls, PyNode* args, bool runs_init);
  void build(PyNode* obj, PyNode* state);
  PyNode* persistent_load(PyNode* pid);
  PyNode* rebuild_tensor(const std::string& fn, const PyNode* args, bool v3);
  PyNode* numpy_scalar(const PyNode* args);
  int64_t int_arg(const PyNode* v, const std::string& what) const {
    if (v->kind == Kind::kInt) return v->i;
    if (v->kind == Kind::kBool) return v->b ? 1 : 0;
    fail(str_cat(what, " is not an integer (", v->repr(30), ")"));
  }
  std::vector<int64_t> int_tuple(const PyNode* v, const std::string& what) const {
    if (v->kind != Kind::kTuple && v->kind != Kind::kList) fail(str_cat(what, " is not a tuple (", v->repr(30), ")"));
    std::vector<int64_t> out;
    for (const PyNode* e : v->items) out.push_back(int_arg(e, what));
    return out;
  }
};

size_t Vm::run() {
  while (true) {
    op_at_ = pos_;
    const uint8_t op = u8();
    switch (op) {
      case 0x80: {  // PROTO
        const uint8_t proto = u8();
        if (proto > 5) fail(str_cat("unsupported pickle protocol ", int(proto)));
        break;
      }
      case 0x95: le(8); break;  // FRAME: framing is only a read-ahead hint
      case '.': {               // STOP
        PyNode* result = pop();
        check_acyclic(result, limits_.max_depth, origin_);
        tree_.root = result;
        return pos_;
      }
      case '(':
        charge(sizeof(size_t));
        marks_.push_back(stack_.size());
        break;
      case '0':
        if (stack_.size() > floor()) stack_.pop_back();
        else pop_mark();
        break;
      case '1': pop_mark(); break;
      case '2': push(top()); break;
      case 'N': push(make(Kind::kNone)); break;
      case 0x88:
      case 0x89: {
        PyNode* b = make(Kind::kBool);
        b->b = op == 0x88;
        push(b);
        break;
      }
      case 'I': {
        const std::string t = line();
        if (t == "00" || t == "01") {
          PyNode* b = make(Kind::kBool);
          b->b = t == "01";
          push(b);
        } else {
          push(parse_int_text(t));
        }
        break;
      }
      case 'J': push(make_int(static_cast<int32_t>(static_cast<uint32_t>(le(4))))); break;
      case 'K': push(make_int(u8())); break;
      case 'M': push(make_int(static_cast<int64_t>(le(2)))); break;
      case 'L': push(parse_int_text(line())); break;
      case 0x8a: push(decode_long(raw(u8()))); break;
      case 0x8b: {
        const auto len = static_cast<int32_t>(static_cast<uint32_t>(le(4)));
        if (len < 0) fail("negative LONG4 length");
        push(decode_long(raw(static_cast<uint64_t>(len))));
        break;
      }
      case 'F': {
        const std::string t = line();
        char* end = nullptr;
        const double v = std::strtod(t.c_str(), &end);
        if (t.empty() || end != t.c_str() + t.size()) fail("bad FLOAT literal '" + t.substr(0, 40) + "'");
        PyNode* f = make(Kind::kFloat);
        f->f = v;
        push(f);
        break;
      }
      case 'G': {
        need(8);
        uint64_t bits = 0;
        for (int b = 0; b < 8; ++b) bits = (bits << 8) | p_[pos_ + b];  // big-endian
        pos_ += 8;
        PyNode* f = make(Kind::kFloat);
        std::memcpy(&f->f, &bits, 8);
        push(f);
        break;
      }
      case 'S': push(make_string(unquote(line()))); break;
      case 'T': {
        const auto len = static_cast<int32_t>(static_cast<uint32_t>(le(4)));
        if (len < 0) fail("negative BINSTRING length");
        push(make_string(raw(static_cast<uint64_t>(len))));
        break;
      }
      case 'U': push(make_string(raw(u8()))); break;
      case 'V': push(make_string(raw_unicode_escape(line()))); break;
      case 'X': push(make_string(raw(le(4)))); break;
      case 0x8c: push(make_string(raw(u8()))); break;
      case 0x8d: push(make_string(raw(le(8)))); break;
      case 'B': push(make_string(raw(le(4)), Kind::kBytes)); break;
      case 'C': push(make_string(raw(u8()), Kind::kBytes)); break;
      case 0x8e: push(make_string(raw(le(8)), Kind::kBytes)); break;
      case 0x96: {  // BYTEARRAY8
        PyNode* b = make_string(raw(le(8)), Kind::kBytes);
        b->py_class = "bytearray";
        push(b);
        break;
      }
      case ']': push(make(Kind::kList)); break;
      case ')': push(make(Kind::kTuple)); break;
      case '}': push(make(Kind::kDict)); break;
      case 0x8f: push(make(Kind::kSet)); break;
      case 'l': {
        auto items = pop_mark();
        PyNode* l = make(Kind::kList);
        l->items = std::move(items);
        push(l);
        break;
      }
      case 't': push(make_tuple(pop_mark())); break;
      case 0x85: {
        PyNode* a = pop();
        push(make_tuple({a}));
        break;
      }
      case 0x86: {
        PyNode* b = pop();
        PyNode* a = pop();
        push(make_tuple({a, b}));
        break;
      }
      case 0x87: {
        PyNode* c = pop();
        PyNode* b = pop();
        PyNode* a = pop();
        push(make_tuple({a, b, c}));
        break;
      }
      case 'd': {
        auto items = pop_mark();
        PyNode* d = make(Kind::kDict);
        set_items(d, items);
        push(d);
        break;
      }
      case 0x91: {  // FROZENSET
        auto items = pop_mark();
        PyNode* s = make(Kind::kSet);
        s->py_class = "frozenset";
        s->items = std::move(items);
        push(s);
        break;
      }
      case 'a': {
        PyNode* v = pop();
        append_items(top(), {v});
        break;
      }
      case 'e': {
        auto items = pop_mark();
        append_items(top(), items);
        break;
      }
      case 's': {
        PyNode* v = pop();
        PyNode* k = pop();
        set_items(top(), {k, v});
        break;
      }
      case 'u': {
        auto items = pop_mark();
        set_items(top(), items);
        break;
      }
      case 0x90: {
        auto items = pop_mark();
        add_items(top(), items);
        break;
      }
      case 'c': {
        const std::string module = line();
        const std::string name = line();
        if (module.empty() || name.empty()) fail("empty GLOBAL name");
        push(make_string(module + "." + name, Kind::kGlobal));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        PyNode* name = pop();
        PyNode* module = pop();
        if (name->kind != Kind::kString || module->kind != Kind::kString || name->s.empty() || module->s.empty())
          fail("STACK_GLOBAL needs two strings");
        push(make_string(module->s + "." + name->s, Kind::kGlobal));
        break;
      }
      case 'R': {
        PyNode* args = pop();
        PyNode* fn = pop();
        push(call(fn, args));
        break;
      }
      case 'b': {
        PyNode* state = pop();
        build(top(), state);
        break;
      }
      case 0x81: {  // NEWOBJ
        PyNode* args = pop();
        PyNode* cls = pop();
        push(new_object(cls, args, false));
        break;
      }
      case 0x92: {  // NEWOBJ_EX
        pop();      // kwargs
        PyNode* args = pop();
        PyNode* cls = pop();
        push(new_object(cls, args, false));
        break;
      }
      case 'i': {  // INST
        const std::string module = line();
        const std::string name = line();
        PyNode* args = make_tuple(pop_mark());
        push(new_object(make_string(module + "." + name, Kind::kGlobal), args, true));
        break;
      }
      case 'o': {  // OBJ
        auto items = pop_mark();
        if (items.empty()) fail("OBJ without a class");
        PyNode* cls = items[0];
        items.erase(items.begin());
        push(new_object(cls, make_tuple(std::move(items)), true));
        break;
      }
      case 'p': {
        const std::string t = line();
        char* end = nullptr;
        const unsigned long long idx = std::strtoull(t.c_str(), &end, 10);
        if (t.empty() || end != t.c_str() + t.size()) fail("bad PUT index");
        charge(48);
        memo_[idx] = top();
        break;
      }
      case 'q':
        charge(48);
        memo_[u8()] = top();
        break;
      case 'r':
        charge(48);
        memo_[le(4)] = top();
        break;
      case 0x94:
        charge(48);
        memo_[memo_.size()] = top();
        break;
      case 'g':
      case 'h':
      case 'j': {
        uint64_t idx = 0;
        if (op == 'g') {
          const std::string t = line();
          char* end = nullptr;
          idx = std::strtoull(t.c_str(), &end, 10);
          if (t.empty() || end != t.c_str() + t.size()) fail("bad GET index");
        } else {
          idx = op == 'h' ? u8() : le(4);
        }
        auto it = memo_.find(idx);
        if (it == memo_.end()) fail(str_cat("memo entry ", idx, " was never stored (corrupt pickle)"));
        push(it->second);
        break;
      }
      case 'P': push(persistent_load(make_string(line()))); break;
      case 'Q': {
        PyNode* pid = pop();
        push(persistent_load(pid));
        break;
      }
      case 0x82:
      case 0x83:
      case 0x84: fail("extension registry codes (EXT1/2/4) are not supported");
      case 0x97:
      case 0x98: fail("out-of-band buffers (pickle protocol 5) are not supported");
      default:
        fail(str_cat("unknown opcode 0x", "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15],
                     " (not a pickle, or corrupt)"));
    }
  }
}

PyNode* Vm::persistent_load(PyNode* pid) {
  if (pid->kind != Kind::kTuple || pid->items.empty() || pid->items[0]->kind != Kind::kString)
    fail(str_cat("unsupported persistent id ", pid->repr(40), " (expected ('storage', ...))"));
  const std::string& tag = pid->items[0]->s;
  if (tag == "module" && pid->items.size() >= 2) return pid->items[1];  // legacy whole-model saves: the class
  if (tag != "storage") fail(str_cat("unsupported persistent id '", tag.substr(0, 40), "'"));
  if (pid->items.size() != 5 && pid->items.size() != 6)
    fail(str_cat("storage id with ", pid->items.size(), " fields (expected 5 or 6)"));
  const PyNode* type = pid->items[1];
  const PyNode* key = pid->items[2];
  const PyNode* location = pid->items[3];
  if (type->kind != Kind::kGlobal) fail("storage type is not a class name");
  const std::string cls = type->s.substr(type->s.rfind('.') + 1);
  const std::string dtype = dtype_of_storage_class(cls);
  if (dtype.empty()) fail(str_cat("unknown storage type ", type->s));
  if (dtype.rfind("q", 0) == 0)
    fail(str_cat("quantized storage ", type->s, " is not supported (dequantize the model in Python first)"));
  std::string key_text;
  if (key->kind == Kind::kString) key_text = key->s;
  else if (key->kind == Kind::kInt) key_text = std::to_string(key->i);
  else fail("storage key is neither a string nor an integer");
  const int64_t numel = int_arg(pid->items[4], "storage size");
  if (numel < 0) fail("negative storage size");
  if (pid->items.size() == 6 && pid->items[5]->kind != Kind::kNone)
    fail("storage views (files saved by torch < 0.4) are not supported");
  auto it = storages_.find(key_text);
  if (it != storages_.end()) {
    const StorageInfo& s = *it->second->storage;
    if (s.dtype != dtype || s.numel != static_cast<uint64_t>(numel))
      fail(str_cat("storage '", key_text, "' declared twice with different types or sizes"));
    return it->second;
  }
  PyNode* s = make(Kind::kStorage);
  s->storage->key = key_text;
  s->storage->dtype = dtype;
  s->storage->numel = static_cast<uint64_t>(numel);
  s->storage->location = location->kind == Kind::kString ? location->s : "";
  charge(64 + key_text.size());
  storages_[key_text] = s;
  return s;
}

PyNode* Vm::rebuild_tensor(const std::string& fn, const PyNode* args, bool v3) {
  const size_t min_args = v3 ? 7 : fn == "torch._utils._rebuild_tensor" ? 4 : 6;
  if (args->items.size() < min_args)
    fail(str_cat(fn, " with ", args->items.size(), " arguments (expected at least ", min_args, ")"));
  const PyNode* storage = args->items[0];
  if (storage->kind != Kind::kStorage) fail(str_cat(fn, ": first argument is not a storage (", storage->repr(30), ")"));
  const StorageInfo& si = *storage->storage;
  std::string dtype = si.dtype;
  if (v3) {
    const PyNode* d = args->items[6];
    dtype = d->kind == Kind::kGlobal ? torch_dtype_global(d->s) : "";
    if (dtype.empty()) fail(str_cat(fn, ": unknown dtype ", d->repr(30)));
  }
  const int64_t offset = int_arg(args->items[1], "storage offset");
  std::vector<int64_t> sizes = int_tuple(args->items[2], "tensor size");
  std::vector<int64_t> strides = int_tuple(args->items[3], "tensor stride");
  if (sizes.size() != strides.size()) fail(str_cat(fn, ": ", sizes.size(), " sizes but ", strides.size(), " strides"));
  if (sizes.size() > 64) fail(str_cat(fn, ": ", sizes.size(), " dimensions"));
  if (offset < 0) fail(str_cat(fn, ": negative storage offset"));
  // Bounds: the highest element the view reaches must lie inside the storage. 128-bit arithmetic
  // so that no size/stride combination can overflow the check itself.
  using u128 = unsigned __int128;
  u128 numel = 1, last = static_cast<u128>(offset);
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] < 0 || strides[d] < 0) fail(str_cat(fn, ": negative size or stride"));
    numel *= static_cast<u128>(sizes[d]);
    if (numel > (u128{1} << 62)) fail(str_cat(fn, ": tensor of more than 2^62 elements"));
    if (sizes[d] > 0) last += static_cast<u128>(sizes[d] - 1) * static_cast<u128>(strides[d]);
  }
  const size_t itemsize = dtype_itemsize(dtype);
  const u128 storage_bytes = static_cast<u128>(si.numel) * dtype_itemsize(si.dtype);
  if (numel > 0 && (last + 1) * itemsize > storage_bytes)
    fail(str_cat(fn, ": a ", dtype, " view reaching element ", static_cast<uint64_t>(last), " does not fit storage '",
                 si.key, "' of ", si.numel, " ", si.dtype, " elements (corrupt or hostile file)"));
  PyNode* t = make(Kind::kTensor);
  charge(16 * sizes.size());
  TensorInfo& ti = *t->tensor;
  ti.storage = const_cast<PyNode*>(storage);
  ti.dtype = dtype;
  ti.offset = offset;
  ti.sizes = std::move(sizes);
  ti.strides = std::move(strides);
  if (args->items.size() > 4 && fn != "torch._utils._rebuild_tensor") {
    const PyNode* rg = args->items[4];
    ti.requires_grad = rg->kind == Kind::kBool ? rg->b : rg->kind == Kind::kInt && rg->i != 0;
  }
  return t;
}

PyNode* Vm::numpy_scalar(const PyNode* args) {
  // numpy.core.multiarray.scalar(dtype, bytes): decode the common numeric types, keep the rest.
  if (args->items.size() == 2 && args->items[0]->kind == Kind::kObject && args->items[0]->s == "numpy.dtype" &&
      !args->items[0]->items.empty() && args->items[0]->items[0]->kind == Kind::kString &&
      args->items[1]->kind == Kind::kBytes) {
    const PyNode* dt = args->items[0];
    const std::string& code = dt->items[0]->s;
    std::string bytes = args->items[1]->s;
    bool big = false;  // numpy.dtype's BUILD state: (version, byteorder, ...)
    if (dt->state && dt->state->kind == Kind::kTuple && dt->state->items.size() > 1 &&
        dt->state->items[1]->kind == Kind::kString)
      big = dt->state->items[1]->s == ">";
    if (big) std::reverse(bytes.begin(), bytes.end());
    auto read = [&](auto v) {
      std::memcpy(&v, bytes.data(), sizeof v);
      return v;
    };
    static const std::unordered_map<std::string, std::pair<char, size_t>> codes = {
        {"f8", {'f', 8}}, {"f4", {'f', 4}}, {"i8", {'i', 8}}, {"i4", {'i', 4}}, {"i2", {'i', 2}}, {"i1", {'i', 1}},
        {"u8", {'u', 8}}, {"u4", {'u', 4}}, {"u2", {'u', 2}}, {"u1", {'u', 1}}, {"b1", {'b', 1}}};
    auto c = codes.find(code);
    if (c != codes.end() && bytes.size() == c->second.second) {
      const size_t sz = c->second.second;
      PyNode* n = nullptr;
      if (c->second.first == 'f') {
        n = make(Kind::kFloat);
        n->f = sz == 8 ? read(double{}) : static_cast<double>(read(float{}));
        n->py_class = sz == 8 ? "numpy.float64" : "numpy.float32";
      } else if (c->second.first == 'b') {
        n = make(Kind::kBool);
        n->b = bytes[0] != 0;
        n->py_class = "numpy.bool_";
      } else {
        n = make(Kind::kInt);
        const bool is_signed = c->second.first == 'i';
        if (sz == 8) n->i = read(int64_t{});
        else if (sz == 4) n->i = is_signed ? read(int32_t{}) : static_cast<int64_t>(read(uint32_t{}));
        else if (sz == 2) n->i = is_signed ? read(int16_t{}) : static_cast<int64_t>(read(uint16_t{}));
        else n->i = is_signed ? static_cast<int8_t>(bytes[0]) : static_cast<uint8_t>(bytes[0]);
        n->py_class = str_cat("numpy.", is_signed ? "int" : "uint", sz * 8);
      }
      return n;
    }
  }
  return placeholder("numpy scalar", args);
}

PyNode* Vm::call(PyNode* fn, PyNode* args) {
  if (args->kind != Kind::kTuple) fail(str_cat("REDUCE arguments are not a tuple (", args->repr(30), ")"));
  if (fn->kind != Kind::kGlobal) {
    // Calling something that is not a plain global (the result of another call, ...): it stays inert.
    return placeholder(fn->kind == Kind::kObject ? fn->s + "(...)" : "<call of " + fn->repr(30) + ">", args);
  }
  const std::string& name = fn->s;
  if (is_dangerous(name))
    fail(str_cat("refusing a pickle that calls ", name,
                 ": checkpoints never need it, so the file is corrupt or malicious (nothing was executed)"));
  const auto& a = args->items;
  if (name == "collections.OrderedDict" || name == "builtins.dict" || name == "__builtin__.dict" ||
      name == "collections.defaultdict") {
    PyNode* d = make(Kind::kDict);
    if (name != "builtins.dict" && name != "__builtin__.dict") d->py_class = name;
    if (name != "collections.defaultdict" && a.size() == 1 &&
        (a[0]->kind == Kind::kList || a[0]->kind == Kind::kTuple)) {
      for (const PyNode* pair : a[0]->items) {
        if ((pair->kind != Kind::kTuple && pair->kind != Kind::kList) || pair->items.size() != 2)
          fail("dict() from a sequence that is not of pairs");
        set_items(d, {pair->items[0], pair->items[1]});
      }
    }
    return d;
  }
  if (name == "builtins.set" || name == "__builtin__.set" || name == "builtins.frozenset" ||
      name == "__builtin__.frozenset") {
    PyNode* s = make(Kind::kSet);
    if (name.find("frozenset") != std::string::npos) s->py_class = "frozenset";
    if (a.size() == 1 && (a[0]->kind == Kind::kList || a[0]->kind == Kind::kTuple || a[0]->kind == Kind::kSet))
      add_items(s, a[0]->items);
    return s;
  }
  if (name == "_codecs.encode" || name == "builtins.bytearray" || name == "__builtin__.bytearray" ||
      name == "builtins.bytes" || name == "__builtin__.bytes") {
    std::string out;
    bool ok = false;
    if (a.empty()) ok = true;
    else if (a[0]->kind == Kind::kBytes) out = a[0]->s, ok = true;
    else if (a[0]->kind == Kind::kString) {
      const std::string enc = a.size() > 1 && a[1]->kind == Kind::kString ? a[1]->s : "utf-8";
      if (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1") ok = latin1_bytes(a[0]->s, out);
      else if (enc == "utf-8" || enc == "utf8" || enc == "ascii") out = a[0]->s, ok = true;
    }
    if (!ok) return placeholder(name, args);
    charge(out.size());
    PyNode* b = make_string(std::move(out), Kind::kBytes);
    if (name.find("bytearray") != std::string::npos) b->py_class = "bytearray";
    return b;
  }
  if (name == "torch._utils._rebuild_tensor" || name == "torch._utils._rebuild_tensor_v2")
    return rebuild_tensor(name, args, false);
  if (name == "torch._utils._rebuild_tensor_v3") return rebuild_tensor(name, args, true);
  if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
    if (a.empty() || a[0]->kind != Kind::kTensor) fail(str_cat(name, ": first argument is not a tensor"));
    a[0]->tensor->parameter = true;
    if (a.size() > 1 && a[1]->kind == Kind::kBool) a[0]->tensor->requires_grad = a[1]->b;
    return a[0];
  }
  if (name == "torch._tensor._rebuild_from_type_v2" || name == "torch._tensor._rebuild_from_type") {
    // (func, type, args, state): a tensor subclass or a tensor with Python attributes; keep the tensor.
    if (a.size() < 3 || a[2]->kind != Kind::kTuple) fail(str_cat(name, ": malformed arguments"));
    PyNode* t = call(a[0], a[2]);
    if (t->kind == Kind::kTensor && a[1]->kind == Kind::kGlobal && a[1]->s != "torch.Tensor" &&
        a[1]->s != "torch.nn.parameter.Parameter")
      t->py_class = a[1]->s;
    return t;
  }
  if (name.rfind("torch._utils._rebuild_", 0) == 0) {
    const std::string what = name.find("qtensor") != std::string::npos  ? "quantized tensors"
                             : name.find("sparse") != std::string::npos ? "sparse tensors"
                             : name.find("nested") != std::string::npos ? "nested tensors"
                                                                        : "this kind of tensor";
    fail(str_cat(name, ": ", what, " are not supported, only dense tensors (convert the model in Python first)"));
  }
  if (name == "torch.jit._pickle.restore_type_tag" || (name.rfind("torch.jit._pickle.build_", 0) == 0 && !a.empty())) {
    if (a.empty()) fail(str_cat(name, " without arguments"));
    return a[0];
  }
  if (name == "torch.Size" && a.size() == 1 && a[0]->kind == Kind::kTuple) {
    PyNode* t = make_tuple(a[0]->items);
    t->py_class = "torch.Size";
    return t;
  }
  if (name == "numpy.core.multiarray.scalar" || name == "numpy._core.multiarray.scalar") return numpy_scalar(args);
  if ((name == "copy_reg._reconstructor" || name == "copyreg._reconstructor") && !a.empty() &&
      a[0]->kind == Kind::kGlobal)
    return placeholder(a[0]->s, nullptr);
  return placeholder(name, args);
}

PyNode* Vm::new_object(PyNode* cls, PyNode* args, bool runs_init) {
  if (args->kind != Kind::kTuple) fail("NEWOBJ arguments are not a tuple");
  if (cls->kind != Kind::kGlobal) return placeholder("<instance of " + cls->repr(30) + ">", args);
  if (runs_init && is_dangerous(cls->s))
    fail(str_cat("refusing a pickle that instantiates ", cls->s,
                 ": checkpoints never need it, so the file is corrupt or malicious (nothing was executed)"));
  if (cls->s == "collections.OrderedDict" || cls->s == "builtins.dict" || cls->s == "__builtin__.dict" ||
      cls->s == "collections.defaultdict" || cls->s == "builtins.set" || cls->s == "__builtin__.set")
    return call(cls, make_tuple({}));
  return placeholder(cls->s, args);
}

void Vm::build(PyNode* obj, PyNode* state) {
  switch (obj->kind) {
    case Kind::kObject:
    case Kind::kDict:
    case Kind::kTensor:
    case Kind::kList:
    case Kind::kSet:
      if (obj->state && obj->state->kind == Kind::kDict && state->kind == Kind::kDict) {
        charge(state->entries.size() * sizeof(PyNode*) * 2);
        obj->state->entries.insert(obj->state->entries.end(), state->entries.begin(), state->entries.end());
      } else {
        obj->state = state;
      }
      return;
    default: fail(str_cat("BUILD on a ", obj->repr(30), " (corrupt pickle)"));
  }
}

}  // namespace

size_t unpickle(const char* data, size_t size, PyTree& tree, const std::string& origin, const Limits& limits) {
  Vm vm(data, size, tree, origin, limits);
  return vm.run();
}

std::string dtype_of_storage_class(const std::string& name) {
  static const std::unordered_map<std::string, std::string> m = {
      {"DoubleStorage", "float64"},
      {"FloatStorage", "float32"},
      {"HalfStorage", "float16"},
      {"BFloat16Storage", "bfloat16"},
      {"LongStorage", "int64"},
      {"IntStorage", "int32"},
      {"ShortStorage", "int16"},
      {"CharStorage", "int8"},
      {"ByteStorage", "uint8"},
      {"BoolStorage", "bool"},
      {"ComplexFloatStorage", "complex64"},
      {"ComplexDoubleStorage", "complex128"},
      {"UntypedStorage", "uint8"},
      {"QInt8Storage", "qint8"},
      {"QUInt8Storage", "quint8"},
      {"QInt32Storage", "qint32"},
      {"QUInt4x2Storage", "quint4x2"},
      {"QUInt2x4Storage", "quint2x4"},
  };
  auto it = m.find(name);
  return it == m.end() ? "" : it->second;
}

std::string storage_class_of(const std::string& dtype) {
  static const std::unordered_map<std::string, std::string> m = {
      {"float64", "DoubleStorage"},
      {"float32", "FloatStorage"},
      {"float16", "HalfStorage"},
      {"bfloat16", "BFloat16Storage"},
      {"int64", "LongStorage"},
      {"int32", "IntStorage"},
      {"int16", "ShortStorage"},
      {"int8", "CharStorage"},
      {"uint8", "ByteStorage"},
      {"bool", "BoolStorage"},
      {"complex64", "ComplexFloatStorage"},
      {"complex128", "ComplexDoubleStorage"},
  };
  auto it = m.find(dtype);
  return it == m.end() ? "" : it->second;
}

}  // namespace cardiotorch::weights::pickle
