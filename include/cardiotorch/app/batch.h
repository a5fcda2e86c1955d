#pragma once
// Whole datasets in one process: `cardiotorch convert` and `cardiotorch preprocess` over many
// records or directories. The records are planned (input -> output path), processed by a pool of
// worker threads (each record on one thread: parallel over records, not inside each) with a
// progress bar, and listed in a manifest. A bad record stops the run (on_error: raise) or is
// counted, listed and skipped (on_error: skip); results and the manifest are in plan order
// whatever the thread count.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cardiotorch/io/record.h"
#include "cardiotorch/io/writer.h"
#include "cardiotorch/signal/pipeline.h"

namespace cardiotorch::app {

/// One record of a batch: where it is read from and where its result goes.
struct BatchItem {
  std::string input;   ///< record path (as found: "dir/sub/100.hea", or as given)
  std::string output;  ///< output file
};

/// Output paths for `inputs` under `out_dir`, each with extension `ext` (".npy"). A directory is
/// searched recursively (io::find_records) and its records keep their path relative to it
/// (ptbxl/records500/00000/00001_hr.hea -> OUT/records500/00000/00001_hr.npy); with several
/// inputs, a directory's records go under OUT/<directory name>/. A record given by itself
/// becomes OUT/<record name><ext>. UsageError when an input does not exist, no record is found,
/// or two records would write the same file.
std::vector<BatchItem> plan_batch(const std::vector<std::string>& inputs, const std::string& out_dir,
                                  const std::string& ext);

struct BatchOptions {
  std::string on_error = "raise";  ///< raise: stop at the first bad record | skip: list it and go on
  int threads = 0;                 ///< worker threads (0 = all cores)
  bool progress = true;            ///< progress bar (also off under -q)
  std::string label = "records";   ///< progress bar label
  void validate() const;
};

/// What became of one item.
struct BatchItemResult {
  std::string input, output;
  bool ok = false;
  std::string error;           ///< the one-line error, when !ok
  double fs = 0.0;             ///< of the written record
  std::vector<int64_t> shape;  ///< of the written signal
  std::vector<std::string> leads;
};

struct BatchResult {
  std::vector<BatchItemResult> items;  ///< in plan order
  int64_t n_ok = 0, n_failed = 0;
  double seconds = 0.0;
  int threads = 1;
};

/// The work for one item: writes item.output and fills fs/shape/leads of the result.
using BatchJob = std::function<void(const BatchItem& item, int64_t index, BatchItemResult& result)>;

/// Runs `job` on every item. on_error raise: after the workers stop, the failure of the earliest
/// failed item (plan order) is rethrown with its category; skip: failures are recorded and the
/// run goes on.
BatchResult run_batch(const std::vector<BatchItem>& items, const BatchJob& job, const BatchOptions& options);

/// Reads a record for a batch (the CLI's reader applies --from/--duration/--leads/--fs).
using RecordSource = std::function<io::Record(const std::string& path)>;

/// Converts every item: reads it with `read` and writes it in the format of its output's extension.
BatchResult convert_records(const std::vector<BatchItem>& items, const RecordSource& read, const BatchOptions& options,
                            const io::WriteRecordOptions& write = {});

struct PreprocessRecordsOptions {
  bool training = false;  ///< run augmenters and random crops
  uint64_t seed = 0;      ///< item i's random steps draw from derive_seed(seed, i)
  /// Units of the output (e.g. "a.u." after normalisation); "" keeps the input's.
  std::string units;
};

/// Runs `pipeline` on every item and writes the result (float32) in its output's format.
BatchResult preprocess_records(const std::vector<BatchItem>& items, const RecordSource& read,
                               const signal::Pipeline& pipeline, const PreprocessRecordsOptions& preprocess,
                               const BatchOptions& options);

/// Writes a CSV manifest: input, output (relative to the manifest's directory), status (ok |
/// failed), fs, shape (LxN), leads (space separated), error.
void write_manifest(const BatchResult& result, const std::string& path);

/// "converted 522 of 522 records in 3.1 s (168 records/s, 2 threads)" and, when some failed, one
/// line per failure ("  path: error").
std::string summarize_batch(const BatchResult& result, const std::string& verb);

}  // namespace cardiotorch::app
