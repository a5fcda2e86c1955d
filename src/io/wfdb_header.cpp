// WFDB header (.hea) parsing and formatting. Torch-free (also built by the fuzz target).
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/file.h"
#include "cardiotorch/io/wfdb.h"

namespace cardiotorch::io::wfdb {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

struct Token {
  size_t begin = 0;
  size_t end = 0;
};

std::vector<Token> tokenize(const std::string& line) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    if (i >= line.size()) break;
    size_t j = i;
    while (j < line.size() && !is_space(line[j])) ++j;
    out.push_back({i, j});
    i = j;
  }
  return out;
}

std::string trim_copy(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Error context: "file.hea:LINE: field 'NAME': "
struct Ctx {
  const std::string& origin;
  int line;
  std::string where(const char* field) const { return str_cat(origin, ":", line, ": field '", field, "': "); }
};

bool parse_int64(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') i = 1;
  if (i >= s.size()) return false;
  for (size_t k = i; k < s.size(); ++k)
    if (s[k] < '0' || s[k] > '9') return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE || end != s.c_str() + s.size()) return false;
  out = v;
  return true;
}

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  // strtod accepts "inf", "nan" and hex; a header number is plain decimal.
  for (char c : s)
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')) return false;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v)) return false;
  out = v;
  return true;
}

int64_t need_int(const std::string& s, const Ctx& ctx, const char* field, int64_t lo, int64_t hi) {
  int64_t v = 0;
  CT_CHECK(parse_int64(s, v), DataError, ctx.where(field), "expected an integer, got '", s, "'");
  CT_CHECK(v >= lo && v <= hi, DataError, ctx.where(field), "value ", v, " out of range [", lo, ", ", hi, "]");
  return v;
}

double need_double(const std::string& s, const Ctx& ctx, const char* field) {
  double v = 0;
  CT_CHECK(parse_double(s, v), DataError, ctx.where(field), "expected a number, got '", s, "'");
  return v;
}

constexpr int64_t kMaxSignals = 100000;
constexpr int64_t kMaxSegments = 10000000;
constexpr int64_t kI32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kI64 = std::numeric_limits<int64_t>::max();

// "fs[/counter[(base)]]"
void parse_frequency(const std::string& tok, const Ctx& ctx, Header& h) {
  const size_t slash = tok.find('/');
  const std::string fs_text = tok.substr(0, slash);
  h.fs = need_double(fs_text, ctx, "sampling frequency");
  CT_CHECK(h.fs > 0 && h.fs < 1e12, DataError, ctx.where("sampling frequency"), "must be > 0 Hz, got ", fs_text);
  h.fs_given = true;
  if (slash == std::string::npos) return;
  std::string rest = tok.substr(slash + 1);
  const size_t paren = rest.find('(');
  const std::string cf = rest.substr(0, paren);
  h.counter_freq = need_double(cf, ctx, "counter frequency");
  CT_CHECK(h.counter_freq > 0, DataError, ctx.where("counter frequency"), "must be > 0, got ", cf);
  if (paren != std::string::npos) {
    CT_CHECK(rest.size() >= paren + 2 && rest.back() == ')', DataError, ctx.where("base counter value"),
             "expected '(value)' after the counter frequency, got '", rest.substr(paren), "'");
    h.base_counter = need_double(rest.substr(paren + 1, rest.size() - paren - 2), ctx, "base counter value");
    h.base_counter_given = true;
  }
}

bool all_of_chars(const std::string& s, const char* allowed) {
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9');
    for (const char* a = allowed; *a && !ok; ++a) ok = (c == *a);
    if (!ok) return false;
  }
  return !s.empty();
}

void check_time(const std::string& t, const Ctx& ctx) {
  // [[HH:]MM:]SS[.sss]; WFDB also accepts a bracketed absolute time "[HH:MM:SS DD/MM/YYYY]" only
  // in annotation/time arguments, not in headers.
  CT_CHECK(all_of_chars(t, ":.") && t.find(':') != std::string::npos, DataError, ctx.where("base time"),
           "expected HH:MM:SS[.sss], got '", t, "'");
  int colons = 0;
  for (char c : t) colons += (c == ':');
  CT_CHECK(colons <= 2 && t.front() != ':' && t.back() != ':', DataError, ctx.where("base time"),
           "expected HH:MM:SS[.sss], got '", t, "'");
}

void check_date(const std::string& d, const Ctx& ctx) {
  // DD/MM/YYYY (WFDB); CinC 2020 headers write DD-Mon-YYYY (e.g. 12-May-2020).
  const char sep = d.find('-') != std::string::npos ? '-' : '/';
  int seps = 0;
  for (char c : d) seps += (c == sep);
  bool ok = seps == 2 && d.front() != sep && d.back() != sep;
  if (ok && sep == '/') ok = all_of_chars(d, "/") && d.find("//") == std::string::npos;
  if (ok && sep == '-') {
    const size_t a = d.find('-'), b = d.rfind('-');
    ok = all_of_chars(d.substr(0, a), "") && all_of_chars(d.substr(b + 1), "") && b - a == 4;
  }
  CT_CHECK(ok, DataError, ctx.where("base date"), "expected DD/MM/YYYY, got '", d, "'");
}

void parse_record_line(const std::string& line, const std::vector<Token>& toks, const Ctx& ctx, Header& h) {
  auto tok = [&](size_t i) { return line.substr(toks[i].begin, toks[i].end - toks[i].begin); };
  const std::string name_tok = tok(0);
  const size_t slash = name_tok.find('/');
  h.record_name = name_tok.substr(0, slash);
  CT_CHECK(!h.record_name.empty(), DataError, ctx.where("record name"), "is empty");
  for (char ch : h.record_name)
    CT_CHECK(ch > 0x20 && ch < 0x7F, DataError, ctx.where("record name"), "invalid byte 0x", std::hex,
             static_cast<int>(static_cast<unsigned char>(ch)), " (record names are printable ASCII)");
  if (slash != std::string::npos) {
    h.n_segments = static_cast<int>(need_int(name_tok.substr(slash + 1), ctx, "number of segments", 1, kMaxSegments));
  }
  if (toks.size() > 1) h.n_signals = static_cast<int>(need_int(tok(1), ctx, "number of signals", 0, kMaxSignals));
  if (toks.size() > 2) parse_frequency(tok(2), ctx, h);
  if (toks.size() > 3) h.n_samples = need_int(tok(3), ctx, "number of samples", 0, kI64 / 4);
  // Base time then base date; some CinC 2020 headers write the date first.
  for (size_t i = 4; i < toks.size() && i < 6; ++i) {
    const std::string t = tok(i);
    if (t.find(':') != std::string::npos && h.base_time.empty()) {
      check_time(t, ctx);
      h.base_time = t;
    } else if (t.find(':') == std::string::npos && h.base_date.empty() && (i == 5 || toks.size() > 5)) {
      check_date(t, ctx);
      h.base_date = t;
    } else {
      check_time(t, ctx);  // throws with the expected format
      throw DataError(str_cat(ctx.where("base time"), "repeated or misplaced time '", t, "'"));
    }
  }
  CT_CHECK(toks.size() <= 6, DataError, ctx.origin, ":", ctx.line, ": unexpected field '", tok(6),
           "' after the base date on the record line");
}

void parse_format_spec(const std::string& s, const Ctx& ctx, SignalSpec& sig) {
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  sig.format = static_cast<int>(need_int(s.substr(0, i), ctx, "format", 0, 100000));
  bool seen_x = false, seen_skew = false, seen_off = false;
  while (i < s.size()) {
    const char tag = s[i++];
    size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    const std::string num = s.substr(i, j - i);
    if (tag == 'x' && !seen_x) {
      sig.samples_per_frame = static_cast<int>(need_int(num, ctx, "samples per frame", 1, 1000000));
      seen_x = true;
    } else if (tag == ':' && !seen_skew) {
      sig.skew = static_cast<int>(need_int(num, ctx, "skew", 0, kI32));
      seen_skew = true;
    } else if (tag == '+' && !seen_off) {
      sig.byte_offset = need_int(num, ctx, "byte offset", 0, kI64 / 2);
      seen_off = true;
    } else {
      throw DataError(str_cat(ctx.where("format"), "expected FORMAT[xSPF][:SKEW][+OFFSET], got '", s, "'"));
    }
    i = j;
  }
  CT_CHECK(sig.format == 0 || is_supported_format(sig.format), DataError, ctx.where("format"),
           "unknown WFDB signal format ", sig.format, " (supported: 8 16 24 32 61 80 160 212 310 311 508 516 524)");
}

// "gain[(baseline)][/units]"
void parse_gain_spec(const std::string& s, const Ctx& ctx, SignalSpec& sig) {
  const size_t slash = s.find('/');
  std::string g = s.substr(0, slash);
  if (slash != std::string::npos) {
    sig.units = s.substr(slash + 1);
    sig.units_given = true;
    CT_CHECK(!sig.units.empty(), DataError, ctx.where("units"), "empty after '/' in '", s, "'");
  }
  const size_t paren = g.find('(');
  if (paren != std::string::npos) {
    CT_CHECK(g.size() >= paren + 2 && g.back() == ')', DataError, ctx.where("baseline"),
             "expected GAIN(BASELINE), got '", g, "'");
    sig.baseline = need_int(g.substr(paren + 1, g.size() - paren - 2), ctx, "baseline", -kI32 - 1, kI32);
    sig.baseline_given = true;
    g = g.substr(0, paren);
  }
  const double gain = need_double(g, ctx, "ADC gain");
  CT_CHECK(gain >= 0 && gain < 1e15, DataError, ctx.where("ADC gain"), "must be >= 0 and finite, got ", g);
  if (gain > 0) {
    sig.adc_gain = gain;
    sig.gain_given = true;
  } else {
    sig.adc_gain = 200.0;  // WFDB_DEFGAIN for uncalibrated signals
  }
}

SignalSpec parse_signal_line(const std::string& line, const std::vector<Token>& toks, const Ctx& ctx) {
  auto tok = [&](size_t i) { return line.substr(toks[i].begin, toks[i].end - toks[i].begin); };
  SignalSpec sig;
  sig.line = ctx.line;
  sig.file_name = tok(0);
  CT_CHECK(toks.size() >= 2, DataError, ctx.where("format"), "missing on signal line '", trim_copy(line), "'");
  parse_format_spec(tok(1), ctx, sig);
  const size_t n = toks.size();
  if (n > 2) parse_gain_spec(tok(2), ctx, sig);
  if (n > 3) sig.adc_resolution = static_cast<int>(need_int(tok(3), ctx, "ADC resolution", 0, 32));
  if (n > 4) sig.adc_zero = need_int(tok(4), ctx, "ADC zero", -kI32 - 1, kI32);
  if (!sig.baseline_given) sig.baseline = sig.adc_zero;
  if (n > 5) {
    sig.initial_value = need_int(tok(5), ctx, "initial value", -kI32 - 1, kI32);
    sig.initial_value_given = true;
  } else {
    sig.initial_value = sig.adc_zero;
  }
  if (n > 6) {
    sig.checksum = static_cast<int32_t>(need_int(tok(6), ctx, "checksum", -kI32 - 1, kI32));
    sig.checksum_given = true;
  }
  if (n > 7) {
    sig.block_size = static_cast<int>(need_int(tok(7), ctx, "block size", 0, kI32));
    sig.block_size_given = true;
  }
  if (n > 8) sig.description = trim_copy(line.substr(toks[8].begin));
  return sig;
}

}  // namespace

bool is_supported_format(int f) {
  switch (f) {
    case 8:
    case 16:
    case 24:
    case 32:
    case 61:
    case 80:
    case 160:
    case 212:
    case 310:
    case 311:
    case 508:
    case 516:
    case 524: return true;
    default: return false;
  }
}

bool is_flac_format(int f) { return f == 508 || f == 516 || f == 524; }

int32_t format_invalid_value(int f) {
  switch (f) {
    case 16:
    case 61:
    case 160:
    case 516: return -32768;
    case 80:
    case 508: return -128;
    case 212: return -2048;
    case 310:
    case 311: return -512;
    case 24:
    case 524: return -(1 << 23);
    case 32: return std::numeric_limits<int32_t>::min();
    default: return std::numeric_limits<int32_t>::min();  // 8: differences have no sentinel
  }
}

int format_default_resolution(int f) {
  switch (f) {
    case 8:
    case 80:
    case 508: return 8;
    case 310:
    case 311: return 10;
    case 212: return 12;
    case 24:
    case 524: return 24;
    case 32: return 32;
    default: return 16;
  }
}

double Header::base_time_seconds() const {
  if (base_time.empty()) return -1;
  double parts[3] = {0, 0, 0};
  int n = 0;
  size_t start = 0;
  while (n < 3) {
    size_t colon = base_time.find(':', start);
    parts[n++] = std::atof(base_time.substr(start, colon - start).c_str());
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (n == 3) return parts[0] * 3600 + parts[1] * 60 + parts[2];
  if (n == 2) return parts[0] * 60 + parts[1];
  return parts[0];
}

Header parse_header(const std::string& text, const std::string& origin) {
  Header h;
  h.origin = origin;
  enum class State { record, body, done } state = State::record;
  size_t expected = 0;  // signal or segment lines still to come
  int line_no = 0, last_content_line = 0;
  size_t pos = 0;
  bool skipped_bom = false;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!skipped_bom) {
      skipped_bom = true;
      if (line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    }
    const Ctx ctx{origin, line_no};
    CT_CHECK(line.find('\0') == std::string::npos, DataError, origin, ":", line_no,
             ": NUL byte in header (not a text file?)");
    std::vector<Token> toks = tokenize(line);
    if (!toks.empty()) last_content_line = line_no;
    if (toks.empty()) {
      if (nl == text.size()) break;
      continue;
    }
    if (line[toks[0].begin] == '#') {
      std::string c = line.substr(toks[0].begin + 1);
      while (!c.empty() && (c.back() == '\r' || c.back() == ' ' || c.back() == '\t')) c.pop_back();
      if (!c.empty() && c.front() == ' ') c.erase(0, 1);
      h.comments.push_back(c);
      if (nl == text.size()) break;
      continue;
    }
    switch (state) {
      case State::record:
        parse_record_line(line, toks, ctx, h);
        expected = h.is_multi_segment() ? static_cast<size_t>(h.n_segments) : static_cast<size_t>(h.n_signals);
        state = expected > 0 ? State::body : State::done;
        break;
      case State::body:
        if (h.is_multi_segment()) {
          Segment seg;
          seg.line = line_no;
          seg.name = line.substr(toks[0].begin, toks[0].end - toks[0].begin);
          CT_CHECK(toks.size() >= 2, DataError, ctx.where("segment length"), "missing for segment '", seg.name, "'");
          seg.n_samples =
              need_int(line.substr(toks[1].begin, toks[1].end - toks[1].begin), ctx, "segment length", 0, kI64 / 4);
          CT_CHECK(toks.size() == 2, DataError, origin, ":", line_no, ": unexpected field after segment length");
          CT_CHECK(seg.n_samples > 0 || h.segments.empty(), DataError, ctx.where("segment length"),
                   "0 is only allowed for the first (layout) segment");
          h.segments.push_back(seg);
        } else {
          h.signals.push_back(parse_signal_line(line, toks, ctx));
        }
        if (--expected == 0) state = State::done;
        break;
      case State::done:
        throw DataError(str_cat(origin, ":", line_no, ": unexpected line '", trim_copy(line).substr(0, 60),
                                "' after the ", h.is_multi_segment() ? h.n_segments : h.n_signals,
                                h.is_multi_segment() ? " segment" : " signal", " lines the record line announces"));
    }
    if (nl == text.size()) break;
  }
  CT_CHECK(state != State::record, DataError, origin, ": no record line (empty header)");
  if (state == State::body) {
    const size_t got = h.is_multi_segment() ? h.segments.size() : h.signals.size();
    throw DataError(str_cat(origin, ":", last_content_line, ": record line announces ",
                            h.is_multi_segment() ? h.n_segments : h.n_signals,
                            h.is_multi_segment() ? " segments" : " signals", ", found only ", got));
  }
  if (h.is_multi_segment() && h.n_samples >= 0) {
    int64_t total = 0;
    for (const auto& s : h.segments) total += s.n_samples;
    CT_CHECK(total == h.n_samples, DataError, origin, ": segment lengths sum to ", total, " but the record line says ",
             h.n_samples, " samples");
  }
  return h;
}

std::string header_path(const std::string& record_path) {
  if (record_path.size() >= 4 && record_path.compare(record_path.size() - 4, 4, ".hea") == 0) return record_path;
  return record_path + ".hea";
}

std::string record_dir(const std::string& record_path) {
  const size_t slash = record_path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : record_path.substr(0, slash);
}

Header read_header(const std::string& record_path) {
  const std::string path = header_path(record_path);
  return parse_header(read_file(path), path);
}

namespace {
// Shortest %g text that reads back as exactly `v` (so format/parse round-trips).
std::string fmt_num(double v) {
  char buf[64];
  for (int prec : {12, 15, 17}) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}
}  // namespace

std::string format_header(const Header& h) {
  std::ostringstream os;
  os << h.record_name;
  if (h.is_multi_segment()) os << '/' << h.n_segments;
  os << ' ' << h.n_signals << ' ' << fmt_num(h.fs);
  if (h.counter_freq > 0) {
    os << '/' << fmt_num(h.counter_freq);
    if (h.base_counter_given) os << '(' << fmt_num(h.base_counter) << ')';
  }
  if (h.n_samples >= 0) {
    os << ' ' << h.n_samples;
    if (!h.base_time.empty()) {
      os << ' ' << h.base_time;
      if (!h.base_date.empty()) os << ' ' << h.base_date;
    }
  }
  os << "\n";
  if (h.is_multi_segment()) {
    for (const auto& s : h.segments) os << s.name << ' ' << s.n_samples << "\n";
  } else {
    for (const auto& s : h.signals) {
      os << s.file_name << ' ' << s.format;
      if (s.samples_per_frame != 1) os << 'x' << s.samples_per_frame;
      if (s.skew != 0) os << ':' << s.skew;
      if (s.byte_offset != 0) os << '+' << s.byte_offset;
      // Gain 0 marks an uncalibrated signal (read back as the default 200).
      os << ' ' << fmt_num(!s.gain_given && s.adc_gain == 200.0 ? 0.0 : s.adc_gain);
      if (s.baseline != s.adc_zero || s.baseline_given) os << '(' << s.baseline << ')';
      os << '/' << s.units;
      os << ' ' << (s.adc_resolution > 0 ? s.adc_resolution : format_default_resolution(s.format)) << ' ' << s.adc_zero
         << ' ' << s.initial_value << ' ' << s.checksum << ' ' << s.block_size;
      if (!s.description.empty()) os << ' ' << s.description;
      os << "\n";
    }
  }
  for (const auto& c : h.comments) os << "# " << c << "\n";
  return os.str();
}

}  // namespace cardiotorch::io::wfdb
