#include "cardiotorch/models/mobilenet.h"

#include <algorithm>
#include <cmath>

#include "cardiotorch/core/registry.h"
#include "cardiotorch/models/blocks/conv_bn_act.h"
#include "models/cnn_util.h"
#include "models/resnet_detail.h"

namespace cardiotorch::models {

namespace {

void check_positive_list(const std::vector<int64_t>& v, const char* key, bool allow_empty = false) {
  CT_CHECK(allow_empty || !v.empty(), ConfigError, key, " is empty");
  for (size_t i = 0; i < v.size(); ++i) CT_CHECK(v[i] >= 1, ConfigError, key, "[", i, "] must be >= 1, got ", v[i]);
}

std::vector<int64_t> kernels_at(const std::vector<int64_t>& ks, double fs, double base_fs) {
  std::vector<int64_t> out;
  for (int64_t k : ks) out.push_back(detail::kernel_at(k, fs, base_fs));
  return out;
}

// A stage of plain convolutions: one width -> a single ConvBnActivation (torch_ecg builds
// Conv_Bn_Activation for an int), several -> MultiConv (cba_0, cba_1, ...; he_normal kernels).
BlockPtr conv_stage(int64_t in, const std::vector<int64_t>& widths, const std::vector<int64_t>& kernels,
                    const std::vector<int64_t>& strides, int64_t groups, const std::string& norm,
                    const std::string& activation, bool bias, double width_multiplier) {
  if (widths.size() == 1) {
    CT_CHECK(kernels.size() == 1 && strides.size() == 1, ConfigError,
             "one convolution takes one filter length and one subsample length");
    return make_cba(ConvBnActivationOptions(in, widths[0], kernels[0])
                        .stride(strides[0])
                        .groups(groups)
                        .norm(norm)
                        .activation(activation)
                        .bias(bias)
                        .width_multiplier(width_multiplier));
  }
  detail::MultiConvArgs a;
  a.in_channels = in;
  a.out_channels = widths;
  a.kernels = kernels;
  a.strides = strides;
  a.groups = groups;
  a.norm = norm;
  a.activation = activation;
  a.width_multiplier = width_multiplier;
  return detail::make_multi_conv(a);
}

int64_t width_of(const BlockPtr& b, int64_t in) { return b->output_shape({kUnknown, in, kUnknown})[1]; }

}  // namespace

// --- V1 -------------------------------------------------------------------------------------

void MobileNetFlowOptions::validate() const {
  check_positive_list(out_channels, "out_channels");
  check_positive_list(filter_lengths, "filter_lengths");
  check_positive_list(subsample_lengths, "subsample_lengths");
  check_positive_list(dilations, "dilations");
  detail::per_item(filter_lengths, out_channels.size(), "filter_lengths", "convolution");
  detail::per_item(subsample_lengths, out_channels.size(), "subsample_lengths", "convolution");
  detail::per_item(dilations, out_channels.size(), "dilations", "convolution");
  CT_CHECK(groups >= 1, ConfigError, "groups must be >= 1, got ", groups);
  detail::check_batch_norm(batch_norm, "batch_norm");
  check_activation("activation", activation);
}

void MobileNetV1Options::validate() const {
  CT_CHECK(groups >= 1, ConfigError, "groups must be >= 1, got ", groups);
  detail::check_batch_norm(batch_norm, "batch_norm");
  check_activation("activation", activation);
  CT_CHECK(depth_multiplier >= 1, ConfigError, "depth_multiplier must be a positive integer, got ", depth_multiplier);
  CT_CHECK(width_multiplier > 0, ConfigError, "width_multiplier must be positive, got ", width_multiplier);
  check_choice("ordering", to_lower(ordering), {"cba", "cab", "bac", "acb", "bca"});
  check_positive_list(init_num_filters, "init_num_filters");
  check_positive_list(init_filter_lengths, "init_filter_lengths");
  check_positive_list(init_subsample_lengths, "init_subsample_lengths");
  detail::per_item(init_filter_lengths, init_num_filters.size(), "init_filter_lengths", "convolution");
  detail::per_item(init_subsample_lengths, init_num_filters.size(), "init_subsample_lengths", "convolution");
  entry_flow.validate();
  middle_flow.validate();
  exit_flow.validate();
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0 (0 = never rescale kernels), got ", base_fs);
}

MobileNetV1Impl::MobileNetV1Impl(const MobileNetV1Options& o, const ModelContext& ctx)
    : StagedBackboneImpl("MobileNetV1", ctx.in_channels), options_(o) {
  o.validate();
  const size_t n_init = o.init_num_filters.size();
  auto init = add_stage(
      "init_convs",
      conv_stage(ctx.in_channels, o.init_num_filters,
                 detail::per_item(kernels_at(o.init_filter_lengths, ctx.fs, o.base_fs), n_init, "init_filter_lengths",
                                  "convolution"),
                 detail::per_item(o.init_subsample_lengths, n_init, "init_subsample_lengths", "convolution"), o.groups,
                 detail::norm_of(o.batch_norm, "batch_norm"), o.activation, o.bias, o.width_multiplier));
  int64_t in = width_of(init, ctx.in_channels);
  auto flow = [&](const char* name, const MobileNetFlowOptions& f) {
    const size_t n = f.out_channels.size();
    const auto ks =
        detail::per_item(kernels_at(f.filter_lengths, ctx.fs, o.base_fs), n, "filter_lengths", "convolution");
    const auto ss = detail::per_item(f.subsample_lengths, n, "subsample_lengths", "convolution");
    const auto ds = detail::per_item(f.dilations, n, "dilations", "convolution");
    const std::string norm = detail::norm_of(f.batch_norm, "batch_norm");
    const bool has_norm = !is_no_norm(norm), has_act = !is_no_activation(f.activation);
    const std::string ordering = detail::effective_ordering(o.ordering, has_norm, has_act);
    auto seq = std::make_shared<BlockSequenceImpl>();
    for (size_t i = 0; i < n; ++i) {
      // torch_ecg's MobileNetSeparableConv: two ConvBnActivations (not a SeparableConv), so the
      // depthwise output is normalised and activated too.
      auto sep = std::make_shared<BlockSequenceImpl>();
      const int64_t mid = in * o.depth_multiplier;
      sep->push_back("depthwise_conv", make_cba(ConvBnActivationOptions(in, mid, ks[i])
                                                    .stride(ss[i])
                                                    .dilation(ds[i])
                                                    .groups(in)
                                                    .norm(norm)
                                                    .activation(f.activation)
                                                    .ordering(ordering)
                                                    .bias(o.bias)));
      auto pw = sep->push_back("pointwise_conv", make_cba(ConvBnActivationOptions(mid, f.out_channels[i], 1)
                                                              .groups(f.groups)
                                                              .norm(norm)
                                                              .activation(f.activation)
                                                              .ordering(ordering)
                                                              .width_multiplier(o.width_multiplier)
                                                              .bias(o.bias)));
      seq->push_back(str_cat("separable_conv_", i), sep);
      in = pw->out_channels();
    }
    add_stage(name, seq);
  };
  flow("entry_flow", o.entry_flow);
  flow("middle_flow", o.middle_flow);
  flow("exit_flow", o.exit_flow);
  finish(str_cat(o.entry_flow.out_channels.size() + o.middle_flow.out_channels.size() + o.exit_flow.out_channels.size(),
                 " separable convolutions"));
}

MobileNetV1Options MobileNetV1Options::mobilenet_v1() {
  MobileNetV1Options o;
  const int64_t b = 36;
  o.entry_flow.out_channels = {b * 2, b * 4, b * 4, b * 8, b * 8, b * 16};
  o.entry_flow.filter_lengths = {15};
  o.entry_flow.subsample_lengths = {1, 2, 1, 2, 1, 2};
  o.middle_flow.out_channels = std::vector<int64_t>(5, b * 16);
  o.middle_flow.filter_lengths = {13};
  o.middle_flow.subsample_lengths = {1};
  o.exit_flow.out_channels = {b * 32, b * 32};
  o.exit_flow.filter_lengths = {17};
  o.exit_flow.subsample_lengths = {2, 1};
  return o;
}

// --- inverted residual ----------------------------------------------------------------------

InvertedResidualImpl::InvertedResidualImpl(const InvertedResidualArgs& a) : in_channels_(a.in_channels) {
  CT_CHECK(a.in_channels >= 1 && a.out_channels >= 1, ConfigError, "inverted residual: widths must be >= 1, got ",
           a.in_channels, " -> ", a.out_channels);
  CT_CHECK(a.expansion > 0, ConfigError, "inverted residual: expansion must be positive, got ", a.expansion);
  CT_CHECK(a.attn_pos >= -1, ConfigError, "attn_pos must be >= 0 (or -1: after the last conv), got ", a.attn_pos);
  // Python's round(): half to even.
  const int64_t mid = static_cast<int64_t>(std::nearbyint(a.expansion * static_cast<double>(a.in_channels)));
  CT_CHECK(mid >= 1 && mid % a.groups == 0, ConfigError, "inverted residual: expansion ", a.expansion, " gives ", mid,
           " mid channels, not divisible by groups ", a.groups);
  const int64_t stride = a.dilation > 1 ? 1 : a.stride;
  main_stream_ = register_module("main_stream", std::make_shared<BlockSequenceImpl>());
  int64_t pos = 0, channels = a.in_channels;
  double fs = a.fs;
  bool placed = false;
  auto maybe_attn = [&]() {
    if (a.attn.empty() || placed || a.attn_pos != pos) return;
    main_stream_->push_back(a.attn.name(), build_block(a.attn, BlockContext{channels, fs}));
    placed = true;
    ++pos;
  };
  maybe_attn();
  if (a.expansion != 1.0) {
    main_stream_->push_back(
        "expansion",
        make_cba(
            ConvBnActivationOptions(a.in_channels, mid, 1).groups(a.groups).norm(a.norm).activation(a.activation)));
    channels = mid;
    ++pos;
    maybe_attn();
  }
  main_stream_->push_back("depthwise_conv", make_cba(ConvBnActivationOptions(channels, channels, a.filter_length)
                                                         .stride(stride)
                                                         .dilation(a.dilation)
                                                         .groups(channels)
                                                         .norm(a.norm)
                                                         .activation(a.activation)));
  fs /= static_cast<double>(stride);
  ++pos;
  maybe_attn();
  auto pw = main_stream_->push_back("pointwise_conv", make_cba(ConvBnActivationOptions(channels, a.out_channels, 1)
                                                                   .groups(a.groups)
                                                                   .bias(false)
                                                                   .norm(a.norm)
                                                                   .width_multiplier(a.width_multiplier)));
  channels = pw->out_channels();
  ++pos;
  if (a.attn_pos == -1 && !a.attn.empty()) {
    main_stream_->push_back(a.attn.name(), build_block(a.attn, BlockContext{channels, fs}));
    placed = true;
  }
  maybe_attn();
  CT_CHECK(a.attn.empty() || placed, ConfigError, "attn_pos ", a.attn_pos, " is past the ", pos,
           " positions of this inverted residual block");
  out_channels_ = channels;
  residual_ = stride == 1 && a.in_channels == out_channels_;
}

at::Tensor InvertedResidualImpl::forward(const at::Tensor& x) {
  at::Tensor out = run_named(*main_stream_, "main_stream", x);
  return residual_ ? out + x : out;
}

Shape InvertedResidualImpl::output_shape(const Shape& input) const {
  check_shape(input, in_channels_, "inverted residual block");
  return main_stream_->output_shape(input);
}

void MobileNetStemOptions::validate() const {
  check_positive_list(num_filters, "num_filters");
  check_positive_list(filter_lengths, "filter_lengths");
  check_positive_list(subsample_lengths, "subsample_lengths");
  detail::per_item(filter_lengths, num_filters.size(), "filter_lengths", "convolution");
  detail::per_item(subsample_lengths, num_filters.size(), "subsample_lengths", "convolution");
}

void MobileNetExitOptions::validate() const {
  check_positive_list(num_filters, "num_filters");
  check_positive_list(filter_lengths, "filter_lengths");
  check_positive_list(subsample_lengths, "subsample_lengths");
  detail::per_item(filter_lengths, num_filters.size(), "filter_lengths", "convolution");
  detail::per_item(subsample_lengths, num_filters.size(), "subsample_lengths", "convolution");
}

template <class InvRes>
void MobileNetInvResNetOptions<InvRes>::validate_common(bool one_stem_kernel) const {
  CT_CHECK(groups >= 1, ConfigError, "groups must be >= 1, got ", groups);
  detail::check_batch_norm(batch_norm, "batch_norm");
  check_activation("activation", activation);
  CT_CHECK(width_multiplier > 0, ConfigError, "width_multiplier must be positive, got ", width_multiplier);
  stem.validate();
  CT_CHECK(!one_stem_kernel || (stem.filter_lengths.size() == 1 && stem.subsample_lengths.size() == 1), ConfigError,
           "stem: MobileNetV3 takes one filter length and one subsample length");
  inv_res.validate();
  exit_flow.validate();
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0 (0 = never rescale kernels), got ", base_fs);
}

template struct MobileNetInvResNetOptions<MobileNetV2InvResOptions>;
template struct MobileNetInvResNetOptions<MobileNetV3InvResOptions>;

namespace {

BlockPtr exit_stage(int64_t in, const MobileNetExitOptions& e, int64_t groups, const std::string& norm,
                    const std::string& activation, bool bias, double width_multiplier, double fs, double base_fs) {
  const size_t n = e.num_filters.size();
  return conv_stage(
      in, e.num_filters,
      detail::per_item(kernels_at(e.filter_lengths, fs, base_fs), n, "exit_flow.filter_lengths", "convolution"),
      detail::per_item(e.subsample_lengths, n, "exit_flow.subsample_lengths", "convolution"), groups, norm, activation,
      bias, std::max(1.0, width_multiplier));
}

}  // namespace

// --- V2 -------------------------------------------------------------------------------------

void MobileNetV2InvResOptions::validate() const {
  check_positive_list(n_blocks, "n_blocks");
  const size_t n = n_blocks.size();
  CT_CHECK(out_channels.size() == n, ConfigError, "out_channels gives ", out_channels.size(),
           " stages, but n_blocks has ", n);
  check_positive_list(out_channels, "out_channels");
  detail::per_item(expansions, n, "expansions");
  for (double e : expansions) CT_CHECK(e > 0, ConfigError, "expansions must be positive, got ", e);
  detail::per_item(strides, n, "strides");
  check_positive_list(strides, "strides");
  detail::per_item(filter_lengths, n, "filter_lengths");
  check_positive_list(filter_lengths, "filter_lengths");
}

MobileNetV2Impl::MobileNetV2Impl(const MobileNetV2Options& o, const ModelContext& ctx)
    : StagedBackboneImpl("MobileNetV2", ctx.in_channels), options_(o) {
  o.validate();
  const std::string norm = detail::norm_of(o.batch_norm, "batch_norm");
  const size_t ns = o.stem.num_filters.size();
  auto stem = add_stage(
      "stem", conv_stage(ctx.in_channels, o.stem.num_filters,
                         detail::per_item(kernels_at(o.stem.filter_lengths, ctx.fs, o.base_fs), ns,
                                          "stem.filter_lengths", "convolution"),
                         detail::per_item(o.stem.subsample_lengths, ns, "stem.subsample_lengths", "convolution"),
                         o.groups, norm, o.activation, o.bias, o.width_multiplier));
  int64_t in = width_of(stem, ctx.in_channels);
  double fs = ctx.fs;
  for (int64_t s : o.stem.subsample_lengths) fs /= static_cast<double>(s);
  const auto& r = o.inv_res;
  const size_t n = r.n_blocks.size();
  const auto exp = detail::per_item(r.expansions, n, "inv_res.expansions");
  const auto strides = detail::per_item(r.strides, n, "inv_res.strides");
  const auto ks = detail::per_item(kernels_at(r.filter_lengths, ctx.fs, o.base_fs), n, "inv_res.filter_lengths");
  int64_t idx = 0;
  for (size_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < r.n_blocks[i]; ++j) {
      InvertedResidualArgs a;
      a.in_channels = in;
      a.out_channels = r.out_channels[i];
      a.expansion = exp[i];
      a.filter_length = ks[i];
      a.stride = j == 0 ? strides[i] : 1;
      a.groups = o.groups;
      a.norm = norm;
      a.activation = o.activation;
      a.width_multiplier = o.width_multiplier;
      a.fs = fs;
      auto b = add_stage(str_cat("inv_res_", idx++), std::make_shared<InvertedResidualImpl>(a));
      in = b->out_channels();
      fs /= static_cast<double>(a.stride);
    }
  }
  add_stage("exit_flow",
            exit_stage(in, o.exit_flow, o.groups, norm, o.activation, o.bias, o.width_multiplier, ctx.fs, o.base_fs));
  finish(str_cat(idx, " inverted residual blocks"));
}

MobileNetV2Options MobileNetV2Options::mobilenet_v2() { return MobileNetV2Options{}; }

// --- V3 -------------------------------------------------------------------------------------

void MobileNetV3InvResOptions::validate() const {
  check_positive_list(n_blocks, "n_blocks");
  const size_t n = n_blocks.size();
  detail::per_item(expansions, n, "expansions");
  for (double e : expansions) CT_CHECK(e > 0, ConfigError, "expansions must be positive, got ", e);
  detail::per_item(out_channels, n, "out_channels");
  check_positive_list(out_channels, "out_channels");
  detail::per_item(strides, n, "strides");
  check_positive_list(strides, "strides");
  detail::per_item(filter_lengths, n, "filter_lengths");
  check_positive_list(filter_lengths, "filter_lengths");
  detail::per_item(dilations, n, "dilations");
  check_positive_list(dilations, "dilations");
  detail::per_item(activations, n, "activations");
  for (const auto& a : activations) check_activation("activations", a);
  CT_CHECK(groups >= 1, ConfigError, "groups must be >= 1, got ", groups);
  if (!attns.empty()) detail::per_item(attns, n, "attns");
  detail::per_item(attn_pos, n, "attn_pos");
  for (int64_t p : attn_pos) CT_CHECK(p >= -1, ConfigError, "attn_pos must be >= -1, got ", p);
}

MobileNetV3Impl::MobileNetV3Impl(const MobileNetV3Options& o, const ModelContext& ctx)
    : StagedBackboneImpl("MobileNetV3", ctx.in_channels), options_(o) {
  o.validate();
  const std::string norm = detail::norm_of(o.batch_norm, "batch_norm");
  // stem: init_conv, then expansion-1 inverted residuals for the other widths.
  auto stem = std::make_shared<BlockSequenceImpl>();
  const int64_t stem_k = detail::kernel_at(o.stem.filter_lengths[0], ctx.fs, o.base_fs);
  auto init =
      stem->push_back("init_conv", make_cba(ConvBnActivationOptions(ctx.in_channels, o.stem.num_filters[0], stem_k)
                                                .stride(o.stem.subsample_lengths[0])
                                                .groups(o.groups)
                                                .norm(norm)
                                                .activation(o.activation)
                                                .bias(o.bias)
                                                .width_multiplier(o.width_multiplier)));
  int64_t in = init->out_channels();
  double fs = ctx.fs / static_cast<double>(o.stem.subsample_lengths[0]);
  for (size_t i = 1; i < o.stem.num_filters.size(); ++i) {
    InvertedResidualArgs a;
    a.in_channels = in;
    a.out_channels = o.stem.num_filters[i];
    a.filter_length = stem_k;
    a.groups = o.groups;
    a.norm = norm;
    a.activation = o.activation;
    a.fs = fs;
    auto b = stem->push_back(str_cat("inv_res_", i - 1), std::make_shared<InvertedResidualImpl>(a));
    in = b->out_channels();
  }
  add_stage("stem", stem);
  const auto& r = o.inv_res;
  const size_t n = r.n_blocks.size();
  const auto exp = detail::per_item(r.expansions, n, "inv_res.expansions");
  const auto outs = detail::per_item(r.out_channels, n, "inv_res.out_channels");
  const auto strides = detail::per_item(r.strides, n, "inv_res.strides");
  const auto ks = detail::per_item(kernels_at(r.filter_lengths, ctx.fs, o.base_fs), n, "inv_res.filter_lengths");
  const auto dils = detail::per_item(r.dilations, n, "inv_res.dilations");
  const auto acts = detail::per_item(r.activations, n, "inv_res.activations");
  const auto attns = r.attns.empty() ? std::vector<BlockConfig>(n) : detail::per_item(r.attns, n, "inv_res.attns");
  const auto pos = detail::per_item(r.attn_pos, n, "inv_res.attn_pos");
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    auto stage = std::make_shared<BlockSequenceImpl>();
    for (int64_t j = 0; j < r.n_blocks[i]; ++j) {
      InvertedResidualArgs a;
      a.in_channels = in;
      a.out_channels = outs[i];
      a.expansion = exp[i];
      a.filter_length = ks[i];
      a.stride = j == 0 ? strides[i] : 1;
      a.dilation = dils[i];
      a.groups = r.groups;
      a.norm = norm;
      a.activation = acts[i];
      a.width_multiplier = o.width_multiplier;
      a.attn = attns[i];
      a.attn_pos = pos[i];
      a.fs = fs;
      auto b = stage->push_back(str_cat("inv_res_", j), std::make_shared<InvertedResidualImpl>(a));
      in = b->out_channels();
      if (a.dilation == 1) fs /= static_cast<double>(a.stride);
      ++total;
    }
    add_stage(str_cat("block_", i), stage);
  }
  add_stage("exit_flow",
            exit_stage(in, o.exit_flow, o.groups, norm, o.activation, o.bias, o.width_multiplier, ctx.fs, o.base_fs));
  finish(str_cat(n, " stages of ", total, " inverted residual blocks"));
}

MobileNetV3Options MobileNetV3Options::mobilenet_v3() {
  MobileNetV3Options o;
  o.stem.num_filters = {24};
  BlockConfig se;
  se.node = ConfigNode::parse("{name: se, reduction: 8, activation: relu}", "mobilenet_v3 preset");
  o.inv_res.attns = {se, BlockConfig{}, se, se};
  o.inv_res.attn_pos = {2};
  return o;
}

// --- registrations --------------------------------------------------------------------------

namespace {
ModelPtr make_v1(const MobileNetV1Options& o, const ModelContext& c) { return std::make_shared<MobileNetV1Impl>(o, c); }
ModelPtr make_v2(const MobileNetV2Options& o, const ModelContext& c) { return std::make_shared<MobileNetV2Impl>(o, c); }
ModelPtr make_v3(const MobileNetV3Options& o, const ModelContext& c) { return std::make_shared<MobileNetV3Impl>(o, c); }
}  // namespace

CT_REGISTER(backbone_registry(), "mobilenet_v1",
            (options_factory<ModelImpl, MobileNetV1Options>(make_v1, MobileNetV1Options::mobilenet_v1())),
            "MobileNet V1 (1-D depthwise-separable convolutions; torch_ecg mobilenet_v1_vanilla)")
CT_REGISTER(backbone_registry(), "mobilenet_v2",
            (options_factory<ModelImpl, MobileNetV2Options>(make_v2, MobileNetV2Options::mobilenet_v2())),
            "MobileNet V2 (1-D inverted residuals; torch_ecg mobilenet_v2_vanilla)")
CT_REGISTER(backbone_registry(), "mobilenet_v3",
            (options_factory<ModelImpl, MobileNetV3Options>(make_v3, MobileNetV3Options::mobilenet_v3())),
            "MobileNet V3 small (1-D inverted residuals with SE and hardswish; torch_ecg mobilenet_v3_small)")

}  // namespace cardiotorch::models
