// WFDB signal decoding (all binary formats, skew, multi-sample frames, multi-segment records).
// Torch-free. Decoding is two tight passes per signal file: bytes -> interleaved int32 sample
// stream (one switch per buffer, not per sample), then stream -> per-signal rows.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/wfdb.h"

#ifdef CARDIOTORCH_HAVE_FLAC
#include <FLAC/stream_decoder.h>
#endif

namespace cardiotorch::io::wfdb {
namespace {

constexpr int32_t kInv = kInvalidSample;

// A run of consecutive header signals stored in one file.
struct FileGroup {
  std::string file;
  int format = 0;
  int64_t byte_offset = 0;
  std::vector<int> signals;  // indices into Header::signals
  std::vector<int> pos;      // first stream slot of each signal within a frame
  int spf_total = 0;         // stream samples per frame
};

std::vector<FileGroup> make_groups(const Header& h) {
  std::vector<FileGroup> groups;
  for (int s = 0; s < static_cast<int>(h.signals.size()); ++s) {
    const SignalSpec& sig = h.signals[s];
    const bool join = !groups.empty() && groups.back().file == sig.file_name && groups.back().format == sig.format &&
                      sig.format != 0 && sig.file_name != "~";
    if (!join) {
      FileGroup g;
      g.file = sig.file_name;
      g.format = sig.format;
      g.byte_offset = sig.byte_offset;
      groups.push_back(g);
    }
    FileGroup& g = groups.back();
    g.signals.push_back(s);
    g.pos.push_back(g.spf_total);
    g.spf_total += sig.samples_per_frame;
  }
  return groups;
}

// Samples per packing unit and bytes per unit.
struct Packing {
  int samples;
  int bytes;
};

Packing packing(int fmt) {
  switch (fmt) {
    case 8:
    case 80: return {1, 1};
    case 16:
    case 61:
    case 160: return {1, 2};
    case 24: return {1, 3};
    case 32: return {1, 4};
    case 212: return {2, 3};
    case 310:
    case 311: return {3, 4};
    default: return {1, 1};
  }
}

// Bytes needed to hold the first `rem` (< unit) samples of a packing unit.
int partial_bytes(int fmt, int64_t rem) {
  if (rem == 0) return 0;
  if (fmt == 212) return 2;                 // sample 0: byte 0 + low nibble of byte 1
  if (fmt == 310) return rem == 1 ? 2 : 4;  // samples 0,1 live in words 0,1
  if (fmt == 311) return rem == 1 ? 2 : 3;  // bits 0-9, 10-19, 20-29 of a 32-bit word
  return 0;
}

int64_t samples_in_bytes(int fmt, int64_t nbytes) {
  const Packing p = packing(fmt);
  int64_t n = (nbytes / p.bytes) * p.samples;
  const int64_t rem = nbytes % p.bytes;
  for (int k = p.samples - 1; k >= 1; --k)
    if (rem >= partial_bytes(fmt, k)) {
      n += k;
      break;
    }
  return n;
}

int64_t bytes_for_samples(int fmt, int64_t n) {
  const Packing p = packing(fmt);
  return (n / p.samples) * p.bytes + partial_bytes(fmt, n % p.samples);
}

inline int32_t sext(uint32_t v, int bits) {
  const uint32_t m = 1u << (bits - 1);
  return static_cast<int32_t>((v ^ m) - m);
}

// Decodes `n` stream samples from `p` (starting at a packing-unit boundary). The caller
// guarantees bytes_for_samples(fmt, n) bytes are readable. Invalid sentinels -> kInv.
void decode_stream(int fmt, const uint8_t* p, int64_t n, int32_t* out) {
  switch (fmt) {
    case 8:  // first differences; accumulated per signal by the caller
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int8_t>(p[i]);
      break;
    case 80:
      for (int64_t i = 0; i < n; ++i) {
        const int32_t v = static_cast<int32_t>(p[i]) - 128;
        out[i] = v == -128 ? kInv : v;
      }
      break;
    case 16:  // -32768 is both the file sentinel and kInv
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int16_t>(p[2 * i] | (p[2 * i + 1] << 8));
      break;
    case 61:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int16_t>((p[2 * i] << 8) | p[2 * i + 1]);
      break;
    case 160:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(p[2 * i] | (p[2 * i + 1] << 8)) - 32768;
      break;
    case 24:
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t* q = p + 3 * i;
        const int32_t v = sext(q[0] | (q[1] << 8) | (static_cast<uint32_t>(q[2]) << 16), 24);
        out[i] = v == -(1 << 23) ? kInv : v;
      }
      break;
    case 32:
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t* q = p + 4 * i;
        const uint32_t u = q[0] | (q[1] << 8) | (q[2] << 16) | (static_cast<uint32_t>(q[3]) << 24);
        const int32_t v = static_cast<int32_t>(u);
        out[i] = v == std::numeric_limits<int32_t>::min() ? kInv : v;
      }
      break;
    case 212: {
      const int64_t pairs = n / 2;
      for (int64_t i = 0; i < pairs; ++i) {
        const uint8_t* q = p + 3 * i;
        int32_t a = sext(q[0] | ((q[1] & 0x0Fu) << 8), 12);
        int32_t b = sext(q[2] | ((q[1] & 0xF0u) << 4), 12);
        out[2 * i] = a == -2048 ? kInv : a;
        out[2 * i + 1] = b == -2048 ? kInv : b;
      }
      if (n & 1) {
        const uint8_t* q = p + 3 * pairs;
        int32_t a = sext(q[0] | ((q[1] & 0x0Fu) << 8), 12);
        out[n - 1] = a == -2048 ? kInv : a;
      }
      break;
    }
    case 310: {
      for (int64_t i = 0; i < n; i += 3) {
        const uint8_t* q = p + (i / 3) * 4;
        const uint32_t w0 = q[0] | (q[1] << 8);
        const int64_t left = n - i;
        const uint32_t w1 = left >= 2 ? static_cast<uint32_t>(q[2] | (q[3] << 8)) : 0u;
        int32_t v[3] = {sext((w0 >> 1) & 0x3FF, 10), sext((w1 >> 1) & 0x3FF, 10),
                        sext(((w0 >> 11) & 0x1F) | (((w1 >> 11) & 0x1F) << 5), 10)};
        for (int k = 0; k < 3 && k < left; ++k) out[i + k] = v[k] == -512 ? kInv : v[k];
      }
      break;
    }
    case 311: {
      for (int64_t i = 0; i < n; i += 3) {
        const uint8_t* q = p + (i / 3) * 4;
        const int64_t left = n - i;
        uint32_t w = q[0] | (q[1] << 8);
        if (left >= 2) w |= static_cast<uint32_t>(q[2]) << 16;
        if (left >= 3) w |= static_cast<uint32_t>(q[3]) << 24;
        int32_t v[3] = {sext(w & 0x3FF, 10), sext((w >> 10) & 0x3FF, 10), sext((w >> 20) & 0x3FF, 10)};
        for (int k = 0; k < 3 && k < left; ++k) out[i + k] = v[k] == -512 ? kInv : v[k];
      }
      break;
    }
    default: throw InternalError(str_cat("internal error: no decoder for format ", fmt));
  }
}

// Stream of one file group: its available frame count and windowed decoding into per-signal rows.
class GroupReader {
 public:
  GroupReader(const Header& h, const FileGroup& g, const std::string& dir) : h_(h), g_(g) {
    path_ = g.file.empty() || g.file[0] == '/' ? g.file : dir + "/" + g.file;
    if (is_flac_format(g.format)) {
      open_flac();
      return;
    }
    struct stat st {};
    CT_CHECK(::stat(path_.c_str(), &st) == 0, DataError, path_, ": cannot open signal file (named in ", h.origin, ":",
             h.signals[g.signals[0]].line, ")");
    const int64_t size = static_cast<int64_t>(st.st_size);
    CT_CHECK(size >= g.byte_offset, DataError, path_, ": file has ", size, " bytes, less than the byte offset ",
             g.byte_offset, " (", h.origin, ":", h.signals[g.signals[0]].line, ")");
    frames_ = samples_in_bytes(g.format, size - g.byte_offset) / std::max(1, g.spf_total);
  }

  int64_t frames() const { return frames_; }
  const std::string& path() const { return path_; }

  // Where decoded samples of one group member go: stored frame `first` lands at dst[0];
  // `nf` frames of `spf` samples each.
  struct Target {
    int member = 0;
    int32_t* dst = nullptr;
    int spf = 1;
    int64_t first = 0;
    int64_t nf = 0;
  };

  // Decodes stored frames [f0, f1) (clipped to frames()) straight into the targets, in chunks
  // that stay in cache: bytes -> stream chunk -> targets. Frames outside a target's range
  // are not written (the caller pre-fills with kInv).
  void read_into(int64_t f0, int64_t f1, const std::vector<Target>& targets) {
    f1 = std::min(f1, frames_);
    if (f0 >= f1 || targets.empty()) return;
    const int tot = g_.spf_total;
    if (is_flac_format(g_.format)) {
      std::vector<std::vector<int32_t>> rows(g_.signals.size());
      for (size_t k = 0; k < rows.size(); ++k)
        rows[k].resize(static_cast<size_t>((f1 - f0) * h_.signals[g_.signals[k]].samples_per_frame));
      read_flac(f0, f1, rows);
      for (const Target& t : targets) {
        const int64_t a = std::max(f0, t.first), b = std::min(f1, t.first + t.nf);
        if (a < b)
          std::memcpy(t.dst + (a - t.first) * t.spf, rows[static_cast<size_t>(t.member)].data() + (a - f0) * t.spf,
                      static_cast<size_t>((b - a) * t.spf) * sizeof(int32_t));
      }
      return;
    }
    const bool diff = g_.format == 8;  // first differences: decode from the start of the file
    if (diff) f0 = 0;
    std::vector<int64_t> acc;
    if (diff)
      for (int s : g_.signals) acc.push_back(h_.signals[s].initial_value);
    const Packing pk = packing(g_.format);
    const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 15) / tot);
    if (fd_ < 0) {
      fd_ = ::open(path_.c_str(), O_RDONLY);
      CT_CHECK(fd_ >= 0, DataError, path_, ": cannot open signal file");
    }
    for (int64_t a = f0; a < f1; a += chunk) {
      const int64_t b = std::min(f1, a + chunk);
      const int64_t sa = a * tot, sb = b * tot;
      const int64_t sal = sa - sa % pk.samples;
      const int64_t ns = sb - sal;
      const int64_t byte0 = g_.byte_offset + (sal / pk.samples) * pk.bytes;
      const int64_t nbytes = bytes_for_samples(g_.format, ns);
      buf_.resize(static_cast<size_t>(nbytes));
      int64_t got = 0;
      while (got < nbytes) {
        const ssize_t r =
            ::pread(fd_, buf_.data() + got, static_cast<size_t>(nbytes - got), static_cast<off_t>(byte0 + got));
        if (r <= 0) break;
        got += r;
      }
      CT_CHECK(got == nbytes, DataError, path_, ": short read (", got, " of ", nbytes, " bytes at offset ", byte0,
               "); file changed or truncated");
      stream_.resize(static_cast<size_t>(ns));
      decode_stream(g_.format, buf_.data(), ns, stream_.data());
      int32_t* st = stream_.data() + (sa - sal);
      if (diff) {
        for (int64_t fr = 0; fr < b - a; ++fr)
          for (size_t k = 0; k < acc.size(); ++k) {
            int32_t* x = st + fr * tot + g_.pos[k];
            for (int q = 0; q < h_.signals[g_.signals[k]].samples_per_frame; ++q) {
              acc[k] += x[q];
              x[q] = static_cast<int32_t>(acc[k]);
            }
          }
      }
      for (const Target& t : targets) {
        const int64_t lo = std::max(a, t.first), hi = std::min(b, t.first + t.nf);
        if (lo >= hi) continue;
        const int32_t* src = st + (lo - a) * tot + g_.pos[static_cast<size_t>(t.member)];
        int32_t* out = t.dst + (lo - t.first) * t.spf;
        const int64_t n = hi - lo;
        if (tot == 1) {
          std::memcpy(out, src, static_cast<size_t>(n) * sizeof(int32_t));
        } else if (t.spf == 1) {
          for (int64_t i = 0; i < n; ++i) out[i] = src[i * tot];
        } else {
          for (int64_t i = 0; i < n; ++i)
            for (int q = 0; q < t.spf; ++q) out[i * t.spf + q] = src[i * tot + q];
        }
      }
    }
  }

  ~GroupReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  GroupReader(const GroupReader&) = delete;
  GroupReader& operator=(const GroupReader&) = delete;

 private:
#ifdef CARDIOTORCH_HAVE_FLAC
  struct FlacState {
    std::vector<std::vector<int32_t>>* rows = nullptr;
    int64_t next = 0;   // high-resolution sample index of the next decoded sample
    int64_t begin = 0;  // wanted range [begin, end)
    int64_t end = 0;
    unsigned channels = 0;
    int32_t sentinel = 0;
    unsigned info_channels = 0;
    uint64_t info_total = 0;
    std::string error;
  };
  struct DecoderDeleter {
    void operator()(FLAC__StreamDecoder* d) const {
      if (d) FLAC__stream_decoder_delete(d);
    }
  };
  static FLAC__StreamDecoderWriteStatus on_write(const FLAC__StreamDecoder*, const FLAC__Frame* frame,
                                                 const FLAC__int32* const buffer[], void* client) {
    auto* s = static_cast<FlacState*>(client);
    if (frame->header.channels != s->channels) {
      s->error = str_cat("FLAC frame has ", frame->header.channels, " channels, expected ", s->channels);
      return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
    }
    const int64_t n = frame->header.blocksize;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t idx = s->next + i;
      if (idx < s->begin || idx >= s->end) continue;
      for (unsigned c = 0; c < s->channels; ++c) {
        const int32_t v = buffer[c][i];
        (*s->rows)[c][static_cast<size_t>(idx - s->begin)] = v == s->sentinel ? kInv : v;
      }
    }
    s->next += n;
    return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE;
  }
  static void on_metadata(const FLAC__StreamDecoder*, const FLAC__StreamMetadata* m, void* client) {
    auto* s = static_cast<FlacState*>(client);
    if (m->type == FLAC__METADATA_TYPE_STREAMINFO) {
      s->info_channels = m->data.stream_info.channels;
      s->info_total = m->data.stream_info.total_samples;
    }
  }
  static void on_error(const FLAC__StreamDecoder*, FLAC__StreamDecoderErrorStatus status, void* client) {
    auto* s = static_cast<FlacState*>(client);
    if (s->error.empty()) s->error = FLAC__StreamDecoderErrorStatusString[status];
  }
  void open_flac() {
    const SignalSpec& first = h_.signals[g_.signals[0]];
    const std::string where = str_cat(" (", h_.origin, ":", first.line, ")");
    CT_CHECK(g_.byte_offset == 0, DataError, path_, ": byte offsets are not supported for FLAC format ", g_.format,
             where);
    for (int s : g_.signals)
      CT_CHECK(h_.signals[s].samples_per_frame == first.samples_per_frame, DataError, path_,
               ": FLAC signals sharing a file must have equal samples per frame", where);
    std::FILE* probe = std::fopen(path_.c_str(), "rb");
    CT_CHECK(probe != nullptr, DataError, path_, ": cannot open signal file", where);
    std::fclose(probe);
    dec_.reset(FLAC__stream_decoder_new());
    CT_CHECK(dec_ != nullptr, DataError, path_, ": cannot create a FLAC decoder");
    FLAC__stream_decoder_set_md5_checking(dec_.get(), false);
    state_.channels = static_cast<unsigned>(g_.signals.size());
    state_.sentinel = format_invalid_value(g_.format);
    const auto st = FLAC__stream_decoder_init_file(dec_.get(), path_.c_str(), on_write, on_metadata, on_error, &state_);
    CT_CHECK(st == FLAC__STREAM_DECODER_INIT_STATUS_OK, DataError, path_, ": not a FLAC stream (",
             FLAC__StreamDecoderInitStatusString[st], ")", where);
    CT_CHECK(FLAC__stream_decoder_process_until_end_of_metadata(dec_.get()), DataError, path_,
             ": not a FLAC stream (cannot read its metadata)", where);
    CT_CHECK(state_.info_channels == state_.channels, DataError, path_, ": FLAC stream has ", state_.info_channels,
             " channels but the header puts ", state_.channels, " signals in it", where);
    const uint64_t total = state_.info_total;
    CT_CHECK(total > 0, DataError, path_, ": FLAC stream does not state its length", where);
    frames_ = static_cast<int64_t>(total) / first.samples_per_frame;
  }
  void read_flac(int64_t f0, int64_t f1, std::vector<std::vector<int32_t>>& rows) {
    const int spf = h_.signals[g_.signals[0]].samples_per_frame;
    state_.rows = &rows;
    state_.begin = f0 * spf;
    state_.end = f1 * spf;
    state_.error.clear();
    if (state_.begin > 0) {
      // The seek itself delivers the target frame to on_write, trimmed to start at the target.
      state_.next = state_.begin;
      const bool ok = FLAC__stream_decoder_seek_absolute(dec_.get(), static_cast<FLAC__uint64>(state_.begin));
      if (!ok) FLAC__stream_decoder_flush(dec_.get());
      CT_CHECK(ok && state_.error.empty(), DataError, path_, ": FLAC seek to sample ", state_.begin, " failed",
               state_.error.empty() ? "" : ": ", state_.error);
    } else {
      CT_CHECK(FLAC__stream_decoder_reset(dec_.get()) && FLAC__stream_decoder_process_until_end_of_metadata(dec_.get()),
               DataError, path_, ": cannot rewind FLAC stream");
      state_.next = 0;
    }
    while (state_.next < state_.end) {
      const bool ok = FLAC__stream_decoder_process_single(dec_.get());
      CT_CHECK(ok && state_.error.empty(), DataError, path_, ": FLAC decoding failed at sample ", state_.next, ": ",
               state_.error.empty() ? "decoder error" : state_.error);
      if (FLAC__stream_decoder_get_state(dec_.get()) == FLAC__STREAM_DECODER_END_OF_STREAM) break;
    }
    CT_CHECK(state_.next >= state_.end, DataError, path_, ": FLAC stream ended at sample ", state_.next, ", expected ",
             state_.end);
  }
  std::unique_ptr<FLAC__StreamDecoder, DecoderDeleter> dec_;
  FlacState state_;
#else
  void open_flac() {
    throw DataError(str_cat(path_, ": signal format ", g_.format, " (FLAC) needs libFLAC, which this build lacks (",
                            h_.origin, ":", h_.signals[g_.signals[0]].line, ")"));
  }
  void read_flac(int64_t, int64_t, std::vector<std::vector<int32_t>>&) {}
#endif

  const Header& h_;
  const FileGroup& g_;
  std::string path_;
  int64_t frames_ = 0;
  int fd_ = -1;
  std::vector<uint8_t> buf_;
  std::vector<int32_t> stream_;
};

std::vector<int> resolve_channels(const std::vector<int>& req, int nsig, const std::string& origin) {
  std::vector<int> ch;
  if (req.empty()) {
    for (int i = 0; i < nsig; ++i) ch.push_back(i);
    return ch;
  }
  for (int c : req) {
    CT_CHECK(c >= 0 && c < nsig, ConfigError, origin, ": channel ", c, " out of range (record has ", nsig, " signals)");
    ch.push_back(c);
  }
  return ch;
}

void fill_meta(DigitalSignals& out, const std::vector<SignalSpec>& specs) {
  for (int c : out.channels) {
    const SignalSpec& s = specs[c];
    out.names.push_back(s.description);
    out.units.push_back(s.units);
    out.gain.push_back(s.adc_gain);
    out.baseline.push_back(s.baseline);
  }
}

// rdsamp's default: one sample per frame, the C-integer-division mean of the frame's samples;
// a frame with an invalid sample is invalid.
void smooth(std::vector<int32_t>& row, int spf, int64_t n_frames) {
  if (spf == 1) return;
  for (int64_t i = 0; i < n_frames; ++i) {
    int64_t sum = 0;
    bool invalid = false;
    const int32_t* p = row.data() + i * spf;
    for (int q = 0; q < spf; ++q) {
      invalid |= p[q] == kInv;
      sum += p[q];
    }
    row[static_cast<size_t>(i)] = invalid ? kInv : static_cast<int32_t>(sum / spf);
  }
  row.resize(static_cast<size_t>(n_frames));
}

DigitalSignals read_single(const Header& h, const std::string& dir, const SignalReadOptions& o) {
  DigitalSignals out;
  out.header = h;
  out.channels = resolve_channels(o.channels, static_cast<int>(h.signals.size()), h.origin);
  fill_meta(out, h.signals);
  const std::vector<FileGroup> groups = make_groups(h);
  std::vector<int> group_of(h.signals.size()), member_of(h.signals.size());
  for (size_t gi = 0; gi < groups.size(); ++gi)
    for (size_t k = 0; k < groups[gi].signals.size(); ++k) {
      group_of[groups[gi].signals[k]] = static_cast<int>(gi);
      member_of[groups[gi].signals[k]] = static_cast<int>(k);
    }
  std::vector<char> needed(groups.size(), 0);
  for (int c : out.channels) needed[group_of[c]] = 1;

  // Open the needed groups (null signals, format 0 or file "~", have no file: always invalid).
  std::vector<std::unique_ptr<GroupReader>> readers(groups.size());
  int64_t available = std::numeric_limits<int64_t>::max();
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    if (!needed[gi] || groups[gi].format == 0 || groups[gi].file == "~") continue;
    readers[gi] = std::make_unique<GroupReader>(h, groups[gi], dir);
    available = std::min(available, readers[gi]->frames());
    if (h.n_samples >= 0)
      CT_CHECK(readers[gi]->frames() >= h.n_samples, DataError, readers[gi]->path(), ": holds ", readers[gi]->frames(),
               " frames but ", h.origin, " says ", h.n_samples, " samples per signal (truncated file or wrong header)");
  }
  int64_t total = h.n_samples;
  if (total < 0) total = available == std::numeric_limits<int64_t>::max() ? 0 : available;
  const int64_t from = o.from;
  const int64_t to = o.to < 0 ? total : o.to;
  CT_CHECK(from >= 0 && from <= to && to <= total, ConfigError, h.origin, ": sample window [", o.from, ", ", o.to,
           ") outside the record's ", total, " samples");
  out.from = from;
  out.n_frames = to - from;
  const int64_t nf = out.n_frames;

  // Decode each needed group once, straight into the output rows (skew shifts the stored
  // frames a signal's window comes from; frames past the end of the file stay invalid).
  out.samples.resize(out.channels.size());
  std::vector<std::vector<GroupReader::Target>> targets(groups.size());
  std::vector<int64_t> gfrom(groups.size(), std::numeric_limits<int64_t>::max()), gto(groups.size(), 0);
  for (size_t oc = 0; oc < out.channels.size(); ++oc) {
    const int c = out.channels[oc];
    const SignalSpec& sig = h.signals[c];
    out.samples[oc].assign(static_cast<size_t>(nf * sig.samples_per_frame), kInv);
    const size_t gi = static_cast<size_t>(group_of[c]);
    if (!readers[gi]) continue;
    GroupReader::Target t;
    t.member = member_of[c];
    t.dst = out.samples[oc].data();
    t.spf = sig.samples_per_frame;
    t.first = from + (o.ignore_skew ? 0 : sig.skew);
    t.nf = nf;
    targets[gi].push_back(t);
    gfrom[gi] = std::min(gfrom[gi], t.first);
    gto[gi] = std::max(gto[gi], t.first + nf);
  }
  for (size_t gi = 0; gi < groups.size(); ++gi)
    if (readers[gi]) readers[gi]->read_into(gfrom[gi], gto[gi], targets[gi]);
  for (size_t oc = 0; oc < out.channels.size(); ++oc) {
    const int spf = h.signals[out.channels[oc]].samples_per_frame;
    if (!o.expand_frames) smooth(out.samples[oc], spf, nf);
    out.samples_per_frame.push_back(o.expand_frames ? spf : 1);
  }
  return out;
}

// Converts `d` from one calibration to another (libwfdb's sigmap for variable layouts).
int32_t rescale(int32_t d, double g_from, int64_t b_from, double g_to, int64_t b_to) {
  if (d == kInv) return kInv;
  if (g_from == g_to && b_from == b_to) return d;
  const double v = (static_cast<double>(d) - b_from) * (g_to / g_from) + b_to;
  return static_cast<int32_t>(std::lround(v));
}

DigitalSignals read_multi(const Header& h, const std::string& dir, const SignalReadOptions& o, bool physical);

void to_physical(DigitalSignals& s) {
  s.physical.resize(s.samples.size());
  for (size_t c = 0; c < s.samples.size(); ++c) {
    const std::vector<int32_t>& d = s.samples[c];
    std::vector<double>& p = s.physical[c];
    p.resize(d.size());
    const double g = s.gain[c];
    const double b = static_cast<double>(s.baseline[c]);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const size_t n = d.size();
    const int32_t* dp = d.data();
    double* pp = p.data();
    for (size_t i = 0; i < n; ++i) {  // branch-free so it vectorises
      const double v = (static_cast<double>(dp[i]) - b) / g;
      pp[i] = dp[i] == kInv ? nan : v;
    }
  }
}

DigitalSignals read_any(const Header& h, const std::string& dir, const SignalReadOptions& o, bool physical) {
  if (h.is_multi_segment()) return read_multi(h, dir, o, physical);
  DigitalSignals s = read_single(h, dir, o);
  if (physical) to_physical(s);
  return s;
}

DigitalSignals read_multi(const Header& h, const std::string& dir, const SignalReadOptions& o, bool physical) {
  DigitalSignals out;
  out.header = h;
  const bool variable = h.has_layout_segment();
  // The layout: the layout segment's signals, or those of the first non-null segment (fixed layout).
  Header layout;
  bool have_layout = false;
  for (const Segment& seg : h.segments) {
    if (seg.name == "~") continue;
    layout = read_header(dir + "/" + seg.name);
    CT_CHECK(!layout.is_multi_segment(), DataError, layout.origin, ": a segment may not itself be multi-segment");
    have_layout = true;
    break;
  }
  CT_CHECK(have_layout, DataError, h.origin, ": multi-segment record has only null segments");
  CT_CHECK(static_cast<int>(layout.signals.size()) == h.n_signals || h.n_signals == 0, DataError, layout.origin,
           ": has ", layout.signals.size(), " signals but ", h.origin, " says ", h.n_signals);
  const int nsig = static_cast<int>(layout.signals.size());
  out.channels = resolve_channels(o.channels, nsig, h.origin);
  fill_meta(out, layout.signals);

  int64_t total = 0;
  for (const Segment& seg : h.segments) total += seg.n_samples;
  const int64_t from = o.from;
  const int64_t to = o.to < 0 ? total : o.to;
  CT_CHECK(from >= 0 && from <= to && to <= total, ConfigError, h.origin, ": sample window [", o.from, ", ", o.to,
           ") outside the record's ", total, " samples");
  out.from = from;
  out.n_frames = to - from;
  const size_t noc = out.channels.size();
  std::vector<int> spf(noc);
  for (size_t oc = 0; oc < noc; ++oc) {
    spf[oc] = o.expand_frames ? layout.signals[out.channels[oc]].samples_per_frame : 1;
    out.samples_per_frame.push_back(spf[oc]);
    out.samples.emplace_back(static_cast<size_t>(out.n_frames * spf[oc]), kInv);
  }
  if (physical) {
    out.physical.resize(noc);
    for (size_t oc = 0; oc < noc; ++oc)
      out.physical[oc].assign(out.samples[oc].size(), std::numeric_limits<double>::quiet_NaN());
  }

  int64_t seg_start = 0;
  for (size_t si = 0; si < h.segments.size(); ++si) {
    const Segment& seg = h.segments[si];
    const int64_t seg_end = seg_start + seg.n_samples;
    const int64_t a = std::max(from, seg_start), b = std::min(to, seg_end);
    const bool layout_seg = variable && si == 0;
    if (layout_seg || seg.name == "~" || a >= b) {
      seg_start = seg_end;
      continue;
    }
    const Header sh = read_header(dir + "/" + seg.name);
    CT_CHECK(!sh.is_multi_segment(), DataError, sh.origin, ": a segment may not itself be multi-segment");
    CT_CHECK(sh.n_samples < 0 || sh.n_samples >= seg.n_samples, DataError, sh.origin, ": has ", sh.n_samples,
             " samples but ", h.origin, ":", seg.line, " gives the segment ", seg.n_samples);
    // Map each wanted layout signal onto the segment's signals by name (variable layout) or
    // by position (fixed layout, where every segment has the layout's signals).
    std::vector<int> seg_ch;
    std::vector<size_t> seg_oc;
    std::vector<char> used(sh.signals.size(), 0);
    for (size_t oc = 0; oc < noc; ++oc) {
      const int lc = out.channels[oc];
      int match = -1;
      if (!variable) {
        CT_CHECK(static_cast<int>(sh.signals.size()) == nsig, DataError, sh.origin, ": fixed-layout segment has ",
                 sh.signals.size(), " signals, expected ", nsig);
        match = lc;
      } else {
        for (size_t k = 0; k < sh.signals.size(); ++k)
          if (!used[k] && sh.signals[k].description == layout.signals[lc].description) {
            match = static_cast<int>(k);
            break;
          }
      }
      if (match < 0) continue;  // absent in this segment: stays invalid / NaN
      used[static_cast<size_t>(match)] = variable ? 1 : 0;
      if (o.expand_frames)
        CT_CHECK(sh.signals[match].samples_per_frame == spf[oc], DataError, sh.origin, ":", sh.signals[match].line,
                 ": signal '", sh.signals[match].description, "' has ", sh.signals[match].samples_per_frame,
                 " samples per frame, the layout has ", spf[oc]);
      seg_ch.push_back(match);
      seg_oc.push_back(oc);
    }
    if (!seg_ch.empty()) {
      SignalReadOptions so = o;
      so.from = a - seg_start;
      so.to = b - seg_start;
      so.channels = seg_ch;
      const DigitalSignals part = read_any(sh, record_dir(sh.origin), so, physical);
      for (size_t k = 0; k < seg_ch.size(); ++k) {
        const size_t oc = seg_oc[k];
        const SignalSpec& ss = sh.signals[seg_ch[k]];
        const SignalSpec& ls = layout.signals[out.channels[oc]];
        const int64_t off = (a - from) * spf[oc];
        const std::vector<int32_t>& src = part.samples[k];
        int32_t* dst = out.samples[oc].data() + off;
        if (variable) {
          for (size_t i = 0; i < src.size(); ++i)
            dst[i] = rescale(src[i], ss.adc_gain, ss.baseline, ls.adc_gain, ls.baseline);
        } else {
          std::copy(src.begin(), src.end(), dst);
        }
        if (physical) std::copy(part.physical[k].begin(), part.physical[k].end(), out.physical[oc].begin() + off);
      }
    }
    seg_start = seg_end;
  }
  return out;
}

}  // namespace

bool flac_available() {
#ifdef CARDIOTORCH_HAVE_FLAC
  return true;
#else
  return false;
#endif
}

void decode_buffer(const uint8_t* data, size_t size, const std::vector<SignalSpec>& specs, int64_t n_frames,
                   std::vector<std::vector<int32_t>>& out, const std::string& origin) {
  CT_CHECK(!specs.empty(), DataError, origin, ": no signals to decode");
  const int fmt = specs[0].format;
  CT_CHECK(is_supported_format(fmt) && !is_flac_format(fmt), DataError, origin, ": cannot decode format ", fmt,
           " from memory");
  int tot = 0;
  std::vector<int> pos;
  for (const auto& s : specs) {
    CT_CHECK(s.format == fmt, DataError, origin, ": signals of one file must share a format");
    pos.push_back(tot);
    tot += s.samples_per_frame;
  }
  const int64_t avail = samples_in_bytes(fmt, static_cast<int64_t>(size)) / tot;
  CT_CHECK(n_frames >= 0 && n_frames <= avail, DataError, origin, ": buffer holds ", avail, " frames, asked for ",
           n_frames);
  std::vector<int32_t> stream(static_cast<size_t>(n_frames * tot));
  decode_stream(fmt, data, n_frames * tot, stream.data());
  out.assign(specs.size(), {});
  for (size_t k = 0; k < specs.size(); ++k) {
    const int spf = specs[k].samples_per_frame;
    out[k].resize(static_cast<size_t>(n_frames * spf));
    int64_t acc = specs[k].initial_value;
    for (int64_t i = 0; i < n_frames; ++i)
      for (int q = 0; q < spf; ++q) {
        const int32_t v = stream[static_cast<size_t>(i * tot + pos[k] + q)];
        if (fmt == 8) {
          acc += v;
          out[k][static_cast<size_t>(i * spf + q)] = static_cast<int32_t>(acc);
        } else {
          out[k][static_cast<size_t>(i * spf + q)] = v;
        }
      }
  }
}

DigitalSignals read_signals(const std::string& record_path, const SignalReadOptions& options, bool physical) {
  const Header h = read_header(record_path);
  return read_any(h, record_dir(h.origin), options, physical);
}

namespace {
template <class T>
Matrix<T> to_matrix(const std::vector<std::vector<T>>& rows, const std::string& origin) {
  Matrix<T> m;
  m.rows = static_cast<int64_t>(rows.size());
  m.cols = rows.empty() ? 0 : static_cast<int64_t>(rows[0].size());
  for (const auto& r : rows)
    CT_CHECK(static_cast<int64_t>(r.size()) == m.cols, ConfigError, origin,
             ": expanded channels differ in samples per frame; use read_signals()");
  m.data.reserve(static_cast<size_t>(m.rows * m.cols));
  for (const auto& r : rows) m.data.insert(m.data.end(), r.begin(), r.end());
  return m;
}
}  // namespace

Matrix<int32_t> read_digital(const std::string& record_path, const SignalReadOptions& options) {
  DigitalSignals s = read_signals(record_path, options, false);
  return to_matrix(s.samples, s.header.origin);
}

Matrix<double> read_physical(const std::string& record_path, const SignalReadOptions& options) {
  const Header h = read_header(record_path);
  if (h.is_multi_segment()) {  // needs each segment's own calibration
    DigitalSignals s = read_any(h, record_dir(h.origin), options, true);
    return to_matrix(s.physical, h.origin);
  }
  // One conversion pass straight into the matrix (no intermediate double rows).
  const DigitalSignals s = read_any(h, record_dir(h.origin), options, false);
  Matrix<double> m;
  m.rows = static_cast<int64_t>(s.samples.size());
  m.cols = s.samples.empty() ? 0 : static_cast<int64_t>(s.samples[0].size());
  for (const auto& r : s.samples)
    CT_CHECK(static_cast<int64_t>(r.size()) == m.cols, ConfigError, h.origin,
             ": expanded channels differ in samples per frame; use read_signals()");
  m.data.resize(static_cast<size_t>(m.rows * m.cols));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int64_t c = 0; c < m.rows; ++c) {
    const int32_t* d = s.samples[static_cast<size_t>(c)].data();
    double* p = m.row(c);
    const double g = s.gain[static_cast<size_t>(c)], b = static_cast<double>(s.baseline[static_cast<size_t>(c)]);
    for (int64_t i = 0; i < m.cols; ++i) {
      const double v = (static_cast<double>(d[i]) - b) / g;
      p[i] = d[i] == kInv ? nan : v;
    }
  }
  return m;
}

}  // namespace cardiotorch::io::wfdb
