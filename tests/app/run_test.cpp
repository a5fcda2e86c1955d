// The main job (`cardiotorch run`): configs/demo.yaml itself, shrunk to a smoke run (a 32-d
// one-block ViT over 1 s crops, 2 optimizer steps per training stage) on the bundled CinC 2021
// sample; resuming (finished stages skipped, an interrupted training stage continued from its
// checkpoint); config errors.
#include "cardiotorch/app/run.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/file.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace app = cardiotorch::app;
namespace fs = std::filesystem;

namespace {

// configs/demo.yaml with every size turned down; `dir` holds the runs and the cache.
app::RunOptions smoke_options(const std::string& dir) {
  app::RunOptions o;
  o.config_file = ct::test::source_path("configs/demo.yaml");
  o.max_steps = 2;
  o.max_batches = 1;
  for (const std::string& s : std::vector<std::string>{
           "output_dir=" + dir,
           "name=smoke",
           "data.cache.dir=" + dir + "/cache",
           "data.dataset.root=" + ct::test::source_path("data/sample/cinc2021"),
           std::string("data.loader.crop=500"),
           std::string("train.progress=false"),
           std::string("per_stage.pretrain.model.embed_dim=32"),
           std::string("per_stage.pretrain.model.depth=1"),
           std::string("per_stage.pretrain.model.num_heads=2"),
           std::string("per_stage.pretrain.model.decoder_embed_dim=32"),
           std::string("per_stage.pretrain.model.decoder_num_heads=2"),
           std::string("per_stage.pretrain.model.samples=500"),
           std::string("per_stage.pretrain.pretrain.plot_every=1"),
           std::string("per_stage.finetune.model.embed_dim=32"),
           std::string("per_stage.finetune.model.depth=1"),
           std::string("per_stage.finetune.model.num_heads=2"),
           std::string("per_stage.finetune.model.samples=500"),
       })
    o.overrides.push_back(s);
  return o;
}

std::vector<std::string> names(const app::RunResult& r) {
  std::vector<std::string> out;
  for (const auto& s : r.stages) out.push_back(s.name);
  return out;
}

const app::StageResult& stage(const app::RunResult& r, const std::string& name) {
  for (const auto& s : r.stages)
    if (s.name == name) return s;
  throw std::runtime_error("no stage " + name);
}

std::string config_error(const app::RunOptions& o) {
  try {
    app::run_experiment(o);
  } catch (const ct::ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

}  // namespace

// The whole chain in one process, then again: stopped after pretraining, continued, re-run.
TEST(MainJob, SmokeRunStopsResumesAndSkipsFinishedStages) {
  const std::string dir = ct::test::make_temp_dir("main_job_smoke");
  app::RunOptions o = smoke_options(dir);
  o.stop_after = "pretrain";
  const app::RunResult first = app::run_experiment(o);
  EXPECT_EQ(names(first), (std::vector<std::string>{"data", "pretrain"}));
  EXPECT_TRUE(first.report_path.empty());
  EXPECT_TRUE(first.table.empty());
  const std::string encoder = stage(first, "pretrain").files.at("encoder");
  ASSERT_TRUE(fs::exists(encoder));
  EXPECT_EQ(stage(first, "pretrain").values.at("steps"), 2);
  EXPECT_TRUE(std::isfinite(stage(first, "pretrain").values.at("loss")));
  EXPECT_TRUE(fs::exists(first.run_dir + "/stages/pretrain.json"));

  // The same command without --stop-after: data and pretrain come from their records, the
  // classifiers start from the recorded encoder.
  o.stop_after.clear();
  const app::RunResult second = app::run_experiment(o);
  EXPECT_EQ(names(second),
            (std::vector<std::string>{"data", "pretrain", "finetune", "linear_probe", "baseline", "report"}));
  EXPECT_TRUE(stage(second, "data").resumed);
  EXPECT_TRUE(stage(second, "pretrain").resumed);
  EXPECT_EQ(stage(second, "pretrain").files.at("encoder"), encoder);
  for (const char* s : {"finetune", "linear_probe", "baseline", "report"}) EXPECT_FALSE(stage(second, s).resumed) << s;
  EXPECT_EQ(stage(second, "finetune").files.at("init"), encoder);
  EXPECT_EQ(stage(second, "linear_probe").files.at("init"), encoder);
  EXPECT_EQ(stage(second, "finetune").values.at("steps"), 2);
  EXPECT_EQ(stage(second, "baseline").values.at("finetune/pretrained"), 0);
  EXPECT_EQ(stage(second, "baseline").values.at("linear_probe/probe"), 1);
  // Evaluated on the test split (15 records): macro AUROC over the classes defined there.
  for (const char* s : {"finetune", "linear_probe"}) {
    const double auroc = stage(second, s).values.at("test/auroc_macro");
    EXPECT_TRUE(auroc >= 0 && auroc <= 1) << s << " " << auroc;
  }
  // The comparison: four rows and the split sizes.
  for (const char* row : {"pretrained fine-tune", "pretrained linear probe", "random-init fine-tune",
                          "random-init linear probe", "/ test 15 records ("})
    EXPECT_NE(second.table.find(row), std::string::npos) << row << "\n" << second.table;
  ASSERT_EQ(second.report_path, second.run_dir + "/report.html");
  const std::string html = ct::read_file(second.report_path);
  for (const char* part : {"Pretrained vs random initialisation", "How to read these numbers", "Per class (test split)",
                           "Pretraining", "Reconstructions", "Resolved config", "<svg"})
    EXPECT_NE(html.find(part), std::string::npos) << part;
  EXPECT_EQ(html.find("<img src=\"http"), std::string::npos);  // self-contained

  // Again: every stage but the report is skipped.
  const app::RunResult third = app::run_experiment(o);
  for (const auto& s : third.stages) EXPECT_EQ(s.resumed, s.name != "report") << s.name;
  EXPECT_EQ(third.table, second.table);

  // A finished stage under a changed config is an error naming it, not a silent mix.
  app::RunOptions changed = o;
  changed.overrides.push_back("per_stage.finetune.optimizer.lr=0.01");
  const std::string msg = config_error(changed);
  EXPECT_NE(msg.find("stage finetune finished earlier with another config"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--overwrite"), std::string::npos) << msg;
}

// A training stage whose session died after a checkpoint (no record yet) continues from it.
TEST(MainJob, InterruptedTrainingStageResumesFromItsCheckpoint) {
  const std::string dir = ct::test::make_temp_dir("main_job_resume");
  app::RunOptions o = smoke_options(dir);
  o.overrides.push_back("stages=[data, pretrain]");
  const app::RunResult first = app::run_experiment(o);
  const std::string run_dir = first.run_dir;
  const std::string log_before = ct::read_file(run_dir + "/pretrain/metrics.jsonl");
  // What a kill between the last checkpoint and the stage record leaves behind.
  fs::remove(run_dir + "/stages/pretrain.json");
  ASSERT_TRUE(fs::exists(run_dir + "/pretrain/checkpoints/last.safetensors"));
  const app::RunResult second = app::run_experiment(o);
  const app::StageResult& p = stage(second, "pretrain");
  EXPECT_FALSE(p.resumed);             // run again, but ...
  EXPECT_EQ(p.values.at("steps"), 2);  // ... from the checkpoint: no step trained twice
  EXPECT_EQ(ct::read_file(run_dir + "/pretrain/metrics.jsonl"), log_before);
  EXPECT_TRUE(fs::exists(p.files.at("encoder")));
  EXPECT_TRUE(fs::exists(run_dir + "/stages/pretrain.json"));
}

TEST(MainJob, ConfigErrorsNameTheStageAndTheChoices) {
  const std::string dir = ct::test::make_temp_dir("main_job_errors");
  app::RunOptions o = smoke_options(dir);
  o.overrides.push_back("stages=[data, pretrian, report]");
  std::string msg = config_error(o);
  EXPECT_NE(msg.find("unknown stage 'pretrian'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pretrain"), std::string::npos) << msg;
  for (const char* known : {"baseline", "data", "finetune", "linear_probe", "report"})
    EXPECT_NE(msg.find(known), std::string::npos) << known << ": " << msg;

  o = smoke_options(dir);
  o.overrides.push_back("stages=[data, report, data]");
  EXPECT_NE(config_error(o).find("listed twice"), std::string::npos);

  o = smoke_options(dir);
  o.overrides.push_back("per_stage.finetuen={optimizer: {lr: 0.1}}");
  msg = config_error(o);
  EXPECT_NE(msg.find("per_stage.finetuen"), std::string::npos) << msg;

  // A pretrained classifier needs the pretrain stage before it (or an explicit encoder); the
  // check runs before any stage trains.
  o = smoke_options(dir);
  o.overrides.push_back("stages=[data, finetune, pretrain]");
  msg = config_error(o);
  EXPECT_NE(msg.find("list the pretrain stage before it"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir + "/smoke/stages"));

  o = smoke_options(dir);
  o.overrides.push_back("per_stage.finetune.optimizer.lr=-1");
  msg = config_error(o);
  EXPECT_NE(msg.find("lr"), std::string::npos) << msg;

  o = smoke_options(dir);
  o.overrides.push_back("stages=[data, report]");
  o.stop_after = "pretrain";
  EXPECT_THROW(app::run_experiment(o), ct::UsageError);
}

TEST(MainJob, StageSectionsMergeUnlessTheyNameAnotherEntry) {
  ct::ConfigNode base = ct::ConfigNode::parse(
      "{model: {name: mae_vit_patchx, depth: 2, mask_ratio: 0.8}, optimizer: {name: adamw, lr: 0.001},"
      " augment: [{name: jitter}], train: {epochs: 3, log_every: 5}}");
  app::merge_stage_section(base, ct::ConfigNode::parse("{model: {name: vit_patchx, depth: 1}, optimizer: {lr: 0.01},"
                                                       " augment: [{name: rescaling}], train: {epochs: 7}}"));
  EXPECT_EQ(base["model"]["name"].as_string(), "vit_patchx");
  EXPECT_FALSE(base["model"].has("mask_ratio"));  // another model: the MAE's options do not leak in
  EXPECT_EQ(base["model"]["depth"].as_int(), 1);
  EXPECT_EQ(base["optimizer"]["name"].as_string(), "adamw");
  EXPECT_DOUBLE_EQ(base["optimizer"]["lr"].as_double(), 0.01);
  ASSERT_EQ(base["augment"].size(), 1u);  // lists replace
  EXPECT_EQ(base["augment"][0]["name"].as_string(), "rescaling");
  EXPECT_EQ(base["train"]["epochs"].as_int(), 7);
  EXPECT_EQ(base["train"]["log_every"].as_int(), 5);
}

TEST(MainJob, StageRecordRoundTripKeepsUndefinedMetrics) {
  app::StageResult r;
  r.name = "finetune";
  r.seconds = 12.5;
  r.summary = "pretrained fine-tune";
  r.values = {{"test/auroc_macro", 0.75}, {"test/auroc/AF", std::nan("")}};
  r.files = {{"init", "runs/x/pretrain/encoder.safetensors"}};
  r.fingerprint = app::fingerprint_of("config");
  const app::StageResult back = app::StageResult::from_json(r.to_json(), "rec.json");
  EXPECT_EQ(back.name, r.name);
  EXPECT_EQ(back.summary, r.summary);
  EXPECT_DOUBLE_EQ(back.seconds, 12.5);
  EXPECT_DOUBLE_EQ(back.values.at("test/auroc_macro"), 0.75);
  EXPECT_TRUE(std::isnan(back.values.at("test/auroc/AF")));
  EXPECT_EQ(back.files, r.files);
  EXPECT_EQ(back.fingerprint, r.fingerprint);
  // FNV-1a 64 reference values: the fingerprints in stage records survive rebuilds and platforms.
  EXPECT_EQ(app::fingerprint_of(""), "cbf29ce484222325");
  EXPECT_EQ(app::fingerprint_of("a"), "af63dc4c8601ec8c");
  EXPECT_NE(app::fingerprint_of("config"), app::fingerprint_of("config "));
  EXPECT_THROW(app::StageResult::from_json("{\"seconds\": 1}", "rec.json"), ct::DataError);
}
