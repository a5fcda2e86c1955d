// cardiotorch launch --nproc N [--master-port P] [--timeout S] -- <command ...>
#include "cardiotorch/dist/launcher.h"
#include "cli/command.h"

namespace cardiotorch::cli {
namespace {

class LaunchCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("-n,--nproc", o_.nproc, "ranks to start on this machine")->required()->check(CLI::PositiveNumber);
    app.add_option("--master-addr", o_.master_addr, "address of the rendezvous store (this machine)")
        ->default_val(o_.master_addr);
    app.add_option("--master-port", o_.master_port, "port of the rendezvous store (default: a free one)")
        ->check(CLI::Range(0, 65535));
    app.add_option("--timeout", o_.timeout_s,
                   "seconds a collective may wait for the other ranks (default: the config's dist.timeout_s)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--grace", o_.grace_s, "seconds between SIGTERM and SIGKILL when stopping the ranks")
        ->default_val(o_.grace_s)
        ->check(CLI::NonNegativeNumber);
    app.add_option("command", o_.args, "the command every rank runs, after '--' (e.g. -- finetune --config F)")
        ->required();
    app.footer(
        "Each rank gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT, and\n"
        "cores / nproc intra-op threads. Output lines are tagged [rank k]. The first rank that fails stops\n"
        "the others; the exit code is that rank's. For several machines use torchrun or srun\n"
        "(docs/distributed.md).\n\nExample:\n"
        "  cardiotorch launch --nproc 2 -- finetune --config configs/finetune/mitdb_beats.yaml");
  }
  int run() override { return dist::launch(o_); }

 private:
  dist::LaunchOptions o_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("launch", "run a training command as N data-parallel ranks on this machine (Gloo on CPU, NCCL on GPU)",
               "", cardiotorch::cli::LaunchCommand)
