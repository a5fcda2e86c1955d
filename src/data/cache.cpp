#include "cardiotorch/data/cache.h"

#include "cardiotorch/core/runtime.h"
#include "cardiotorch/core/thread_pool.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <atomic>
#include <thread>
#include <unordered_map>

#include "cardiotorch/core/log.h"
#include "cardiotorch/core/progress.h"

namespace cardiotorch::data {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'C', 'T', 'C', 'A', 'C', 'H', 'E', '1'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kHeaderBytes = 128;
constexpr uint64_t kAlign = 64;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t dtype;  // 0 float32, 1 float16
  uint64_t key;
  uint64_t n_items;
  uint64_t data_offset;
  uint64_t data_bytes;
  uint64_t index_offset;
  uint64_t index_bytes;
  uint64_t data_hash;
  uint64_t index_hash;
  uint64_t header_hash;  // of the bytes above
};
static_assert(sizeof(FileHeader) <= kHeaderBytes, "header fits its slot");

enum LabelCode : int { kLabelNone = 0, kLabelF32 = 1, kLabelI64 = 2 };

inline uint64_t load64(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline uint64_t mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
  return h ^ (h >> 29);
}

}  // namespace

uint64_t hash_bytes(const void* data, size_t n, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h[4] = {seed ^ 0x243F6A8885A308D3ULL, seed ^ 0x13198A2E03707344ULL, seed ^ 0xA4093822299F31D0ULL,
                   seed ^ 0x082EFA98EC4E6C89ULL};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    h[0] = mix(h[0], load64(p + i));
    h[1] = mix(h[1], load64(p + i + 8));
    h[2] = mix(h[2], load64(p + i + 16));
    h[3] = mix(h[3], load64(p + i + 24));
  }
  unsigned char tail[32] = {0};
  std::memcpy(tail, p + i, n - i);
  for (int l = 0; l < 4; ++l) h[l] = mix(h[l], load64(tail + 8 * l));
  uint64_t out = static_cast<uint64_t>(n);
  for (int l = 0; l < 4; ++l) out = mix(out, h[l]) + 0x632BE59BD9B4E019ULL;
  // splitmix64 finaliser for full avalanche
  out = (out ^ (out >> 30)) * 0xBF58476D1CE4E5B9ULL;
  out = (out ^ (out >> 27)) * 0x94D049BB133111EBULL;
  return out ^ (out >> 31);
}

void CacheOptions::validate() const {
  CT_CHECK(!dir.empty(), ConfigError, "dir: the cache directory is required");
  CT_CHECK(threads >= 0, ConfigError, "threads must be >= 0, got ", threads);
  check_choice("dtype", dtype, {"float32", "float16"});
}

// The open shard: a read-only mapping plus the parsed index.
struct CachedDataset::Shard {
  struct Entry {
    uint64_t signal_offset = 0;
    int64_t leads = 0, samples = 0;
    double fs = 0;
    std::vector<std::string> lead_names;
    int label_code = kLabelNone;
    uint64_t label_offset = 0;
    std::vector<int64_t> label_shape;
    std::string record_id, patient_id, text;
    std::map<std::string, std::string> meta;
  };
  void* base = nullptr;
  size_t bytes = 0;
  uint64_t data_offset = 0;
  uint32_t dtype = 0;
  std::vector<Entry> entries;
  ~Shard() {
    if (base) ::munmap(base, bytes);
  }
  const unsigned char* data() const { return static_cast<const unsigned char*>(base) + data_offset; }
};

namespace {

struct FileStat {
  int64_t size = 0;
  int64_t mtime_ns = 0;
};

FileStat stat_file(const std::string& path) {
  struct stat st {};
  CT_CHECK(::stat(path.c_str(), &st) == 0, IoError, path, ": cannot stat source file (", std::strerror(errno), ")");
  FileStat out;
  out.size = static_cast<int64_t>(st.st_size);
  out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return out;
}

class OutFile {
 public:
  explicit OutFile(const std::string& path) : path_(path) {
    f_ = std::fopen(path.c_str(), "wb");
    CT_CHECK(f_ != nullptr, IoError, path, ": cannot create cache file (", std::strerror(errno), ")");
  }
  ~OutFile() {
    if (f_) std::fclose(f_);
  }
  void write(const void* p, size_t n) {
    CT_CHECK(std::fwrite(p, 1, n, f_) == n, IoError, path_, ": write failed (", std::strerror(errno), ")");
    pos_ += n;
  }
  void pad_to(uint64_t align) {
    static const char zeros[kAlign] = {0};
    const uint64_t r = pos_ % align;
    if (r) write(zeros, align - r);
  }
  void seek_write(uint64_t at, const void* p, size_t n) {
    CT_CHECK(std::fseek(f_, static_cast<long>(at), SEEK_SET) == 0, IoError, path_, ": seek failed");
    CT_CHECK(std::fwrite(p, 1, n, f_) == n, IoError, path_, ": write failed");
  }
  void close() {
    CT_CHECK(std::fflush(f_) == 0, IoError, path_, ": flush failed (", std::strerror(errno), ")");
    CT_CHECK(std::fclose(f_) == 0, IoError, path_, ": close failed");
    f_ = nullptr;
  }
  uint64_t pos() const { return pos_; }

 private:
  std::string path_;
  FILE* f_ = nullptr;
  uint64_t pos_ = 0;
};

uint64_t header_hash(const FileHeader& h) { return hash_bytes(&h, offsetof(FileHeader, header_hash), 0x4845u); }

}  // namespace

std::string cache_key_text(const Dataset& source, const std::string& pipeline_config, const std::string& dtype) {
  std::string buf;
  buf.reserve(4096);
  const DatasetInfo& in = source.info();
  buf += str_cat("cardiotorch-cache v", kVersion, "\n", build_id(), "\n", dtype, "\n", in.name, "\n", in.config, "\n",
                 pipeline_config, "\n", source.size(), "\n");
  std::unordered_map<std::string, FileStat> stats;
  for (int64_t i = 0; i < source.size(); ++i) {
    const ItemInfo& it = source.item(i);
    buf += str_cat(it.record_id, "|", it.from, "|", it.to);
    for (const auto& src : it.sources) {
      auto f = stats.find(src);
      if (f == stats.end()) f = stats.emplace(src, stat_file(src)).first;
      buf += str_cat("|", src, ":", f->second.size, ":", f->second.mtime_ns);
    }
    buf += "\n";
  }
  return buf;
}

uint64_t CachedDataset::compute_key(const std::string& pipeline_config) const {
  const std::string text = cache_key_text(*source_, pipeline_config, options_.dtype);
  return hash_bytes(text.data(), text.size(), 0x6361636865ULL);
}

std::string CachedDataset::key_hex() const {
  char s[17];
  std::snprintf(s, sizeof(s), "%016llx", static_cast<unsigned long long>(key_));
  return s;
}

CachedDataset::CachedDataset(DatasetPtr source, const signal::Pipeline& pipeline, const std::string& pipeline_config,
                             CacheOptions options)
    : source_(std::move(source)), options_(std::move(options)) {
  CT_INTERNAL_ASSERT(source_ != nullptr);
  options_.validate();
  key_ = compute_key(pipeline_config);
  fs::create_directories(options_.dir);
  std::string stem = source_->info().name.empty() ? std::string("dataset") : source_->info().name;
  path_ = (fs::path(options_.dir) / (stem + "-" + key_hex() + ".ctcache")).string();
  if (!fs::exists(path_)) {
    CT_LOG_INFO("cache: building ", path_, " (", source_->size(), " items)");
    build(pipeline);
    status_ = Status::kBuilt;
    open();
    return;
  }
  try {
    open();
    status_ = Status::kHit;
  } catch (const DataError& e) {
    CT_LOG_WARN("cache: ", e.what(), "; rebuilding it");
    shard_.reset();
    build(pipeline);
    status_ = Status::kRebuilt;
    open();
  }
}

CachedDataset::~CachedDataset() = default;

int64_t CachedDataset::size() const { return static_cast<int64_t>(shard_->entries.size()); }

void CachedDataset::build(const signal::Pipeline& pipeline) {
  const std::string tmp =
      str_cat(path_, ".tmp.", ::getpid(), ".", std::hash<std::thread::id>{}(std::this_thread::get_id()));
  try {
    OutFile out(tmp);
    FileHeader h{};
    std::memcpy(h.magic, kMagic, 8);
    h.version = kVersion;
    h.dtype = options_.dtype == "float16" ? 1 : 0;
    h.key = key_;
    h.n_items = static_cast<uint64_t>(source_->size());
    h.data_offset = kHeaderBytes;
    const std::vector<char> zeros(kHeaderBytes, 0);
    out.write(zeros.data(), zeros.size());

    // Items are decoded and preprocessed in parallel, block by block, and written in index
    // order, so the file does not depend on the thread count.
    auto process = [&](int64_t i) {
      Sample s;
      signal::SignalBatch b;
      try {
        s = source_->get(i);
        b.x = s.signal;
        b.fs = s.fs;
        b.leads = s.leads;
        signal::StepContext ctx;
        ctx.training = false;
        pipeline.apply(b, ctx);
      } catch (...) {
        rethrow_with_context(str_cat("cache: record ", source_->item(i).record_id, " (item ", i, "): "));
      }
      CT_CHECK(b.x.dim() == 2, ShapeError, "cache: record ", s.record_id, " (item ", i,
               "): preprocessing gave a signal of shape ", b.x.sizes(), "; expected [leads, samples]");
      s.signal = b.x.to(at::kCPU).to(h.dtype == 1 ? at::kHalf : at::kFloat).contiguous();
      s.fs = b.fs;
      s.leads = b.leads;
      if (s.label.defined()) {
        at::Tensor y = s.label.to(at::kCPU);
        s.label = (at::isFloatingType(y.scalar_type()) ? y.to(at::kFloat) : y.to(at::kLong)).contiguous();
      }
      return s;
    };
    const int64_t n = source_->size();
    // Nothing else runs while the cache builds: every core of the process's budget.
    int64_t n_threads = options_.threads > 0 ? options_.threads : thread_budget().cores;
    n_threads = std::max<int64_t>(1, std::min(n_threads, n));
    const int64_t block = std::max<int64_t>(16, 8 * n_threads);
    std::unique_ptr<ProgressBar> bar;
    if (options_.progress) bar = std::make_unique<ProgressBar>("cache " + source_->info().name, n, "rec");

    // One pool for the whole build (threads start once); a single thread builds in this one.
    std::unique_ptr<ThreadPool> pool;
    if (n_threads > 1) pool = std::make_unique<ThreadPool>(static_cast<int>(n_threads));
    nlohmann::json index = nlohmann::json::array();
    for (int64_t start = 0; start < n; start += block) {
      const int64_t end = std::min(n, start + block);
      std::vector<Sample> done(static_cast<size_t>(end - start));
      std::vector<std::exception_ptr> errors(done.size());
      auto one = [&](int64_t k) {
        try {
          done[static_cast<size_t>(k)] = process(start + k);
        } catch (...) {
          errors[static_cast<size_t>(k)] = std::current_exception();
        }
      };
      if (pool) {
        pool->parallel_for(end - start, one);
      } else {
        for (int64_t k = 0; k < end - start; ++k) one(k);
      }
      for (size_t k = 0; k < done.size(); ++k) {
        if (errors[k]) std::rethrow_exception(errors[k]);
        const Sample& s = done[k];
        const at::Tensor& x = s.signal;
        nlohmann::json e;
        e["so"] = out.pos() - kHeaderBytes;
        e["L"] = x.size(0);
        e["S"] = x.size(1);
        out.write(x.data_ptr(), static_cast<size_t>(x.numel()) * x.element_size());
        out.pad_to(kAlign);
        e["fs"] = s.fs;
        e["leads"] = s.leads;
        int code = kLabelNone;
        if (s.label.defined()) {
          code = s.label.scalar_type() == at::kFloat ? kLabelF32 : kLabelI64;
          e["lo"] = out.pos() - kHeaderBytes;
          e["lsh"] = s.label.sizes().vec();
          out.write(s.label.data_ptr(), static_cast<size_t>(s.label.numel()) * s.label.element_size());
          out.pad_to(kAlign);
        }
        e["lk"] = code;
        e["id"] = s.record_id;
        e["pid"] = s.patient_id;
        if (!s.text.empty()) e["text"] = s.text;
        if (!s.meta.empty()) e["meta"] = s.meta;
        index.push_back(std::move(e));
      }
      if (bar) bar->tick(end - start);
    }
    if (bar) bar->finish();
    h.data_bytes = out.pos() - kHeaderBytes;
    h.index_offset = out.pos();
    const std::string idx = index.dump();
    out.write(idx.data(), idx.size());
    h.index_bytes = idx.size();
    h.index_hash = hash_bytes(idx.data(), idx.size(), 0x1D7u);
    out.close();

    // The data checksum is computed from the file as written (what open() will see).
    {
      const int fd = ::open(tmp.c_str(), O_RDONLY);
      CT_CHECK(fd >= 0, IoError, tmp, ": cannot reopen (", std::strerror(errno), ")");
      const size_t total = static_cast<size_t>(h.index_offset + h.index_bytes);
      void* m = ::mmap(nullptr, total, PROT_READ, MAP_PRIVATE, fd, 0);
      ::close(fd);
      CT_CHECK(m != MAP_FAILED, IoError, tmp, ": mmap failed (", std::strerror(errno), ")");
      h.data_hash = hash_bytes(static_cast<const unsigned char*>(m) + kHeaderBytes, h.data_bytes, 0xDA7Au);
      ::munmap(m, total);
    }
    h.header_hash = header_hash(h);
    {
      FILE* f = std::fopen(tmp.c_str(), "r+b");
      CT_CHECK(f != nullptr, IoError, tmp, ": cannot reopen (", std::strerror(errno), ")");
      const bool ok = std::fwrite(&h, 1, sizeof(h), f) == sizeof(h);
      const bool closed = std::fclose(f) == 0;
      CT_CHECK(ok && closed, IoError, tmp, ": header write failed");
    }
    fs::rename(tmp, path_);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

void CachedDataset::open() {
  auto shard = std::make_shared<Shard>();
  const int fd = ::open(path_.c_str(), O_RDONLY);
  CT_CHECK(fd >= 0, IoError, path_, ": cannot open cache file (", std::strerror(errno), ")");
  struct stat st {};
  ::fstat(fd, &st);
  const size_t bytes = static_cast<size_t>(st.st_size);
  if (bytes < kHeaderBytes) {
    ::close(fd);
    throw DataError(str_cat(path_, ": cache file is corrupt (", bytes, " bytes, shorter than its header)"));
  }
  void* m = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  CT_CHECK(m != MAP_FAILED, IoError, path_, ": mmap failed (", std::strerror(errno), ")");
  shard->base = m;
  shard->bytes = bytes;
  FileHeader h;
  std::memcpy(&h, m, sizeof(h));
  auto corrupt = [&](const std::string& why) {
    return DataError(str_cat(path_, ": cache file is corrupt (", why, ")"));
  };
  if (std::memcmp(h.magic, kMagic, 8) != 0) throw corrupt("bad magic");
  if (h.header_hash != header_hash(h)) throw corrupt("header checksum mismatch");
  if (h.version != kVersion) throw corrupt(str_cat("format version ", h.version, ", expected ", kVersion));
  if (h.key != key_) throw corrupt("key mismatch");
  if (h.data_offset != kHeaderBytes || h.index_offset != h.data_offset + h.data_bytes ||
      h.index_offset + h.index_bytes != bytes)
    throw corrupt(str_cat("size ", bytes, " does not match its header (", h.index_offset + h.index_bytes, ")"));
  const char* idx = static_cast<const char*>(m) + h.index_offset;
  if (hash_bytes(idx, h.index_bytes, 0x1D7u) != h.index_hash) throw corrupt("index checksum mismatch");
  if (options_.verify &&
      hash_bytes(static_cast<const unsigned char*>(m) + h.data_offset, h.data_bytes, 0xDA7Au) != h.data_hash)
    throw corrupt("data checksum mismatch");
  shard->data_offset = h.data_offset;
  shard->dtype = h.dtype;
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(idx, idx + h.index_bytes);
  } catch (const std::exception& e) {
    throw corrupt(str_cat("index is not valid JSON: ", e.what()));
  }
  if (!index.is_array() || index.size() != h.n_items) throw corrupt("index size mismatch");
  const size_t esize = h.dtype == 1 ? 2 : 4;
  shard->entries.resize(index.size());
  try {
    for (size_t i = 0; i < index.size(); ++i) {
      const auto& e = index[i];
      Shard::Entry& en = shard->entries[i];
      en.signal_offset = e.at("so").get<uint64_t>();
      en.leads = e.at("L").get<int64_t>();
      en.samples = e.at("S").get<int64_t>();
      en.fs = e.at("fs").get<double>();
      en.lead_names = e.at("leads").get<std::vector<std::string>>();
      en.label_code = e.at("lk").get<int>();
      if (en.signal_offset + static_cast<uint64_t>(en.leads * en.samples) * esize > h.data_bytes)
        throw corrupt(str_cat("item ", i, " lies outside the data area"));
      if (en.label_code != kLabelNone) {
        en.label_offset = e.at("lo").get<uint64_t>();
        en.label_shape = e.at("lsh").get<std::vector<int64_t>>();
        int64_t n = 1;
        for (int64_t d : en.label_shape) n *= d;
        if (n < 0 || en.label_offset + static_cast<uint64_t>(n) * (en.label_code == kLabelF32 ? 4 : 8) > h.data_bytes)
          throw corrupt(str_cat("label of item ", i, " lies outside the data area"));
      }
      en.record_id = e.at("id").get<std::string>();
      en.patient_id = e.at("pid").get<std::string>();
      if (e.contains("text")) en.text = e["text"].get<std::string>();
      if (e.contains("meta")) en.meta = e["meta"].get<std::map<std::string, std::string>>();
    }
  } catch (const nlohmann::json::exception& ex) {
    throw corrupt(str_cat("index entry malformed: ", ex.what()));
  }
  shard_ = std::move(shard);
}

Sample CachedDataset::get(int64_t i) const {
  CT_CHECK(i >= 0 && i < size(), IndexError, "cache ", path_, ": index ", i, " out of range [0, ", size(), ")");
  const Shard::Entry& e = shard_->entries[static_cast<size_t>(i)];
  Sample s;
  // Copies out of the read-only mapping: callers (augmenters) modify samples in place.
  void* p = const_cast<unsigned char*>(shard_->data() + e.signal_offset);
  at::Tensor view =
      at::from_blob(p, {e.leads, e.samples}, at::TensorOptions().dtype(shard_->dtype == 1 ? at::kHalf : at::kFloat));
  s.signal = shard_->dtype == 1 ? view.to(at::kFloat) : view.clone();
  s.fs = e.fs;
  s.leads = e.lead_names;
  if (e.label_code != kLabelNone) {
    void* lp = const_cast<unsigned char*>(shard_->data() + e.label_offset);
    s.label =
        at::from_blob(lp, e.label_shape, at::TensorOptions().dtype(e.label_code == kLabelF32 ? at::kFloat : at::kLong))
            .clone();
  }
  s.record_id = e.record_id;
  s.patient_id = e.patient_id;
  s.text = e.text;
  s.meta = e.meta;
  return s;
}

}  // namespace cardiotorch::data
