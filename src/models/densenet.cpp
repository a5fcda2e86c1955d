#include "cardiotorch/models/densenet.h"

#include <ATen/ATen.h>

#include <cmath>

#include "cardiotorch/core/registry.h"
#include "cardiotorch/models/blocks/conv_bn_act.h"
#include "models/cnn_util.h"
#include "models/resnet_detail.h"

namespace cardiotorch::models {

namespace {

// DenseBasicBlock / DenseBottleNeck: new features concatenated to the input, group by group.
class DenseBuildingBlockImpl : public BlockImpl {
 public:
  DenseBuildingBlockImpl(int64_t in, int64_t growth, int64_t kernel, bool bottleneck, int64_t bn_size, int64_t groups,
                         bool bias, const std::string& activation, const detail::DropoutSpec& dropout)
      : in_(in), growth_(growth), groups_(groups) {
    CT_CHECK(in % groups == 0 && growth % groups == 0, ConfigError, "dense block: ", in,
             " input channels and growth rate ", growth, " must be divisible by groups ", groups);
    auto cba = [&](int64_t cin, int64_t cout, int64_t k) {
      return make_cba(
          ConvBnActivationOptions(cin, cout, k).groups(groups).activation(activation).bias(bias).ordering("bac"));
    };
    if (bottleneck) {
      neck_ = register_module("neck_conv", cba(in, bn_size * growth, 1));
      main_ = register_module("main_conv", cba(bn_size * growth, growth, kernel));
    } else {
      main_ = register_module("bac", cba(in, growth, kernel));
    }
    if ((dropout_ = detail::make_dropout(dropout))) register_module("dropout", dropout_);
  }
  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor f = neck_ ? run_named(*neck_, "neck_conv", x) : x;
    f = run_named(*main_, neck_ ? "main_conv" : "bac", f);
    if (dropout_) f = dropout_->forward(f);
    if (groups_ == 1) return at::cat({x, f}, 1);
    // Interleave per group: [x_g0, f_g0, x_g1, f_g1, ...].
    const int64_t B = x.size(0), L = x.size(2);
    return at::cat({x.reshape({B, groups_, in_ / groups_, L}), f.reshape({B, groups_, growth_ / groups_, L})}, 2)
        .reshape({B, in_ + growth_, L});
  }
  Shape output_shape(const Shape& input) const override {
    check_shape(input, in_, "dense building block");
    return with_dim(input, 1, in_ + growth_);
  }

 private:
  int64_t in_, growth_, groups_;
  ConvBnActivation neck_, main_;
  std::shared_ptr<DropoutImpl> dropout_;
};

std::vector<std::vector<int64_t>> layer_kernels(const DenseNetOptions& o) {
  const size_t n = o.num_layers.size();
  const auto per_block = detail::int_lists_per(o.filter_lengths, n, "filter_lengths", "macro block");
  std::vector<std::vector<int64_t>> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(detail::expand_to(per_block[i], static_cast<size_t>(o.num_layers[i]),
                                    str_cat("filter_lengths[", i, "]"), "layer"));
    for (int64_t k : out.back()) CT_CHECK(k >= 1, ConfigError, "filter_lengths must be >= 1, got ", k);
  }
  return out;
}

}  // namespace

void DenseBlockOptions::validate() const {
  check_choice("building_block", building_block, {"basic", "basic_block", "bottleneck", "bottle_neck"});
  check_activation("activation", activation, false);
}

void DenseTransitionOptions::validate() const {
  check_choice("subsample_mode", subsample_mode, DownSampleImpl::modes());
  check_activation("activation", activation, false);
}

void DenseNetOptions::validate() const {
  CT_CHECK(!num_layers.empty(), ConfigError, "num_layers is empty");
  for (size_t i = 0; i < num_layers.size(); ++i)
    CT_CHECK(num_layers[i] >= 1, ConfigError, "num_layers[", i, "] must be >= 1, got ", num_layers[i]);
  const size_t n = num_layers.size();
  CT_CHECK(init_num_filters >= 1 && init_filter_length >= 1 && init_pool_size >= 1 && init_pool_stride >= 1,
           ConfigError, "init_num_filters, init_filter_length, init_pool_size and init_pool_stride must be >= 1");
  check_choice("init_subsample_mode", init_subsample_mode, DownSampleImpl::modes());
  detail::per_item(growth_rates, n, "growth_rates", "macro block");
  for (int64_t g : growth_rates) CT_CHECK(g >= 1, ConfigError, "growth_rates must be >= 1, got ", g);
  layer_kernels(*this);
  if (n > 1) detail::per_item(subsample_lengths, n - 1, "subsample_lengths", "transition");
  for (int64_t s : subsample_lengths) CT_CHECK(s >= 1, ConfigError, "subsample_lengths must be >= 1, got ", s);
  CT_CHECK(bn_size >= 1, ConfigError, "bn_size must be >= 1, got ", bn_size);
  detail::dropout_of(dropout, "dropout");
  CT_CHECK(compression > 0 && compression <= 1, ConfigError, "compression must be in (0, 1], got ", compression);
  CT_CHECK(groups >= 1, ConfigError, "groups must be >= 1, got ", groups);
  check_activation("activation", activation, false);
  block.validate();
  transition.validate();
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0 (0 = never rescale kernels), got ", base_fs);
}

DenseNetImpl::DenseNetImpl(const DenseNetOptions& o, const ModelContext& ctx)
    : StagedBackboneImpl("DenseNet", ctx.in_channels), options_(o) {
  o.validate();
  const size_t n = o.num_layers.size();
  add_stage("init_cba", make_cba(ConvBnActivationOptions(ctx.in_channels, o.init_num_filters,
                                                         detail::kernel_at(o.init_filter_length, ctx.fs, o.base_fs))
                                     .groups(o.groups)
                                     .activation(o.activation)
                                     .bias(o.bias)));
  add_stage("init_pool", std::make_shared<DownSampleImpl>(DownSampleOptions(o.init_pool_stride, o.init_num_filters)
                                                              .kernel_size(o.init_pool_size)
                                                              .padding((o.init_pool_size - 1) / 2)
                                                              .mode(o.init_subsample_mode)));
  const auto growth = detail::per_item(o.growth_rates, n, "growth_rates", "macro block");
  const auto kernels = layer_kernels(o);
  const auto subsample =
      n > 1 ? detail::per_item(o.subsample_lengths, n - 1, "subsample_lengths", "transition") : std::vector<int64_t>{};
  const detail::DropoutSpec dropout = detail::dropout_of(o.dropout, "dropout");
  const bool bottleneck = o.block.building_block == "bottleneck" || o.block.building_block == "bottle_neck";
  int64_t in = o.init_num_filters;
  for (size_t i = 0; i < n; ++i) {
    auto macro = std::make_shared<BlockSequenceImpl>();
    for (int64_t j = 0; j < o.num_layers[i]; ++j) {
      macro->push_back(str_cat("dense_building_block_", j),
                       std::make_shared<DenseBuildingBlockImpl>(
                           in, growth[i], detail::kernel_at(kernels[i][static_cast<size_t>(j)], ctx.fs, o.base_fs),
                           bottleneck, o.bn_size, o.groups, o.bias, o.block.activation, dropout));
      in += growth[i];
    }
    add_stage(str_cat("dense_macro_block_", i), macro);
    if (i + 1 < n) {
      CT_CHECK(in % o.groups == 0, ConfigError, "transition_", i, ": ", in, " channels not divisible by groups ",
               o.groups);
      // torch_ecg: floor(channels per group x compression) per group.
      const int64_t out =
          static_cast<int64_t>(std::floor(static_cast<double>(in / o.groups) * o.compression)) * o.groups;
      CT_CHECK(out >= 1, ConfigError, "transition_", i, ": compression ", o.compression, " leaves no channels of ", in);
      auto tr = std::make_shared<BlockSequenceImpl>();
      tr->push_back("bac", make_cba(ConvBnActivationOptions(in, out, 1)
                                        .groups(o.groups)
                                        .activation(o.transition.activation)
                                        .bias(o.bias)
                                        .ordering("bac")));
      tr->push_back("down", std::make_shared<DownSampleImpl>(
                                DownSampleOptions(subsample[i], out).mode(o.transition.subsample_mode)));
      add_stage(str_cat("transition_", i), tr);
      in = out;
    }
  }
  finish(str_cat(n, " dense blocks", o.groups > 1 ? str_cat(", groups ", o.groups) : ""));
}

DenseNetOptions DenseNetOptions::densenet_vanilla() { return DenseNetOptions{}; }

DenseNetOptions DenseNetOptions::densenet_leadwise() {
  DenseNetOptions o;
  o.init_num_filters = 96;
  o.growth_rates = {12};
  o.groups = 12;
  return o;
}

namespace {
ModelPtr make_densenet(const DenseNetOptions& o, const ModelContext& c) { return std::make_shared<DenseNetImpl>(o, c); }
auto densenet(DenseNetOptions preset) {
  return options_factory<ModelImpl, DenseNetOptions>(make_densenet, std::move(preset));
}
}  // namespace

CT_REGISTER(backbone_registry(), "densenet_vanilla", (densenet(DenseNetOptions::densenet_vanilla())),
            "DenseNet (1-D, 4 x 6 basic layers, growth 16; torch_ecg densenet_vanilla)")
CT_REGISTER(backbone_registry(), "densenet_leadwise", (densenet(DenseNetOptions::densenet_leadwise())),
            "lead-wise DenseNet: groups 12, growth 12 (torch_ecg densenet_leadwise)")

}  // namespace cardiotorch::models
