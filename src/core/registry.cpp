#include "cardiotorch/core/registry.h"

namespace cardiotorch {

std::map<std::string, const RegistryBase*>& all_registries() {
  static std::map<std::string, const RegistryBase*> registries;
  return registries;
}

void RegistryBase::require(const std::string& name, const std::string& where) const {
  const std::vector<std::string> all = names();
  for (const auto& n : all)
    if (n == name) return;
  throw ConfigError((where.empty() ? "" : where + ": ") + unknown_name_message(category(), name, all));
}

const RegistryBase& registry_of(const std::string& category) {
  auto& all = all_registries();
  auto it = all.find(category);
  if (it == all.end()) {
    std::vector<std::string> names;
    for (const auto& kv : all) names.push_back(kv.first);
    throw ConfigError(unknown_name_message("registry category", category, names));
  }
  return *it->second;
}

}  // namespace cardiotorch
