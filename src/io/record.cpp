#include "cardiotorch/io/record.h"

#include "cardiotorch/core/strings.h"

namespace cardiotorch::io {

std::string normalize_lead_name(const std::string& raw) {
  const std::string t = trim(raw);
  const std::string l = to_lower(t);
  static const char* standard[] = {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};
  for (const char* s : standard)
    if (l == to_lower(s)) return s;
  if (l == "lead i") return "I";
  if (l == "lead ii") return "II";
  if (l == "lead iii") return "III";
  return t;
}

}  // namespace cardiotorch::io
