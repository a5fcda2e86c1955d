#pragma once
// WFDB (PhysioNet) records: header parsing, signal decoding and writing.
//
// Torch-free: everything declared here except read_record() is implemented without
// ATen (src/io/wfdb_header.cpp, wfdb_signal.cpp, wfdb_write.cpp), so the parsers can
// be fuzzed and benchmarked on their own. Semantics follow the WFDB header(5) and
// signal(5) manual pages and the behaviour of the C WFDB tools (rdsamp):
//  - digital output keeps WFDB's invalid-sample value (-32768) for invalid samples of
//    every format (rdsamp prints -32768 also for format 212 / 8-bit / 24-bit sentinels);
//  - physical output is (d - baseline) / gain, NaN for invalid samples;
//  - by default a signal with several samples per frame is reduced to one sample per
//    frame by averaging (C integer division, like rdsamp; a frame holding an invalid sample
//    is invalid, where rdsamp would average the sentinel in); `expand_frames` keeps all.
#include <cstdint>
#include <string>
#include <vector>

namespace cardiotorch::io {
struct Record;
struct ReadOptions;
}  // namespace cardiotorch::io

namespace cardiotorch::io::wfdb {

/// WFDB_INVALID_SAMPLE: the digital value of an invalid (missing) sample in decoded output.
constexpr int32_t kInvalidSample = -32768;

/// One signal line of a header.
struct SignalSpec {
  std::string file_name;        ///< signal file, relative to the header's directory; "~" = none
  int format = 0;               ///< storage format (8, 16, 212, ...); 0 = null signal
  int samples_per_frame = 1;    ///< 'x' suffix
  int skew = 0;                 ///< ':' suffix, in frames
  int64_t byte_offset = 0;      ///< '+' suffix, bytes skipped at the start of the file
  double adc_gain = 200.0;      ///< adu per physical unit (WFDB default 200 when absent or 0)
  bool gain_given = false;      ///< the header stated a non-zero gain
  int64_t baseline = 0;         ///< adu of physical zero; defaults to adc_zero
  bool baseline_given = false;  ///< the '(baseline)' part was present
  std::string units = "mV";     ///< after '/'; WFDB's default is mV
  bool units_given = false;
  int adc_resolution = 0;  ///< bits; 0 = not stated (then a format default is used)
  int64_t adc_zero = 0;
  int64_t initial_value = 0;  ///< first sample (difference formats 8); defaults to adc_zero
  bool initial_value_given = false;
  int32_t checksum = 0;  ///< 16-bit sum of all samples
  bool checksum_given = false;
  int block_size = 0;
  bool block_size_given = false;
  std::string description;  ///< signal name (e.g. "MLII"), may contain spaces
  int line = 0;             ///< 1-based line number in the header file
};

/// One segment of a multi-segment record.
struct Segment {
  std::string name;       ///< record name of the segment; "~" = null segment (no data)
  int64_t n_samples = 0;  ///< 0 for the layout segment of a variable-layout record
  int line = 0;
};

struct Header {
  std::string origin;       ///< file name used in messages ("dir/100.hea")
  std::string record_name;  ///< as written on the record line (may be "E00001.mat")
  int n_segments = 0;       ///< 0 = single-segment record
  int n_signals = 0;
  double fs = 250.0;  ///< frames per second (WFDB default 250 when absent)
  bool fs_given = false;
  double counter_freq = 0.0;  ///< '/counter' part; 0 = absent (then equals fs)
  double base_counter = 0.0;  ///< '(base)' part of the counter frequency
  bool base_counter_given = false;
  int64_t n_samples = -1;             ///< samples per signal; -1 = not stated
  std::string base_time;              ///< "HH:MM:SS[.sss]" as written, "" = absent
  std::string base_date;              ///< "DD/MM/YYYY" as written, "" = absent
  std::vector<SignalSpec> signals;    ///< empty for a multi-segment master header
  std::vector<Segment> segments;      ///< multi-segment records only
  std::vector<std::string> comments;  ///< text after '#' (leading space removed), in order

  bool is_multi_segment() const { return n_segments > 0; }
  /// Variable layout: the first segment has length 0 and is the layout header.
  bool has_layout_segment() const { return !segments.empty() && segments.front().n_samples == 0; }
  /// Seconds since midnight of base_time, or -1 when absent.
  double base_time_seconds() const;
};

/// Parses header text. `origin` names the file in error messages ("path.hea:LINE: field ...").
/// Throws DataError for malformed headers.
Header parse_header(const std::string& text, const std::string& origin = "<header>");
/// Reads "<record>.hea" ("dir/100", "dir/100.hea" both accepted).
Header read_header(const std::string& record_path);
/// Renders a header in WFDB syntax (the inverse of parse_header for the fields it holds).
std::string format_header(const Header& header);

/// Path of the record's .hea file and directory for a user-given record path.
std::string header_path(const std::string& record_path);
std::string record_dir(const std::string& record_path);

/// Format-specific properties.
bool is_supported_format(int format);
bool is_flac_format(int format);
/// Whether this build decodes FLAC formats (508/516/524); without libFLAC they raise DataError.
bool flac_available();
/// Digital value stored in files of this format to mark an invalid sample (e.g. -2048 for 212),
/// or INT32_MIN when the format has none (8).
int32_t format_invalid_value(int format);
/// Default ADC resolution in bits of a format (e.g. 12 for 212).
int format_default_resolution(int format);

/// channels x samples, row-major (row c holds channel c).
template <class T>
struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<T> data;
  T& operator()(int64_t r, int64_t c) { return data[static_cast<size_t>(r * cols + c)]; }
  const T& operator()(int64_t r, int64_t c) const { return data[static_cast<size_t>(r * cols + c)]; }
  const T* row(int64_t r) const { return data.data() + r * cols; }
  T* row(int64_t r) { return data.data() + r * cols; }
};

struct SignalReadOptions {
  int64_t from = 0;           ///< first frame (inclusive)
  int64_t to = -1;            ///< end frame (exclusive); -1 = n_samples (or what the files hold)
  std::vector<int> channels;  ///< signal indices in output order; empty = all
  /// Keep every sample of multi-sample frames ("rdsamp -H"); output row c then has
  /// (to - from) * samples_per_frame[c] samples (see read_digital_expanded).
  bool expand_frames = false;
  /// Ignore the ':' skew of the header (read samples where they are stored).
  bool ignore_skew = false;
};

/// Decoded samples of a record (single- or multi-segment).
struct DigitalSignals {
  Header header;                   ///< the record's header (master header for multi-segment)
  std::vector<int> channels;       ///< signal indices that were read, in output order
  std::vector<std::string> names;  ///< per output channel
  std::vector<std::string> units;
  std::vector<double> gain;  ///< per output channel (layout/first segment for multi-segment)
  std::vector<int64_t> baseline;
  std::vector<int> samples_per_frame;  ///< per output channel (1 each unless expanded)
  int64_t from = 0;
  int64_t n_frames = 0;
  /// Per channel, n_frames * samples_per_frame[c] values (equal lengths unless expanded).
  std::vector<std::vector<int32_t>> samples;
  /// Physical values, filled by read_physical*: NaN for invalid samples.
  std::vector<std::vector<double>> physical;
};

/// Digital samples (channels x frames). Multi-sample frames are averaged unless
/// options.expand_frames (then all channels must share samples per frame; else ConfigError).
/// Multi-segment fixed layouts keep each segment's digital units; variable layouts rescale to
/// the layout's gain/baseline like libwfdb.
Matrix<int32_t> read_digital(const std::string& record_path, const SignalReadOptions& options = {});
/// Physical samples (channels x frames); NaN where invalid.
Matrix<double> read_physical(const std::string& record_path, const SignalReadOptions& options = {});
/// Everything: digital, physical (when `physical`) and per-channel metadata; honours expand_frames.
DigitalSignals read_signals(const std::string& record_path, const SignalReadOptions& options = {},
                            bool physical = true);

/// Decodes the first `n_frames` frames of one signal file's interleaved samples from a memory
/// buffer (starting at frame 0, after any byte offset): `specs` are the signals stored in that
/// file in header order (one non-FLAC format). `out[k]` receives n_frames * spf[k] samples of
/// signal k. DataError (naming `origin`) when the buffer holds fewer frames. For fuzzing/tests.
void decode_buffer(const uint8_t* data, size_t size, const std::vector<SignalSpec>& specs, int64_t n_frames,
                   std::vector<std::vector<int32_t>>& out, const std::string& origin);

struct WriteOptions {
  int format = 16;  ///< 16 or 212 (all signals in one interleaved file "<name>.dat")
};

/// Writes "<dir>/<header.record_name>.hea" and its .dat. `samples[c]` are digital values of
/// signal c (all the same length; kInvalidSample is stored as the format's invalid value).
/// Signal specs in `header` give gain/baseline/units/description; format, file name,
/// checksum, initial value and n_samples are filled in by the writer. Returns the header
/// as written.
Header write_record(const std::string& dir, Header header, const std::vector<std::vector<int32_t>>& samples,
                    const WriteOptions& options = {});

/// A WFDB record as an io::Record (float32 physical, NaN = invalid). Channels may be given by
/// index or signal name. Implemented in wfdb_record.cpp (uses ATen).
Record read_record(const std::string& record_path, const ReadOptions& options);

}  // namespace cardiotorch::io::wfdb
