#pragma once
// Just enough ZIP for .npz: reading stored and deflated members (central directory, ZIP64
// sizes) and writing stored members. Internal; errors name the archive (DataError).
#include <cstdint>
#include <string>
#include <vector>

namespace cardiotorch::io::zip {

struct Member {
  std::string name;
  uint16_t method = 0;        ///< 0 stored, 8 deflate
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_header_offset = 0;
};

/// Lists the members of the archive held in `bytes`.
std::vector<Member> list(const std::string& bytes, const std::string& origin);
/// The uncompressed contents of `m` (CRC-checked).
std::string extract(const std::string& bytes, const Member& m, const std::string& origin);

/// Builds an archive of stored (uncompressed) members.
class Writer {
 public:
  void add(const std::string& name, const std::string& data);
  std::string finish();

 private:
  std::string out_;
  std::vector<Member> members_;
};

}  // namespace cardiotorch::io::zip
