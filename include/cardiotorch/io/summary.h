#pragma once
// Record headers without their samples, and summaries of record directories
// (what `cardiotorch info` prints). This header needs no torch (the implementation reads
// samples through read_record only for formats without a separate header).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace cardiotorch::io {

/// What a record's header says (read without decoding samples where the format allows).
struct RecordInfo {
  std::string path;
  std::string name;
  std::string format;              ///< "wfdb", "mat+wfdb", "mat", "edf", "npy", "npz"
  double fs = 0.0;                 ///< 0 = not stored in the file
  int64_t n_samples = -1;          ///< -1 = unknown without reading the data
  std::vector<std::string> leads;  ///< normalised names
  std::vector<std::string> units;
  std::vector<double> gains;  ///< adu per unit, where the format has one (else empty)
  std::vector<std::string> comments;
  std::map<std::string, std::string> meta;
  double duration_s() const { return fs > 0 && n_samples >= 0 ? n_samples / fs : 0.0; }
};

/// Header-level information of one record (any format read_record accepts). DataError
/// naming the file when it cannot be read.
RecordInfo read_record_info(const std::string& path);

struct DirectorySummary {
  std::string dir;
  std::vector<RecordInfo> records;           ///< readable records, sorted by path
  std::vector<std::string> errors;           ///< one line per record that could not be read
  std::map<std::string, int64_t> formats;    ///< format -> count
  std::map<double, int64_t> fs_counts;       ///< Hz -> count
  std::map<std::string, int64_t> lead_sets;  ///< "I, II, III, ..." -> count
  double min_duration_s = 0, median_duration_s = 0, max_duration_s = 0, total_duration_s = 0;
  /// Further sections added by summary hooks: title -> (key -> count); e.g. a dataset's
  /// label counts ("labels" -> {"AF": 96, ...}).
  std::map<std::string, std::map<std::string, int64_t>> sections;
};

/// A hook that adds sections to a directory summary (e.g. label counts read from a dataset's
/// label files). Hooks run in name order after the records are read; a hook that does not
/// recognise the directory leaves the summary alone. Errors it throws become summary.errors lines.
using SummaryHook = std::function<void(const std::string& dir, DirectorySummary& summary)>;
/// Registers `hook` under `name` (for a static initialiser: returns true). A second hook with
/// the same name replaces the first.
bool add_summary_hook(const std::string& name, SummaryHook hook);
std::vector<std::string> summary_hook_names();

/// Reads every record of `dir` (find_records) and tallies them, then runs the hooks.
/// `fs_if_unknown` is the rate assumed for records that store none (.npy, bare .mat).
/// `recursive` includes the records of subdirectories.
DirectorySummary summarize_directory(const std::string& dir, double fs_if_unknown = 0.0, bool recursive = false);

}  // namespace cardiotorch::io
