#include "cardiotorch/io/edf.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "io/record_util.h"

#ifdef CARDIOTORCH_HAVE_EDFLIB
#include <edflib.h>
#endif

namespace cardiotorch::io {

std::string edf_lead_name(const std::string& label) {
  std::string s = trim(label);
  // EDF+ labels are "<signal type> <specification>"; the type prefix carries no lead identity.
  static const char* types[] = {"ECG",  "EKG",  "EEG",  "EMG",  "EOG",   "ERG",   "MEG",   "MCG",   "EP",
                                "Resp", "Temp", "SaO2", "SpO2", "Light", "Sound", "Event", "Pleth", "Body"};
  const auto space = s.find(' ');
  if (space != std::string::npos) {
    const std::string head = to_lower(s.substr(0, space));
    for (const char* t : types)
      if (head == to_lower(t)) {
        const std::string rest = trim(s.substr(space + 1));
        if (!rest.empty()) s = rest;
        break;
      }
  }
  return normalize_lead_name(s);
}

#ifdef CARDIOTORCH_HAVE_EDFLIB

namespace {

// EDFlib keeps its open files in a global table without locking.
std::mutex& edflib_mutex() {
  static std::mutex m;
  return m;
}

std::string open_error(int code) {
  switch (code) {
    case EDFLIB_MALLOC_ERROR: return "out of memory";
    case EDFLIB_NO_SUCH_FILE_OR_DIRECTORY: return "cannot open (no such file)";
    case EDFLIB_FILE_CONTAINS_FORMAT_ERRORS: return "not a valid EDF/EDF+/BDF file (header format errors)";
    case EDFLIB_MAXFILES_REACHED: return "too many EDF files open";
    case EDFLIB_FILE_READ_ERROR: return "read error (file truncated?)";
    case EDFLIB_FILE_ALREADY_OPENED: return "file already opened";
    case EDFLIB_FILETYPE_ERROR: return "unknown file type";
    case EDFLIB_FILE_IS_DISCONTINUOUS: return "discontinuous EDF+D/BDF+D files are not supported";
    case EDFLIB_INVALID_READ_ANNOTS_VALUE: return "invalid annotation mode";
    default: return str_cat("EDFlib error ", code);
  }
}

// An open file; the header struct is ~200 KB, so it lives on the heap.
class EdfFile {
 public:
  EdfFile(const std::string& path, bool annotations) : path_(path), hdr_(std::make_unique<edf_hdr_struct>()) {
    std::error_code ec;
    CT_CHECK(!std::filesystem::is_directory(path, ec), DataError, path, ": is a directory, expected an EDF file");
    lock_ = std::unique_lock<std::mutex>(edflib_mutex());
    const int rc = edfopen_file_readonly(path.c_str(), hdr_.get(),
                                         annotations ? EDFLIB_READ_ALL_ANNOTATIONS : EDFLIB_DO_NOT_READ_ANNOTATIONS);
    CT_CHECK(rc == 0, DataError, path, ": ", open_error(hdr_->filetype));
    open_ = true;
  }
  ~EdfFile() {
    if (open_) edfclose_file(hdr_->handle);
  }
  EdfFile(const EdfFile&) = delete;
  EdfFile& operator=(const EdfFile&) = delete;
  const edf_hdr_struct& hdr() const { return *hdr_; }
  int handle() const { return hdr_->handle; }

 private:
  std::string path_;
  std::unique_ptr<edf_hdr_struct> hdr_;
  std::unique_lock<std::mutex> lock_;
  bool open_ = false;
};

EdfHeader header_of(const EdfFile& f, const std::string& path) {
  const edf_hdr_struct& h = f.hdr();
  EdfHeader out;
  out.path = path;
  static const char* types[] = {"EDF", "EDF+", "BDF", "BDF+"};
  out.file_type = h.filetype >= 0 && h.filetype <= 3 ? types[h.filetype] : "?";
  out.duration_s = static_cast<double>(h.file_duration) / EDFLIB_TIME_DIMENSION;
  char start[64];
  std::snprintf(start, sizeof start, "%04d-%02d-%02d %02d:%02d:%02d", h.startdate_year, h.startdate_month,
                h.startdate_day, h.starttime_hour, h.starttime_minute, h.starttime_second);
  out.start = start;
  out.patient = trim(h.patient);
  out.recording = trim(h.recording);
  out.n_annotations = h.annotations_in_file;
  const double record_s = static_cast<double>(h.datarecord_duration) / EDFLIB_TIME_DIMENSION;
  for (int i = 0; i < h.edfsignals; ++i) {
    const edf_param_struct& p = h.signalparam[i];
    EdfSignalInfo s;
    s.label = trim(p.label);
    s.lead = edf_lead_name(s.label);
    s.fs = record_s > 0 ? p.smp_in_datarecord / record_s : 0.0;
    s.units = normalize_units(p.physdimension);
    s.n_samples = p.smp_in_file;
    s.physical_min = p.phys_min;
    s.physical_max = p.phys_max;
    s.digital_min = p.dig_min;
    s.digital_max = p.dig_max;
    s.transducer = trim(p.transducer);
    s.prefilter = trim(p.prefilter);
    out.signals.push_back(std::move(s));
  }
  return out;
}

}  // namespace

bool edf_supported() { return true; }

EdfHeader read_edf_header(const std::string& path) {
  EdfFile f(path, false);
  return header_of(f, path);
}

std::vector<EdfAnnotation> read_edf_annotations(const std::string& path) {
  EdfFile f(path, true);
  std::vector<EdfAnnotation> out;
  for (long long i = 0; i < f.hdr().annotations_in_file; ++i) {
    edf_annotation_struct a{};
    CT_CHECK(edf_get_annotation(f.handle(), static_cast<int>(i), &a) == 0, DataError, path, ": cannot read annotation ",
             i);
    EdfAnnotation e;
    e.onset_s = static_cast<double>(a.onset) / EDFLIB_TIME_DIMENSION;
    e.duration_s = a.duration_l < 0 ? -1.0 : static_cast<double>(a.duration_l) / EDFLIB_TIME_DIMENSION;
    e.text = a.annotation;
    out.push_back(std::move(e));
  }
  return out;
}

Record read_edf(const std::string& path, const ReadOptions& options) {
  EdfFile f(path, false);
  const EdfHeader h = header_of(f, path);
  CT_CHECK(!h.signals.empty(), DataError, path, ": contains no data signals (",
           h.file_type == "EDF+" || h.file_type == "BDF+" ? "only EDF Annotations" : "ns = 0", ")");
  std::vector<std::string> leads, labels;
  for (const auto& s : h.signals) leads.push_back(s.lead), labels.push_back(s.label);
  const std::vector<int> chans = resolve_channels(options.channels, leads, path, labels);
  const double fs = h.signals[chans[0]].fs;
  for (int c : chans)
    if (h.signals[c].fs != fs) {
      std::vector<std::string> rates;
      for (int k : chans) rates.push_back(str_cat(h.signals[k].label, " ", h.signals[k].fs, " Hz"));
      throw DataError(str_cat(path, ": the chosen signals have different sampling rates (", join(rates),
                              "); select channels that share one rate"));
    }
  int64_t n = h.signals[chans[0]].n_samples;
  for (int c : chans) n = std::min(n, h.signals[c].n_samples);
  const int64_t from = options.from, to = options.to < 0 ? n : options.to;
  CT_CHECK(from >= 0 && from <= to && to <= n, ConfigError, path, ": sample window [", from, ", ", to,
           ") outside the record (", n, " samples)");
  Record r;
  r.name = std::filesystem::path(path).stem().string();
  r.source = path;
  r.fs = fs;
  at::Tensor sig = at::empty({static_cast<int64_t>(chans.size()), to - from}, at::kDouble);
  for (size_t k = 0; k < chans.size(); ++k) {
    const int c = chans[k];
    CT_CHECK(edfseek(f.handle(), c, from, EDFSEEK_SET) == from, DataError, path, ": cannot seek signal ",
             h.signals[c].label);
    double* row = sig.data_ptr<double>() + static_cast<int64_t>(k) * (to - from);
    int64_t done = 0;
    while (done < to - from) {
      const int want = static_cast<int>(std::min<int64_t>(to - from - done, 1 << 20));
      const int got = edfread_physical_samples(f.handle(), c, want, row + done);
      CT_CHECK(got > 0, DataError, path, ": read error in signal ", h.signals[c].label, " at sample ", from + done,
               " (file truncated?)");
      done += got;
    }
    r.leads.push_back(h.signals[c].lead);
    r.units.push_back(h.signals[c].units);
  }
  r.signal = sig.to(at::kFloat);
  r.meta["format"] = h.file_type;
  r.meta["start"] = h.start;
  if (!h.patient.empty()) r.meta["patient"] = h.patient;
  if (!h.recording.empty()) r.meta["recording"] = h.recording;
  const edf_hdr_struct& raw = f.hdr();
  if (trim(raw.gender).size()) r.meta["sex"] = trim(raw.gender);
  if (trim(raw.birthdate).size()) r.meta["birthdate"] = trim(raw.birthdate);
  if (trim(raw.equipment).size()) r.meta["equipment"] = trim(raw.equipment);
  return r;
}

#else  // no EDFlib

namespace {
[[noreturn]] void no_edf(const std::string& path) {
  throw DataError(str_cat(path, ": EDF/BDF support was not built (install libedf-dev and reconfigure)"));
}
}  // namespace

bool edf_supported() { return false; }
EdfHeader read_edf_header(const std::string& path) { no_edf(path); }
std::vector<EdfAnnotation> read_edf_annotations(const std::string& path) { no_edf(path); }
Record read_edf(const std::string& path, const ReadOptions&) { no_edf(path); }

#endif

}  // namespace cardiotorch::io
