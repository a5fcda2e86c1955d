// The main job's training stages:
//   pretrain      self-supervised pretraining (app::pretrain) -> <run>/pretrain/encoder.safetensors
//   finetune      the classifier, every parameter training, initialised from the pretrained encoder
//   linear_probe  the same classifier with the pretrained encoder frozen (BatchNorm + Linear head)
//   baseline      both again from random initialisation: the comparison that says what pretraining bought
//
// Configs compose: per_stage.finetune is the classifier; linear_probe merges per_stage.linear_probe
// onto it; the baseline merges per_stage.baseline onto either. Each training stage is its own
// run directory under the job's, resumed from its last checkpoint when an earlier session was
// interrupted.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cardiotorch/app/finetune.h"
#include "cardiotorch/app/pretrain.h"
#include "cardiotorch/app/run.h"
#include "cardiotorch/core/log.h"

namespace fs = std::filesystem;

namespace cardiotorch::app {
namespace {

bool has_last_checkpoint(const std::string& dir) {
  return fs::exists(fs::path(dir) / "checkpoints" / "last.safetensors");
}

/// {section: {key: value}} as a layer for RunContext::stage_config.
ConfigNode layer(const std::string& section, const std::string& key, const ConfigNode& value) {
  ConfigNode inner = ConfigNode::map();
  inner.set(key, value);
  ConfigNode outer = ConfigNode::map();
  outer.set(section, inner);
  return outer;
}

size_t stage_index(const RunContext& ctx, const std::string& stage) {
  const auto& s = ctx.options().stages;
  return static_cast<size_t>(std::find(s.begin(), s.end(), stage) - s.begin());
}

// The encoder the pretrained classifiers start from: the pretrain stage's, else an explicit
// per_stage.finetune.init.path. While checking (before anything ran) a placeholder stands in.
std::string pretrained_encoder(const RunContext& ctx, const std::string& stage, bool checking) {
  if (const StageResult* p = ctx.result("pretrain")) {
    auto it = p->files.find("encoder");
    CT_CHECK(it != p->files.end() && !it->second.empty(), ConfigError, "stage ", stage,
             ": the pretrain stage exported no encoder (set per_stage.pretrain.pretrain.export_encoder: true)");
    return it->second;
  }
  const size_t at = stage_index(ctx, stage), pre = stage_index(ctx, "pretrain");
  if (pre < at) {
    CT_INTERNAL_ASSERT(checking, "stage ", stage, " ran before the pretrain stage it follows");
    return "<the pretrain stage's encoder>";
  }
  const ConfigNode given = ctx.config()["per_stage"]["finetune"]["init"]["path"];
  if (!given.is_null() && !given.as_string().empty()) return given.as_string();
  throw ConfigError(str_cat("stage ", stage, " starts from a pretrained encoder: list the pretrain stage before it (",
                            "stages: [data, pretrain, ", stage, ", ...]) or set per_stage.finetune.init.path"));
}

// The classifier's config: per_stage.finetune [+ linear_probe] [+ baseline], with the mode and
// the initial weights set by the stage.
ConfigNode classifier_config(const RunContext& ctx, const std::string& run_name, bool probe, const std::string& init) {
  std::vector<std::string> layers{"finetune"};
  if (probe) layers.push_back("linear_probe");
  if (init.empty()) layers.push_back("baseline");
  std::vector<ConfigNode> extra{layer("init", "path", ConfigNode::string(init))};
  if (probe) extra.push_back(layer("finetune", "mode", ConfigNode::string("linear_probe")));
  ConfigNode c = ctx.stage_config(layers, run_name, extra);
  CT_CHECK(!c["model"].is_null(), ConfigError, ctx.request().config_file,
           ": the classifier stages need a model: per_stage: {finetune: {model: {name: ...}}}");
  return c;
}

std::string describe(bool probe, bool pretrained) {
  return str_cat(pretrained ? "pretrained" : "random-init", " ", probe ? "linear probe" : "fine-tune");
}

// One classifier run in <run>/<run_name>: fresh, or resumed from its last checkpoint.
StageResult train_classifier(RunContext& ctx, const std::string& run_name, const ConfigNode& config, bool probe,
                             bool pretrained) {
  const std::string dir = ctx.file(run_name);
  FinetuneRequest req;
  req.config = &config;
  req.config_file = str_cat(ctx.request().config_file, " (stage ", run_name, ")");
  if (has_last_checkpoint(dir)) {
    req.resume = dir;
    CT_LOG_INFO(run_name, ": resuming from ", dir, "/checkpoints/last.safetensors");
  } else {
    req.overwrite = true;  // step checkpoints of a session killed before its first `last` are stale
  }
  const FinetuneResult fr = finetune(req);
  StageResult r;
  r.name = run_name;
  for (const auto& [k, v] : fr.val) r.values["val/" + k] = v;
  for (const auto& [k, v] : fr.test) r.values["test/" + k] = v;
  r.values["steps"] = double(fr.state.step);
  r.values["epochs"] = double(fr.state.epoch);
  r.values["train_seconds"] = fr.state.elapsed_s;
  r.values["pretrained"] = pretrained ? 1 : 0;
  r.values["probe"] = probe ? 1 : 0;
  r.files["run_dir"] = fr.run_dir;
  r.files["best"] = fr.best_checkpoint;
  r.files["last"] = fr.last_checkpoint;
  r.files["init"] = config["init"]["path"].as_string();
  r.files["label"] = describe(probe, pretrained);
  const bool has_test = !fr.test.empty();
  const auto& m = has_test ? fr.test : fr.val;
  auto get = [&](const char* k) {
    auto it = m.find(k);
    return it == m.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
  };
  r.summary = str_cat(describe(probe, pretrained), ": ", has_test ? "test" : "val", " macro AUROC ",
                      format_fixed(get("auroc_macro"), 3), ", macro F1 ", format_fixed(get("f1_macro"), 3), " (",
                      fr.state.step, " steps, ", format_fixed(fr.state.elapsed_s, 0), " s)");
  return r;
}

class ClassifierStage : public Stage {
 public:
  ClassifierStage(std::string name, bool probe) : name_(std::move(name)), probe_(probe) {}
  void check(RunContext& ctx) const override {
    classifier_config(ctx, name_, probe_, pretrained_encoder(ctx, name_, true));
  }
  std::string fingerprint(RunContext& ctx) const override {
    // The encoder's path stays the same when pretraining is redone: its record's fingerprint
    // and step count say which encoder it is.
    std::string from;
    if (const StageResult* p = ctx.result("pretrain"))
      from = str_cat("\npretrain ", p->fingerprint, " step ", p->values.count("steps") ? p->values.at("steps") : -1.0);
    return fingerprint_of(classifier_config(ctx, name_, probe_, pretrained_encoder(ctx, name_, false)).to_yaml() +
                          from);
  }
  StageResult run(RunContext& ctx) override {
    const ConfigNode c = classifier_config(ctx, name_, probe_, pretrained_encoder(ctx, name_, false));
    return train_classifier(ctx, name_, c, probe_, true);
  }

 private:
  std::string name_;
  bool probe_;
};

// Both classifiers from random initialisation; each half is recorded on its own, so an
// interrupted baseline keeps the half that finished.
class BaselineStage : public Stage {
 public:
  void check(RunContext& ctx) const override {
    for (bool probe : {false, true}) classifier_config(ctx, run_name(probe), probe, "");
  }
  std::string fingerprint(RunContext& ctx) const override {
    return fingerprint_of(classifier_config(ctx, run_name(false), false, "").to_yaml() + "\n" +
                          classifier_config(ctx, run_name(true), true, "").to_yaml());
  }
  StageResult run(RunContext& ctx) override {
    StageResult r;
    std::vector<std::string> lines;
    for (bool probe : {false, true}) {
      const std::string key = run_name(probe);
      const ConfigNode c = classifier_config(ctx, key, probe, "");
      const std::string fp = fingerprint_of(c.to_yaml());
      std::unique_ptr<StageResult> part = ctx.recorded(key, fp);
      if (part) {
        CT_LOG_INFO("baseline: ", key, " finished earlier, skipped");
      } else {
        part = std::make_unique<StageResult>(train_classifier(ctx, key, c, probe, false));
        part->fingerprint = fp;
        ctx.record(*part);
      }
      ctx.add_result(*part);
      for (const auto& [k, v] : part->values) r.values[str_cat(probe ? "linear_probe/" : "finetune/", k)] = v;
      lines.push_back(part->summary);
    }
    r.files["finetune"] = run_name(false);
    r.files["linear_probe"] = run_name(true);
    r.summary = join(lines, "; ");
    return r;
  }
  void restore(RunContext& ctx, const StageResult&) override {
    for (bool probe : {false, true}) {
      const std::string key = run_name(probe);
      if (auto part = ctx.recorded(key, fingerprint_of(classifier_config(ctx, key, probe, "").to_yaml())))
        ctx.add_result(*part);
    }
  }
  static std::string run_name(bool probe) { return probe ? "baseline_linear_probe" : "baseline_finetune"; }
};

class PretrainStage : public Stage {
 public:
  static ConfigNode config(const RunContext& ctx) {
    ConfigNode c = ctx.stage_config({"pretrain"}, "pretrain");
    CT_CHECK(!c["model"].is_null(), ConfigError, ctx.request().config_file,
             ": the pretrain stage needs a model and objective: per_stage: {pretrain: {model: {name: mae_vit_patchx}, "
             "objective: {name: mae}}}");
    return c;
  }
  void check(RunContext& ctx) const override { config(ctx); }
  std::string fingerprint(RunContext& ctx) const override { return fingerprint_of(config(ctx).to_yaml()); }
  StageResult run(RunContext& ctx) override {
    const ConfigNode c = config(ctx);
    const std::string dir = ctx.file("pretrain");
    PretrainRequest req;
    req.config = &c;
    req.config_file = str_cat(ctx.request().config_file, " (stage pretrain)");
    if (has_last_checkpoint(dir)) {
      req.resume = dir;
      CT_LOG_INFO("pretrain: resuming from ", dir, "/checkpoints/last.safetensors");
    } else {
      req.overwrite = true;
    }
    const PretrainResult pr = pretrain(req);
    StageResult r;
    r.values = pr.final;
    r.values["steps"] = double(pr.state.step);
    r.values["epochs"] = double(pr.state.epoch);
    r.values["train_seconds"] = pr.state.elapsed_s;
    r.files["run_dir"] = pr.run_dir;
    r.files["last"] = pr.last_checkpoint;
    r.files["encoder"] = pr.encoder_checkpoint;
    for (size_t i = 0; i < pr.reconstruction_plots.size(); ++i)
      r.files[str_cat("plot:", i < 10 ? "0" : "", i)] = pr.reconstruction_plots[i];
    auto get = [&](const char* k) {
      auto it = pr.final.find(k);
      return it == pr.final.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
    };
    r.summary =
        str_cat(c["model"]["name"].as_string(), ": ", pr.state.step, " steps, loss ", format_fixed(get("loss"), 4),
                ", val NCC ", format_fixed(get("val/ncc"), 3), "; encoder ", pr.encoder_checkpoint);
    return r;
  }
};

CT_REGISTER(stage_registry(), "pretrain",
            ([](const ConfigNode&) -> std::shared_ptr<Stage> { return std::make_shared<PretrainStage>(); }),
            "self-supervised pretraining (per_stage.pretrain: model, objective, ...); exports the encoder")

}  // namespace

CT_REGISTER(stage_registry(), "finetune", ([](const ConfigNode&) -> std::shared_ptr<Stage> {
              return std::make_shared<ClassifierStage>("finetune", false);
            }),
            "fine-tune the classifier (per_stage.finetune) from the pretrained encoder; val/test metrics")
CT_REGISTER(stage_registry(), "linear_probe", ([](const ConfigNode&) -> std::shared_ptr<Stage> {
              return std::make_shared<ClassifierStage>("linear_probe", true);
            }),
            "train a BatchNorm + Linear head on the frozen pretrained encoder (per_stage.linear_probe over finetune)")
CT_REGISTER(stage_registry(), "baseline",
            ([](const ConfigNode&) -> std::shared_ptr<Stage> { return std::make_shared<BaselineStage>(); }),
            "the fine-tune and linear-probe classifiers again from random initialisation (per_stage.baseline)")

}  // namespace cardiotorch::app
