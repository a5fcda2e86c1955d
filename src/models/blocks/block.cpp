#include "cardiotorch/models/blocks/block.h"

#include <ATen/ATen.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/models/capture.h"

namespace cardiotorch::models {

BlockRegistry& block_registry() {
  static BlockRegistry r("block", "attention and transformer blocks on (batch, channels, samples) maps");
  return r;
}

BlockPtr build_block(const BlockConfig& config, const BlockContext& context) {
  if (config.empty()) return nullptr;
  CT_CHECK(context.in_channels > 0, ShapeError, "block '", config.name(), "': needs positive input channels, got ",
           context.in_channels);
  return block_registry().build(config.node, context);
}

at::Tensor run_named(BlockImpl& block, const std::string& name, const at::Tensor& x) {
  if (!capture_active()) return block.forward(x);
  at::Tensor y;
  {
    CaptureScope scope(name);
    y = block.forward(x);
  }
  return capture(y, name);
}

at::Tensor BlockSequenceImpl::forward(const at::Tensor& x) {
  at::Tensor y = x;
  for (auto& b : blocks_) y = run_named(*b.second, b.first, y);
  return y;
}

Shape BlockSequenceImpl::output_shape(const Shape& input) const {
  Shape s = input;
  for (const auto& b : blocks_) s = b.second->output_shape(s);
  return s;
}

DropoutImpl::DropoutImpl(double p, bool channelwise) : p_(p), channelwise_(channelwise) {
  CT_CHECK(p >= 0.0 && p < 1.0, ConfigError, "dropout must be in [0, 1), got ", p);
}

at::Tensor DropoutImpl::forward(const at::Tensor& x) {
  if (!is_training() || p_ == 0.0) return x;
  return channelwise_ ? at::feature_dropout(x, p_, true) : at::dropout(x, p_, true);
}

int64_t conv_out_len(int64_t len, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation) {
  if (len < 0) return kUnknown;
  const int64_t span = len + 2 * padding - dilation * (kernel - 1) - 1;
  // A window longer than the padded input gives no output (torch raises at run time).
  if (span < 0) return 0;
  return span / stride + 1;
}

Shape with_dim(Shape shape, int64_t dim, int64_t size) {
  const int64_t n = static_cast<int64_t>(shape.size());
  const int64_t d = dim < 0 ? n + dim : dim;
  CT_INTERNAL_ASSERT(d >= 0 && d < n, "dim ", dim, " of a ", n, "-D shape");
  shape[static_cast<size_t>(d)] = size;
  return shape;
}

void check_shape(const Shape& shape, int64_t channels, const std::string& who) {
  CT_CHECK(shape.size() == 3, ShapeError, who, ": expected a (batch, channels, samples) shape, got ",
           shape_string(shape));
  CT_CHECK(channels <= 0 || shape[1] < 0 || shape[1] == channels, ShapeError, who, ": expected ", channels,
           " input channels, got shape ", shape_string(shape));
}

}  // namespace cardiotorch::models
