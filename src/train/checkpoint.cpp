#include "cardiotorch/train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/train/optim.h"
#include "cardiotorch/weights/save.h"

namespace fs = std::filesystem;

namespace cardiotorch::train {

namespace {

std::string one_line(const ConfigNode& n) {
  if (n.is_null()) return "~";
  std::string s = n.to_yaml();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (auto& c : s)
    if (c == '\n') c = ' ';
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

bool ignored_key(const std::string& path, const std::vector<std::string>& ignored) {
  return std::any_of(ignored.begin(), ignored.end(), [&](const std::string& g) { return glob_match(g, path); });
}

void diff(const ConfigNode& a, const ConfigNode& b, const std::string& path, const std::vector<std::string>& ignored,
          std::vector<std::string>& out) {
  if (!path.empty() && ignored_key(path, ignored)) return;
  if (a.is_map() && b.is_map()) {
    std::vector<std::string> keys = a.keys();
    for (const auto& k : b.keys())
      if (!a.has(k)) keys.push_back(k);
    for (const auto& k : keys) diff(a[k], b[k], path.empty() ? k : path + "." + k, ignored, out);
    return;
  }
  const std::string ta = one_line(a), tb = one_line(b);
  if (ta != tb) out.push_back(str_cat(path.empty() ? "(root)" : path, ": ", ta, " -> ", tb));
}

}  // namespace

std::vector<std::string> config_differences(const ConfigNode& before, const ConfigNode& after,
                                            const std::vector<std::string>& ignored) {
  std::vector<std::string> out;
  diff(before, after, "", ignored, out);
  return out;
}

const std::vector<std::string>& resumable_config_keys() {
  static const std::vector<std::string> keys = {
      "name", "output_dir", "threads", "deterministic", "train.epochs", "train.steps", "train.log_every",
      "train.progress", "train.keep_last", "train.checkpoint_every_steps", "train.patience", "train.device",
      "train.amp", "data.loader.num_workers",
      // the trainer checks batch_size x ranks: a run resumes on
      // another number of ranks with the same global batch
      "data.loader.batch_size", "dist*", "data.loader.prefetch", "data.loader.device", "data.loader.pin_memory",
      "data.cache.*", "data.dataset.root", "init*",
      // after training: the decision rule tuned on validation
      "finetune.decisions*"};
  return keys;
}

void check_resume_compatible(const weights::CheckpointData& ck, const std::string& path, const ConfigNode& current,
                             bool allow_version_mismatch) {
  if (ck.library_version != version_string()) {
    CT_CHECK(allow_version_mismatch, ConfigError, path, ": cannot resume: the checkpoint was written by cardiotorch ",
             ck.library_version.empty() ? std::string("(unknown)") : ck.library_version, ", this is cardiotorch ",
             version_string(), " (pass --allow-version-mismatch to resume anyway; results may differ)");
    CT_LOG_WARN(path, ": resuming a checkpoint of cardiotorch ", ck.library_version, " with ", version_string());
  }
  CT_CHECK(!ck.config_yaml.empty(), ConfigError, path,
           ": cannot resume: the checkpoint holds no config (not a training checkpoint)");
  const ConfigNode saved = ConfigNode::parse(ck.config_yaml, path + " [config]");
  const auto d = config_differences(saved, current, resumable_config_keys());
  if (d.empty()) return;
  std::vector<std::string> shown(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(d.size(), 8)));
  throw ConfigError(str_cat(path, ": cannot resume: the config differs from the checkpoint's in ", d.size(),
                            d.size() == 1 ? " key" : " keys", " (checkpoint -> now): ", join(shown, "; "),
                            d.size() > shown.size() ? "; ..." : "", ". Resume with the run's config (",
                            "its config.yaml), or start a new run with --init"));
}

// ------------------------------------------------------------------------------ files

CheckpointFiles::CheckpointFiles(std::string dir, int64_t keep_last) : dir_(std::move(dir)), keep_last_(keep_last) {
  fs::create_directories(dir_);
}

namespace {

// Points `name` at `target` atomically: a hard link (or a copy where links fail) under a
// temporary name, renamed over the old one.
void link_atomically(const fs::path& target, const fs::path& name) {
  const fs::path tmp = name.string() + ".tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_hard_link(target, tmp, ec);
  if (ec) fs::copy_file(target, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, name);
}

}  // namespace

std::string CheckpointFiles::save(const weights::CheckpointData& data, int64_t step, bool is_best) {
  char file[64];
  std::snprintf(file, sizeof file, "step-%08lld.safetensors", static_cast<long long>(step));
  const fs::path path = fs::path(dir_) / file;
  weights::save_checkpoint(path.string(), data);
  link_atomically(path, fs::path(dir_) / "last.safetensors");
  if (is_best) link_atomically(path, fs::path(dir_) / "best.safetensors");
  std::vector<fs::path> steps;
  for (const auto& e : fs::directory_iterator(dir_)) {
    const std::string n = e.path().filename().string();
    if (starts_with(n, "step-") && ends_with(n, ".safetensors")) steps.push_back(e.path());
  }
  std::sort(steps.begin(), steps.end());
  const auto keep = static_cast<size_t>(std::max<int64_t>(1, keep_last_));
  for (size_t i = 0; i + keep < steps.size(); ++i) {
    std::error_code ec;
    fs::remove(steps[i], ec);
  }
  return path.string();
}

std::string CheckpointFiles::last() const {
  const fs::path p = fs::path(dir_) / "last.safetensors";
  return fs::exists(p) ? p.string() : std::string();
}

std::string CheckpointFiles::best() const {
  const fs::path p = fs::path(dir_) / "best.safetensors";
  return fs::exists(p) ? p.string() : std::string();
}

std::string find_resume_checkpoint(const std::string& path) {
  CT_CHECK(fs::exists(path), UsageError, "--resume ", path, ": no such file or directory");
  if (fs::is_regular_file(path)) return path;
  for (const fs::path& p : {fs::path(path) / "last.safetensors", fs::path(path) / "checkpoints" / "last.safetensors"})
    if (fs::exists(p)) return p.string();
  throw UsageError(
      str_cat("--resume ", path, ": no checkpoint there (expected last.safetensors or checkpoints/last.safetensors)"));
}

}  // namespace cardiotorch::train
