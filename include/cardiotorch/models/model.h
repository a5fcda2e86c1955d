#pragma once
// The model contract and the model registries.
//
// Every registered network — a 1-D CNN backbone, the ViT ECG encoder, a cardiac-MRI ResNet, a
// task model such as ECG_CRNN — is a torch::nn::Module deriving from ModelImpl:
//
//   forward(x)             the module's output (backbones: feature maps or tokens; task
//                          models: logits or per-step outputs)
//   forward_features(x)    features before any head
//   forward_localized(x)   per-position features, (B, N, D): ViT tokens, channel-last CNN maps
//   embed(x)               one pooled vector per input, (B, D) with D = embed_dim()
//   output_shape(input)    the shape forward() returns, computed from the config alone (no
//                          forward pass); -1 marks an unknown size and propagates
//
// Inputs are (B, C, L) for 1-D models (C leads, L samples) and (B, C, H, W) for 2-D ones.
//
// Models are built from config through registries whose build context carries what the
// surroundings know (input channels, sampling rate, length, class count):
//
//   ModelContext ctx;                       // in_channels 12, fs 500 Hz
//   ModelPtr net = models::build_model(ConfigNode::parse("{name: resnet_nature_comm}"), ctx);
//
// Concrete layers follow LibTorch's own style (Options + Impl + TORCH_MODULE holder); a
// registry hands out std::shared_ptr<ModelImpl> (holders are not polymorphic).
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/registry.h"
#include "cardiotorch/weights/loader.h"

namespace cardiotorch::models {

/// A tensor shape with -1 for sizes that are not known (a free batch or length).
using Shape = std::vector<int64_t>;
constexpr int64_t kUnknown = -1;

/// What a model needs from its surroundings besides its options. The owner fills it: an
/// experiment from its data section, a parent model for its stages, the CLI from the input.
struct ModelContext {
  int64_t in_channels = 12;    ///< leads (1-D) or image channels (2-D)
  double fs = 500.0;           ///< sampling rate in Hz of 1-D inputs; kernel sizes may adapt to it
  int64_t seq_len = kUnknown;  ///< input length in samples when fixed (a ViT needs it)
  Shape image_size;            ///< {H, W} of 2-D inputs when fixed
  int64_t num_classes = 0;     ///< outputs of a head; 0 = no head / the model's own option
};

/// How a token model's tokens map back onto its input: `rows` x `cols` patches of
/// `patch_len` samples in row-major (lead-major) order, after `prefix` extra tokens (cls).
struct TokenLayout {
  int64_t rows = 0;       ///< e.g. 12 leads
  int64_t cols = 0;       ///< e.g. 25 time patches
  int64_t patch_len = 0;  ///< samples per patch along time
  int64_t prefix = 0;     ///< tokens before the patch tokens (1 for a cls token)
  bool valid() const { return rows > 0 && cols > 0; }
};

class ModelImpl : public torch::nn::Module {
 public:
  /// Registry name the model was built as ("resnet_nature_comm"); set by the registries.
  const std::string& model_name() const { return model_name_; }
  void set_model_name(std::string name) { model_name_ = std::move(name); }

  virtual at::Tensor forward(const at::Tensor& x) = 0;
  /// Features before any head; for a headless backbone the same as forward().
  virtual at::Tensor forward_features(const at::Tensor& x) { return forward(x); }
  /// Per-position features (B, N, D). Default: forward_features() as (B, C, L) -> (B, L, C).
  virtual at::Tensor forward_localized(const at::Tensor& x);
  /// One pooled embedding per input (B, D). Default: forward_features(), averaged over every
  /// dim after the channel dim.
  virtual at::Tensor embed(const at::Tensor& x);

  /// forward()'s output shape for `input` (B, C, L) or (B, C, H, W); -1 = unknown.
  virtual Shape output_shape(const Shape& input) const = 0;
  /// forward_features()'s output shape.
  virtual Shape features_shape(const Shape& input) const { return output_shape(input); }
  /// Width D of embed().
  virtual int64_t embed_dim() const = 0;
  /// Per-stage output shapes for `input` ({stage name, shape}), for `model-info`; empty when
  /// the model has no stages worth listing.
  virtual std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const { return {}; }
  /// One line, e.g. "resnet_nature_comm: ResNet, 4 stages, 6.73 M parameters".
  virtual std::string summary() const;
  /// The input shape the model is built for: -1 for free sizes ((B, 12, -1) for a 1-D CNN,
  /// (B, 12, 2500) for a ViT whose positional embedding fixes the length, (B, 3, -1, -1) for a
  /// 2-D ResNet). Default: (-1, in_channels(), -1).
  virtual Shape input_shape() const { return {kUnknown, in_channels_, kUnknown}; }

  /// Attention weights of each transformer block for `x`, each (B, heads, N, N), in block
  /// order (saliency, attention rollout); empty for models without attention.
  virtual std::vector<at::Tensor> attention_maps(const at::Tensor& x) { return {}; }
  /// Token layout of forward_localized() / attention_maps(); invalid for non-token models.
  virtual TokenLayout token_layout() const { return {}; }

  /// How checkpoints map onto this model (weights::load_into's model rules): what it does not
  /// load (an encoder skips 'head.*', an MAE encoder 'decoder*'), prefixes its Python
  /// counterparts use ('encoder_imaging.' for the CMR encoder). Default: exact names only.
  virtual weights::MatchRules weight_rules() const { return {}; }

  /// Convenience for 1-D models: output_shape({batch, in_channels, seq_len}).
  Shape output_shape(int64_t seq_len, int64_t batch = kUnknown) const;
  /// Input channels the model was built for.
  int64_t in_channels() const { return in_channels_; }

 protected:
  int64_t in_channels_ = 0;

 private:
  std::string model_name_;
};

using ModelPtr = std::shared_ptr<ModelImpl>;
using ModelRegistry = Registry<ModelImpl, ModelContext>;

/// Feature extractors: 1-D CNNs, the ViT encoder, 2-D ResNets (`cardiotorch list backbone`).
ModelRegistry& backbone_registry();
/// Task models with heads: ECG_CRNN, sequence labelling, U-Nets, classifiers, MAE, ...
ModelRegistry& model_registry();

/// Categories for typed nested components (options fields `Component<BackboneCategory>`).
struct BackboneCategory {
  static constexpr const char* category = "backbone";
};
/// A model or a backbone: an experiment's `model:` may name either.
struct ModelCategory {
  static constexpr const char* category = "model";
  static ConfigNode resolve(const ConfigNode& base, const ConfigNode& node);
};
using BackboneConfig = Component<BackboneCategory>;
using ModelConfig = Component<ModelCategory>;

/// Builds `node` ({name: x, ...} or "x") from whichever of the model and backbone registries
/// holds x (names are unique across both); the model's model_name() is set.
ModelPtr build_model(const ConfigNode& node, const ModelContext& context);
/// The registry (model or backbone) holding `name`; ConfigError listing both otherwise.
const ModelRegistry& registry_for(const std::string& name);

/// Parameters of `module` (all, or only those with requires_grad).
int64_t count_parameters(const torch::nn::Module& module, bool trainable_only = false);
/// "6.73 M" / "51.8 k" / "918".
std::string format_count(int64_t n);
/// "(2, 320, 8)", with "?" for unknown sizes.
std::string shape_string(const Shape& s);

/// Kernel size `k` given at `base_fs`, rescaled to `fs` and made odd (torch_ecg's
/// adjust_cnn_filter_lengths rule: round(k * fs / base_fs), sizes <= 1 kept, then odd).
int64_t adjust_kernel(int64_t k, double fs, double base_fs, bool ensure_odd = true);

/// Checks that `x` has `dims` dims and `channels` channels at dim 1; ShapeError naming
/// `who` and the expected layout otherwise.
void check_input(const at::Tensor& x, int64_t dims, int64_t channels, const std::string& who);

}  // namespace cardiotorch::models
