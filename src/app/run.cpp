// The main job's driver: the run context, stage records and the loop over the configured stages.
// The stages themselves live in stage_*.cpp, one registered class each.
#include "cardiotorch/app/run.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "cardiotorch/core/file.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/run_dir.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/dist/env.h"

namespace fs = std::filesystem;

namespace cardiotorch::app {

Registry<Stage>& stage_registry() {
  static Registry<Stage> r("stage", "stages of the main job (`cardiotorch run`), listed in a config's `stages:`");
  return r;
}

std::string fingerprint_of(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: stable across builds and platforms, unlike std::hash
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
  return b;
}

void merge_stage_section(ConfigNode& base, const ConfigNode& over) {
  if (over.is_null()) return;
  if (!base.is_map() || !over.is_map()) {
    base.merge(over);
    return;
  }
  for (const std::string& key : over.keys()) {
    const ConfigNode o = over[key];
    ConfigNode b = base[key];
    // A component naming another registry entry ({name: vit_patchx} over {name: mae_vit_patchx})
    // starts from that entry's defaults: merging would hand it the other's options.
    const bool renamed =
        o.is_map() && b.is_map() && o.has("name") && b.has("name") && o["name"].as_string() != b["name"].as_string();
    if (o.is_map() && b.is_map() && !renamed) {
      merge_stage_section(b, o);
    } else {
      base.set(key, o.clone());
    }
  }
}

// ------------------------------------------------------------------------------ StageResult

std::string StageResult::to_json() const {
  nlohmann::json j;
  j["name"] = name;
  j["seconds"] = seconds;
  j["summary"] = summary;
  j["fingerprint"] = fingerprint;
  nlohmann::json v = nlohmann::json::object();
  for (const auto& [k, x] : values) {
    if (std::isfinite(x)) v[k] = x;
    else v[k] = nullptr;  // JSON has no NaN: an undefined metric (one class in the split) reads back as NaN
  }
  j["values"] = v;
  j["files"] = files;
  return j.dump(2);
}

StageResult StageResult::from_json(const std::string& text, const std::string& origin) {
  StageResult r;
  try {
    const auto j = nlohmann::json::parse(text);
    r.name = j.at("name").get<std::string>();
    r.seconds = j.value("seconds", 0.0);
    r.summary = j.value("summary", std::string());
    r.fingerprint = j.value("fingerprint", std::string());
    if (j.contains("values"))
      for (const auto& [k, x] : j["values"].items())
        r.values[k] = x.is_number() ? x.get<double>() : std::numeric_limits<double>::quiet_NaN();
    if (j.contains("files"))
      for (const auto& [k, x] : j["files"].items()) r.files[k] = x.get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw DataError(str_cat(origin, ": not a stage record (", e.what(), "); delete it to run the stage again"));
  }
  return r;
}

// ------------------------------------------------------------------------------- RunContext

RunContext::RunContext(RunOptions request, ConfigNode config, ExperimentOptions options)
    : request_(std::move(request)), config_(std::move(config)), options_(std::move(options)) {
  run_dir_ = (fs::path(options_.output_dir) / options_.name).string();
}

ConfigNode RunContext::stage_config(const std::vector<std::string>& layers, const std::string& name,
                                    const std::vector<ConfigNode>& extra) const {
  ConfigNode c = config_.clone();
  c.remove("stages");
  c.remove("per_stage");
  for (const std::string& layer : layers) {
    const ConfigNode section = config_["per_stage"][layer];
    if (section.is_null()) continue;
    CT_CHECK(section.is_map(), ConfigError, section.where(), ": expected a mapping of experiment sections");
    merge_stage_section(c, section);
  }
  for (const ConfigNode& e : extra) merge_stage_section(c, e);
  c.set("output_dir", ConfigNode::string(run_dir_));
  c.set("name", ConfigNode::string(name));
  if (request_.max_steps > 0) c.apply_override(str_cat("train.steps=", request_.max_steps));
  return resolve_experiment(c, {});
}

std::shared_ptr<const data::Dataset> RunContext::dataset() {
  if (!dataset_) {
    CT_CHECK(
        !options_.data.dataset.is_null(), ConfigError, request_.config_file,
        ": data.dataset is required for a run, e.g. data: {dataset: {name: cinc2021, root: data/sample/cinc2021}}");
    dataset_ = data::build_dataset(config_["data"]["dataset"]);
    CT_CHECK(dataset_->size() > 0, DataError, config_["data"]["dataset"].where(), ": the dataset has no items");
  }
  return dataset_;
}

ConfigNode RunContext::dataset_config() {
  const data::DatasetInfo& info = dataset()->info();
  ConfigNode full = ConfigNode::map();
  full.set("name", ConfigNode::string(info.name));
  full.merge(ConfigNode::parse(info.config, "dataset options"));
  return full;
}

const data::Split& RunContext::split() {
  if (!split_) split_ = std::make_unique<data::Split>(data::make_split(*dataset(), options_.data.split));
  return *split_;
}

std::shared_ptr<data::CachedDataset> RunContext::cached() {
  if (!cached_) {
    const signal::Pipeline preprocess = signal::Pipeline::from_config(config_["preprocess"]);
    cached_ = std::make_shared<data::CachedDataset>(dataset(), preprocess, config_["preprocess"].to_yaml(),
                                                    options_.data.cache);
  }
  return cached_;
}

const StageResult* RunContext::result(const std::string& stage) const {
  auto it = results_.find(stage);
  return it == results_.end() ? nullptr : &it->second;
}

static std::string record_path(const std::string& run_dir, const std::string& name) {
  return (fs::path(run_dir) / "stages" / (name + ".json")).string();
}

std::unique_ptr<StageResult> RunContext::recorded(const std::string& name, const std::string& fingerprint) const {
  const std::string path = record_path(run_dir_, name);
  if (!fs::exists(path)) return nullptr;
  auto r = std::make_unique<StageResult>(StageResult::from_json(read_file(path), path));
  CT_CHECK(r->fingerprint == fingerprint, ConfigError, "stage ", name, " finished earlier with another config (", path,
           "): start the run again with --overwrite, or give it another name with --set name=<new name>");
  r->resumed = true;
  return r;
}

void RunContext::record(const StageResult& r) const {
  const std::string path = record_path(run_dir_, r.name);
  fs::create_directories(fs::path(path).parent_path());
  // Written whole, then renamed: a kill leaves the old record or the new one, never half of one.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    CT_CHECK(out.good(), IoError, tmp, ": cannot open for writing");
    out << r.to_json() << '\n';
    CT_CHECK(out.good(), IoError, tmp, ": write failed");
  }
  fs::rename(tmp, path);
}

// ------------------------------------------------------------------------------ the driver

namespace {

using Clock = std::chrono::steady_clock;

void check_stage_names(const ConfigNode& resolved, const ExperimentOptions& opts, const RunOptions& ro) {
  const Registry<Stage>& reg = stage_registry();
  CT_CHECK(!opts.stages.empty(), ConfigError, ro.config_file, ": stages is empty; stages: ", join(reg.names()));
  std::set<std::string> seen;
  for (size_t i = 0; i < opts.stages.size(); ++i) {
    reg.require(opts.stages[i], resolved["stages"][i].where());
    CT_CHECK(seen.insert(opts.stages[i]).second, ConfigError, resolved["stages"][i].where(), ": stage '",
             opts.stages[i], "' is listed twice");
  }
  const ConfigNode per = resolved["per_stage"];
  if (!per.is_null()) {
    CT_CHECK(per.is_map(), ConfigError, per.where(), ": expected {<stage>: {<experiment sections>}}");
    for (const std::string& k : per.keys())
      if (!per[k].is_null()) reg.require(k, per[k].where());  // `--set per_stage.x=~` switches a section off
  }
  if (!ro.stop_after.empty()) {
    reg.require(ro.stop_after, "--stop-after");
    CT_CHECK(seen.count(ro.stop_after), UsageError, "--stop-after ", ro.stop_after, ": not one of this run's stages (",
             join(opts.stages), ")");
  }
}

}  // namespace

RunResult run_experiment(const RunOptions& ro) {
  // The main job is one process: its data, baseline and report stages write the run directory
  // and its stage records decide what the next session skips, which N copies would race on.
  // Its training stages are the finetune/pretrain commands, and those run under a launcher.
  const dist::DistEnv env = dist::env_from_process();
  CT_CHECK(!env.distributed(), UsageError, "run: the main job runs in one process, not as rank ", env.rank, " of ",
           env.world_size, " (", env.source,
           " environment); train on several ranks with `cardiotorch launch --nproc N -- finetune --config F` or `... "
           "-- pretrain "
           "--config F` (torchrun and srun alike), then `cardiotorch run` the remaining stages in one process");
  ExperimentOptions opts;
  const ConfigNode resolved = resolve_experiment(ro.config_file, ro.overrides, &opts);
  check_stage_names(resolved, opts, ro);
  if (opts.threads > 0) set_thread_budget(static_cast<int>(opts.threads));
  if (opts.deterministic) set_deterministic(true);
  manual_seed(static_cast<uint64_t>(opts.seed));

  RunContext ctx(ro, resolved, opts);
  RunResult result;
  result.run_dir = ctx.run_dir();
  if (ro.overwrite && fs::exists(ctx.run_dir())) {
    fs::remove_all(ctx.run_dir());
    CT_LOG_INFO("removed the previous run in ", ctx.run_dir(), " (--overwrite)");
  }
  const bool resuming = fs::is_directory(fs::path(ctx.run_dir()) / "stages");
  RunDir run(ctx.run_dir(), resolved);
  CT_LOG_INFO(build_summary());
  CT_LOG_INFO("run ", opts.name, " -> ", ctx.run_dir(), resuming ? " (continuing the run there)" : "", "; stages ",
              join(opts.stages, " -> "));

  std::vector<StagePtr> stages;
  for (const std::string& name : opts.stages) stages.push_back(stage_registry().build(name, ConfigNode()));
  // Every stage checks its config before the first one starts.
  for (const auto& s : stages) s->check(ctx);

  for (size_t i = 0; i < stages.size(); ++i) {
    const std::string& name = opts.stages[i];
    const std::string fp = stages[i]->fingerprint(ctx);
    if (!fp.empty()) {
      if (auto rec = ctx.recorded(name, fp)) {
        CT_LOG_INFO("stage ", name, ": finished earlier (stages/", name, ".json), skipped: ", rec->summary);
        ctx.add_result(*rec);
        stages[i]->restore(ctx, *rec);
        result.stages.push_back(*rec);
        if (name == ro.stop_after) break;
        continue;
      }
    }
    CT_LOG_INFO("stage ", name, " (", i + 1, "/", stages.size(), ")");
    const auto t0 = Clock::now();
    StageResult r = stages[i]->run(ctx);
    set_log_file(run.file("run.log"));  // a training stage's own run directory took the log over
    r.name = name;
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    r.fingerprint = fp;
    if (!fp.empty()) ctx.record(r);
    ctx.add_result(r);
    result.stages.push_back(r);
    run.metrics().write({{"stage", name}, {"seconds", r.seconds}, {"summary", r.summary}});
    CT_LOG_INFO("stage ", name, ": ", r.summary, " (", r.seconds, " s)");
    if (name == ro.stop_after) {
      CT_LOG_INFO("stopped after ", name, " (--stop-after); the same command without it continues the run");
      break;
    }
  }
  result.table = comparison_table(ctx);
  if (const StageResult* rep = ctx.result("report")) {
    auto it = rep->files.find("report");
    if (it != rep->files.end()) result.report_path = it->second;
  }
  return result;
}

}  // namespace cardiotorch::app
