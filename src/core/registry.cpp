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

namespace cardiotorch {

ConfigNode RegistryBase::resolve(const ConfigNode& node) const { return resolve(ConfigNode(), node); }

ConfigNode RegistryBase::resolve(const ConfigNode& base, const ConfigNode& node) const {
  std::string name;
  ConfigNode user;  // the options the node gives (null for a bare name)
  if (node.is_scalar()) {
    name = node.as_string();
    require(name, node.where());
  } else {
    CT_CHECK(node.is_map(), ConfigError, node.where(), ": expected a ", category(),
             " as {name: ..., options} or a bare name; ", category(), "s: ", join(names()));
    user = node;
    if (node.has("name")) {
      name = node["name"].as_string();
      require(name, node["name"].where());
    } else {
      CT_CHECK(!base.is_null(), ConfigError, node.where(), ": missing 'name' (a ", category(), "; one of ",
               join(names()), ")");
      name = base["name"].as_string();
    }
  }
  const bool refines = !base.is_null() && base.has("name") && base["name"].as_string() == name;
  const OptionsSchema& s = schema(name);
  ConfigNode out = ConfigNode::map();
  out.set("name", ConfigNode::string(name));
  if (!s) {  // no schema: keep what was given (checked when the entry is built)
    if (refines) out.merge(base);
    if (!user.is_null()) out.merge(user);
    out.set("name", ConfigNode::string(name));
    return out;
  }
  std::vector<ConfigNode> layers;
  if (refines) layers.push_back(base);
  if (!user.is_null()) layers.push_back(user);
  const ConfigNode resolved = s.resolve(layers);
  for (const auto& k : resolved.keys()) out.set(k, resolved[k]);
  return out;
}

std::vector<std::string> RegistryBase::describe(const std::string& name) const {
  require(name);
  const OptionsSchema& s = schema(name);
  if (!s) return {"(this entry has no options schema; its options are checked when it is built)"};
  return s.describe();
}

ConfigNode resolve_component(const std::string& category, const ConfigNode& base, const ConfigNode& node) {
  return registry_of(category).resolve(base, node);
}

}  // namespace cardiotorch
