#include "cardiotorch/data/cache.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "cardiotorch/core/log.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/data/adapters.h"
#include "cardiotorch/data/loader.h"
#include "data/test_datasets.h"

namespace ct = cardiotorch;
namespace cd = cardiotorch::data;
namespace fs = std::filesystem;

namespace {

ct::signal::Pipeline scale_pipeline(double f) {
  ct::signal::Pipeline p;
  p.add(std::make_shared<ct::test::ScaleStep>(f));
  return p;
}

cd::CacheOptions cache_opts(const std::string& dir, const std::string& dtype = "float32") {
  cd::CacheOptions o;
  o.dir = dir + "/cache";
  o.dtype = dtype;
  o.progress = false;
  return o;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

size_t count_shards(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".ctcache";
  return n;
}

}  // namespace

TEST(DataCache, BuildThenHitWithExactContents) {
  const auto dir = ct::test::make_temp_dir("cache_hit");
  auto src = std::make_shared<ct::test::FileDataset>(dir, 7, 3, 50);
  auto pipe = scale_pipeline(2.0);
  cd::CachedDataset a(src, pipe, "scale: 2", cache_opts(dir));
  EXPECT_EQ(a.status(), cd::CachedDataset::Status::kBuilt);
  EXPECT_EQ(src->reads.load(), 7);
  cd::CachedDataset b(src, pipe, "scale: 2", cache_opts(dir));
  EXPECT_EQ(b.status(), cd::CachedDataset::Status::kHit);
  EXPECT_EQ(b.path(), a.path());
  EXPECT_EQ(src->reads.load(), 7) << "a cache hit must not decode the source";
  ASSERT_EQ(b.size(), 7);
  for (int64_t i = 0; i < 7; ++i) {
    const cd::Sample ref = src->get(i);
    const cd::Sample s = b.get(i);
    EXPECT_TRUE(at::equal(s.signal, ref.signal * 2.0)) << i;
    EXPECT_EQ(s.signal.scalar_type(), at::kFloat);
    EXPECT_EQ(s.leads, ref.leads);
    EXPECT_EQ(s.fs, 100);
    EXPECT_TRUE(at::equal(s.label, ref.label));
    EXPECT_EQ(s.label.scalar_type(), at::kLong);
    EXPECT_EQ(s.record_id, ref.record_id);
    EXPECT_EQ(s.patient_id, ref.patient_id);
    EXPECT_EQ(s.text, ref.text);
    EXPECT_EQ(s.meta, ref.meta);
  }
  // Samples are copies: modifying one leaves the cache intact.
  cd::Sample s = b.get(0);
  s.signal.fill_(-1);
  EXPECT_TRUE(at::equal(b.get(0).signal, src->get(0).signal * 2.0));
  EXPECT_EQ(count_shards(dir + "/cache"), 1u);
}

TEST(DataCache, Float16StoresRoundedValues) {
  const auto dir = ct::test::make_temp_dir("cache_f16");
  auto src = std::make_shared<ct::test::FileDataset>(dir, 3, 2, 40);
  cd::CachedDataset c(src, scale_pipeline(1.0), "id", cache_opts(dir, "float16"));
  for (int64_t i = 0; i < 3; ++i) {
    const at::Tensor ref = src->get(i).signal;
    const at::Tensor got = c.get(i).signal;
    EXPECT_EQ(got.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(got, ref.to(at::kHalf).to(at::kFloat)));
  }
  cd::CachedDataset f32(src, scale_pipeline(1.0), "id", cache_opts(dir, "float32"));
  EXPECT_NE(f32.path(), c.path());
  EXPECT_LT(fs::file_size(c.path()), fs::file_size(f32.path()));
}

TEST(DataCache, ChangedConfigOrSourceFileRebuilds) {
  const auto dir = ct::test::make_temp_dir("cache_miss");
  auto src = std::make_shared<ct::test::FileDataset>(dir, 4, 2, 30);
  cd::CachedDataset a(src, scale_pipeline(2.0), "scale: 2", cache_opts(dir));
  cd::CachedDataset b(src, scale_pipeline(3.0), "scale: 3", cache_opts(dir));
  EXPECT_EQ(b.status(), cd::CachedDataset::Status::kBuilt);
  EXPECT_NE(a.path(), b.path());
  EXPECT_TRUE(at::equal(b.get(1).signal, src->get(1).signal * 3.0));

  // Rewrite one source file with new values (and a new mtime): the key changes.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ct::test::FileDataset::write_tensor(src->item(2).sources[0], at::full({2, 30}, 5.0f));
  cd::CachedDataset c(src, scale_pipeline(2.0), "scale: 2", cache_opts(dir));
  EXPECT_EQ(c.status(), cd::CachedDataset::Status::kBuilt);
  EXPECT_NE(c.path(), a.path());
  EXPECT_TRUE(at::equal(c.get(2).signal, at::full({2, 30}, 10.0f)));
}

TEST(DataCache, CorruptFilesAreRebuiltWithAWarning) {
  const auto dir = ct::test::make_temp_dir("cache_corrupt");
  auto src = std::make_shared<ct::test::FileDataset>(dir, 5, 2, 64);
  const auto pipe = scale_pipeline(1.5);
  std::string path;
  {
    cd::CachedDataset a(src, pipe, "p", cache_opts(dir));
    path = a.path();
  }
  const auto good_size = fs::file_size(path);
  const std::string log = dir + "/log.txt";
  auto corrupt_and_reopen = [&](const std::function<void()>& damage) {
    damage();
    ct::set_log_file(log);
    cd::CachedDataset c(src, pipe, "p", cache_opts(dir));
    ct::set_log_file("");
    EXPECT_EQ(c.status(), cd::CachedDataset::Status::kRebuilt);
    const std::string text = slurp(log);
    EXPECT_NE(text.find("[warning] cache: " + path + ": cache file is corrupt"), std::string::npos) << text;
    fs::remove(log);
    EXPECT_EQ(fs::file_size(path), good_size);
    for (int64_t i = 0; i < 5; ++i) EXPECT_TRUE(at::equal(c.get(i).signal, src->get(i).signal * 1.5));
    cd::CachedDataset again(src, pipe, "p", cache_opts(dir));
    EXPECT_EQ(again.status(), cd::CachedDataset::Status::kHit);
  };
  auto flip_byte = [&](uint64_t at) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5A);
    f.seekp(static_cast<std::streamoff>(at));
    f.write(&c, 1);
  };
  corrupt_and_reopen([&] { fs::resize_file(path, good_size / 2); });  // truncated
  corrupt_and_reopen([&] { flip_byte(200); });                        // data area
  corrupt_and_reopen([&] { flip_byte(good_size - 10); });             // index
  corrupt_and_reopen([&] { flip_byte(0); });                          // magic
  corrupt_and_reopen([&] { flip_byte(20); });                         // header field
  corrupt_and_reopen([&] { ct::test::write_file(path, ""); });        // empty
  EXPECT_EQ(count_shards(dir + "/cache"), 1u);
  for (const auto& e : fs::directory_iterator(dir + "/cache"))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << "temporary file left behind: " << e.path();
}

TEST(DataCache, DecodeErrorsPropagateAndLeaveNoFile) {
  const auto dir = ct::test::make_temp_dir("cache_err");
  auto src = std::make_shared<ct::test::FileDataset>(dir, 4, 1, 8, 2, std::vector<int64_t>{2});
  try {
    cd::CachedDataset c(src, scale_pipeline(1), "p", cache_opts(dir));
    FAIL() << "expected DataError";
  } catch (const ct::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("rec2.f32"), std::string::npos) << e.what();
  }
  EXPECT_EQ(count_shards(dir + "/cache"), 0u);
  EXPECT_TRUE(fs::is_empty(dir + "/cache"));
}

TEST(DataCache, HashIsStableAndSensitive) {
  const std::string a = "hello, cache", b = "hello, cachf";
  EXPECT_EQ(cd::hash_bytes(a.data(), a.size()), cd::hash_bytes(a.data(), a.size()));
  EXPECT_NE(cd::hash_bytes(a.data(), a.size()), cd::hash_bytes(b.data(), b.size()));
  EXPECT_NE(cd::hash_bytes(a.data(), a.size(), 1), cd::hash_bytes(a.data(), a.size(), 2));
  std::vector<char> z1(64, 0), z2(65, 0);
  EXPECT_NE(cd::hash_bytes(z1.data(), z1.size()), cd::hash_bytes(z2.data(), z2.size()));
  EXPECT_THROW(ct::from_config<cd::CacheOptions>(ct::ConfigNode::parse("{dir: x, dtype: float8}")), ct::ConfigError);
}

// The vendored CinC 2021 sample through the real preprocessors, cache and loader.
TEST(DataCache, RealRecordsThroughPipelineCacheAndLoader) {
  const std::string root = ct::test::source_path("data/sample/cinc2021");
  auto src = cd::build_dataset(ct::ConfigNode::parse("{name: cinc2021, root: " + root + ", limit: 6}"));
  const std::string cfg = "- {name: bandpass, lowcut: 0.5, highcut: 45}\n- {name: zscore}\n";
  const auto pipe = ct::signal::Pipeline::from_config(ct::ConfigNode::parse(cfg));
  const auto dir = ct::test::make_temp_dir("cache_real");
  auto cached = std::make_shared<cd::CachedDataset>(src, pipe, cfg, cache_opts(dir));
  EXPECT_EQ(cached->status(), cd::CachedDataset::Status::kBuilt);
  ASSERT_EQ(cached->size(), 6);
  for (int64_t i = 0; i < 6; ++i) {
    const cd::Sample ref = src->get(i);
    const cd::Sample got = cached->get(i);
    EXPECT_TRUE(at::equal(got.signal, pipe(ref.signal, ref.fs))) << ref.record_id;
    EXPECT_TRUE(at::equal(got.label, ref.label));
    EXPECT_EQ(got.meta, ref.meta);
    EXPECT_EQ(got.leads, ref.leads);
  }
  EXPECT_EQ(cd::CachedDataset(src, pipe, cfg, cache_opts(dir)).status(), cd::CachedDataset::Status::kHit);
  const std::string cfg2 = "- {name: bandpass, lowcut: 1.0, highcut: 45}\n- {name: zscore}\n";
  const auto pipe2 = ct::signal::Pipeline::from_config(ct::ConfigNode::parse(cfg2));
  EXPECT_EQ(cd::CachedDataset(src, pipe2, cfg2, cache_opts(dir)).status(), cd::CachedDataset::Status::kBuilt);

  cd::LoaderOptions lo;
  lo.batch_size = 4;
  lo.crop = 2500;
  lo.training = false;  // centre crop
  lo.num_workers = 2;
  cd::Loader loader(cached, ct::signal::Pipeline(), lo);
  loader.start_epoch(0);
  auto b = loader.next();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->x.sizes(), (std::vector<int64_t>{4, 12, 2500}));
  EXPECT_EQ(b->y.sizes(), (std::vector<int64_t>{4, 26}));
  EXPECT_TRUE(at::equal(b->x[1], cached->get(b->indices[1]).signal.narrow(1, 1250, 2500)));
}

TEST(DataCache, ParallelBuildWritesTheSameFile) {
  const auto dir = ct::test::make_temp_dir("cache_par");
  auto src = std::make_shared<ct::test::FileDataset>(dir, 37, 2, 33);
  auto o1 = cache_opts(dir + "/one");
  o1.threads = 1;
  auto o3 = cache_opts(dir + "/three");
  o3.threads = 3;
  cd::CachedDataset a(src, scale_pipeline(0.25), "s", o1), b(src, scale_pipeline(0.25), "s", o3);
  EXPECT_EQ(fs::path(a.path()).filename(), fs::path(b.path()).filename());
  EXPECT_EQ(slurp(a.path()), slurp(b.path()));
}

TEST(DataCache, KeyCoversTheLibraryBuildAndTheConfig) {
  // A rebuilt or upgraded library (changed preprocessing code) must never serve an old shard:
  // the key text holds build_id() (versions and the loaded library file), next to the config.
  const auto dir = ct::test::make_temp_dir("cache_key");
  auto src = std::make_shared<ct::test::FileDataset>(dir, 3, 2, 20);
  const std::string text = cd::cache_key_text(*src, "scale: 2", "float32");
  EXPECT_NE(text.find(ct::build_id()), std::string::npos) << text;
  EXPECT_NE(ct::build_id().find("cardiotorch " + ct::version_string()), std::string::npos) << ct::build_id();
  EXPECT_NE(ct::build_id().find("torch " + ct::torch_version_string()), std::string::npos) << ct::build_id();
  EXPECT_NE(ct::build_id().find("; lib "), std::string::npos) << "the library file was not found: " << ct::build_id();
  EXPECT_NE(text, cd::cache_key_text(*src, "scale: 3", "float32"));
  EXPECT_NE(text, cd::cache_key_text(*src, "scale: 2", "float16"));
  EXPECT_EQ(text, cd::cache_key_text(*src, "scale: 2", "float32"));
}
