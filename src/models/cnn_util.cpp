#include "models/cnn_util.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "cardiotorch/core/strings.h"

namespace cardiotorch::models::detail {

std::string norm_of(const std::string& value, const std::string& key) {
  const std::string v = to_lower(value);
  if (v == "true" || v == "yes" || v == "on" || v == "1" || v == "batch_norm" || v == "batch_normalization")
    return "batch_norm";
  if (v == "false" || v == "no" || v == "off" || v == "0" || v == "none" || v == "~" || v == "null" || v.empty())
    return "none";
  if (v == "group_norm" || v == "group_normalization") return "group_norm";
  if (v == "instance_norm" || v == "instance_normalization") return "instance_norm";
  throw ConfigError(str_cat(key, " must be true, false or one of batch_norm, group_norm, instance_norm, none; got '",
                            value, "'", did_you_mean(v, {"batch_norm", "group_norm", "instance_norm", "none"})));
}

DropoutSpec dropout_of(const ConfigNode& node, const std::string& key) {
  DropoutSpec d;
  if (node.is_null()) return d;
  if (node.is_map()) {
    for (const auto& k : node.keys())
      CT_CHECK(k == "p" || k == "type" || k == "inplace", ConfigError, key, ": unknown dropout key '", k,
               "' (a dropout is a rate or {p: rate, type: 1d | null})");
    d.p = node["p"].is_null() ? 0.0 : node["p"].as_double();
    const ConfigNode t = node["type"];
    if (!t.is_null()) {
      const std::string type = to_lower(t.as_string());
      CT_CHECK(type == "1d" || type == "none" || type == "null", ConfigError, key,
               ".type must be 1d (whole channels) or null (elements), got '", t.as_string(), "'");
      d.channelwise = type == "1d";
    }
  } else {
    CT_CHECK(node.is_scalar(), ConfigError, key, " must be a rate or {p: rate, type: 1d | null}");
    d.p = node.as_double();
  }
  CT_CHECK(d.p >= 0 && d.p < 1, ConfigError, key, " must be in [0, 1), got ", d.p);
  return d;
}

std::vector<DropoutSpec> dropouts_per(const ConfigNode& node, size_t n, const std::string& key, const char* item) {
  if (node.is_null()) return std::vector<DropoutSpec>(n);
  if (!node.is_sequence()) return std::vector<DropoutSpec>(n, dropout_of(node, key));
  if (node.size() == 1) return std::vector<DropoutSpec>(n, dropout_of(node[0], key + "[0]"));
  CT_CHECK(node.size() == n, ConfigError, key, " gives ", node.size(), " dropouts for ", n, " ", item,
           "s (give one or one per ", item, ")");
  std::vector<DropoutSpec> out;
  for (size_t i = 0; i < n; ++i) out.push_back(dropout_of(node[i], str_cat(key, "[", i, "]")));
  return out;
}

std::shared_ptr<DropoutImpl> make_dropout(const DropoutSpec& d) {
  return d.p > 0 ? std::make_shared<DropoutImpl>(d.p, d.channelwise) : nullptr;
}

namespace {
int64_t int_at(const ConfigNode& n, const std::string& key) {
  CT_CHECK(n.is_scalar(), ConfigError, key, " must be an integer");
  try {
    return n.as_int();
  } catch (const ConfigError&) {
    throw ConfigError(str_cat(key, " must be an integer, got '", n.as_string(), "'"));
  }
}
}  // namespace

std::vector<int64_t> ints_of(const ConfigNode& node, const std::string& key) {
  CT_CHECK(!node.is_null(), ConfigError, key, " is not set");
  if (node.is_scalar()) return {int_at(node, key)};
  CT_CHECK(node.is_sequence(), ConfigError, key, " must be an integer or a list of integers");
  std::vector<int64_t> out;
  for (size_t i = 0; i < node.size(); ++i) out.push_back(int_at(node[i], str_cat(key, "[", i, "]")));
  CT_CHECK(!out.empty(), ConfigError, key, " is empty");
  return out;
}

std::vector<std::vector<int64_t>> int_lists_per(const ConfigNode& node, size_t n, const std::string& key,
                                                const char* item) {
  CT_CHECK(!node.is_null(), ConfigError, key, " is not set");
  if (node.is_scalar()) return std::vector<std::vector<int64_t>>(n, {int_at(node, key)});
  CT_CHECK(node.is_sequence(), ConfigError, key, " must be an integer or a list with one entry per ", item);
  if (node.size() == 1 && n != 1) {
    const auto one = ints_of(node[0], key + "[0]");
    return std::vector<std::vector<int64_t>>(n, one);
  }
  CT_CHECK(node.size() == n, ConfigError, key, " gives ", node.size(), " entries for ", n, " ", item,
           "s (give one or one per ", item, ")");
  std::vector<std::vector<int64_t>> out;
  for (size_t i = 0; i < n; ++i) out.push_back(ints_of(node[i], str_cat(key, "[", i, "]")));
  return out;
}

std::vector<int64_t> expand_to(const std::vector<int64_t>& v, size_t count, const std::string& key, const char* item) {
  if (v.size() == 1) return std::vector<int64_t>(count, v[0]);
  CT_CHECK(v.size() == count, ConfigError, key, " gives ", v.size(), " values for ", count, " ", item,
           "s (give one or one per ", item, ")");
  return v;
}

}  // namespace cardiotorch::models::detail

namespace cardiotorch::models {

BatchNormBlockImpl::BatchNormBlockImpl(int64_t channels, double eps, double momentum)
    : channels_(channels), eps_(eps), momentum_(momentum) {
  CT_CHECK(channels >= 1, ConfigError, "BatchNorm1d: channels must be >= 1, got ", channels);
  weight_ = register_parameter("weight", at::ones({channels}));
  bias_ = register_parameter("bias", at::zeros({channels}));
  running_mean_ = register_buffer("running_mean", at::zeros({channels}));
  running_var_ = register_buffer("running_var", at::ones({channels}));
  num_batches_tracked_ = register_buffer("num_batches_tracked", at::zeros({}, at::kLong));
}

at::Tensor BatchNormBlockImpl::forward(const at::Tensor& x) {
  if (is_training()) {
    at::NoGradGuard no_grad;
    num_batches_tracked_.add_(1);
  }
  return at::batch_norm(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum_, eps_,
                        at::globalContext().userEnabledCuDNN());
}

Shape BatchNormBlockImpl::output_shape(const Shape& input) const {
  check_shape(input, channels_, "BatchNorm1d");
  return input;
}

}  // namespace cardiotorch::models

#include "cardiotorch/models/blocks/conv_bn_act.h"

namespace cardiotorch::models::detail {

std::string effective_ordering(std::string ordering, bool has_norm, bool has_activation) {
  std::string out;
  for (char c : to_lower(ordering))
    if ((c != 'b' || has_norm) && (c != 'a' || has_activation)) out += c;
  return out;
}

std::shared_ptr<BlockSequenceImpl> make_multi_conv(const MultiConvArgs& a) {
  const size_t n = a.out_channels.size();
  CT_CHECK(n >= 1, ConfigError, "a conv stack needs at least one width");
  const auto kernels = per_item(a.kernels, n, "filter_lengths", "convolution");
  const auto strides = per_item(a.strides, n, "subsample_lengths", "convolution");
  const auto dilations = per_item(a.dilations, n, "dilations", "convolution");
  std::vector<DropoutSpec> drops = a.dropouts;
  if (drops.empty()) drops.assign(n, DropoutSpec{});
  drops = per_item(drops, n, "dropouts", "convolution");
  const std::string ordering = to_lower(a.ordering);
  const size_t ia = ordering.find('a'), ic = ordering.find('c');
  bool in_act = true, out_act = a.out_activation;
  if (ia != std::string::npos && ia < ic) {
    in_act = a.out_activation;
    out_act = true;
  }
  auto seq = std::make_shared<BlockSequenceImpl>();
  int64_t in = a.in_channels;
  for (size_t i = 0; i < n; ++i) {
    std::string act = a.activation;
    if ((i == 0 && !in_act) || (i == n - 1 && !out_act)) act.clear();
    const bool has_act = !is_no_activation(act), has_norm = !is_no_norm(a.norm);
    auto cba = make_cba(ConvBnActivationOptions(in, a.out_channels[i], kernels[i])
                            .stride(strides[i])
                            .dilation(dilations[i])
                            .groups(a.groups)
                            .norm(a.norm)
                            .activation(act)
                            .kernel_initializer(a.kernel_initializer)
                            .ordering(effective_ordering(ordering, has_norm, has_act))
                            .conv_type(a.conv_type)
                            .width_multiplier(a.width_multiplier)
                            .bias(a.bias));
    seq->push_back(str_cat(ordering, "_", i), cba);
    if (auto d = make_dropout(drops[i])) seq->push_back(str_cat("dropout_", i), d);
    in = cba->out_channels();
  }
  return seq;
}

}  // namespace cardiotorch::models::detail
