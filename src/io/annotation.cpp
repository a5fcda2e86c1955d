// MIT-format WFDB annotations. Torch-free (also built by the fuzz target).
//
// Each annotation is a little-endian 16-bit word: the high 6 bits are a code A, the low 10
// bits a value I. A in 1..58 starts an annotation I samples after the previous one; pseudo
// codes modify it: SKIP (59, a 32-bit interval follows, high 16-bit word first), NUM (60),
// SUB (61), CHN (62) and AUX (63, I bytes of text follow, padded to even length). A zero word
// ends the file. NUM and CHN persist to later annotations; SUB and AUX do not.
#include "cardiotorch/io/annotation.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/file.h"

namespace cardiotorch::io {
namespace {

constexpr int kSkip = 59, kNum = 60, kSub = 61, kChn = 62, kAux = 63;
constexpr int kNote = 22;

const char* const kSymbols[50] = {
    " ", "N", "L",    "R",    "a",    "V",    "F",    "J",    "A",    "S",     // 0-9
    "E", "j", "/",    "Q",    "~",    "[15]", "|",    "[17]", "s",    "T",     // 10-19
    "*", "D", "\"",   "=",    "p",    "B",    "^",    "t",    "+",    "u",     // 20-29
    "?", "!", "[",    "]",    "e",    "n",    "@",    "x",    "f",    "(",     // 30-39
    ")", "r", "[42]", "[43]", "[44]", "[45]", "[46]", "[47]", "[48]", "[49]",  // 40-49
};

const char* const kDefsBegin = "## annotation type definitions";
const char* const kDefsEnd = "## end of definitions";

}  // namespace

std::string annotation_symbol(int code) {
  if (code >= 0 && code < 50) return kSymbols[code];
  return "[" + std::to_string(code) + "]";
}

int annotation_code(const std::string& s) {
  if (s == "`") return 39;
  if (s == "'") return 40;
  for (int c = 0; c < 50; ++c)
    if (s == kSymbols[c]) return c;
  return -1;
}

bool is_beat_code(int c) {
  return (c >= 1 && c <= 13) || c == 25 || c == 30 || c == 34 || c == 35 || c == 38 || c == 41;
}

char aami_class(const std::string& s) {
  if (s.size() != 1) return 0;
  switch (s[0]) {
    case 'N':
    case 'L':
    case 'R':
    case 'e':
    case 'j': return 'N';
    case 'A':
    case 'a':
    case 'J':
    case 'S': return 'S';
    case 'V':
    case 'E': return 'V';
    case 'F': return 'F';
    case '/':
    case 'f':
    case 'Q': return 'Q';
    default: return 0;
  }
}

std::map<char, int64_t> aami_counts(const std::vector<Annotation>& anns) {
  std::map<char, int64_t> m{{'N', 0}, {'S', 0}, {'V', 0}, {'F', 0}, {'Q', 0}};
  for (const auto& a : anns)
    if (char k = aami_class(a.symbol)) ++m[k];
  return m;
}

AnnotationSet parse_annotations(const uint8_t* p, size_t size, const std::string& origin) {
  AnnotationSet set;
  set.origin = origin;
  std::vector<Annotation>& out = set.annotations;
  int64_t t = 0;
  int chan = 0, num = 0;
  bool have = false;  // out.back() is the annotation the modifiers apply to
  size_t i = 0;
  bool ended = false;
  while (i + 1 < size) {
    const size_t at = i;
    const unsigned w = p[i] | (p[i + 1] << 8);
    i += 2;
    if (w == 0) {
      ended = true;
      break;
    }
    const int a = static_cast<int>(w >> 10);
    const int v = static_cast<int>(w & 0x3FF);
    switch (a) {
      case kSkip: {
        CT_CHECK(i + 4 <= size, DataError, origin, ": byte ", at, ": SKIP needs 4 more bytes, file ends");
        const uint32_t hi = p[i] | (p[i + 1] << 8), lo = p[i + 2] | (p[i + 3] << 8);
        t += static_cast<int32_t>((hi << 16) | lo);
        i += 4;
        break;
      }
      case kNum:
        CT_CHECK(have, DataError, origin, ": byte ", at, ": NUM before any annotation");
        num = static_cast<int8_t>(v & 0xFF);
        out.back().num = num;
        break;
      case kSub:
        CT_CHECK(have, DataError, origin, ": byte ", at, ": SUB before any annotation");
        out.back().subtype = static_cast<int8_t>(v & 0xFF);
        break;
      case kChn:
        CT_CHECK(have, DataError, origin, ": byte ", at, ": CHN before any annotation");
        chan = v & 0xFF;
        out.back().chan = chan;
        break;
      case kAux: {
        CT_CHECK(have, DataError, origin, ": byte ", at, ": AUX before any annotation");
        CT_CHECK(i + static_cast<size_t>(v) <= size, DataError, origin, ": byte ", at, ": AUX of ", v,
                 " bytes runs past the end of the file");
        std::string s(reinterpret_cast<const char*>(p + i), static_cast<size_t>(v));
        const size_t nul = s.find('\0');  // the text is a C string inside a counted field
        if (nul != std::string::npos) s.resize(nul);
        out.back().aux = s;
        i += static_cast<size_t>(v + (v & 1));
        break;
      }
      default: {
        t += v;
        CT_CHECK(t >= 0, DataError, origin, ": byte ", at, ": annotation time ", t, " is negative");
        Annotation ann;
        ann.sample = t;
        ann.code = a;
        ann.chan = chan;
        ann.num = num;
        out.push_back(ann);
        have = true;
      }
    }
  }
  CT_CHECK(ended || i == size, DataError, origin, ": byte ", i, ": odd trailing byte (truncated file)");
  (void)ended;  // a file that stops at a word boundary without the 0 word is accepted (as libwfdb does)

  // The header block libwfdb writes and rdann hides: NOTE annotations at time 0 whose text
  // starts with "## " (time resolution, a definitions block with "CODE MNEMONIC DESCRIPTION"
  // lines), closed by a type-0 annotation at time 0.
  size_t k = 0;
  bool in_defs = false;
  while (k < out.size() && out[k].sample == 0 && out[k].code == kNote) {
    std::string line = out[k].aux;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line == kDefsBegin) {
      in_defs = true;
    } else if (line == kDefsEnd) {
      in_defs = false;
    } else if (in_defs) {
      std::istringstream ls(line);
      int code = -1;
      std::string mnem;
      CT_CHECK(ls >> code >> mnem && code >= 1 && code < 50, DataError, origin,
               ": bad line in the annotation definitions block: '", line, "'");
      std::string desc;
      std::getline(ls, desc);
      if (!desc.empty() && desc[0] == ' ') desc.erase(0, 1);
      set.definitions[code] = {mnem, desc};
    } else if (line.compare(0, 20, "## time resolution: ") == 0) {
      set.time_resolution = std::atof(line.c_str() + 20);
    } else if (line.compare(0, 3, "## ") != 0) {
      break;
    }
    ++k;
  }
  if (k > 0 && k < out.size() && out[k].sample == 0 && out[k].code == 0) ++k;
  out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k));
  for (auto& a : out) {
    auto d = set.definitions.find(a.code);
    a.symbol = d != set.definitions.end() ? d->second.first : annotation_symbol(a.code);
  }
  return set;
}

void to_sample_rate(AnnotationSet& set, double fs) {
  if (set.time_resolution <= 0 || fs <= 0) return;  // already samples (or no rate to convert to)
  if (set.time_resolution != fs) {
    const double scale = fs / set.time_resolution;
    for (auto& a : set.annotations)
      a.sample = static_cast<int64_t>(std::llround(static_cast<double>(a.sample) * scale));
  }
  set.time_resolution = 0;
}

AnnotationSet read_annotations(const std::string& record_path, const std::string& annotator) {
  const std::string path = annotator.empty() ? record_path : record_path + "." + annotator;
  const std::string bytes = read_file(path);
  return parse_annotations(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}

namespace {
void put_word(std::vector<uint8_t>& b, int a, int v) {
  const unsigned w = (static_cast<unsigned>(a) << 10) | (static_cast<unsigned>(v) & 0x3FFu);
  b.push_back(static_cast<uint8_t>(w & 0xFF));
  b.push_back(static_cast<uint8_t>(w >> 8));
}

void put_aux(std::vector<uint8_t>& b, const std::string& s, const std::string& what) {
  CT_CHECK(s.size() <= 255, ArgumentError, "annotation ", what, ": aux text longer than 255 bytes");
  put_word(b, kAux, static_cast<int>(s.size()));
  b.insert(b.end(), s.begin(), s.end());
  if (s.size() & 1) b.push_back(0);
}

void put_skip(std::vector<uint8_t>& b, int32_t delta) {
  const uint32_t u = static_cast<uint32_t>(delta);
  put_word(b, kSkip, 0);
  const uint32_t hi = u >> 16, lo = u & 0xFFFF;
  b.push_back(static_cast<uint8_t>(hi & 0xFF));
  b.push_back(static_cast<uint8_t>(hi >> 8));
  b.push_back(static_cast<uint8_t>(lo & 0xFF));
  b.push_back(static_cast<uint8_t>(lo >> 8));
}

void put_annotation(std::vector<uint8_t>& b, int64_t delta, int code) {
  if (delta >= 0 && delta <= 1023) {
    put_word(b, code, static_cast<int>(delta));
    return;
  }
  // Gaps beyond 32 bits (e.g. 10^10 samples) take several SKIPs.
  while (delta > INT32_MAX) {
    put_skip(b, INT32_MAX);
    delta -= INT32_MAX;
  }
  while (delta < INT32_MIN) {
    put_skip(b, INT32_MIN);
    delta -= INT32_MIN;
  }
  put_skip(b, static_cast<int32_t>(delta));
  put_word(b, code, 0);
}
}  // namespace

std::vector<uint8_t> encode_annotations(const std::vector<Annotation>& anns,
                                        const std::map<int, std::pair<std::string, std::string>>& defs,
                                        double time_resolution) {
  std::vector<uint8_t> b;
  int64_t t = 0;
  int chan = 0, num = 0;
  if (time_resolution > 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "## time resolution: %.12g", time_resolution);
    put_annotation(b, 0, kNote);
    put_aux(b, buf, "time resolution");
  }
  if (!defs.empty()) {
    put_annotation(b, 0, kNote);
    put_aux(b, kDefsBegin, "definitions");
    for (const auto& [code, md] : defs) {
      put_annotation(b, 0, kNote);
      put_aux(b, std::to_string(code) + " " + md.first + (md.second.empty() ? "" : " " + md.second), "definitions");
    }
    put_annotation(b, 0, kNote);
    put_aux(b, kDefsEnd, "definitions");
  }
  if (!defs.empty() || time_resolution > 0) {
    // A type-0 annotation at time 0 closes the header: SKIP -1, then code 0 one sample later.
    put_word(b, kSkip, 0);
    b.insert(b.end(), {0xFF, 0xFF, 0xFF, 0xFF});
    put_word(b, 0, 1);
  }
  for (size_t k = 0; k < anns.size(); ++k) {
    const Annotation& a = anns[k];
    const std::string what = std::to_string(k);
    CT_CHECK(a.code >= 1 && a.code <= 58, ArgumentError, "annotation ", k, ": code ", a.code, " outside 1..58");
    CT_CHECK(a.sample >= 0, ArgumentError, "annotation ", k, ": negative sample ", a.sample);
    CT_CHECK(a.subtype >= -128 && a.subtype <= 127 && a.num >= -128 && a.num <= 127 && a.chan >= 0 && a.chan <= 255,
             ArgumentError, "annotation ", k, ": subtype/num must fit a signed byte and chan an unsigned byte");
    put_annotation(b, a.sample - t, a.code);
    t = a.sample;
    if (a.subtype != 0) put_word(b, kSub, a.subtype & 0xFF);
    if (a.chan != chan) put_word(b, kChn, a.chan);
    if (a.num != num) put_word(b, kNum, a.num & 0xFF);
    chan = a.chan;
    num = a.num;
    if (!a.aux.empty()) put_aux(b, a.aux, what);
  }
  put_word(b, 0, 0);
  return b;
}

void write_annotations(const std::string& path, const std::vector<Annotation>& anns,
                       const std::map<int, std::pair<std::string, std::string>>& defs, double time_resolution) {
  const std::vector<uint8_t> b = encode_annotations(anns, defs, time_resolution);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  CT_CHECK(f.good(), IoError, path, ": cannot create annotation file");
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  CT_CHECK(f.good(), IoError, path, ": write failed");
}

}  // namespace cardiotorch::io
