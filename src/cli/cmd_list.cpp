// cardiotorch list [category [name]]
#include <iostream>

#include "cardiotorch/core/registry.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class ListCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("category", category_, "registry to list (e.g. preprocessor, augmenter, dataset); all when omitted");
    app.add_option("name", name_, "one entry: its help and every option with its default");
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
    const RegistryBase& r = registry_of(c);
    if (name_.empty()) {
      print(r);
      return 0;
    }
    r.require(name_);
    std::cout << name_ << ": " << r.help(name_) << "\n";
    // The entry's options from its schema: nothing is built, so entries whose options have
    // required values (a dataset's root, a resample's target rate) list them too.
    std::cout << "options (key = default  # help):\n";
    for (const auto& line : r.describe(name_)) std::cout << "  " << line << "\n";
    return 0;
  }

 private:
  static void print(const RegistryBase& r) {
    const std::string& c = r.category();
    const std::string plural = !c.empty() && c.back() == 'y' ? c.substr(0, c.size() - 1) + "ies" : c + "s";
    std::cout << plural << ": " << r.description() << "\n";
    size_t width = 0;
    for (const auto& n : r.names()) width = std::max(width, n.size());
    for (const auto& n : r.names()) std::cout << "  " << n << std::string(width - n.size() + 2, ' ') << r.help(n) << "\n";
  }
  std::string category_, name_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("list", "list registered components (preprocessors, augmenters, datasets, ...)",
               "cardiotorch list augmenter mixup   (or: cardiotorch list, cardiotorch list preprocessor)",
               cardiotorch::cli::ListCommand)
