#include "cardiotorch/io/reader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/edf.h"
#include "cardiotorch/io/mat.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/wfdb.h"
#include "io/file_util.h"
#include "io/record_util.h"

namespace fs = std::filesystem;

namespace cardiotorch::io {
namespace {

std::string ext_of(const std::string& path) { return to_lower(fs::path(path).extension().string()); }

bool exists_file(const std::string& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::string sniff(const std::string& path) {
  const std::string head = read_file_prefix(path, 256);
  if (head.size() >= 6 && head.compare(0, 6, "\x93NUMPY") == 0) return "npy";
  if (head.size() >= 4 && head.compare(0, 4, "PK\x03\x04") == 0) return "npz";
  if (head.size() >= 10 && head.compare(0, 10, "MATLAB 5.0") == 0) return "mat";
  if (head.size() >= 10 && head.compare(0, 10, "MATLAB 7.3") == 0) return "mat";
  if (head.size() >= 8 && head.compare(0, 8, "0       ") == 0) return "edf";
  if (head.size() >= 8 && head.compare(0, 8, "\xff" "BIOSEMI") == 0) return "edf";
  return "";
}

// Applies the sample window and channel selection to a fully read record.
void apply_options(Record& r, const ReadOptions& o) {
  const std::vector<int> chans = resolve_channels(o.channels, r.leads, r.source);
  const int64_t n = r.n_samples();
  const int64_t to = o.to < 0 ? n : o.to;
  CT_CHECK(o.from >= 0 && o.from <= to && to <= n, ConfigError, r.source, ": sample window [", o.from, ", ", to,
           ") outside the record (", n, " samples)");
  if (!o.channels.empty()) {
    std::vector<int64_t> idx(chans.begin(), chans.end());
    r.signal = r.signal.index_select(0, at::tensor(idx, at::kLong));
    std::vector<std::string> leads, units;
    for (int c : chans) {
      leads.push_back(r.leads[c]);
      if (c < static_cast<int>(r.units.size())) units.push_back(r.units[c]);
    }
    r.leads = std::move(leads);
    r.units = std::move(units);
  }
  if (o.from != 0 || to != n) r.signal = r.signal.slice(1, o.from, to);
  r.signal = r.signal.contiguous();
}

// WFDB proper is io::wfdb::read_record; the dispatcher adds what every reader provides
// (Key: value comments as meta, the format tag).
Record from_wfdb(const std::string& path, const ReadOptions& o) {
  Record r = wfdb::read_record(path, o);
  meta_from_comments(r.comments, r.meta);
  r.meta["format"] = "wfdb";
  return r;
}

Record from_npy_tensor(at::Tensor t, const std::string& path, double fs) {
  CT_CHECK(t.dim() == 1 || t.dim() == 2, DataError, path, ": array has ", t.dim(),
           " dims; a record is [samples] or [leads, samples]");
  if (t.dim() == 1) t = t.unsqueeze(0);
  Record r;
  r.name = fs::path(path).stem().string();
  r.source = path;
  r.fs = fs;
  r.signal = t.to(at::kFloat).contiguous();
  for (int64_t i = 0; i < r.signal.size(0); ++i) r.leads.push_back("ch" + std::to_string(i));
  r.units.assign(static_cast<size_t>(r.signal.size(0)), "");
  return r;
}

}  // namespace

std::string record_format(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return "";
  const std::string e = ext_of(path);
  if (e == ".hea") return "wfdb";
  if (e == ".mat") return "mat";
  if (e == ".edf" || e == ".bdf" || e == ".rec") return "edf";
  if (e == ".npy") return "npy";
  if (e == ".npz") return "npz";
  if (!exists_file(path) && exists_file(path + ".hea")) return "wfdb";
  if (exists_file(path)) return sniff(path);
  return "";
}

Record read_record(const std::string& path, const ReadOptions& options) {
  std::error_code ec;
  CT_CHECK(!fs::is_directory(path, ec), DataError, path, ": is a directory, expected a record");
  std::string format = record_format(path);
  if (format.empty()) {
    CT_CHECK(exists_file(path) || exists_file(path + ".hea"), DataError, path,
             ": no such record (neither the file nor ", fs::path(path).filename().string(), ".hea exists)");
    throw DataError(str_cat(path,
                            ": unknown record format; expected a WFDB record (.hea), .mat, .edf/.bdf or .npy"));
  }
  CT_CHECK(options.fs >= 0, DataError, path, ": fs must be >= 0, got ", options.fs);
  Record r;
  if (format == "wfdb") {
    r = from_wfdb(path, options);
  } else if (format == "edf") {
    r = read_edf(path, options);
  } else {
    if (format == "mat") {
      MatOptions mo;
      mo.fs = options.fs;
      mo.variable = options.variable;
      r = read_mat_record(path, mo);
    } else if (format == "npy") {
      r = from_npy_tensor(read_npy(path), path, options.fs);
    } else {  // npz
      const auto arrays = read_npz(path);
      std::string key = options.variable;
      if (!key.empty() && !arrays.count(key)) {
        std::vector<std::string> keys;
        for (const auto& kv : arrays) keys.push_back(kv.first);
        throw ConfigError(str_cat(path, ": no array '", key, "'", did_you_mean(key, keys), " (arrays: ", join(keys), ")"));
      }
      for (const char* k : {"signal", "ecg", "data", "x"})
        if (key.empty() && arrays.count(k)) key = k;
      if (key.empty()) {
        std::vector<std::string> keys;
        for (const auto& kv : arrays)
          if (kv.first != "fs") keys.push_back(kv.first);
        CT_CHECK(keys.size() == 1, DataError, path, ": cannot tell which array is the signal (arrays: ",
                 join(keys), "); name it 'signal'");
        key = keys[0];
      }
      double fs = options.fs;
      auto it = arrays.find("fs");
      if (fs == 0 && it != arrays.end()) {
        CT_CHECK(it->second.numel() == 1, DataError, path, ": 'fs' must be a scalar");
        fs = it->second.to(at::kDouble).item<double>();
      }
      r = from_npy_tensor(arrays.at(key), path, fs);
    }
    apply_options(r, options);
  }
  if (options.fs > 0 && r.fs == 0) r.fs = options.fs;
  return r;
}

std::vector<std::string> find_records(const std::string& dir, bool recursive) {
  std::error_code ec;
  CT_CHECK(fs::is_directory(dir, ec), DataError, dir, ": not a directory");
  std::vector<std::string> headers, others, subdirs;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (recursive && entry.is_directory(ec)) {
      subdirs.push_back(entry.path().string());
      continue;
    }
    if (!entry.is_regular_file(ec)) continue;
    const std::string p = entry.path().string();
    const std::string e = ext_of(p);
    if (e == ".hea") {
      headers.push_back(p);
    } else if (e == ".mat" || e == ".edf" || e == ".bdf" || e == ".npy" || e == ".npz") {
      if (e == ".mat" && exists_file((entry.path().parent_path() / entry.path().stem()).string() + ".hea")) continue;
      others.push_back(p);
    }
  }
  std::sort(headers.begin(), headers.end());
  std::sort(others.begin(), others.end());
  std::sort(subdirs.begin(), subdirs.end());
  headers.insert(headers.end(), others.begin(), others.end());
  for (const auto& d : subdirs) {
    const auto sub = find_records(d, true);
    headers.insert(headers.end(), sub.begin(), sub.end());
  }
  return headers;
}

}  // namespace cardiotorch::io
