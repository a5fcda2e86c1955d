#pragma once
// WFDB annotation files in MIT format (.atr, .qrs, .ecg, ...): reading, writing, the standard
// code <-> mnemonic table and the AAMI beat classes. Torch-free.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cardiotorch::io {

struct Annotation {
  int64_t sample = 0;  ///< time in samples from the start of the record
  int code = 0;        ///< annotation type (1..49; WFDB anntyp)
  std::string symbol;  ///< mnemonic ("N", "V", "+", ...), from the file's own table when it defines one
  int subtype = 0;     ///< WFDB subtyp (signed char)
  int chan = 0;        ///< WFDB chan (unsigned char, sticky across annotations)
  int num = 0;         ///< WFDB num (signed char, sticky across annotations)
  std::string aux;     ///< auxiliary text, e.g. "(AFIB" for rhythm changes; "" when absent
};

struct AnnotationSet {
  std::string origin;  ///< file it was read from
  /// Custom mnemonics declared in the file's "## annotation type definitions" block:
  /// code -> {mnemonic, description}.
  std::map<int, std::pair<std::string, std::string>> definitions;
  /// "## time resolution: N" header: samples are then in units of 1/N s (e.g. frames x
  /// samples-per-frame for a high-resolution annotator); 0 = the record's sampling rate.
  double time_resolution = 0;
  std::vector<Annotation> annotations;
};

/// Puts the times of `set` in samples at the record's rate `fs`. A file with a "## time
/// resolution: R" header counts in ticks of 1/R s: each time t becomes round(t·fs/R) and
/// time_resolution becomes 0. A file without one already counts samples at fs (nothing
/// changes). Code that uses Annotation::sample against a signal calls this first.
void to_sample_rate(AnnotationSet& set, double fs);

/// Standard WFDB mnemonic for a code (0..49); "[15]"-style for codes without one.
std::string annotation_symbol(int code);
/// Code of a mnemonic, or -1 if unknown. Accepts "`" and "'" as aliases of "(" and ")"
/// (the PQ-junction / J-point spellings of waveform onset/offset).
int annotation_code(const std::string& symbol);
/// True for beat (QRS) annotation codes (N L R a V F J A S E j / Q e n f B r ...).
bool is_beat_code(int code);

/// AAMI EC57 beat classes: N (N L R e j), S (A a J S), V (V E), F (F), Q (/ f Q).
/// Returns 'N', 'S', 'V', 'F', 'Q', or 0 for symbols that are not mapped (non-beats and
/// the beats AAMI leaves out, e.g. B, r, n).
char aami_class(const std::string& symbol);

/// Parses MIT-format annotation bytes. `origin` names the file in errors (DataError
/// with the byte offset for truncated or malformed input).
AnnotationSet parse_annotations(const uint8_t* data, size_t size, const std::string& origin = "<annotations>");
/// Reads "<record>.<annotator>" (e.g. ("dir/100", "atr")) or a path when annotator is "".
AnnotationSet read_annotations(const std::string& record_path, const std::string& annotator = "");

/// MIT-format bytes for `annotations` (sorted by sample; SKIP for large/negative gaps).
/// `definitions` and `time_resolution` are written as the leading header block when set.
std::vector<uint8_t> encode_annotations(const std::vector<Annotation>& annotations,
                                        const std::map<int, std::pair<std::string, std::string>>& definitions = {},
                                        double time_resolution = 0);
void write_annotations(const std::string& path, const std::vector<Annotation>& annotations,
                       const std::map<int, std::pair<std::string, std::string>>& definitions = {},
                       double time_resolution = 0);

/// Counts of AAMI classes over beats of `annotations` (keys 'N','S','V','F','Q').
std::map<char, int64_t> aami_counts(const std::vector<Annotation>& annotations);

}  // namespace cardiotorch::io
