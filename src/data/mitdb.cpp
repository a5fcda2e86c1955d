// MIT-BIH Arrhythmia Database: beat windows around annotated R peaks, AAMI classes.
#include <ATen/ATen.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include "cardiotorch/data/adapters.h"
#include "cardiotorch/data/beat_windows.h"
#include "cardiotorch/io/annotation.h"
#include "cardiotorch/io/wfdb.h"
#include "data/record_dataset.h"

namespace cardiotorch::data {

namespace fs = std::filesystem;

const std::vector<std::string>& mitdb_ds1() {
  static const std::vector<std::string> r = {"101", "106", "108", "109", "112", "114", "115", "116",
                                             "118", "119", "122", "124", "201", "203", "205", "207",
                                             "208", "209", "215", "220", "223", "230"};
  return r;
}

const std::vector<std::string>& mitdb_ds2() {
  static const std::vector<std::string> r = {"100", "103", "105", "111", "113", "117", "121", "123",
                                             "200", "202", "210", "212", "213", "214", "219", "221",
                                             "222", "228", "231", "232", "233", "234"};
  return r;
}

int aami_index(const std::string& symbol) {
  switch (io::aami_class(symbol)) {
    case 'N': return 0;
    case 'S': return 1;
    case 'V': return 2;
    case 'F': return 3;
    case 'Q': return 4;
    default: return -1;
  }
}

double mitdb_reference_quantile(const std::string& average) {
  if (average == "mean") return -1.0;
  if (average == "median") return 0.5;
  // "p75": the 75th percentile. Digits only, 1-99: "p7.5" or "p100" are typos, not quantiles.
  const bool digits = average.size() >= 2 && average.size() <= 3 && average[0] == 'p' &&
                      std::all_of(average.begin() + 1, average.end(), [](char c) { return c >= '0' && c <= '9'; });
  const int q = digits ? std::stoi(average.substr(1)) : 0;
  CT_CHECK(q >= 1 && q <= 99, ConfigError,
           "rr_reference_average must be mean, median or a percentile p1..p99 (p75), got '", average, "'");
  return q / 100.0;
}

std::vector<std::vector<double>> mitdb_rr_context(const std::vector<int64_t>& peaks, double fs, const MitdbOptions& o) {
  std::vector<std::vector<double>> out;
  if (!o.rr_features || peaks.size() < 2) return out;
  const int64_t window = o.rr_window;
  const double reference_s = o.rr_reference;
  const double reference_quantile = mitdb_reference_quantile(o.rr_reference_average);
  std::vector<double> rr(peaks.size() - 1);
  for (size_t i = 0; i < rr.size(); ++i) rr[i] = static_cast<double>(peaks[i + 1] - peaks[i]) / fs;
  const size_t w = static_cast<size_t>(std::max<int64_t>(1, window));
  std::vector<size_t> spans;  // of the RR_irregularity channels
  for (int64_t x : o.rr_irregularity_windows) spans.push_back(static_cast<size_t>(x));
  if (spans.empty()) spans.push_back(w);
  std::vector<size_t> lags;  // each span gives one channel per lag
  for (int64_t x : o.rr_irregularity_lags) lags.push_back(static_cast<size_t>(std::max<int64_t>(1, x)));
  if (lags.empty()) lags.push_back(1);
  const auto ref_span = static_cast<int64_t>(std::llround(reference_s * fs));
  size_t ref_lo = 0, ref_hi = 0;  // intervals ending within +-reference_s of the beat: [ref_lo, ref_hi)
  std::vector<double> d, ref;
  out.reserve(peaks.size());
  for (size_t i = 0; i < peaks.size(); ++i) {  // interval i-1 precedes beat i, interval i follows it
    const double pre = i > 0 ? rr[i - 1] : rr[0];
    const double post = i < rr.size() ? rr[i] : rr.back();
    const size_t lo = i > w ? i - w : 0, hi = std::min(rr.size(), i + w);
    double sum = 0;
    for (size_t k = lo; k < hi; ++k) sum += rr[k];
    const double local = hi > lo ? sum / static_cast<double>(hi - lo) : pre;
    std::vector<double> v{pre / local, post / local, local};
    // Irregularity: the median successive difference over the mean RR of its span (wi
    // intervals each side). Atrial fibrillation makes every interval "premature" (its beats
    // are N); one ectopic beat moves two differences only, so the median separates the two
    // contexts. With lags > 1 each difference is the smallest to the next `lags` intervals:
    // bigeminy and trigeminy repeat at lag 2 and 3 and read as regular, fibrillation does not.
    for (size_t wi : spans) {
      const size_t ilo = i > wi ? i - wi : 0, ihi = std::min(rr.size(), i + wi);
      double isum = 0;
      for (size_t k = ilo; k < ihi; ++k) isum += rr[k];
      const double imean = ihi > ilo ? isum / static_cast<double>(ihi - ilo) : pre;
      for (size_t max_lag : lags) {
        d.clear();
        for (size_t k = ilo; k + 1 < ihi; ++k) {
          double m = std::abs(rr[k + 1] - rr[k]);
          for (size_t lag = 2; lag <= max_lag && k + lag < ihi; ++lag) m = std::min(m, std::abs(rr[k + lag] - rr[k]));
          d.push_back(m);
        }
        double irr = 0;
        if (!d.empty()) {
          std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2), d.end());
          irr = d[d.size() / 2] / imean;
        }
        v.push_back(irr);
      }
    }
    if (ref_span > 0) {
      while (ref_lo < rr.size() && peaks[ref_lo + 1] < peaks[i] - ref_span) ++ref_lo;
      while (ref_hi < rr.size() && peaks[ref_hi + 1] <= peaks[i] + ref_span) ++ref_hi;
      ref.assign(rr.begin() + static_cast<std::ptrdiff_t>(ref_lo),
                 rr.begin() + static_cast<std::ptrdiff_t>(std::max(ref_hi, ref_lo)));
      if (ref.empty()) ref = {pre, post};  // a span shorter than the beat's own intervals
      double r = 0;
      if (reference_quantile > 0) {  // the element of rank floor(q n): the median is ref[n / 2]
        const auto k =
            std::min(ref.size() - 1, static_cast<size_t>(reference_quantile * static_cast<double>(ref.size())));
        std::nth_element(ref.begin(), ref.begin() + static_cast<std::ptrdiff_t>(k), ref.end());
        r = ref[k];
      } else {
        for (double x : ref) r += x;
        r /= static_cast<double>(ref.size());
      }
      v.insert(v.end(), {pre / r, post / r, local / r});
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<std::string> mitdb_rr_channels(const MitdbOptions& o) {
  if (!o.rr_features) return {};
  std::vector<std::string> n = {"RR_pre", "RR_post", "RR_local"};
  const size_t spans = std::max<size_t>(1, o.rr_irregularity_windows.size());
  const size_t lags = std::max<size_t>(1, o.rr_irregularity_lags.size());
  for (size_t k = 0; k < spans; ++k) {  // the order mitdb_rr_context appends them in
    const std::string base =
        k == 0 ? std::string("RR_irregularity") : str_cat("RR_irregularity_", o.rr_irregularity_windows[k]);
    for (size_t l = 0; l < lags; ++l) n.push_back(l == 0 ? base : str_cat(base, "_lag", o.rr_irregularity_lags[l]));
  }
  if (o.rr_reference > 0) n.insert(n.end(), {"RR_pre_ref", "RR_post_ref", "RR_local_ref"});
  return n;
}

at::Tensor mitdb_median_beat(const at::Tensor& signal, const std::vector<int64_t>& peaks, int64_t before,
                             int64_t width) {
  CT_CHECK(!peaks.empty(), DataError, "median beat: no beats");
  const int64_t len = signal.size(1);
  const at::Tensor padded = at::constant_pad_nd(signal, {width, width}, 0);
  std::vector<at::Tensor> windows;
  windows.reserve(peaks.size());
  for (int64_t p : peaks) {
    const int64_t from = p - before;
    if (from < -width || from > len) continue;  // a beat outside the record
    windows.push_back(padded.narrow(1, from + width, width));
  }
  CT_CHECK(!windows.empty(), DataError, "median beat: no beat inside the record");
  return std::get<0>(at::stack(windows, 0).median(0)).contiguous();
}

at::Tensor mitdb_with_context(const at::Tensor& window, const at::Tensor& median, const std::vector<double>* rr) {
  std::vector<at::Tensor> parts{window};
  if (median.defined()) parts.push_back(window - median.to(window.dtype()));
  if (rr) {
    const auto n = static_cast<int64_t>(rr->size());
    at::Tensor c = at::empty({n, window.size(-1)}, window.options());
    for (int64_t k = 0; k < n; ++k) c[k].fill_((*rr)[static_cast<size_t>(k)]);
    parts.push_back(c);
  }
  return parts.size() == 1 ? window : at::cat(parts, 0);
}

namespace {

const std::set<std::string> kPaced = {"102", "104", "107", "217"};

// Shortest text that reads back to the same double (metadata carries the channel values).
std::string exact(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::vector<std::string> list_records(const fs::path& root) {
  std::vector<std::string> out;
  const fs::path rec = root / "RECORDS";
  if (fs::exists(rec)) {
    std::ifstream f(rec);
    std::string line;
    while (std::getline(f, line))
      if (!trim(line).empty()) out.push_back(trim(line));
    return out;
  }
  for (const auto& e : fs::directory_iterator(root))
    if (e.path().extension() == ".hea") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

class MitdbDataset : public detail::RecordDataset {
 public:
  explicit MitdbDataset(const MitdbOptions& o)
      : RecordDataset(o, "mitdb", to_config(o)), template_diff_(o.template_diff), rr_channels_(mitdb_rr_channels(o)) {
    info_.class_names = {"N", "S", "V", "F", "Q"};
    info_.label_kind = LabelKind::kClassIndex;
    const fs::path root(o.root);
    std::vector<std::string> records;
    if (o.records.empty()) {
      records = list_records(root);
    } else {
      for (const auto& r : o.records) {
        const auto& list = r == "DS1" ? mitdb_ds1() : r == "DS2" ? mitdb_ds2() : std::vector<std::string>{r};
        records.insert(records.end(), list.begin(), list.end());
      }
    }
    const std::set<std::string> ds1(mitdb_ds1().begin(), mitdb_ds1().end()),
        ds2(mitdb_ds2().begin(), mitdb_ds2().end());
    std::set<double> rates;
    std::set<std::vector<std::string>> lead_sets;
    int64_t n_records = 0;
    for (const auto& name : records) {
      if (o.exclude_paced && kPaced.count(name)) continue;
      if (o.limit > 0 && n_records >= o.limit) break;
      const std::string path = (root / name).string();
      const bool ok = guarded(path, [&] {
        const io::wfdb::Header h = io::wfdb::read_header(path);
        io::AnnotationSet anns = io::read_annotations(path, o.annotator);
        io::to_sample_rate(anns, h.fs);
        CT_CHECK(o.fs <= 0 || std::abs(h.fs - o.fs) < 1e-6, DataError, path, ".hea: sampling rate ", h.fs,
                 " Hz, expected fs: ", o.fs);
        const int64_t before = static_cast<int64_t>(std::llround(o.before * h.fs));
        const int64_t after = static_cast<int64_t>(std::llround(o.after * h.fs));
        std::vector<std::string> sources = {path + ".hea", path + "." + o.annotator};
        std::vector<std::string> leads;
        for (const auto& s : h.signals) {
          const std::string f = (root / s.file_name).string();
          if (std::find(sources.begin(), sources.end(), f) == sources.end()) sources.push_back(f);
          leads.push_back(io::normalize_lead_name(s.description));
        }
        const std::string fold = ds1.count(name) ? "DS1" : ds2.count(name) ? "DS2" : "";
        // 201 and 202 are the same subject (MIT-BIH directory notes).
        const std::string patient = name == "202" ? "201" : name;
        // RR context of every beat (mitdb_rr_context) and, for template_diff, the beat list.
        std::vector<int64_t> peaks;
        for (const auto& a : anns.annotations)
          if (aami_index(a.symbol) >= 0) peaks.push_back(a.sample);
        if (o.template_diff) beats_[path] = peaks;
        const std::vector<std::vector<double>> rr = mitdb_rr_context(peaks, h.fs, o);
        size_t beat = 0;
        std::string rhythm;
        for (const auto& a : anns.annotations) {
          if (a.symbol == "+") {
            std::string aux = a.aux;
            while (!aux.empty() && (aux.back() == '\0' || aux.back() == ' ')) aux.pop_back();
            rhythm = aux;
            continue;
          }
          const int cls = aami_index(a.symbol);
          if (cls < 0) continue;
          detail::Entry e;
          e.record_path = path;
          e.info.record_id = str_cat(name, ":", a.sample);
          e.info.patient_id = patient;
          e.info.classes = {cls};
          e.info.fold = fold;
          e.info.sources = sources;
          e.info.from = a.sample - before;
          e.info.to = a.sample + after;
          e.label = at::scalar_tensor(static_cast<int64_t>(cls), at::kLong);
          e.meta = {{"record", name}, {"symbol", a.symbol}, {"sample", std::to_string(a.sample)}};
          if (!rhythm.empty()) e.meta["rhythm"] = rhythm;
          e.meta["n_samples"] = std::to_string(h.n_samples);
          if (!rr.empty()) {
            const auto& v = rr[beat];
            e.meta["rr_pre"] = exact(v[0] * v[2]);  // seconds, for people reading the metadata
            e.meta["rr_post"] = exact(v[1] * v[2]);
            e.meta["rr_local"] = exact(v[2]);
            e.meta["rr_irregularity"] = exact(v[3]);
            for (size_t k = 0; k < v.size(); ++k) e.meta[str_cat("rr_channel", k)] = exact(v[k]);
          }
          ++beat;
          entries_.push_back(std::move(e));
        }
        rates.insert(h.fs);
        lead_sets.insert(leads);
      });
      if (ok) ++n_records;
    }
    info_.fs = rates.size() == 1 ? *rates.begin() : 0.0;
    // Second leads differ between records (V1, V2, V4, V5); only a common set is reported.
    if (info_.leads.empty() && lead_sets.size() == 1) info_.leads = *lead_sets.begin();
    if (o.template_diff && !info_.leads.empty()) {
      const size_t n = info_.leads.size();
      for (size_t k = 0; k < n; ++k) info_.leads.push_back(info_.leads[k] + "-median");
    }
    if (o.rr_features && !info_.leads.empty())
      for (const auto& n : rr_channels_) info_.leads.push_back(n);
    finish();
  }

 protected:
  // Windows that reach past the record's ends are zero-padded (every beat is kept).
  Sample load(const detail::Entry& e) const override {
    const int64_t n = std::stoll(e.meta.at("n_samples"));
    const int64_t from = std::max<int64_t>(0, e.info.from);
    const int64_t to = n > 0 ? std::min<int64_t>(n, e.info.to) : e.info.to;
    io::Record r = detail::read_wfdb_record(e.record_path, from, to);
    Sample s;
    s.signal = r.signal;
    if (from > e.info.from || to < e.info.to)
      s.signal = at::constant_pad_nd(s.signal, {from - e.info.from, e.info.to - to}, 0);
    s.fs = r.fs;
    s.leads = r.leads;
    detail::select_leads(s.signal, s.leads, common_.leads, e.record_path);
    s.label = e.label;
    s.record_id = e.info.record_id;
    s.patient_id = e.info.patient_id;
    s.meta = e.meta;
    s.meta.erase("n_samples");
    s.meta["fold"] = e.info.fold;
    const bool rr_features = !rr_channels_.empty();  // mitdb_rr_channels is empty without rr_features
    if (template_diff_ || rr_features) {
      std::vector<double> rr;
      if (rr_features) {
        CT_CHECK(e.meta.count("rr_channel0"), DataError, e.record_path, ": beat ", e.info.record_id,
                 " has no RR context (a record with a single beat?)");
        for (size_t k = 0; k < rr_channels_.size(); ++k) rr.push_back(std::stod(e.meta.at(str_cat("rr_channel", k))));
      }
      const at::Tensor median = template_diff_ ? median_beat(e, n, s.signal.size(1)) : at::Tensor();
      s.signal = mitdb_with_context(s.signal, median, rr_features ? &rr : nullptr);
      const size_t nl = s.leads.size();
      if (template_diff_)
        for (size_t k = 0; k < nl; ++k) s.leads.push_back(s.leads[k] + "-median");
      if (rr_features) s.leads.insert(s.leads.end(), rr_channels_.begin(), rr_channels_.end());
    }
    return s;
  }

 private:
  // The record's median beat over all its windows (selected leads), computed once per record
  // from one read of the whole record.
  at::Tensor median_beat(const detail::Entry& e, int64_t n_samples, int64_t width) const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = templates_.find(e.record_path);
      if (it != templates_.end()) return it->second;
    }
    const int64_t before = std::stoll(e.meta.at("sample")) - e.info.from;
    io::Record r = detail::read_wfdb_record(e.record_path, 0, n_samples > 0 ? n_samples : -1);
    at::Tensor sig = r.signal;
    std::vector<std::string> leads = r.leads;
    detail::select_leads(sig, leads, common_.leads, e.record_path);
    at::Tensor t = mitdb_median_beat(sig, beats_.at(e.record_path), before, width);
    std::lock_guard<std::mutex> lock(mutex_);
    return templates_.emplace(e.record_path, t).first->second;
  }

  bool template_diff_ = false;
  std::vector<std::string> rr_channels_;
  std::map<std::string, std::vector<int64_t>> beats_;  // record path -> classified beat samples
  mutable std::mutex mutex_;
  mutable std::map<std::string, at::Tensor> templates_;
};

}  // namespace

namespace {
// rr_irregularity_windows and rr_irregularity_lags: each entry >= 1, none repeated (one channel
// per entry, named by it).
void check_distinct_positive(const std::vector<int64_t>& list, const char* key, const char* entry, const char* unit) {
  for (int64_t x : list) CT_CHECK(x >= 1, ConfigError, key, ": each ", entry, " must be >= 1 ", unit, ", got ", x);
  CT_CHECK(std::set<int64_t>(list.begin(), list.end()).size() == list.size(), ConfigError, key, ": a ", entry,
           " is repeated");
}
}  // namespace

void MitdbOptions::validate() const {
  CommonOptions::validate();
  CT_CHECK(before >= 0 && after > 0, ConfigError, "before must be >= 0 and after > 0 seconds, got ", before, " and ",
           after);
  CT_CHECK(!annotator.empty(), ConfigError, "annotator must not be empty (e.g. atr)");
  CT_CHECK(rr_window >= 1, ConfigError, "rr_window must be >= 1 beat, got ", rr_window);
  check_distinct_positive(rr_irregularity_windows, "rr_irregularity_windows", "span", "interval");
  CT_CHECK(!rr_irregularity_lags.empty(), ConfigError,
           "rr_irregularity_lags: give at least one lag (1 = successive differences)");
  check_distinct_positive(rr_irregularity_lags, "rr_irregularity_lags", "lag", "(1 = successive differences)");
  CT_CHECK(std::isfinite(rr_reference) && rr_reference >= 0, ConfigError,
           "rr_reference must be >= 0 seconds (0 = off), got ", rr_reference);
  mitdb_reference_quantile(rr_reference_average);  // mean, median or pNN
  CT_CHECK(rr_reference == 0 || rr_features, ConfigError, "rr_reference: ", rr_reference,
           " needs rr_features: true (its channels follow the RR channels)");
}

std::shared_ptr<Dataset> make_mitdb(const MitdbOptions& o) { return std::make_shared<MitdbDataset>(o); }

namespace {
// predict's view of the adapter: the same window, record template and RR context per beat
// (load() above), computed from a record the dataset never indexed.
class MitdbWindower : public BeatWindower {
 public:
  explicit MitdbWindower(MitdbOptions o) : o_(std::move(o)) {}
  std::string annotator() const override { return o_.annotator; }
  void set_record(const at::Tensor& signal, double fs, std::vector<int64_t> peaks, const std::string& where) override {
    CT_CHECK(signal.dim() == 2 && fs > 0, ShapeError, where,
             ": expected a [leads, samples] signal with a sampling rate");
    signal_ = signal;
    peaks_ = std::move(peaks);
    before_ = std::llround(o_.before * fs);
    width_ = before_ + std::llround(o_.after * fs);
    rr_ = mitdb_rr_context(peaks_, fs, o_);
    CT_CHECK(!o_.rr_features || !rr_.empty(), DataError, where, ": ", peaks_.size(),
             " beats; the model needs the RR context of at least 2");
    median_ = o_.template_diff && !peaks_.empty() ? mitdb_median_beat(signal_, peaks_, before_, width_) : at::Tensor();
  }
  at::Tensor window(size_t k) const override {
    CT_CHECK(k < peaks_.size(), UsageError, "beat ", k, " of ", peaks_.size());
    const int64_t n = signal_.size(1), from = peaks_[k] - before_, to = from + width_;
    const int64_t f = std::max<int64_t>(0, from), e = std::min<int64_t>(n, to);
    if (e <= f) return at::Tensor();
    at::Tensor w = signal_.narrow(1, f, e - f);
    if (f > from || e < to) w = at::constant_pad_nd(w, {f - from, to - e}, 0);  // as load() pads
    return mitdb_with_context(w, median_, o_.rr_features ? &rr_[k] : nullptr);
  }

 private:
  MitdbOptions o_;
  at::Tensor signal_, median_;
  std::vector<int64_t> peaks_;
  std::vector<std::vector<double>> rr_;
  int64_t before_ = 0, width_ = 0;
};

// Beat-annotated records at MIT-BIH's 360 Hz (other .atr databases, e.g. CPSC 2021 at 200 Hz,
// are not MIT-BIH layouts).
struct MitdbDetector : DatasetDetector {
  std::string detect(const std::string& dir) const override {
    const fs::path d(dir);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d, ec)) {
      if (e.path().extension() != ".atr") continue;
      const fs::path rec = d / e.path().stem();
      if (!fs::exists(rec.string() + ".hea")) continue;
      try {
        return io::wfdb::read_header(rec.string()).fs == 360.0 ? "mitdb" : "";
      } catch (const DataError&) {
        return "";
      }
    }
    return "";
  }
};
}  // namespace

CT_REGISTER(dataset_detector_registry(), "mitdb", make_detector<MitdbDetector>,
            ".atr beat annotations of 360 Hz records")
CT_REGISTER(beat_windower_registry(), "mitdb", (make_from_options<MitdbWindower, MitdbOptions>),
            "the mitdb adapter's beat windows, record template and RR context, from any record")

}  // namespace cardiotorch::data

CT_REGISTER(cardiotorch::data::dataset_registry(), "mitdb",
            (cardiotorch::options_factory<cardiotorch::data::Dataset, cardiotorch::data::MitdbOptions>(
                cardiotorch::data::make_mitdb)),
            "MIT-BIH arrhythmia beats (AAMI N/S/V/F/Q windows around R peaks; DS1/DS2 folds; rhythm in meta)")
