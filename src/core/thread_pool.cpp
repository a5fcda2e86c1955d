#include "cardiotorch/core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "cardiotorch/core/log.h"
#include "cardiotorch/core/runtime.h"

namespace cardiotorch {

struct ThreadPool::Impl {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> queue;
  bool stop = false;
  std::vector<std::thread> workers;

  void loop() {
    set_worker_threads(1);
    std::unique_lock<std::mutex> lk(mu);
    while (true) {
      cv.wait(lk, [&] { return stop || !queue.empty(); });
      if (queue.empty()) return;  // stop requested and nothing left
      std::function<void()> task = std::move(queue.front());
      queue.pop_front();
      lk.unlock();
      try {
        task();
      } catch (const std::exception& e) {
        CT_LOG_ERROR("thread pool: a task threw: ", e.what());
      } catch (...) {
        CT_LOG_ERROR("thread pool: a task threw a non-standard exception");
      }
      lk.lock();
    }
  }
};

ThreadPool::ThreadPool(int threads) : impl_(std::make_unique<Impl>()) {
  const int n = std::max(1, threads);
  impl_->workers.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) impl_->workers.emplace_back([this] { impl_->loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->workers) t.join();
}

int ThreadPool::size() const { return static_cast<int>(impl_->workers.size()); }

void ThreadPool::submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->queue.push_back(std::move(task));
  }
  impl_->cv.notify_one();
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  // One task per worker (fewer for small n), each taking the next index until none is left.
  // The call returns only when every task has finished: tasks refer to this frame.
  const int64_t tasks = std::min<int64_t>(n, size());
  std::mutex mu;
  std::condition_variable done_cv;
  int64_t running = tasks;
  std::atomic<int64_t> next{0};
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  for (int64_t t = 0; t < tasks; ++t) {
    submit([&] {
      for (int64_t i; (i = next.fetch_add(1)) < n;) {
        try {
          fn(i);
        } catch (...) {
          errors[static_cast<size_t>(i)] = std::current_exception();
        }
      }
      std::lock_guard<std::mutex> lk(mu);
      if (--running == 0) done_cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lk(mu);
  done_cv.wait(lk, [&] { return running == 0; });
  lk.unlock();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace cardiotorch
