#pragma once
// Fixtures of tests/fixtures/models/make_vit_fixtures.py (PyTorch 1.13 reference outputs) and a
// by-name loader for them: the weights helper's torch.save reader is not needed to load a
// {name: array} .npz into a module's parameters and buffers.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <map>
#include <string>

#include "cardiotorch/io/npy.h"
#include "cardiotorch/models/mae.h"
#include "support/test_util.h"

namespace cardiotorch::test {

/// The reduced configuration of the fixtures: 12 leads x 250 samples in (1, 25) patches
/// (12 x 10 = 120 tokens), D 32, 2 blocks, 4 heads; MAE decoder 16-d x 2 blocks, 2 heads.
constexpr int64_t kFxLeads = 12, kFxSamples = 250, kFxPatch = 25, kFxDim = 32, kFxDepth = 2, kFxHeads = 4;
constexpr int64_t kFxDecDim = 16, kFxDecDepth = 2, kFxDecHeads = 2, kFxClasses = 5, kFxTokens = 120;

/// The MAE of the fixtures (its encoder is the fixtures' ViT).
inline models::MaeOptions fixture_mae_options() {
  models::MaeOptions o;
  o.patch_size = {1, kFxPatch};
  o.embed_dim = kFxDim;
  o.depth = kFxDepth;
  o.num_heads = kFxHeads;
  o.decoder_embed_dim = kFxDecDim;
  o.decoder_depth = kFxDecDepth;
  o.decoder_num_heads = kFxDecHeads;
  o.leads = kFxLeads;
  o.samples = kFxSamples;
  return o;
}

inline std::string vit_fixture(const std::string& name) { return source_path("tests/fixtures/models/" + name); }

inline const std::map<std::string, at::Tensor>& vit_weights() {
  static const auto w = io::read_npz(vit_fixture("vit_weights.npz"));
  return w;
}
inline const std::map<std::string, at::Tensor>& vit_expected() {
  static const auto e = io::read_npz(vit_fixture("vit_expected.npz"));
  return e;
}
inline const std::map<std::string, at::Tensor>& vit_noise() {
  static const auto n = io::read_npz(vit_fixture("vit_noise.npz"));
  return n;
}
inline at::Tensor vit_input() { return io::read_npy(vit_fixture("vit_input.npy")); }

inline at::Tensor expected(const std::string& key) {
  const auto& e = vit_expected();
  auto it = e.find(key);
  if (it == e.end()) throw std::runtime_error("vit_expected.npz has no '" + key + "'");
  return it->second;
}

/// Copies every parameter and buffer of `module` from `weights` by its state-dict name; fails
/// the test on a missing name or a shape mismatch (nothing is left at its random init).
inline void load_by_name(torch::nn::Module& module, const std::map<std::string, at::Tensor>& weights) {
  at::NoGradGuard no_grad;
  const auto load = [&](const std::string& name, at::Tensor& t) {
    auto it = weights.find(name);
    ASSERT_NE(it, weights.end()) << "fixture weights have no '" << name << "'";
    ASSERT_EQ(it->second.sizes(), t.sizes()) << name;
    t.copy_(it->second);
  };
  for (auto& p : module.named_parameters(/*recurse=*/true)) load(p.key(), p.value());
  for (auto& b : module.named_buffers(/*recurse=*/true)) load(b.key(), b.value());
}

/// max |a - b| <= tol, with the worst difference in the message.
inline ::testing::AssertionResult all_close(const at::Tensor& a, const at::Tensor& b, double tol = 1e-5) {
  if (a.sizes() != b.sizes()) return ::testing::AssertionFailure() << "shape " << a.sizes() << " vs " << b.sizes();
  const double diff = (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
  if (diff <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max |diff| " << diff << " > " << tol;
}

}  // namespace cardiotorch::test
