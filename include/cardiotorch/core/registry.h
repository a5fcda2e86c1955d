#pragma once
// Registries: name -> factory(ConfigNode, build context). One generic mechanism for every
// extension point (preprocessors, augmenters, datasets, backbones, models, objectives,
// optimizers, schedulers, ...).
//
// Registration is one line next to the implementation:
//
//   CT_REGISTER(preprocessor_registry(), "bandpass", (make_from_options<Bandpass, BandpassOptions>),
//               "zero-phase band-pass filter");
//
// A registry may carry a build context: what a factory needs besides its options (a backbone
// its input channels and sampling rate, a head the class count, an optimizer its parameters):
//
//   Registry<BackboneImpl, ModelContext>& backbone_registry();
//   CT_REGISTER(backbone_registry(), "resnet18",
//               (options_factory<BackboneImpl, ResNetOptions>(make_resnet, ResNetOptions::resnet18())),
//               "ResNet-18 (1-D)");
//
// Entries made with make_from_options / options_factory also carry their options schema, so
// configs are validated (unknown keys with key paths, types, validate()) and shown with every
// default filled in without building anything: `cardiotorch list`, `config show` and the
// validation of a whole experiment never allocate weights or index files.
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
#include <type_traits>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch {

/// The build context of registries whose factories need only their options.
struct NoContext {};

/// What an entry knows about its options without building anything.
struct OptionsSchema {
  /// Applies the layers in order over the entry's defaults (a preset's own values first),
  /// validates (unknown keys with key paths, types, validate()) and returns every option.
  std::function<ConfigNode(const std::vector<ConfigNode>& layers)> resolve;
  /// One line per option: "key = default  # help" (nested options indented).
  std::function<std::vector<std::string>()> describe;
  explicit operator bool() const { return static_cast<bool>(resolve); }
};

/// Type-erased view of a registry, for `cardiotorch list`, config validation and tests.
class RegistryBase {
 public:
  virtual ~RegistryBase() = default;
  virtual const std::string& category() const = 0;
  virtual const std::string& description() const = 0;
  virtual std::vector<std::string> names() const = 0;
  virtual std::string help(const std::string& name) const = 0;
  /// The entry's options schema (empty when the entry was registered without one).
  virtual const OptionsSchema& schema(const std::string& name) const = 0;
  /// Throws ConfigError "<where>: unknown <category> 'x' (did you mean 'y'?); available: ..."
  /// unless `name` is registered (the wording is unknown_name_message's, shared by every unknown name).
  void require(const std::string& name, const std::string& where = "") const;

  /// Validates a component node — {name: x, options...} or the bare name "x" — against x's
  /// schema and returns {name: x, every option with its value or default}. Entries without
  /// a schema are checked by name only and returned as given.
  ConfigNode resolve(const ConfigNode& node) const;
  /// The same over a base: `node` without a `name` (or with the base's name) refines `base`
  /// (an already resolved component); a different name replaces it.
  ConfigNode resolve(const ConfigNode& base, const ConfigNode& node) const;
  /// describe() of the entry's schema, or a note that it has none.
  std::vector<std::string> describe(const std::string& name) const;
};

/// Every registry, by category name ("preprocessor", "augmenter", ...).
std::map<std::string, const RegistryBase*>& all_registries();
/// The registry of a category; throws ConfigError with suggestions for an unknown category.
const RegistryBase& registry_of(const std::string& category);

namespace detail {
template <class F, class = void>
struct has_schema : std::false_type {};
template <class F>
struct has_schema<F, std::void_t<decltype(std::declval<const F&>().schema())>> : std::true_type {};
}  // namespace detail

template <class Product, class Context = NoContext>
class Registry final : public RegistryBase {
 public:
  using Factory = std::function<std::shared_ptr<Product>(const ConfigNode&, const Context&)>;
  using context_type = Context;

  Registry(std::string category, std::string description)
      : category_(std::move(category)), description_(std::move(description)) {
    all_registries()[category_] = this;
  }

  /// Adds `factory`: callable as f(node, context) or f(node); one with a schema() member
  /// (make_from_options, options_factory) also gives the entry its options schema.
  /// Returns true so it can initialise a static; aborts on a duplicate name.
  template <class F>
  bool add(const std::string& name, F factory, std::string help, const char* file, int line) {
    auto it = entries_.find(name);
    if (it != entries_.end()) {
      std::fprintf(stderr, "cardiotorch: %s '%s' registered twice: %s and %s:%d\n", category_.c_str(), name.c_str(),
                   it->second.where.c_str(), file, line);
      std::abort();
    }
    Entry e;
    if constexpr (detail::has_schema<F>::value) e.schema = factory.schema();
    if constexpr (std::is_invocable_v<F, const ConfigNode&, const Context&>) {
      e.factory = [f = std::move(factory)](const ConfigNode& n, const Context& c) -> std::shared_ptr<Product> {
        return f(n, c);
      };
    } else {
      static_assert(std::is_invocable_v<F, const ConfigNode&>,
                    "a registry factory is callable as f(const ConfigNode&) or f(const ConfigNode&, const Context&)");
      e.factory = [f = std::move(factory)](const ConfigNode& n, const Context&) -> std::shared_ptr<Product> {
        return f(n);
      };
    }
    e.help = std::move(help);
    e.where = str_cat(file, ":", line);
    entries_.emplace(name, std::move(e));
    return true;
  }

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }

  /// Builds the entry named by node["name"] (or the bare name when `node` is a string).
  std::shared_ptr<Product> build(const ConfigNode& node, const Context& context = Context{}) const {
    if (node.is_scalar()) return build(node.as_string(), ConfigNode(), context);
    CT_CHECK(node.is_map(), ConfigError, node.where(), ": expected a mapping with a 'name' key (a ", category_, ")");
    CT_CHECK(node.has("name"), ConfigError, node.where(), ": missing 'name' (a ", category_, "; one of ", join(names()),
             ")");
    return build(node["name"].as_string(), node, context);
  }

  /// Builds `name` with options from `node` (a mapping, or null for defaults).
  std::shared_ptr<Product> build(const std::string& name, const ConfigNode& node,
                                 const Context& context = Context{}) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) require(name, node.has("name") ? node["name"].where() : node.where());
    return it->second.factory(node, context);
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
  const OptionsSchema& schema(const std::string& name) const override {
    static const OptionsSchema none;
    auto it = entries_.find(name);
    return it == entries_.end() ? none : it->second.schema;
  }

 private:
  struct Entry {
    Factory factory;
    OptionsSchema schema;
    std::string help;
    std::string where;
  };
  std::string category_;
  std::string description_;
  std::map<std::string, Entry> entries_;
};

/// The schema of an options struct whose defaults are `preset`.
namespace detail {
// Options after the config layers, validated even when no layer gave a key (the defaults of an
// entry such as resample do not validate on their own).
template <class Options>
void validate_options(const Options& o) {
  if constexpr (has_validate<Options>::value) o.validate();
}
}  // namespace detail

template <class Options>
OptionsSchema options_schema(Options preset = Options{}) {
  OptionsSchema s;
  s.resolve = [preset](const std::vector<ConfigNode>& layers) {
    Options o = preset;
    for (const auto& layer : layers) update_from_config(o, layer);
    if (layers.empty() || layers.back().is_null()) detail::validate_options(o);
    return to_config(o);
  };
  s.describe = [preset]() { return describe_options(preset); };
  return s;
}

/// A factory that reads Options (over `preset`, unknown keys rejected, validate() called) and
/// calls make(options) or make(options, context). Carries the options schema.
template <class Product, class Options, class Make>
struct OptionsFactory {
  Make make;
  Options preset{};

  Options read(const ConfigNode& node) const {
    Options o = preset;
    update_from_config(o, node);
    if (node.is_null()) detail::validate_options(o);  // update_from_config validates only what it reads
    return o;
  }
  std::shared_ptr<Product> operator()(const ConfigNode& node) const {
    if constexpr (std::is_invocable_v<const Make&, const Options&>) {
      return make(read(node));
    } else {
      static_assert(sizeof(Make) == 0, "this factory needs a build context: make(options, context)");
      return nullptr;
    }
  }
  template <class Context>
  std::shared_ptr<Product> operator()(const ConfigNode& node, const Context& context) const {
    if constexpr (std::is_invocable_v<const Make&, const Options&, const Context&>) return make(read(node), context);
    else return make(read(node));
  }
  OptionsSchema schema() const { return options_schema(preset); }
};

/// Factory helper: reads Options (over an optional preset) and calls make(options[, context]).
template <class Product, class Options, class Make>
OptionsFactory<Product, Options, Make> options_factory(Make make, Options preset = Options{}) {
  return OptionsFactory<Product, Options, Make>{std::move(make), std::move(preset)};
}

namespace detail {
template <class T>
struct MakeShared {
  template <class Options>
  std::shared_ptr<T> operator()(const Options& o) const {
    return std::make_shared<T>(o);
  }
};
}  // namespace detail

/// Factory helper: builds T from Options read out of the node (unknown keys rejected).
/// A variable template, so `CT_REGISTER(r, "x", (make_from_options<X, XOptions>), ...)` keeps
/// the options schema.
template <class T, class Options>
inline const OptionsFactory<T, Options, detail::MakeShared<T>> make_from_options{};

}  // namespace cardiotorch

#define CT_CONCAT_INNER(a, b) a##b
#define CT_CONCAT(a, b) CT_CONCAT_INNER(a, b)
/// Registers FACTORY under NAME in REGISTRY (an expression returning a Registry&).
#define CT_REGISTER(REGISTRY, NAME, FACTORY, HELP)                                                               \
  namespace {                                                                                                    \
  [[maybe_unused]] const bool CT_CONCAT(ct_registered_, __COUNTER__) = (REGISTRY).add((NAME), (FACTORY), (HELP), \
                                                                                      __FILE__, __LINE__);       \
  }
