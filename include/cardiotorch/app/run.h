#pragma once
// `cardiotorch run CONFIG`: the main job. Runs every stage an experiment config describes and
// this build provides, writes the run directory (config.yaml, run.log, metrics.jsonl,
// report.html, figures) and returns what ran.
//
// Stages today: dataset indexing -> patient-level split -> preprocessing through the cache ->
// augmented training batches and evaluation batches through the loader. Model stages
// (pretraining, fine-tuning) join as they land; the report lists what ran and what did not.
#include <string>
#include <vector>

namespace cardiotorch::app {

struct StageResult {
  std::string name;     ///< "dataset", "split", "cache", "train loader", ...
  double seconds = 0;
  std::string summary;  ///< one line for the console table
};

struct RunResult {
  std::string run_dir;
  std::string report_path;
  std::vector<StageResult> stages;
};

struct RunOptions {
  std::string config_file;
  std::vector<std::string> overrides;  ///< --set a.b=c
  int64_t max_batches = 0;             ///< per loader pass (0 = a full epoch), for smoke runs
};

RunResult run_experiment(const RunOptions& options);

}  // namespace cardiotorch::app
