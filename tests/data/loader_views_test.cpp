// The loader's multi-view mode (K independently augmented views per sample, for contrastive
// objectives) and mid-epoch starts (resume).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cardiotorch/data/loader.h"
#include "data/test_datasets.h"

namespace ct = cardiotorch;
namespace cd = cardiotorch::data;

namespace {

ct::signal::Pipeline augment() {
  ct::signal::Pipeline p;
  p.add(std::make_shared<ct::test::NoiseStep>());
  return p;
}

std::vector<cd::Batch> epoch(cd::Loader& l, int64_t e, int64_t first = 0) {
  std::vector<cd::Batch> out;
  l.start_epoch(e, first);
  while (auto b = l.next()) out.push_back(std::move(*b));
  return out;
}

cd::LoaderOptions options(int64_t views, int64_t workers) {
  cd::LoaderOptions o;
  o.batch_size = 4;
  o.num_workers = workers;
  o.views = views;
  o.seed = 5;
  return o;
}

}  // namespace

TEST(DataLoaderViews, IndependentDeterministicViews) {
  const std::string dir = ct::test::make_temp_dir("views");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 10, 2, 16);
  cd::Loader three(ds, augment(), options(3, 2));
  cd::Loader single(ds, augment(), options(1, 0));
  cd::Loader three_again(ds, augment(), options(3, 0));
  const auto a = epoch(three, 1), s = epoch(single, 1), b = epoch(three_again, 1);
  ASSERT_EQ(a.size(), 3u);
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].views.size(), 3u);
    EXPECT_TRUE(s[i].views.empty());
    EXPECT_TRUE(at::equal(a[i].views[0], a[i].x));
    // View 0 is what a single-view loader delivers; the others differ from it and each other.
    EXPECT_TRUE(at::equal(a[i].x, s[i].x));
    EXPECT_FALSE(at::allclose(a[i].views[1], a[i].views[0]));
    EXPECT_FALSE(at::allclose(a[i].views[2], a[i].views[1]));
    EXPECT_EQ(a[i].views[1].sizes(), a[i].x.sizes());
    // Independent of the worker count.
    for (size_t v = 0; v < 3; ++v) EXPECT_TRUE(at::equal(a[i].views[v], b[i].views[v]));
    EXPECT_TRUE(at::equal(a[i].y, s[i].y));
  }
  // The same source signal under the noise: the views differ only by their noise.
  const at::Tensor d = a[0].views[1] - a[0].views[0];
  EXPECT_NEAR(d.std().item<double>(), std::sqrt(2.0), 0.5);
}

TEST(DataLoaderViews, RejectsBatchLevelStepsAndBadCounts) {
  const std::string dir = ct::test::make_temp_dir("views_bad");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 4, 2, 16);
  EXPECT_THROW(cd::Loader(ds, ct::signal::Pipeline(), options(0, 0)), ct::ConfigError);
  const auto mix = ct::signal::Pipeline::from_config(ct::ConfigNode::parse("[{name: mixup, p: 1.0}]"));
  EXPECT_THROW(cd::Loader(ds, mix, options(2, 0)), ct::ConfigError);
}

TEST(DataLoaderViews, MidEpochStartSkipsWithoutDecoding) {
  const std::string dir = ct::test::make_temp_dir("skip");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 10, 2, 16);
  cd::Loader full(ds, augment(), options(1, 0));
  const auto all = epoch(full, 2);
  const int64_t reads_before = ds->reads;
  cd::Loader later(ds, augment(), options(1, 0));
  const auto rest = epoch(later, 2, 2);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].batch_index, 2);
  EXPECT_TRUE(at::equal(rest[0].x, all[2].x));
  EXPECT_EQ(rest[0].indices, all[2].indices);
  EXPECT_EQ(ds->reads - reads_before, 2);  // only the last batch's 2 samples were decoded
  EXPECT_THROW(later.start_epoch(0, 4), ct::UsageError);
}

TEST(DataLoaderViews, MidEpochStartWithWorkersAndViewsMatchesAnUninterruptedEpoch) {
  // The worker pool path: scheduling starts at first_batch, batch indices and contents are those
  // of the full epoch (views included), and a restart on the same loader forgets the old epoch.
  const std::string dir = ct::test::make_temp_dir("skip_pool");
  auto ds = std::make_shared<ct::test::FileDataset>(dir, 18, 2, 16);
  cd::Loader full(ds, augment(), options(2, 0));
  const auto all = epoch(full, 3);
  ASSERT_EQ(all.size(), 5u);
  cd::Loader pooled(ds, augment(), options(2, 2));
  pooled.start_epoch(3);
  ASSERT_TRUE(pooled.next().has_value());  // abandoned mid-epoch, with batches in flight
  for (int64_t first : {3, 1, 5}) {
    const auto rest = epoch(pooled, 3, first);
    ASSERT_EQ(rest.size(), all.size() - static_cast<size_t>(first)) << first;
    for (size_t i = 0; i < rest.size(); ++i) {
      const auto& want = all[static_cast<size_t>(first) + i];
      EXPECT_EQ(rest[i].batch_index, want.batch_index);
      EXPECT_EQ(rest[i].indices, want.indices);
      ASSERT_EQ(rest[i].views.size(), 2u);
      EXPECT_TRUE(at::equal(rest[i].x, want.x));
      EXPECT_TRUE(at::equal(rest[i].views[1], want.views[1]));
    }
  }
}
