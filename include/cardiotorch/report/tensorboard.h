#pragma once
// TensorBoard event files without TensorFlow or protobuf: TFRecord framing (length, masked
// CRC-32C of the length, payload, masked CRC-32C of the payload) around hand-encoded `Event`
// protobuf messages. Scalars (Summary.Value.simple_value), histograms (HistogramProto) and text
// (the text plugin's string tensor) are written; TensorBoard, tensorboardX and torch's
// SummaryWriter read the same files. The reader is for tests and tools: it checks every CRC.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace cardiotorch::report {

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78); `crc` continues an earlier value.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);
/// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t size);

struct TensorBoardOptions {
  int histogram_bins = 30;      ///< equal-width buckets between the minimum and the maximum
  std::string filename_suffix;  ///< appended to the event file name
};

class TensorBoardWriter {
 public:
  /// Creates `log_dir` (and parents) and a new file events.out.tfevents.<unix time>.<host>.<pid>.<n>
  /// in it, starting with the file_version event. Throws Error when it cannot be written.
  explicit TensorBoardWriter(const std::string& log_dir, TensorBoardOptions options = {});
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  /// One scalar (TensorBoard stores float32). wall_time < 0: now.
  void add_scalar(const std::string& tag, double value, int64_t step, double wall_time = -1);
  /// Several scalars in one event, tags prefixed by `prefix` + "/" when a prefix is given
  /// ("val" + "auroc_macro" -> "val/auroc_macro"). Non-finite values are written as they are
  /// (TensorBoard shows NaN as a gap).
  void add_scalars(const std::map<std::string, double>& values, int64_t step, const std::string& prefix = "",
                   double wall_time = -1);
  /// A histogram of `values` (NaN and infinities are skipped; nothing is written when none is
  /// finite).
  void add_histogram(const std::string& tag, const std::vector<double>& values, int64_t step, double wall_time = -1);
  /// Markdown text for TensorBoard's text dashboard (configs, notes).
  void add_text(const std::string& tag, const std::string& text, int64_t step, double wall_time = -1);
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_event(const std::string& event);
  std::string path_;
  TensorBoardOptions options_;
  std::ofstream out_;
};

// ---------------------------------------------------------------------------------- reading

struct TbHistogram {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> bucket_limit, bucket;
};

struct TbValue {
  enum class Kind { kScalar, kHistogram, kText, kOther };
  std::string tag;
  Kind kind = Kind::kOther;
  double scalar = 0;  ///< simple_value (float32 widened)
  TbHistogram histogram;
  std::string text;
  std::string plugin;  ///< SummaryMetadata.plugin_data.plugin_name, "" if none
};

struct TbEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;  ///< "brain.Event:2" in the first event
  std::vector<TbValue> values;
};

/// Reads every event of a file; DataError naming the file and byte offset on a truncated record,
/// a CRC mismatch or a malformed message.
std::vector<TbEvent> read_tensorboard_events(const std::string& path);

}  // namespace cardiotorch::report
