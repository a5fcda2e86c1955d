#pragma once
// Registries: name -> factory(ConfigNode). One generic mechanism for every extension point
// (preprocessors, augmenters, datasets, and later backbones, models, objectives, optimizers...).
//
// Registration is one line next to the implementation:
//
//   CT_REGISTER(preprocessor_registry(), "bandpass", make_bandpass, "zero-phase band-pass filter");
//
// The registry object lives in a function-local static (no init-order problems) and the
// library is shared, so the linker keeps every registrar. A duplicate name aborts at load
// time naming both sites; an unknown name throws ConfigError listing the valid names and
// the nearest match.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch {

/// Type-erased view of a registry, for `cardiotorch list` and tests.
class RegistryBase {
 public:
  virtual ~RegistryBase() = default;
  virtual const std::string& category() const = 0;
  virtual const std::string& description() const = 0;
  virtual std::vector<std::string> names() const = 0;
  virtual std::string help(const std::string& name) const = 0;
  /// Throws ConfigError "<where>: unknown <category> 'x' (did you mean 'y'?); available: ..."
  /// unless `name` is registered (the wording is unknown_name_message's, shared by every unknown name).
  void require(const std::string& name, const std::string& where = "") const;
};

/// Every registry, by category name ("preprocessor", "augmenter", ...).
std::map<std::string, const RegistryBase*>& all_registries();
/// The registry of a category; throws ConfigError with suggestions for an unknown category.
const RegistryBase& registry_of(const std::string& category);

template <class Product>
class Registry final : public RegistryBase {
 public:
  using Factory = std::function<std::shared_ptr<Product>(const ConfigNode&)>;

  Registry(std::string category, std::string description)
      : category_(std::move(category)), description_(std::move(description)) {
    all_registries()[category_] = this;
  }

  /// Returns true so it can initialise a static; aborts on a duplicate name.
  bool add(const std::string& name, Factory factory, std::string help, const char* file, int line) {
    auto it = entries_.find(name);
    if (it != entries_.end()) {
      std::fprintf(stderr, "cardiotorch: %s '%s' registered twice: %s and %s:%d\n", category_.c_str(),
                   name.c_str(), it->second.where.c_str(), file, line);
      std::abort();
    }
    entries_[name] = Entry{std::move(factory), std::move(help), str_cat(file, ":", line)};
    return true;
  }

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }

  /// Builds the entry named by node["name"].
  std::shared_ptr<Product> build(const ConfigNode& node) const {
    CT_CHECK(node.is_map(), ConfigError, node.where(), ": expected a mapping with a 'name' key (a ", category_,
             ")");
    CT_CHECK(node.has("name"), ConfigError, node.where(), ": missing 'name' (a ", category_, "; one of ",
             join(names()), ")");
    return build(node["name"].as_string(), node);
  }

  /// Builds `name` with options from `node` (a mapping, or null for defaults).
  std::shared_ptr<Product> build(const std::string& name, const ConfigNode& node) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) require(name, node.has("name") ? node["name"].where() : node.where());
    return it->second.factory(node);
  }

  const std::string& category() const override { return category_; }
  const std::string& description() const override { return description_; }
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& kv : entries_) out.push_back(kv.first);
    return out;
  }
  std::string help(const std::string& name) const override {
    auto it = entries_.find(name);
    return it == entries_.end() ? std::string() : it->second.help;
  }

 private:
  struct Entry {
    Factory factory;
    std::string help;
    std::string where;
  };
  std::string category_;
  std::string description_;
  std::map<std::string, Entry> entries_;
};

/// Factory helper: builds T from Options read out of the node (unknown keys rejected).
template <class T, class Options>
std::shared_ptr<T> make_from_options(const ConfigNode& node) {
  return std::make_shared<T>(from_config<Options>(node));
}

/// Factory helper: reads Options from the node (unknown keys rejected) and calls make(options).
template <class Product, class Options, class Make>
typename Registry<Product>::Factory options_factory(Make make) {
  return [make](const ConfigNode& node) -> std::shared_ptr<Product> { return make(from_config<Options>(node)); };
}

}  // namespace cardiotorch

#define CT_CONCAT_INNER(a, b) a##b
#define CT_CONCAT(a, b) CT_CONCAT_INNER(a, b)
/// Registers FACTORY under NAME in REGISTRY (an expression returning a Registry&).
#define CT_REGISTER(REGISTRY, NAME, FACTORY, HELP)                                        \
  namespace {                                                                            \
  [[maybe_unused]] const bool CT_CONCAT(ct_registered_, __COUNTER__) =                    \
      (REGISTRY).add((NAME), (FACTORY), (HELP), __FILE__, __LINE__);                     \
  }
