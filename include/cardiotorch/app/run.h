#pragma once
// `cardiotorch run CONFIG`: the main job. Runs the stages an experiment config lists, in order,
// over one shared run context, and writes one run directory:
//
//   stages: [data, pretrain, finetune, linear_probe, baseline, report]
//
//   runs/<name>/config.yaml, run.log, metrics.jsonl    the job's resolved config and log
//   runs/<name>/stages/<stage>.json                    what each finished stage recorded
//   runs/<name>/<stage>/                               a training stage's own run directory
//   runs/<name>/report.html                            one self-contained page
//
// Every stage is a registered `Stage` (`cardiotorch list stage`); adding one touches no existing
// file. A training stage trains with the config's shared sections (data, preprocess, seed, ...)
// and its own `per_stage.<stage>` section merged on top (a mapping naming another registry entry
// replaces the shared one instead of merging into it).
//
// Resuming: a stage that finished records its result (metrics, files, a fingerprint of its
// resolved config) in stages/<stage>.json; running the same command again skips it. A training
// stage that was interrupted (Ctrl-C) continues from its last checkpoint (the engine's exact
// resume). A finished stage whose config has since changed is an error naming the stage (start
// again with --overwrite, or under another name).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/app/experiment.h"
#include "cardiotorch/core/config.h"
#include "cardiotorch/core/registry.h"
#include "cardiotorch/data/cache.h"
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/data/split.h"

namespace cardiotorch::app {

/// What a stage did, as printed, recorded in stages/<name>.json and read back when resuming.
struct StageResult {
  std::string name;                          ///< "data", "pretrain", "baseline/finetune", ...
  double seconds = 0;                        ///< wall time of the stage (of the session that finished it)
  std::string summary;                       ///< one line for the console table
  std::map<std::string, double> values;      ///< metrics ("test/auroc_macro", "loss", ...)
  std::map<std::string, std::string> files;  ///< named outputs ("run_dir", "encoder", "plot:0", ...)
  std::string fingerprint;                   ///< hash of what the stage ran with
  bool resumed = false;                      ///< read back from an earlier session, not run now

  std::string to_json() const;
  static StageResult from_json(const std::string& text, const std::string& origin);
};

struct RunOptions {
  std::string config_file;
  std::vector<std::string> overrides;  ///< --set a.b=c
  int64_t max_batches = 0;             ///< data stage: per loader pass (0 = a full epoch), for smoke runs
  int64_t max_steps = 0;               ///< > 0: caps every training stage at this many optimizer steps (smoke runs)
  std::string stop_after;              ///< stop after this stage ("" = run every stage)
  bool overwrite = false;              ///< remove a previous run of the same name first
};

struct RunResult {
  std::string run_dir;
  std::string report_path;          ///< "" when no report stage ran
  std::vector<StageResult> stages;  ///< in order; resumed ones have `resumed` set
  /// The comparison the report leads with (rows: "pretrained fine-tune", ...), as printed.
  std::string table;
};

/// Everything the stages share: the config, the run directory, the data (built on first use)
/// and the results of the stages before.
class RunContext {
 public:
  RunContext(RunOptions request, ConfigNode config, ExperimentOptions options);

  const RunOptions& request() const { return request_; }
  /// The job's resolved config (config.yaml).
  const ConfigNode& config() const { return config_; }
  const ExperimentOptions& options() const { return options_; }
  const std::string& run_dir() const { return run_dir_; }
  std::string file(const std::string& name) const { return run_dir_ + "/" + name; }

  /// The experiment config of a training stage: the shared sections with per_stage.<layer>
  /// merged on for each layer in order, then `extra` (what the stage sets itself: init.path,
  /// finetune.mode), output under this run (name = `name`: <run>/<name>), stages and per_stage
  /// cleared; resolved and validated. RunOptions::max_steps applies.
  ConfigNode stage_config(const std::vector<std::string>& layers, const std::string& name,
                          const std::vector<ConfigNode>& extra = {}) const;

  /// The dataset, its patient-level split and the preprocessing cache, built on first use.
  std::shared_ptr<const data::Dataset> dataset();
  const data::Split& split();
  std::shared_ptr<data::CachedDataset> cached();
  /// The dataset options in full (after the adapter filled in its defaults).
  ConfigNode dataset_config();

  /// Results of the stages so far (finished or resumed), by stage name.
  const std::map<std::string, StageResult>& results() const { return results_; }
  const StageResult* result(const std::string& stage) const;
  void add_result(const StageResult& r) { results_[r.name] = r; }

  /// Whether a recorded result exists for `name` (stages/<name>.json) and fits `fingerprint`:
  /// returns it (resumed = true); nullptr when there is none. ConfigError when it was recorded
  /// with another fingerprint.
  std::unique_ptr<StageResult> recorded(const std::string& name, const std::string& fingerprint) const;
  /// Writes stages/<name>.json.
  void record(const StageResult& r) const;

 private:
  RunOptions request_;
  ConfigNode config_;
  ExperimentOptions options_;
  std::string run_dir_;
  std::map<std::string, StageResult> results_;
  std::shared_ptr<const data::Dataset> dataset_;
  std::unique_ptr<data::Split> split_;
  std::shared_ptr<data::CachedDataset> cached_;
};

/// One stage of the main job.
class Stage {
 public:
  virtual ~Stage() = default;
  /// Checks what the stage will run with before any stage runs (a bad config fails in the
  /// first second, not after pretraining).
  virtual void check(RunContext& /*ctx*/) const {}
  /// What the stage's result depends on (its resolved config, the files it starts from);
  /// "" = always run (the report). Called just before the stage would run.
  virtual std::string fingerprint(RunContext& ctx) const = 0;
  virtual StageResult run(RunContext& ctx) = 0;
  /// Called instead of run() when the stage finished in an earlier session: puts back into the
  /// context what run() would have added besides its own result (a stage's sub-runs).
  virtual void restore(RunContext& /*ctx*/, const StageResult& /*recorded*/) {}
};
using StagePtr = std::shared_ptr<Stage>;

/// name -> stage ("data", "pretrain", "finetune", "linear_probe", "baseline", "report").
Registry<Stage>& stage_registry();

/// 16 hex digits of a stable 64-bit hash (FNV-1a) of `text`: a fingerprint for StageResult.
std::string fingerprint_of(const std::string& text);

/// Merges `over` onto `base` the way stage sections compose: maps merge recursively, except that
/// a mapping whose `name` differs from the base's replaces it; anything else replaces.
void merge_stage_section(ConfigNode& base, const ConfigNode& over);

RunResult run_experiment(const RunOptions& options);

/// The comparison the main job leads with, from the classifier stages' results: one row per
/// (initialisation, mode) that ran, with test (else validation) macro AUROC, AUPRC and F1 and
/// the split sizes. "" when no classifier stage ran.
std::string comparison_table(const RunContext& ctx);

}  // namespace cardiotorch::app
