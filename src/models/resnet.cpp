#include "cardiotorch/models/resnet.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "cardiotorch/core/error.h"
#include "models/resnet_detail.h"

namespace cardiotorch::models {

// --- option checks ------------------------------------------------------------------------

namespace detail {

namespace {
// The node's own error carries its location, which validate()'s caller adds again: say it here.
int64_t int_of(const ConfigNode& n, const std::string& key) {
  try {
    return n.as_int();
  } catch (const ConfigError&) {
    throw ConfigError(str_cat(key, " must be an integer, got '", n.to_yaml().substr(0, n.to_yaml().find('\n')), "'"));
  }
}
}  // namespace

std::vector<std::vector<int64_t>> per_block_values(const ConfigNode& node, const std::string& key,
                                                   const std::vector<int64_t>& num_blocks, bool first_only) {
  const size_t stages = num_blocks.size();
  auto stage_from = [&](int64_t v, size_t i) {
    std::vector<int64_t> out(static_cast<size_t>(num_blocks[i]), first_only ? 1 : v);
    if (!out.empty()) out[0] = v;
    return out;
  };
  std::vector<std::vector<int64_t>> out;
  if (node.is_scalar()) {
    const int64_t v = int_of(node, key);
    for (size_t i = 0; i < stages; ++i) out.push_back(stage_from(v, i));
  } else if (node.is_sequence()) {
    CT_CHECK(node.size() == stages, ConfigError, key, " gives ", node.size(), " stages, but num_blocks has ", stages,
             " (give one value, one per stage, or one list per stage)");
    for (size_t i = 0; i < stages; ++i) {
      const ConfigNode s = node[i];
      if (s.is_scalar()) {
        out.push_back(stage_from(int_of(s, str_cat(key, "[", i, "]")), i));
      } else {
        CT_CHECK(s.is_sequence(), ConfigError, key, "[", i, "] must be a number or a list of numbers");
        CT_CHECK(static_cast<int64_t>(s.size()) == num_blocks[i], ConfigError, key, "[", i, "] gives ", s.size(),
                 " values, but stage ", i, " has ", num_blocks[i], " blocks (num_blocks[", i, "])");
        std::vector<int64_t> v;
        for (size_t j = 0; j < s.size(); ++j) v.push_back(int_of(s[j], str_cat(key, "[", i, "][", j, "]")));
        out.push_back(v);
      }
    }
  } else {
    CT_CHECK(false, ConfigError, key, " must be a number, a list per stage or a list of lists per block");
  }
  for (size_t i = 0; i < out.size(); ++i)
    for (size_t j = 0; j < out[i].size(); ++j)
      CT_CHECK(out[i][j] >= 1, ConfigError, key, " must be >= 1, got ", out[i][j], " at stage ", i, " block ", j);
  return out;
}

void check_stage_count(size_t n, size_t stages, const std::string& key) {
  CT_CHECK(n == 1 || n == stages, ConfigError, key, " gives ", n, " values, but there are ", stages,
           " stages (give one value or one per stage)");
}

int64_t kernel_at(int64_t k, double fs, double base_fs) {
  if (base_fs <= 0 || fs == base_fs) return k;
  return adjust_kernel(k, fs, base_fs);
}

std::vector<int64_t> stem_kernels(const ResNetStemOptions& stem, double fs, double base_fs) {
  std::vector<int64_t> out;
  for (int64_t k : stem.filter_lengths) out.push_back(kernel_at(k, fs, base_fs));
  return out;
}

}  // namespace detail

namespace {
bool is_s2d(const std::string& mode) { return mode == "s2d" || mode == "space_to_depth"; }
bool is_bottleneck(const std::string& b) { return b == "bottleneck" || b == "bottle_neck"; }
template <class T>
const T& at_stage(const std::vector<T>& v, size_t i) {
  return v.size() == 1 ? v[0] : v[i];
}
}  // namespace

void ResNetStemOptions::validate() const {
  std::vector<std::string> modes = DownSampleImpl::modes();
  modes.push_back("s2d");
  modes.push_back("space_to_depth");
  check_choice("subsample_mode", subsample_mode, modes);
  CT_CHECK(!num_filters.empty(), ConfigError, "num_filters is empty");
  for (int64_t n : num_filters) CT_CHECK(n >= 1, ConfigError, "num_filters must be >= 1, got ", n);
  if (is_s2d(subsample_mode)) {
    CT_CHECK(num_filters.size() == 1, ConfigError, "an s2d stem has one output width, got num_filters of size ",
             num_filters.size());
    CT_CHECK(block_size >= 1, ConfigError, "block_size must be >= 1, got ", block_size);
  } else {
    CT_CHECK(filter_lengths.size() == num_filters.size(), ConfigError, "filter_lengths gives ", filter_lengths.size(),
             " kernels for ", num_filters.size(), " stem convolutions (num_filters)");
    for (int64_t k : filter_lengths) CT_CHECK(k >= 1, ConfigError, "filter_lengths must be >= 1, got ", k);
  }
  CT_CHECK(conv_stride >= 1, ConfigError, "conv_stride must be >= 1, got ", conv_stride);
  CT_CHECK(pool_size >= 1, ConfigError, "pool_size must be >= 1, got ", pool_size);
  CT_CHECK(pool_stride >= 1, ConfigError, "pool_stride must be >= 1, got ", pool_stride);
  check_initializer("kernel_initializer", kernel_initializer);
}

void ResNetBlockOptions::validate() const {
  check_choice("increase_channels_method", increase_channels_method, {"conv", "zero_padding"});
  check_choice("subsample_mode", subsample_mode, DownSampleImpl::modes());
  CT_CHECK(subsample_at >= 0 && subsample_at <= 2, ConfigError, "subsample_at must be 0, 1 or 2, got ", subsample_at);
  CT_CHECK(expansion >= 1, ConfigError, "expansion must be >= 1, got ", expansion);
  check_choice("conv_type", conv_type, {"", "separable", "aa", "anti_alias"});
  check_activation("activation", activation, false);
  check_initializer("kernel_initializer", kernel_initializer);
  CT_CHECK(attn_pos >= -1 && attn_pos <= 2, ConfigError, "attn_pos must be -1, 0, 1 or 2, got ", attn_pos);
  CT_CHECK(filt_size >= 1, ConfigError, "filt_size must be >= 1, got ", filt_size);
  CT_CHECK(!dropout || (*dropout >= 0 && *dropout < 1), ConfigError, "dropout must be in [0, 1), got ", *dropout);
}

void ResNetOptions::validate() const {
  CT_CHECK(!num_blocks.empty(), ConfigError, "num_blocks is empty");
  for (size_t i = 0; i < num_blocks.size(); ++i)
    CT_CHECK(num_blocks[i] >= 1, ConfigError, "num_blocks[", i, "] must be >= 1, got ", num_blocks[i]);
  const size_t stages = num_blocks.size();
  detail::per_block_values(filter_lengths, "filter_lengths", num_blocks, false);
  detail::per_block_values(subsample_lengths, "subsample_lengths", num_blocks, true);
  if (!num_filters.empty()) {
    CT_CHECK(num_filters.size() == stages, ConfigError, "num_filters gives ", num_filters.size(),
             " stages, but num_blocks has ", stages);
    for (int64_t n : num_filters) CT_CHECK(n >= 1, ConfigError, "num_filters must be >= 1, got ", n);
  }
  CT_CHECK(groups >= 1 && base_groups >= 1, ConfigError, "groups and base_groups must be >= 1, got ", groups, " and ",
           base_groups);
  CT_CHECK(base_width > 0, ConfigError, "base_width must be positive, got ", base_width);
  CT_CHECK(base_filter_length >= 1, ConfigError, "base_filter_length must be >= 1, got ", base_filter_length);
  detail::check_stage_count(dropouts.size(), stages, "dropouts");
  for (double d : dropouts) CT_CHECK(d >= 0 && d < 1, ConfigError, "dropouts must be in [0, 1), got ", d);
  check_activation("activation", activation, false);
  stem.validate();
  detail::check_stage_count(building_block.size(), stages, "building_block");
  bool any_bottleneck = false;
  for (const auto& b : building_block) {
    check_choice("building_block", b, {"basic", "bottleneck", "bottle_neck"});
    any_bottleneck = any_bottleneck || is_bottleneck(b);
  }
  if (any_bottleneck)
    CT_CHECK(groups % base_groups == 0, ConfigError, "groups ", groups, " must be divisible by base_groups ",
             base_groups);
  CT_CHECK(!block.empty(), ConfigError, "block is empty");
  detail::check_stage_count(block.size(), stages, "block");
  for (const auto& b : block) b.validate();
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0 (0 = never rescale kernels), got ", base_fs);
}

// --- stem ---------------------------------------------------------------------------------

ResNetStemImpl::ResNetStemImpl(int64_t in_channels, const ResNetStemOptions& o, const std::vector<int64_t>& kernels,
                               int64_t groups, const std::string& activation) {
  o.validate();
  if (is_s2d(o.subsample_mode)) {
    push_back("s2d", std::make_shared<SpaceToDepthImpl>(in_channels, o.num_filters[0], o.block_size));
    out_channels_ = o.num_filters[0];
    return;
  }
  int64_t in = in_channels;
  for (size_t i = 0; i < o.num_filters.size(); ++i) {
    push_back("conv_" + std::to_string(i), make_cba(ConvBnActivationOptions(in, o.num_filters[i], kernels[i])
                                                        .stride(i == 0 ? o.conv_stride : 1)
                                                        .groups(groups)
                                                        .activation(activation)
                                                        .bias(o.bias)
                                                        .kernel_initializer(o.kernel_initializer)));
    in = o.num_filters[i];
  }
  if (o.pool_stride > 1)
    push_back("pool", std::make_shared<DownSampleImpl>(DownSampleOptions(o.pool_stride, in)
                                                           .kernel_size(o.pool_size)
                                                           .groups(groups)
                                                           .padding((o.pool_stride - 1) / 2)
                                                           .mode(o.subsample_mode)));
  out_channels_ = in;
}

// --- building block -----------------------------------------------------------------------

ResNetBlockImpl::ResNetBlockImpl(const ResNetBlockArgs& a, const ResNetBlockOptions& o) : in_channels_(a.in_channels) {
  o.validate();
  const int n = a.bottleneck ? 3 : 2;
  std::vector<int64_t> out, kernels, groups;
  int64_t stride_at = 0;
  if (a.bottleneck) {
    CT_CHECK(a.groups % a.base_groups == 0, ConfigError, "bottleneck: groups ", a.groups,
             " must be divisible by base_groups ", a.base_groups);
    // torch_ecg: int(num_filters * (base_width / 48)) * groups (48 = its __DEFAULT_BASE_WIDTH__).
    const int64_t neck = static_cast<int64_t>(static_cast<double>(a.num_filters) * (a.base_width / 48.0)) * a.groups;
    CT_CHECK(neck >= 1, ConfigError, "bottleneck: neck width int(", a.num_filters, " * ", a.base_width,
             " / 48) * groups is 0; raise base_width");
    out = {neck, neck, a.num_filters * o.expansion};
    kernels = {a.base_filter_length, a.filter_length, a.base_filter_length};
    groups = {a.base_groups, a.groups, a.base_groups};
    stride_at = o.subsample_at;
  } else {
    out = {a.num_filters, a.num_filters};
    kernels = {a.filter_length, a.filter_length};
    groups = {a.groups, a.groups};
  }
  out_channels_ = out.back();
  CT_CHECK(o.attn_pos < n, ConfigError, "attn_pos ", o.attn_pos, " is past the ", n, " convolutions of a ",
           a.bottleneck ? "bottleneck" : "basic", " block");
  static const char* bottleneck_names[] = {"cba_head", "cba_neck", "cba_tail"};

  main_stream_ = register_module("main_stream", std::make_shared<BlockSequenceImpl>());
  int64_t in = a.in_channels;
  auto add_attn = [&](int64_t channels, double fs) {
    BlockPtr attn = build_block(o.attn, BlockContext{channels, fs});
    main_stream_->push_back(o.attn.name(), attn);
  };
  for (int i = 0; i < n; ++i) {
    const double fs_here = i > stride_at ? a.fs / static_cast<double>(a.subsample_length) : a.fs;
    if (!o.attn.empty() && o.attn_pos == i) add_attn(in, fs_here);
    std::string conv_type = o.conv_type;
    if (a.bottleneck && kernels[i] == 1 && conv_type == "separable") conv_type.clear();  // as torch_ecg
    main_stream_->push_back(a.bottleneck ? bottleneck_names[i] : "cba_" + std::to_string(i),
                            make_cba(ConvBnActivationOptions(in, out[i], kernels[i])
                                         .stride(i == stride_at ? a.subsample_length : 1)
                                         .groups(groups[i])
                                         .activation(i < n - 1 ? o.activation : "")
                                         .bias(o.bias)
                                         .kernel_initializer(o.kernel_initializer)
                                         .conv_type(conv_type)));
    if (i < n - 1 && a.dropout > 0)
      main_stream_->push_back("dropout_" + std::to_string(i), std::make_shared<DropoutImpl>(a.dropout));
    in = out[i];
  }
  if (!o.attn.empty() && o.attn_pos == -1) add_attn(in, a.fs / static_cast<double>(a.subsample_length));

  if (a.subsample_length > 1 || out_channels_ != a.in_channels) {
    if (o.increase_channels_method == "conv") {
      shortcut_ = register_module("shortcut",
                                  std::make_shared<DownSampleImpl>(DownSampleOptions(a.subsample_length, a.in_channels)
                                                                       .out_channels(out_channels_)
                                                                       .groups(a.bottleneck ? a.base_groups : a.groups)
                                                                       .norm(true)
                                                                       .mode(o.subsample_mode)
                                                                       .filt_size(o.filt_size)));
    } else {
      CT_CHECK(out_channels_ >= a.in_channels, ConfigError, "increase_channels_method zero_padding cannot reduce ",
               a.in_channels, " channels to ", out_channels_);
      auto seq = std::make_shared<BlockSequenceImpl>();
      seq->push_back("0", std::make_shared<DownSampleImpl>(DownSampleOptions(a.subsample_length, a.in_channels)
                                                               .norm(o.subsample_mode == "conv")
                                                               .mode(o.subsample_mode)
                                                               .filt_size(o.filt_size)));
      seq->push_back("1", std::make_shared<ZeroPaddingImpl>(a.in_channels, out_channels_));
      shortcut_ = register_module("shortcut", seq);
    }
  }
  out_activation_ = register_module("out_activation", make_activation(o.activation));
  if (a.dropout > 0) out_dropout_ = register_module("out_dropout", std::make_shared<DropoutImpl>(a.dropout));
}

at::Tensor ResNetBlockImpl::forward(const at::Tensor& x) {
  at::Tensor out = run_named(*main_stream_, "main_stream", x);
  at::Tensor identity = shortcut_ ? run_named(*shortcut_, "shortcut", x) : x;
  // Pooling shortcuts use no padding, so they may be shorter than the "same"-padded branch
  // (torch_ecg pads them); an even kernel can make them longer (cropped here).
  const int64_t diff = out.size(-1) - identity.size(-1);
  if (diff > 0) identity = at::constant_pad_nd(identity, {diff / 2, diff - diff / 2}, 0.0);
  if (diff < 0) identity = identity.slice(-1, (-diff) / 2, (-diff) / 2 + out.size(-1));
  out = out_activation_->forward(out + identity);
  return out_dropout_ ? out_dropout_->forward(out) : out;
}

Shape ResNetBlockImpl::output_shape(const Shape& input) const {
  check_shape(input, in_channels_, "ResNet block");
  return main_stream_->output_shape(input);
}

// --- ResNet -------------------------------------------------------------------------------

ResNetImpl::ResNetImpl(const ResNetOptions& o, const ModelContext& ctx) : options_(o) {
  o.validate();
  CT_CHECK(ctx.in_channels >= 1, ConfigError, "ResNet: in_channels must be >= 1, got ", ctx.in_channels);
  CT_CHECK(ctx.fs > 0, ConfigError, "ResNet: the sampling rate must be positive, got ", ctx.fs);
  in_channels_ = ctx.in_channels;
  const auto kernels = detail::per_block_values(o.filter_lengths, "filter_lengths", o.num_blocks, false);
  const auto strides = detail::per_block_values(o.subsample_lengths, "subsample_lengths", o.num_blocks, true);
  stem_ = register_module("input_stem", std::make_shared<ResNetStemImpl>(
                                            in_channels_, o.stem, detail::stem_kernels(o.stem, ctx.fs, o.base_fs),
                                            o.base_groups, o.activation));
  double fs = ctx.fs / static_cast<double>(is_s2d(o.stem.subsample_mode) ? o.stem.block_size
                                                                         : o.stem.conv_stride * o.stem.pool_stride);
  int64_t in = stem_->out_channels();
  const int64_t stem_width = in;
  for (size_t i = 0; i < o.num_blocks.size(); ++i) {
    const bool bottleneck = is_bottleneck(at_stage(o.building_block, i));
    const ResNetBlockOptions& bo = at_stage(o.block, i);
    std::vector<std::pair<std::string, ResNetBlock>> stage;
    for (int64_t j = 0; j < o.num_blocks[i]; ++j) {
      ResNetBlockArgs a;
      a.bottleneck = bottleneck;
      a.in_channels = in;
      a.num_filters = o.num_filters.empty() ? (int64_t{1} << i) * stem_width : o.num_filters[i];
      a.filter_length = detail::kernel_at(kernels[i][static_cast<size_t>(j)], ctx.fs, o.base_fs);
      a.subsample_length = strides[i][static_cast<size_t>(j)];
      a.groups = o.groups;
      a.base_width = o.base_width;
      a.base_groups = o.base_groups;
      a.base_filter_length = detail::kernel_at(o.base_filter_length, ctx.fs, o.base_fs);
      a.dropout = bo.dropout ? *bo.dropout : at_stage(o.dropouts, i);
      a.fs = fs;
      const std::string name = str_cat(bottleneck ? "ResNetBottleNeck_" : "ResNetBasicBlock_", i, "_", j);
      auto block = register_module(name, std::make_shared<ResNetBlockImpl>(a, bo));
      stage.emplace_back(name, block);
      in = block->out_channels();
      fs /= static_cast<double>(a.subsample_length);
    }
    stages_.push_back(std::move(stage));
  }
  out_channels_ = in;
}

at::Tensor ResNetImpl::forward(const at::Tensor& x) {
  check_input(x, 3, in_channels_, model_name().empty() ? "ResNet" : model_name());
  at::Tensor y = run_named(*stem_, "input_stem", x);
  for (auto& stage : stages_)
    for (auto& b : stage) y = run_named(*b.second, b.first, y);
  return y;
}

Shape ResNetImpl::output_shape(const Shape& input) const {
  Shape s = stem_->output_shape(input);
  for (const auto& stage : stages_)
    for (const auto& b : stage) s = b.second->output_shape(s);
  return s;
}

std::vector<std::pair<std::string, Shape>> ResNetImpl::stage_shapes(const Shape& input) const {
  std::vector<std::pair<std::string, Shape>> out;
  Shape s = stem_->output_shape(input);
  out.emplace_back("input_stem", s);
  for (size_t i = 0; i < stages_.size(); ++i) {
    for (const auto& b : stages_[i]) s = b.second->output_shape(s);
    out.emplace_back(str_cat("stage ", i, " (", stages_[i].size(), " x ",
                             stages_[i].front().first.substr(0, stages_[i].front().first.find('_')), ")"),
                     s);
  }
  return out;
}

std::string ResNetImpl::summary() const {
  std::vector<std::string> blocks;
  for (int64_t n : options_.num_blocks) blocks.push_back(std::to_string(n));
  return str_cat(model_name().empty() ? "resnet" : model_name(), ": ResNet, ", stages_.size(), " stages of [",
                 join(blocks), "] blocks, ", out_channels_, " output channels, ", format_count(count_parameters(*this)),
                 " parameters");
}

}  // namespace cardiotorch::models
