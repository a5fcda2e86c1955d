// PTB-XL: ptbxl_database.csv (one row per ECG) + scp_statements.csv (statement -> class sets).
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "cardiotorch/data/adapters.h"
#include "cardiotorch/data/csv.h"
#include "data/record_dataset.h"

namespace cardiotorch::data {

namespace fs = std::filesystem;

namespace {

bool flag(const std::string& v) {
  const std::string t = trim(v);
  return !t.empty() && t != "0" && t != "0.0" && to_lower(t) != "false" && to_lower(t) != "nan";
}

// "15709.0" -> "15709" (pandas wrote the ids as floats).
std::string integral_id(const std::string& v) {
  std::string t = trim(v);
  if (ends_with(t, ".0")) t.resize(t.size() - 2);
  return t;
}

class PtbxlDataset : public detail::RecordDataset {
 public:
  explicit PtbxlDataset(const PtbxlOptions& o) : RecordDataset(o, "ptbxl", to_config(o)) {
    info_.label_kind = LabelKind::kMultiHot;
    const fs::path root(o.root);
    const double rate = o.fs > 0 ? o.fs : 100.0;
    info_.fs = rate;
    const CsvTable scp = read_csv((root / "scp_statements.csv").string());
    CT_CHECK(!scp.header.empty(), DataError, scp.source, ": no header");
    const size_t code_col = 0;  // the statement code column has an empty name
    const size_t diag = scp.require_column("diagnostic"), form = scp.require_column("form"),
                 rhythm = scp.require_column("rhythm"), dclass = scp.require_column("diagnostic_class"),
                 dsub = scp.require_column("diagnostic_subclass");
    // statement code -> the classes it contributes to under the chosen label set
    std::map<std::string, std::vector<std::string>> maps;
    std::set<std::string> names;
    for (const auto& row : scp.rows) {
      const std::string code = trim(row[code_col]);
      std::string cls;
      if (o.labels == "superclass") {
        if (flag(row[diag])) cls = trim(row[dclass]);
      } else if (o.labels == "subclass") {
        if (flag(row[diag])) cls = trim(row[dsub]);
      } else if (o.labels == "diagnostic") {
        if (flag(row[diag])) cls = code;
      } else if (o.labels == "form") {
        if (flag(row[form])) cls = code;
      } else if (o.labels == "rhythm") {
        if (flag(row[rhythm])) cls = code;
      } else {
        cls = code;
      }
      if (cls.empty()) continue;
      maps[code].push_back(cls);
      names.insert(cls);
    }
    info_.class_names.assign(names.begin(), names.end());
    std::map<std::string, int64_t> index;
    for (size_t c = 0; c < info_.class_names.size(); ++c) index[info_.class_names[c]] = static_cast<int64_t>(c);
    if (info_.leads.empty()) info_.leads = {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};

    const CsvTable db = read_csv((root / "ptbxl_database.csv").string());
    const std::string file_col = rate == 500.0 ? "filename_hr" : "filename_lr";
    const size_t c_id = db.require_column("ecg_id"), c_pat = db.require_column("patient_id"),
                 c_codes = db.require_column("scp_codes"), c_fold = db.require_column("strat_fold"),
                 c_file = db.require_column(file_col), c_report = db.require_column("report");
    const std::vector<std::string> meta_cols = {
        "age", "sex", "height", "weight", "device", "recording_date", "heart_axis", "scp_codes"};
    for (size_t r = 0; r < db.n_rows(); ++r) {
      const auto& row = db.rows[r];
      guarded(db.where(r), [&] {
        detail::Entry e;
        e.info.record_id = integral_id(row[c_id]);
        e.info.patient_id = integral_id(row[c_pat]);
        e.info.fold = integral_id(row[c_fold]);
        e.record_path = (root / trim(row[c_file])).string();
        CT_CHECK(!trim(row[c_file]).empty(), DataError, db.where(r), ": empty ", file_col);
        CT_CHECK(fs::exists(e.record_path + ".hea"), DataError, e.record_path, ".hea: missing (ecg_id ",
                 e.info.record_id, ", ", rate, " Hz)");
        e.info.sources = {e.record_path + ".hea", e.record_path + ".dat"};
        std::set<int64_t> cls;
        for (const auto& [code, likelihood] : parse_python_dict(row[c_codes], db.where(r) + ": scp_codes")) {
          if (likelihood < o.min_likelihood) continue;
          auto it = maps.find(code);
          if (it == maps.end()) continue;
          for (const auto& c : it->second) cls.insert(index.at(c));
        }
        e.info.classes.assign(cls.begin(), cls.end());
        e.label = at::zeros({static_cast<int64_t>(info_.class_names.size())}, at::kFloat);
        for (int64_t c : cls) e.label[c] = 1.0f;
        e.text = row[c_report];
        for (const auto& m : meta_cols) {
          const int c = db.column(m);
          if (c >= 0 && !trim(row[static_cast<size_t>(c)]).empty()) e.meta[m] = trim(row[static_cast<size_t>(c)]);
        }
        e.meta["strat_fold"] = e.info.fold;
        entries_.push_back(std::move(e));
      });
    }
    finish();
  }
};

}  // namespace

void PtbxlOptions::validate() const {
  CommonOptions::validate();
  CT_CHECK(fs == 0 || fs == 100 || fs == 500, ConfigError, "fs must be 100 or 500 for ptbxl (0 = 100), got ", fs);
  const std::vector<std::string> sets = {"superclass", "subclass", "diagnostic", "form", "rhythm", "all"};
  check_choice("labels", labels, sets);
  CT_CHECK(min_likelihood >= 0 && min_likelihood <= 100, ConfigError, "min_likelihood must be in [0, 100], got ",
           min_likelihood);
}

std::shared_ptr<Dataset> make_ptbxl(const PtbxlOptions& o) { return std::make_shared<PtbxlDataset>(o); }

namespace {
struct PtbxlDetector : DatasetDetector {
  std::string detect(const std::string& dir) const override {
    const fs::path d(dir);
    return fs::exists(d / "ptbxl_database.csv") && fs::exists(d / "scp_statements.csv") ? "ptbxl" : "";
  }
};
}  // namespace

CT_REGISTER(dataset_detector_registry(), "ptbxl", make_detector<PtbxlDetector>,
            "ptbxl_database.csv and scp_statements.csv")

}  // namespace cardiotorch::data

CT_REGISTER(cardiotorch::data::dataset_registry(), "ptbxl",
            (cardiotorch::options_factory<cardiotorch::data::Dataset, cardiotorch::data::PtbxlOptions>(
                cardiotorch::data::make_ptbxl)),
            "PTB-XL 12-lead (SCP super/subclass/form/rhythm labels, strat_fold, report text; 100 or 500 Hz)")
