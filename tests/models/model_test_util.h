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
#include <utility>

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

/// Loads a parity fixture's state dict into `m` by name (torch_ecg's state-dict names):
/// every parameter and buffer of `m` needs an entry of its shape (a fatal failure otherwise), and
/// every entry but the "__"-prefixed ones (the fixture's config, input, output) must be used.
inline void load_exact_state_dict(torch::nn::Module& m, const std::map<std::string, at::Tensor>& arrays) {
  std::set<std::string> used;
  at::NoGradGuard no_grad;
  auto load = [&](const std::string& key, at::Tensor& t) {
    auto it = arrays.find(key);
    ASSERT_NE(it, arrays.end()) << "the fixture lacks " << key;
    ASSERT_EQ(t.sizes(), it->second.sizes()) << key;
    t.copy_(it->second);
    used.insert(key);
  };
  for (auto& p : m.named_parameters()) load(p.key(), p.value());
  for (auto& b : m.named_buffers()) load(b.key(), b.value());
  for (const auto& kv : arrays)
    if (kv.first.rfind("__", 0) != 0) {
      EXPECT_TRUE(used.count(kv.first)) << "the model lacks " << kv.first;
    }
}

/// A text entry of a fixture (the Python scripts store strings as uint8 arrays).
inline std::string fixture_text(const at::Tensor& t) {
  return std::string(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel()));
}

/// Runs a parity fixture of tests/fixtures/models/make_*_parity.py on the model its __config__
/// YAML describes, built by `build(yaml, in_channels)`, loaded exactly with its state dict and in
/// eval mode; checks the output against the model's output_shape(). Returns {output, __output__}.
template <class Build>
std::pair<at::Tensor, at::Tensor> run_parity_fixture(const std::string& name, const Build& build) {
  const auto arrays = model_fixture(name);
  const at::Tensor x = arrays.at("__input__");
  const auto m = build(fixture_text(arrays.at("__config__")), x.size(1));
  load_exact_state_dict(*m, arrays);
  m->eval();
  at::NoGradGuard no_grad;
  const at::Tensor y = m->forward(x);
  EXPECT_EQ(y.sizes().vec(), m->output_shape(x.sizes().vec()));
  return {y, arrays.at("__output__")};
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
