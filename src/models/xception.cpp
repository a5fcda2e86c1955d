#include "cardiotorch/models/xception.h"

#include "cardiotorch/core/registry.h"
#include "cardiotorch/models/blocks/conv_bn_act.h"
#include "models/cnn_util.h"
#include "models/resnet_detail.h"

namespace cardiotorch::models {

namespace {

// One Xception conv block (torch_ecg's XceptionMultiConv): pre-activation separable convs,
// then max-pool + strided 1x1 shortcut when subsampling, else an identity shortcut.
class XceptionMultiConvImpl : public BlockImpl {
 public:
  XceptionMultiConvImpl(const detail::MultiConvArgs& convs, int64_t subsample_length, int64_t subsample_kernel,
                        const std::string& subsample_mode)
      : in_channels_(convs.in_channels) {
    main_ = register_module("main_stream_conv", detail::make_multi_conv(convs));
    const int64_t out = main_->output_shape({kUnknown, in_channels_, kUnknown})[1];
    if (subsample_length > 1) {
      subsample_ =
          register_module("subsample", std::make_shared<DownSampleImpl>(DownSampleOptions(subsample_length, out)
                                                                            .kernel_size(subsample_kernel)
                                                                            .groups(convs.groups)
                                                                            .padding((subsample_kernel - 1) / 2)
                                                                            .mode(subsample_mode)));
      shortcut_ =
          register_module("shortcut", std::make_shared<DownSampleImpl>(DownSampleOptions(subsample_length, in_channels_)
                                                                           .out_channels(out)
                                                                           .groups(convs.groups)
                                                                           .kernel_size(1)
                                                                           .norm(!is_no_norm(convs.norm))
                                                                           .mode("conv")));
    } else {
      CT_CHECK(out == in_channels_, ConfigError, "an Xception block without subsampling keeps its width (identity ",
               "shortcut), but maps ", in_channels_, " to ", out, " channels");
    }
  }
  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor main = run_named(*main_, "main_stream_conv", x);
    if (subsample_) main = run_named(*subsample_, "subsample", main);
    const at::Tensor residue = shortcut_ ? run_named(*shortcut_, "shortcut", x) : x;
    return residue + main;
  }
  Shape output_shape(const Shape& input) const override {
    check_shape(input, in_channels_, "Xception block");
    const Shape s = main_->output_shape(input);
    return subsample_ ? subsample_->output_shape(s) : s;
  }

 private:
  int64_t in_channels_;
  std::shared_ptr<BlockSequenceImpl> main_;
  std::shared_ptr<DownSampleImpl> subsample_, shortcut_;
};

std::vector<int64_t> scaled(const std::vector<int64_t>& ks, double fs, double base_fs) {
  std::vector<int64_t> out;
  for (int64_t k : ks) out.push_back(detail::kernel_at(k, fs, base_fs));
  return out;
}

struct FlowKind {
  const char* name;       // entry_flow
  int64_t default_convs;  // convs of a block given as an int
  bool subsamples;
};

// Blocks of a flow, widths resolved.
std::vector<std::vector<int64_t>> block_widths(const XceptionFlowOptions& f, const std::string& key, int64_t convs) {
  CT_CHECK(f.num_filters.is_sequence() && f.num_filters.size() >= 1, ConfigError, key,
           ".num_filters must be a list with one entry per block");
  std::vector<std::vector<int64_t>> out;
  for (size_t i = 0; i < f.num_filters.size(); ++i) {
    auto w = detail::ints_of(f.num_filters[i], str_cat(key, ".num_filters[", i, "]"));
    if (f.num_filters[i].is_scalar()) w.assign(static_cast<size_t>(convs), w[0]);
    for (int64_t v : w) CT_CHECK(v >= 1, ConfigError, key, ".num_filters must be >= 1, got ", v);
    out.push_back(w);
  }
  return out;
}

void validate_flow(const XceptionFlowOptions& f, const FlowKind& kind) {
  const std::string k = kind.name;
  const auto widths = block_widths(f, k, kind.default_convs);
  const size_t n = widths.size();
  const auto fl = detail::int_lists_per(f.filter_lengths, n, k + ".filter_lengths", "block");
  const auto dl = detail::int_lists_per(f.dilations, n, k + ".dilations", "block");
  for (size_t i = 0; i < n; ++i) {
    detail::expand_to(fl[i], widths[i].size(), str_cat(k, ".filter_lengths[", i, "]"), "convolution");
    detail::expand_to(dl[i], widths[i].size(), str_cat(k, ".dilations[", i, "]"), "convolution");
  }
  if (kind.subsamples) {
    detail::per_item(f.subsample_lengths, n, k + ".subsample_lengths", "block");
    if (!f.subsample_kernels.empty()) detail::per_item(f.subsample_kernels, n, k + ".subsample_kernels", "block");
  } else {
    CT_CHECK(f.subsample_lengths.size() == 1 && f.subsample_lengths[0] == 1 && f.subsample_kernels.empty(), ConfigError,
             k, " does not subsample (subsample_lengths must be 1, subsample_kernels empty)");
  }
  const bool entry = k == "entry_flow", exit = k == "exit_flow";
  CT_CHECK(entry || (f.init_num_filters.empty() && f.init_filter_lengths.empty() && f.init_subsample_lengths.empty()),
           ConfigError, k, ": init_* keys belong to the entry flow");
  CT_CHECK(exit || (f.final_num_filters.empty() && f.final_filter_lengths.empty()), ConfigError, k,
           ": final_* keys belong to the exit flow");
  if (entry) {
    CT_CHECK(!f.init_num_filters.empty(), ConfigError, k, ".init_num_filters is empty");
    detail::per_item(f.init_filter_lengths, f.init_num_filters.size(), k + ".init_filter_lengths", "convolution");
    detail::per_item(f.init_subsample_lengths, f.init_num_filters.size(), k + ".init_subsample_lengths", "convolution");
  }
  if (exit) {
    CT_CHECK(!f.final_num_filters.empty(), ConfigError, k, ".final_num_filters is empty");
    detail::per_item(f.final_filter_lengths, f.final_num_filters.size(), k + ".final_filter_lengths", "convolution");
  }
  CT_CHECK(f.groups >= 0, ConfigError, k, ".groups must be >= 0 (0 = the top-level groups), got ", f.groups);
  check_activation(k + ".activation", f.activation);
  check_initializer(k + ".kernel_initializer", f.kernel_initializer);
  check_choice(k + ".subsample_mode", f.subsample_mode, DownSampleImpl::modes());
}

const FlowKind kEntry{"entry_flow", 2, true}, kMiddle{"middle_flow", 3, false}, kExit{"exit_flow", 2, true};

}  // namespace

void XceptionOptions::validate() const {
  CT_CHECK(groups >= 1, ConfigError, "groups must be >= 1, got ", groups);
  validate_flow(entry_flow, kEntry);
  validate_flow(middle_flow, kMiddle);
  validate_flow(exit_flow, kExit);
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0 (0 = never rescale kernels), got ", base_fs);
}

XceptionImpl::XceptionImpl(const XceptionOptions& o, const ModelContext& ctx)
    : StagedBackboneImpl("Xception", ctx.in_channels), options_(o) {
  o.validate();
  int64_t in = ctx.in_channels;
  int64_t total_blocks = 0;
  auto build_flow = [&](const XceptionFlowOptions& f, const FlowKind& kind) {
    const std::string k = kind.name;
    const std::string prefix = std::string(kind.name) + "_";  // entry_flow_conv_block_<i>
    const int64_t groups = f.groups > 0 ? f.groups : o.groups;
    auto flow = std::make_shared<BlockSequenceImpl>();
    if (k == "entry_flow") {
      // torch_ecg: MultiConv with its defaults (plain cba convs, he_normal) and the flow's activation.
      detail::MultiConvArgs a;
      a.in_channels = in;
      a.out_channels = f.init_num_filters;
      a.kernels = scaled(f.init_filter_lengths, ctx.fs, o.base_fs);
      a.strides = f.init_subsample_lengths;
      a.groups = groups;
      a.activation = f.activation;
      auto init = flow->push_back("init_convs", detail::make_multi_conv(a));
      in = init->output_shape({kUnknown, in, kUnknown})[1];
    }
    const auto widths = block_widths(f, k, kind.default_convs);
    const size_t n = widths.size();
    const auto fl = detail::int_lists_per(f.filter_lengths, n, k + ".filter_lengths", "block");
    const auto dl = detail::int_lists_per(f.dilations, n, k + ".dilations", "block");
    const auto sub = kind.subsamples ? detail::per_item(f.subsample_lengths, n, k + ".subsample_lengths", "block")
                                     : std::vector<int64_t>(n, 1);
    const auto sk =
        f.subsample_kernels.empty() ? sub : detail::per_item(f.subsample_kernels, n, k + ".subsample_kernels", "block");
    // dropouts: one for everything, one per block, or per block a list per conv.
    std::vector<std::vector<detail::DropoutSpec>> drops(n);
    if (f.dropouts.is_sequence() && f.dropouts.size() == n) {
      for (size_t i = 0; i < n; ++i)
        drops[i] =
            detail::dropouts_per(f.dropouts[i], widths[i].size(), str_cat(k, ".dropouts[", i, "]"), "convolution");
    } else {
      const auto one = detail::dropouts_per(f.dropouts, 1, k + ".dropouts", "block");
      for (size_t i = 0; i < n; ++i) drops[i].assign(widths[i].size(), one[0]);
    }
    const size_t n_block_drops = k == "exit_flow" ? n + f.final_num_filters.size() : n;
    const auto block_drops = detail::dropouts_per(f.block_dropouts, n_block_drops, k + ".block_dropouts", "block");
    for (size_t i = 0; i < n; ++i) {
      detail::MultiConvArgs a;
      a.in_channels = in;
      a.out_channels = widths[i];
      a.kernels =
          scaled(detail::expand_to(fl[i], widths[i].size(), k + ".filter_lengths", "convolution"), ctx.fs, o.base_fs);
      a.dilations = detail::expand_to(dl[i], widths[i].size(), k + ".dilations", "convolution");
      a.groups = groups;
      a.activation = f.activation;
      a.kernel_initializer = f.kernel_initializer;
      a.ordering = "acb";
      a.conv_type = "separable";
      a.dropouts = drops[i];
      a.out_activation = !(k == "entry_flow" && i == 0);  // the entry flow's first block starts without one
      auto blk = flow->push_back(str_cat(prefix, "conv_block_", i),
                                 std::make_shared<XceptionMultiConvImpl>(a, sub[i], sk[i], f.subsample_mode));
      in = blk->output_shape({kUnknown, in, kUnknown})[1];
      if (auto d = detail::make_dropout(block_drops[i])) flow->push_back(str_cat(prefix, "dropout_", i), d);
      ++total_blocks;
    }
    if (k == "exit_flow") {
      detail::MultiConvArgs a;
      a.in_channels = in;
      a.out_channels = f.final_num_filters;
      a.kernels = scaled(f.final_filter_lengths, ctx.fs, o.base_fs);
      a.groups = groups;
      a.conv_type = "separable";
      a.activation = f.activation;
      auto fin = flow->push_back("final_convs", detail::make_multi_conv(a));
      in = fin->output_shape({kUnknown, in, kUnknown})[1];
    }
    add_stage(kind.name, flow);
  };
  build_flow(o.entry_flow, kEntry);
  build_flow(o.middle_flow, kMiddle);
  build_flow(o.exit_flow, kExit);
  finish(str_cat(total_blocks, " separable conv blocks"));
}

// --- presets (torch_ecg model_configs/cnn/xception.py) --------------------------------------

namespace {
XceptionOptions xception_preset(int64_t base, int64_t final_k, int64_t exit_k) {
  XceptionOptions o;
  auto& e = o.entry_flow;
  e.init_num_filters = {base * 4, base * 8};
  e.init_filter_lengths = {31};
  e.init_subsample_lengths = {2, 1};
  e.num_filters = ConfigNode::scalar(str_cat("[", base * 16, ", ", base * 32, ", ", base * 91, "]"));
  e.filter_lengths = ConfigNode::scalar("15");
  e.subsample_lengths = {2};
  e.subsample_kernels = {3};
  auto& m = o.middle_flow;
  m.num_filters = ConfigNode::scalar(str_cat("[", join(std::vector<std::string>(8, std::to_string(base * 91))), "]"));
  m.filter_lengths = ConfigNode::scalar("13");
  auto& x = o.exit_flow;
  x.final_num_filters = {base * 182, base * 256};
  x.final_filter_lengths = {final_k};
  x.num_filters = ConfigNode::scalar(str_cat("[[", base * 91, ", ", base * 128, "]]"));
  x.filter_lengths = ConfigNode::scalar(std::to_string(exit_k));
  x.subsample_lengths = {2};
  x.subsample_kernels = {3};
  return o;
}
}  // namespace

XceptionOptions XceptionOptions::xception_vanilla() { return xception_preset(8, 3, 17); }

XceptionOptions XceptionOptions::xception_leadwise() {
  // torch_ecg sets groups 12 at the top level only, where its Xception never reads it: the flows
  // run with one group. The flows say so here, which keeps torch_ecg's network (184 M parameters).
  XceptionOptions o = xception_preset(24, 17, 3);
  o.groups = 12;
  o.entry_flow.groups = o.middle_flow.groups = o.exit_flow.groups = 1;
  return o;
}

namespace {
ModelPtr make_xception(const XceptionOptions& o, const ModelContext& c) { return std::make_shared<XceptionImpl>(o, c); }
auto xception(XceptionOptions preset) {
  return options_factory<ModelImpl, XceptionOptions>(make_xception, std::move(preset));
}
}  // namespace

CT_REGISTER(backbone_registry(), "xception_vanilla", (xception(XceptionOptions::xception_vanilla())),
            "Xception (1-D, separable conv blocks; torch_ecg xception_vanilla)")
CT_REGISTER(backbone_registry(), "xception_leadwise", (xception(XceptionOptions::xception_leadwise())),
            "Xception with 3x widths, 184 M parameters (torch_ecg xception_leadwise)")

}  // namespace cardiotorch::models
