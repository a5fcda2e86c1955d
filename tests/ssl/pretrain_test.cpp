// `pretrain` end to end on the bundled real sample (data/sample/cinc2021, 50 twelve-lead
// records): a tiny MAE on 300-sample crops lowers its loss, resumes exactly from a mid-epoch
// checkpoint (masking generator included), writes reconstruction plots, and its encoder feeds
// `finetune --init` with every encoder tensor loaded unchanged. Config errors name their key.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cardiotorch/app/finetune.h"
#include "cardiotorch/app/pretrain.h"
#include "cardiotorch/core/error.h"
#include "cardiotorch/report/ecg_plot.h"
#include "cardiotorch/weights/archive.h"
#include "cardiotorch/weights/loader.h"
#include "cardiotorch/weights/save.h"
#include "support/sample_config.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace fs = std::filesystem;

namespace {

const char* kTinyMae =
    "{name: mae_vit_patchx, embed_dim: 32, depth: 1, num_heads: 2, decoder_embed_dim: 32, decoder_depth: 1, "
    "decoder_num_heads: 2, samples: 300}";

// A tiny MAE pretraining run: z-scored records, random 300-sample crops, 5 batches of 8 per epoch.
std::string tiny_config(const std::string& dir, const std::string& extra = "") {
  const std::string path = dir + "/pretrain.yaml";
  ct::test::write_file(
      path, ct::str_cat(ct::test::sample_experiment_head("tiny", dir, 5, "{batch_size: 8, num_workers: 1, crop: 300}"),
                        R"(threads: 2
preprocess: [{name: nan_to_num}, {name: zscore}]
augment: [{name: jitter, p: 0.5}, {name: rescaling, p: 0.5}]
model: )",
                        kTinyMae, R"(
objective: {name: mae}
optimizer: {name: adamw, lr: 0.003, betas: [0.9, 0.95], weight_decay: 0.05}
scheduler: {name: warmup_cosine, unit: step, warmup: 3}
train: {steps: 20, log_every: 1, progress: false, val_every: 2}
pretrain: {plot_every: 2}
)",
                        extra));
  return path;
}

std::vector<double> train_losses(const std::string& run_dir) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::vector<double> out;
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("split", "") == "train" && j.contains("loss")) out.push_back(j["loss"].get<double>());
  }
  return out;
}

std::map<std::string, at::Tensor> group(const std::string& ckpt, const std::string& name) {
  const auto data = ct::weights::load_checkpoint(ckpt);
  std::map<std::string, at::Tensor> out;
  for (const auto& [k, t] : data.groups.at(name)) out[k] = t;
  return out;
}

TEST(Pretrain, TinyMaeLowersItsLossAndWritesPlotsAndTheEncoder) {
  const std::string dir = ct::test::make_temp_dir("pretrain_loss");
  ct::app::PretrainRequest req;
  req.config_file = tiny_config(dir);
  const ct::app::PretrainResult r = ct::app::pretrain(req);
  EXPECT_EQ(r.state.step, 20);
  const std::vector<double> losses = train_losses(r.run_dir);
  ASSERT_EQ(losses.size(), 20u);
  const double first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[17] + losses[18] + losses[19]) / 3;
  EXPECT_LT(last, 0.85 * first) << "first " << first << ", last " << last;
  for (const char* k : {"loss", "ncc", "mse", "masked_mse", "val/loss", "val/ncc"}) EXPECT_TRUE(r.final.count(k)) << k;
  EXPECT_GT(r.final.at("val/ncc"), 0.0);  // reconstructions correlate with the signal
  EXPECT_TRUE(fs::exists(r.last_checkpoint));
  ASSERT_TRUE(fs::exists(r.encoder_checkpoint));
  if (ct::report::plot_supported()) {
    // 20 steps of 5 batches: epochs 2 and 4 (and none extra at the end, epoch 4 being complete).
    std::vector<std::string> names;
    for (const auto& p : r.reconstruction_plots) names.push_back(fs::path(p).filename().string());
    EXPECT_EQ(names, (std::vector<std::string>{"reconstruction_epoch2.png", "reconstruction_epoch2.svg",
                                               "reconstruction_epoch4.png", "reconstruction_epoch4.svg"}));
    for (const auto& p : r.reconstruction_plots) EXPECT_EQ(fs::path(p).parent_path().filename(), "plots");
  }
  // A second fresh run in the same place is refused; --overwrite replaces it.
  EXPECT_THROW(ct::app::pretrain(req), ct::UsageError);
}

TEST(Pretrain, ResumeFromAMidEpochCheckpointIsExact) {
  const std::string dir = ct::test::make_temp_dir("pretrain_resume");
  const std::string cfg = tiny_config(dir, "");
  ct::app::PretrainRequest straight;
  straight.config_file = cfg;
  straight.overrides = {"train.steps=12", "train.checkpoint_every_steps=7", "train.keep_last=100",
                        "pretrain.plot_every=0"};
  const ct::app::PretrainResult a = ct::app::pretrain(straight);
  const std::string mid = a.run_dir + "/checkpoints/step-00000007.safetensors";
  ASSERT_TRUE(fs::exists(mid)) << "no step-7 checkpoint";

  ct::app::PretrainRequest resumed = straight;
  resumed.overrides.push_back("name=resumed");
  resumed.resume = mid;
  const ct::app::PretrainResult b = ct::app::pretrain(resumed);
  EXPECT_EQ(b.state.step, 12);
  for (const char* g : {"model", "optimizer", "rng"}) {
    const auto ga = group(a.last_checkpoint, g), gb = group(b.last_checkpoint, g);
    ASSERT_EQ(ga.size(), gb.size()) << g;
    for (const auto& [k, t] : ga) EXPECT_TRUE(gb.count(k) && at::equal(t, gb.at(k))) << g << ": " << k;
  }
  // The objective's masking generator is part of the saved state.
  EXPECT_TRUE(group(b.last_checkpoint, "rng").count("objective:mask"));
  EXPECT_DOUBLE_EQ(a.final.at("loss"), b.final.at("loss"));
}

TEST(Pretrain, EncoderFeedsFinetuneInitCompletelyAndUnchanged) {
  const std::string dir = ct::test::make_temp_dir("pretrain_init");
  ct::app::PretrainRequest req;
  req.config_file = tiny_config(dir);
  req.max_steps = 2;
  req.overrides = {"pretrain.plot_every=0"};
  const ct::app::PretrainResult r = ct::app::pretrain(req);
  EXPECT_EQ(r.state.step, 2);
  const ct::weights::NamedTensors enc = ct::weights::read_state_dict(r.encoder_checkpoint);
  ASSERT_EQ(enc.size(), 18u);  // cls, pos, patch_embed x2, one block (12), norm x2

  // A linear probe keeps the encoder frozen: its weights after fine-tuning are the loaded ones.
  const std::string ft = dir + "/finetune.yaml";
  ct::test::write_file(
      ft, ct::str_cat(ct::test::sample_experiment_head("probe", dir, 1, "{batch_size: 8, num_workers: 1, crop: 300}"),
                      R"(preprocess: [{name: nan_to_num}, {name: zscore}]
model: {name: vit_patchx, embed_dim: 32, depth: 1, num_heads: 2, samples: 300}
objective: {name: multilabel}
train: {steps: 2, progress: false}
finetune: {mode: linear_probe, evaluate_best: false}
init: {skip: ['attention_pool.*', 'fc_norm.*']}
)"));
  ct::app::FinetuneRequest freq;
  freq.config_file = ft;
  freq.init = r.encoder_checkpoint;
  const ct::app::FinetuneResult f = ct::app::finetune(freq);
  const auto model = group(f.last_checkpoint, "model");
  for (const auto& [k, t] : enc) {
    if (k == "norm.weight" || k == "norm.bias") continue;  // an attention-pooling ViT has no final norm
    ASSERT_TRUE(model.count("encoder." + k)) << k;
    EXPECT_TRUE(at::equal(model.at("encoder." + k), t)) << k;
  }
  // The load report: every encoder tensor of the file used, all of the encoder covered.
  ct::models::ModelContext c;
  c.in_channels = 12;
  c.seq_len = 300;
  auto vit = ct::models::build_model(
      ct::ConfigNode::parse("{name: vit_patchx, embed_dim: 32, depth: 1, num_heads: 2, samples: 300}"), c);
  ct::weights::LoadOptions lo;
  lo.path = r.encoder_checkpoint;
  lo.skip = {"attention_pool.*", "fc_norm.*"};  // the fine-tuning pooling is new
  const ct::weights::LoadReport rep = ct::weights::load_into(*vit, lo, vit->weight_rules());
  EXPECT_EQ(rep.coverage(), 1.0) << rep.to_string();
  EXPECT_EQ(rep.unexpected, (std::vector<std::string>{"norm.weight", "norm.bias"})) << rep.to_string();
  EXPECT_EQ(rep.matched, 16);
}

// val/ncc is monitored through the objective's own direction (larger is better), and the
// encoder file holds the weights export_from names.
TEST(Pretrain, MonitorsValNccAndExportsTheBestOrTheAveragedWeights) {
  const std::string dir = ct::test::make_temp_dir("pretrain_export");
  ct::app::PretrainRequest req;
  req.config_file = tiny_config(dir);
  req.overrides = {"train.steps=15",
                   "train.val_every=1",
                   "train.monitor=val/ncc",
                   "train.keep_last=100",
                   "pretrain.plot_every=0",
                   "pretrain.export_from=best",
                   "train.ema={enabled: true, decay: 0.5, validate: false}"};
  const ct::app::PretrainResult r = ct::app::pretrain(req);
  // The best step is the validation with the largest NCC.
  std::ifstream in(r.run_dir + "/metrics.jsonl");
  std::string line;
  double best_ncc = -2;
  int64_t best_step = -1;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("split", "") != "val") continue;
    const double v = j.at("ncc").get<double>();
    if (v > best_ncc) best_ncc = v, best_step = j.at("step").get<int64_t>();
  }
  ASSERT_GE(best_step, 0);
  EXPECT_EQ(r.state.best_step, best_step);
  EXPECT_DOUBLE_EQ(r.state.best, best_ncc);
  const std::string best =
      ct::str_cat(r.run_dir, "/checkpoints/step-", std::string(8 - std::to_string(best_step).size(), '0'), best_step,
                  ".safetensors");
  ASSERT_TRUE(fs::exists(best)) << best;
  const auto best_model = group(best, "model"), last_model = group(r.last_checkpoint, "model");
  const auto last_ema = group(r.last_checkpoint, "ema");
  auto encoder = [&] {
    std::map<std::string, at::Tensor> m;
    for (auto& [k, t] : ct::weights::read_state_dict(r.encoder_checkpoint)) m[k] = t;
    return m;
  };
  auto e = encoder();
  ASSERT_EQ(e.size(), 18u);
  for (const auto& [k, t] : e) EXPECT_TRUE(at::equal(best_model.at(k), t)) << k;
  if (best_step != r.state.step) {
    EXPECT_FALSE(at::equal(last_model.at("blocks.0.mlp.fc1.weight"), e.at("blocks.0.mlp.fc1.weight")));
  }

  // ema: the final averages, which differ from the final weights.
  req.overrides.back() = "train.ema={enabled: true, decay: 0.5, validate: false}";
  req.overrides[5] = "pretrain.export_from=ema";
  req.overwrite = true;
  const ct::app::PretrainResult r2 = ct::app::pretrain(req);
  e = encoder();
  const auto ema2 = group(r2.last_checkpoint, "ema"), last2 = group(r2.last_checkpoint, "model");
  for (const auto& [k, t] : e) EXPECT_TRUE(at::equal(ema2.at(k), t)) << k;
  EXPECT_FALSE(at::equal(last2.at("blocks.0.mlp.fc1.weight"), e.at("blocks.0.mlp.fc1.weight")));
  (void)last_ema;

  // Refused before training: ema without averaging, best without validation.
  req.overrides = {"pretrain.export_from=ema"};
  try {
    ct::app::pretrain(req);
    ADD_FAILURE() << "no ConfigError";
  } catch (const ct::ConfigError& err) {
    EXPECT_NE(std::string(err.what()).find("train.ema.enabled"), std::string::npos) << err.what();
  }
  req.overrides = {"pretrain.export_from=best", "data.split.val=0.0"};
  try {
    ct::app::pretrain(req);
    ADD_FAILURE() << "no ConfigError";
  } catch (const ct::ConfigError& err) {
    EXPECT_NE(std::string(err.what()).find("validation set"), std::string::npos) << err.what();
  }
}

TEST(Pretrain, ConfigErrorsNameTheKey) {
  const std::string dir = ct::test::make_temp_dir("pretrain_errors");
  ct::app::PretrainRequest req;
  req.config_file = tiny_config(dir);
  auto message = [&](std::vector<std::string> overrides) -> std::string {
    req.overrides = std::move(overrides);
    try {
      ct::app::pretrain(req);
    } catch (const ct::ConfigError& e) {
      return e.what();
    }
    return "(no ConfigError)";
  };
  std::string m = message({"pretrain.plot_evry=3"});
  EXPECT_NE(m.find("pretrain.plot_evry"), std::string::npos) << m;
  EXPECT_NE(m.find("plot_every"), std::string::npos) << m;
  m = message({"objective.sed=3"});
  EXPECT_NE(m.find("objective.sed"), std::string::npos) << m;
  m = message({"model={name: vit_patchx, embed_dim: 32, depth: 1, num_heads: 2, samples: 300}"});
  EXPECT_NE(m.find("'vit_patchx' is not a masked autoencoder"), std::string::npos) << m;
  m = message({"objective={name: multilabel}"});
  EXPECT_NE(m.find("not a self-supervised objective"), std::string::npos) << m;
  m = message({"objective=~"});
  EXPECT_NE(m.find("objective is required"), std::string::npos) << m;
  m = message({"pretrain.plot_formats=[svg, pdf]"});
  EXPECT_NE(m.find("plot_formats"), std::string::npos) << m;
  // Nothing was written by the refused runs.
  EXPECT_FALSE(fs::exists(dir + "/runs/tiny/checkpoints"));
}

}  // namespace
