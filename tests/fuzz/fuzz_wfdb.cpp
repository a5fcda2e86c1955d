// libFuzzer target for the torch-free WFDB parsers: the first input byte picks the parser
// (header text, annotation bytes, or signal bytes for a header-chosen format), the rest is
// the input. Any exception other than cardiotorch::Error is a bug, as is any sanitizer report.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/annotation.h"
#include "cardiotorch/io/wfdb.h"

namespace wf = cardiotorch::io::wfdb;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 3;
  const uint8_t* p = data + 1;
  const size_t n = size - 1;
  try {
    if (mode == 0) {
      const wf::Header h = wf::parse_header(std::string(reinterpret_cast<const char*>(p), n), "fuzz.hea");
      // Formatting and re-parsing a parsed header must succeed and keep the signal count.
      try {
        const wf::Header r = wf::parse_header(wf::format_header(h), "fuzz-roundtrip.hea");
        if (r.signals.size() != h.signals.size() || r.segments.size() != h.segments.size()) __builtin_trap();
      } catch (const cardiotorch::Error& e) {
        std::fprintf(stderr, "round-trip failed: %s\n", e.what());
        __builtin_trap();
      }
    } else if (mode == 1) {
      const auto set = cardiotorch::io::parse_annotations(p, n, "fuzz.atr");
      std::vector<uint8_t> bytes;
      try {
        bytes = cardiotorch::io::encode_annotations(set.annotations, set.definitions, set.time_resolution);
      } catch (const cardiotorch::ConfigError&) {
        return 0;  // parsed fields the writer refuses (e.g. code 0, aux > 255 bytes)
      }
      try {
        const auto back = cardiotorch::io::parse_annotations(bytes.data(), bytes.size(), "fuzz-roundtrip.atr");
        if (back.annotations.size() != set.annotations.size()) {
          std::fprintf(stderr, "annotation round-trip: %zu -> %zu\n", set.annotations.size(), back.annotations.size());
          __builtin_trap();
        }
      } catch (const cardiotorch::Error& e) {
        std::fprintf(stderr, "annotation round-trip failed: %s\n", e.what());
        __builtin_trap();
      }
    } else if (n >= 2) {
      static const int formats[] = {8, 16, 24, 32, 61, 80, 160, 212, 310, 311};
      std::vector<wf::SignalSpec> specs(1 + p[0] % 3);
      for (auto& s : specs) {
        s.format = formats[p[1] % 10];
        s.samples_per_frame = 1 + (p[0] >> 4) % 3;
      }
      std::vector<std::vector<int32_t>> out;
      // Ask for one frame more than fits half of the time: must be a DataError, not a read past the end.
      const int64_t frames = static_cast<int64_t>(n) / 2 + (p[0] & 1);
      wf::decode_buffer(p + 2, n - 2, specs, frames % 64, out, "fuzz.dat");
    }
  } catch (const cardiotorch::Error&) {
  }
  return 0;
}
