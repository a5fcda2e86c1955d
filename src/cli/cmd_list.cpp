// cardiotorch list [category [name]]
#include <algorithm>
#include <iostream>
#include <regex>

#include "cardiotorch/core/registry.h"
#include "cardiotorch/signal/pipeline.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

// An option is required when its default is unset (~, '', []) and validating the defaults
// alone fails naming that key (resample without fs or length, a dataset without root).
bool is_required(const std::string& line, const std::string& requirement) {
  const size_t eq = line.find(" = ");
  if (requirement.empty() || eq == std::string::npos || line[0] == ' ') return false;
  const std::string key = line.substr(0, eq);
  const std::string rest = line.substr(eq + 3);
  const bool unset =
      starts_with(rest, "~ ") || starts_with(rest, "'' ") || starts_with(rest, "\"\" ") || starts_with(rest, "[] ");
  return unset && std::regex_search(requirement, std::regex("(^|[^A-Za-z0-9_])" + key + "($|[^A-Za-z0-9_])"));
}

// An entry's options from its schema: nothing is built, no weights allocated, no files indexed.
void print_options(const RegistryBase& r, const std::string& name) {
  const OptionsSchema& schema = r.schema(name);
  const std::vector<std::string> lines = r.describe(name);
  if (!schema) {
    for (const auto& l : lines) std::cout << l << "\n";
    return;
  }
  if (lines.empty()) {
    std::cout << "no options\n";
    return;
  }
  std::string requirement;  // what validate() says about the defaults alone
  try {
    schema.resolve({});
  } catch (const ConfigError& e) {
    requirement = e.what();
  }
  bool any_required = false;
  for (const auto& l : lines) any_required = any_required || is_required(l, requirement);
  std::cout << "options (key = default  # meaning" << (any_required ? "; * = required" : "") << "):\n";
  for (const auto& l : lines) std::cout << (is_required(l, requirement) ? "* " : "  ") << l << "\n";
  if (!requirement.empty()) std::cout << "required: " << requirement << "\n";
}

class ListCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("category", category_, "registry to list (e.g. preprocessor, augmenter, dataset); all when omitted");
    app.add_option("name", name_, "one entry: its help and every option with its default (* marks required ones)");
  }
  int run() override {
    if (category_.empty()) {
      bool first = true;
      for (const auto& [name, r] : all_registries()) {
        if (!first) std::cout << "\n";
        first = false;
        print(*r);
      }
      return 0;
    }
    std::string c = category_;
    if (!all_registries().count(c) && c.size() > 1 && c.back() == 's') c.pop_back();  // "augmenters" works too
    if (c == "step") return list_steps();
    const RegistryBase& r = registry_of(c);
    if (name_.empty()) {
      print(r);
      return 0;
    }
    print_entry(r);
    return 0;
  }

 private:
  // A pipeline step (the `step` option of on_leads) is a preprocessor or an augmenter; the name
  // is looked up in that order, as the pipeline builds steps.
  int list_steps() const {
    const RegistryBase& pre = registry_of("preprocessor");
    const RegistryBase& aug = registry_of("augmenter");
    if (name_.empty()) {
      print(pre);
      std::cout << "\n";
      print(aug);
      return 0;
    }
    print_entry(signal::step_registry(name_));
    return 0;
  }
  void print_entry(const RegistryBase& r) const {
    r.require(name_);
    std::cout << name_ << ": " << r.help(name_) << "\n";
    print_options(r, name_);
  }

  static void print(const RegistryBase& r) {
    const std::string& c = r.category();
    const std::string plural = !c.empty() && c.back() == 'y' ? c.substr(0, c.size() - 1) + "ies" : c + "s";
    std::cout << plural << ": " << r.description() << "\n";
    size_t width = 0;
    for (const auto& n : r.names()) width = std::max(width, n.size());
    for (const auto& n : r.names())
      std::cout << "  " << n << std::string(width - n.size() + 2, ' ') << r.help(n) << "\n";
  }
  std::string category_, name_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("list", "list registered components (preprocessors, augmenters, datasets, models, metrics, ...)",
               "cardiotorch list preprocessor resample   (or: cardiotorch list, cardiotorch list backbone)",
               cardiotorch::cli::ListCommand)
