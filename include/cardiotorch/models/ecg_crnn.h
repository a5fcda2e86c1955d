#pragma once
// torch_ecg's C(R)NN composer (models/ecg_crnn.py, ecg_seq_lab_net.py):
//
//   cnn (a registered backbone) -> rnn (lstm | linear | none) -> attn (a registered block | none)
//       -> global pool (max | avg | none) -> clf (an MLP ending in num_classes)
//
//   ecg_crnn          pooled: (B, C, L) -> (B, num_classes); global_pool none: (B, L', num_classes)
//   ecg_seq_lab_net   per-step: (B, C, L) -> (B, L', num_classes), channel-last as in torch_ecg;
//                     recover_length: interpolated (linear, align_corners) back to (B, L, num_classes)
//
//   ModelPtr m = build_model(ConfigNode::parse("{name: ecg_crnn, rnn: {name: lstm}, attn: {name: nl}}"), ctx);
//
// Every stage is a typed nested component built through a registry and sized from the previous
// stage's computed output shape (users never type an input size):
//   cnn:  {name: <backbone>, ...}    `cardiotorch list backbone`
//   rnn:  {name: lstm | linear, ...} `cardiotorch list rnn`; ~ or none = no rnn
//   attn: {name: <block>, ...}       `cardiotorch list block` (se, gc, nl, cbam, self_attention,
//                                    transformer); ~ or none = no attention
// Inside, every stage takes and returns channel-first maps (B, C, L); the rnn entries carry their
// own layout changes (torch_ecg's Rearrange modules), so any rnn composes with any attention.
//
// Module names are torch_ecg's (cnn, rnn, attn, clf and their insides), so a torch_ecg ECG_CRNN /
// ECG_SEQ_LAB_NET state_dict loads by name; models/torch_ecg_import.h turns torch_ecg's
// model_config into these options.
//
// Differences from torch_ecg (deliberate):
//  - stages are chosen by exact registry names (torch_ecg matches backbone and attention names by
//    substring and dispatches attention kwargs through name lists);
//  - an lstm without retseq (one vector per input) cannot feed an attention block: ConfigError
//    (torch_ecg drops the attention with a warning); global_pool then has nothing to pool and is
//    ignored, as in torch_ecg;
//  - the number of classes comes from the build context (the data) or the `classes` option, and
//    an error names both when neither is given.
//
// Capture points (models/capture.h): cnn (and the backbone's own points as cnn.<name>), rnn,
// attn, each (B, C, L) when present.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/blocks/sequence.h"
#include "cardiotorch/models/model.h"

namespace cardiotorch::models {

// --- the rnn stage ----------------------------------------------------------------------------

/// Stages between a CNN and its head: (B, C, L) -> (B, C', L), or (B, C') for an rnn that
/// returns no sequence (output_shape says which). `cardiotorch list rnn`.
BlockRegistry& rnn_registry();

/// `rnn:` components: a registered rnn entry, or ~ / none for no rnn.
struct RnnCategory {
  static constexpr const char* category = "rnn";
  static ConfigNode resolve(const ConfigNode& base, const ConfigNode& node);
};
using RnnConfig = Component<RnnCategory>;

/// `attn:` components: a registered block, or ~ / none for no attention.
struct AttentionCategory {
  static constexpr const char* category = "block";
  static ConfigNode resolve(const ConfigNode& base, const ConfigNode& node);
};
using AttentionConfig = Component<AttentionCategory>;
/// Builds an attention component (nullptr when empty).
BlockPtr build_attention(const AttentionConfig& config, const BlockContext& context);

struct LstmStageOptions {
  std::vector<int64_t> hidden_sizes{192, 192};
  bool bias = true;
  std::vector<double> dropouts{0.2};
  bool bidirectional = true;
  bool retseq = true;
  template <class V>
  void fields(V& v) {
    v("hidden_sizes", hidden_sizes, "hidden size of each LSTM layer");
    v("bias", bias, "LSTM layers with biases");
    v("dropouts", dropouts, "dropout between layers: one value for all, or one per layer");
    v("bidirectional", bidirectional, "bidirectional layers (output width 2 x hidden)");
    v("retseq", retseq, "return the sequence (B, H, L); false: only the last step (B, H)");
  }
  void validate() const;
};

/// torch_ecg's StackedLSTM over time: (B, C, L) -> (B, H, L), or (B, H) without retseq. State
/// dict: bidirectional_lstm_<i> (or lstm_<i>).
class LstmStageImpl : public StackedLSTMImpl {
 public:
  LstmStageImpl(int64_t in_channels, const LstmStageOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;

 private:
  int64_t in_channels_;
};

struct LinearStageOptions {
  std::vector<int64_t> out_channels{256, 64};
  bool bias = true;
  std::vector<double> dropouts{0.2};
  std::string activation = "mish";
  template <class V>
  void fields(V& v) {
    v("out_channels", out_channels, "width of each linear layer");
    v("bias", bias, "linear layers with biases");
    v("dropouts", dropouts, "dropout after each layer but the last (one value), or one per layer");
    v("activation", activation, "activation after each layer");
  }
  void validate() const;
};

/// torch_ecg's MLP applied at every time step: (B, C, L) -> (B, H, L). State dict: lin_<i>.
class LinearStageImpl : public MLPImpl {
 public:
  LinearStageImpl(int64_t in_channels, const LinearStageOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
};

// --- the composer -------------------------------------------------------------------------------

/// The classifier MLP: out_channels then one layer of num_classes, the last without activation.
struct ClassifierOptions {
  std::vector<int64_t> out_channels{1024};
  std::string activation = "mish";
  bool bias = true;
  std::vector<double> dropouts{0.2};
  std::string kernel_initializer;
  template <class V>
  void fields(V& v) {
    v("out_channels", out_channels, "hidden widths before the last layer (whose width is num_classes)");
    v("activation", activation, "activation after each hidden layer");
    v("bias", bias, "linear layers with biases");
    v("dropouts", dropouts, "dropout after each hidden layer (one value), or one per layer incl. the last");
    v("kernel_initializer", kernel_initializer, "weight initialiser; empty = LibTorch's default (as torch_ecg)");
  }
  void validate() const;
};

/// The options ECG_CRNN and ECG_SEQ_LAB_NET share.
struct CrnnStagesOptions {
  BackboneConfig cnn = BackboneConfig::named("resnet_nature_comm_bottle_neck");
  RnnConfig rnn;
  AttentionConfig attn;
  ClassifierOptions clf;
  std::vector<std::string> classes;
  void validate_stages() const;
};

struct EcgCrnnOptions : CrnnStagesOptions {
  std::string global_pool = "max";
  int64_t global_pool_size = 1;
  template <class V>
  void fields(V& v) {
    v("cnn", cnn, "the CNN backbone");
    v("rnn", rnn, "after the CNN: lstm, linear, or ~ (none)");
    v("attn", attn, "attention block after the rnn, or ~ (none)");
    v("global_pool", global_pool, "max | avg (then one vector per input) | none (one output per step)");
    v("global_pool_size", global_pool_size, "positions kept by the pooling (flattened channel-major)");
    v("clf", clf, "the classifier MLP");
    v("classes", classes, "class names; empty = the class count of the data");
  }
  void validate() const;

  /// torch_ecg's ECG_CRNN_CONFIG: resnet_nature_comm_bottle_neck, no rnn, SE (reduction 8, with
  /// biases), max pooling, clf [1024] mish with dropout 0.2.
  static EcgCrnnOptions ecg_crnn();
};

struct EcgSeqLabNetOptions : CrnnStagesOptions {
  bool recover_length = false;
  template <class V>
  void fields(V& v) {
    v("cnn", cnn, "the CNN backbone");
    v("rnn", rnn, "after the CNN: lstm, linear, or ~ (none)");
    v("attn", attn, "attention block after the rnn, or ~ (none)");
    v("clf", clf, "the per-step classifier MLP");
    v("recover_length", recover_length, "interpolate the output back to the input length (linear)");
    v("classes", classes, "class names; empty = the class count of the data");
  }
  void validate() const;

  /// torch_ecg's ECG_SEQ_LAB_NET_CONFIG: multi_scopic with 16/32/64 filters per branch, bidirectional
  /// LSTM [256, 256], SE (reduction 8), clf [256, 64] mish with dropouts [0.2, 0.2, 0].
  static EcgSeqLabNetOptions ecg_seq_lab_net();
};

/// The composer. `sequence_output`: no pooling, (B, L', K); `recover_length`: back to (B, L, K).
class EcgCrnnImpl : public ModelImpl {
 public:
  EcgCrnnImpl(const EcgCrnnOptions& options, const ModelContext& context);
  EcgCrnnImpl(const EcgSeqLabNetOptions& options, const ModelContext& context);

  at::Tensor forward(const at::Tensor& x) override;
  /// Pooled features before the classifier (B, D); the sequence features (B, C, L') without pooling.
  at::Tensor forward_features(const at::Tensor& x) override;
  /// The per-step features before pooling, (B, L', C).
  at::Tensor forward_localized(const at::Tensor& x) override;
  /// The pooled features (B, D) (global_pool none: their mean over time).
  at::Tensor embed(const at::Tensor& x) override;

  Shape output_shape(const Shape& input) const override;
  Shape features_shape(const Shape& input) const override;
  int64_t embed_dim() const override;
  std::vector<std::pair<std::string, Shape>> stage_shapes(const Shape& input) const override;
  std::string summary() const override;

  /// cnn -> rnn -> attn: (B, C, L') (or (B, H) from an rnn without retseq).
  at::Tensor extract_features(const at::Tensor& x);
  int64_t num_classes() const { return num_classes_; }
  const std::vector<std::string>& classes() const { return classes_; }

 private:
  void build(const CrnnStagesOptions& o, const ModelContext& context);
  at::Tensor pool(const at::Tensor& features) const;
  Shape pooled_shape(const Shape& features) const;
  Shape extract_shape(const Shape& input) const;

  std::string global_pool_ = "max";
  int64_t global_pool_size_ = 1;
  bool recover_length_ = false;
  bool sequence_features_ = true;  // false: the rnn gives one vector per input
  int64_t num_classes_ = 0;
  int64_t feature_channels_ = 0;  // channels after attn
  std::vector<std::string> classes_;
  ModelPtr cnn_;
  BlockPtr rnn_, attn_;
  MLP clf_;
};

}  // namespace cardiotorch::models
