// WFDB writer: format 16 / 212 signal file plus header. Torch-free.
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/wfdb.h"

namespace cardiotorch::io::wfdb {

Header write_record(const std::string& dir, Header h, const std::vector<std::vector<int32_t>>& samples,
                    const WriteOptions& options) {
  const int fmt = options.format;
  CT_CHECK(fmt == 16 || fmt == 212, ArgumentError, "wfdb write: format must be 16 or 212, got ", fmt);
  CT_CHECK(!h.record_name.empty() && h.record_name.find('/') == std::string::npos &&
               h.record_name.find(' ') == std::string::npos,
           ArgumentError, "wfdb write: invalid record name '", h.record_name, "'");
  CT_CHECK(!h.is_multi_segment(), ArgumentError, "wfdb write: multi-segment records cannot be written");
  CT_CHECK(h.signals.size() == samples.size(), ArgumentError, "wfdb write ", h.record_name, ": header has ",
           h.signals.size(), " signals but ", samples.size(), " sample rows were given");
  CT_CHECK(h.fs > 0, ArgumentError, "wfdb write ", h.record_name, ": fs must be > 0, got ", h.fs);
  const size_t nsig = samples.size();
  const size_t n = nsig ? samples[0].size() : 0;
  for (size_t c = 0; c < nsig; ++c)
    CT_CHECK(samples[c].size() == n, ArgumentError, "wfdb write ", h.record_name, ": signal ", c, " has ",
             samples[c].size(), " samples, signal 0 has ", n);
  const int32_t lo = fmt == 16 ? -32768 : -2048, hi = fmt == 16 ? 32767 : 2047;
  const int32_t sentinel = format_invalid_value(fmt);

  // Stored values (the invalid marker becomes the format's sentinel), interleaved by frame.
  std::vector<int32_t> stream(n * nsig);
  for (size_t c = 0; c < nsig; ++c) {
    SignalSpec& s = h.signals[c];
    int64_t sum = 0;
    for (size_t i = 0; i < n; ++i) {
      int32_t v = samples[c][i];
      if (v == kInvalidSample) v = sentinel;
      CT_CHECK(v >= lo && v <= hi, DataError, "wfdb write ", h.record_name, ": signal ", c, " ('", s.description,
               "') sample ", i, " = ", v, " does not fit format ", fmt, " [", lo, ", ", hi, "]");
      stream[i * nsig + c] = v;
      sum += v;
    }
    s.file_name = h.record_name + ".dat";
    s.format = fmt;
    s.samples_per_frame = 1;
    s.skew = 0;
    s.byte_offset = 0;
    const int bits = fmt == 16 ? 16 : 12;
    if (s.adc_resolution <= 0 || s.adc_resolution > bits) s.adc_resolution = bits;
    s.initial_value = n ? stream[c] : s.adc_zero;
    s.initial_value_given = true;
    s.checksum = static_cast<int16_t>(static_cast<uint16_t>(static_cast<uint64_t>(sum) & 0xFFFFu));
    s.checksum_given = true;
    s.block_size = 0;
    s.block_size_given = true;
    s.units_given = true;
    if (!s.baseline_given && s.baseline != s.adc_zero) s.baseline_given = true;
    CT_CHECK(s.description.find('\n') == std::string::npos && s.units.find_first_of(" \t\n") == std::string::npos,
             ArgumentError, "wfdb write ", h.record_name, ": signal ", c,
             " has a name/units with line breaks or spaces");
  }
  h.n_signals = static_cast<int>(nsig);
  h.n_samples = static_cast<int64_t>(n);
  for (const auto& c : h.comments)
    CT_CHECK(c.find('\n') == std::string::npos, ArgumentError, "wfdb write ", h.record_name,
             ": comments may not contain line breaks");

  std::vector<uint8_t> bytes;
  const size_t ns = stream.size();
  if (fmt == 16) {
    bytes.resize(ns * 2);
    for (size_t i = 0; i < ns; ++i) {
      const uint16_t u = static_cast<uint16_t>(stream[i]);
      bytes[2 * i] = static_cast<uint8_t>(u & 0xFF);
      bytes[2 * i + 1] = static_cast<uint8_t>(u >> 8);
    }
  } else {
    bytes.resize((ns / 2) * 3 + (ns % 2 ? 2 : 0));
    size_t i = 0, o = 0;
    for (; i + 1 < ns; i += 2, o += 3) {
      const uint32_t a = static_cast<uint32_t>(stream[i]) & 0xFFF, b = static_cast<uint32_t>(stream[i + 1]) & 0xFFF;
      bytes[o] = static_cast<uint8_t>(a & 0xFF);
      bytes[o + 1] = static_cast<uint8_t>(((a >> 8) & 0x0F) | ((b >> 4) & 0xF0));
      bytes[o + 2] = static_cast<uint8_t>(b & 0xFF);
    }
    if (i < ns) {
      const uint32_t a = static_cast<uint32_t>(stream[i]) & 0xFFF;
      bytes[o] = static_cast<uint8_t>(a & 0xFF);
      bytes[o + 1] = static_cast<uint8_t>((a >> 8) & 0x0F);
    }
  }
  const std::string base = dir + "/" + h.record_name;
  {
    std::ofstream f(base + ".dat", std::ios::binary | std::ios::trunc);
    CT_CHECK(f.good(), IoError, base, ".dat: cannot create");
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    CT_CHECK(f.good(), IoError, base, ".dat: write failed");
  }
  {
    std::ofstream f(base + ".hea", std::ios::binary | std::ios::trunc);
    CT_CHECK(f.good(), IoError, base, ".hea: cannot create");
    f << format_header(h);
    CT_CHECK(f.good(), IoError, base, ".hea: write failed");
  }
  h.origin = base + ".hea";
  return h;
}

}  // namespace cardiotorch::io::wfdb
