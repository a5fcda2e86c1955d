#pragma once
// Shared helpers for tests/signal: fixtures from tests/fixtures/signal and tolerance checks.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cardiotorch/signal/pipeline.h"
#include "cardiotorch/io/npy.h"
#include "support/test_util.h"

namespace cardiotorch::test {

inline at::Tensor fixture(const std::string& name) {
  return io::read_npy(source_path("tests/fixtures/signal/" + name + ".npy"));
}

/// max |got - want| <= rel · max |want| (and the shapes agree).
inline ::testing::AssertionResult close_rel_max(const at::Tensor& got, const at::Tensor& want, double rel) {
  if (got.sizes() != want.sizes())
    return ::testing::AssertionFailure() << "shape " << got.sizes() << " != " << want.sizes();
  const double scale = want.abs().max().item<double>();
  const double err = (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>();
  if (std::getenv("CT_SIGNAL_VERBOSE")) std::fprintf(stderr, "  rel err %.3g (tol %.1g)\n", err / scale, rel);
  if (err <= rel * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max abs error " << err << " > " << rel << " * max|want| (" << scale << ")";
}

/// Runs one registered step built from YAML.
inline signal::SignalBatch run_step(const std::string& yaml, const at::Tensor& x, double fs,
                                    std::vector<std::string> leads = {}, bool training = false, uint64_t seed = 0) {
  auto step = signal::build_step(ConfigNode::parse(yaml));
  signal::SignalBatch b;
  b.x = x;
  b.fs = fs;
  b.leads = std::move(leads);
  signal::StepContext ctx;
  ctx.training = training;
  ctx.generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  step->apply(b, ctx);
  return b;
}

}  // namespace cardiotorch::test
