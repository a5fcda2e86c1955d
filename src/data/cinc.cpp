// PhysioNet/CinC challenge layouts: 2017 (single-lead AF) and 2020/2021 (12-lead SNOMED).
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "cardiotorch/data/adapters.h"
#include "cardiotorch/data/csv.h"
#include "cardiotorch/io/wfdb.h"
#include "data/record_dataset.h"

namespace cardiotorch::data {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------
class Cinc2017Dataset : public detail::RecordDataset {
 public:
  explicit Cinc2017Dataset(const Cinc2017Options& o) : RecordDataset(o, "cinc2017", to_config(o)) {
    info_.class_names = {"N", "A", "O", "~"};
    info_.label_kind = LabelKind::kClassIndex;
    info_.fs = 300;
    if (info_.leads.empty()) info_.leads = {"ECG"};
    CsvOptions co;
    co.header = false;
    const std::string ref = (fs::path(o.root) / o.reference).string();
    const CsvTable t = read_csv(ref, co);
    for (size_t r = 0; r < t.n_rows(); ++r) {
      const auto& row = t.rows[r];
      guarded(t.where(r), [&] {
        CT_CHECK(row.size() == 2, DataError, t.where(r), ": expected 'record,label', got ", row.size(), " fields");
        const std::string name = trim(row[0]), label = trim(row[1]);
        const auto it = std::find(info_.class_names.begin(), info_.class_names.end(), label);
        CT_CHECK(it != info_.class_names.end(), DataError, t.where(r), ": unknown label '", label,
                 "' (expected N, A, O or ~)");
        detail::Entry e;
        e.record_path = (fs::path(o.root) / name).string();
        CT_CHECK(fs::exists(e.record_path + ".hea"), DataError, e.record_path, ".hea: missing (listed in ", ref, ")");
        e.info.record_id = name;
        e.info.classes = {static_cast<int64_t>(it - info_.class_names.begin())};
        e.info.sources = {e.record_path + ".hea", e.record_path + ".mat"};
        e.label = at::scalar_tensor(e.info.classes[0], at::kLong);
        entries_.push_back(std::move(e));
      });
    }
    finish();
  }
};

// ---------------------------------------------------------------------------------------
// "Key: value" comments of a challenge header.
std::map<std::string, std::string> header_fields(const std::vector<std::string>& comments) {
  std::map<std::string, std::string> out;
  for (const auto& c : comments) {
    const auto colon = c.find(':');
    if (colon == std::string::npos) continue;
    out[to_lower(trim(c.substr(0, colon)))] = trim(c.substr(colon + 1));
  }
  return out;
}

std::string snomed_column(const CsvTable& t) {
  for (const char* n : {"SNOMEDCTCode", "SNOMED CT Code", "SNOMED_CT_Code"})
    if (t.column(n) >= 0) return n;
  return "SNOMEDCTCode";  // require_column reports it
}

class CincDataset : public detail::RecordDataset {
 public:
  CincDataset(const CincOptions& o, const std::string& name) : RecordDataset(o, name, to_config(o)) {
    info_.label_kind = LabelKind::kMultiHot;
    const fs::path root(o.root);
    CT_CHECK(fs::is_directory(root), DataError, o.root, ": not a directory");

    // Abbreviations for class names, from the scored and unscored mapping tables when present.
    std::map<std::string, std::string> abbrev;
    for (const char* f : {"dx_mapping_scored.csv", "dx_mapping_unscored.csv"}) {
      const fs::path p = root / f;
      if (!fs::exists(p)) continue;
      const CsvTable t = read_csv(p.string());
      const size_t code = t.require_column(snomed_column(t)), ab = t.require_column("Abbreviation");
      for (const auto& row : t.rows) abbrev[trim(row[code])] = trim(row[ab]);
    }

    // Class groups: each group is a set of codes that count as one class.
    std::vector<std::vector<std::string>> groups;
    if (o.classes == "scored") {
      const fs::path w = root / "weights.csv";
      CT_CHECK(fs::exists(w), DataError, w.string(),
               ": missing (classes: scored needs the challenge's weights.csv; use classes: all otherwise)");
      CsvOptions co;
      co.header = false;
      co.allow_ragged = true;
      const CsvTable t = read_csv(w.string(), co);
      CT_CHECK(!t.rows.empty() && t.rows[0].size() > 1, DataError, w.string(), ": no class columns in line 1");
      for (size_t c = 1; c < t.rows[0].size(); ++c) groups.push_back(split(trim(t.rows[0][c]), '|', false));
    }

    // CPSC 2018 labels (codes 1-9) for headers whose Dx was blanked.
    std::map<std::string, std::vector<std::string>> cpsc;
    if (!o.cpsc_reference.empty()) {
      static const char* kSnomed[] = {"426783006", "164889003", "270492004", "164909002", "59118001",
                                      "284470004", "164884008", "429622005", "164931005"};
      const CsvTable t = read_csv((root / o.cpsc_reference).string());
      const size_t c_rec = t.require_column("Recording");
      for (size_t r = 0; r < t.n_rows(); ++r)
        guarded(t.where(r), [&] {
          std::vector<std::string> codes;
          for (size_t c = 0; c < t.header.size(); ++c) {
            if (c == c_rec || trim(t.rows[r][c]).empty()) continue;
            const std::string v = trim(t.rows[r][c]);
            CT_CHECK(v.size() == 1 && v[0] >= '1' && v[0] <= '9', DataError, t.where(r), ": ", t.header[c],
                     " must be a CPSC code 1-9, got '", v, "'");
            codes.push_back(kSnomed[v[0] - '1']);
          }
          cpsc[trim(t.rows[r][c_rec])] = codes;
        });
    }

    struct Raw {
      std::string name;
      std::vector<std::string> codes;
      std::map<std::string, std::string> meta;
      double scale = 1.0;
      double fs = 0;
      std::vector<std::string> leads;
      std::vector<std::string> files;
    };
    std::vector<std::string> headers;
    for (const auto& e : fs::directory_iterator(root))
      if (e.path().extension() == ".hea") headers.push_back(e.path().string());
    std::sort(headers.begin(), headers.end());
    std::vector<Raw> raws;
    std::set<std::string> seen_codes;
    for (const auto& hp : headers) {
      guarded(hp, [&] {
        const io::wfdb::Header h = io::wfdb::read_header(hp);
        CT_CHECK(!h.is_multi_segment(), DataError, hp, ": multi-segment records are not supported here");
        Raw r;
        r.name = fs::path(hp).stem().string();
        r.fs = h.fs;
        for (const auto& s : h.signals) {
          r.leads.push_back(io::normalize_lead_name(s.description));
          const std::string f = (root / s.file_name).string();
          if (s.file_name != "~" && std::find(r.files.begin(), r.files.end(), f) == r.files.end()) r.files.push_back(f);
        }
        const auto kv = header_fields(h.comments);
        if (auto it = kv.find("dx"); it != kv.end())
          for (const auto& c : split(it->second, ',', false))
            if (!trim(c).empty()) r.codes.push_back(trim(c));
        if (r.codes.empty())
          if (auto it = cpsc.find(r.name); it != cpsc.end()) {
            r.codes = it->second;
            r.meta["dx_source"] = o.cpsc_reference;
          }
        for (const char* k : {"age", "sex"})
          if (auto it = kv.find(k); it != kv.end()) r.meta[k] = it->second;
        if (!r.codes.empty()) r.meta["dx"] = join(r.codes, ",");
        if (o.fix_gains && !h.signals.empty()) {
          const double g = h.signals[0].adc_gain;
          if ((starts_with(r.name, "HR") && g == 200.0) || (starts_with(r.name, "S") && g == 2000000.0))
            r.scale = g / 1000.0;
        }
        if (o.fs > 0)
          CT_CHECK(std::abs(h.fs - o.fs) < 1e-6, DataError, hp, ": sampling rate ", h.fs, " Hz, expected fs: ", o.fs);
        seen_codes.insert(r.codes.begin(), r.codes.end());
        raws.push_back(std::move(r));
      });
    }
    if (o.classes == "all")
      for (const auto& c : seen_codes) groups.push_back({c});

    // Merge equivalence groups: any group sharing a code with an `equivalent` set absorbs it.
    for (const auto& eq : o.equivalent) {
      std::vector<size_t> hit;
      for (size_t g = 0; g < groups.size(); ++g)
        for (const auto& c : groups[g])
          if (std::find(eq.begin(), eq.end(), c) != eq.end()) {
            hit.push_back(g);
            break;
          }
      if (hit.size() < 2) continue;
      for (size_t k = hit.size(); k-- > 1;) {
        auto& dst = groups[hit[0]];
        for (const auto& c : groups[hit[k]])
          if (std::find(dst.begin(), dst.end(), c) == dst.end()) dst.push_back(c);
        groups.erase(groups.begin() + static_cast<std::ptrdiff_t>(hit[k]));
      }
    }
    std::map<std::string, int64_t> code_class;
    for (size_t g = 0; g < groups.size(); ++g) {
      std::vector<std::string> names;
      for (const auto& c : groups[g]) {
        code_class[c] = static_cast<int64_t>(g);
        auto it = abbrev.find(c);
        names.push_back(it != abbrev.end() ? it->second : c);
      }
      info_.class_names.push_back(join(names, "|"));
      info_.class_codes.push_back(join(groups[g], "|"));
    }

    std::set<double> rates;
    std::set<std::vector<std::string>> lead_sets;
    for (auto& r : raws) {
      guarded(r.name, [&] {
        detail::Entry e;
        e.record_path = (root / r.name).string();
        e.info.record_id = r.name;
        e.info.sources = {e.record_path + ".hea"};
        e.info.sources.insert(e.info.sources.end(), r.files.begin(), r.files.end());
        std::set<int64_t> cls;
        for (const auto& c : r.codes)
          if (auto it = code_class.find(c); it != code_class.end()) cls.insert(it->second);
        CT_CHECK(!o.require_labels || !cls.empty(), DataError, e.record_path, ".hea: no ", o.classes,
                 " class in '#Dx: ", join(r.codes, ","), "'");
        e.info.classes.assign(cls.begin(), cls.end());
        e.label = at::zeros({static_cast<int64_t>(groups.size())}, at::kFloat);
        for (int64_t c : cls) e.label[c] = 1.0f;
        e.meta = r.meta;
        e.scale = r.scale;
        rates.insert(r.fs);
        lead_sets.insert(r.leads);
        entries_.push_back(std::move(e));
      });
    }
    info_.fs = rates.size() == 1 ? *rates.begin() : 0.0;
    if (info_.leads.empty() && lead_sets.size() == 1) info_.leads = *lead_sets.begin();
    finish();
  }
};

}  // namespace

void CincOptions::validate() const {
  CommonOptions::validate();
  check_choice("classes", classes, {"scored", "all"});
}

std::shared_ptr<Dataset> make_cinc2017(const Cinc2017Options& o) { return std::make_shared<Cinc2017Dataset>(o); }
std::shared_ptr<Dataset> make_cinc(const CincOptions& o, const std::string& name) {
  return std::make_shared<CincDataset>(o, name);
}

namespace {

bool has_headers(const fs::path& d) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(d, ec))
    if (e.path().extension() == ".hea") return true;
  return false;
}

struct Cinc2017Detector : DatasetDetector {
  std::string detect(const std::string& dir) const override {
    return fs::exists(fs::path(dir) / "REFERENCE.csv") && has_headers(dir) ? "cinc2017" : "";
  }
};

// weights.csv beside the headers; dx_mapping_scored.csv names the 2021 sources (Ningbo).
struct Cinc2020Detector : DatasetDetector {
  std::string detect(const std::string& dir) const override {
    const fs::path d(dir);
    if (!fs::exists(d / "weights.csv") || !has_headers(d)) return "";
    std::ifstream f(d / "dx_mapping_scored.csv");
    std::string header;
    std::getline(f, header);
    return header.find("Ningbo") != std::string::npos ? "cinc2021" : "cinc2020";
  }
};

}  // namespace

CT_REGISTER(dataset_detector_registry(), "cinc2017", make_detector<Cinc2017Detector>,
            "REFERENCE.csv beside WFDB headers")
CT_REGISTER(dataset_detector_registry(), "cinc2020", make_detector<Cinc2020Detector>,
            "weights.csv beside WFDB headers (cinc2021 when dx_mapping_scored.csv has a Ningbo column)")

}  // namespace cardiotorch::data

CT_REGISTER(cardiotorch::data::dataset_registry(), "cinc2017",
            (cardiotorch::options_factory<cardiotorch::data::Dataset, cardiotorch::data::Cinc2017Options>(
                cardiotorch::data::make_cinc2017)),
            "PhysioNet/CinC 2017 single-lead AF (REFERENCE.csv: N, A, O, ~)")
CT_REGISTER(cardiotorch::data::dataset_registry(), "cinc2020",
            (cardiotorch::options_factory<cardiotorch::data::Dataset, cardiotorch::data::CincOptions>(
                [](const cardiotorch::data::CincOptions& o) { return cardiotorch::data::make_cinc(o, "cinc2020"); })),
            "PhysioNet/CinC 2020 12-lead (#Dx SNOMED codes, scored classes from weights.csv)")
CT_REGISTER(cardiotorch::data::dataset_registry(), "cinc2021",
            (cardiotorch::options_factory<cardiotorch::data::Dataset, cardiotorch::data::CincOptions>(
                [](const cardiotorch::data::CincOptions& o) { return cardiotorch::data::make_cinc(o, "cinc2021"); })),
            "PhysioNet/CinC 2021 12-lead (#Dx SNOMED codes, scored classes from weights.csv)")
