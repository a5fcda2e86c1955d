// The thread budget, the shared thread pool and the allocator policy (core/runtime.h,
// core/thread_pool.h).
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "cardiotorch/core/runtime.h"
#include "cardiotorch/core/thread_pool.h"

namespace ct = cardiotorch;

TEST(ThreadBudget, SplitsCoresBetweenLoaderAndModel) {
  auto check = [](int cores, int workers, int intra) {
    const ct::ThreadBudget b = ct::split_threads(cores);
    EXPECT_EQ(b.cores, cores);
    EXPECT_EQ(b.loader_workers, workers) << cores << " cores";
    EXPECT_EQ(b.intra_op, intra) << cores << " cores";
  };
  // The model computes on every core; the loader's workers (mostly waiting on a full queue) come
  // on top, a quarter of the cores, at least 1 and at most 8.
  check(1, 1, 1);
  check(2, 1, 2);
  check(3, 1, 3);
  check(8, 2, 8);
  check(16, 4, 16);
  check(64, 8, 64);  // loading is capped: a few workers feed any model
  for (int c = 1; c <= 128; ++c) {
    const ct::ThreadBudget b = ct::split_threads(c);
    EXPECT_EQ(b.intra_op, c);
    EXPECT_GE(b.loader_workers, 1);
    EXPECT_LE(b.loader_workers, std::max(1, c / 4));
  }
  EXPECT_GE(ct::split_threads(0).cores, 1);  // 0 = the hardware's
}

TEST(ThreadBudget, SetThreadBudgetSetsIntraOpThreadsAndTheLoaderDefault) {
  const int before = ct::num_threads();
  ct::set_thread_budget(8);
  EXPECT_EQ(ct::thread_budget().cores, 8);
  EXPECT_EQ(ct::thread_budget().loader_workers, 2);
  EXPECT_EQ(ct::num_threads(), 8);
  ct::set_thread_budget(0);
  EXPECT_EQ(ct::thread_budget().cores, ct::split_threads(0).cores);
  ct::set_num_threads(before);
}

TEST(ThreadPool, ParallelForRunsEveryIndexOnceOnWorkerThreads) {
  ct::ThreadPool pool(3);
  EXPECT_EQ(pool.size(), 3);
  for (int64_t n : {0, 1, 2, 7, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.parallel_for(n, [&](int64_t i) { hits[static_cast<size_t>(i)]++; });
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)].load(), 1) << i;
  }
  // Workers run their intra-op work on one thread (set_worker_threads(1)).
  std::atomic<int> intra{-1};
  pool.parallel_for(1, [&](int64_t) { intra = ct::num_threads(); });
  EXPECT_EQ(intra.load(), 1);
}

TEST(ThreadPool, ParallelForRethrowsTheLowestFailingIndexAfterAllFinished) {
  ct::ThreadPool pool(2);
  std::atomic<int> done{0};
  try {
    pool.parallel_for(50, [&](int64_t i) {
      done++;
      if (i == 31 || i == 17) throw std::runtime_error("item " + std::to_string(i));
    });
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "item 17");
  }
  EXPECT_EQ(done.load(), 50);
}

TEST(ThreadPool, SubmittedTasksRunInOrderAndFinishBeforeDestruction) {
  std::vector<int> order;
  std::mutex mu;
  {
    ct::ThreadPool pool(1);
    for (int i = 0; i < 20; ++i)
      pool.submit([&, i] {
        std::lock_guard<std::mutex> lk(mu);
        order.push_back(i);
      });
    pool.submit([] { throw std::runtime_error("a task that throws is logged, not fatal"); });
  }
  ASSERT_EQ(order.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
}

// libcardiotorch applied its policy when it was loaded: with glibc, a large block is served
// from the heap (no new mmap'd chunk) and, once freed, stays in the process for the next one.
TEST(AllocatorPolicy, LargeBlocksComeFromTheHeapAndAreKept) {
  const char* env = std::getenv("CARDIOTORCH_ALLOCATOR");
  if (env && std::string(env) == "system") GTEST_SKIP() << "CARDIOTORCH_ALLOCATOR=system: policy off";
  const std::string summary = ct::allocator_summary();
  if (summary.find("glibc") == std::string::npos) GTEST_SKIP() << "another allocator serves malloc: " << summary;
  EXPECT_TRUE(ct::apply_allocator_policy());
  EXPECT_NE(summary.find("kept"), std::string::npos) << summary;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  const size_t big = size_t{48} << 20;  // above glibc's largest dynamic mmap threshold (32 MiB)
  const struct mallinfo2 before = mallinfo2();
  void* p = std::malloc(big);
  ASSERT_NE(p, nullptr);
  static_cast<volatile char*>(p)[0] = 1;
  const struct mallinfo2 during = mallinfo2();
  EXPECT_EQ(during.hblks, before.hblks) << "the block was mmap'd";
  std::free(p);
  const struct mallinfo2 after = mallinfo2();
  EXPECT_GE(after.fordblks, big) << "the freed block went back to the OS";
#endif
}
