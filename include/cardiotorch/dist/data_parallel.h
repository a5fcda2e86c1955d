#pragma once
// Data-parallel training on a ProcessGroup: the same initial weights everywhere, gradients
// summed over ranks in flat buckets, buffers kept equal, and an all-gather that carries
// gradients (contrastive losses over the global batch).
//
// Gradients are reduced after the backward pass, not overlapped with it: LibTorch 1.13 has no
// post-accumulate-grad hook, and a tensor hook fires once per micro-batch under gradient
// accumulation (and before the gradient is accumulated), so overlapping would need DDP's
// Reducer. The buckets are started together and overlap one another on the backend's threads.
// On this 2-core CPU a ViT-sized bucket costs ~2% of a step (bench/bench_dist.cpp).
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
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
class GradientSync {
 public:
  GradientSync(ProcessGroupPtr group, std::vector<at::Tensor> params, double bucket_mb = 25);

  /// Replaces every gradient by its sum over ranks, and sums `extra` (a small vector: sample
  /// counts, flags, loss sums) in the same round; returns the summed `extra` (float64, CPU).
  /// A parameter without a gradient on some rank counts as zeros there; it has a gradient
  /// afterwards iff some rank had one, so every rank's optimizer sees the same set.
  at::Tensor sync(const at::Tensor& extra = at::Tensor());

  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  /// Bytes of gradient reduced per sync.
  int64_t bytes() const { return bytes_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    at::Tensor flat;
  };
  ProcessGroupPtr group_;
  std::vector<at::Tensor> params_;
  std::vector<Bucket> buckets_;
  int64_t bytes_ = 0;
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
