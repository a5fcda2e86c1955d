// Adds dataset label counts to `cardiotorch info DIR` when DIR is a known dataset layout.
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/io/summary.h"

namespace cardiotorch::data {
namespace {

void add_label_counts(const std::string& dir, io::DirectorySummary& summary) {
  if (detect_dataset(dir).empty()) return;
  auto ds = open_dataset(dir);
  const DatasetInfo& info = ds->info();
  auto& labels = summary.sections["labels (" + info.name + ", " + std::to_string(ds->size()) + " items)"];
  for (size_t k = 0; k < info.class_names.size() && k < info.label_counts.size(); ++k)
    labels[info.class_names[k]] = info.label_counts[k];
  if (info.n_unlabelled > 0) labels["(no label)"] = info.n_unlabelled;
}

[[maybe_unused]] const bool registered = io::add_summary_hook("dataset_labels", add_label_counts);

}  // namespace
}  // namespace cardiotorch::data
