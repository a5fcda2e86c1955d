#pragma once
// The CLI's command table. Each command lives in its own cmd_*.cpp and registers itself at the
// bottom of that file (name, one-line description, an example for --help, the class):
//   CT_CLI_COMMAND("list", "list registered components", "cardiotorch list augmenter mixup",
//                  cardiotorch::cli::ListCommand)
// main.cpp builds the CLI11 app from the table; a command's run() is a thin wrapper
// over a library function.
#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cardiotorch::cli {

class Command {
 public:
  virtual ~Command() = default;
  /// Adds options/positionals (and nested subcommands) to `app`, this command's CLI11 node.
  virtual void setup(CLI::App& app) = 0;
  /// Runs after a successful parse; returns the exit code.
  virtual int run() = 0;
  /// Whether the command may run as one rank of several (launch / torchrun / srun). The others
  /// would do the whole job on every rank, writing the same outputs: main() refuses them there.
  virtual bool runs_on_ranks() const { return false; }
};

struct CommandEntry {
  std::string name;
  std::string description;
  std::string example;  // shown in --help
  std::function<std::unique_ptr<Command>()> make;
};

std::vector<CommandEntry>& command_table();
bool register_command(CommandEntry entry);

}  // namespace cardiotorch::cli

#define CT_CLI_CONCAT_INNER(a, b) a##b
#define CT_CLI_CONCAT(a, b) CT_CLI_CONCAT_INNER(a, b)
#define CT_CLI_COMMAND(NAME, DESCRIPTION, EXAMPLE, CLASS)                                                           \
  namespace {                                                                                                       \
  [[maybe_unused]] const bool CT_CLI_CONCAT(ct_cli_registered_, __COUNTER__) =                                      \
      ::cardiotorch::cli::register_command({NAME, DESCRIPTION, EXAMPLE, [] { return std::make_unique<CLASS>(); }}); \
  }
