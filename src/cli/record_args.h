#pragma once
// Options shared by the commands that read records (plot reads one; convert and preprocess read
// one or many).
#include <CLI/CLI.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/summary.h"

namespace cardiotorch::cli {

struct RecordArgs {
  std::vector<std::string> paths;  ///< exactly one unless add() was told `many`
  double from_s = 0.0;
  double duration_s = 0.0;  // 0 = to the end
  std::vector<std::string> channels;
  double fs = 0.0;
  std::string variable;

  /// `many`: one or more records or directories (searched recursively) instead of one record.
  void add(CLI::App& app, bool window = true, bool many = false) {
    if (many)
      app.add_option("records", paths,
                     "records (WFDB dir/100 or dir/100.hea, .mat, .edf/.bdf, .npy/.npz) or directories of them "
                     "(searched recursively)")
          ->required();
    else
      app.add_option("record", paths, "record: WFDB (dir/100 or dir/100.hea), .mat, .edf/.bdf, .npy/.npz")
          ->required()
          ->expected(1);
    if (window) {
      app.add_option("--from", from_s, "start, in seconds from the record start")->check(CLI::NonNegativeNumber);
      app.add_option("--duration", duration_s, "length in seconds (default: to the end)")
          ->check(CLI::NonNegativeNumber);
    }
    app.add_option("--channels,--leads", channels, "leads by name or index, comma-separated (default: all)")
        ->delimiter(',');
    app.add_option("--fs", fs, "sampling rate for files that do not store one (.npy, bare .mat)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--variable", variable, ".mat variable (val, ecg, ECG.data, ...) or .npz array to read");
  }

  io::ReadOptions read_options() const {
    io::ReadOptions o;
    o.channels = channels;
    o.fs = fs;
    o.variable = variable;
    return o;
  }

  const std::string& path() const { return paths.front(); }

  /// Reads [from, from + duration) (seconds; all when both are 0). Only that window is
  /// decoded where the format allows, so a minute of a 30-minute record stays cheap.
  /// `default_duration_s` applies when --duration is not given (0 = to the end).
  io::Record read(double default_duration_s = 0.0) const { return read(path(), default_duration_s); }
  io::Record read(const std::string& path, double default_duration_s = 0.0) const {
    io::ReadOptions o = read_options();
    const double dur = duration_s > 0 ? duration_s : default_duration_s;
    if (from_s > 0 || dur > 0) {
      const io::RecordInfo info = io::read_record_info(path);
      const double rate = info.fs > 0 ? info.fs : fs;
      if (rate <= 0 && from_s == 0 && duration_s == 0) return io::read_record(path, o);  // only a default window
      CT_CHECK(rate > 0, UsageError, path, ": --from/--duration need a sampling rate; pass --fs");
      o.from = static_cast<int64_t>(std::llround(from_s * rate));
      if (info.n_samples >= 0)
        CT_CHECK(o.from < info.n_samples, UsageError, path, ": --from ", from_s, " s is past the end of the record (",
                 info.n_samples / rate, " s)");
      if (dur > 0) {
        o.to = o.from + static_cast<int64_t>(std::llround(dur * rate));
        if (info.n_samples >= 0) o.to = std::min(o.to, info.n_samples);
      }
    }
    return io::read_record(path, o);
  }
};

}  // namespace cardiotorch::cli
