// `cardiotorch launch`: exit codes and tagged output, a rank that dies or hangs ends the job
// with a clear error (no hang), and 2 ranks x batch B train the same model as 1 rank x 2B.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cardiotorch/core/error.h"
#include "cardiotorch/dist/launcher.h"
#include "cardiotorch/dist/process_group.h"
#include "cardiotorch/weights/save.h"
#include "support/sample_config.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Sets an environment variable for the CLI processes of one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

// A tiny multilabel run on data/sample/cinc2021 (40 training records): a 1-block ViT (LayerNorm,
// no BatchNorm, no dropout or stochastic depth: those draw from each rank's own generator),
// random crops and augmentation drawn per sample, 5 global batches of 8 per epoch.
std::string tiny_vit_config(const std::string& dir, int64_t batch_size, int64_t steps) {
  const std::string path = ct::str_cat(dir, "/tiny_b", batch_size, ".yaml");
  ct::test::write_file(
      path,
      ct::str_cat(ct::test::sample_experiment_head(
                      "tiny", dir, 3, ct::str_cat("{batch_size: ", batch_size, ", num_workers: 1, crop: 256}")),
                  R"(preprocess: [{name: zscore}]
augment: [{name: jitter, p: 0.5}, {name: rescaling, p: 0.5}]
model: {name: ecg_classifier, samples: 0, patch_size: [1, 32], embed_dim: 16, depth: 1, num_heads: 2, drop_path_rate: 0.0}
optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
scheduler: {name: warmup_cosine, unit: step, warmup: 2}
train: {steps: )",
                  steps, R"(, val_every: 0, log_every: 1, checkpoint_every_steps: 3, keep_last: 100, progress: false}
finetune: {evaluate_best: false}
)"));
  return path;
}

std::map<std::string, at::Tensor> model_of(const std::string& ckpt) {
  const auto data = ct::weights::load_checkpoint(ckpt);
  std::map<std::string, at::Tensor> out;
  for (const auto& [k, t] : data.groups.at("model")) out[k] = t;
  return out;
}

std::string last_checkpoint(const std::string& run) {
  std::string best;
  for (const auto& e : fs::directory_iterator(run + "/checkpoints"))
    if (e.path().filename().string().rfind("step-", 0) == 0 && e.path().string() > best) best = e.path().string();
  return best;
}

bool have_gloo() { return ct::dist::backend_available("gloo"); }

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

TEST(LaunchCli, RanksSucceedTaggedOutput) {
  std::string out;
  ASSERT_EQ(ct::test::run_cli("launch --nproc 2 -- --version", &out), 0) << out;
  EXPECT_NE(out.find("[rank 0] cardiotorch"), std::string::npos) << out;
  EXPECT_NE(out.find("[rank 1] cardiotorch"), std::string::npos) << out;
}

TEST(LaunchCli, FailingRankGivesItsExitCodeAndMessage) {
  std::string out;
  // Every rank fails with a usage error (exit 2): the first one reported ends the job.
  EXPECT_EQ(ct::test::run_cli("launch --nproc 2 -- finetune --config /nonexistent.yaml", &out), 2) << out;
  EXPECT_NE(out.find("launch: error: rank "), std::string::npos) << out;
  EXPECT_NE(out.find("failed (exit code 2)"), std::string::npos) << out;
  EXPECT_NE(out.find("nonexistent.yaml"), std::string::npos) << out;
}

TEST(LaunchCli, UsageErrors) {
  std::string out;
  EXPECT_EQ(ct::test::run_cli("launch --nproc 0 -- --version", &out), 2) << out;
  EXPECT_EQ(ct::test::run_cli("launch --nproc 2", &out), 2) << out;
  EXPECT_EQ(ct::test::run_cli("launch --help", &out), 0) << out;
  EXPECT_NE(out.find("cardiotorch launch --nproc 2 -- finetune --config"), std::string::npos) << out;
}

TEST(LaunchCli, KilledRankStopsTheJob) {
  if (!have_gloo()) GTEST_SKIP() << "this build has no Gloo backend";
  const std::string dir = ct::test::make_temp_dir("launch_kill");
  const std::string cfg = tiny_vit_config(dir, 4, 6);
  ScopedEnv fault("CT_DIST_FAULT", "rank=1,step=2,action=kill");
  std::string out;
  const auto t0 = Clock::now();
  const int rc = ct::test::run_cli("launch --nproc 2 --timeout 20 -- finetune -q --config " + cfg, &out);
  EXPECT_EQ(rc, 128 + 9) << out;
  EXPECT_NE(out.find("[rank 1] CT_DIST_FAULT: rank 1 kill at step 2"), std::string::npos) << out;
  EXPECT_NE(out.find("launch: error: rank 1 of 2 failed (killed by signal 9"), std::string::npos) << out;
  // The launcher stopped rank 0 at once, long before the 20 s collective timeout.
  EXPECT_LT(seconds_since(t0), 15.0) << out;
}

TEST(LaunchCli, HungRankTimesOutWithAClearError) {
  if (!have_gloo()) GTEST_SKIP() << "this build has no Gloo backend";
  // Rank 1 hangs after step 2; rank 0's next all-reduce fails after the 2 s timeout, naming
  // the operation, and the launcher reports rank 0's error and stops rank 1.
  const std::string dir = ct::test::make_temp_dir("launch_hang");
  const std::string cfg = tiny_vit_config(dir, 4, 6);
  ScopedEnv fault("CT_DIST_FAULT", "rank=1,step=2,action=hang");
  std::string out;
  const auto t0 = Clock::now();
  const int rc = ct::test::run_cli("launch --nproc 2 --timeout 2 --grace 1 -- finetune -q --config " + cfg, &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("launch: error: rank 0 of 2 failed (exit code 1)"), std::string::npos) << out;
  EXPECT_NE(out.find("all-reduce failed on rank 0 (timeout 2 s"), std::string::npos) << out;
  EXPECT_LT(seconds_since(t0), 20.0) << out;
}

TEST(LaunchCli, PortInUseIsAClearError) {
  if (!have_gloo()) GTEST_SKIP() << "this build has no Gloo backend";
  const std::string dir = ct::test::make_temp_dir("launch_port");
  const std::string cfg = tiny_vit_config(dir, 4, 2);
  // A listening socket on the port: rank 0's store cannot bind it.
  ct::dist::DistEnv env;
  env.world_size = 1;
  env.master_port = ct::dist::free_port();
  auto holder = ct::dist::Store::tcp(env, std::chrono::seconds(5));
  std::string out;
  const int rc = ct::test::run_cli(
      ct::str_cat("launch --nproc 2 --master-port ", env.master_port, " --timeout 3 -- finetune -q --config ", cfg),
      &out);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find(ct::str_cat("MASTER_PORT=", env.master_port, " is already in use")), std::string::npos) << out;
}

TEST(LaunchCli, TwoRanksMatchOneRankWithTheGlobalBatch) {
  if (!have_gloo()) GTEST_SKIP() << "this build has no Gloo backend";
  // 2 ranks x batch 4 against 1 rank x batch 8, 7 steps (across an epoch boundary): rank r's
  // batch k is every other sample of the single run's batch k, the loss is the mean over the
  // global batch, so the weights agree to float tolerance (summation order differs: not bitwise).
  const std::string dir = ct::test::make_temp_dir("launch_match");
  std::string out;
  ASSERT_EQ(
      ct::test::run_cli("finetune -q --threads 1 --config " + tiny_vit_config(dir, 8, 7) + " --set name=one", &out), 0)
      << out;
  ASSERT_EQ(ct::test::run_cli(
                "launch --nproc 2 -- finetune -q --config " + tiny_vit_config(dir, 4, 7) + " --set name=two", &out),
            0)
      << out;
  const auto one = model_of(last_checkpoint(dir + "/runs/one"));
  const auto two = model_of(last_checkpoint(dir + "/runs/two"));
  EXPECT_EQ(last_checkpoint(dir + "/runs/two").substr(dir.size() + 9),
            last_checkpoint(dir + "/runs/one").substr(dir.size() + 9));
  ASSERT_EQ(one.size(), two.size());
  double max_diff = 0;
  for (const auto& [k, t] : one) {
    ASSERT_TRUE(two.count(k)) << k;
    const double d = (t - two.at(k)).abs().max().item<double>();
    max_diff = std::max(max_diff, d);
    EXPECT_TRUE(at::allclose(t, two.at(k), 1e-4, 1e-5)) << k << ": max |diff| " << d;
  }
  // Rank 0 alone logged, the loss of the global batch: the same records as the single run.
  const auto losses = [](const std::string& path) {
    std::vector<double> v;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line);
      if (j.value("split", "") == "train" && j.contains("loss")) v.push_back(j["loss"].get<double>());
    }
    return v;
  };
  const auto la = losses(dir + "/runs/one/metrics.jsonl"), lb = losses(dir + "/runs/two/metrics.jsonl");
  ASSERT_EQ(la.size(), 7u);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(la[i], lb[i], 1e-4 * std::abs(la[i]) + 1e-6) << "step " << i + 1;
  // The validation at the end, sharded over the 2 ranks (5 records each) and computed by rank 0
  // on the gathered outputs: the single process's values.
  const auto validation = [](const std::string& path) {
    nlohmann::json last;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line);
      if (j.value("split", "") == "val") last = j;
    }
    return last;
  };
  const auto va = validation(dir + "/runs/one/metrics.jsonl"), vb = validation(dir + "/runs/two/metrics.jsonl");
  ASSERT_FALSE(va.is_null());
  ASSERT_FALSE(vb.is_null());
  for (const char* k : {"loss", "auroc_macro", "auprc_macro", "f1_macro"}) {
    ASSERT_TRUE(va.contains(k) && vb.contains(k)) << k;
    EXPECT_NEAR(va[k].get<double>(), vb[k].get<double>(), 1e-4 * std::abs(va[k].get<double>()) + 1e-6) << k;
  }

  // Resume on another world size: the 2-rank run's step-3 checkpoint continued by one process
  // with batch 8 (the same global batch) ends where the uninterrupted runs ended.
  ASSERT_EQ(
      ct::test::run_cli("finetune -q --threads 1 --config " + tiny_vit_config(dir, 8, 7) +
                            " --set name=resumed --resume " + dir + "/runs/two/checkpoints/step-00000003.safetensors",
                        &out),
      0)
      << out;
  const auto resumed = model_of(last_checkpoint(dir + "/runs/resumed"));
  for (const auto& [k, t] : one)
    EXPECT_TRUE(at::allclose(t, resumed.at(k), 1e-4, 1e-5))
        << k << ": max |diff| " << (t - resumed.at(k)).abs().max().item<double>();
  // A different global batch is refused with the reason.
  EXPECT_EQ(ct::test::run_cli("finetune -q --config " + tiny_vit_config(dir, 4, 7) + " --set name=bad --resume " + dir +
                                  "/runs/two/checkpoints/step-00000003.safetensors",
                              &out),
            1)
      << out;
  EXPECT_NE(out.find("global batch 8 (batch_size 4 x 2 ranks) vs 4 now"), std::string::npos) << out;
  RecordProperty("max_abs_diff", std::to_string(max_diff));
}

TEST(LaunchCli, OnlyRankZeroPrints) {
  if (!have_gloo()) GTEST_SKIP() << "this build has no Gloo backend";
  // Info logs, progress bars and the command's summary come from rank 0 alone; the other ranks
  // print warnings and errors only (none here).
  const std::string dir = ct::test::make_temp_dir("launch_quiet");
  std::string out;
  ASSERT_EQ(
      ct::test::run_cli(
          "launch --nproc 2 -- finetune --config " + tiny_vit_config(dir, 4, 2) + " --set train.progress=true", &out),
      0)
      << out;
  EXPECT_NE(out.find("[rank 0] run directory: "), std::string::npos) << out;
  EXPECT_NE(out.find("[rank 0] [I] validation at step 2"), std::string::npos) << out;
  EXPECT_EQ(out.find("[rank 1]"), std::string::npos) << out;
}

TEST(LaunchCli, RunRefusesSeveralRanks) {
  // `cardiotorch run` is one process; under a launcher it stops at once and says what to do.
  std::string out;
  EXPECT_EQ(ct::test::run_cli("launch --nproc 2 -- run " + ct::test::source_path("configs/demo.yaml"), &out), 2) << out;
  EXPECT_NE(out.find("run: the main job runs in one process, not as rank "), std::string::npos) << out;
  EXPECT_NE(out.find("cardiotorch launch --nproc N -- finetune --config F"), std::string::npos) << out;
}

TEST(LaunchCli, SingleProcessCommandsRefuseSeveralRanks) {
  // evaluate / predict / embed ... under a launcher would each do the whole job on every rank and
  // write the same outputs; they stop before reading anything (the checkpoint need not exist).
  std::string out;
  EXPECT_EQ(ct::test::run_cli("launch --nproc 2 -- model-info ecg_crnn", &out), 2) << out;
  EXPECT_NE(out.find("model-info: runs in one process, not as rank "), std::string::npos) << out;
  EXPECT_NE(out.find("only finetune and pretrain train on several ranks"), std::string::npos) << out;
  // In an sbatch script with --ntasks=4 but no srun (the child inherits these) the same command runs.
  ::setenv("SLURM_NTASKS", "4", 1);
  ::setenv("SLURM_PROCID", "0", 1);
  const int rc = ct::test::run_cli("model-info ecg_crnn --num-classes 2", &out);
  ::unsetenv("SLURM_NTASKS");
  ::unsetenv("SLURM_PROCID");
  EXPECT_EQ(rc, 0) << out;
}

TEST(LaunchCli, TorchrunNoPythonRunsTheBinary) {
  if (!have_gloo()) GTEST_SKIP() << "this build has no Gloo backend";
  // torchrun's agent serves the store (TORCHELASTIC_USE_AGENT_STORE=True): rank 0 must connect
  // to it rather than start its own. Skips without Debian's python3-torch.
  if (std::system("/usr/bin/python3 -c 'import torch.distributed.run' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 has no torch.distributed.run";
  const std::string dir = ct::test::make_temp_dir("torchrun");
  const std::string cfg = tiny_vit_config(dir, 4, 2);
  const int port = ct::dist::free_port();
  // torch 1.13 with Python 3.11 needs --redirects 1 --tee 1 (docs/distributed.md).
  const std::string cmd = ct::str_cat(
      "/usr/bin/python3 -m torch.distributed.run --nnodes=1 --nproc_per_node=2 --master_addr=127.0.0.1 --master_port=",
      port, " --redirects 1 --tee 1 --no_python ", CT_CLI_PATH, " finetune -q --config ", cfg, " 2>&1");
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_TRUE(fs::exists(dir + "/runs/tiny/checkpoints/step-00000002.safetensors")) << out;
}
