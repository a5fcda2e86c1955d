#pragma once
// Batched, multi-threaded loading with deterministic per-sample randomness.
//
// A pool of worker threads (core/thread_pool.h, started once per loader and kept across
// epochs) prepares samples: decode (Dataset::get), the pipeline (augmenters in training mode),
// the crop step's window (signal/crop.h) to a fixed length. The samples of a batch are spread
// over the workers, and the worker that finishes a batch's last sample collates it, so W
// workers share every batch even when an epoch has few. At most `prefetch` batches are in
// flight ahead of the consumer. Batches come out in order.
//
// Determinism: the epoch order is a permutation seeded by (seed, epoch); each sample's
// generator (augmenters, random crop) is seeded by derive_seed(seed, epoch, index). So a
// batch's contents depend only on (seed, epoch, rank, world_size, options) — never on the
// number of workers or on thread timing.
//
// Sharding: every rank sees the same permutation and takes positions rank, rank + world,
// rank + 2*world, ...; the shards are disjoint and together cover the dataset once (ranks
// may differ by one sample; drop_last drops each rank's incomplete last batch).
//
// A worker exception reaches the consumer at that batch, as the same error category
// (DataError, ShapeError, ...) with the record id in the message.
//
// Datasets and pipeline steps must be safe to call from several threads at once (get()
// and apply() are const; the built-in adapters and steps are).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/signal/pipeline.h"

namespace cardiotorch::data {

struct LoaderOptions {
  int64_t batch_size = 32;
  int64_t num_workers = -1;  ///< worker threads; 0 = in the consumer's thread; -1 = thread_budget().loader_workers
  int64_t prefetch = 4;      ///< batches decoded ahead of the consumer (queue bound)
  bool shuffle = true;       ///< a new seeded permutation per epoch
  bool drop_last = false;    ///< drop the incomplete last batch
  uint64_t seed = 0;
  int64_t rank = 0;  ///< this process's shard
  int64_t world_size = 1;
  int64_t crop = 0;  ///< fixed length in samples (crop or zero-pad); 0 = lengths must agree
  std::string crop_mode =
      "random";                ///< random | centre | start | end ("center" too); random only when training, else centre
  bool training = true;        ///< run augmenters
  std::string device = "cpu";  ///< "cpu", "cuda", "cuda:1"
  bool pin_memory = true;      ///< collate into pinned host memory when copying to CUDA
  int64_t views = 1;           ///< independently augmented views per sample (contrastive objectives)

  template <class V>
  void fields(V& v) {
    v("batch_size", batch_size, "samples per batch");
    v("num_workers", num_workers, "worker threads (0 = in the consumer thread, -1 = the thread budget's share)");
    v("prefetch", prefetch, "batches prepared ahead of the consumer");
    v("shuffle", shuffle, "shuffle every epoch (seeded)");
    v("drop_last", drop_last, "drop the incomplete last batch");
    v("seed", seed, "seed of the order and of per-sample augmentation");
    v("rank", rank, "shard index of this process");
    v("world_size", world_size, "number of shards");
    v("crop", crop, "fixed length in samples (0 = no cropping)");
    v("crop_mode", crop_mode, "random | centre | start | end (center = centre)");
    v("training", training, "apply augmenters and random crops");
    v("device", device, "cpu | cuda[:N]");
    v("pin_memory", pin_memory, "pinned host memory for asynchronous CUDA copies");
    v("views", views, "independently augmented views of each sample (batch.views; 1 = off)");
  }
  void validate() const;
};

struct Batch {
  at::Tensor x;  ///< float32 [B, leads, samples]
  at::Tensor y;  ///< stacked labels: [B, C] multi-hot, [B] class index, [B, C, samples] mask
  /// views > 1: K tensors [B, leads, samples], each sample augmented independently per view
  /// (view 0 is x); empty otherwise. Labels are those of view 0.
  std::vector<at::Tensor> views;
  std::vector<int64_t> indices;  ///< dataset indices
  std::vector<std::string> record_ids;
  std::vector<std::string> patient_ids;
  std::vector<std::string> texts;
  double fs = 0.0;
  std::vector<std::string> leads;
  int64_t epoch = 0;
  int64_t batch_index = 0;
  int64_t size() const { return static_cast<int64_t>(indices.size()); }
};

class Loader {
 public:
  Loader(DatasetPtr dataset, signal::Pipeline pipeline, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  /// Starts (or restarts) an epoch: new order, workers begin decoding. `first_batch` > 0
  /// resumes mid-epoch: the batches before it are skipped without being decoded (the order
  /// and every sample's randomness depend only on (seed, epoch, index), so what follows is
  /// exactly what an uninterrupted epoch would deliver).
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  /// The next batch of the current epoch, or nullopt at its end. Rethrows worker errors.
  std::optional<Batch> next();

  /// This rank's item indices for an epoch, in delivery order.
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  int64_t num_batches() const;
  int64_t shard_size() const;
  const LoaderOptions& options() const { return options_; }
  const Dataset& dataset() const { return *dataset_; }

  /// One prepared sample (decode, pipeline, crop) exactly as a batch would hold it.
  Sample prepare(int64_t index, int64_t epoch) const;
  /// The pipeline and crop applied to a decoded sample for one view: view 0 draws from
  /// (seed, epoch, index) exactly as prepare(), view v > 0 from its own stream.
  Sample transform(Sample s, int64_t index, int64_t epoch, int64_t view) const;

 private:
  struct Impl;  // epoch state, worker pool, in-flight batches (src/data/loader.cpp)
  std::unique_ptr<Impl> impl_;
  DatasetPtr dataset_;
  LoaderOptions options_;
};

}  // namespace cardiotorch::data
