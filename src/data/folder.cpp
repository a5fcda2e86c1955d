// Generic layouts: a manifest CSV (path,label[,patient_id]) or one folder per class.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "cardiotorch/data/adapters.h"
#include "cardiotorch/data/csv.h"
#include "cardiotorch/io/reader.h"
#include "data/record_dataset.h"

namespace cardiotorch::data {

namespace fs = std::filesystem;

namespace {

class FolderDataset : public detail::RecordDataset {
 public:
  explicit FolderDataset(const FolderOptions& o) : RecordDataset(o, "folder", to_config(o)) {
    info_.label_kind = LabelKind::kClassIndex;
    const fs::path root(o.root);
    CT_CHECK(fs::is_directory(root), DataError, o.root, ": not a directory");
    struct Row {
      std::string path, label, patient, where;
    };
    std::vector<Row> rows;
    if (!o.manifest.empty()) {
      const CsvTable t = read_csv((root / o.manifest).string());
      const size_t c_path = t.require_column("path"), c_label = t.require_column("label");
      const int c_pat = t.column("patient_id");
      for (size_t r = 0; r < t.n_rows(); ++r)
        rows.push_back({trim(t.rows[r][c_path]), trim(t.rows[r][c_label]),
                        c_pat >= 0 ? trim(t.rows[r][static_cast<size_t>(c_pat)]) : std::string(), t.where(r)});
    } else {
      std::vector<fs::path> dirs;
      for (const auto& e : fs::directory_iterator(root))
        if (e.is_directory()) dirs.push_back(e.path());
      std::sort(dirs.begin(), dirs.end());
      for (const auto& d : dirs)
        for (const auto& rec : io::find_records(d.string()))
          rows.push_back({fs::relative(rec, root).string(), d.filename().string(), "", rec});
    }
    std::vector<std::string> classes = o.classes;
    if (classes.empty()) {
      std::set<std::string> s;
      for (const auto& r : rows) s.insert(r.label);
      classes.assign(s.begin(), s.end());
    }
    info_.class_names = classes;
    std::set<double> rates;
    std::set<std::vector<std::string>> lead_sets;
    for (const auto& r : rows) {
      guarded(r.where, [&] {
        const auto it = std::find(classes.begin(), classes.end(), r.label);
        CT_CHECK(it != classes.end(), DataError, r.where, ": label '", r.label, "' is not one of ", join(classes));
        CT_CHECK(!r.path.empty(), DataError, r.where, ": empty path");
        detail::Entry e;
        e.record_path = (root / r.path).string();
        const std::string stem0 = fs::path(e.record_path).replace_extension().string();
        CT_CHECK(fs::is_regular_file(e.record_path) || fs::is_regular_file(e.record_path + ".hea") ||
                     fs::is_regular_file(stem0 + ".hea"),
                 DataError, r.where, ": ", e.record_path, " does not exist");
        const std::string fmt = io::record_format(e.record_path);
        CT_CHECK(!fmt.empty(), DataError, e.record_path, ": not a readable record (missing or unknown format)");
        std::string id = r.path;
        for (const char* ext : {".hea", ".mat", ".edf", ".bdf", ".npy", ".npz", ".dat"})
          if (ends_with(id, ext)) id.resize(id.size() - std::string(ext).size());
        e.info.record_id = id;
        e.info.patient_id = r.patient;
        e.info.classes = {static_cast<int64_t>(it - classes.begin())};
        // Source files: the path itself, or the record's files when it names a WFDB record.
        const std::string stem = fs::path(e.record_path).replace_extension().string();
        for (const char* ext : {"", ".hea", ".dat", ".mat", ".edf", ".bdf", ".npy", ".npz"}) {
          const std::string f = (fmt == "wfdb" ? stem : e.record_path) + ext;
          if (fs::is_regular_file(f) &&
              std::find(e.info.sources.begin(), e.info.sources.end(), f) == e.info.sources.end())
            e.info.sources.push_back(f);
          if (fmt != "wfdb") break;
        }
        e.label = at::scalar_tensor(e.info.classes[0], at::kLong);
        entries_.push_back(std::move(e));
      });
    }
    finish();
  }

 protected:
  Sample load(const detail::Entry& e) const override {
    io::ReadOptions ro;
    ro.fs = common_.fs;
    io::Record r = io::read_record(e.record_path, ro);
    CT_CHECK(common_.fs <= 0 || r.fs <= 0 || std::abs(r.fs - common_.fs) < 1e-6, DataError, e.record_path,
             ": sampling rate ", r.fs, " Hz, but the dataset was configured with fs: ", common_.fs);
    Sample s;
    s.signal = r.signal;
    s.fs = r.fs;
    s.leads = r.leads;
    detail::select_leads(s.signal, s.leads, common_.leads, e.record_path);
    s.label = e.label;
    s.record_id = e.info.record_id;
    s.patient_id = e.info.patient_id;
    s.meta = r.meta;
    return s;
  }
};

}  // namespace

std::shared_ptr<Dataset> make_folder(const FolderOptions& o) { return std::make_shared<FolderDataset>(o); }

}  // namespace cardiotorch::data

CT_REGISTER(cardiotorch::data::dataset_registry(), "folder",
            (cardiotorch::options_factory<cardiotorch::data::Dataset, cardiotorch::data::FolderOptions>(
                cardiotorch::data::make_folder)),
            "generic: manifest CSV (path,label[,patient_id]) or one sub-folder per class")
