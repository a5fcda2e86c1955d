#pragma once
// Helpers of the model tests: fixtures as named tensors, loading them into a module by name,
// and comparisons.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <map>
#include <set>
#include <string>

#include "cardiotorch/io/npy.h"
#include "support/test_util.h"

namespace cardiotorch::test {

/// tests/fixtures/models/<name> (.npz) as name -> tensor.
inline std::map<std::string, at::Tensor> model_fixture(const std::string& name) {
  return io::read_npz(source_path("tests/fixtures/models/" + name));
}

/// Every parameter and buffer of `m` by its state-dict name.
inline std::map<std::string, at::Tensor> state_of(const torch::nn::Module& m) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : m.named_parameters(true)) out[p.key()] = p.value();
  for (const auto& b : m.named_buffers(true)) out[b.key()] = b.value();
  return out;
}

/// Copies `arrays[prefix + name]` into every parameter and buffer of `m` (shapes must
/// match); fails the test for a model entry without a source. Returns the keys used.
inline std::set<std::string> load_state(torch::nn::Module& m, const std::map<std::string, at::Tensor>& arrays,
                                        const std::string& prefix) {
  std::set<std::string> used;
  at::NoGradGuard no_grad;
  for (auto& kv : state_of(m)) {
    auto it = arrays.find(prefix + kv.first);
    if (it == arrays.end()) {
      ADD_FAILURE() << "no '" << prefix << kv.first << "' in the fixture";
      continue;
    }
    EXPECT_EQ(kv.second.sizes(), it->second.sizes()) << kv.first;
    if (kv.second.sizes() != it->second.sizes()) continue;
    kv.second.copy_(it->second.to(kv.second.scalar_type()));
    used.insert(it->first);
  }
  return used;
}

/// max |a - b| (in double).
inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return INFINITY;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

/// max |a - b| relative to max(1, max |b|): the 1e-5 parity gate for float32 nets.
inline double max_rel_diff(const at::Tensor& a, const at::Tensor& b) {
  const double scale = std::max(1.0, b.to(at::kDouble).abs().max().item<double>());
  return max_abs_diff(a, b) / scale;
}

}  // namespace cardiotorch::test
