#pragma once
// Shared pieces of the record readers (internal).
#include <map>
#include <string>
#include <vector>

namespace cardiotorch::io {

/// I II III aVR aVL aVF V1..V6.
const std::vector<std::string>& standard_12_leads();

/// Canonical spelling of common voltage units ("mv" -> "mV", "uv"/"µV" -> "uV"); others unchanged.
std::string normalize_units(const std::string& units);

/// "Age: 78" / "Sex: Male" / "Dx: 426783006" comments -> meta["age"], meta["sex"], meta["dx"]
/// (lower-case keys; existing keys are kept).
void meta_from_comments(const std::vector<std::string>& comments, std::map<std::string, std::string>& meta);

}  // namespace cardiotorch::io

namespace cardiotorch::io {

/// Resolves channel selectors (an index "0", or a name matched against `names` exactly, then
/// by normalised lead name, then case-insensitively; `aliases` are alternative names per
/// channel, e.g. raw file labels) into indices. Empty `selectors` = all channels in order.
/// ConfigError naming `origin` for unknown names (with a suggestion) or out-of-range indices.
std::vector<int> resolve_channels(const std::vector<std::string>& selectors, const std::vector<std::string>& names,
                                  const std::string& origin, const std::vector<std::string>& aliases = {});

}  // namespace cardiotorch::io
