#pragma once
// Helpers shared by the torch_ecg-style backbones (not installed): torch_ecg's value
// granularity ("one value or one per stage"), its `batch_norm` argument (a bool or a norm
// name) and its dropout values (a rate or {p, type}).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/core/error.h"
#include "cardiotorch/models/blocks/block.h"

namespace cardiotorch::models::detail {

/// `v` with one value per item: a single value repeated `n` times, or exactly `n` values.
/// ConfigError naming `key` otherwise.
template <class T>
std::vector<T> per_item(const std::vector<T>& v, size_t n, const std::string& key, const char* item = "stage") {
  CT_CHECK(!v.empty(), ConfigError, key, " is empty");
  if (v.size() == 1) return std::vector<T>(n, v[0]);
  CT_CHECK(v.size() == n, ConfigError, key, " gives ", v.size(), " values for ", n, " ", item,
           "s (give one value or one per ", item, ")");
  return v;
}

/// The normalisation named by torch_ecg's `batch_norm` / `norm` argument: true -> batch_norm,
/// false -> none, or a name (batch_norm, group_norm, instance_norm, none; torch_ecg's
/// *_normalization spellings too). ConfigError naming `key` for anything else (layer_norm and
/// local_response_norm, which torch_ecg accepts but which do not fit a (B, C, L) conv block).
std::string norm_of(const std::string& value, const std::string& key);
/// Validates a `batch_norm` value (norm_of without the result).
inline void check_batch_norm(const std::string& value, const std::string& key) { (void)norm_of(value, key); }

/// A dropout as torch_ecg configures it: a rate, or {p: rate, type: "1d" | null} where "1d"
/// drops whole channels (nn.Dropout1d).
struct DropoutSpec {
  double p = 0.0;
  bool channelwise = false;
};
/// Parses one dropout value; ConfigError naming `key`.
DropoutSpec dropout_of(const ConfigNode& node, const std::string& key);
/// Dropout values with one per item: one value (scalar or mapping) for all, or a list of n.
std::vector<DropoutSpec> dropouts_per(const ConfigNode& node, size_t n, const std::string& key,
                                      const char* item = "block");
/// A dropout module, or nullptr for p == 0.
std::shared_ptr<DropoutImpl> make_dropout(const DropoutSpec& d);

/// An integer list from a scalar (one value) or a flat list; ConfigError naming `key`.
std::vector<int64_t> ints_of(const ConfigNode& node, const std::string& key);
/// A value per item, each an int or a list of ints ([[1], [2, 4]] or [11, 7]): a scalar node
/// gives the same single value to every item. ConfigError naming `key` (and the index).
std::vector<std::vector<int64_t>> int_lists_per(const ConfigNode& node, size_t n, const std::string& key,
                                                const char* item);
/// Expands an item's int list to `count` values (one value repeated, or exactly `count`).
std::vector<int64_t> expand_to(const std::vector<int64_t>& v, size_t count, const std::string& key, const char* item);

}  // namespace cardiotorch::models::detail

namespace cardiotorch::models {

/// torch.nn.BatchNorm1d as a block whose parameters sit directly under its own name
/// (weight, bias, running_mean, running_var, num_batches_tracked), for torch_ecg modules that
/// put a bare BatchNorm1d in an nn.Sequential ("bn" of MultiScopicBasicBlock).
class BatchNormBlockImpl : public BlockImpl {
 public:
  explicit BatchNormBlockImpl(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;

 private:
  int64_t channels_;
  double eps_, momentum_;
  at::Tensor weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
};

}  // namespace cardiotorch::models

namespace cardiotorch::models::detail {

/// torch_ecg's MultiConv: ConvBnActivations in a row, named "<ordering>_<i>" (cba_0, acb_1, ...)
/// with optional dropout_<i> after each.
struct MultiConvArgs {
  int64_t in_channels = 0;
  std::vector<int64_t> out_channels;
  std::vector<int64_t> kernels;  ///< one or one per conv
  std::vector<int64_t> strides{1};
  std::vector<int64_t> dilations{1};
  int64_t groups = 1;
  std::string norm = "batch_norm";
  std::string activation = "relu";
  std::string kernel_initializer = "he_normal";
  std::string ordering = "cba";
  std::string conv_type;
  double width_multiplier = 1.0;
  bool bias = true;
  std::vector<DropoutSpec> dropouts;  ///< empty, one or one per conv
  /// torch_ecg's out_activation: false drops the activation of the last conv, or of the first
  /// when the ordering puts the activation before the conv (pre-activation blocks).
  bool out_activation = true;
};
std::shared_ptr<BlockSequenceImpl> make_multi_conv(const MultiConvArgs& args);

/// `ordering` ("cba", "acb", ...) without the parts that are absent.
std::string effective_ordering(std::string ordering, bool has_norm, bool has_activation);

}  // namespace cardiotorch::models::detail
