// Rank discovery from torchrun's and SLURM's variables: values, precedence, and an error that
// names the variable for each missing or inconsistent one.
#include <gtest/gtest.h>

#include <map>

#include "cardiotorch/core/error.h"
#include "cardiotorch/dist/env.h"

namespace ct = cardiotorch;
using ct::dist::DistEnv;

namespace {

DistEnv parse(const std::map<std::string, std::string>& vars) {
  return ct::dist::parse_env([&](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

// The ConfigError's message, or "" when parsing succeeds.
std::string error_of(const std::map<std::string, std::string>& vars) {
  try {
    parse(vars);
  } catch (const ct::ConfigError& e) {
    return e.what();
  }
  return "";
}

const std::map<std::string, std::string> kTorchrun = {{"RANK", "3"},
                                                      {"WORLD_SIZE", "4"},
                                                      {"LOCAL_RANK", "1"},
                                                      {"LOCAL_WORLD_SIZE", "2"},
                                                      {"MASTER_ADDR", "10.0.0.7"},
                                                      {"MASTER_PORT", "29611"},
                                                      {"TORCHELASTIC_USE_AGENT_STORE", "True"}};

// One task of `srun` inside an sbatch allocation of 2 nodes x 4 tasks.
const std::map<std::string, std::string> kSlurm = {{"SLURM_PROCID", "5"},
                                                   {"SLURM_NTASKS", "8"},
                                                   {"SLURM_STEP_NUM_TASKS", "8"},
                                                   {"SLURM_STEP_ID", "0"},
                                                   {"SLURM_LOCALID", "1"},
                                                   {"SLURM_NTASKS_PER_NODE", "4"},
                                                   {"SLURM_JOB_NODELIST", "gpu[07-08,12],login1"},
                                                   {"SLURM_JOB_ID", "123456"}};

std::map<std::string, std::string> with(std::map<std::string, std::string> m, const std::string& k,
                                        const std::string& v) {
  m[k] = v;
  return m;
}
std::map<std::string, std::string> without(std::map<std::string, std::string> m, const std::string& k) {
  m.erase(k);
  return m;
}

}  // namespace

TEST(DistEnv, NoVariablesIsOneProcess) {
  const DistEnv e = parse({});
  EXPECT_FALSE(e.distributed());
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.source, "single");
  // One SLURM task is not a distributed job either.
  EXPECT_FALSE(parse({{"SLURM_NTASKS", "1"}, {"SLURM_PROCID", "0"}}).distributed());
  EXPECT_FALSE(parse({{"SLURM_NTASKS", "1"}, {"SLURM_STEP_NUM_TASKS", "1"}, {"SLURM_PROCID", "0"}}).distributed());
  EXPECT_TRUE(e.note.empty());
}

TEST(DistEnv, SlurmBatchScriptWithoutSrunIsOneProcess) {
  // The batch script of `sbatch --ntasks=8` runs once, as task 0, with the job's variables but
  // no step: waiting for 7 more ranks would hang until the store timed out.
  auto batch = without(without(kSlurm, "SLURM_STEP_NUM_TASKS"), "SLURM_STEP_ID");
  batch["SLURM_PROCID"] = "0";
  batch["SLURM_LOCALID"] = "0";
  const DistEnv e = parse(batch);
  EXPECT_FALSE(e.distributed());
  EXPECT_EQ(e.source, "single");
  EXPECT_NE(e.note.find("SLURM_NTASKS=8"), std::string::npos) << e.note;
  EXPECT_NE(e.note.find("srun"), std::string::npos) << e.note;
}

TEST(DistEnv, SlurmStepSmallerThanTheAllocation) {
  // `srun -n 2 --nodes 1` inside the 8-task allocation: the step's counts and nodes, not the job's.
  auto step = with(with(kSlurm, "SLURM_STEP_NUM_TASKS", "2"), "SLURM_STEP_TASKS_PER_NODE", "2");
  step = with(with(step, "SLURM_STEP_NODELIST", "gpu12"), "SLURM_PROCID", "1");
  const DistEnv e = parse(step);
  EXPECT_EQ(e.source, "slurm");
  EXPECT_EQ(e.world_size, 2);
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.master_addr, "gpu12");
  EXPECT_NE(error_of(with(step, "SLURM_PROCID", "2")).find("SLURM_PROCID=2 is outside [0, SLURM_STEP_NUM_TASKS=2)"),
            std::string::npos);
}

TEST(DistEnv, Torchrun) {
  const DistEnv e = parse(kTorchrun);
  EXPECT_TRUE(e.distributed());
  EXPECT_EQ(e.source, "torchrun");
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.master_addr, "10.0.0.7");
  EXPECT_EQ(e.master_port, 29611);
  EXPECT_TRUE(e.agent_store);
  EXPECT_FALSE(parse(with(kTorchrun, "TORCHELASTIC_USE_AGENT_STORE", "False")).agent_store);
  EXPECT_FALSE(parse(without(kTorchrun, "TORCHELASTIC_USE_AGENT_STORE")).agent_store);
  // Without the local variables: one node, every rank local.
  const DistEnv one = parse(without(without(kTorchrun, "LOCAL_RANK"), "LOCAL_WORLD_SIZE"));
  EXPECT_EQ(one.local_rank, 3);
  EXPECT_EQ(one.local_world_size, 4);
}

TEST(DistEnv, TorchrunWinsOverSlurm) {
  auto both = kSlurm;
  for (const auto& kv : kTorchrun) both[kv.first] = kv.second;
  const DistEnv e = parse(both);
  EXPECT_EQ(e.source, "torchrun");
  EXPECT_EQ(e.rank, 3);
}

TEST(DistEnv, TorchrunErrorsNameTheVariable) {
  EXPECT_NE(error_of(without(kTorchrun, "RANK")).find("RANK is not set"), std::string::npos);
  EXPECT_NE(error_of(without(kTorchrun, "MASTER_ADDR")).find("MASTER_ADDR is not set"), std::string::npos);
  EXPECT_NE(error_of(without(kTorchrun, "MASTER_PORT")).find("MASTER_PORT is not set"), std::string::npos);
  EXPECT_NE(error_of(with(kTorchrun, "RANK", "4")).find("RANK=4 is outside [0, WORLD_SIZE=4)"), std::string::npos);
  EXPECT_NE(error_of(with(kTorchrun, "RANK", "-1")).find("RANK=-1"), std::string::npos);
  EXPECT_NE(error_of(with(kTorchrun, "WORLD_SIZE", "four")).find("WORLD_SIZE='four' is not an integer"),
            std::string::npos);
  EXPECT_NE(error_of(with(kTorchrun, "WORLD_SIZE", "0")).find("WORLD_SIZE=0"), std::string::npos);
  EXPECT_NE(error_of(with(kTorchrun, "RANK", "1x")).find("RANK='1x'"), std::string::npos);
  EXPECT_NE(error_of(with(kTorchrun, "MASTER_PORT", "70000")).find("MASTER_PORT=70000 is not a TCP port"),
            std::string::npos);
  EXPECT_NE(error_of(with(kTorchrun, "LOCAL_RANK", "2")).find("LOCAL_RANK=2 is outside [0, LOCAL_WORLD_SIZE=2)"),
            std::string::npos);
  EXPECT_NE(error_of(with(kTorchrun, "LOCAL_WORLD_SIZE", "5")).find("LOCAL_WORLD_SIZE=5"), std::string::npos);
  EXPECT_NE(error_of(without(kTorchrun, "LOCAL_RANK")).find("LOCAL_RANK is not set"), std::string::npos);
  EXPECT_NE(error_of(with(kTorchrun, "TORCHELASTIC_USE_AGENT_STORE", "yes")).find("TORCHELASTIC_USE_AGENT_STORE"),
            std::string::npos);
}

TEST(DistEnv, Slurm) {
  const DistEnv e = parse(kSlurm);
  EXPECT_EQ(e.source, "slurm");
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.world_size, 8);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 4);
  EXPECT_EQ(e.master_addr, "gpu07");
  EXPECT_EQ(e.master_port, 29500 + 123456 % 1000);
  EXPECT_FALSE(e.agent_store);
  // MASTER_ADDR/MASTER_PORT from the sbatch script win over the node list and the job id.
  const DistEnv m = parse(with(with(kSlurm, "MASTER_ADDR", "head"), "MASTER_PORT", "4000"));
  EXPECT_EQ(m.master_addr, "head");
  EXPECT_EQ(m.master_port, 4000);
  // SLURM_TASKS_PER_NODE's "4(x2)" form when SLURM_NTASKS_PER_NODE is absent.
  EXPECT_EQ(parse(with(without(kSlurm, "SLURM_NTASKS_PER_NODE"), "SLURM_TASKS_PER_NODE", "4(x2)")).local_world_size, 4);
}

TEST(DistEnv, SlurmErrorsNameTheVariable) {
  EXPECT_NE(error_of(without(kSlurm, "SLURM_PROCID")).find("SLURM_PROCID is not set"), std::string::npos);
  EXPECT_NE(error_of(without(kSlurm, "SLURM_LOCALID")).find("SLURM_LOCALID is not set"), std::string::npos);
  EXPECT_NE(error_of(with(kSlurm, "SLURM_PROCID", "8")).find("SLURM_PROCID=8 is outside [0, SLURM_STEP_NUM_TASKS=8)"),
            std::string::npos);
  EXPECT_NE(error_of(without(kSlurm, "SLURM_JOB_NODELIST")).find("SLURM_JOB_NODELIST"), std::string::npos);
  EXPECT_NE(error_of(with(kSlurm, "SLURM_JOB_NODELIST", "gpu[07-08")).find("unbalanced"), std::string::npos);
  EXPECT_NE(error_of(with(kSlurm, "SLURM_STEP_NUM_TASKS", "many")).find("SLURM_STEP_NUM_TASKS='many'"),
            std::string::npos);
  // The tasks-per-node count named is the one read: the step's before the job's; none set
  // means every task on one node, bounded by the step's task count.
  EXPECT_NE(error_of(with(kSlurm, "SLURM_NTASKS_PER_NODE", "x")).find("SLURM_NTASKS_PER_NODE='x'"), std::string::npos);
  EXPECT_EQ(parse(with(with(kSlurm, "SLURM_STEP_TASKS_PER_NODE", "2"), "SLURM_NTASKS_PER_NODE", "x")).local_world_size,
            2);
  EXPECT_EQ(parse(without(kSlurm, "SLURM_NTASKS_PER_NODE")).local_world_size, 8);
  EXPECT_NE(error_of(with(without(kSlurm, "SLURM_NTASKS_PER_NODE"), "SLURM_LOCALID", "9"))
                .find("SLURM_LOCALID=9 is outside [0, SLURM_STEP_NUM_TASKS=8)"),
            std::string::npos);
}

TEST(DistEnv, SlurmFirstHost) {
  EXPECT_EQ(ct::dist::slurm_first_host("node01"), "node01");
  EXPECT_EQ(ct::dist::slurm_first_host("a,b,c"), "a");
  EXPECT_EQ(ct::dist::slurm_first_host("node[01-04,07]"), "node01");
  EXPECT_EQ(ct::dist::slurm_first_host("node[7,3-4],other[1-2]"), "node7");
  EXPECT_EQ(ct::dist::slurm_first_host("rack1-[3-4]-ib"), "rack1-3-ib");
  EXPECT_EQ(ct::dist::slurm_first_host("r[2-3]n[005-006]"), "r2n005");
  EXPECT_THROW(ct::dist::slurm_first_host(""), ct::ConfigError);
  EXPECT_THROW(ct::dist::slurm_first_host("node]1["), ct::ConfigError);
  EXPECT_THROW(ct::dist::slurm_first_host("node[a-b]"), ct::ConfigError);
}

TEST(DistEnv, RankThreads) {
  EXPECT_EQ(ct::dist::rank_threads(16, 4), 4);
  EXPECT_EQ(ct::dist::rank_threads(2, 2), 1);
  EXPECT_EQ(ct::dist::rank_threads(2, 4), 1);
  EXPECT_EQ(ct::dist::rank_threads(8, 1), 8);
}
