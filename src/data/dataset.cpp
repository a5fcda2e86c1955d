#include "cardiotorch/data/dataset.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace cardiotorch::data {

const char* label_kind_name(LabelKind k) {
  switch (k) {
    case LabelKind::kNone: return "none";
    case LabelKind::kMultiHot: return "multi-hot";
    case LabelKind::kClassIndex: return "class index";
    case LabelKind::kMask: return "per-sample mask";
  }
  return "?";
}

Registry<Dataset>& dataset_registry() {
  static Registry<Dataset> r("dataset", "dataset adapters (label tables, folds, record layout)");
  return r;
}

std::shared_ptr<Dataset> build_dataset(const ConfigNode& node) { return dataset_registry().build(node); }

void CommonOptions::validate() const {
  CT_CHECK(!root.empty(), ConfigError, "root: the dataset directory is required");
  CT_CHECK(fs >= 0, ConfigError, "fs must be >= 0, got ", fs);
  CT_CHECK(limit >= 0, ConfigError, "limit must be >= 0, got ", limit);
  check_choice("on_error", on_error, {"raise", "skip"});
}

void count_labels(const Dataset& ds, DatasetInfo& info) {
  info.n_items = ds.size();
  info.label_counts.assign(info.class_names.size(), 0);
  info.n_unlabelled = 0;
  for (int64_t i = 0; i < ds.size(); ++i) {
    const ItemInfo& it = ds.item(i);
    if (it.classes.empty()) ++info.n_unlabelled;
    for (int64_t c : it.classes) {
      CT_INTERNAL_ASSERT(c >= 0 && c < static_cast<int64_t>(info.label_counts.size()), "class ", c);
      ++info.label_counts[static_cast<size_t>(c)];
    }
  }
}

std::string summarize(const Dataset& ds) {
  const DatasetInfo& in = ds.info();
  std::ostringstream os;
  os << "dataset " << in.name << ": " << ds.size() << " items from " << in.n_records << " records";
  if (in.n_skipped) os << " (" << in.n_skipped << " skipped)";
  os << "\n";
  os << "  fs: " << (in.fs > 0 ? str_cat(in.fs, " Hz") : std::string("varies")) << "\n";
  os << "  leads: " << (in.leads.empty() ? std::string("varies") : join(in.leads)) << "\n";
  os << "  labels: " << label_kind_name(in.label_kind) << ", " << in.class_names.size() << " classes\n";
  // Counts of the (possibly cached) info, or recount from items when the adapter left them empty.
  std::vector<int64_t> counts = in.label_counts;
  int64_t unlabelled = in.n_unlabelled;
  if (counts.size() != in.class_names.size()) {
    DatasetInfo tmp = in;
    count_labels(ds, tmp);
    counts = tmp.label_counts;
    unlabelled = tmp.n_unlabelled;
  }
  size_t width = 4;
  for (const auto& n : in.class_names) width = std::max(width, n.size());
  std::vector<size_t> order(in.class_names.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return counts[a] > counts[b]; });
  for (size_t c : order)
    os << "    " << std::left << std::setw(static_cast<int>(width)) << in.class_names[c] << "  " << counts[c] << "\n";
  if (in.label_kind == LabelKind::kMultiHot || unlabelled > 0)
    os << "    " << std::left << std::setw(static_cast<int>(width)) << "none"
       << "  " << unlabelled << "\n";
  return os.str();
}

Registry<DatasetDetector>& dataset_detector_registry() {
  static Registry<DatasetDetector> r("dataset_detector",
                                     "dataset layouts recognised in a directory (open_dataset, info DIR)");
  return r;
}

std::string detect_dataset(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return "";
  // Built once; registration is complete before main and the static's initialisation is thread-safe.
  static const std::vector<std::shared_ptr<DatasetDetector>> detectors = [] {
    std::vector<std::shared_ptr<DatasetDetector>> out;
    for (const auto& name : dataset_detector_registry().names())
      out.push_back(dataset_detector_registry().build(name, ConfigNode()));
    return out;
  }();
  for (const auto& d : detectors) {
    std::string name = d->detect(dir);
    if (!name.empty()) return name;
  }
  return "";
}

std::shared_ptr<Dataset> open_dataset(const std::string& dir) {
  const std::string name = detect_dataset(dir);
  CT_CHECK(!name.empty(), ConfigError, dir,
           ": no known dataset layout (detectors: ", join(dataset_detector_registry().names()),
           "); use a dataset config with name: folder and a manifest for other layouts");
  ConfigNode n = ConfigNode::map();
  n.set("name", ConfigNode::string(name));
  n.set("root", ConfigNode::string(dir));
  n.set("on_error", ConfigNode::string("skip"));
  return build_dataset(n);
}

// ---------------------------------------------------------------------------------------
InMemoryDataset::InMemoryDataset(DatasetInfo info, std::vector<Sample> samples, std::vector<ItemInfo> items)
    : info_(std::move(info)), samples_(std::move(samples)), items_(std::move(items)) {
  CT_CHECK(items_.empty() || items_.size() == samples_.size(), ArgumentError, "InMemoryDataset: ", samples_.size(),
           " samples but ", items_.size(), " item infos");
  if (items_.empty()) {
    items_.resize(samples_.size());
    for (size_t i = 0; i < samples_.size(); ++i) {
      const Sample& s = samples_[i];
      ItemInfo& it = items_[i];
      it.record_id = s.record_id.empty() ? std::to_string(i) : s.record_id;
      it.patient_id = s.patient_id;
      if (s.label.defined() && info_.label_kind == LabelKind::kClassIndex) {
        it.classes = {s.label.item<int64_t>()};
      } else if (s.label.defined() && info_.label_kind == LabelKind::kMultiHot) {
        at::Tensor nz = s.label.nonzero().reshape({-1}).to(at::kLong).contiguous();
        it.classes.assign(nz.data_ptr<int64_t>(), nz.data_ptr<int64_t>() + nz.numel());
      }
    }
  }
  info_.n_records = info_.n_records ? info_.n_records : static_cast<int64_t>(samples_.size());
  count_labels(*this, info_);
}

Sample InMemoryDataset::get(int64_t i) const {
  CT_CHECK(i >= 0 && i < size(), IndexError, info_.name, ": index ", i, " out of range [0, ", size(), ")");
  Sample s = samples_[static_cast<size_t>(i)];
  s.signal = s.signal.clone();  // callers may modify in place
  return s;
}

const ItemInfo& InMemoryDataset::item(int64_t i) const {
  CT_CHECK(i >= 0 && i < size(), IndexError, info_.name, ": index ", i, " out of range [0, ", size(), ")");
  return items_[static_cast<size_t>(i)];
}

SubsetDataset::SubsetDataset(DatasetPtr base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  CT_INTERNAL_ASSERT(base_ != nullptr);
  for (int64_t i : indices_)
    CT_CHECK(i >= 0 && i < base_->size(), IndexError, "subset of ", base_->info().name, ": index ", i,
             " out of range [0, ", base_->size(), ")");
  info_ = base_->info();
  count_labels(*this, info_);
}

Sample SubsetDataset::get(int64_t i) const {
  CT_CHECK(i >= 0 && i < size(), IndexError, "subset: index ", i, " out of range [0, ", size(), ")");
  return base_->get(indices_[static_cast<size_t>(i)]);
}

const ItemInfo& SubsetDataset::item(int64_t i) const {
  CT_CHECK(i >= 0 && i < size(), IndexError, "subset: index ", i, " out of range [0, ", size(), ")");
  return base_->item(indices_[static_cast<size_t>(i)]);
}

}  // namespace cardiotorch::data
