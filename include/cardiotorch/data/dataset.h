#pragma once
// Datasets: an indexable collection of labelled ECG samples, plus the registry of adapters.
//
// A Dataset is built once (indexing: reading label tables and headers, never signals) and
// decodes one Sample per get(i). Every adapter also exposes per-item metadata without
// decoding (item(i)): patient, label classes, named fold and the source files. Splits use
// it (patient-level, stratified) and the cache hashes its source files.
//
// Label conventions (DatasetInfo::label_kind says which one a dataset uses):
//   kMultiHot    float32 [n_classes], 1 for each positive class (cinc2020/2021, ptbxl).
//                An all-zero vector means "no class of this label set" (counted as n_unlabelled).
//   kClassIndex  int64 scalar (0-dim) in [0, n_classes) (cinc2017, mitdb beats, folder).
//   kMask        float32 [n_classes, samples] per-sample masks aligned with the signal (ludb): 1 inside
//                a wave, 0 outside, -1 where the record is not annotated (not trained on or scored).
//
// Adapters are registered by name and built from YAML:
//   dataset: {name: ptbxl, root: /data/ptbxl, fs: 500, labels: superclass, on_error: skip}
// Unknown keys are ConfigErrors. on_error: raise stops at the first bad record (DataError
// naming the file); skip drops it, logs a warning with the count and the first reasons, and
// reports the count in DatasetInfo::n_skipped.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/registry.h"

namespace cardiotorch::data {

enum class LabelKind { kNone, kMultiHot, kClassIndex, kMask };
const char* label_kind_name(LabelKind k);

struct Sample {
  at::Tensor signal;                        ///< float32 [leads, samples], physical units (mV)
  double fs = 0.0;                          ///< Hz
  std::vector<std::string> leads;           ///< lead names, size == signal.size(0)
  at::Tensor label;                         ///< see LabelKind above; undefined for kNone
  std::string record_id;                    ///< unique within the dataset ("100:1234" for a beat window)
  std::string patient_id;                   ///< "" when unknown (then the record is its own patient)
  std::string text;                         ///< free-text report / diagnosis, "" when none
  std::map<std::string, std::string> meta;  ///< age, sex, fold, ... (adapter specific)
};

/// Metadata of one item, available without decoding its signal.
struct ItemInfo {
  std::string record_id;
  std::string patient_id;
  std::vector<int64_t> classes;      ///< positive class indices (one for kClassIndex, any for kMultiHot)
  std::string fold;                  ///< named fold ("3" for PTB-XL strat_fold, "DS1"/"DS2" for mitdb), "" if none
  std::vector<std::string> sources;  ///< files the sample is decoded from (cache key)
  int64_t from = 0;                  ///< sample window in the source record [from, to); to = -1: to the end
  int64_t to = -1;
  /// The patient used for grouping: patient_id, or the record id when the patient is unknown.
  const std::string& group() const { return patient_id.empty() ? record_id : patient_id; }
};

struct DatasetInfo {
  std::string name;                      ///< adapter name ("ptbxl")
  std::vector<std::string> class_names;  ///< label set, index order
  std::vector<std::string> class_codes;  ///< source codes per class when they differ from the names
                                         ///< (cinc: SNOMED codes, '|' between equivalent codes)
  LabelKind label_kind = LabelKind::kNone;
  double fs = 0.0;                    ///< common sampling rate, 0 when records differ
  std::vector<std::string> leads;     ///< common lead order, empty when records differ
  int64_t n_records = 0;              ///< source records indexed (mitdb: records, not beats)
  int64_t n_items = 0;                ///< == size()
  std::vector<int64_t> label_counts;  ///< per class: items with that class positive (kMask: the
                                      ///< adapter's delineated regions, e.g. LUDB waves; a
                                      ///< SubsetDataset recounts records with the class)
  int64_t n_unlabelled = 0;           ///< items with no positive class
  int64_t n_skipped = 0;              ///< records dropped by on_error: skip
  std::string config;                 ///< the options as YAML (part of the cache key)
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  /// Decodes item i (0 <= i < size()). Errors are DataErrors naming the record and file.
  virtual Sample get(int64_t i) const = 0;
  virtual const DatasetInfo& info() const = 0;
  virtual const ItemInfo& item(int64_t i) const = 0;
};

using DatasetPtr = std::shared_ptr<const Dataset>;

Registry<Dataset>& dataset_registry();
/// Builds the dataset named by node["name"].
std::shared_ptr<Dataset> build_dataset(const ConfigNode& node);

/// Options every adapter accepts (adapter option structs include these fields).
struct CommonOptions {
  std::string root;                ///< dataset directory
  double fs = 0.0;                 ///< ptbxl: 100 or 500 selects the record set; others: 0 or the native rate
  std::vector<std::string> leads;  ///< output lead order by name (normalised); empty = as stored
  std::string on_error = "raise";  ///< raise | skip (records that fail to index)
  int64_t limit = 0;               ///< keep only the first N records (0 = all), for quick runs

  template <class V>
  void fields(V& v) {
    v("root", root, "dataset directory");
    v("fs", fs, "sampling rate selection in Hz (0 = native; ptbxl: 100 or 500)");
    v("leads", leads, "output lead order by name, e.g. [I, II, V1]; empty = as stored");
    v("on_error", on_error, "raise | skip: what to do with records that cannot be indexed");
    v("limit", limit, "keep only the first N records (0 = all)");
  }
  void validate() const;
};

/// Counts items per class (and unlabelled items) from item metadata; fills info.label_counts,
/// info.n_unlabelled and info.n_items.
void count_labels(const Dataset& ds, DatasetInfo& info);

/// Human-readable summary: name, sizes, fs, leads and one line per class with its count.
std::string summarize(const Dataset& ds);

/// Recognises a dataset layout in a directory, for open_dataset and `cardiotorch info DIR`. Each
/// adapter registers one next to its dataset registration, from its own source file:
///   CT_REGISTER(dataset_detector_registry(), "ptbxl", make_detector<PtbxlDetector>,
///               "ptbxl_database.csv and scp_statements.csv");
class DatasetDetector {
 public:
  virtual ~DatasetDetector() = default;
  /// The dataset_registry() name whose layout `dir` (an existing directory) has, or "".
  virtual std::string detect(const std::string& dir) const = 0;
};

Registry<DatasetDetector>& dataset_detector_registry();

/// Factory for detectors (they take no options).
template <class Detector>
std::shared_ptr<DatasetDetector> make_detector(const ConfigNode& /*options*/) {
  return std::make_shared<Detector>();
}

/// The adapter whose layout `dir` has, asking the registered detectors in name order (the first
/// answer wins): ptbxl_database.csv -> ptbxl, REFERENCE.csv with .hea/.mat -> cinc2017,
/// ludb.csv or data/*.ii -> ludb, .atr annotations at 360 Hz -> mitdb, weights.csv with headers
/// -> cinc2021 (dx_mapping_scored.csv with a "Ningbo" column) or cinc2020; "" when none matches.
std::string detect_dataset(const std::string& dir);
/// Builds the detected adapter with default options (on_error: skip) for `dir`;
/// ConfigError naming the directory when no layout matches.
std::shared_ptr<Dataset> open_dataset(const std::string& dir);

/// A dataset held in memory (tests, small synthetic sets, user-built collections).
class InMemoryDataset : public Dataset {
 public:
  InMemoryDataset(DatasetInfo info, std::vector<Sample> samples, std::vector<ItemInfo> items);
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  Sample get(int64_t i) const override;
  const DatasetInfo& info() const override { return info_; }
  const ItemInfo& item(int64_t i) const override;

 private:
  DatasetInfo info_;
  std::vector<Sample> samples_;
  std::vector<ItemInfo> items_;
};

/// A view of some items of another dataset (the result of a split), in the given order.
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(DatasetPtr base, std::vector<int64_t> indices);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Sample get(int64_t i) const override;
  const DatasetInfo& info() const override { return info_; }
  const ItemInfo& item(int64_t i) const override;
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  DatasetPtr base_;
  std::vector<int64_t> indices_;
  DatasetInfo info_;
};

}  // namespace cardiotorch::data
