#include "io/zip.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <ostream>

#include "cardiotorch/core/error.h"

namespace cardiotorch::io::zip {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;

uint64_t rd(const std::string& b, uint64_t off, int n, const std::string& origin) {
  CT_CHECK(off <= b.size() && static_cast<uint64_t>(n) <= b.size() - off, DataError, origin,
           ": truncated zip archive (record at byte ", off, " runs past the end)");
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(b[off + i])) << (8 * i);
  return v;
}

void put(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

uint32_t crc_of(const std::string& data) { return crc32_of(data.data(), data.size()); }

}  // namespace

void BufferSource::read(uint64_t offset, void* dst, uint64_t n, const std::string& origin) const {
  CT_CHECK(offset <= size_ && n <= size_ - offset, DataError, origin, ": truncated zip archive (", n,
           " bytes at offset ", offset, " run past the end of its ", size_, " bytes)");
  if (n > 0) std::memcpy(dst, data_ + offset, n);
}

FileSource::FileSource(const std::string& path) {
  f_ = std::fopen(path.c_str(), "rb");
  CT_CHECK(f_ != nullptr, DataError, path, ": cannot open (", std::strerror(errno), ")");
  if (fseeko(f_, 0, SEEK_END) != 0) {
    std::fclose(f_);
    throw DataError(str_cat(path, ": cannot seek (not a regular file?)"));
  }
  size_ = static_cast<uint64_t>(ftello(f_));
}

FileSource::~FileSource() {
  if (f_) std::fclose(f_);
}

void FileSource::read(uint64_t offset, void* dst, uint64_t n, const std::string& origin) const {
  CT_CHECK(offset <= size_ && n <= size_ - offset, DataError, origin, ": truncated (", n, " bytes at offset ", offset,
           " run past the end of its ", size_, " bytes)");
  if (n == 0) return;
  CT_CHECK(fseeko(f_, static_cast<off_t>(offset), SEEK_SET) == 0, DataError, origin, ": seek failed");
  CT_CHECK(std::fread(dst, 1, n, f_) == n, DataError, origin, ": read error at offset ", offset);
}

uint32_t crc32_of(const void* data, uint64_t n, uint32_t crc) {
  uLong c = crc;
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<uint64_t>(n, 1u << 30));
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(c);
}

std::vector<Member> list(const Source& src, const std::string& origin) {
  const uint64_t total = src.size();
  CT_CHECK(total >= 22, DataError, origin, ": not a zip archive (too short)");
  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes; the
  // ZIP64 locator is the 20 bytes before it.
  const uint64_t tail_len = std::min<uint64_t>(total, 22 + 65535 + 20);
  const uint64_t tail_start = total - tail_len;
  std::string tail(tail_len, '\0');
  src.read(tail_start, tail.data(), tail_len, origin);
  int64_t eocd = -1;
  for (int64_t p = static_cast<int64_t>(tail_len) - 22; p >= 0; --p) {
    if (rd(tail, p, 4, origin) == kEndSig) {
      eocd = p;
      break;
    }
  }
  CT_CHECK(eocd >= 0, DataError, origin, ": not a zip archive (no end-of-central-directory record)");
  uint64_t entries = rd(tail, eocd + 10, 2, origin);
  uint64_t cd_size = rd(tail, eocd + 12, 4, origin);
  uint64_t cd_offset = rd(tail, eocd + 16, 4, origin);
  if ((entries == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) && eocd >= 20 &&
      rd(tail, eocd - 20, 4, origin) == kZip64LocatorSig) {
    const uint64_t z64 = rd(tail, eocd - 20 + 8, 8, origin);
    std::string rec(56, '\0');
    src.read(z64, rec.data(), 56, origin);
    CT_CHECK(rd(rec, 0, 4, origin) == kZip64EndSig, DataError, origin, ": bad ZIP64 end record");
    entries = rd(rec, 32, 8, origin);
    cd_size = rd(rec, 40, 8, origin);
    cd_offset = rd(rec, 48, 8, origin);
  }
  CT_CHECK(cd_offset <= total && cd_size <= total - cd_offset, DataError, origin,
           ": corrupt zip archive (central directory of ", cd_size, " bytes at ", cd_offset, " lies outside the ",
           total, "-byte file)");
  // Every entry takes at least 46 bytes, which bounds what a corrupt count can make us reserve.
  CT_CHECK(entries <= cd_size / 46, DataError, origin, ": corrupt zip archive (", entries, " entries claimed in a ",
           cd_size, "-byte central directory)");
  std::string b(cd_size, '\0');
  src.read(cd_offset, b.data(), cd_size, origin);
  std::vector<Member> members;
  members.reserve(entries);
  uint64_t p = 0;
  for (uint64_t i = 0; i < entries; ++i) {
    CT_CHECK(rd(b, p, 4, origin) == kCentralSig, DataError, origin, ": corrupt zip central directory (entry ", i, ")");
    Member m;
    const uint64_t flags = rd(b, p + 8, 2, origin);
    m.method = static_cast<uint16_t>(rd(b, p + 10, 2, origin));
    m.crc32 = static_cast<uint32_t>(rd(b, p + 16, 4, origin));
    m.compressed_size = rd(b, p + 20, 4, origin);
    m.size = rd(b, p + 24, 4, origin);
    const uint64_t name_len = rd(b, p + 28, 2, origin);
    const uint64_t extra_len = rd(b, p + 30, 2, origin);
    const uint64_t comment_len = rd(b, p + 32, 2, origin);
    m.local_header_offset = rd(b, p + 42, 4, origin);
    CT_CHECK(p + 46 + name_len <= b.size(), DataError, origin, ": truncated zip central directory");
    m.name = b.substr(p + 46, name_len);
    CT_CHECK(!(flags & 1), DataError, origin, ": member '", m.name, "' is encrypted");
    // ZIP64 extra field: the 8-byte values appear only for the fields that are 0xffffffff.
    uint64_t e = p + 46 + name_len;
    const uint64_t e_end = e + extra_len;
    while (e + 4 <= e_end) {
      const uint64_t id = rd(b, e, 2, origin), len = rd(b, e + 2, 2, origin);
      if (id == 1) {
        uint64_t q = e + 4;
        if (m.size == 0xffffffff) m.size = rd(b, q, 8, origin), q += 8;
        if (m.compressed_size == 0xffffffff) m.compressed_size = rd(b, q, 8, origin), q += 8;
        if (m.local_header_offset == 0xffffffff) m.local_header_offset = rd(b, q, 8, origin);
      }
      e += 4 + len;
    }
    members.push_back(std::move(m));
    p += 46 + name_len + extra_len + comment_len;
  }
  return members;
}

std::vector<Member> list(const std::string& bytes, const std::string& origin) {
  return list(BufferSource(bytes), origin);
}

uint64_t data_offset(const Source& src, const Member& m, const std::string& origin) {
  std::string h(30, '\0');
  src.read(m.local_header_offset, h.data(), 30, origin);
  CT_CHECK(rd(h, 0, 4, origin) == kLocalSig, DataError, origin, ": member '", m.name, "': bad local header signature");
  const uint64_t start = m.local_header_offset + 30 + rd(h, 26, 2, origin) + rd(h, 28, 2, origin);
  CT_CHECK(start <= src.size() && m.compressed_size <= src.size() - start, DataError, origin, ": member '", m.name,
           "' is truncated (", m.compressed_size, " bytes expected at offset ", start, ", the archive has ", src.size(),
           ")");
  return start;
}

std::string extract(const Source& src, const Member& m, const std::string& origin) {
  const uint64_t start = data_offset(src, m, origin);
  std::string out;
  if (m.method == 0) {
    CT_CHECK(m.size == m.compressed_size, DataError, origin, ": member '", m.name,
             "' is stored but its sizes differ (corrupt archive)");
    out.resize(m.compressed_size);
    src.read(start, out.data(), m.compressed_size, origin);
  } else if (m.method == 8) {
    // Deflate expands at most ~1032:1, so a larger claimed size is corrupt (and must not be allocated).
    CT_CHECK(m.size <= m.compressed_size * 1032 + 1024, DataError, origin, ": member '", m.name, "' claims ", m.size,
             " bytes from ", m.compressed_size, " compressed (corrupt archive)");
    std::string in(m.compressed_size, '\0');
    src.read(start, in.data(), m.compressed_size, origin);
    out.resize(m.size);
    z_stream zs{};
    CT_CHECK(inflateInit2(&zs, -MAX_WBITS) == Z_OK, Error, origin, ": zlib inflateInit2 failed");
    zs.next_in = reinterpret_cast<Bytef*>(in.data());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    uint64_t in_left = m.compressed_size, out_left = m.size;
    int rc = Z_OK;
    while (rc == Z_OK) {
      const uInt in_chunk = static_cast<uInt>(std::min<uint64_t>(in_left, 1u << 30));
      const uInt out_chunk = static_cast<uInt>(std::min<uint64_t>(out_left, 1u << 30));
      zs.avail_in = in_chunk;
      zs.avail_out = out_chunk;
      rc = inflate(&zs, Z_NO_FLUSH);
      in_left -= in_chunk - zs.avail_in;
      out_left -= out_chunk - zs.avail_out;
      if (rc == Z_OK && in_chunk == zs.avail_in && out_chunk == zs.avail_out) rc = Z_DATA_ERROR;  // no progress
    }
    inflateEnd(&zs);
    CT_CHECK(rc == Z_STREAM_END && out_left == 0, DataError, origin, ": member '", m.name, "': corrupt deflate stream");
  } else {
    throw DataError(str_cat(origin, ": member '", m.name, "' uses compression method ", m.method,
                            " (only stored and deflate are supported)"));
  }
  CT_CHECK(crc_of(out) == m.crc32, DataError, origin, ": member '", m.name, "': CRC mismatch (corrupt archive)");
  return out;
}

std::string extract(const std::string& bytes, const Member& m, const std::string& origin) {
  return extract(BufferSource(bytes), m, origin);
}

void Writer::add(const std::string& name, const std::string& data) {
  CT_CHECK(data.size() < 0xffffffffull && out_.size() < 0xffffffffull, DataError, "zip member '", name,
           "': archives over 4 GiB are not supported");
  Member m;
  m.name = name;
  m.crc32 = crc_of(data);
  m.size = m.compressed_size = data.size();
  m.local_header_offset = out_.size();
  put(out_, kLocalSig, 4);
  put(out_, 20, 2);            // version needed
  put(out_, 0, 2);             // flags
  put(out_, 0, 2);             // stored
  put(out_, 0, 2);             // time
  put(out_, (1 << 5) | 1, 2);  // date 1980-01-01: fixed, so archives are reproducible
  put(out_, m.crc32, 4);
  put(out_, m.size, 4);
  put(out_, m.size, 4);
  put(out_, name.size(), 2);
  put(out_, 0, 2);
  out_ += name;
  out_ += data;
  members_.push_back(std::move(m));
}

std::string Writer::finish() {
  const uint64_t cd_start = out_.size();
  for (const Member& m : members_) {
    put(out_, kCentralSig, 4);
    put(out_, 20, 2);  // made by
    put(out_, 20, 2);  // needed
    put(out_, 0, 2);
    put(out_, 0, 2);
    put(out_, 0, 2);
    put(out_, (1 << 5) | 1, 2);
    put(out_, m.crc32, 4);
    put(out_, m.compressed_size, 4);
    put(out_, m.size, 4);
    put(out_, m.name.size(), 2);
    put(out_, 0, 2);  // extra
    put(out_, 0, 2);  // comment
    put(out_, 0, 2);  // disk
    put(out_, 0, 2);  // internal attrs
    put(out_, 0, 4);  // external attrs
    put(out_, m.local_header_offset, 4);
    out_ += m.name;
  }
  const uint64_t cd_size = out_.size() - cd_start;
  CT_CHECK(members_.size() < 0xffff && out_.size() < 0xffffffffull, DataError,
           "zip archive too large (over 65535 members or 4 GiB)");
  put(out_, kEndSig, 4);
  put(out_, 0, 2);
  put(out_, 0, 2);
  put(out_, members_.size(), 2);
  put(out_, members_.size(), 2);
  put(out_, cd_size, 4);
  put(out_, cd_start, 4);
  put(out_, 0, 2);
  std::string result;
  result.swap(out_);
  members_.clear();
  return result;
}

StreamWriter::StreamWriter(std::ostream& out, std::string origin, bool force_zip64)
    : out_(out), origin_(std::move(origin)), force_zip64_(force_zip64) {}

void StreamWriter::write(const std::string& bytes) {
  out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  CT_CHECK(out_.good(), Error, origin_, ": write failed (disk full?)");
  pos_ += bytes.size();
}

void StreamWriter::add(const std::string& name, const void* data, uint64_t size, uint32_t alignment) {
  CT_CHECK(name.size() < 0xffff, Error, origin_, ": zip member name too long");
  Member m;
  m.name = name;
  m.crc32 = crc32_of(data, size);
  m.size = m.compressed_size = size;
  m.local_header_offset = pos_;
  const bool zip64 = force_zip64_ || size >= 0xffffffffull;
  std::string extra;
  if (zip64) {  // sizes only: the local header has no offset field
    put(extra, 1, 2);
    put(extra, 16, 2);
    put(extra, size, 8);
    put(extra, size, 8);
  }
  if (alignment > 1) {
    // Pad with an extra field (id "FB", as torch's writer does) so the data starts aligned.
    const uint64_t start = pos_ + 30 + name.size() + extra.size() + 4;
    const uint64_t pad = (alignment - start % alignment) % alignment;
    put(extra, 0x4246, 2);
    put(extra, pad, 2);
    extra.append(pad, 'Z');
  }
  std::string h;
  put(h, kLocalSig, 4);
  put(h, zip64 ? 45 : 20, 2);  // version needed
  put(h, 0, 2);                // flags
  put(h, 0, 2);                // stored
  put(h, 0, 2);                // time
  put(h, (1 << 5) | 1, 2);     // date 1980-01-01: fixed, so archives are reproducible
  put(h, m.crc32, 4);
  put(h, zip64 ? 0xffffffffull : size, 4);
  put(h, zip64 ? 0xffffffffull : size, 4);
  put(h, name.size(), 2);
  put(h, extra.size(), 2);
  h += name;
  h += extra;
  write(h);
  const char* p = static_cast<const char*>(data);
  for (uint64_t left = size; left > 0;) {  // ostream::write takes a signed count
    const uint64_t chunk = std::min<uint64_t>(left, 1ull << 30);
    out_.write(p, static_cast<std::streamsize>(chunk));
    CT_CHECK(out_.good(), Error, origin_, ": write failed (disk full?)");
    p += chunk;
    left -= chunk;
  }
  pos_ += size;
  members_.push_back(std::move(m));
}

void StreamWriter::finish() {
  const uint64_t cd_start = pos_;
  for (const Member& m : members_) {
    const bool zip64 = force_zip64_ || m.size >= 0xffffffffull || m.local_header_offset >= 0xffffffffull;
    std::string extra;
    if (zip64) {
      put(extra, 1, 2);
      put(extra, 24, 2);
      put(extra, m.size, 8);
      put(extra, m.compressed_size, 8);
      put(extra, m.local_header_offset, 8);
    }
    std::string c;
    put(c, kCentralSig, 4);
    put(c, zip64 ? 45 : 20, 2);  // made by
    put(c, zip64 ? 45 : 20, 2);  // needed
    put(c, 0, 2);
    put(c, 0, 2);
    put(c, 0, 2);
    put(c, (1 << 5) | 1, 2);
    put(c, m.crc32, 4);
    put(c, zip64 ? 0xffffffffull : m.compressed_size, 4);
    put(c, zip64 ? 0xffffffffull : m.size, 4);
    put(c, m.name.size(), 2);
    put(c, extra.size(), 2);
    put(c, 0, 2);  // comment
    put(c, 0, 2);  // disk
    put(c, 0, 2);  // internal attrs
    put(c, 0, 4);  // external attrs
    put(c, zip64 ? 0xffffffffull : m.local_header_offset, 4);
    c += m.name;
    c += extra;
    write(c);
  }
  const uint64_t cd_size = pos_ - cd_start;
  const uint64_t n = members_.size();
  const bool zip64 = force_zip64_ || n >= 0xffff || cd_start >= 0xffffffffull || cd_size >= 0xffffffffull;
  std::string e;
  if (zip64) {
    const uint64_t z64 = pos_;
    put(e, kZip64EndSig, 4);
    put(e, 44, 8);  // size of the rest of this record
    put(e, 45, 2);
    put(e, 45, 2);
    put(e, 0, 4);
    put(e, 0, 4);
    put(e, n, 8);
    put(e, n, 8);
    put(e, cd_size, 8);
    put(e, cd_start, 8);
    put(e, kZip64LocatorSig, 4);
    put(e, 0, 4);
    put(e, z64, 8);
    put(e, 1, 4);
  }
  put(e, kEndSig, 4);
  put(e, 0, 2);
  put(e, 0, 2);
  put(e, zip64 ? 0xffff : n, 2);
  put(e, zip64 ? 0xffff : n, 2);
  put(e, zip64 ? 0xffffffffull : cd_size, 4);
  put(e, zip64 ? 0xffffffffull : cd_start, 4);
  put(e, 0, 2);
  write(e);
  out_.flush();
  CT_CHECK(out_.good(), Error, origin_, ": write failed (disk full?)");
  members_.clear();
}

}  // namespace cardiotorch::io::zip
