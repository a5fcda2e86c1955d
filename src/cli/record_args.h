#pragma once
// Options shared by the commands that read one record (info, convert, plot).
#include <CLI/CLI.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/reader.h"

namespace cardiotorch::cli {

struct RecordArgs {
  std::string path;
  double from_s = 0.0;
  double duration_s = 0.0;  // 0 = to the end
  std::vector<std::string> channels;
  double fs = 0.0;
  std::string variable;

  void add(CLI::App& app, bool window = true) {
    app.add_option("record", path, "record: WFDB (dir/100 or dir/100.hea), .mat, .edf/.bdf, .npy/.npz")->required();
    if (window) {
      app.add_option("--from", from_s, "start, in seconds from the record start")->check(CLI::NonNegativeNumber);
      app.add_option("--duration", duration_s, "length in seconds (default: to the end)")->check(CLI::NonNegativeNumber);
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

  /// Reads the record, then cuts [from, from + duration) in seconds.
  io::Record read() const {
    io::Record r = io::read_record(path, read_options());
    if (from_s > 0 || duration_s > 0) {
      CT_CHECK(r.fs > 0, UsageError, path, ": --from/--duration need a sampling rate; pass --fs");
      const int64_t n = r.n_samples();
      const int64_t a = static_cast<int64_t>(std::llround(from_s * r.fs));
      CT_CHECK(a < n, UsageError, path, ": --from ", from_s, " s is past the end of the record (", r.duration_s(),
               " s)");
      const int64_t b = duration_s > 0 ? std::min<int64_t>(n, a + static_cast<int64_t>(std::llround(duration_s * r.fs))) : n;
      r.signal = r.signal.slice(1, a, b).contiguous();
    }
    return r;
  }
};

}  // namespace cardiotorch::cli
