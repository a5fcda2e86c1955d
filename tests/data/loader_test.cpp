#include "cardiotorch/data/loader.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "cardiotorch/core/runtime.h"

#include "data/test_datasets.h"

namespace ct = cardiotorch;
namespace cd = cardiotorch::data;

namespace {

ct::signal::Pipeline noisy() {
  ct::signal::Pipeline p;
  p.add(std::make_shared<ct::test::ScaleStep>(0.5));
  p.add(std::make_shared<ct::test::NoiseStep>());
  return p;
}

std::vector<cd::Batch> run_epoch(cd::Loader& l, int64_t epoch) {
  std::vector<cd::Batch> out;
  l.start_epoch(epoch);
  while (auto b = l.next()) out.push_back(std::move(*b));
  return out;
}

cd::LoaderOptions opts(int64_t workers, int64_t batch = 4) {
  cd::LoaderOptions o;
  o.batch_size = batch;
  o.num_workers = workers;
  o.seed = 42;
  o.crop = 40;
  o.prefetch = 2;
  return o;
}

}  // namespace

TEST(DataLoader, BatchesAreCollatedAndComplete) {
  const auto dir = ct::test::make_temp_dir("loader_basic");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 10, 3, 60);
  auto o = opts(2);
  o.training = false;
  o.crop_mode = "start";
  cd::Loader l(ds, ct::signal::Pipeline(), o);
  EXPECT_EQ(l.num_batches(), 3);
  auto batches = run_epoch(l, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].x.sizes(), (std::vector<int64_t>{4, 3, 40}));
  EXPECT_EQ(batches[2].x.sizes(), (std::vector<int64_t>{2, 3, 40}));
  EXPECT_EQ(batches[0].y.sizes(), (std::vector<int64_t>{4}));
  std::multiset<int64_t> seen;
  for (const auto& b : batches)
    for (int64_t k = 0; k < b.size(); ++k) {
      const int64_t i = b.indices[static_cast<size_t>(k)];
      seen.insert(i);
      EXPECT_TRUE(at::equal(b.x[k], ds->get(i).signal.narrow(1, 0, 40)));
      EXPECT_EQ(b.y[k].item<int64_t>(), i % 3);
      EXPECT_EQ(b.record_ids[static_cast<size_t>(k)], "rec" + std::to_string(i));
    }
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(*seen.rbegin(), 9);
  EXPECT_EQ(batches[0].leads, (std::vector<std::string>{"L0", "L1", "L2"}));
  EXPECT_EQ(batches[0].fs, 100);
}

TEST(DataLoader, SameResultsWithZeroOneAndTwoWorkers) {
  const auto dir = ct::test::make_temp_dir("loader_det");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 23, 2, 64);
  std::vector<std::vector<cd::Batch>> runs;
  for (int64_t w : {0, 1, 2}) {
    cd::Loader l(ds, noisy(), opts(w, 5));
    runs.push_back(run_epoch(l, 3));
  }
  for (size_t r = 1; r < runs.size(); ++r) {
    ASSERT_EQ(runs[r].size(), runs[0].size());
    for (size_t b = 0; b < runs[0].size(); ++b) {
      EXPECT_EQ(runs[r][b].indices, runs[0][b].indices);
      EXPECT_TRUE(at::equal(runs[r][b].x, runs[0][b].x)) << "run " << r << " batch " << b;
    }
  }
  // Augmentation did something and differs between epochs; the order is reshuffled too.
  cd::Loader l(ds, noisy(), opts(2, 5));
  auto e3 = run_epoch(l, 3), e4 = run_epoch(l, 4);
  EXPECT_TRUE(at::equal(e3[0].x, runs[0][0].x));
  EXPECT_NE(e3[0].indices, e4[0].indices);
  const at::Tensor clean = ds->get(e3[0].indices[0]).signal * 0.5;
  EXPECT_GT((e3[0].x[0] - clean.narrow(1, 0, 40)).abs().max().item<float>(), 0.0f);
}

TEST(DataLoader, PrepareMatchesBatchContents) {
  const auto dir = ct::test::make_temp_dir("loader_prep");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 6, 2, 64);
  cd::Loader l(ds, noisy(), opts(2, 3));
  auto batches = run_epoch(l, 1);
  const int64_t i = batches[1].indices[2];
  EXPECT_TRUE(at::equal(batches[1].x[2], l.prepare(i, 1).signal));
}

TEST(DataLoader, ShardsCoverTheDatasetExactlyOnce) {
  const auto dir = ct::test::make_temp_dir("loader_shard");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 29, 1, 40);
  for (int64_t world : {1, 2, 3, 4}) {
    std::vector<int> seen(29, 0);
    for (int64_t rank = 0; rank < world; ++rank) {
      auto o = opts(1, 4);
      o.rank = rank;
      o.world_size = world;
      cd::Loader l(ds, ct::signal::Pipeline(), o);
      int64_t n = 0;
      for (const auto& b : run_epoch(l, 7)) {
        for (int64_t i : b.indices) ++seen[static_cast<size_t>(i)];
        n += b.size();
      }
      EXPECT_EQ(n, l.shard_size());
      EXPECT_LE(std::abs(l.shard_size() - 29 / world), 1);
    }
    for (int i = 0; i < 29; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], 1) << "world " << world << " item " << i;
  }
}

TEST(DataLoader, DropLast) {
  const auto dir = ct::test::make_temp_dir("loader_drop");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 10, 1, 40);
  auto o = opts(2, 4);
  o.drop_last = true;
  cd::Loader l(ds, ct::signal::Pipeline(), o);
  EXPECT_EQ(l.num_batches(), 2);
  auto b = run_epoch(l, 0);
  ASSERT_EQ(b.size(), 2u);
  for (const auto& x : b) EXPECT_EQ(x.size(), 4);
  o.drop_last = false;
  cd::Loader k(ds, ct::signal::Pipeline(), o);
  EXPECT_EQ(run_epoch(k, 0).size(), 3u);
}

TEST(DataLoader, WorkerErrorsReachTheConsumerWithTheRecordName) {
  const auto dir = ct::test::make_temp_dir("loader_err");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 12, 1, 40, 3, std::vector<int64_t>{7});
  for (int64_t w : {0, 2}) {
    auto o = opts(w, 3);
    o.shuffle = false;
    cd::Loader l(ds, ct::signal::Pipeline(), o);
    l.start_epoch(0);
    ASSERT_TRUE(l.next().has_value());  // items 0-2
    ASSERT_TRUE(l.next().has_value());  // items 3-5
    try {
      l.next();  // items 6-8 include the bad record 7
      FAIL() << "expected DataError";
    } catch (const ct::DataError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("record rec7"), std::string::npos) << m;
      EXPECT_NE(m.find("simulated decode failure"), std::string::npos) << m;
    }
    EXPECT_TRUE(l.next().has_value());  // the epoch goes on after a failed batch
    EXPECT_FALSE(l.next().has_value());
  }
}

TEST(DataLoader, MismatchedLengthsWithoutCropAreShapeErrors) {
  cd::DatasetInfo info;
  info.name = "mixed";
  std::vector<cd::Sample> s(2);
  s[0].signal = at::zeros({1, 10});
  s[0].record_id = "short";
  s[1].signal = at::zeros({1, 12});
  s[1].record_id = "long";
  auto ds = std::make_shared<cd::InMemoryDataset>(info, s, std::vector<cd::ItemInfo>{});
  cd::LoaderOptions o;
  o.batch_size = 2;
  o.shuffle = false;
  o.num_workers = 1;
  cd::Loader l(ds, ct::signal::Pipeline(), o);
  l.start_epoch(0);
  EXPECT_THROW(l.next(), ct::ShapeError);
  o.crop = 11;  // pad one, crop the other
  cd::Loader k(ds, ct::signal::Pipeline(), o);
  k.start_epoch(0);
  auto b = k.next();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->x.sizes(), (std::vector<int64_t>{2, 1, 11}));
}

TEST(DataLoader, OptionsAreValidated) {
  EXPECT_THROW(ct::from_config<cd::LoaderOptions>(ct::ConfigNode::parse("{batch_size: 0}")), ct::ConfigError);
  EXPECT_THROW(ct::from_config<cd::LoaderOptions>(ct::ConfigNode::parse("{rank: 2, world_size: 2}")), ct::ConfigError);
  EXPECT_THROW(ct::from_config<cd::LoaderOptions>(ct::ConfigNode::parse("{crop_mod: random}")), ct::ConfigError);
  EXPECT_THROW(ct::from_config<cd::LoaderOptions>(ct::ConfigNode::parse("{device: gpu7}")), ct::ConfigError);
  if (!at::hasCUDA()) {
    auto ds = std::make_shared<cd::InMemoryDataset>(cd::DatasetInfo{}, std::vector<cd::Sample>{},
                                                    std::vector<cd::ItemInfo>{});
    cd::LoaderOptions o;
    o.device = "cuda";
    EXPECT_THROW(cd::Loader(ds, ct::signal::Pipeline(), o), ct::ConfigError);
  }
}

// The registered augmenters draw from the per-sample generator, so they are thread-count
// independent through the loader too.
TEST(DataLoader, RegisteredAugmentersAreDeterministicAcrossWorkers) {
  const auto dir = ct::test::make_temp_dir("loader_aug");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 17, 3, 80);
  const auto aug = ct::signal::Pipeline::from_config(ct::ConfigNode::parse(
      "- {name: rescaling, p: 0.7}\n- {name: gaussian_noise, p: 0.7, std: 0.1}\n- {name: time_mask, p: 0.5}\n"));
  std::vector<std::vector<cd::Batch>> runs;
  for (int64_t w : {1, 2}) {
    cd::Loader l(ds, aug, opts(w, 4));
    runs.push_back(run_epoch(l, 2));
  }
  ASSERT_EQ(runs[0].size(), runs[1].size());
  for (size_t b = 0; b < runs[0].size(); ++b) EXPECT_TRUE(at::equal(runs[0][b].x, runs[1][b].x)) << b;
}

// Batch-level augmenters (mixup) need a batch: the loader runs them after collation and turns
// class indices into one-hot rows so the labels can be mixed with the signal weights.
TEST(DataLoader, BatchLevelAugmentersRunAfterCollation) {
  const auto dir = ct::test::make_temp_dir("loader_mixup");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 8, 2, 40, /*n_classes=*/3);
  ct::signal::Pipeline p =
      ct::signal::Pipeline::from_config(ct::ConfigNode::parse("[{name: mixup, p: 1.0, alpha: 0.4}]"));
  auto o = opts(1);
  o.shuffle = false;
  o.crop_mode = "start";
  cd::Loader train(ds, p, o);
  auto batches = run_epoch(train, 0);
  ASSERT_EQ(batches.size(), 2u);
  const cd::Batch& b = batches[0];
  ASSERT_EQ(b.y.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_TRUE(at::allclose(b.y.sum(1), at::ones({4})));
  // Each item i holds i + ramp, so the mixed signal's offset is sum_c w_c * (items of class c):
  // check x mixes exactly like y: x[k] = lam*x_k + (1-lam)*x_perm, and y has mass off its own class.
  at::Tensor raw = at::stack({ds->get(0).signal.narrow(1, 0, 40), ds->get(1).signal.narrow(1, 0, 40),
                              ds->get(2).signal.narrow(1, 0, 40), ds->get(3).signal.narrow(1, 0, 40)});
  EXPECT_FALSE(at::equal(b.x, raw)) << "mixup did not change the batch";
  // Same seed, same batches; eval mode leaves the batch and its class-index labels alone.
  cd::Loader again(ds, p, o);
  EXPECT_TRUE(at::equal(run_epoch(again, 0)[0].x, b.x));
  o.training = false;
  cd::Loader eval(ds, p, o);
  auto e = run_epoch(eval, 0);
  EXPECT_TRUE(at::equal(e[0].x, raw));
  EXPECT_EQ(e[0].y.dim(), 1);
}

TEST(DataLoader, BatchLevelStepOnASingleRecordIsAnError) {
  ct::signal::Pipeline p = ct::signal::Pipeline::from_config(ct::ConfigNode::parse("[{name: mixup, p: 1.0}]"));
  EXPECT_THROW(p(at::randn({12, 100}), 500.0, /*training=*/true), ct::ShapeError);
}

// The loader's windows are the crop step's (signal/crop.h) drawn from each sample's generator.
TEST(DataLoader, CropIsTheCropStep) {
  const auto dir = ct::test::make_temp_dir("loader_crop");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 9, 2, 64);
  auto crop_step = ct::signal::build_step(ct::ConfigNode::parse("{name: crop, length: 40, mode: random}"));
  for (bool training : {true, false}) {
    auto o = opts(2, 4);
    o.training = training;
    cd::Loader l(ds, ct::signal::Pipeline(), o);
    for (const auto& b : run_epoch(l, 5))
      for (int64_t k = 0; k < b.size(); ++k) {
        const int64_t i = b.indices[static_cast<size_t>(k)];
        ct::signal::SignalBatch sb;
        sb.x = ds->get(i).signal;
        ct::signal::StepContext ctx;
        ctx.training = training;
        ctx.generator = at::make_generator<at::CPUGeneratorImpl>(ct::derive_seed(42, 5, static_cast<uint64_t>(i)));
        crop_step->apply(sb, ctx);
        EXPECT_TRUE(at::equal(b.x[k], sb.x)) << "item " << i << (training ? " (training)" : " (eval)");
      }
  }
}

TEST(DataLoader, CropModeAcceptsCentreAndCenter) {
  const auto dir = ct::test::make_temp_dir("loader_centre");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 5, 2, 64);
  std::vector<at::Tensor> xs;
  for (const char* mode : {"centre", "center"}) {
    auto o = ct::from_config<cd::LoaderOptions>(
        ct::ConfigNode::parse(std::string("{crop: 40, crop_mode: ") + mode + ", batch_size: 5, shuffle: false}"));
    cd::Loader l(ds, ct::signal::Pipeline(), o);
    xs.push_back(run_epoch(l, 0).at(0).x);
  }
  EXPECT_TRUE(at::equal(xs[0], xs[1]));
  EXPECT_TRUE(at::equal(xs[0][1], ds->get(1).signal.narrow(1, 12, 40)));
}

namespace {
// Records which threads prepared samples (and takes a little time, so both workers get some).
class ThreadTrace : public ct::signal::Step {
 public:
  std::string name() const override { return "thread_trace"; }
  void apply(ct::signal::SignalBatch&, ct::signal::StepContext&) const override {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::lock_guard<std::mutex> lk(mu);
    ids.insert(std::this_thread::get_id());
  }
  mutable std::mutex mu;
  mutable std::set<std::thread::id> ids;
};
}  // namespace

// Two workers share one batch: an epoch of a single batch still uses both.
TEST(DataLoader, WorkersShareTheSamplesOfABatch) {
  const auto dir = ct::test::make_temp_dir("loader_share");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 16, 1, 40);
  auto trace = std::make_shared<ThreadTrace>();
  ct::signal::Pipeline p;
  p.add(trace);
  auto o = opts(2, 16);
  cd::Loader l(ds, p, o);
  auto batches = run_epoch(l, 0);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(trace->ids.size(), 2u);
  EXPECT_EQ(trace->ids.count(std::this_thread::get_id()), 0u);
}

// A loader destroyed mid-epoch (its consumer stopped early, or threw: embed on an ensemble did)
// waits for the samples its workers are preparing; they read the loader's state (the crop)
// after a slow step. It used to release that state first: a segmentation fault.
TEST(DataLoader, DestroyedMidEpochWaitsForItsWorkers) {
  const auto dir = ct::test::make_temp_dir("loader_destroy");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 64, 1, 64);
  ct::signal::Pipeline p;
  p.add(std::make_shared<ThreadTrace>());
  auto o = opts(2, 4);
  o.crop = 32;
  for (int i = 0; i < 10; ++i) {
    cd::Loader l(ds, p, o);
    l.start_epoch(0);
    ASSERT_TRUE(l.next().has_value());
  }  // the later batches are still being prepared here
}

TEST(DataLoader, DefaultWorkersComeFromTheThreadBudget) {
  auto ds =
      std::make_shared<cd::InMemoryDataset>(cd::DatasetInfo{}, std::vector<cd::Sample>{}, std::vector<cd::ItemInfo>{});
  cd::LoaderOptions o;
  EXPECT_EQ(o.num_workers, -1);
  cd::Loader l(ds, ct::signal::Pipeline(), o);
  EXPECT_EQ(l.options().num_workers, ct::thread_budget().loader_workers);
  EXPECT_THROW(ct::from_config<cd::LoaderOptions>(ct::ConfigNode::parse("{num_workers: -2}")), ct::ConfigError);
}

// Restarting an epoch while batches are in flight abandons them cleanly.
TEST(DataLoader, RestartingAnEpochMidwayGivesTheSameBatches) {
  const auto dir = ct::test::make_temp_dir("loader_restart");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 30, 2, 64);
  cd::Loader ref(ds, noisy(), opts(2, 4));
  const auto want = run_epoch(ref, 1);
  cd::Loader l(ds, noisy(), opts(2, 4));
  l.start_epoch(0);
  ASSERT_TRUE(l.next().has_value());
  const auto got = run_epoch(l, 1);  // restarts while epoch 0's batches are queued
  ASSERT_EQ(got.size(), want.size());
  for (size_t b = 0; b < got.size(); ++b) EXPECT_TRUE(at::equal(got[b].x, want[b].x)) << b;
}
