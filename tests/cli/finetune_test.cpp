// The training commands from the CLI: exact resume after SIGKILL, finetune -> evaluate ->
// predict -> embed on the bundled real sample, and MIT-BIH beats from ../shared/data.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cardiotorch/app/task.h"
#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/weights/save.h"
#include "support/sample_config.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace fs = std::filesystem;

namespace {

// A tiny multilabel run on data/sample/cinc2021 (50 real 12-lead records): a small CNN on
// 256-sample crops, with augmentation and dropout so that every random source matters.
std::string tiny_config(const std::string& dir, int64_t steps, int64_t checkpoint_every) {
  const std::string path = dir + "/tiny.yaml";
  ct::test::write_file(
      path, ct::str_cat(ct::test::sample_experiment_head("tiny", dir, 3, "{batch_size: 8, num_workers: 2, crop: 256}"),
                        R"(preprocess: [{name: zscore}]
augment: [{name: jitter, p: 0.5}, {name: rescaling, p: 0.5}]
model: {name: plain_cnn, channels: [8, 16], kernels: [5, 3], dropout: 0.2}
optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
scheduler: {name: warmup_cosine, unit: step, warmup: 5}
train: {steps: )",
                        steps, R"(, checkpoint_every_steps: )", checkpoint_every,
                        R"(, keep_last: 100, val_every_steps: 15, log_every: 5, progress: false}
finetune: {evaluate_best: false}
)"));
  return path;
}

std::map<std::string, at::Tensor> group(const std::string& ckpt, const std::string& name) {
  const auto data = ct::weights::load_checkpoint(ckpt);
  std::map<std::string, at::Tensor> out;
  for (const auto& [k, t] : data.groups.at(name)) out[k] = t;
  return out;
}

void expect_bitwise_equal(const std::map<std::string, at::Tensor>& a, const std::map<std::string, at::Tensor>& b,
                          const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [k, t] : a) {
    ASSERT_TRUE(b.count(k)) << what << ": " << k;
    EXPECT_TRUE(t.scalar_type() == b.at(k).scalar_type() && at::equal(t, b.at(k))) << what << ": " << k;
  }
}

}  // namespace

TEST(FinetuneCli, ResumeAfterSigkillIsBitwiseExact) {
  const std::string dir = ct::test::make_temp_dir("sigkill");
  constexpr int64_t kSteps = 60, kHalf = 30;
  const std::string cfg = tiny_config(dir, kSteps, kHalf);
  const std::string flags = " -q --deterministic --threads 1";
  std::string out;
  ASSERT_EQ(ct::test::run_cli("finetune --config " + cfg + " --set name=straight" + flags, &out), 0) << out;

  // The same run, killed with SIGKILL as soon as its step-30 checkpoint exists.
  const std::string run = dir + "/runs/killed";
  const std::string half = run + "/checkpoints/step-000000" + std::to_string(kHalf) + ".safetensors";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string log = dir + "/killed.log";
    FILE* f = std::freopen(log.c_str(), "w", stderr);
    (void)f;
    ::execl(CT_CLI_PATH, CT_CLI_PATH, "finetune", "--config", cfg.c_str(), "--set", "name=killed", "-q",
            "--deterministic", "--threads", "1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(half) && std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) FAIL() << "the run ended before its checkpoint (status " << st << ")";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the run finished before it could be killed";
  ASSERT_TRUE(fs::exists(half));
  // Resume from the step-30 checkpoint (whatever the killed run wrote after it).
  ASSERT_EQ(ct::test::run_cli("finetune --config " + cfg + " --set name=killed --resume " + half + flags, &out), 0)
      << out;

  const std::string a = dir + "/runs/straight/checkpoints/last.safetensors", b = run + "/checkpoints/last.safetensors";
  const auto state = ct::weights::load_checkpoint(b).sections.at("trainer");
  EXPECT_NE(state.find("\"step\":60"), std::string::npos) << state;
  expect_bitwise_equal(group(a, "model"), group(b, "model"), "model");
  expect_bitwise_equal(group(a, "optimizer"), group(b, "optimizer"), "optimizer");
  expect_bitwise_equal(group(a, "rng"), group(b, "rng"), "rng");
  // The resumed run's log holds each step once.
  std::ifstream log(run + "/metrics.jsonl");
  std::string line;
  std::map<int64_t, int> train_records;
  while (std::getline(log, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("split", "") == "train") ++train_records[j["step"].get<int64_t>()];
  }
  for (const auto& [step, n] : train_records) EXPECT_EQ(n, 1) << "step " << step;
  EXPECT_EQ(train_records.size(), static_cast<size_t>(kSteps / 5));
}

TEST(FinetuneCli, ResumeWithAnotherConfigIsRefused) {
  const std::string dir = ct::test::make_temp_dir("refuse");
  const std::string cfg = tiny_config(dir, 4, 2);
  std::string out;
  ASSERT_EQ(ct::test::run_cli("finetune --config " + cfg + " -q --threads 1", &out), 0) << out;
  EXPECT_EQ(ct::test::run_cli("finetune --config " + cfg + " --set optimizer.lr=0.01 --resume -q --threads 1", &out),
            2);
  EXPECT_NE(out.find("cannot resume"), std::string::npos) << out;
  EXPECT_NE(out.find("optimizer.lr: 0.003 -> 0.01"), std::string::npos) << out;
  // A fresh run over the old one is refused too, unless it replaces it.
  EXPECT_EQ(ct::test::run_cli("finetune --config " + cfg + " -q --threads 1", &out), 2);
  EXPECT_NE(out.find("already holds a run"), std::string::npos) << out;
  EXPECT_EQ(ct::test::run_cli("finetune --config " + cfg + " --overwrite -q --threads 1", &out), 0) << out;
}

TEST(FinetuneCli, FinetuneEvaluatePredictEmbed) {
  const std::string dir = ct::test::make_temp_dir("e2e");
  const std::string cfg = tiny_config(dir, 12, 0);
  std::string out;
  ASSERT_EQ(ct::test::run_cli("finetune --config " + cfg + " --set finetune.evaluate_best=true --threads 1", &out), 0)
      << out;
  const std::string run = dir + "/runs/tiny";
  for (const char* f : {"config.yaml", "run.log", "metrics.jsonl", "checkpoints/best.safetensors",
                        "checkpoints/last.safetensors", "eval_val/metrics.json", "eval_val/per_class.csv"})
    EXPECT_TRUE(fs::exists(run + "/" + f)) << f;
  bool tb = false;
  for (const auto& e : fs::directory_iterator(run + "/tensorboard"))
    tb = tb || e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_TRUE(tb);
  EXPECT_NE(out.find("best checkpoint"), std::string::npos) << out;
  const std::string best = run + "/checkpoints/best.safetensors";

  // evaluate on a directory (the same sample here), with its per-class table.
  ASSERT_EQ(ct::test::run_cli("evaluate --checkpoint " + best + " --data " +
                                  ct::test::source_path("data/sample/cinc2021") + " -o " + dir + "/eval --threads 1",
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("Se"), std::string::npos) << out;
  EXPECT_NE(out.find("+P"), std::string::npos) << out;
  EXPECT_NE(out.find("50 samples"), std::string::npos) << out;
  std::ifstream mj(dir + "/eval/metrics.json");
  const auto metrics = nlohmann::json::parse(mj);
  EXPECT_EQ(metrics["samples"].get<int64_t>(), 50);
  EXPECT_TRUE(metrics["metrics"].contains("auroc_macro"));
  // Without -o the report goes into the run directory, or beside a checkpoint kept outside one
  // (it used to go to <checkpoint's grandparent>, "/" for /tmp/model.safetensors).
  const std::string sample = ct::test::source_path("data/sample/cinc2021");
  ASSERT_EQ(ct::test::run_cli("evaluate --checkpoint " + best + " --data " + sample + " --threads 1", &out), 0) << out;
  EXPECT_TRUE(fs::exists(run + "/eval_cinc2021/metrics.json")) << out;
  fs::create_directories(dir + "/shipped");
  fs::copy_file(best, dir + "/shipped/model.safetensors");
  ASSERT_EQ(ct::test::run_cli(
                "evaluate --checkpoint " + dir + "/shipped/model.safetensors --data " + sample + " --threads 1", &out),
            0)
      << out;
  EXPECT_TRUE(fs::exists(dir + "/shipped/eval_cinc2021/metrics.json")) << out;

  // predict: one row per record with a probability per class.
  const std::string rec = ct::test::source_path("data/sample/cinc2021/E07500");
  ASSERT_EQ(ct::test::run_cli("predict --checkpoint " + best + " " + rec + " " +
                                  ct::test::source_path("data/sample/cinc2021/JS20000") + " -o " + dir + "/pred.json",
                              &out),
            0)
      << out;
  std::ifstream pj(dir + "/pred.json");
  const auto preds = nlohmann::json::parse(pj);
  ASSERT_EQ(preds["predictions"].size(), 2u);
  EXPECT_EQ(preds["predictions"][0]["record"], "E07500");
  EXPECT_EQ(preds["predictions"][0]["windows"].get<int>(), 20);  // 5000 samples / 256, last aligned to the end
  EXPECT_EQ(preds["predictions"][0]["probabilities"].size(), preds["classes"].size());
  ASSERT_EQ(ct::test::run_cli("predict --checkpoint " + best + " " + rec, &out), 0) << out;
  EXPECT_EQ(out.rfind("record,unit,sample,end,time_s,windows,p_", 0), 0u) << out;

  // embed: (N, D) embeddings + ids + labels.
  ASSERT_EQ(ct::test::run_cli("embed --checkpoint " + best + " --split val -o " + dir + "/emb.npy --threads 1", &out),
            0)
      << out;
  const at::Tensor emb = ct::io::read_npy(dir + "/emb.npy");
  EXPECT_EQ(emb.dim(), 2);
  EXPECT_EQ(emb.size(1), 16);
  EXPECT_TRUE(fs::exists(dir + "/emb_ids.csv"));
  EXPECT_EQ(ct::io::read_npy(dir + "/emb_labels.npy").size(0), emb.size(0));
  ASSERT_EQ(ct::test::run_cli("embed --checkpoint " + best + " --localized -o " + dir + "/loc.npy --threads 1", &out),
            0)
      << out;
  EXPECT_EQ(ct::io::read_npy(dir + "/loc.npy").dim(), 3);

  // A new run initialised from the checkpoint: its encoder's weights go through the key
  // matcher ('encoder.' prefix aligned, the old head unused), with the statistics logged.
  ASSERT_EQ(ct::test::run_cli("finetune --config " + cfg + " --set name=from_init --set train.steps=2 --init " + best +
                                  " --threads 1",
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("loaded 12/12 model tensors"), std::string::npos) << out;
  EXPECT_NE(out.find("prefix 'encoder.' -> ''"), std::string::npos) << out;
}

// Several runs of one task evaluated as one model: the ensemble's probabilities are the
// members' mean, evaluate and predict take --checkpoint more than once, and a member that reads
// other inputs is refused with the keys that differ.
TEST(FinetuneCli, EnsembleAveragesTheMembersProbabilities) {
  const std::string dir = ct::test::make_temp_dir("ensemble");
  const std::string cfg = tiny_config(dir, 6, 0);
  std::string out;
  for (const char* seed : {"1", "2"})
    ASSERT_EQ(ct::test::run_cli(ct::str_cat("finetune --config ", cfg, " --set name=s", seed, " --set seed=", seed,
                                            " -q --threads 1"),
                                &out),
              0)
        << out;
  const std::string a = dir + "/runs/s1/checkpoints/best.safetensors",
                    b = dir + "/runs/s2/checkpoints/best.safetensors";

  const ct::app::TrainedModel ma = ct::app::load_trained(a), mb = ct::app::load_trained(b),
                              ens = ct::app::load_ensemble({a, b});
  EXPECT_EQ(ens.members, (std::vector<std::string>{a, b}));
  const at::Tensor x = at::randn({3, 12, 256}, at::TensorOptions().dtype(at::kFloat));
  at::NoGradGuard no_grad;
  const at::Tensor pa = at::sigmoid(ma.model->forward(x)), pb = at::sigmoid(mb.model->forward(x));
  ASSERT_FALSE(at::allclose(pa, pb)) << "two seeds gave the same model";
  const at::Tensor pe = at::sigmoid(ens.model->forward(x));  // multilabel: the ensemble's outputs are logits
  EXPECT_TRUE(at::allclose(pe, (pa + pb) / 2, 1e-5, 1e-6)) << pe << (pa + pb) / 2;
  // One path is the checkpoint itself.
  EXPECT_TRUE(at::equal(ct::app::load_ensemble({a}).model->forward(x), ma.model->forward(x)));

  const std::string data = ct::test::source_path("data/sample/cinc2021");
  ASSERT_EQ(ct::test::run_cli(
                "evaluate --checkpoint " + a + " " + b + " --data " + data + " -o " + dir + "/eval --threads 1", &out),
            0)
      << out;
  EXPECT_NE(out.find("50 samples"), std::string::npos) << out;
  std::ifstream members(dir + "/eval/members.txt");
  std::string first, second;
  std::getline(members, first);
  std::getline(members, second);
  EXPECT_EQ(first, a);
  EXPECT_EQ(second, b);
  // --checkpoint takes one path each time: the record after it stays a record.
  const std::string rec = ct::test::source_path("data/sample/cinc2021/E07500");
  ASSERT_EQ(ct::test::run_cli(
                "predict --checkpoint " + a + " --checkpoint " + b + " " + rec + " -o " + dir + "/pred.json", &out),
            0)
      << out;
  std::ifstream pj(dir + "/pred.json");
  const auto preds = nlohmann::json::parse(pj);
  ASSERT_EQ(preds["predictions"].size(), 1u);
  EXPECT_EQ(preds["predictions"][0]["record"], "E07500");

  // A member with other preprocessing reads other inputs: refused, naming it and the key.
  ASSERT_EQ(
      ct::test::run_cli("finetune --config " + cfg + " --set name=other --set preprocess=[] -q --threads 1", &out), 0)
      << out;
  const std::string c = dir + "/runs/other/checkpoints/best.safetensors";
  EXPECT_EQ(ct::test::run_cli("evaluate --checkpoint " + a + " --checkpoint " + c + " --data " + data, &out), 2);
  EXPECT_NE(out.find("ensemble: " + c), std::string::npos) << out;
  EXPECT_NE(out.find("preprocess"), std::string::npos) << out;
}

// `cardiotorch ensemble` packs runs into one file that loads as their ensemble: the same outputs,
// the same decision rule and the same evaluation as the checkpoints given side by side; what an
// ensemble cannot do (embed, another weight group, nesting) is refused, a damaged file names
// what is missing.
// `ensemble --tune val`: the ensemble's own rule, tuned on the validation split its members
// share, instead of the mean of the members' rules; members that held out other items, or were
// trained without a rule to tune, are refused.
TEST(FinetuneCli, EnsembleRuleTunedOnTheMembersCommonValSplit) {
  const std::string dir = ct::test::make_temp_dir("ensemble_tune");
  const std::string cfg = tiny_config(dir, 6, 0);
  std::string out;
  const std::string tuned = " --set finetune.decisions.tune=f1 --set finetune.decisions.min_positives=1";
  // s1 and s3 split the data alike (split seed 1), s2 by its own seed and without a rule.
  for (const std::string& args :
       {"--set name=s1 --set seed=1" + tuned, "--set name=s3 --set seed=3 --set data.split.seed=1" + tuned,
        std::string("--set name=s2 --set seed=2")})
    ASSERT_EQ(ct::test::run_cli("finetune --config " + cfg + " " + args + " -q --threads 1", &out), 0) << out;
  auto ckpt = [&](const char* run) { return dir + "/runs/" + run + "/checkpoints/best.safetensors"; };
  const std::string a = ckpt("s1"), b = ckpt("s2"), c = ckpt("s3");
  const std::string mean = dir + "/mean.safetensors", own = dir + "/own.safetensors";
  ASSERT_EQ(ct::test::run_cli("ensemble " + a + " " + c + " -o " + mean, &out), 0) << out;
  ASSERT_EQ(ct::test::run_cli("ensemble " + a + " " + c + " --tune val -o " + own, &out), 0) << out;
  EXPECT_NE(out.find("decisions: f1 on the members' val split (10 items), for the ensemble"), std::string::npos) << out;
  const ct::app::TrainedModel m = ct::app::load_trained(mean), o = ct::app::load_trained(own);
  ASSERT_EQ(o.info.thresholds.size(), m.info.thresholds.size());
  EXPECT_NE(o.info.thresholds, m.info.thresholds);
  // Thresholds tuned per class over every cut of the ensemble's own validation scores: its F1
  // there is at least the mean rule's, class by class.
  auto val_f1 = [&](const std::string& file, const std::string& report) {
    EXPECT_EQ(ct::test::run_cli("evaluate --checkpoint " + file + " --split val -o " + report + " --threads 1", &out),
              0)
        << out;
    std::ifstream in(report + "/metrics.json");
    const auto j = nlohmann::json::parse(in);
    EXPECT_EQ(j["samples"].get<int64_t>(), 10);
    return j["metrics"];
  };
  const auto fm = val_f1(mean, dir + "/em"), fo = val_f1(own, dir + "/eo");
  EXPECT_GE(fo["f1_macro"].get<double>(), fm["f1_macro"].get<double>() - 1e-12);
  for (const auto& [k, v] : fo.items())
    if (k.rfind("f1/", 0) == 0 && fm.contains(k) && v.is_number() && fm[k].is_number()) {
      EXPECT_GE(v.get<double>(), fm[k].get<double>() - 1e-12) << k;
    }

  EXPECT_EQ(ct::test::run_cli("ensemble " + a + " " + b + " --tune val -o " + dir + "/x.safetensors", &out), 2);
  EXPECT_NE(out.find(b + " holds out other val items (10) than " + a + " (10)"), std::string::npos) << out;
  EXPECT_EQ(ct::test::run_cli("ensemble " + b + " " + a + " --tune val -o " + dir + "/y.safetensors", &out), 2);
  EXPECT_NE(out.find(b + " was trained without finetune.decisions.tune"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir + "/x.safetensors") || fs::exists(dir + "/y.safetensors"));
  EXPECT_NE(ct::test::run_cli("ensemble " + a + " " + c + " --tune test -o " + dir + "/z.safetensors", &out), 0);
  // --decisions sets the rule to tune over the members' (needed for runs trained without one).
  ASSERT_EQ(ct::test::run_cli("ensemble " + a + " " + c + " --tune val --decisions '{tune: youden}' -o " + dir +
                                  "/youden.safetensors",
                              &out),
            0)
      << out;
  EXPECT_NE(out.find("decisions: youden on the members' val split (10 items)"), std::string::npos) << out;
  EXPECT_EQ(
      ct::test::run_cli(
          "ensemble " + a + " " + c + " --tune val --decisions '{tnue: f1}' -o " + dir + "/typo.safetensors", &out),
      2);
  EXPECT_NE(out.find("tnue"), std::string::npos) << out;
  EXPECT_EQ(
      ct::test::run_cli("ensemble " + a + " " + c + " --decisions '{tune: f1}' -o " + dir + "/no.safetensors", &out),
      2);
  EXPECT_NE(out.find("--decisions applies to --tune val"), std::string::npos) << out;
}

TEST(FinetuneCli, EnsembleFileIsTheEnsembleOfItsMembers) {
  const std::string dir = ct::test::make_temp_dir("ensemble_file");
  const std::string cfg = tiny_config(dir, 6, 0);
  std::string out;
  for (const char* seed : {"1", "2"})
    ASSERT_EQ(
        ct::test::run_cli(
            ct::str_cat("finetune --config ", cfg, " --set name=s", seed, " --set seed=", seed,
                        " --set finetune.decisions.tune=f1 --set finetune.decisions.min_positives=1 -q --threads 1"),
            &out),
        0)
        << out;
  const std::string a = dir + "/runs/s1/checkpoints/best.safetensors",
                    b = dir + "/runs/s2/checkpoints/best.safetensors", e = dir + "/ens.safetensors";
  ASSERT_EQ(ct::test::run_cli("ensemble " + a + " " + b + " -o " + e, &out), 0) << out;
  EXPECT_NE(out.find("ensemble of 2 checkpoints"), std::string::npos) << out;

  const ct::app::TrainedModel file = ct::app::load_trained(e), sides = ct::app::load_ensemble({a, b});
  ASSERT_EQ(file.members.size(), 2u);
  EXPECT_NE(file.members[0].find("from " + a), std::string::npos) << file.members[0];
  EXPECT_NE(file.members[1].find("from " + b), std::string::npos) << file.members[1];
  EXPECT_FALSE(sides.info.thresholds.empty());
  EXPECT_EQ(file.info.thresholds, sides.info.thresholds);
  EXPECT_EQ(file.info.class_names, sides.info.class_names);
  const at::Tensor x = at::randn({3, 12, 256}, at::TensorOptions().dtype(at::kFloat));
  {
    at::NoGradGuard no_grad;
    EXPECT_TRUE(at::equal(file.model->forward(x), sides.model->forward(x)));
  }

  const std::string data = ct::test::source_path("data/sample/cinc2021");
  std::string from_file, from_paths;
  ASSERT_EQ(ct::test::run_cli("evaluate --checkpoint " + e + " --data " + data + " -o " + dir + "/ef --threads 1",
                              &from_file),
            0)
      << from_file;
  ASSERT_EQ(
      ct::test::run_cli("evaluate --checkpoint " + a + " " + b + " --data " + data + " -o " + dir + "/ep --threads 1",
                        &from_paths),
      0)
      << from_paths;
  // Everything but the progress line and the report directory's name.
  auto body = [](const std::string& s) {
    const size_t from = s.find("50 samples");
    return from == std::string::npos ? s : s.substr(from, s.find("reports:") - from);
  };
  EXPECT_NE(from_file.find("50 samples"), std::string::npos) << from_file;
  EXPECT_EQ(body(from_file), body(from_paths));
  std::ifstream members(dir + "/ef/members.txt");
  std::string first;
  std::getline(members, first);
  EXPECT_NE(first.find("[member 0, from " + a + "]"), std::string::npos) << first;
  const std::string rec = ct::test::source_path("data/sample/cinc2021/E07500");
  ASSERT_EQ(ct::test::run_cli("predict --checkpoint " + e + " " + rec + " -o " + dir + "/pred.json", &out), 0) << out;
  std::ifstream pj(dir + "/pred.json");
  EXPECT_EQ(nlohmann::json::parse(pj)["predictions"].size(), 1u);

  EXPECT_EQ(ct::test::run_cli("evaluate --checkpoint " + e + " --weights model --data " + data, &out), 2);
  EXPECT_NE(out.find("--weights model does not apply"), std::string::npos) << out;
  EXPECT_EQ(ct::test::run_cli("evaluate --checkpoint " + e + " " + a + " --data " + data, &out), 2);
  EXPECT_NE(out.find("is itself an ensemble of 2 checkpoints"), std::string::npos) << out;
  EXPECT_EQ(ct::test::run_cli("embed --checkpoint " + e + " --data " + data + " -o " + dir + "/emb.npy", &out), 2);
  EXPECT_NE(out.find("no single feature space"), std::string::npos) << out;
  EXPECT_EQ(ct::test::run_cli("ensemble " + a + " -o " + dir + "/one.safetensors", &out), 2);
  EXPECT_NE(out.find("two or more checkpoints"), std::string::npos) << out;
  EXPECT_EQ(ct::test::run_cli("ensemble " + a + " " + b + " -o " + a, &out), 2);
  EXPECT_NE(out.find("is one of the members"), std::string::npos) << out;

  // The file's own decision rule is the ensemble's: one tuned for the ensemble later (here
  // written by hand) replaces the members' mean.
  {
    ct::weights::CheckpointData ck = ct::weights::load_checkpoint(e);
    ct::app::TaskInfo task = ct::app::TaskInfo::from_json(ck.sections.at("task"));
    for (double& th : task.thresholds) th = 0.25;
    task.decisions = "tuned for the ensemble";
    ck.sections["task"] = task.to_json();
    ct::weights::save_checkpoint(dir + "/retuned.safetensors", ck);
    const ct::app::TrainedModel r = ct::app::load_trained(dir + "/retuned.safetensors");
    EXPECT_EQ(r.info.thresholds, std::vector<double>(task.thresholds.size(), 0.25));
    EXPECT_EQ(r.info.decisions, "tuned for the ensemble");
  }

  ct::weights::CheckpointData broken = ct::weights::load_checkpoint(e);
  broken.groups.erase("member1");
  ct::weights::save_checkpoint(dir + "/broken.safetensors", broken);
  try {
    ct::app::load_trained(dir + "/broken.safetensors");
    FAIL() << "a member without weights loaded";
  } catch (const ct::DataError& err) {
    EXPECT_NE(std::string(err.what()).find("member 1 has no weights"), std::string::npos) << err.what();
  }
}

TEST(FinetuneCli, MitdbBeatsTrainEvaluateAndPredict) {
  CT_REQUIRE_SHARED("mitdb/101.hea");
  CT_REQUIRE_SHARED("wfdb-python/sample-data/100.atr");
  const std::string dir = ct::test::make_temp_dir("mitdb");
  const std::string cfg = dir + "/mitdb.yaml";
  ct::test::write_file(cfg, ct::str_cat("defaults: ", ct::test::source_path("configs/finetune/mitdb_beats.yaml"), R"(
output_dir: )",
                                        dir, R"(/runs
data:
  dataset: {limit: 2, rr_irregularity_windows: [10, 15]}
  split: {val: 0.5}
  cache: {dir: )",
                                        dir, R"(/cache, progress: false}
  loader: {batch_size: 64}
train: {epochs: 1, steps: 8, progress: false}
finetune: {evaluate_best: false, sampling: balanced, decisions: {tune: f1, min_positives: 1}}
)"));
  std::string out;
  ASSERT_EQ(ct::test::run_cli("finetune --config " + cfg +
                                  " --set data.dataset.root=" + ct::test::shared_data("mitdb") + " --threads 1",
                              &out),
            0)
      << out;
  // Class-balanced sampling: the epoch's draw is logged with its class counts.
  EXPECT_NE(out.find("epoch 0: class-balanced draw of "), std::string::npos) << out;
  // finetune.decisions: class offsets tuned on the val record, stored in the best checkpoint
  // (predict below must decide with them as evaluate counts with them).
  EXPECT_NE(out.find("decisions tuned on the val split"), std::string::npos) << out;
  const std::string best = dir + "/runs/mitdb_beats/checkpoints/best.safetensors";
  const ct::app::TrainedModel tuned = ct::app::load_trained(best);
  ASSERT_EQ(tuned.info.class_offsets.size(), 5u);
  EXPECT_NE(tuned.info.decisions.find("f1 on the val split"), std::string::npos) << tuned.info.decisions;
  // A checkpoint written before decisions were tuned has neither key: argmax; in an ensemble its
  // rule counts as zero offsets.
  {
    ct::weights::CheckpointData ck = ct::weights::load_checkpoint(best);
    auto task = nlohmann::json::parse(ck.sections.at("task"));
    task.erase("class_offsets");
    task.erase("decisions");
    ck.sections["task"] = task.dump();
    const std::string old = dir + "/untuned.safetensors";
    ct::weights::save_checkpoint(old, ck);
    EXPECT_TRUE(ct::app::load_trained(old).info.class_offsets.empty());
    const ct::app::TrainedModel ens = ct::app::load_ensemble({best, old});
    ASSERT_EQ(ens.info.class_offsets.size(), 5u);
    for (size_t c = 0; c < 5; ++c) EXPECT_DOUBLE_EQ(ens.info.class_offsets[c], tuned.info.class_offsets[c] / 2) << c;
    // A rule that does not fit the classes is refused, naming the file.
    task["class_offsets"] = std::vector<double>{1.0, 2.0};
    ck.sections["task"] = task.dump();
    const std::string bad = dir + "/bad_rule.safetensors";
    ct::weights::save_checkpoint(bad, ck);
    try {
      ct::app::load_trained(bad);
      ADD_FAILURE() << "a 2-value rule for 5 classes was accepted";
    } catch (const ct::DataError& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("2 per-class decision values (class_offsets) for 5 classes"),
                std::string::npos)
          << e.what();
    }
  }
  // Another MIT-BIH folder (record 100, DS2): per-class Se and +P.
  const std::string other = dir + "/ds2";
  fs::create_directories(other);
  for (const char* ext : {".hea", ".dat", ".atr"})
    fs::copy_file(ct::test::shared_data(std::string("wfdb-python/sample-data/100") + ext), other + "/100" + ext);
  ASSERT_EQ(ct::test::run_cli("evaluate --checkpoint " + best + " --data " + other + " -o " + dir + "/e100 --threads 1",
                              &out),
            0)
      << out;
  const std::string evaluated = out;
  auto rule_of = [](const std::string& report) {
    std::ifstream in(report + "/metrics.json");
    return nlohmann::json::parse(in)["decisions"];
  };
  EXPECT_EQ(rule_of(dir + "/e100")["rule"], tuned.info.decisions);
  EXPECT_EQ(rule_of(dir + "/e100")["class_offsets"].get<std::vector<double>>(), tuned.info.class_offsets);
  ASSERT_EQ(ct::test::run_cli("evaluate --checkpoint " + best + " --data " + other + " -o " + dir +
                                  "/e100_default --decisions default --threads 1",
                              &out),
            0)
      << out;
  EXPECT_EQ(rule_of(dir + "/e100_default")["rule"], "default");
  EXPECT_FALSE(rule_of(dir + "/e100_default").contains("class_offsets"));
  // The same checkpoint twice as an ensemble: the mean of equal softmaxes, as log-probabilities,
  // decides every beat as the model does (multiclass path of load_ensemble).
  ASSERT_EQ(ct::test::run_cli("evaluate --checkpoint " + best + " --checkpoint " + best + " --data " + other + " -o " +
                                  dir + "/twice --threads 1",
                              &out),
            0)
      << out;
  auto aami_table = [](const std::string& s) {
    const size_t a = s.find("AAMI");
    return a == std::string::npos ? std::string() : s.substr(a, s.find("\n\n", a) - a);
  };
  EXPECT_FALSE(aami_table(evaluated).empty()) << evaluated;
  EXPECT_EQ(aami_table(out), aami_table(evaluated));
  EXPECT_NE(out.find("AAMI"), std::string::npos) << out;
  EXPECT_NE(out.find("Se"), std::string::npos) << out;
  EXPECT_NE(out.find("+P"), std::string::npos) << out;
  EXPECT_NE(out.find("2273 samples"), std::string::npos) << out;  // record 100's AAMI-mapped beats
  // predict: beats from the annotations, or found by the QRS detector.
  ASSERT_EQ(ct::test::run_cli("predict --checkpoint " + best + " " + other + "/100 -o " + dir + "/beats.csv", &out), 0)
      << out;
  std::ifstream f(dir + "/beats.csv");
  std::string header, line;
  std::getline(f, header);
  EXPECT_EQ(header, "record,unit,sample,end,time_s,windows,p_N,p_S,p_V,p_F,p_Q,decision,reference");
  int64_t rows = 0;
  std::map<std::string, int64_t> support, predicted;
  while (std::getline(f, line)) {
    ++rows;
    const std::vector<std::string> cells = ct::split(line, ',');
    ASSERT_EQ(cells.size(), 13u) << line;
    const std::string& ref = cells[12];
    if (ref.size() == 1 && std::string("NSVFQ").find(ref) != std::string::npos) {
      ++support[ref];
      ++predicted[cells[11]];
    }
  }
  EXPECT_GT(rows, 2200);
  // predict builds each beat's inputs itself (window, RR context, record template) from the
  // dataset options stored in the checkpoint (a second RR_irregularity span among them): on the
  // annotated beats its decisions are the ones evaluate counted through the dataset adapter.
  for (const char* c : {"N", "S", "V", "F", "Q"}) {
    std::istringstream table(evaluated);
    bool found = false;
    while (std::getline(table, line)) {
      std::istringstream cols(line);
      std::string name;
      int64_t sup = -1, pred = -1;
      if (!(cols >> name >> sup >> pred) || name != c) continue;
      EXPECT_EQ(support[c], sup) << c;
      EXPECT_EQ(predicted[c], pred) << c;
      found = true;
      break;
    }
    EXPECT_TRUE(found) << c << " row missing in\n" << evaluated;
  }
  ASSERT_EQ(ct::test::run_cli("predict --checkpoint " + best + " --beats detector " + other + "/100", &out), 0) << out;
  const int64_t detected = std::count(out.begin(), out.end(), '\n') - 1;
  EXPECT_NEAR(static_cast<double>(detected), 2273.0, 30.0);
}
