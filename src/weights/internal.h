#pragma once
// Helpers shared by the weights sources (not installed).
#include <nlohmann/json.hpp>

#include <functional>
#include <iosfwd>
#include <string>

#include "cardiotorch/weights/pytree.h"

namespace cardiotorch::weights::detail {

/// A JSON value as a Python value tree (objects -> dicts, arrays -> lists). DataError beyond
/// `max_depth` levels.
PyNode* json_to_tree(PyTree& tree, const nlohmann::json& j, const std::string& origin, size_t max_depth = 256);

/// Parses JSON text; DataError naming `origin` when it is not JSON.
nlohmann::json parse_json(const std::string& text, const std::string& origin);

/// Writes `path` atomically: `write` fills a temporary file next to it, which then replaces
/// `path` by rename, so a crash never leaves a half-written checkpoint under the real name.
void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

/// Reverses the byte order of every `itemsize`-byte element (complex: of each half).
void swap_bytes(void* data, uint64_t nbytes, size_t itemsize, bool complex);

}  // namespace cardiotorch::weights::detail
