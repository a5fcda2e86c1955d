#include "io/zip.h"

#include <zlib.h>

#include <cstring>
#include <limits>

#include "cardiotorch/core/error.h"

namespace cardiotorch::io::zip {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;

uint64_t rd(const std::string& b, uint64_t off, int n, const std::string& origin) {
  CT_CHECK(off + n <= b.size(), DataError, origin, ": truncated zip archive (record at byte ", off,
           " runs past the end)");
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(b[off + i])) << (8 * i);
  return v;
}

void put(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

uint32_t crc_of(const std::string& data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(p), chunk);
    p += chunk;
    left -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

std::vector<Member> list(const std::string& b, const std::string& origin) {
  CT_CHECK(b.size() >= 22, DataError, origin, ": not a zip archive (too short)");
  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  int64_t eocd = -1;
  const int64_t lowest = std::max<int64_t>(0, static_cast<int64_t>(b.size()) - 22 - 65535);
  for (int64_t p = static_cast<int64_t>(b.size()) - 22; p >= lowest; --p) {
    if (rd(b, p, 4, origin) == kEndSig) {
      eocd = p;
      break;
    }
  }
  CT_CHECK(eocd >= 0, DataError, origin, ": not a zip archive (no end-of-central-directory record)");
  uint64_t entries = rd(b, eocd + 10, 2, origin);
  uint64_t cd_offset = rd(b, eocd + 16, 4, origin);
  if ((entries == 0xffff || cd_offset == 0xffffffff) && eocd >= 20 && rd(b, eocd - 20, 4, origin) == kZip64LocatorSig) {
    const uint64_t z64 = rd(b, eocd - 20 + 8, 8, origin);
    CT_CHECK(rd(b, z64, 4, origin) == kZip64EndSig, DataError, origin, ": bad ZIP64 end record");
    entries = rd(b, z64 + 32, 8, origin);
    cd_offset = rd(b, z64 + 48, 8, origin);
  }
  std::vector<Member> members;
  uint64_t p = cd_offset;
  for (uint64_t i = 0; i < entries; ++i) {
    CT_CHECK(rd(b, p, 4, origin) == kCentralSig, DataError, origin, ": corrupt zip central directory (entry ", i,
             ")");
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

std::string extract(const std::string& b, const Member& m, const std::string& origin) {
  const uint64_t h = m.local_header_offset;
  CT_CHECK(rd(b, h, 4, origin) == kLocalSig, DataError, origin, ": member '", m.name,
           "': bad local header signature");
  const uint64_t start = h + 30 + rd(b, h + 26, 2, origin) + rd(b, h + 28, 2, origin);
  CT_CHECK(start <= b.size() && m.compressed_size <= b.size() - start, DataError, origin, ": member '", m.name,
           "' is truncated (", m.compressed_size, " bytes expected)");
  std::string out;
  if (m.method == 0) {
    out = b.substr(start, m.compressed_size);
  } else if (m.method == 8) {
    CT_CHECK(m.size < (uint64_t{1} << 40), DataError, origin, ": member '", m.name, "' is implausibly large");
    out.resize(m.size);
    z_stream zs{};
    CT_CHECK(inflateInit2(&zs, -MAX_WBITS) == Z_OK, Error, origin, ": zlib inflateInit2 failed");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(b.data() + start));
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
    CT_CHECK(rc == Z_STREAM_END && out_left == 0, DataError, origin, ": member '", m.name,
             "': corrupt deflate stream");
  } else {
    throw DataError(str_cat(origin, ": member '", m.name, "' uses compression method ", m.method,
                            " (only stored and deflate are supported)"));
  }
  CT_CHECK(crc_of(out) == m.crc32, DataError, origin, ": member '", m.name, "': CRC mismatch (corrupt archive)");
  return out;
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
  put(out_, 20, 2);  // version needed
  put(out_, 0, 2);   // flags
  put(out_, 0, 2);   // stored
  put(out_, 0, 2);   // time
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

}  // namespace cardiotorch::io::zip
