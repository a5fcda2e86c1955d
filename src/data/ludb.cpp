// LUDB: 12-lead 10 s records with per-lead P/QRS/T delineation -> per-sample masks.
#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cardiotorch/data/adapters.h"
#include "cardiotorch/io/annotation.h"
#include "cardiotorch/io/wfdb.h"
#include "data/record_dataset.h"

namespace cardiotorch::data {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kLeadExt = {"i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"};

struct Wave {
  int cls;                // 0 P, 1 QRS, 2 T
  int64_t onset, offset;  // inclusive
};

// '(' onset, a peak symbol, ')' offset. A few real peaks lack a bracket (LUDB lead II: four
// QRS of record 95 have no onset, one of 111 has neither); their mask starts/ends at the peak,
// so the wave is kept and still counted.
std::vector<Wave> parse_waves(const io::AnnotationSet& set) {
  std::vector<Wave> out;
  const auto& a = set.annotations;
  for (size_t k = 0; k < a.size(); ++k) {
    const std::string& s = a[k].symbol;
    const int cls = s == "p" ? 0 : s == "N" ? 1 : s == "t" ? 2 : -1;
    if (cls < 0) continue;
    const int64_t on = k > 0 && a[k - 1].symbol == "(" ? a[k - 1].sample : a[k].sample;
    const int64_t off = k + 1 < a.size() && a[k + 1].symbol == ")" ? a[k + 1].sample : a[k].sample;
    CT_CHECK(on <= a[k].sample && a[k].sample <= off, DataError, set.origin, ": wave '", s, "' at sample ", a[k].sample,
             " has onset ", on, " / offset ", off, " on the wrong side of its peak");
    out.push_back({cls, on, off});
  }
  return out;
}

class LudbDataset : public detail::RecordDataset {
 public:
  explicit LudbDataset(const LudbOptions& o)
      : RecordDataset(o, "ludb", to_config(o)), ignore_unannotated_(o.unannotated == "ignore") {
    info_.class_names = {"P", "QRS", "T"};
    info_.label_kind = LabelKind::kMask;
    info_.fs = 500;
    const fs::path root(o.root);
    std::vector<std::string> records;
    const fs::path list = root / "RECORDS";
    if (fs::exists(list)) {
      std::ifstream f(list);
      std::string line;
      while (std::getline(f, line))
        if (!trim(line).empty()) records.push_back(trim(line));
    } else {
      const fs::path dir = fs::exists(root / "data") ? root / "data" : root;
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".hea")
          records.push_back(fs::relative(e.path(), root).replace_extension().string());
      std::sort(records.begin(), records.end());
    }
    const std::vector<std::string> exts = o.mask_lead == "all" ? kLeadExt : std::vector<std::string>{o.mask_lead};
    for (const auto& rel : records) {
      if (o.limit > 0 && static_cast<int64_t>(entries_.size()) >= o.limit) break;
      const std::string path = (root / rel).string();
      guarded(path, [&] {
        const io::wfdb::Header h = io::wfdb::read_header(path);
        detail::Entry e;
        e.record_path = path;
        e.info.record_id = fs::path(rel).filename().string();
        e.info.sources = {path + ".hea"};
        for (const auto& s : h.signals) {
          const std::string f = (fs::path(path).parent_path() / s.file_name).string();
          if (std::find(e.info.sources.begin(), e.info.sources.end(), f) == e.info.sources.end())
            e.info.sources.push_back(f);
        }
        std::vector<Wave> waves;
        for (const auto& x : exts) {
          io::AnnotationSet set = io::read_annotations(path, x);
          io::to_sample_rate(set, h.fs);
          const auto w = parse_waves(set);
          waves.insert(waves.end(), w.begin(), w.end());
          e.info.sources.push_back(path + "." + x);
        }
        std::vector<std::string> diag;
        for (const auto& c : h.comments) {
          const std::string t = trim(c);
          if (starts_with(t, "<age>:")) {
            e.meta["age"] = trim(t.substr(6));
          } else if (starts_with(t, "<sex>:")) {
            e.meta["sex"] = trim(t.substr(6));
          } else if (!t.empty() && !starts_with(t, "<diagnoses>")) {
            diag.push_back(t);
          }
        }
        e.text = join(diag, " ");
        e.meta["n_samples"] = std::to_string(h.n_samples);
        bool present[3] = {false, false, false};
        for (const auto& w : waves) {
          present[w.cls] = true;
          e.regions.push_back({w.cls, w.onset, w.offset});
        }
        for (int c = 0; c < 3; ++c)
          if (present[c]) e.info.classes.push_back(c);
        entries_.push_back(std::move(e));
      });
    }
    finish();
    // Waves, not records (see adapters.h); counted after finish() dropped any skipped record.
    std::vector<int64_t> counts(3, 0);
    for (const auto& e : entries_)
      for (const auto& r : e.regions) ++counts[static_cast<size_t>(r[0])];
    info_.label_counts = counts;
  }

 protected:
  Sample load(const detail::Entry& e) const override {
    io::Record r = detail::read_wfdb_record(e.record_path);
    Sample s;
    s.signal = r.signal;
    s.fs = r.fs;
    s.leads = r.leads;
    detail::select_leads(s.signal, s.leads, common_.leads, e.record_path);
    const int64_t n = s.signal.size(1);
    s.label = at::zeros({3, n}, at::kFloat);
    float* m = s.label.data_ptr<float>();
    int64_t first = n, last = -1;  // the annotated span: first onset .. last offset, any wave
    for (const auto& [cls, onset, offset] : e.regions) {
      const int64_t a = std::max<int64_t>(0, onset), b = std::min<int64_t>(n - 1, offset);
      for (int64_t k = a; k <= b; ++k) m[cls * n + k] = 1.0f;
      first = std::min(first, a);
      last = std::max(last, b);
    }
    if (ignore_unannotated_)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t k = 0; k < n; ++k)
          if (k < first || k > last) m[c * n + k] = -1.0f;
    s.record_id = e.info.record_id;
    s.text = e.text;
    s.meta = e.meta;
    s.meta.erase("n_samples");
    return s;
  }

 private:
  bool ignore_unannotated_;
};

}  // namespace

void LudbOptions::validate() const {
  CommonOptions::validate();
  std::vector<std::string> allowed{"all"};
  allowed.insert(allowed.end(), kLeadExt.begin(), kLeadExt.end());
  check_choice("mask_lead", mask_lead, allowed);
  check_choice("unannotated", unannotated, {"ignore", "background"});
}

std::shared_ptr<Dataset> make_ludb(const LudbOptions& o) { return std::make_shared<LudbDataset>(o); }

namespace {
struct LudbDetector : DatasetDetector {
  std::string detect(const std::string& dir) const override {
    const fs::path d(dir);
    return fs::exists(d / "ludb.csv") || fs::exists(d / "data" / "1.ii") ? "ludb" : "";
  }
};
}  // namespace

CT_REGISTER(dataset_detector_registry(), "ludb", make_detector<LudbDetector>, "ludb.csv or data/1.ii")

}  // namespace cardiotorch::data

CT_REGISTER(cardiotorch::data::dataset_registry(), "ludb",
            (cardiotorch::options_factory<cardiotorch::data::Dataset, cardiotorch::data::LudbOptions>(
                cardiotorch::data::make_ludb)),
            "LUDB 12-lead delineation (per-sample P/QRS/T masks, diagnosis text)")
