#pragma once
// `cardiotorch launch`: N ranks of one command on this machine, with the variables torchrun
// would set (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
//
// Each rank's stdout and stderr lines reach ours prefixed "[rank k] ". SIGINT, SIGTERM and
// SIGHUP are forwarded to every rank. The first rank that fails (non-zero exit or a signal)
// ends the job: the others get SIGTERM, then SIGKILL after a grace period, and the launcher
// names the failed rank and its last error line. Ranks die with the launcher (PR_SET_PDEATHSIG).
#include <cstdint>
#include <string>
#include <vector>

namespace cardiotorch::dist {

struct LaunchOptions {
  int64_t nproc = 2;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;            ///< 0: a free port
  double timeout_s = 0;           ///< > 0: every rank's collective timeout (CT_DIST_TIMEOUT_S)
  double grace_s = 5;             ///< after SIGTERM, seconds before SIGKILL
  std::string program;            ///< "" = this executable (/proc/self/exe)
  std::vector<std::string> args;  ///< the command each rank runs (without the program)
  void validate() const;
};

/// Runs the ranks to completion; returns 0 when all succeed, else the failed rank's exit code
/// (128 + signal when it was killed), or 128 + the signal that interrupted the launcher.
int launch(const LaunchOptions& options);

/// A TCP port on `addr` that was free a moment ago (the kernel's choice).
int free_port(const std::string& addr = "127.0.0.1");

}  // namespace cardiotorch::dist
