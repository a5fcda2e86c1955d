// cardiotorch: one binary, many subcommands (see command.h). Top-level error handling:
// usage/config errors exit 2, runtime failures exit 1, internal errors (bugs) exit 3, always
// with one line naming the file or key at fault.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>

#include <c10/util/Exception.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/progress.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/dist/env.h"
#include "cli/command.h"

namespace cardiotorch::cli {

std::vector<CommandEntry>& command_table() {
  static std::vector<CommandEntry> table;
  return table;
}

bool register_command(CommandEntry entry) {
  command_table().push_back(std::move(entry));
  return true;
}

namespace {

// A single-process command started by a launcher: one line that says what to do instead.
void refuse_ranks(const std::string& name) {
  dist::DistEnv env;
  try {
    env = dist::env_from_process();
  } catch (const ConfigError&) {
    return;  // malformed launcher variables concern the commands that use them
  }
  CT_CHECK(!env.distributed(), UsageError, name, ": runs in one process, not as rank ", env.rank, " of ",
           env.world_size, " (", env.source, " environment): every rank would do the whole job and write the same ",
           "outputs; run it without a launcher (only finetune and pretrain train on several ranks)");
}

}  // namespace

}  // namespace cardiotorch::cli

int main(int argc, char** argv) {
  using namespace cardiotorch;
  CLI::App app{"cardiotorch: deep learning on cardiac data (ECG, cardiac MRI), built on LibTorch"};
  app.set_version_flag("--version", build_summary());
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand
  app.footer("Run 'cardiotorch <command> --help' for a command's options and an example.");

  int verbosity = 0;
  bool quiet = false;
  int threads = 0;
  bool deterministic = false;
  app.add_flag("-v,--verbose", verbosity, "more log output (repeat for trace)");
  app.add_flag("-q,--quiet", quiet, "only warnings and errors; no progress bars");
  app.add_option("--threads", threads,
                 "cores to use (default: all): split between data-loader workers and intra-op threads")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--deterministic", deterministic, "use deterministic algorithms");

  auto& table = cli::command_table();
  std::sort(table.begin(), table.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<std::pair<CLI::App*, std::unique_ptr<cli::Command>>> commands;
  for (const auto& entry : table) {
    CLI::App* sub = app.add_subcommand(entry.name, entry.description);
    if (!entry.example.empty()) sub->footer("Example:\n  " + entry.example);
    auto cmd = entry.make();
    cmd->setup(*sub);
    commands.emplace_back(sub, std::move(cmd));
  }

  // An unknown first word deserves a better message than CLI11's "A subcommand is required".
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (const auto& e : table) names.push_back(e.name);
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      std::fprintf(stderr, "cardiotorch: error: %s\n", unknown_name_message("command", argv[1], names).c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "cardiotorch: error: %s\n", e.what());
    std::fprintf(stderr, "Run 'cardiotorch --help' for usage.\n");
    return 2;
  }

  set_log_level(quiet            ? LogLevel::kWarn
                : verbosity >= 2 ? LogLevel::kTrace
                : verbosity == 1 ? LogLevel::kDebug
                                 : LogLevel::kInfo);
  if (quiet) ProgressBar::set_enabled(false);
  try {
    set_thread_budget(threads);
    if (deterministic) set_deterministic(true);
    for (auto& [sub, cmd] : commands) {
      if (!sub->parsed()) continue;
      if (!cmd->runs_on_ranks()) cli::refuse_ranks(sub->get_name());
      return cmd->run();
    }
  } catch (const UsageError& e) {
    std::fprintf(stderr, "cardiotorch: error: %s\n", e.what());
    return 2;
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "cardiotorch: config error: %s\n", e.what());
    return 2;
  } catch (const InternalError& e) {
    std::fprintf(stderr, "cardiotorch: %s (a bug in cardiotorch; please report it with the command line)\n", e.what());
    return 3;
  } catch (const c10::Error& e) {  // a LibTorch check: print it without its C++ backtrace
    std::fprintf(stderr, "cardiotorch: error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cardiotorch: error: %s\n", e.what());
    return 1;
  }
  return 2;
}
