#pragma once
// Named activation capture points: the C++ stand-in for PyTorch's forward hooks.
//
// LibTorch modules have no forward hooks, and a parent calls its children through typed
// members, so nothing outside a model can intercept an intermediate activation. A model offers
// them instead: its forward passes each stage output through capture(), under the name of the
// submodule that produced it — the name a Python forward hook would be registered on:
//
//   x = layer4->forward(x);
//   x = capture(x, "layer4");
//
// Outside a CaptureSession, capture() returns its argument untouched (one thread-local load).
// Inside one (Grad-CAM, feature extraction, tests), it records the tensors whose names were
// asked for and remembers every name it saw in order, so a wrong name is answered with the
// names the model offers. A model running a nested model prefixes the inner names with a
// CaptureScope, as module paths nest:
//
//   { CaptureScope scope("backbone"); x = backbone_->forward(x); }   // "backbone.layer4"
//
// Sessions are per thread and nest (an inner session hides the outer one until it ends).
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace cardiotorch::models {

/// Offers `x` as the activation `name`; returns `x`.
at::Tensor capture(const at::Tensor& x, const char* name);
/// True while a CaptureSession is open on this thread (callers may skip building names).
bool capture_active();
at::Tensor capture(const at::Tensor& x, const std::string& name);

/// Prefixes the names of the capture points reached while it lives with "<prefix>.".
class CaptureScope {
 public:
  explicit CaptureScope(std::string prefix);
  ~CaptureScope();
  CaptureScope(const CaptureScope&) = delete;
  CaptureScope& operator=(const CaptureScope&) = delete;

 private:
  bool active_ = false;
};

class CaptureSession {
 public:
  /// Records the activations named in `names`; an empty list records every one.
  explicit CaptureSession(std::vector<std::string> names = {});
  ~CaptureSession();
  CaptureSession(const CaptureSession&) = delete;
  CaptureSession& operator=(const CaptureSession&) = delete;

  /// Every name offered so far, in order (repeats kept once).
  const std::vector<std::string>& seen() const { return seen_; }
  /// The recorded activations, in the order they were offered.
  const std::vector<std::pair<std::string, at::Tensor>>& recorded() const { return recorded_; }
  bool has(const std::string& name) const;
  /// The activation `name` (the last one offered under it); ConfigError naming `model` with
  /// a "did you mean" and the names the model offered when it was not recorded.
  at::Tensor get(const std::string& name, const std::string& model = "the model") const;
  /// Drops what was recorded and seen (for a fresh forward).
  void clear();

  // Called by capture().
  void offer(const std::string& name, const at::Tensor& x);
  std::vector<std::string>& prefixes() { return prefixes_; }

 private:
  std::vector<std::string> wanted_;
  std::vector<std::string> seen_;
  std::vector<std::pair<std::string, at::Tensor>> recorded_;
  std::vector<std::string> prefixes_;
  CaptureSession* outer_ = nullptr;
};

}  // namespace cardiotorch::models
