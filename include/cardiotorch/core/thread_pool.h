#pragma once
// A fixed set of worker threads with a FIFO task queue: the one pool behind the cache build and
// the data loader.
//
// Workers are started once and live as long as the pool (a loader keeps its pool across
// epochs). Each worker first calls set_worker_threads(1): pools parallelise over tasks (records,
// samples), so intra-op work inside a task runs on one thread and W workers use W cores, never
// W x intra-op threads (core/runtime.h: ThreadBudget).
#include <cstdint>
#include <functional>
#include <memory>

namespace cardiotorch {

class ThreadPool {
 public:
  /// Starts `threads` workers (at least 1).
  explicit ThreadPool(int threads);
  /// Runs the tasks still queued, then joins the workers.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;
  /// Queues a task; tasks start in submission order on whichever worker is free. A task must
  /// handle its own exceptions (one that escapes is logged and dropped).
  void submit(std::function<void()> task);
  /// Runs fn(i) for every i in [0, n) on the workers and returns when all have finished; then
  /// rethrows the exception of the lowest i that threw, if any. Call it from outside the pool.
  void parallel_for(int64_t n, const std::function<void(int64_t)>& fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cardiotorch
