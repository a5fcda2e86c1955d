#include "cardiotorch/report/tensorboard.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "cardiotorch/core/error.h"

namespace cardiotorch::report {

// ------------------------------------------------------------------------------------- CRC

namespace {
const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> t = [] {
    std::array<uint32_t, 256> a{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      a[i] = c;
    }
    return a;
  }();
  return t;
}
}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  const auto& t = crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = t[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t c = crc32c(data, size);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

// ------------------------------------------------------------------------ protobuf encoding

namespace {

// Wire types.
enum : int { kVarint = 0, k64 = 1, kLen = 2, k32 = 5 };

void put_varint(std::string& s, uint64_t v) {
  while (v >= 0x80) {
    s.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
}
void put_key(std::string& s, int field, int wire) {
  put_varint(s, static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire));
}
template <class T>
void put_le(std::string& s, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // the wire format is little-endian, as x86/ARM are
  s.append(b, sizeof(T));
}
void put_double(std::string& s, int field, double v) {
  put_key(s, field, k64);
  put_le(s, v);
}
void put_float(std::string& s, int field, float v) {
  put_key(s, field, k32);
  put_le(s, v);
}
void put_int(std::string& s, int field, int64_t v) {
  put_key(s, field, kVarint);
  put_varint(s, static_cast<uint64_t>(v));  // int64: two's complement as 10-byte varint
}
void put_bytes(std::string& s, int field, const std::string& bytes) {
  put_key(s, field, kLen);
  put_varint(s, bytes.size());
  s += bytes;
}
void put_packed_doubles(std::string& s, int field, const std::vector<double>& v) {
  std::string b;
  for (double d : v) put_le(b, d);
  put_bytes(s, field, b);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Event{wall_time = 1, step = 2, file_version = 3, summary = 5}
std::string event(double wall_time, int64_t step, const std::string& summary) {
  std::string e;
  put_double(e, 1, wall_time < 0 ? now_seconds() : wall_time);
  put_int(e, 2, step);
  put_bytes(e, 5, summary);
  return e;
}

// Summary{repeated Value value = 1}
std::string summary_of(const std::vector<std::string>& values) {
  std::string s;
  for (const auto& v : values) put_bytes(s, 1, v);
  return s;
}

}  // namespace

// -------------------------------------------------------------------------------- writer

TensorBoardWriter::TensorBoardWriter(const std::string& log_dir, TensorBoardOptions options)
    : options_(std::move(options)) {
  CT_CHECK(options_.histogram_bins >= 1, ConfigError, "tensorboard: histogram_bins must be >= 1, got ",
           options_.histogram_bins);
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  CT_CHECK(!ec, Error, log_dir, ": cannot create the TensorBoard log directory: ", ec.message());
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  static std::atomic<int> counter{0};
  path_ = (std::filesystem::path(log_dir) / str_cat("events.out.tfevents.", static_cast<int64_t>(now_seconds()), ".",
                                                    host, ".", getpid(), ".", counter++, options_.filename_suffix))
              .string();
  out_.open(path_, std::ios::binary | std::ios::trunc);
  CT_CHECK(out_.good(), Error, path_, ": cannot open the TensorBoard event file for writing");
  std::string first;
  put_double(first, 1, now_seconds());
  put_bytes(first, 3, "brain.Event:2");
  write_event(first);
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  if (out_.is_open()) out_.flush();
}

void TensorBoardWriter::write_event(const std::string& e) {
  std::string rec;
  const uint64_t n = e.size();
  put_le(rec, n);
  put_le(rec, masked_crc32c(rec.data(), 8));
  rec += e;
  put_le(rec, masked_crc32c(e.data(), e.size()));
  out_.write(rec.data(), static_cast<std::streamsize>(rec.size()));
  CT_CHECK(out_.good(), Error, path_, ": write failed");
}

void TensorBoardWriter::flush() {
  out_.flush();
  CT_CHECK(out_.good(), Error, path_, ": flush failed");
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step, double wall_time) {
  add_scalars({{tag, value}}, step, "", wall_time);
}

void TensorBoardWriter::add_scalars(const std::map<std::string, double>& values, int64_t step,
                                    const std::string& prefix, double wall_time) {
  if (values.empty()) return;
  std::vector<std::string> vs;
  for (const auto& [tag, v] : values) {
    std::string value;  // Summary.Value{tag = 1, simple_value = 2}
    put_bytes(value, 1, prefix.empty() ? tag : prefix + "/" + tag);
    put_float(value, 2, static_cast<float>(v));
    vs.push_back(std::move(value));
  }
  write_event(event(wall_time, step, summary_of(vs)));
  flush();
}

void TensorBoardWriter::add_histogram(const std::string& tag, const std::vector<double>& values, int64_t step,
                                      double wall_time) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, num = 0, sum = 0, sum2 = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    ++num;
    sum += v;
    sum2 += v * v;
  }
  if (num == 0) return;
  // Bucket i holds (limit[i-1], limit[i]]; the first also holds the minimum.
  const int nb = hi > lo ? options_.histogram_bins : 1;
  std::vector<double> limits(static_cast<size_t>(nb)), counts(static_cast<size_t>(nb), 0.0);
  for (int b = 0; b < nb; ++b) limits[static_cast<size_t>(b)] = b + 1 == nb ? hi : lo + (hi - lo) * (b + 1) / nb;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    const auto it = std::lower_bound(limits.begin(), limits.end(), v);
    ++counts[static_cast<size_t>(std::min<std::ptrdiff_t>(it - limits.begin(), nb - 1))];
  }
  std::string h;  // HistogramProto{min 1, max 2, num 3, sum 4, sum_squares 5, bucket_limit 6, bucket 7}
  put_double(h, 1, lo);
  put_double(h, 2, hi);
  put_double(h, 3, num);
  put_double(h, 4, sum);
  put_double(h, 5, sum2);
  put_packed_doubles(h, 6, limits);
  put_packed_doubles(h, 7, counts);
  std::string value;  // Summary.Value{tag = 1, histo = 5}
  put_bytes(value, 1, tag);
  put_bytes(value, 5, h);
  write_event(event(wall_time, step, summary_of({value})));
  flush();
}

void TensorBoardWriter::add_text(const std::string& tag, const std::string& text, int64_t step, double wall_time) {
  std::string plugin;  // PluginData{plugin_name = 1}
  put_bytes(plugin, 1, "text");
  std::string meta;  // SummaryMetadata{plugin_data = 1}
  put_bytes(meta, 1, plugin);
  std::string tensor;  // TensorProto{dtype = 1 (DT_STRING = 7), tensor_shape = 2 (scalar), string_val = 8}
  put_int(tensor, 1, 7);
  put_bytes(tensor, 2, "");
  put_bytes(tensor, 8, text);
  std::string value;  // Summary.Value{tag = 1, tensor = 8, metadata = 9}
  put_bytes(value, 1, tag);
  put_bytes(value, 8, tensor);
  put_bytes(value, 9, meta);
  write_event(event(wall_time, step, summary_of({value})));
  flush();
}

// ------------------------------------------------------------------------------- reading

namespace {

class Reader {
 public:
  Reader(const char* p, size_t n, std::string where) : p_(p), end_(p + n), where_(std::move(where)) {}
  bool done() const { return p_ >= end_; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      need(1);
      const auto b = static_cast<unsigned char>(*p_++);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    throw DataError(where_ + ": malformed varint");
  }
  template <class T>
  T fixed() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  std::string bytes() {
    const uint64_t n = varint();
    need(n);
    std::string s(p_, static_cast<size_t>(n));
    p_ += n;
    return s;
  }
  void skip(int wire) {
    switch (wire) {
      case kVarint: varint(); break;
      case k64: fixed<uint64_t>(); break;
      case kLen: bytes(); break;
      case k32: fixed<uint32_t>(); break;
      default: throw DataError(str_cat(where_, ": unsupported protobuf wire type ", wire));
    }
  }
  const std::string& where() const { return where_; }

 private:
  void need(uint64_t n) const {
    if (static_cast<uint64_t>(end_ - p_) < n) throw DataError(where_ + ": truncated protobuf message");
  }
  const char* p_;
  const char* end_;
  std::string where_;
};

std::vector<double> packed_doubles(const std::string& b, const std::string& where) {
  CT_CHECK(b.size() % 8 == 0, DataError, where, ": packed doubles of ", b.size(), " bytes");
  std::vector<double> v(b.size() / 8);
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

TbHistogram parse_histogram(const std::string& b, const std::string& where) {
  TbHistogram h;
  Reader r(b.data(), b.size(), where);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const int f = static_cast<int>(key >> 3), w = static_cast<int>(key & 7);
    if (f >= 1 && f <= 5 && w == k64) {
      const double d = r.fixed<double>();
      (f == 1 ? h.min : f == 2 ? h.max : f == 3 ? h.num : f == 4 ? h.sum : h.sum_squares) = d;
    } else if ((f == 6 || f == 7) && w == kLen) {
      (f == 6 ? h.bucket_limit : h.bucket) = packed_doubles(r.bytes(), where);
    } else if ((f == 6 || f == 7) && w == k64) {  // unpacked repeated doubles
      (f == 6 ? h.bucket_limit : h.bucket).push_back(r.fixed<double>());
    } else {
      r.skip(w);
    }
  }
  return h;
}

TbValue parse_value(const std::string& b, const std::string& where) {
  TbValue v;
  Reader r(b.data(), b.size(), where);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const int f = static_cast<int>(key >> 3), w = static_cast<int>(key & 7);
    if (f == 1 && w == kLen) {
      v.tag = r.bytes();
    } else if (f == 2 && w == k32) {
      v.scalar = r.fixed<float>();
      v.kind = TbValue::Kind::kScalar;
    } else if (f == 5 && w == kLen) {
      v.histogram = parse_histogram(r.bytes(), where);
      v.kind = TbValue::Kind::kHistogram;
    } else if (f == 8 && w == kLen) {  // TensorProto: take string_val (8)
      const std::string t = r.bytes();
      Reader tr(t.data(), t.size(), where);
      while (!tr.done()) {
        const uint64_t k = tr.varint();
        if ((k >> 3) == 8 && (k & 7) == kLen) {
          v.text = tr.bytes();
          v.kind = TbValue::Kind::kText;
        } else {
          tr.skip(static_cast<int>(k & 7));
        }
      }
    } else if (f == 9 && w == kLen) {  // SummaryMetadata.plugin_data.plugin_name
      const std::string m = r.bytes();
      Reader mr(m.data(), m.size(), where);
      while (!mr.done()) {
        const uint64_t k = mr.varint();
        if ((k >> 3) == 1 && (k & 7) == kLen) {
          const std::string pd = mr.bytes();
          Reader pr(pd.data(), pd.size(), where);
          while (!pr.done()) {
            const uint64_t pk = pr.varint();
            if ((pk >> 3) == 1 && (pk & 7) == kLen) v.plugin = pr.bytes();
            else pr.skip(static_cast<int>(pk & 7));
          }
        } else {
          mr.skip(static_cast<int>(k & 7));
        }
      }
    } else {
      r.skip(w);
    }
  }
  return v;
}

TbEvent parse_event(const std::string& b, const std::string& where) {
  TbEvent e;
  Reader r(b.data(), b.size(), where);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const int f = static_cast<int>(key >> 3), w = static_cast<int>(key & 7);
    if (f == 1 && w == k64) {
      e.wall_time = r.fixed<double>();
    } else if (f == 2 && w == kVarint) {
      e.step = static_cast<int64_t>(r.varint());
    } else if (f == 3 && w == kLen) {
      e.file_version = r.bytes();
    } else if (f == 5 && w == kLen) {
      const std::string s = r.bytes();
      Reader sr(s.data(), s.size(), where);
      while (!sr.done()) {
        const uint64_t k = sr.varint();
        if ((k >> 3) == 1 && (k & 7) == kLen) e.values.push_back(parse_value(sr.bytes(), where));
        else sr.skip(static_cast<int>(k & 7));
      }
    } else {
      r.skip(w);
    }
  }
  return e;
}

}  // namespace

std::vector<TbEvent> read_tensorboard_events(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  CT_CHECK(f.good(), DataError, path, ": cannot open the event file");
  const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<TbEvent> out;
  size_t pos = 0;
  while (pos < data.size()) {
    const std::string at = str_cat(path, ": record at byte ", pos);
    CT_CHECK(data.size() - pos >= 12, DataError, at, ": truncated header");
    uint64_t n;
    uint32_t len_crc;
    std::memcpy(&n, data.data() + pos, 8);
    std::memcpy(&len_crc, data.data() + pos + 8, 4);
    CT_CHECK(len_crc == masked_crc32c(data.data() + pos, 8), DataError, at, ": length CRC mismatch (corrupt file)");
    CT_CHECK(n <= data.size() - pos - 12 && data.size() - pos - 12 - n >= 4, DataError, at, ": truncated payload (", n,
             " bytes announced)");
    const char* payload = data.data() + pos + 12;
    uint32_t data_crc;
    std::memcpy(&data_crc, payload + n, 4);
    CT_CHECK(data_crc == masked_crc32c(payload, static_cast<size_t>(n)), DataError, at,
             ": payload CRC mismatch (corrupt file)");
    out.push_back(parse_event(std::string(payload, static_cast<size_t>(n)), at));
    pos += 12 + static_cast<size_t>(n) + 4;
  }
  return out;
}

}  // namespace cardiotorch::report
