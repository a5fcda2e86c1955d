#pragma once
// LibTorch twins of the fixture models of tests/fixtures/weights/make_fixtures.py, with the
// same parameter names (timm ViT, torchvision ResNet18 inside the seed's CMREncoder, a small
// torch_ecg-like CNN) and the same forward computations, so a loaded checkpoint must reproduce
// Python's outputs.
#include <torch/torch.h>

#include <string>

#include "support/test_util.h"

namespace cardiotorch::test {

inline std::string weights_fixture(const std::string& name) { return source_path("tests/fixtures/weights/" + name); }

// --- timm-named ViT (the seed's vit_patchX on a (B, 1, leads, samples) input) ---------------
struct PatchEmbedImpl : torch::nn::Module {
  torch::nn::Conv2d proj{nullptr};
  PatchEmbedImpl(int64_t dim, int64_t patch) {
    proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, dim, {1, patch}).stride({1, patch})));
  }
  torch::Tensor forward(const torch::Tensor& x) { return proj(x).flatten(2).transpose(1, 2); }
};
TORCH_MODULE(PatchEmbed);

struct AttentionImpl : torch::nn::Module {
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  int64_t heads;
  double scale;
  AttentionImpl(int64_t dim, int64_t heads_) : heads(heads_), scale(std::pow(dim / heads_, -0.5)) {
    qkv = register_module("qkv", torch::nn::Linear(dim, dim * 3));
    proj = register_module("proj", torch::nn::Linear(dim, dim));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const int64_t b = x.size(0), n = x.size(1), c = x.size(2);
    auto t = qkv(x).reshape({b, n, 3, heads, c / heads}).permute({2, 0, 3, 1, 4});
    auto q = t[0], k = t[1], v = t[2];
    auto attn = (q.matmul(k.transpose(-2, -1)) * scale).softmax(-1);
    return proj(attn.matmul(v).transpose(1, 2).reshape({b, n, c}));
  }
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  MlpImpl(int64_t dim, int64_t hidden) {
    fc1 = register_module("fc1", torch::nn::Linear(dim, hidden));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, dim));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(torch::gelu(fc1(x))); }
};
TORCH_MODULE(Mlp);

struct BlockImpl : torch::nn::Module {
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  Mlp mlp{nullptr};
  BlockImpl(int64_t dim, int64_t heads) {
    norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
    attn = register_module("attn", Attention(dim, heads));
    norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
    mlp = register_module("mlp", Mlp(dim, 2 * dim));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x + attn(norm1(x));
    return x + mlp(norm2(x));
  }
};
TORCH_MODULE(Block);

struct TinyVitImpl : torch::nn::Module {
  torch::Tensor cls_token, pos_embed;
  PatchEmbed patch_embed{nullptr};
  torch::nn::ModuleList blocks;
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear head{nullptr};
  explicit TinyVitImpl(int64_t dim = 8, int64_t depth = 2, int64_t heads = 2, int64_t n_tokens = 8,
                       int64_t n_classes = 3) {
    cls_token = register_parameter("cls_token", torch::randn({1, 1, dim}));
    pos_embed = register_parameter("pos_embed", torch::randn({1, n_tokens + 1, dim}));
    patch_embed = register_module("patch_embed", PatchEmbed(dim, 10));
    blocks = register_module("blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < depth; ++i) blocks->push_back(Block(dim, heads));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
    head = register_module("head", torch::nn::Linear(dim, n_classes));
  }
  torch::Tensor features(const torch::Tensor& input) {
    auto x = patch_embed(input);
    x = torch::cat({cls_token.expand({x.size(0), -1, -1}), x}, 1) + pos_embed;
    for (auto& b : *blocks) x = b->as<Block>()->forward(x);
    return norm(x).select(1, 0);
  }
  torch::Tensor forward(const torch::Tensor& x) { return head(features(x)); }
};
TORCH_MODULE(TinyVit);

// --- torchvision ResNet18 layout at widths 2-16, inside the seed's CMREncoder -----------------
struct BasicBlockImpl : torch::nn::Module {
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
    conv1 = register_module(
        "conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(out));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2 = register_module("bn2", torch::nn::BatchNorm2d(out));
    if (stride != 1 || in != out)
      downsample = register_module(
          "downsample",
          torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)),
                                torch::nn::BatchNorm2d(out)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = bn2(conv2(torch::relu(bn1(conv1(x)))));
    return torch::relu(y + (downsample ? downsample->forward(x) : x));
  }
};
TORCH_MODULE(BasicBlock);

// A ResNet stage (two blocks, children "0" and "1"); a Sequential subclass with a plain forward,
// since LibTorch cannot nest a bare Sequential in another.
struct ResLayerImpl : torch::nn::SequentialImpl {
  ResLayerImpl(int64_t in, int64_t out, int64_t stride) {
    push_back(BasicBlock(in, out, stride));
    push_back(BasicBlock(out, out, 1));
  }
  torch::Tensor forward(torch::Tensor x) { return torch::nn::SequentialImpl::forward(x); }
};
TORCH_MODULE(ResLayer);

/// The seed's CMREncoder: `encoder` = nn.Sequential(*list(resnet18.children())[:-1]), so its keys
/// are encoder.0.weight (conv1), encoder.1.* (bn1), encoder.4.0.conv1.weight (layer1), ...
struct CmrEncoderImpl : torch::nn::Module {
  torch::nn::Sequential encoder;
  CmrEncoderImpl() {
    const int64_t w[4] = {2, 4, 8, 16};
    auto layer = [](int64_t in, int64_t out, int64_t stride) { return ResLayer(in, out, stride); };
    encoder = register_module(
        "encoder",
        torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, w[0], 7).stride(2).padding(3).bias(false)),
                              torch::nn::BatchNorm2d(w[0]), torch::nn::ReLU(),
                              torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(1)),
                              layer(w[0], w[0], 1), layer(w[0], w[1], 2), layer(w[1], w[2], 2), layer(w[2], w[3], 2),
                              torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions({1, 1}))));
  }
  torch::Tensor forward(const torch::Tensor& x) { return encoder->forward(x); }
};
TORCH_MODULE(CmrEncoder);

// --- a torch_ecg-like CNN ----------------------------------------------------------------------
struct TinyCnnImpl : torch::nn::Module {
  torch::nn::Conv1d conv{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
  torch::nn::Linear clf{nullptr};
  TinyCnnImpl() {
    conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(2, 4, 5).padding(2)));
    bn = register_module("bn", torch::nn::BatchNorm1d(4));
    clf = register_module("clf", torch::nn::Linear(4, 3));
  }
  torch::Tensor forward(const torch::Tensor& x) { return clf(torch::relu(bn(conv(x))).mean(-1)); }
};
TORCH_MODULE(TinyCnn);

}  // namespace cardiotorch::test
