// cardiotorch list [category]
#include <iostream>

#include "cardiotorch/core/registry.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class ListCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("category", category_, "registry to list (e.g. preprocessor, augmenter); all when omitted");
  }
  int run() override {
    auto print = [](const RegistryBase& r) {
      std::cout << r.category() << "s: " << r.description() << "\n";
      size_t width = 0;
      for (const auto& n : r.names()) width = std::max(width, n.size());
      for (const auto& n : r.names())
        std::cout << "  " << n << std::string(width - n.size() + 2, ' ') << r.help(n) << "\n";
    };
    if (!category_.empty()) {
      std::string c = category_;
      if (!all_registries().count(c) && !c.empty() && c.back() == 's') c.pop_back();  // "augmenters" works too
      print(registry_of(c));
      return 0;
    }
    bool first = true;
    for (const auto& [name, r] : all_registries()) {
      if (!first) std::cout << "\n";
      first = false;
      print(*r);
    }
    return 0;
  }

 private:
  std::string category_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("list", "list registered components (preprocessors, augmenters, datasets, ...)",
               "cardiotorch list augmenter", cardiotorch::cli::ListCommand)
