#include "cardiotorch/dist/env.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::dist {

namespace {

// A whole-string decimal integer, or a ConfigError naming the variable.
int64_t parse_int(const std::string& name, const std::string& value) {
  size_t pos = 0;
  int64_t v = 0;
  bool ok = !value.empty();
  try {
    v = std::stoll(value, &pos);
  } catch (const std::exception&) {
    ok = false;
  }
  CT_CHECK(ok && pos == value.size(), ConfigError, "environment: ", name, "='", value, "' is not an integer");
  return v;
}

struct Reader {
  const EnvLookup& lookup;
  std::string source;

  std::optional<std::string> get(const std::string& name) const {
    auto v = lookup(name);
    if (v && v->empty()) return std::nullopt;  // `export RANK=` counts as unset
    return v;
  }
  std::string required(const std::string& name, const std::string& why) const {
    auto v = get(name);
    CT_CHECK(v.has_value(), ConfigError, "environment: ", name, " is not set (", why, ")");
    return *v;
  }
  int64_t required_int(const std::string& name, const std::string& why) const {
    return parse_int(name, required(name, why));
  }
  int64_t int_or(const std::string& name, int64_t fallback) const {
    auto v = get(name);
    return v ? parse_int(name, *v) : fallback;
  }
};

void check_ranks(DistEnv& e, const std::string& rank_var, const std::string& world_var, const std::string& local_var,
                 const std::string& local_world_var) {
  CT_CHECK(e.world_size >= 1, ConfigError, "environment: ", world_var, "=", e.world_size, " must be >= 1");
  CT_CHECK(e.rank >= 0 && e.rank < e.world_size, ConfigError, "environment: ", rank_var, "=", e.rank,
           " is outside [0, ", world_var, "=", e.world_size, ")");
  CT_CHECK(e.local_world_size >= 1 && e.local_world_size <= e.world_size, ConfigError, "environment: ", local_world_var,
           "=", e.local_world_size, " must be in [1, ", world_var, "=", e.world_size, "]");
  CT_CHECK(e.local_rank >= 0 && e.local_rank < e.local_world_size, ConfigError, "environment: ", local_var, "=",
           e.local_rank, " is outside [0, ", local_world_var, "=", e.local_world_size, ")");
}

int parse_port(const std::string& name, const std::string& value) {
  const int64_t p = parse_int(name, value);
  CT_CHECK(p >= 1 && p <= 65535, ConfigError, "environment: ", name, "=", value, " is not a TCP port (1-65535)");
  return static_cast<int>(p);
}

// SLURM_TASKS_PER_NODE / SLURM_NTASKS_PER_NODE: "2", "2(x3)", "2(x3),1": the first count.
int64_t first_count(const std::string& name, const std::string& value) {
  size_t end = 0;
  while (end < value.size() && std::isdigit(static_cast<unsigned char>(value[end]))) ++end;
  CT_CHECK(end > 0, ConfigError, "environment: ", name, "='", value, "' does not start with a task count");
  return parse_int(name, value.substr(0, end));
}

}  // namespace

std::string DistEnv::describe() const {
  return str_cat("rank ", rank, "/", world_size, " (local ", local_rank, "/", local_world_size, ") via ", source,
                 ", store ", master_addr, ":", master_port, agent_store ? " (torchrun agent's)" : "");
}

std::string slurm_first_host(const std::string& nodelist) {
  CT_CHECK(!nodelist.empty(), ConfigError, "environment: SLURM_JOB_NODELIST is empty");
  // The first top-level item: commas inside [...] do not separate hosts.
  int depth = 0;
  size_t end = 0;
  for (; end < nodelist.size(); ++end) {
    const char c = nodelist[end];
    if (c == '[') ++depth;
    if (c == ']') --depth;
    CT_CHECK(depth >= 0 && depth <= 1, ConfigError, "environment: SLURM_JOB_NODELIST='", nodelist,
             "' has unbalanced brackets");
    if (c == ',' && depth == 0) break;
  }
  CT_CHECK(depth == 0, ConfigError, "environment: SLURM_JOB_NODELIST='", nodelist, "' has unbalanced brackets");
  std::string item = nodelist.substr(0, end);
  // Each bracket group contributes its first number (zero padding kept): "n[01-04,07]-ib" -> "n01-ib".
  std::string host;
  size_t i = 0;
  while (i < item.size()) {
    if (item[i] != '[') {
      host += item[i++];
      continue;
    }
    const size_t close = item.find(']', i);
    const std::string inside = item.substr(i + 1, close - i - 1);
    size_t n = 0;
    while (n < inside.size() && std::isdigit(static_cast<unsigned char>(inside[n]))) ++n;
    CT_CHECK(n > 0, ConfigError, "environment: SLURM_JOB_NODELIST='", nodelist, "': expected a number range in [",
             inside, "]");
    host += inside.substr(0, n);
    i = close + 1;
  }
  CT_CHECK(!host.empty(), ConfigError, "environment: SLURM_JOB_NODELIST='", nodelist, "' names no host");
  return host;
}

DistEnv parse_env(const EnvLookup& lookup) {
  Reader r{lookup, ""};
  DistEnv e;
  if (r.get("WORLD_SIZE")) {
    e.source = "torchrun";
    const std::string why = "WORLD_SIZE is set, so this is one rank of a torchrun/cardiotorch launch job";
    e.world_size = r.required_int("WORLD_SIZE", "");
    e.rank = r.required_int("RANK", why);
    // Without the local variables, assume one node (every rank local).
    e.local_world_size = r.int_or("LOCAL_WORLD_SIZE", e.world_size);
    e.local_rank = r.int_or("LOCAL_RANK", e.local_world_size == e.world_size ? e.rank : -1);
    CT_CHECK(e.local_rank >= 0, ConfigError,
             "environment: LOCAL_RANK is not set (LOCAL_WORLD_SIZE=", e.local_world_size,
             " < WORLD_SIZE=", e.world_size, ": a multi-node job must say which local rank this is)");
    check_ranks(e, "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE");
    if (e.world_size > 1) {
      e.master_addr = r.required("MASTER_ADDR", why);
      e.master_port = parse_port("MASTER_PORT", r.required("MASTER_PORT", why));
    }
    const auto agent = r.get("TORCHELASTIC_USE_AGENT_STORE");
    if (agent) {
      CT_CHECK(*agent == "True" || *agent == "False", ConfigError, "environment: TORCHELASTIC_USE_AGENT_STORE='",
               *agent, "' is neither True nor False");
      e.agent_store = *agent == "True";
    }
    return e;
  }
  // srun exports SLURM_STEP_NUM_TASKS to every task of a job step; a batch script (sbatch
  // --ntasks=4 without srun) has SLURM_NTASKS=4 but no step variables, and is one process: taking
  // SLURM_NTASKS there would make it wait for ranks nobody starts. The step's own counts also
  // describe `srun -n 2` inside a larger allocation, which SLURM_NTASKS may not.
  const auto step_tasks = r.get("SLURM_STEP_NUM_TASKS");
  const auto ntasks = r.get("SLURM_NTASKS");
  if (!step_tasks) {
    if (ntasks && parse_int("SLURM_NTASKS", *ntasks) > 1)
      e.note = str_cat("SLURM_NTASKS=", *ntasks,
                       " but no srun job step (SLURM_STEP_NUM_TASKS is unset): running as one process; start "
                       "the ranks with `srun cardiotorch ...` inside the batch script");
    return e;
  }
  if (parse_int("SLURM_STEP_NUM_TASKS", *step_tasks) > 1) {
    e.source = "slurm";
    const std::string why = str_cat("SLURM_STEP_NUM_TASKS=", *step_tasks, ": one rank per srun task");
    e.world_size = parse_int("SLURM_STEP_NUM_TASKS", *step_tasks);
    e.rank = r.required_int("SLURM_PROCID", why);
    e.local_rank = r.required_int("SLURM_LOCALID", why);
    // Tasks per node: the step's own count first, then the job's; the first one set is named in errors.
    std::string local_var = "SLURM_STEP_NUM_TASKS";
    e.local_world_size = e.world_size;
    for (const char* name : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
      if (auto v = r.get(name)) {
        local_var = name;
        e.local_world_size = first_count(local_var, *v);
        break;
      }
    }
    // Nodes may hold different task counts ("2(x3),1"): the first node's count bounds no one else.
    // (A local rank past the step's size is an error check_ranks names, not a larger node.)
    if (e.local_rank < e.world_size) e.local_world_size = std::max(e.local_world_size, e.local_rank + 1);
    check_ranks(e, "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", local_var);
    if (auto addr = r.get("MASTER_ADDR")) {
      e.master_addr = *addr;
    } else {
      // The step may run on a subset of the allocation: rank 0 sits on the step's first node.
      auto list = r.get("SLURM_STEP_NODELIST");
      if (!list) list = r.get("SLURM_JOB_NODELIST");
      if (!list) list = r.get("SLURM_NODELIST");
      CT_CHECK(list.has_value(), ConfigError,
               "environment: neither MASTER_ADDR nor SLURM_STEP_NODELIST / SLURM_JOB_NODELIST is set (", why, ")");
      e.master_addr = slurm_first_host(*list);
    }
    if (auto port = r.get("MASTER_PORT")) {
      e.master_port = parse_port("MASTER_PORT", *port);
    } else {
      // Jobs sharing a node get different ports without the user choosing one.
      const int64_t job = r.int_or("SLURM_JOB_ID", 0);
      e.master_port = static_cast<int>(29500 + job % 1000);
    }
    return e;
  }
  return e;
}

DistEnv env_from_process() {
  return parse_env([](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  });
}

int rank_threads(int cores, int64_t local_world_size) {
  return std::max(1, static_cast<int>(cores / std::max<int64_t>(1, local_world_size)));
}

}  // namespace cardiotorch::dist
