#pragma once
// One Pipeline for preprocessing and augmentation.
//
// A Step transforms a SignalBatch in place. Signals are tensors shaped (..., leads, samples)
// — any number of leading dims, float32/float64, CPU or CUDA — and a step never copies
// to the host. Preprocessors are deterministic; augmenters (is_augmentation() == true)
// draw from ctx.generator, are applied only in training mode, and apply with their own
// probability p to each element of the leading dims.
//
// Buffers: a step may overwrite batch.x's data only when nothing else refers to that buffer
// (a tensor the caller still holds, a view, or memory ATen did not allocate is never written);
// so the caller's input is left intact, and the steps after the first reuse the buffer the
// first one allocated instead of allocating their own (docs/preprocessing.md, "Buffers").
//
// Steps register by name:
//   CT_REGISTER(preprocessor_registry(), "bandpass", make_bandpass, "zero-phase FFT band-pass");
//   CT_REGISTER(augmenter_registry(), "gaussian_noise", make_noise, "additive Gaussian noise");
// and a pipeline is built from YAML:
//   pipeline:
//     - {name: bandpass, lowcut: 0.5, highcut: 45}
//     - {name: zscore, axis: lead}
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/registry.h"

namespace cardiotorch::signal {

struct SignalBatch {
  at::Tensor x;                    ///< (..., leads, samples)
  at::Tensor y;                    ///< optional labels (..., n_classes), multi-hot or soft; may be undefined
  double fs = 0.0;                 ///< sampling rate in Hz; steps that resample update it
  std::vector<std::string> leads;  ///< lead names (size == x.size(-2)) when known; steps that select leads update it
};

struct StepContext {
  bool training = false;    ///< augmenters run only when true
  at::Generator generator;  ///< CPU generator; undefined means the global default generator
};

class Step {
 public:
  virtual ~Step() = default;
  /// Registry name of the step ("bandpass").
  virtual std::string name() const = 0;
  virtual void apply(SignalBatch& batch, StepContext& ctx) const = 0;
  /// Augmenters are skipped in eval mode.
  virtual bool is_augmentation() const { return false; }
  /// Steps that combine samples (mixup, cutmix) need a batch dim: x shaped (B, leads, samples)
  /// or more. The loader runs them after collation; on a single record they are an error.
  virtual bool is_batch_level() const { return false; }
  /// Steps that need batch.fs > 0 (filters, resampling) say so; the pipeline checks it.
  virtual bool needs_fs() const { return false; }
  /// One line, e.g. "bandpass {lowcut: 0.5, highcut: 45, method: fft}".
  virtual std::string summary() const { return name(); }
  /// The step as a config node with every option filled in ({name: bandpass, lowcut: 0.5, ...});
  /// building a step from it gives the same step (resolved configs are saved this way).
  virtual ConfigNode config() const {
    ConfigNode n = ConfigNode::map();
    n.set("name", ConfigNode::string(name()));
    return n;
  }
};

/// Renders a config node on one line ("{a: 1, b: x}").
std::string flow_yaml(const ConfigNode& node);

/// A Step whose behaviour is fully described by an options struct (see core/config.h).
template <class Options>
class OptionsStep : public Step {
 public:
  explicit OptionsStep(Options options) : options_(std::move(options)) {}
  const Options& options() const { return options_; }
  std::string summary() const override { return name() + " " + flow_yaml(to_config(options_)); }
  ConfigNode config() const override {
    ConfigNode n = Step::config();
    n.merge(to_config(options_));
    return n;
  }

 protected:
  Options options_;
};

Registry<Step>& preprocessor_registry();
Registry<Step>& augmenter_registry();

/// The registry holding step `name`: preprocessors first, then augmenters (the order in which
/// a pipeline looks names up). An unknown name is a ConfigError listing both registries' names,
/// prefixed with `where` (a config location) when given.
const Registry<Step>& step_registry(const std::string& name, const std::string& where = "");

/// Builds one step from {name: ..., options...}: preprocessors first, then augmenters.
std::shared_ptr<Step> build_step(const ConfigNode& node);

/// A pipeline step as a typed nested option (`Component<StepCategory>`): the name is looked up
/// as build_step does (preprocessors, then augmenters) and the options checked against its schema.
struct StepCategory {
  static constexpr const char* category = "step";  // `cardiotorch list step`: both registries
  static ConfigNode resolve(const ConfigNode& base, const ConfigNode& node);
};
using StepConfig = Component<StepCategory>;

class Pipeline {
 public:
  Pipeline() = default;
  /// From a list of steps, or a mapping {steps: [...], random_order: false}.
  static Pipeline from_config(const ConfigNode& node);

  Pipeline& add(std::shared_ptr<Step> step);
  void set_random_order(bool on) { random_order_ = on; }
  bool random_order() const { return random_order_; }
  size_t size() const { return steps_.size(); }
  bool empty() const { return steps_.empty(); }
  const std::vector<std::shared_ptr<Step>>& steps() const { return steps_; }

  /// Runs every step in order (augmenters only when ctx.training; the order is shuffled
  /// with ctx.generator when random_order is on).
  void apply(SignalBatch& batch, StepContext& ctx) const;
  /// Convenience: run on a tensor; `seed` seeds a fresh generator for augmenters.
  at::Tensor operator()(const at::Tensor& x, double fs, bool training = false, uint64_t seed = 0) const;

  /// Every step's config() as a list (or {steps: [...], random_order: true}).
  ConfigNode config() const;

  /// Splits into (per-sample steps, batch-level steps), keeping the order within each part.
  std::pair<Pipeline, Pipeline> split_batch_level() const;

  /// One line per step, numbered, with [aug] on augmenters.
  std::string summary() const;

 private:
  std::vector<std::shared_ptr<Step>> steps_;
  bool random_order_ = false;
};

}  // namespace cardiotorch::signal
