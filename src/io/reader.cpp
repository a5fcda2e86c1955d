#include "cardiotorch/io/reader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/file.h"
#include "cardiotorch/core/strings.h"
#include "io/reader_util.h"
#include "io/record_util.h"

namespace fs = std::filesystem;

namespace cardiotorch::io {
namespace {

std::string ext_of(const std::string& path) { return to_lower(fs::path(path).extension().string()); }

bool is_file(const std::string& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

struct NamedReader {
  std::string format;
  std::shared_ptr<const RecordReader> reader;
};

// Every registered reader, built once (registration is complete before main, so the set is
// fixed by the first call; the static's initialisation is thread-safe).
const std::vector<NamedReader>& readers() {
  static const std::vector<NamedReader> all = [] {
    std::vector<NamedReader> out;
    for (const auto& name : reader_registry().names())
      out.push_back({name, reader_registry().build(name, ConfigNode())});
    return out;
  }();
  return all;
}

const NamedReader* by_extension(const std::string& ext) {
  if (ext.empty()) return nullptr;
  for (const auto& r : readers()) {
    const auto e = r.reader->extensions();
    if (std::find(e.begin(), e.end(), ext) != e.end()) return &r;
  }
  return nullptr;
}

}  // namespace

void apply_window_and_channels(Record& r, const ReadOptions& o) {
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

Registry<RecordReader>& reader_registry() {
  static Registry<RecordReader> r("reader", "record formats read_record recognises (by extension or content)");
  return r;
}

const RecordReader& record_reader(const std::string& format) {
  for (const auto& r : readers())
    if (r.format == format) return *r.reader;
  reader_registry().require(format);
  throw InternalError(str_cat("internal error: reader '", format, "' registered but not built"));
}

RecordInfo RecordReader::info(const std::string& path) const {
  const Record r = read(path, ReadOptions{});
  RecordInfo info;
  info.path = path;
  info.name = r.name;
  info.fs = r.fs;
  info.n_samples = r.n_samples();
  info.leads = r.leads;
  info.units = r.units;
  info.comments = r.comments;
  info.meta = r.meta;
  return info;
}

std::string record_format(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return "";
  if (const NamedReader* r = by_extension(ext_of(path))) return r->format;
  const std::string head = is_file(path) ? read_file_prefix(path, 256) : std::string();
  for (const auto& r : readers())
    if (r.reader->sniff(path, head)) return r.format;
  return "";
}

Record read_record(const std::string& path, const ReadOptions& options) {
  std::error_code ec;
  CT_CHECK(!fs::is_directory(path, ec), DataError, path, ": is a directory, expected a record");
  const std::string format = record_format(path);
  if (format.empty()) {
    CT_CHECK(is_file(path) || is_file(path + ".hea"), DataError, path, ": no such record (neither the file nor ",
             fs::path(path).filename().string(), ".hea exists)");
    throw DataError(str_cat(path, ": unknown record format; expected a record file (", join(record_extensions()),
                            ") or a WFDB record name"));
  }
  CT_CHECK(options.fs >= 0, ArgumentError, path, ": fs must be >= 0, got ", options.fs);
  Record r = record_reader(format).read(path, options);
  if (options.fs > 0 && r.fs == 0) r.fs = options.fs;
  return r;
}

RecordInfo read_record_info(const std::string& path) {
  const std::string format = record_format(path);
  if (format.empty()) (void)read_record(path);  // the same error read_record gives
  RecordInfo info = record_reader(format).info(path);
  if (info.path.empty()) info.path = path;
  if (info.format.empty()) info.format = format;
  return info;
}

std::vector<std::string> record_extensions() {
  std::vector<std::string> out;
  for (const auto& r : readers())
    for (const auto& e : r.reader->extensions()) out.push_back(e);
  return out;
}

std::vector<std::string> find_records(const std::string& dir, bool recursive) {
  std::error_code ec;
  CT_CHECK(fs::is_directory(dir, ec), DataError, dir, ": not a directory");
  std::map<int, std::vector<std::string>> by_rank;
  std::vector<std::string> subdirs;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (recursive && entry.is_directory(ec)) {
      subdirs.push_back(entry.path().string());
      continue;
    }
    if (!entry.is_regular_file(ec)) continue;
    const std::string p = entry.path().string();
    const NamedReader* r = by_extension(ext_of(p));
    if (r && r->reader->lists(p)) by_rank[r->reader->listing_rank()].push_back(p);
  }
  std::vector<std::string> out;
  for (auto& [rank, files] : by_rank) {
    std::sort(files.begin(), files.end());
    out.insert(out.end(), files.begin(), files.end());
  }
  std::sort(subdirs.begin(), subdirs.end());
  for (const auto& d : subdirs) {
    const auto sub = find_records(d, true);
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

}  // namespace cardiotorch::io
