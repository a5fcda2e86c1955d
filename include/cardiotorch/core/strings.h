#pragma once
// Small string utilities shared across the library (suggestions, splitting, trimming).
#include <string>
#include <vector>

namespace cardiotorch {

/// Levenshtein distance (used for "did you mean" suggestions).
size_t edit_distance(const std::string& a, const std::string& b);

/// The candidate nearest to `name`, or "" if none is plausibly a typo of it.
std::string nearest_match(const std::string& name, const std::vector<std::string>& candidates);

/// " (did you mean 'x'?)" or "" — ready to append to an error message.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

/// "unknown <what> '<name>' (did you mean '<x>'?); available: a, b, c" — the one wording of an
/// unknown-name error: registry entries and categories, pipeline steps, CLI commands.
std::string unknown_name_message(const std::string& what, const std::string& name,
                                 const std::vector<std::string>& available);

/// "a, b, c"
std::string join(const std::vector<std::string>& parts, const std::string& sep = ", ");

std::vector<std::string> split(const std::string& s, char sep, bool keep_empty = true);
std::string trim(const std::string& s);
std::string to_lower(std::string s);
bool starts_with(const std::string& s, const std::string& prefix);
bool ends_with(const std::string& s, const std::string& suffix);
/// "%.*f" of v ("0.25" for (0.25, 2)); `non_finite` for NaN and infinities.
std::string format_fixed(double v, int digits, const std::string& non_finite = "n/a");

}  // namespace cardiotorch
