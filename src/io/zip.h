#pragma once
// Just enough ZIP for .npz and torch.save archives: reading stored and deflated members
// (central directory, ZIP64 sizes and offsets) and writing stored members, optionally with
// aligned data and ZIP64 records. Internal; errors name the archive (DataError).
// Torch-free, so the fuzz targets build against it alone.
#include <cstdint>
#include <cstdio>
#include <iosfwd>
#include <string>
#include <vector>

namespace cardiotorch::io::zip {

struct Member {
  std::string name;
  uint16_t method = 0;  ///< 0 stored, 8 deflate
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_header_offset = 0;
};

/// Random access to an archive's bytes: an in-memory buffer or a file read on demand, so a
/// reader can copy a member straight into its destination (a tensor) without holding the
/// whole archive in memory.
class Source {
 public:
  virtual ~Source() = default;
  virtual uint64_t size() const = 0;
  /// Copies `n` bytes at `offset` into `dst`; DataError naming `origin` if out of range.
  virtual void read(uint64_t offset, void* dst, uint64_t n, const std::string& origin) const = 0;
};

/// A non-owning view of bytes in memory.
class BufferSource final : public Source {
 public:
  BufferSource(const char* data, uint64_t size) : data_(data), size_(size) {}
  explicit BufferSource(const std::string& bytes) : data_(bytes.data()), size_(bytes.size()) {}
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, void* dst, uint64_t n, const std::string& origin) const override;

 private:
  const char* data_;
  uint64_t size_;
};

/// A file opened for reading; DataError naming the file when it cannot be opened.
class FileSource final : public Source {
 public:
  explicit FileSource(const std::string& path);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, void* dst, uint64_t n, const std::string& origin) const override;

 private:
  std::FILE* f_ = nullptr;
  uint64_t size_ = 0;
};

/// Lists the members of an archive.
std::vector<Member> list(const Source& src, const std::string& origin);
std::vector<Member> list(const std::string& bytes, const std::string& origin);
/// Offset of the first byte of `m`'s (possibly compressed) data, checked to lie in the archive.
uint64_t data_offset(const Source& src, const Member& m, const std::string& origin);
/// The uncompressed contents of `m` (CRC-checked).
std::string extract(const Source& src, const Member& m, const std::string& origin);
std::string extract(const std::string& bytes, const Member& m, const std::string& origin);
/// CRC-32 (zlib polynomial) of `n` bytes, continuing from `crc` (0 to start).
uint32_t crc32_of(const void* data, uint64_t n, uint32_t crc = 0);

/// Builds an archive of stored (uncompressed) members in memory.
class Writer {
 public:
  void add(const std::string& name, const std::string& data);
  std::string finish();

 private:
  std::string out_;
  std::vector<Member> members_;
};

/// Writes stored members straight to a stream (nothing is held twice in memory). Member data
/// can start at an aligned offset (torch aligns records to 64 bytes so they can be mapped),
/// padded with an extra field as torch's writer does. ZIP64 records are written when a size,
/// an offset or the member count needs them (or always, with `force_zip64`, for tests).
class StreamWriter {
 public:
  StreamWriter(std::ostream& out, std::string origin, bool force_zip64 = false);
  void add(const std::string& name, const void* data, uint64_t size, uint32_t alignment = 0);
  /// Writes the central directory; the stream then holds a complete archive.
  void finish();

 private:
  std::ostream& out_;
  std::string origin_;
  bool force_zip64_;
  uint64_t pos_ = 0;
  std::vector<Member> members_;
  void write(const std::string& bytes);
};

}  // namespace cardiotorch::io::zip
