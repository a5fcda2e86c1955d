#pragma once
// Helpers shared by the augmenter tests.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <memory>
#include <string>

#include "cardiotorch/augment/augmenter.h"
#include "cardiotorch/core/config.h"
#include "cardiotorch/signal/pipeline.h"

namespace cardiotorch::test {

inline at::Generator seeded(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

/// Builds augmenter `name` from a flow-YAML option string ("p: 1, std: 0.1").
inline std::shared_ptr<signal::Step> make_aug(const std::string& name, const std::string& opts = "") {
  ConfigNode node = ConfigNode::parse("{name: " + name + (opts.empty() ? "" : ", " + opts) + "}");
  return signal::augmenter_registry().build(node);
}

/// Runs one step in training mode with a generator seeded `seed`.
inline signal::SignalBatch run_aug(const signal::Step& step, signal::SignalBatch batch, uint64_t seed) {
  signal::StepContext ctx;
  ctx.training = true;
  ctx.generator = seeded(seed);
  step.apply(batch, ctx);
  return batch;
}

inline signal::SignalBatch make_batch(const at::Tensor& x, double fs, const at::Tensor& y = at::Tensor()) {
  signal::SignalBatch b;
  b.x = x;
  b.y = y;
  b.fs = fs;
  return b;
}

inline at::Tensor randn(at::IntArrayRef size, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  at::Generator g = seeded(seed);
  return at::randn(size, g, at::TensorOptions().dtype(dtype));
}

inline double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

}  // namespace cardiotorch::test
