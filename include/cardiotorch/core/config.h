#pragma once
// Configuration: a YAML tree with key paths (ConfigNode) and typed options structs.
//
// An options struct lists its fields once, in a `fields` member template:
//
//   struct BandpassOptions {
//     double lowcut = 0.5;   // Hz
//     double highcut = 45.0; // Hz
//     template <class V> void fields(V& v) {
//       v("lowcut", lowcut, "lower cut-off frequency in Hz");
//       v("highcut", highcut, "upper cut-off frequency in Hz");
//     }
//     void validate() const;  // optional; throws ConfigError
//   };
//
// That one list drives YAML -> struct (from_config, unknown keys are errors with a
// "did you mean" suggestion and the key path), struct -> YAML (to_config) and the
// printed schema (describe_options). `--set a.b.c=value` overrides work on the tree.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch {

class ConfigNode {
 public:
  ConfigNode();  ///< an undefined (null) node

  /// Parses YAML text; `origin` names the source in error messages.
  static ConfigNode parse(const std::string& yaml_text, const std::string& origin = "<string>");
  /// Loads a YAML file, resolving composition: a top-level `defaults:` or `include:`
  /// (a path or a list of paths, relative to the file) is loaded first and the file's
  /// own keys are deep-merged on top (maps merge, scalars and sequences replace).
  static ConfigNode load(const std::string& path);
  static ConfigNode map();
  static ConfigNode sequence();
  /// A node parsed from YAML text ("3", "[1, 2]", "true").
  static ConfigNode scalar(const std::string& text);
  /// A string scalar holding exactly `value` (no YAML interpretation).
  static ConfigNode string(const std::string& value);

  bool is_null() const;  ///< missing or explicit null
  bool is_map() const;
  bool is_sequence() const;
  bool is_scalar() const;
  size_t size() const;

  /// Map keys in document order (empty for non-maps).
  std::vector<std::string> keys() const;
  bool has(const std::string& key) const;
  /// Child by key; a missing key gives a null node that still knows its path.
  ConfigNode operator[](const std::string& key) const;
  ConfigNode operator[](size_t index) const;

  /// Key path from the root, e.g. "pipeline[1].lowcut" (empty for the root).
  const std::string& path() const;
  /// Where this tree came from (file name or "<string>").
  const std::string& origin() const;
  /// "file.yaml: pipeline[1].lowcut" — the prefix used by error messages.
  std::string where() const;

  std::string as_string() const;
  double as_double() const;
  int64_t as_int() const;
  bool as_bool() const;
  std::vector<std::string> as_string_list() const;  ///< a scalar counts as a list of one

  void set(const std::string& key, const ConfigNode& value);
  void set_scalar(const std::string& key, const std::string& text);
  void push_back(const ConfigNode& value);
  void remove(const std::string& key);
  /// Deep copy (nodes otherwise share their tree, like yaml-cpp's).
  ConfigNode clone() const;
  /// Deep merge `over` onto this map: maps merge recursively, anything else replaces.
  void merge(const ConfigNode& over);

  /// Applies "a.b[2].c=value"; the value is parsed as YAML (numbers, lists, strings).
  void apply_override(const std::string& assignment);

  std::string to_yaml() const;
  void save(const std::string& path) const;

  struct Impl;

 private:
  explicit ConfigNode(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

/// Throws ConfigError "<key> must be one of a, b, c, got 'v' (did you mean 'x'?)". For use in
/// an options struct's validate(): from_config prefixes the file and key path.
void check_choice(const std::string& key, const std::string& value, const std::vector<std::string>& allowed);
/// The same, prefixed with `at.where()` (for checks outside validate()).
void check_choice(const ConfigNode& at, const std::string& key, const std::string& value,
                  const std::vector<std::string>& allowed);

namespace detail {
template <class C, class = void>
struct has_custom_resolve : std::false_type {};
template <class C>
struct has_custom_resolve<
    C, std::void_t<decltype(C::resolve(std::declval<const ConfigNode&>(), std::declval<const ConfigNode&>()))>>
    : std::true_type {};
}  // namespace detail

/// Resolves `node` (a component of `category`) over `base` through that category's registry.
/// Defined with the registries (core/registry.cpp).
ConfigNode resolve_component(const std::string& category, const ConfigNode& base, const ConfigNode& node);
/// The name of the component `node` gives: a bare scalar, a mapping's `name`, else (a mapping
/// without one refines the current component) the name of `base`. Empty when there is none.
/// For categories spanning several registries, which must pick the registry by name first.
std::string component_name(const ConfigNode& base, const ConfigNode& node);
/// The same for a Component's category: its own static resolve(base, node) when it has one
/// (a category spanning several registries), else its registry's.
template <class Category>
ConfigNode resolve_component_of(const ConfigNode& base, const ConfigNode& node) {
  if constexpr (detail::has_custom_resolve<Category>::value) return Category::resolve(base, node);
  else return resolve_component(Category::category, base, node);
}

/// An option whose value is itself a registered component: `{name: x, options...}` or just
/// `x`. `Category` names the registry (`struct BackboneCategory { static constexpr const char*
/// category = "backbone"; };`). Reading validates the node against x's options schema (unknown
/// keys with their full key path, e.g. model.backbone.stages[2].filters) and keeps it resolved,
/// with every default filled in; a node without `name` refines the current (default) component.
/// The owner builds it later through the registry with the context it has then.
template <class Category>
struct Component {
  ConfigNode node;  ///< resolved {name: ..., options}; null when unset (`key: ~`)

  static Component named(const std::string& name) {
    Component c;
    c.node = ConfigNode::map();
    c.node.set("name", ConfigNode::string(name));
    return c;
  }
  bool empty() const { return node.is_null(); }
  std::string name() const { return node.is_null() ? std::string() : node["name"].as_string(); }
  static const char* category() { return Category::category; }
  static ConfigNode resolve(const ConfigNode& base, const ConfigNode& n) {
    return resolve_component_of<Category>(base, n);
  }
};

// ---------------------------------------------------------------------------------------
namespace detail {
template <class T, class = void>
struct has_fields : std::false_type {};
template <class T>
struct has_fields<T, std::void_t<decltype(std::declval<T&>().fields(std::declval<int&>()))>> : std::true_type {};
// `fields` is a template, so probe it with a generic callable instead of int&.
struct ProbeVisitor {
  template <class F>
  void operator()(const char*, F&, const char*) {}
};
template <class T, class = void>
struct is_options : std::false_type {};
template <class T>
struct is_options<T, std::void_t<decltype(std::declval<T&>().fields(std::declval<ProbeVisitor&>()))>> : std::true_type {
};
template <class T, class = void>
struct has_validate : std::false_type {};
template <class T>
struct has_validate<T, std::void_t<decltype(std::declval<const T&>().validate())>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T>
struct is_options_vector : std::false_type {};
template <class T, class A>
struct is_options_vector<std::vector<T, A>> : is_options<T> {};
template <class T>
struct is_component : std::false_type {};
template <class C>
struct is_component<Component<C>> : std::true_type {};
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
void read_value(const ConfigNode& n, T& out);

struct FromConfigVisitor {
  const ConfigNode& node;
  std::vector<std::string> seen;
  template <class F>
  void operator()(const char* key, F& field, const char* /*help*/) {
    seen.emplace_back(key);
    if (node.has(key)) read_value(node[key], field);
  }
};

void check_unknown_keys(const ConfigNode& node, const std::vector<std::string>& known,
                        const std::vector<std::string>& ignored);
void rethrow_validation(const ConfigNode& node, const std::exception& e);

template <class T>
void read_options(const ConfigNode& n, T& out, const std::vector<std::string>& ignored) {
  if (n.is_null()) return;
  CT_CHECK(n.is_map(), ConfigError, n.where(), ": expected a mapping of options");
  FromConfigVisitor v{n, {}};
  out.fields(v);
  check_unknown_keys(n, v.seen, ignored);
  if constexpr (has_validate<T>::value) {
    try {
      out.validate();
    } catch (const ConfigError& e) {
      rethrow_validation(n, e);
    }
  }
}

template <class T>
void read_value(const ConfigNode& n, T& out) {
  if constexpr (std::is_same_v<T, ConfigNode>) {
    out = n.clone();
  } else if constexpr (std::is_same_v<T, bool>) {
    out = n.as_bool();
  } else if constexpr (std::is_integral_v<T>) {
    out = static_cast<T>(n.as_int());
  } else if constexpr (std::is_floating_point_v<T>) {
    out = static_cast<T>(n.as_double());
  } else if constexpr (std::is_same_v<T, std::string>) {
    out = n.as_string();
  } else if constexpr (is_optional<T>::value) {
    if (n.is_null()) {
      out.reset();
    } else {
      typename T::value_type v{};
      if (out) v = *out;
      read_value(n, v);
      out = std::move(v);
    }
  } else if constexpr (is_vector<T>::value) {
    using E = typename T::value_type;
    // A list of options structs refines the current list (a preset's) instead of replacing it:
    // element i refines element i, new elements start from defaults, and a single mapping
    // refines every element (so `--set block.bias=true` keeps each stage's other settings).
    constexpr bool refines = is_options<E>::value;
    T prev = std::move(out);
    out.clear();
    if (n.is_null()) return;
    if (!n.is_sequence()) {  // a scalar is a list of one
      if constexpr (refines) {
        if (n.is_map() && prev.size() > 1) {
          for (auto& e : prev) read_value(n, e);
          out = std::move(prev);
          return;
        }
      }
      E v{};
      if constexpr (refines) {
        if (!prev.empty()) v = prev.front();
      }
      read_value(n, v);
      out.push_back(std::move(v));
      return;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      E v{};
      if constexpr (refines) {
        if (i < prev.size()) v = prev[i];
      }
      read_value(n[i], v);
      out.push_back(std::move(v));
    }
  } else if constexpr (is_options<T>::value) {
    read_options(n, out, {});
  } else if constexpr (is_component<T>::value) {
    out.node = n.is_null() ? ConfigNode() : T::resolve(out.node, n);
  } else {
    static_assert(sizeof(T) == 0, "unsupported option field type");
  }
}

ConfigNode node_of(bool v);
ConfigNode node_of(int64_t v);
ConfigNode node_of(double v);
ConfigNode node_of(const std::string& v);

template <class T>
ConfigNode write_value(const T& v);

struct ToConfigVisitor {
  ConfigNode out = ConfigNode::map();
  template <class F>
  void operator()(const char* key, F& field, const char* /*help*/) {
    out.set(key, write_value(field));
  }
};

template <class T>
ConfigNode write_value(const T& v) {
  if constexpr (std::is_same_v<T, ConfigNode>) {
    return v.clone();
  } else if constexpr (std::is_same_v<T, bool>) {
    return node_of(v);
  } else if constexpr (std::is_integral_v<T>) {
    return node_of(static_cast<int64_t>(v));
  } else if constexpr (std::is_floating_point_v<T>) {
    return node_of(static_cast<double>(v));
  } else if constexpr (std::is_same_v<T, std::string>) {
    return node_of(v);
  } else if constexpr (is_optional<T>::value) {
    return v ? write_value(*v) : ConfigNode::scalar("~");
  } else if constexpr (is_vector<T>::value) {
    ConfigNode s = ConfigNode::sequence();
    for (const auto& e : v) s.push_back(write_value(e));
    return s;
  } else if constexpr (is_options<T>::value) {
    ToConfigVisitor vis;
    const_cast<T&>(v).fields(vis);  // fields() only reads through the visitor here
    return vis.out;
  } else if constexpr (is_component<T>::value) {
    return v.node.is_null() ? ConfigNode::scalar("~") : T::resolve(ConfigNode(), v.node);
  } else {
    static_assert(sizeof(T) == 0, "unsupported option field type");
  }
}

struct DescribeVisitor {
  std::vector<std::string>* lines;
  std::string prefix;
  template <class F>
  void operator()(const char* key, F& field, const char* help) {
    if constexpr (is_options<F>::value) {
      lines->push_back(prefix + key + ":  " + help);
      DescribeVisitor sub{lines, prefix + "  "};
      field.fields(sub);
    } else if constexpr (is_options_vector<F>::value) {
      // A list of option structs: each element described like a nested struct.
      lines->push_back(prefix + key + ":  " + help);
      for (size_t i = 0; i < field.size(); ++i) {
        if (field.size() > 1) lines->push_back(prefix + "  [" + std::to_string(i) + "]:");
        const std::string indent = prefix + (field.size() > 1 ? "    " : "  ");
        DescribeVisitor sub{lines, indent};
        field[i].fields(sub);
      }
    } else if constexpr (is_component<F>::value) {
      const std::string def = field.empty() ? std::string("~") : "{name: " + field.name() + ", ...}";
      lines->push_back(prefix + key + " = " + def + "  # " + help + " (a " + F::category() + "; `cardiotorch list " +
                       F::category() + "`)");
    } else {
      std::string def = write_value(field).to_yaml();
      while (!def.empty() && (def.back() == '\n' || def.back() == ' ')) def.pop_back();
      for (auto& c : def)
        if (c == '\n') c = ' ';
      lines->push_back(prefix + key + " = " + def + "  # " + help);
    }
  }
};
}  // namespace detail

/// Reads an options struct from a mapping node. Keys not listed by `fields` are errors,
/// except those in `ignored` (a registry entry's `name`, for instance). Calls validate().
template <class T>
T from_config(const ConfigNode& node, const std::vector<std::string>& ignored = {"name"}) {
  T out{};
  detail::read_options(node, out, ignored);
  return out;
}

/// Reads into an existing struct (so presets keep their values for keys not given).
template <class T>
void update_from_config(T& out, const ConfigNode& node, const std::vector<std::string>& ignored = {"name"}) {
  detail::read_options(node, out, ignored);
}

template <class T>
ConfigNode to_config(const T& options) {
  return detail::write_value(options);
}

/// One line per field: "key = default  # help" (nested structs indented).
template <class T>
std::vector<std::string> describe_options(const T& options = T{}) {
  std::vector<std::string> lines;
  detail::DescribeVisitor v{&lines, ""};
  const_cast<T&>(options).fields(v);
  return lines;
}

}  // namespace cardiotorch
