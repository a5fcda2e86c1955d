#include "cardiotorch/app/task.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "app/decisions.h"
#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/data/split.h"
#include "cardiotorch/train/checkpoint.h"
#include "cardiotorch/train/downstream.h"
#include "cardiotorch/train/trainer.h"
#include "cardiotorch/weights/save.h"

namespace cardiotorch::app {

std::string TaskInfo::to_json() const {
  return nlohmann::json{{"objective", objective},
                        {"class_names", class_names},
                        {"class_codes", class_codes},
                        {"label_kind", label_kind},
                        {"dataset", dataset},
                        {"data_root", data_root},
                        {"fs", fs},
                        {"leads", leads},
                        {"in_channels", in_channels},
                        {"seq_len", seq_len},
                        {"train_label_counts", train_label_counts},
                        {"train_size", train_size},
                        {"thresholds", thresholds},
                        {"class_offsets", class_offsets},
                        {"decisions", decisions}}
      .dump();
}

TaskInfo TaskInfo::from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  TaskInfo t;
  t.objective = j.at("objective").get<std::string>();
  t.class_names = j.at("class_names").get<std::vector<std::string>>();
  t.class_codes = j.at("class_codes").get<std::vector<std::string>>();
  t.label_kind = j.at("label_kind").get<std::string>();
  t.dataset = j.at("dataset").get<std::string>();
  t.data_root = j.at("data_root").get<std::string>();
  t.fs = j.at("fs").get<double>();
  t.leads = j.at("leads").get<std::vector<std::string>>();
  t.in_channels = j.at("in_channels").get<int64_t>();
  t.seq_len = j.at("seq_len").get<int64_t>();
  t.train_label_counts = j.at("train_label_counts").get<std::vector<int64_t>>();
  t.train_size = j.at("train_size").get<int64_t>();
  t.thresholds = j.at("thresholds").get<std::vector<double>>();
  // Checkpoints written before decisions were tuned lack these keys: argmax.
  t.class_offsets = j.value("class_offsets", std::vector<double>{});
  t.decisions = j.value("decisions", std::string{});
  for (const auto* rule : {&t.thresholds, &t.class_offsets}) {
    CT_CHECK(rule->empty() || rule->size() == t.class_names.size(), DataError, "task section: ", rule->size(),
             " per-class decision values (", rule == &t.thresholds ? "thresholds" : "class_offsets", ") for ",
             t.class_names.size(), " classes");
    for (double x : *rule) CT_CHECK(std::isfinite(x), DataError, "task section: a decision value is not finite: ", x);
  }
  return t;
}

data::LabelKind TaskInfo::kind() const {
  for (auto k :
       {data::LabelKind::kNone, data::LabelKind::kMultiHot, data::LabelKind::kClassIndex, data::LabelKind::kMask})
    if (label_kind == data::label_kind_name(k)) return k;
  return data::LabelKind::kNone;
}

train::ObjectiveContext TaskInfo::objective_context() const {
  train::ObjectiveContext c;
  c.class_names = class_names;
  c.label_kind = kind();
  c.fs = fs;
  c.train_label_counts = train_label_counts;
  c.train_size = train_size;
  return c;
}

models::ModelPtr build_task_model(const ExperimentOptions& o, const TaskInfo& info, int64_t outputs,
                                  bool segmentation) {
  const std::string name = o.model.name();
  CT_CHECK(!name.empty(), ConfigError,
           "model: is required for training, e.g. model: {name: ...} (`cardiotorch list model`)");
  models::ModelContext ctx;
  ctx.in_channels = info.in_channels;
  ctx.fs = info.fs;
  ctx.seq_len = info.seq_len;
  ctx.num_classes = outputs;
  const bool task_model = models::model_registry().contains(name);
  const bool probe = o.finetune.mode == "linear_probe";
  if (task_model && !probe) return models::build_model(o.model.node, ctx);
  if (!task_model) ctx.num_classes = 0;
  models::ModelPtr encoder = models::build_model(o.model.node, ctx);
  train::DownstreamOptions d;
  d.localized = segmentation;
  d.probe = probe;
  d.dropout = o.finetune.head_dropout;
  d.outputs = outputs;
  auto m = std::make_shared<train::DownstreamModelImpl>(encoder, d);
  m->set_model_name(name);
  return m;
}

std::vector<std::string> default_metrics(train::TaskKind task, const std::vector<std::string>& classes) {
  switch (task) {
    case train::TaskKind::kMulticlass: {
      std::vector<std::string> m = {"accuracy",         "balanced_accuracy",   "f1_macro",    "auroc_macro",
                                    "recall_per_class", "precision_per_class", "f1_per_class"};
      if (classes == std::vector<std::string>{"N", "S", "V", "F", "Q"}) m.push_back("aami");
      if (classes == std::vector<std::string>{"N", "A", "O", "~"}) m.push_back("cinc2017");
      return m;
    }
    case train::TaskKind::kMultilabel:
      return {"auroc_macro", "auprc_macro", "f1_macro", "auroc_per_class", "f1_per_class"};
    case train::TaskKind::kRegression: return {"mse", "mae", "r2"};
    case train::TaskKind::kSegmentation: return {"delineation"};
  }
  return {};
}

std::shared_ptr<train::MetricSet> make_metric_set(const ConfigNode& metrics, train::TaskKind task,
                                                  const TaskInfo& info) {
  train::MetricContext ctx;
  ctx.task = task;
  ctx.class_names = info.class_names;
  ctx.class_codes = info.class_codes;
  ctx.data_dir = info.data_root;
  ctx.fs = info.fs;
  ctx.thresholds = info.thresholds;
  ctx.class_offsets = info.class_offsets;
  if (metrics.is_null()) return std::make_shared<train::MetricSet>(ctx, default_metrics(task, info.class_names));
  return std::make_shared<train::MetricSet>(ctx, metrics);
}

namespace {

void copy_group(torch::nn::Module& module, const weights::NamedTensors& tensors, const std::string& path,
                const std::string& group) {
  std::map<std::string, const at::Tensor*> by_name;
  for (const auto& [k, t] : tensors) by_name[k] = &t;
  at::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(true)) {
    auto it = by_name.find(item.key());
    CT_CHECK(it != by_name.end(), DataError, path, ": the checkpoint's '", group, "' weights lack '", item.key(),
             "' (does it match its own config?)");
    CT_CHECK(it->second->sizes() == item.value().sizes(), DataError, path, ": '", item.key(), "' has shape ",
             it->second->sizes(), " in the checkpoint, ", item.value().sizes(), " in the model its config builds");
    item.value().copy_(*it->second);
  }
  for (auto& item : module.named_buffers(true)) {
    auto it = by_name.find(item.key());
    CT_CHECK(it != by_name.end(), DataError, path, ": the checkpoint's '", group, "' weights lack buffer '", item.key(),
             "'");
    item.value().copy_(*it->second);
  }
}

}  // namespace

namespace {
TrainedModel load_ensemble_file(const weights::CheckpointData& ck, const std::string& section, const std::string& path,
                                const std::string& which);
}  // namespace

TrainedModel load_trained(const std::string& path, const std::string& which) {
  return load_trained(weights::load_checkpoint(path), path, which);
}

TrainedModel load_trained(const weights::CheckpointData& ck, const std::string& path, const std::string& which) {
  CT_CHECK(which == "auto" || which == "model" || which == "ema", UsageError,
           "--weights must be auto, model or ema, got '", which, "'");
  if (auto e = ck.sections.find("ensemble"); e != ck.sections.end())
    return load_ensemble_file(ck, e->second, path, which);
  auto task = ck.sections.find("task");
  CT_CHECK(task != ck.sections.end() && !ck.config_yaml.empty(), DataError, path,
           ": not a fine-tuning checkpoint (it has no task section); `cardiotorch finetune` writes them");
  TrainedModel t;
  t.path = path;
  t.config = ConfigNode::parse(ck.config_yaml, path + " [config]");
  t.options = from_config<ExperimentOptions>(t.config, {});
  try {
    t.info = TaskInfo::from_json(task->second);
  } catch (const DataError& e) {
    throw DataError(str_cat(path, ": ", e.what()));
  }
  t.objective = train::objective_registry().build(t.options.objective.node, t.info.objective_context());
  const bool seg = t.objective->task() == train::TaskKind::kSegmentation;
  t.model = build_task_model(t.options, t.info, t.objective->num_outputs(), seg);
  std::string group = which;
  if (group == "auto") group = ck.groups.count("ema") && t.options.train.ema.validate ? "ema" : "model";
  auto g = ck.groups.find(group);
  CT_CHECK(g != ck.groups.end(), DataError, path, ": the checkpoint has no '", group, "' weights");
  copy_group(*t.model, g->second, path, group);
  auto og = ck.groups.find("objective");
  if (og != ck.groups.end()) copy_group(*t.objective, og->second, path, "objective");
  t.weights = group;
  t.model->eval();
  t.objective->eval();
  t.preprocess = signal::Pipeline::from_config(t.config["preprocess"]);
  t.members = {path};
  return t;
}

namespace {

// The members' mean probability, as outputs of the objective's kind (see load_ensemble).
class EnsembleModelImpl : public models::ModelImpl {
 public:
  EnsembleModelImpl(std::vector<models::ModelPtr> members, std::vector<std::string> paths,
                    train::ObjectivePtr objective, train::TaskKind task)
      : members_(std::move(members)), paths_(std::move(paths)), objective_(std::move(objective)), task_(task) {
    for (size_t i = 0; i < members_.size(); ++i) register_module("member" + std::to_string(i), members_[i]);
    in_channels_ = members_.front()->in_channels();
    set_model_name("ensemble");
  }

  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor mean;
    for (size_t i = 0; i < members_.size(); ++i) {
      const at::Tensor p = objective_->probabilities(members_[i]->forward(x)).to(at::kFloat);
      if (!mean.defined()) {
        mean = p.clone();
        continue;
      }
      CT_CHECK(p.sizes() == mean.sizes(), ShapeError, "ensemble: ", paths_[i], " outputs ", p.sizes(), ", ", paths_[0],
               " outputs ", mean.sizes());
      mean.add_(p);
    }
    mean.div_(static_cast<double>(members_.size()));
    switch (task_) {
      // softmax(log p) = p: the log-probabilities are logits of the mean distribution.
      case train::TaskKind::kMulticlass: return mean.clamp_min(1e-12).log();
      case train::TaskKind::kMultilabel:
      case train::TaskKind::kSegmentation: {
        const at::Tensor q = mean.clamp(1e-6, 1.0 - 1e-6);
        return q.log() - (1.0 - q).log();  // sigmoid(logit q) = q
      }
      case train::TaskKind::kRegression: return mean;
    }
    return mean;
  }
  // The members' features live in different spaces (other seeds, other architectures): there is
  // no one embedding to return, and the mean output is not one.
  at::Tensor forward_features(const at::Tensor&) override { throw no_features(); }
  at::Tensor forward_localized(const at::Tensor&) override { throw no_features(); }
  at::Tensor embed(const at::Tensor&) override { throw no_features(); }
  models::Shape output_shape(const models::Shape& input) const override {
    return members_.front()->output_shape(input);
  }
  int64_t embed_dim() const override { return members_.front()->embed_dim(); }
  models::Shape input_shape() const override { return members_.front()->input_shape(); }
  std::string summary() const override {
    return str_cat("ensemble of ", members_.size(), " checkpoints: ", join(paths_, ", "));
  }

 private:
  UsageError no_features() const {
    return UsageError(str_cat("an ensemble of ", members_.size(), " checkpoints has no single feature space: embed ",
                              "with one member (", join(paths_, ", "), ")"));
  }

  std::vector<models::ModelPtr> members_;
  std::vector<std::string> paths_;
  train::ObjectivePtr objective_;
  train::TaskKind task_;
};

// The members' per-class decision rules averaged (thresholds, or offsets in log-probability
// units), a member without one counting as the default; empty when no member has one. The
// ensemble's probabilities are the members' mean, so its rule is the members' central one.
// (TaskInfo::from_json has checked each rule's length against the classes, which agree.)
std::vector<double> mean_rule(const std::vector<TaskInfo>& infos, std::vector<double> TaskInfo::*rule,
                              double default_value) {
  size_t n = 0;
  for (const auto& i : infos) n = std::max(n, (i.*rule).size());
  if (n == 0) return {};
  std::vector<double> mean(n, 0.0);
  for (const auto& i : infos) {
    const std::vector<double>& r = i.*rule;
    for (size_t c = 0; c < n; ++c) mean[c] += r.empty() ? default_value : r.at(c);
  }
  for (double& x : mean) x /= static_cast<double>(infos.size());
  return mean;
}

}  // namespace

namespace {

// Trained models of one task as one (load_ensemble); `labels` name them in messages and in
// TrainedModel::members.
TrainedModel combine_members(std::vector<TrainedModel> ms, const std::vector<std::string>& labels) {
  CT_INTERNAL_ASSERT(!ms.empty() && ms.size() == labels.size(), "combine_members: ", ms.size(), " models, ",
                     labels.size(), " labels");
  if (ms.size() == 1) return std::move(ms.front());
  for (size_t i = 0; i < ms.size(); ++i)
    CT_CHECK(
        ms[i].members.size() == 1, UsageError, labels[i], " is itself an ensemble of ", ms[i].members.size(),
        " checkpoints: give its members' checkpoints instead (an ensemble of ensembles would weigh them unequally)");
  TrainedModel& first = ms.front();
  const auto task = first.objective->task();
  CT_CHECK(task.has_value(), ConfigError, labels[0], ": objective ", first.objective->objective_name(),
           " has no per-sample predictions to average");
  std::vector<models::ModelPtr> models = {first.model};
  std::vector<TaskInfo> infos = {first.info};
  for (size_t i = 1; i < ms.size(); ++i) {
    const TrainedModel& m = ms[i];
    const TaskInfo &a = first.info, &b = m.info;
    std::vector<std::string> d;
    auto same = [&](const char* what, const auto& x, const auto& y) {
      if (x != y) d.push_back(what);
    };
    same("objective", a.objective, b.objective);
    same("classes", a.class_names, b.class_names);
    same("label kind", a.label_kind, b.label_kind);
    same("dataset", a.dataset, b.dataset);
    same("sampling rate", a.fs, b.fs);
    same("leads", a.leads, b.leads);
    same("input channels", a.in_channels, b.in_channels);
    same("input length", a.seq_len, b.seq_len);
    // The members read the same windows: dataset options (but where the data was) and the
    // preprocessing must agree; the model, the training and the split may differ.
    for (const auto& line : train::config_differences(first.config["data"]["dataset"], m.config["data"]["dataset"],
                                                      {"root", "records", "limit", "on_error"}))
      d.push_back("data.dataset." + line);
    for (const auto& line : train::config_differences(first.config["preprocess"], m.config["preprocess"]))
      d.push_back(line.rfind("(root)", 0) == 0 ? "preprocess" + line.substr(6) : "preprocess." + line);
    CT_CHECK(d.empty(), ConfigError, "ensemble: ", labels[i], " does not predict the same task from the same input as ",
             labels[0], ": they differ in ", join(d, "; "));
    models.push_back(m.model);
    infos.push_back(m.info);
  }
  TrainedModel t = std::move(first);
  t.info.thresholds = mean_rule(infos, &TaskInfo::thresholds, 0.5);
  t.info.class_offsets = mean_rule(infos, &TaskInfo::class_offsets, 0.0);
  if (!t.info.thresholds.empty() || !t.info.class_offsets.empty())
    t.info.decisions = str_cat("the mean of the members' tuned rules (", labels.size(), " members)");
  t.model = std::make_shared<EnsembleModelImpl>(models, labels, t.objective, *task);
  t.model->eval();
  t.members = labels;
  return t;
}

// An ensemble file (save_ensemble): its "ensemble" section lists the members as
// {source, weights, config, task}; member i's model weights are the group "member<i>", its
// objective's (when it has any) "member<i>_objective".
std::string member_group(size_t i) { return str_cat("member", i); }

TrainedModel load_ensemble_file(const weights::CheckpointData& ck, const std::string& section, const std::string& path,
                                const std::string& which) {
  CT_CHECK(which == "auto", UsageError, path,
           ": an ensemble file holds the weights chosen when it was written; --weights ", which, " does not apply");
  std::vector<TrainedModel> members;
  std::vector<std::string> labels;
  try {
    const nlohmann::json j = nlohmann::json::parse(section);
    const nlohmann::json& list = j.at("members");
    CT_CHECK(list.is_array() && !list.empty(), DataError, path, ": the ensemble section lists no members");
    for (size_t i = 0; i < list.size(); ++i) {
      const nlohmann::json& m = list[i];
      weights::CheckpointData sub;
      sub.config_yaml = m.at("config").get<std::string>();
      sub.sections["task"] = m.at("task").get<std::string>();
      auto g = ck.groups.find(member_group(i));
      CT_CHECK(g != ck.groups.end(), DataError, path, ": ensemble member ", i, " has no weights (tensor group '",
               member_group(i), "')");
      sub.groups["model"] = g->second;
      auto og = ck.groups.find(member_group(i) + "_objective");
      if (og != ck.groups.end()) sub.groups["objective"] = og->second;
      const std::string label = str_cat(path, " [member ", i, ", from ", m.at("source").get<std::string>(), "]");
      members.push_back(load_trained(sub, label, "model"));
      members.back().weights = m.at("weights").get<std::string>();
      labels.push_back(label);
    }
  } catch (const nlohmann::json::exception& e) {
    throw DataError(str_cat(path, ": malformed ensemble section (", e.what(), ")"));
  }
  TrainedModel t = combine_members(std::move(members), labels);
  t.path = path;
  // The file's own task holds the ensemble's decision rule: the members' mean when it was
  // written, or a rule tuned for the ensemble since, which then takes precedence.
  if (auto task = ck.sections.find("task"); task != ck.sections.end()) {
    TaskInfo own;
    try {
      own = TaskInfo::from_json(task->second);
    } catch (const nlohmann::json::exception& e) {
      throw DataError(str_cat(path, ": malformed task section (", e.what(), ")"));
    } catch (const DataError& e) {
      throw DataError(str_cat(path, ": ", e.what()));
    }
    CT_CHECK(own.class_names == t.info.class_names, DataError, path, ": the ensemble's task has the classes ",
             join(own.class_names), ", its members ", join(t.info.class_names));
    t.info.thresholds = own.thresholds;
    t.info.class_offsets = own.class_offsets;
    t.info.decisions = own.decisions;
  }
  return t;
}

}  // namespace

TrainedModel load_ensemble(const std::vector<std::string>& paths, const std::string& which) {
  CT_CHECK(!paths.empty(), UsageError, "no checkpoint given");
  std::vector<TrainedModel> ms;
  for (const auto& p : paths) ms.push_back(load_trained(p, which));
  return combine_members(std::move(ms), paths);
}

void save_ensemble(const EnsembleRequest& req) {
  const std::vector<std::string>& paths = req.checkpoints;
  const std::string &out = req.output, &which = req.weights, &tune = req.tune;
  CT_CHECK(paths.size() >= 2, UsageError, "ensemble: give two or more checkpoints, got ", paths.size());
  for (const auto& p : paths)
    CT_CHECK(std::filesystem::weakly_canonical(p) != std::filesystem::weakly_canonical(out), UsageError,
             "ensemble: the output ", out, " is one of the members");
  if (!tune.empty()) check_choice("--tune", tune, {"val"});  // never the test split
  CT_CHECK(req.decisions.empty() || !tune.empty(), UsageError, "ensemble: --decisions applies to --tune val");
  TrainedModel ens = load_ensemble(paths, which);  // the members agree; the ensemble's rule
  train::DecisionTuning tuning = ens.options.finetune.decisions;
  if (!req.decisions.empty()) {
    const ConfigNode node = ConfigNode::parse(req.decisions, "--decisions");
    CT_CHECK(node.is_map(), ConfigError, "--decisions: expected a mapping such as {tune: f1, classes: [N, S, V]}");
    update_from_config(tuning, node);
    tuning.validate();
  }
  CT_CHECK(tune.empty() || tuning.enabled(), UsageError, "ensemble --tune ", tune, ": ", paths[0],
           " was trained without finetune.decisions.tune, which says what to tune; give it, e.g. --decisions "
           "'{tune: f1, classes: [N, S, V]}'");
  std::shared_ptr<data::Dataset> ds;
  std::vector<int64_t> items;  // the split the rule is tuned on, common to every member
  if (!tune.empty()) ds = open_task_dataset(ens, "");
  weights::CheckpointData file;
  nlohmann::json members = nlohmann::json::array();
  for (size_t i = 0; i < paths.size(); ++i) {
    const weights::CheckpointData ck = weights::load_checkpoint(paths[i]);
    const TrainedModel m = load_trained(ck, paths[i], which);
    if (ds) {
      const std::vector<int64_t> mine = task_split(m, *ds, tune);
      if (i == 0) items = mine;
      CT_CHECK(mine == items, UsageError, "ensemble --tune ", tune, ": ", paths[i], " holds out other ", tune,
               " items (", mine.size(), ") than ", paths[0], " (", items.size(),
               "); tune on a split the members share (e.g. runs with the same data.split.seed)");
    }
    file.groups[member_group(i)] = ck.groups.at(m.weights);
    if (auto og = ck.groups.find("objective"); og != ck.groups.end())
      file.groups[member_group(i) + "_objective"] = og->second;
    members.push_back(
        {{"source", paths[i]}, {"weights", m.weights}, {"config", ck.config_yaml}, {"task", ck.sections.at("task")}});
    if (i == 0) {
      file.config_yaml = ck.config_yaml;
      file.registry = ck.registry;
    }
  }
  if (ds) {
    CT_CHECK(!items.empty(), UsageError, "ensemble --tune ", tune, ": the members' ", tune, " split is empty");
    const c10::Device device = train::resolve_device("auto");
    data::Loader loader(std::make_shared<data::SubsetDataset>(ds, items), ens.preprocess,
                        eval_loader_options(ens, 0, -1, device));
    const std::string where = str_cat("the members' ", tune, " split (", items.size(), " items), for the ensemble");
    const std::string summary = tune_decisions(ens, loader, tuning, device, at::kFloat, false, where, ens.info);
    CT_LOG_INFO("ensemble decisions tuned on ", where, ": ", summary);
  }
  file.sections["task"] = ens.info.to_json();
  file.sections["ensemble"] = nlohmann::json{{"members", members}}.dump();
  weights::save_checkpoint(out, file);
}

std::shared_ptr<data::Dataset> open_task_dataset(const TrainedModel& t, const std::string& dir,
                                                 const std::vector<std::string>& overrides) {
  ConfigNode node = t.config["data"]["dataset"].clone();
  if (dir.empty()) {
    for (const auto& o : overrides) node.apply_override(o);
    return data::build_dataset(node);
  }
  CT_CHECK(std::filesystem::is_directory(dir), UsageError, "--data ", dir, ": not a directory");
  const std::string detected = data::detect_dataset(dir);
  if (detected.empty() || detected == t.info.dataset) {
    // Another directory holds other records: the training run's record selection does not
    // apply there (MIT-BIH `records: [DS1]`, a `limit` for quick runs).
    if (dir != (node.has("root") ? node["root"].as_string() : std::string())) {
      if (node.has("records")) node.set("records", ConfigNode::sequence());
      if (node.has("limit")) node.set_scalar("limit", "0");
    }
    node.set("root", ConfigNode::string(dir));
    for (const auto& o : overrides) node.apply_override(o);
    return data::build_dataset(node);
  }
  ConfigNode other = ConfigNode::map();
  other.set("name", ConfigNode::string(detected));
  other.set("root", ConfigNode::string(dir));
  other.set_scalar("on_error", "skip");
  for (const auto& o : overrides) other.apply_override(o);
  auto ds = data::build_dataset(other);
  CT_CHECK(ds->info().class_names == t.info.class_names, DataError, "--data ", dir, ": it holds ", detected,
           " data with classes [", join(ds->info().class_names), "], but the model predicts [",
           join(t.info.class_names), "] (trained on ", t.info.dataset, ")");
  return ds;
}

std::vector<int64_t> task_split(const TrainedModel& t, const data::Dataset& ds, const std::string& part) {
  check_choice("split", part, {"all", "train", "val", "test"});
  if (part == "all") {
    std::vector<int64_t> all(static_cast<size_t>(ds.size()));
    std::iota(all.begin(), all.end(), 0);
    return all;
  }
  const data::Split s = data::make_split(ds, t.options.data.split);
  return part == "train" ? s.train : part == "val" ? s.val : s.test;
}

}  // namespace cardiotorch::app
