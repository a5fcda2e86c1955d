#include "app/decisions.h"

#include "cardiotorch/core/strings.h"
#include "cardiotorch/train/trainer.h"

namespace cardiotorch::app {

std::string tune_decisions(TrainedModel& model, data::Loader& loader, const train::DecisionTuning& tuning,
                           const c10::Device& device, at::ScalarType precision, bool progress, const std::string& where,
                           TaskInfo& task) {
  const auto task_kind = model.objective->task();
  CT_CHECK(task_kind == train::TaskKind::kMulticlass || task_kind == train::TaskKind::kMultilabel, ConfigError,
           "finetune.decisions.tune: decisions are tuned for multiclass and multilabel tasks, not ",
           task_kind ? train::task_name(*task_kind) : model.objective->objective_name().c_str());
  model.model->to(device);
  model.objective->to(device);
  // f1_macro stores the outputs the tuning reads, whatever the configured metrics are.
  auto ms = make_metric_set(ConfigNode::string("f1_macro"), *task_kind, task);
  train::evaluate(*model.model, *model.objective, loader, ms.get(), device, precision, "tune", 0, progress);
  const train::TunedDecisions d = ms->tune_decisions(tuning);
  const bool multiclass = task_kind == train::TaskKind::kMulticlass;
  std::string rule;
  for (size_t c = 0; c < d.tuned.size(); ++c)
    rule += str_cat(c ? ", " : "", c < task.class_names.size() ? task.class_names[c] : std::to_string(c), " ",
                    !d.tuned[c] ? "(kept)"
                    : static_cast<int64_t>(c) == d.reference
                        ? "0 (reference)"
                        : format_fixed(multiclass ? d.offsets[c] : d.thresholds[c], 2));
  if (multiclass) task.class_offsets = d.offsets;
  else task.thresholds = d.thresholds;
  task.decisions = str_cat(tuning.tune, " on ", where);
  return str_cat("mean ", tuning.tune, " of the tuned classes ", format_fixed(d.before, 4), " -> ",
                 format_fixed(d.after, 4), "; ", multiclass ? "log-probability offsets " : "thresholds ", rule);
}

data::LoaderOptions eval_loader_options(const TrainedModel& t, int64_t batch_size, int64_t workers,
                                        const c10::Device& device) {
  data::LoaderOptions o = t.options.data.loader;
  o.training = false;
  o.shuffle = false;
  o.drop_last = false;
  o.rank = 0;
  o.world_size = 1;
  o.device = device.str();
  if (batch_size > 0) o.batch_size = batch_size;
  if (workers >= 0) o.num_workers = workers;
  return o;
}

}  // namespace cardiotorch::app
