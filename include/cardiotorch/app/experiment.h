#pragma once
// The top-level experiment configuration: what a YAML file under configs/ maps onto.
// Every section is typed (unknown keys are errors); registry-built sections (pipeline
// steps, datasets) are checked by building their options.
#include <cstdint>
#include <string>

#include "cardiotorch/core/config.h"
#include "cardiotorch/data/cache.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/data/split.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch {

/// The `data:` section: which dataset, how to split it, how to cache and load it.
struct DataSection {
  ConfigNode dataset;          // {name: cinc2021, root: ..., ...}: see `cardiotorch list dataset`
  data::SplitOptions split;    // seed defaults to the experiment seed
  data::CacheOptions cache;    // where preprocessed shards live (dir is required)
  data::LoaderOptions loader;  // seed defaults to the experiment seed

  template <class V>
  void fields(V& v) {
    v("dataset", dataset, "dataset adapter: {name: ..., root: ..., options}");
    v("split", split, "train/val/test split (patient-level, stratified, seeded)");
    v("cache", cache, "preprocessed-sample cache");
    v("loader", loader, "batching, workers, cropping");
  }
};

struct ExperimentOptions {
  std::string name = "experiment";  // run name: outputs go to <output_dir>/<name>
  std::string output_dir = "runs";
  int64_t seed = 0;                 // seeds torch, data order and augmentation
  bool deterministic = false;       // deterministic ATen algorithms
  int64_t threads = 0;              // cores (loader workers + intra-op threads, core/runtime.h); 0 = all
  DataSection data;                 // dataset, split, cache and loader (see docs/data.md)
  ConfigNode preprocess;            // pipeline steps applied to every record
  ConfigNode augment;               // augmenters applied in training only
  models::ModelConfig model;        // {name: <model or backbone>, options}; validated, not built

  template <class V>
  void fields(V& v) {
    v("name", name, "run name; outputs go to <output_dir>/<name>");
    v("output_dir", output_dir, "parent directory of run directories");
    v("seed", seed, "seed for every random source (torch, data order, augmentation)");
    v("deterministic", deterministic, "use deterministic ATen algorithms");
    v("threads", threads, "cores to use, split between loader workers and intra-op threads (0 = all)");
    v("data", data, "dataset and loader options");
    v("preprocess", preprocess, "preprocessing pipeline: a list of {name: step, ...}");
    v("augment", augment, "training-time augmentation pipeline");
    v("model", model, "the network: {name: ..., options} from `cardiotorch list model` / `list backbone`");
  }
  void validate() const;
};

/// Loads FILE (with defaults:/include: composition), applies --set overrides, validates
/// every section and returns the resolved tree (what `config show` prints and runs save).
ConfigNode resolve_experiment(const std::string& file, const std::vector<std::string>& overrides,
                              ExperimentOptions* typed = nullptr);

}  // namespace cardiotorch
