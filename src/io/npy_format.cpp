#include "cardiotorch/io/npy_format.h"

#include <cctype>
#include <cstring>

#include "cardiotorch/core/error.h"

namespace cardiotorch::io {
namespace {

// A reader for the Python-literal dict NumPy writes: {'descr': '<f4', 'fortran_order': False,
// 'shape': (3, 4), }. Only strings, booleans, integers and tuples/lists of them occur.
class DictParser {
 public:
  DictParser(const std::string& text, const std::string& origin) : s_(text), origin_(origin) {}

  void parse(NpyHeader& h) {
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') {
        ++pos_;
        break;
      }
      const std::string key = parse_string();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (peek() == '[' || peek() == '(') fail("structured dtypes are not supported (descr is a list)");
        parse_descr(parse_string(), h);
        have_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = parse_bool();
        have_order = true;
      } else if (key == "shape") {
        h.shape = parse_shape();
        have_shape = true;
      } else {
        fail("unexpected key '" + key + "' in the header dict");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip_ws();
      expect('}');
      break;
    }
    if (!have_descr || !have_order || !have_shape) fail("header dict must have 'descr', 'fortran_order' and 'shape'");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw DataError(str_cat(origin_, ": bad .npy header: ", what));
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) fail(str_cat("expected '", c, "' at offset ", pos_));
    ++pos_;
  }
  std::string parse_string() {
    skip_ws();
    const char q = peek();
    if (q != '\'' && q != '"') fail(str_cat("expected a quoted string at offset ", pos_));
    ++pos_;
    const size_t end = s_.find(q, pos_);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("fortran_order must be True or False");
  }
  std::vector<int64_t> parse_shape() {
    const char open = peek();
    if (open != '(' && open != '[') fail("shape must be a tuple");
    const char close = open == '(' ? ')' : ']';
    ++pos_;
    std::vector<int64_t> dims;
    while (true) {
      skip_ws();
      if (peek() == close) {
        ++pos_;
        break;
      }
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("shape entries must be non-negative integers");
      int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (v > (INT64_MAX - 9) / 10) fail("shape entry too large");
        v = v * 10 + (s_[pos_++] - '0');
      }
      if (peek() == 'L') ++pos_;  // Python 2 long literal
      dims.push_back(v);
      skip_ws();
      if (peek() == ',') ++pos_;
      else if (peek() != close) fail("malformed shape tuple");
    }
    return dims;
  }
  void parse_descr(const std::string& d, NpyHeader& h) {
    if (d.size() < 2) fail("bad descr '" + d + "'");
    size_t i = 0;
    char order = '=';
    if (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=') {
      order = d[0];
      i = 1;
    }
    if (i >= d.size()) fail("bad descr '" + d + "'");
    char kind = d[i++];
    if (kind == '?') {  // '?' is NumPy's one-character bool code
      kind = 'b';
      if (i != d.size()) fail("bad descr '" + d + "'");
      h.item_size = 1;
    } else {
      if (i >= d.size()) fail("bad descr '" + d + "'");
      int size = 0;
      for (; i < d.size(); ++i) {
        if (!std::isdigit(static_cast<unsigned char>(d[i]))) fail("bad descr '" + d + "'");
        size = size * 10 + (d[i] - '0');
        if (size > 64) fail("bad descr '" + d + "'");
      }
      h.item_size = size;
    }
    const bool ok = (kind == 'f' && (h.item_size == 2 || h.item_size == 4 || h.item_size == 8)) ||
                    ((kind == 'i' || kind == 'u') &&
                     (h.item_size == 1 || h.item_size == 2 || h.item_size == 4 || h.item_size == 8)) ||
                    (kind == 'b' && h.item_size == 1);
    if (!ok) fail("unsupported dtype '" + d + "' (supported: float16/32/64, int8..int64, uint8..uint64, bool)");
    if (order == '=') order = '<';  // native; every platform we build for is little endian
    if (h.item_size == 1) order = '|';
    h.kind = kind;
    h.byte_order = order;
  }

  const std::string& s_;
  const std::string& origin_;
  size_t pos_ = 0;
};

constexpr char kMagic[] = "\x93NUMPY";

}  // namespace

int64_t NpyHeader::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string NpyHeader::descr() const {
  const char order = item_size == 1 ? '|' : byte_order;
  return str_cat(order, kind, item_size);
}

NpyHeader parse_npy_header(const char* data, size_t size, const std::string& origin) {
  CT_CHECK(size >= 10 && std::memcmp(data, kMagic, 6) == 0, DataError, origin,
           ": not a .npy file (bad magic; expected \\x93NUMPY)");
  NpyHeader h;
  h.major = static_cast<unsigned char>(data[6]);
  h.minor = static_cast<unsigned char>(data[7]);
  CT_CHECK(h.major >= 1 && h.major <= 3, DataError, origin, ": unsupported .npy format version ", h.major, ".",
           h.minor);
  size_t len = 0, start = 0;
  if (h.major == 1) {
    len = static_cast<unsigned char>(data[8]) | (static_cast<size_t>(static_cast<unsigned char>(data[9])) << 8);
    start = 10;
  } else {
    CT_CHECK(size >= 12, DataError, origin, ": truncated .npy header");
    for (int i = 0; i < 4; ++i) len |= static_cast<size_t>(static_cast<unsigned char>(data[8 + i])) << (8 * i);
    start = 12;
  }
  CT_CHECK(len <= size - start, DataError, origin, ": truncated .npy header (header length ", len,
           " runs past the end of the file)");
  const std::string text(data + start, len);
  DictParser(text, origin).parse(h);
  for (int64_t d : h.shape) CT_CHECK(d >= 0, DataError, origin, ": negative dimension in shape");
  // Guard numel against overflow before anyone multiplies it by the item size.
  int64_t n = 1;
  for (int64_t d : h.shape) {
    CT_CHECK(d == 0 || n <= (INT64_MAX / 16) / d, DataError, origin, ": shape too large");
    n *= d;
  }
  h.data_offset = start + len;
  return h;
}

std::string format_npy_header(const NpyHeader& header) {
  std::string dict = "{'descr': '" + header.descr() +
                     "', 'fortran_order': " + (header.fortran_order ? "True" : "False") + ", 'shape': (";
  for (size_t i = 0; i < header.shape.size(); ++i) {
    dict += std::to_string(header.shape[i]);
    if (header.shape.size() == 1 || i + 1 < header.shape.size()) dict += ",";
    if (i + 1 < header.shape.size()) dict += " ";
  }
  dict += "), }";
  // Pad with spaces so magic + version + length + dict + '\n' is a multiple of 64.
  size_t prefix = 10;
  size_t total = prefix + dict.size() + 1;
  if (((total + 63) / 64) * 64 - prefix - 1 > 65535) prefix = 12;
  total = prefix + dict.size() + 1;
  const size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict += '\n';
  std::string out(kMagic, 6);
  if (prefix == 10) {
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(dict.size() & 0xff);
    out += static_cast<char>((dict.size() >> 8) & 0xff);
  } else {
    out += '\x02';
    out += '\x00';
    for (int i = 0; i < 4; ++i) out += static_cast<char>((dict.size() >> (8 * i)) & 0xff);
  }
  return out + dict;
}

}  // namespace cardiotorch::io
