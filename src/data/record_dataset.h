#pragma once
// Internal base of the adapters: a list of entries indexed at construction, decoded on get().
#include <ATen/core/Tensor.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "cardiotorch/data/dataset.h"
#include "cardiotorch/io/record.h"

namespace cardiotorch::data::detail {

/// Collects the records dropped by on_error: skip and reports them once (never silently).
class SkipLog {
 public:
  void add(const std::string& reason);
  int64_t count() const { return count_; }
  /// CT_LOG_WARN "<dataset>: skipped N records (first: a; b; c)" when N > 0.
  void report(const std::string& dataset) const;

 private:
  int64_t count_ = 0;
  std::vector<std::string> first_;
};

struct Entry {
  ItemInfo info;
  std::string record_path;  ///< WFDB record path (no extension)
  at::Tensor label;         ///< precomputed label (multi-hot or class index); undefined when built in load
  std::string text;
  std::map<std::string, std::string> meta;
  double scale = 1.0;  ///< applied to the physical signal (known header gain errors)
  /// Annotated regions {class, first sample, last sample} (inclusive), for mask labels.
  std::vector<std::array<int64_t, 3>> regions;
};

/// Reads a WFDB record [from, to) as float32 physical values; lead names normalised.
io::Record read_wfdb_record(const std::string& record_path, int64_t from = 0, int64_t to = -1);

/// Reorders/selects leads by name; DataError naming the record when a lead is missing.
void select_leads(at::Tensor& signal, std::vector<std::string>& leads, const std::vector<std::string>& wanted,
                  const std::string& record);

class RecordDataset : public Dataset {
 public:
  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  Sample get(int64_t i) const override;
  const DatasetInfo& info() const override { return info_; }
  const ItemInfo& item(int64_t i) const override;

 protected:
  RecordDataset(const CommonOptions& common, std::string name, ConfigNode config);
  /// Decodes an entry (default: the whole WFDB record, window [from, to), label = entry.label).
  virtual Sample load(const Entry& e) const;
  /// Runs `fn`; DataErrors are rethrown (on_error: raise) or logged and counted (skip).
  /// Returns false when the record was skipped.
  bool guarded(const std::string& what, const std::function<void()>& fn);
  /// Applies limit, counts labels, logs skips; call at the end of the adapter's constructor.
  void finish();

  CommonOptions common_;
  DatasetInfo info_;
  std::vector<Entry> entries_;
  SkipLog skips_;
};

}  // namespace cardiotorch::data::detail
