#pragma once
// SyncBatchNorm for the models as they are: while a SyncBatchNorm lives, the BatchNorm1d/2d/3d
// layers of the modules it was given normalise, in training mode, by the mean and variance of
// every rank's samples instead of this rank's alone (`dist.sync_batchnorm: true`).
//
// LibTorch modules call their children's forward() statically (typed holders, Sequential), so a
// layer cannot be swapped for another class as PyTorch's convert_sync_batchnorm does. Instead
// the first SyncBatchNorm registers a kernel for aten::batch_norm at the autograd level (CPU
// and CUDA) that recognises the registered layers by their running_mean (or weight) tensor and
// runs them through sync_batch_norm(); every other call goes on to ATen's own batch_norm,
// unchanged. Eval mode (running statistics) is never synchronised.
//
// Collectives: each synchronised layer all-gathers per-channel (count, mean, M2) in its forward
// pass and all-reduces two per-channel sums in its backward pass. So every rank must run the
// same forward and backward passes: a rank whose shard has no batch left joins with a stand-in
// batch under SyncBatchNorm::Join (it adds no samples to the statistics and gets zero
// gradients), which the trainer does.
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <vector>

#include "cardiotorch/dist/process_group.h"

namespace cardiotorch::dist {

class SyncBatchNorm {
 public:
  /// Synchronises every BatchNorm layer of `modules` over `group` until destroyed. A layer
  /// without running statistics and without affine weights cannot be recognised and stays
  /// local (a warning says so).
  SyncBatchNorm(const std::vector<torch::nn::Module*>& modules, ProcessGroupPtr group);
  ~SyncBatchNorm();
  SyncBatchNorm(const SyncBatchNorm&) = delete;
  SyncBatchNorm& operator=(const SyncBatchNorm&) = delete;

  /// Layers synchronised.
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }

  /// While one lives on this thread, synchronised layers take part in their collectives
  /// without contributing: no samples to the statistics, zero gradients.
  class Join {
   public:
    Join();
    ~Join();
    Join(const Join&) = delete;
    Join& operator=(const Join&) = delete;

   private:
    bool previous_;
  };

 private:
  std::vector<const void*> keys_;
  ProcessGroupPtr group_;
};

/// Batch norm in training mode over every rank's `input` (N, C, *) (N may differ between
/// ranks; a rank under Join counts none): the output is normalised by the global per-channel
/// mean and biased variance, `running_mean` / `running_var` (when defined) move towards the
/// global mean and unbiased variance by `momentum`, as torch's BatchNorm does on the
/// concatenated batch. Differentiable: the input's gradient includes the other ranks' terms
/// through the statistics; the weight's and bias's are this rank's share (sum them over ranks,
/// as the gradient sync does). ShapeError when all ranks hold one value per channel or less.
at::Tensor sync_batch_norm(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                           at::Tensor running_mean, at::Tensor running_var, double momentum, double eps,
                           ProcessGroup& group);

}  // namespace cardiotorch::dist
