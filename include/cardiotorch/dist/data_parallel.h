#pragma once
// Data-parallel training on a ProcessGroup: the same initial weights everywhere, gradients
// summed over ranks in flat buckets, buffers kept equal, and an all-gather that carries
// gradients (contrastive losses over the global batch).
//
// Gradients are reduced in flat buckets. With overlap, a post hook on each parameter's
// AccumulateGrad node (the node that adds a backward pass's gradient into .grad, as torch's own
// C++ Reducer does) marks it ready during the window's last backward pass, and a bucket whose
// gradients are all ready starts its all-reduce at once, in bucket order, while backward goes
// on; sync() starts the rest and waits. Without overlap, sync() starts every bucket after the
// backward pass. Both give the same sums (tests/dist/overlap_test.cpp).
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cardiotorch/dist/process_group.h"

namespace cardiotorch::dist {

/// Copies `root`'s parameters (and buffers) of `module` to every rank, in place.
void broadcast_module(torch::nn::Module& module, ProcessGroup& group, bool buffers = true, int64_t root = 0);
/// Copies `root`'s buffers (BatchNorm running statistics, counters) to every rank.
void broadcast_buffers(torch::nn::Module& module, ProcessGroup& group, int64_t root = 0);

/// Sums parameter gradients over ranks in flat buckets of about `bucket_mb` MB (parameters in
/// reverse registration order, as their gradients become ready; one dtype and device per bucket).
///
/// overlap: arm() before the last backward pass of an optimizer step (the only one under
/// gradient accumulation) lets each bucket's all-reduce start as soon as that pass has
/// accumulated all of its gradients; sync() then starts the buckets still waiting (parameters
/// without a gradient this step) and waits for all. Every rank must run the same backward
/// passes in the same order, as for any collective.
class GradientSync {
 public:
  GradientSync(ProcessGroupPtr group, std::vector<at::Tensor> params, double bucket_mb = 25, bool overlap = false);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  /// overlap: the next backward pass is the last before sync(); its gradients start the
  /// all-reduce as they become ready. A no-op without overlap.
  void arm();

  /// Replaces every gradient by its sum over ranks, and sums `extra` (a small vector: sample
  /// counts, flags, loss sums) in the same round; returns the summed `extra` (float64, CPU).
  /// A parameter without a gradient on some rank counts as zeros there; it has a gradient
  /// afterwards iff some rank had one, so every rank's optimizer sees the same set.
  at::Tensor sync(const at::Tensor& extra = at::Tensor());

  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  /// Bytes of gradient reduced per sync.
  int64_t bytes() const { return bytes_; }
  /// Buckets whose all-reduce the last backward pass started (overlap; for tests and benches).
  int64_t launched_in_backward() const { return launched_in_backward_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    at::Tensor flat;
    size_t pending = 0;  // gradients not yet ready in the armed backward pass
    std::unique_ptr<ProcessGroup::Work> work;
  };
  struct Hooks;  // the AccumulateGrad nodes and their post hooks (src/dist/data_parallel.cpp)
  void on_ready(size_t param);
  void launch(size_t bucket);
  void reset_readiness();

  ProcessGroupPtr group_;
  std::vector<at::Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;  // param index -> bucket
  std::vector<bool> hooked_;       // overlap: the parameter's AccumulateGrad reports it ready
  int64_t bytes_ = 0;
  std::unique_ptr<Hooks> hooks_;
  std::mutex mu_;  // hooks run on the autograd engine's threads (CUDA)
  bool armed_ = false;
  size_t next_launch_ = 0;  // buckets start in order: [0, next_launch_) are in flight
  int64_t launched_in_backward_ = 0;
};

/// Concatenates every rank's `x` along dim 0 (same shape on all ranks), in rank order. The
/// backward pass sums the incoming gradient over ranks and returns this rank's slice, so each
/// rank's `x` receives the gradient of the sum of all ranks' losses (SimCLR/CLIP over the
/// global batch; with gradients averaged over ranks, that is the gradient of the mean loss).
at::Tensor all_gather_with_grad(const at::Tensor& x, const ProcessGroupPtr& group);

/// Every rank's rows at `root`, in rank order; an empty vector on the other ranks. Unlike
/// ProcessGroup::gather the row counts may differ (uneven shards: the tensors are padded to the
/// longest for the collective and cut back); dtype and the other dimensions must agree. An
/// undefined `x` is a rank with nothing to give (it stays undefined in the result), so a rank
/// whose shard is empty needs no shape. ShapeError naming both ranks when they disagree.
std::vector<at::Tensor> gather_rows(const at::Tensor& x, ProcessGroup& group, int64_t root = 0);
/// Every rank's string at `root`, in rank order; an empty vector on the other ranks.
std::vector<std::string> gather_strings(const std::string& s, ProcessGroup& group, int64_t root = 0);
/// Replaces `s` on every rank by `root`'s.
void broadcast_string(std::string& s, ProcessGroup& group, int64_t root = 0);

}  // namespace cardiotorch::dist
