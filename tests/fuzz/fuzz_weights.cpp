// libFuzzer target for the torch-free checkpoint parsers: every input goes through the restricted
// pickle VM (then the tree walks `weights inspect` uses), the safetensors header parser (then a
// format/parse round trip) and, when it is a zip archive, the VM on its data.pkl. Any exception
// other than cardiotorch::Error is a bug, as is any sanitizer report or an unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "cardiotorch/core/error.h"
#include "cardiotorch/weights/pickle.h"
#include "cardiotorch/weights/pytree.h"
#include "cardiotorch/weights/safetensors_format.h"
#include "io/zip.h"

namespace cw = cardiotorch::weights;

namespace {

void walk_pickle(const char* data, size_t size) {
  cw::pickle::Limits limits;
  limits.max_memory = uint64_t{64} << 20;  // under libFuzzer's default 2 GiB RSS limit with room to spare
  try {
    cw::PyTree tree;
    const size_t used = cw::pickle::unpickle(data, size, tree, "fuzz.pkl", limits);
    if (used > size) __builtin_trap();
    (void)cw::format_tree(tree.root);
    (void)cw::tree_stats(tree.root);
    (void)cw::find_path(tree.root, "state_dict.model.weight");
    for (const cw::PyNode* t : tree.tensors()) (void)t->tensor_summary();
  } catch (const cardiotorch::Error&) {
  }
}

void walk_safetensors(const std::string& bytes) {
  try {
    const uint64_t n = cw::safetensors::header_length(bytes.data(), bytes.size(), "fuzz.safetensors");
    const auto h = cw::safetensors::parse_header(bytes.data() + 8, n, bytes.size(), "fuzz.safetensors");
    const uint64_t data_len = bytes.size() - h.data_start;
    // What we parsed, formatted and parsed again, must describe the same tensors.
    const std::string again = cw::safetensors::format_header(h.tensors, h.metadata);
    const uint64_t n2 = cw::safetensors::header_length(again.data(), again.size() + data_len, "again");
    const auto h2 = cw::safetensors::parse_header(again.data() + 8, n2, again.size() + data_len, "again");
    if (h2.tensors.size() != h.tensors.size()) {
      std::fprintf(stderr, "safetensors round trip: %zu -> %zu tensors\n", h.tensors.size(), h2.tensors.size());
      __builtin_trap();
    }
  } catch (const cardiotorch::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  walk_pickle(bytes.data(), bytes.size());
  walk_safetensors(bytes);
  try {
    for (const auto& m : cardiotorch::io::zip::list(bytes, "fuzz.pt")) {
      if (m.name.size() < 8 || m.name.compare(m.name.size() - 8, 8, "data.pkl") != 0) continue;
      const std::string pkl = cardiotorch::io::zip::extract(bytes, m, "fuzz.pt");
      walk_pickle(pkl.data(), pkl.size());
    }
  } catch (const cardiotorch::Error&) {
  }
  return 0;
}
