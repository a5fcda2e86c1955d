#pragma once
// Where this process sits in a multi-process job, read from the environment that a launcher
// set: `cardiotorch launch` and torchrun (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT, TORCHELASTIC_USE_AGENT_STORE) or SLURM's srun (SLURM_PROCID,
// SLURM_STEP_NUM_TASKS, SLURM_LOCALID, SLURM_STEP_TASKS_PER_NODE, SLURM_STEP_NODELIST). No flags:
// the same config trains on one process or many.
//
// Precedence: WORLD_SIZE set -> the torchrun variables (a torchrun inside an allocation wins
// over SLURM's); else SLURM_STEP_NUM_TASKS > 1 (an srun step) -> SLURM's; else a single process
// (a batch script with SLURM_NTASKS > 1 but no srun gets a `note` saying so). Every missing or
// inconsistent variable is a ConfigError naming it.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace cardiotorch::dist {

struct DistEnv {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  int64_t local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  /// torchrun's agent already serves the TCPStore on MASTER_PORT: rank 0 must not start one.
  bool agent_store = false;
  std::string source = "single";  ///< single | torchrun | slurm
  /// Why a job that looks distributed runs as one process ("" when nothing to say); logged as a warning.
  std::string note;

  bool distributed() const { return world_size > 1; }
  bool is_main() const { return rank == 0; }
  /// "rank 1/4 (local 1/2) via torchrun, store 10.0.0.1:29500"
  std::string describe() const;
};

/// Reads a variable: nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// Parses the job's variables through `lookup` (tests pass a map).
DistEnv parse_env(const EnvLookup& lookup);
/// parse_env over the process environment (getenv).
DistEnv env_from_process();

/// The first host of a SLURM node list: "node[01-04,07],gpu5" -> "node01", "a,b" -> "a",
/// "rack1-[3-4]-ib" -> "rack1-3-ib". ConfigError on an empty or malformed list.
std::string slurm_first_host(const std::string& nodelist);

/// Intra-op threads for one of `local_world_size` ranks sharing `cores` (>= 1).
int rank_threads(int cores, int64_t local_world_size);

}  // namespace cardiotorch::dist
