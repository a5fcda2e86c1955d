#pragma once
// A process group on torch's own distributed engine (c10d): a TCPStore for the rendezvous and
// ProcessGroupGloo (CPU tensors) or ProcessGroupNCCL (CUDA tensors, in CUDA builds) for the
// collectives. c10d's headers stay in src/dist/: this header includes no torch header beyond
// ATen's Tensor.
//
// Every collective takes the group's timeout: a rank that died (its sockets close) or hangs
// (never joins) makes the others throw a DataError naming the operation and the timeout,
// instead of waiting forever.
//
//   auto group = dist::ProcessGroup::create(dist::env_from_process(), options);
//   group->allreduce_(loss_sum);                 // summed over ranks, in place
//   group->broadcast_(weights, /*root=*/0);
//   auto parts = group->all_gather(embeddings);  // one tensor per rank
#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/dist/env.h"

namespace cardiotorch::dist {

/// The `dist:` section of an experiment: how ranks talk when a launcher started several
/// (ignored by a single process).
struct DistOptions {
  std::string backend = "auto";   ///< auto (nccl for CUDA, gloo for CPU) | gloo | nccl
  double timeout_s = 300;         ///< a collective waiting longer than this fails (dead or hung rank)
  double setup_timeout_s = 1800;  ///< rendezvous and the wait while rank 0 builds the data cache
  double bucket_mb = 25;          ///< gradient all-reduce bucket size
  bool overlap_backward = true;   ///< start each bucket's all-reduce in backward as soon as its gradients are ready
  bool broadcast_buffers = true;  ///< after each step, copy rank 0's buffers (BatchNorm running stats) to all
  /// false: ranks > 0 reseed their model-side generators (dropout, drop-path, masks) from
  /// (seed, rank), so they draw other patterns than rank 0; true: every rank draws rank 0's.
  bool same_seed_on_all_ranks = false;
  bool sync_batchnorm = false;  ///< BatchNorm statistics over all ranks' samples in training (SyncBatchNorm)

  template <class V>
  void fields(V& v) {
    v("backend", backend, "auto (nccl on CUDA, gloo on CPU) | gloo | nccl");
    v("timeout_s", timeout_s, "seconds a collective may wait for the other ranks before failing");
    v("setup_timeout_s", setup_timeout_s,
      "seconds to wait for all ranks at start-up and while rank 0 builds the preprocessed cache");
    v("bucket_mb", bucket_mb, "size of the flat gradient buckets that are all-reduced together (MB)");
    v("overlap_backward", overlap_backward,
      "start a bucket's all-reduce during the backward pass as soon as its gradients are ready (false: all "
      "after backward)");
    v("broadcast_buffers", broadcast_buffers,
      "after every optimizer step, copy rank 0's buffers (BatchNorm running statistics) to every rank");
    v("same_seed_on_all_ranks", same_seed_on_all_ranks,
      "every rank draws the same dropout / drop-path / mask patterns (false: each rank its own stream, derived from "
      "the seed and the rank)");
    v("sync_batchnorm", sync_batchnorm,
      "BatchNorm layers normalise by the statistics of all ranks' samples in training (SyncBatchNorm)");
  }
  void validate() const;
};

enum class ReduceOp { kSum, kMax, kMin };

/// Whether this build can create the backend ("gloo", "nccl").
bool backend_available(const std::string& backend);

/// A key-value store ranks meet at. TCP across processes; in memory for ranks that are threads
/// of one process (tests, benchmarks).
class Store {
 public:
  struct Impl;
  explicit Store(std::shared_ptr<Impl> impl);
  /// One store for every rank thread of this process.
  static std::shared_ptr<Store> in_memory();
  /// The job's TCPStore at env.master_addr:master_port; rank 0 serves it unless torchrun's
  /// agent does. A port in use is a DataError naming MASTER_PORT.
  static std::shared_ptr<Store> tcp(const DistEnv& env, std::chrono::milliseconds timeout);
  Impl& impl() { return *impl_; }

 private:
  std::shared_ptr<Impl> impl_;
};

class ProcessGroup {
 public:
  /// The job's group from the environment (a TCPStore, then the backend). `backend`: auto |
  /// gloo | nccl; `timeout` bounds every collective, `setup_timeout` the rendezvous.
  static std::shared_ptr<ProcessGroup> create(const DistEnv& env, const DistOptions& options);
  /// A group over an existing store (ranks as threads of one process share Store::in_memory()).
  static std::shared_ptr<ProcessGroup> create(std::shared_ptr<Store> store, int64_t rank, int64_t world_size,
                                              const DistOptions& options, const std::string& prefix = "cardiotorch");
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int64_t rank() const { return rank_; }
  int64_t world_size() const { return world_; }
  bool is_main() const { return rank_ == 0; }
  const std::string& backend() const { return backend_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  /// Reduces in place over ranks (every rank ends with the result). Same shapes on all ranks.
  void allreduce_(at::Tensor& tensor, ReduceOp op = ReduceOp::kSum);
  /// Several tensors, started together and then awaited (they overlap on the backend's threads).
  void allreduce_(std::vector<at::Tensor>& tensors, ReduceOp op = ReduceOp::kSum);

  /// A collective in flight.
  class Work {
   public:
    struct Impl;
    explicit Work(std::unique_ptr<Impl> impl);
    ~Work();
    /// Blocks until it is done; a DataError naming the operation on failure or timeout.
    void wait();

   private:
    std::unique_ptr<Impl> impl_;
  };
  /// Starts an in-place all-reduce and returns at once; `tensor` must stay untouched until
  /// wait(). Every rank must start its collectives in the same order.
  std::unique_ptr<Work> allreduce_async(at::Tensor& tensor, ReduceOp op = ReduceOp::kSum);
  /// Copies `root`'s tensor into every rank's (in place).
  void broadcast_(at::Tensor& tensor, int64_t root = 0);
  /// Every rank's tensor (same shape on all ranks), in rank order.
  std::vector<at::Tensor> all_gather(const at::Tensor& tensor);
  /// Every rank's tensor (same shape on all ranks) at `root`, in rank order; empty on the others.
  std::vector<at::Tensor> gather(const at::Tensor& tensor, int64_t root = 0);
  /// Waits until every rank arrives; a DataError after `timeout` (default: the group's).
  void barrier(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

 private:
  struct Impl;
  ProcessGroup(std::unique_ptr<Impl> impl, int64_t rank, int64_t world, std::string backend,
               std::chrono::milliseconds timeout);
  std::unique_ptr<Impl> impl_;
  int64_t rank_ = 0, world_ = 1;
  std::string backend_;
  std::chrono::milliseconds timeout_;
};

using ProcessGroupPtr = std::shared_ptr<ProcessGroup>;

/// The seconds in CT_DIST_TIMEOUT_S (set by `cardiotorch launch --timeout`), else `fallback`.
double timeout_from_env(double fallback);

}  // namespace cardiotorch::dist
