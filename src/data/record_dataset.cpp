#include "data/record_dataset.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <unordered_map>

#include "cardiotorch/core/log.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/wfdb.h"

namespace cardiotorch::data::detail {

void SkipLog::add(const std::string& reason) {
  ++count_;
  if (first_.size() < 3) first_.push_back(reason);
}

void SkipLog::report(const std::string& dataset) const {
  if (count_ == 0) return;
  CT_LOG_WARN(dataset, ": skipped ", count_, " record", count_ == 1 ? "" : "s",
              " (on_error: skip); first: ", join(first_, "; "));
}

io::Record read_wfdb_record(const std::string& record_path, int64_t from, int64_t to) {
  io::ReadOptions o;
  o.from = from;
  o.to = to;
  io::Record r = io::wfdb::read_record(record_path, o);
  CT_CHECK(r.signal.dim() == 2, DataError, record_path, ": expected a [leads, samples] signal");
  return r;
}

void select_leads(at::Tensor& signal, std::vector<std::string>& leads, const std::vector<std::string>& wanted,
                  const std::string& record) {
  if (wanted.empty()) return;
  std::vector<int64_t> idx;
  std::vector<std::string> names;
  for (const auto& w : wanted) {
    const std::string n = io::normalize_lead_name(w);
    int64_t found = -1;
    for (size_t k = 0; k < leads.size(); ++k)
      if (leads[k] == n) {
        found = static_cast<int64_t>(k);
        break;
      }
    CT_CHECK(found >= 0, DataError, record, ": no lead '", n, "' (leads: ", join(leads), ")");
    idx.push_back(found);
    names.push_back(n);
  }
  signal = signal.index_select(0, at::tensor(idx, at::kLong)).contiguous();
  leads = std::move(names);
}

RecordDataset::RecordDataset(const CommonOptions& common, std::string name, ConfigNode config) : common_(common) {
  info_.name = std::move(name);
  config.set("name", ConfigNode::string(info_.name));
  info_.config = config.to_yaml();
  if (!common_.leads.empty())
    for (const auto& l : common_.leads) info_.leads.push_back(io::normalize_lead_name(l));
}

const ItemInfo& RecordDataset::item(int64_t i) const {
  CT_CHECK(i >= 0 && i < size(), IndexError, info_.name, ": index ", i, " out of range [0, ", size(), ")");
  return entries_[static_cast<size_t>(i)].info;
}

Sample RecordDataset::get(int64_t i) const {
  (void)item(i);  // bounds check
  const Entry& e = entries_[static_cast<size_t>(i)];
  try {
    return load(e);
  } catch (const DataError& err) {
    const std::string m = err.what();
    if (m.find(e.info.record_id) != std::string::npos) throw;
    throw DataError(str_cat(info_.name, ": record ", e.info.record_id, ": ", m));
  }
}

Sample RecordDataset::load(const Entry& e) const {
  io::Record r = read_wfdb_record(e.record_path, e.info.from, e.info.to);
  Sample s;
  s.signal = e.scale == 1.0 ? r.signal : r.signal * e.scale;
  s.fs = r.fs;
  s.leads = r.leads;
  CT_CHECK(common_.fs <= 0 || std::abs(r.fs - common_.fs) < 1e-6, DataError, e.record_path, ": sampling rate ", r.fs,
           " Hz, but the dataset was configured with fs: ", common_.fs, " (resample with a pipeline step instead)");
  select_leads(s.signal, s.leads, common_.leads, e.record_path);
  s.label = e.label;
  s.record_id = e.info.record_id;
  s.patient_id = e.info.patient_id;
  s.text = e.text;
  s.meta = e.meta;
  return s;
}

bool RecordDataset::guarded(const std::string& what, const std::function<void()>& fn) {
  try {
    fn();
    return true;
  } catch (const DataError& e) {
    if (common_.on_error == "raise") throw;
    const std::string m = e.what();
    skips_.add(starts_with(m, what) ? m : str_cat(what, ": ", m));
    return false;
  }
}

void RecordDataset::finish() {
  // Every source file must exist now, not at the first get() hours into training.
  {
    std::unordered_map<std::string, bool> exists;
    std::vector<Entry> kept;
    kept.reserve(entries_.size());
    std::string last_bad;
    for (auto& e : entries_) {
      std::string missing;
      for (const auto& f : e.info.sources) {
        auto it = exists.find(f);
        if (it == exists.end()) it = exists.emplace(f, std::filesystem::is_regular_file(f)).first;
        if (!it->second) {
          missing = f;
          break;
        }
      }
      if (missing.empty()) {
        kept.push_back(std::move(e));
        continue;
      }
      const std::string why = str_cat(missing, ": missing (needed by record ", e.info.record_id, ")");
      if (common_.on_error == "raise") throw DataError(why);
      if (e.record_path != last_bad) skips_.add(why);  // one skip per record, not per beat
      last_bad = e.record_path;
    }
    entries_ = std::move(kept);
  }
  if (common_.limit > 0 && static_cast<int64_t>(entries_.size()) > common_.limit) {
    // Keep whole records: items of the first `limit` distinct records.
    std::vector<Entry> kept;
    std::vector<std::string> records;
    for (auto& e : entries_) {
      if (records.empty() || records.back() != e.record_path) {
        if (static_cast<int64_t>(records.size()) == common_.limit) break;
        records.push_back(e.record_path);
      }
      kept.push_back(std::move(e));
    }
    entries_ = std::move(kept);
  }
  std::vector<std::string> records;
  for (const auto& e : entries_)
    if (records.empty() || records.back() != e.record_path) records.push_back(e.record_path);
  info_.n_records = static_cast<int64_t>(records.size());
  info_.n_skipped = skips_.count();
  skips_.report(info_.name);
  count_labels(*this, info_);
}

}  // namespace cardiotorch::data::detail
