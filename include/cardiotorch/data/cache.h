#pragma once
// Preprocessed-sample cache: decode + preprocess every item once into one memory-mapped
// shard file, then serve later runs from it.
//
// The file name carries a key hashed from cache_key_text(): the format version, the library
// build (build_id(): cardiotorch and LibTorch versions and the loaded library file), the storage
// dtype, the dataset name and options, the preprocessing config text, and every item's record
// id, window and source files (path, size, mtime). Any change gives a new key, so a changed
// config, a touched file or changed preprocessing code (a rebuilt or upgraded library) rebuilds
// the cache; the old shard stays until removed.
// Files are written to a temporary name and renamed, so a crash never leaves a half file
// under the real name. A shard that fails its checks on open (bad magic, truncated, index or
// data checksum mismatch) is rebuilt with a warning.
//
// Layout (little endian): a 128-byte header slot (magic, version, key, offsets, checksums), the data area (each tensor
// 64-byte aligned) and a JSON index (per item: offsets, shapes, fs, leads, label, ids, text, meta).
#include <memory>
#include <string>

#include "cardiotorch/core/config.h"
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/signal/pipeline.h"

namespace cardiotorch::data {

struct CacheOptions {
  std::string dir = "runs/cache";  ///< directory for shard files (created when missing)
  std::string dtype = "float32";   ///< float32 | float16 (signals; labels keep their dtype)
  bool verify = true;              ///< checksum the data area on open (about 1 ms per 10 MB)
  int64_t threads = 0;             ///< threads decoding + preprocessing while building (0 = the thread budget's cores)
  bool progress = true;            ///< progress bar while building

  template <class V>
  void fields(V& v) {
    v("dir", dir, "directory of the cache shard files");
    v("dtype", dtype, "float32 | float16 storage of the preprocessed signals");
    v("verify", verify, "verify the data checksum when opening a cache file");
    v("threads", threads, "build threads (0 = every core of the thread budget); the file is identical for any count");
    v("progress", progress, "show a progress bar while building");
  }
  void validate() const;
};

/// 64-bit hash of a byte range (word-wise multiply-xorshift; not cryptographic).
uint64_t hash_bytes(const void* data, size_t n, uint64_t seed = 0);

/// The text a shard's key hashes (see the top of this file); stats every source file.
std::string cache_key_text(const Dataset& source, const std::string& pipeline_config, const std::string& dtype);

class CachedDataset : public Dataset {
 public:
  enum class Status { kHit, kBuilt, kRebuilt };

  /// Opens the shard for (source, pipeline) or builds it. `pipeline_config` is the
  /// preprocessing config text that produced `pipeline` (part of the key); the pipeline runs
  /// in eval mode (augmenters are never cached).
  CachedDataset(DatasetPtr source, const signal::Pipeline& pipeline, const std::string& pipeline_config,
                CacheOptions options);
  ~CachedDataset() override;

  int64_t size() const override;
  Sample get(int64_t i) const override;
  const DatasetInfo& info() const override { return source_->info(); }
  const ItemInfo& item(int64_t i) const override { return source_->item(i); }

  Status status() const { return status_; }
  const std::string& path() const { return path_; }
  std::string key_hex() const;

 private:
  struct Shard;
  uint64_t compute_key(const std::string& pipeline_config) const;
  void build(const signal::Pipeline& pipeline);
  void open();  // throws DataError when the file is missing or corrupt

  DatasetPtr source_;
  CacheOptions options_;
  uint64_t key_ = 0;
  std::string path_;
  Status status_ = Status::kHit;
  std::shared_ptr<Shard> shard_;
};

}  // namespace cardiotorch::data
