// libFuzzer target for the torch-free parsers of the 'formats' area: the .npy header and the
// .npz (zip) container. Any input must either parse or throw cardiotorch::Error, never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/npy_format.h"
#include "io/zip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto h = cardiotorch::io::parse_npy_header(bytes.data(), bytes.size(), "fuzz.npy");
    (void)cardiotorch::io::format_npy_header(h);
  } catch (const cardiotorch::Error&) {
  }
  try {
    for (const auto& m : cardiotorch::io::zip::list(bytes, "fuzz.npz")) {
      if (m.method == 0 && m.size > (1u << 24)) continue;  // stored members are bounded by the input anyway
      try {
        (void)cardiotorch::io::zip::extract(bytes, m, "fuzz.npz");
      } catch (const cardiotorch::Error&) {
      }
    }
  } catch (const cardiotorch::Error&) {
  }
  return 0;
}
