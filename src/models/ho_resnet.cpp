#include "cardiotorch/models/ho_resnet.h"

#include <cmath>
#include <map>

#include "cardiotorch/core/registry.h"
#include "cardiotorch/models/blocks/conv_bn_act.h"
#include "models/cnn_util.h"
#include "models/resnet_detail.h"

namespace cardiotorch::models {

namespace {

std::map<std::string, ButcherTableau> make_tableaus() {
  std::map<std::string, ButcherTableau> t;
  t["euler"] = {"euler", 1, {{}}, {1.0}};
  t["midpoint"] = {"midpoint", 2, {{}, {0.5}}, {0.0, 1.0}};
  t["rk4"] = {"rk4", 4, {{}, {0.5}, {0.0, 0.5}, {0.0, 0.0, 1.0}}, {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6}};
  // Cooper & Verner (1972), the 11-stage explicit method of order 8.
  const double s = std::sqrt(21.0);
  ButcherTableau r;
  r.name = "rk8";
  r.order = 8;
  r.a = {{},
         {1.0 / 2},
         {1.0 / 4, 1.0 / 4},
         {1.0 / 7, -(7 + 3 * s) / 98, (21 + 5 * s) / 49},
         {(11 + s) / 84, 0, (18 + 4 * s) / 63, (21 - s) / 252},
         {(5 + s) / 48, 0, (9 + s) / 36, (-231 + 14 * s) / 360, (63 - 7 * s) / 80},
         {(10 - s) / 42, 0, (-432 + 92 * s) / 315, (633 - 145 * s) / 90, (-504 + 115 * s) / 70, (63 - 13 * s) / 35},
         {1.0 / 14, 0, 0, 0, (14 - 3 * s) / 126, (13 - 3 * s) / 63, 1.0 / 9},
         {1.0 / 32, 0, 0, 0, (91 - 21 * s) / 576, 11.0 / 72, -(385 + 75 * s) / 1152, (63 + 13 * s) / 128},
         {1.0 / 14, 0, 0, 0, 1.0 / 9, -(733 + 147 * s) / 2205, (515 + 111 * s) / 504, -(51 + 11 * s) / 56,
          (132 + 28 * s) / 245},
         {0, 0, 0, 0, (-42 + 7 * s) / 18, (-18 + 28 * s) / 45, -(273 + 53 * s) / 72, (301 + 53 * s) / 72,
          (28 - 28 * s) / 45, (49 - 7 * s) / 18}};
  r.b = {1.0 / 20, 0, 0, 0, 0, 0, 0, 49.0 / 180, 16.0 / 45, 49.0 / 180, 1.0 / 20};
  t["rk8"] = r;
  return t;
}

const std::map<std::string, ButcherTableau>& tableaus() {
  static const std::map<std::string, ButcherTableau> t = make_tableaus();
  return t;
}

// The ResNet basic branch without shortcut: conv-BN-act, conv-BN.
BlockPtr residual_branch(int64_t channels, int64_t k, const HOResNetOptions& o) {
  auto seq = std::make_shared<BlockSequenceImpl>();
  for (int i = 0; i < 2; ++i)
    seq->push_back(str_cat("cba_", i), make_cba(ConvBnActivationOptions(channels, channels, k)
                                                    .activation(i == 0 ? o.activation : "")
                                                    .bias(false)
                                                    .kernel_initializer(o.kernel_initializer)));
  return seq;
}

}  // namespace

const std::vector<std::string>& ode_schemes() {
  static const std::vector<std::string> names{"euler", "midpoint", "rk4", "rk8"};
  return names;
}

const ButcherTableau& butcher_tableau(const std::string& scheme) {
  check_choice("scheme", scheme, ode_schemes());
  return tableaus().at(scheme);
}

ODEStepImpl::ODEStepImpl(const std::string& scheme, double step_size, std::vector<BlockPtr> functions)
    : tableau_(&butcher_tableau(scheme)), h_(step_size), f_(std::move(functions)) {
  CT_CHECK(step_size > 0, ConfigError, "step_size must be positive, got ", step_size);
  const size_t s = tableau_->stages();
  CT_CHECK(f_.size() == 1 || f_.size() == s, ConfigError, "an ODE step of scheme ", scheme, " takes 1 (shared) or ", s,
           " (one per stage) residual functions, got ", f_.size());
  for (size_t i = 0; i < f_.size(); ++i) {
    CT_CHECK(f_[i] != nullptr, ConfigError, "ODE step: residual function ", i, " is missing");
    names_.push_back(f_.size() == 1 ? "f" : str_cat("f_", i));
    register_module(names_.back(), f_[i]);
  }
}

at::Tensor ODEStepImpl::forward(const at::Tensor& x) {
  const auto& t = *tableau_;
  std::vector<at::Tensor> k;
  k.reserve(t.stages());
  at::Tensor out = x;
  for (size_t i = 0; i < t.stages(); ++i) {
    at::Tensor xi = x;
    for (size_t j = 0; j < i; ++j)
      if (t.a[i][j] != 0.0) xi = xi + (h_ * t.a[i][j]) * k[j];
    const size_t fi = f_.size() == 1 ? 0 : i;
    k.push_back(run_named(*f_[fi], names_[fi], xi));
    if (t.b[i] != 0.0) out = out + (h_ * t.b[i]) * k.back();
  }
  return out;
}

Shape ODEStepImpl::output_shape(const Shape& input) const {
  for (size_t i = 0; i < f_.size(); ++i) {
    const Shape s = f_[i]->output_shape(input);
    CT_CHECK(s == input, ShapeError, "ODE step: residual function ", names_[i], " maps ", shape_string(input), " to ",
             shape_string(s), "; it must keep the shape");
  }
  return input;
}

void HOResNetOptions::validate() const {
  check_choice("scheme", scheme, ode_schemes());
  check_choice("weights", weights, {"per_stage", "shared"});
  CT_CHECK(step_size > 0, ConfigError, "step_size must be positive, got ", step_size);
  stem.validate();
  CT_CHECK(!num_filters.empty(), ConfigError, "num_filters is empty");
  for (int64_t n : num_filters) CT_CHECK(n >= 1, ConfigError, "num_filters must be >= 1, got ", n);
  const size_t n = num_filters.size();
  detail::per_item(num_steps, n, "num_steps");
  for (int64_t s : num_steps) CT_CHECK(s >= 0, ConfigError, "num_steps must be >= 0, got ", s);
  detail::per_item(filter_lengths, n, "filter_lengths");
  for (int64_t k : filter_lengths) CT_CHECK(k >= 1, ConfigError, "filter_lengths must be >= 1, got ", k);
  detail::per_item(subsample_lengths, n, "subsample_lengths");
  for (int64_t s : subsample_lengths) CT_CHECK(s >= 1, ConfigError, "subsample_lengths must be >= 1, got ", s);
  check_activation("activation", activation, false);
  check_initializer("kernel_initializer", kernel_initializer);
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0 (0 = never rescale kernels), got ", base_fs);
}

HOResNetImpl::HOResNetImpl(const HOResNetOptions& o, const ModelContext& ctx)
    : StagedBackboneImpl("HOResNet", ctx.in_channels), options_(o) {
  o.validate();
  auto stem = add_stage(
      "input_stem", std::make_shared<ResNetStemImpl>(ctx.in_channels, o.stem,
                                                     detail::stem_kernels(o.stem, ctx.fs, o.base_fs), 1, o.activation));
  int64_t in = stem->out_channels();
  const size_t n = o.num_filters.size();
  const auto steps = detail::per_item(o.num_steps, n, "num_steps");
  const auto ks = detail::per_item(o.filter_lengths, n, "filter_lengths");
  const auto ss = detail::per_item(o.subsample_lengths, n, "subsample_lengths");
  const size_t stages = butcher_tableau(o.scheme).stages();
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t k = detail::kernel_at(ks[i], ctx.fs, o.base_fs);
    auto stage = std::make_shared<BlockSequenceImpl>();
    if (ss[i] > 1 || o.num_filters[i] != in) {
      stage->push_back("transition", make_cba(ConvBnActivationOptions(in, o.num_filters[i], k)
                                                  .stride(ss[i])
                                                  .activation(o.activation)
                                                  .bias(false)
                                                  .kernel_initializer(o.kernel_initializer)));
      in = o.num_filters[i];
    }
    for (int64_t j = 0; j < steps[i]; ++j) {
      std::vector<BlockPtr> fs;
      const size_t count = o.weights == "shared" ? 1 : stages;
      for (size_t s = 0; s < count; ++s) fs.push_back(residual_branch(in, k, o));
      stage->push_back(str_cat("step_", j), std::make_shared<ODEStepImpl>(o.scheme, o.step_size, std::move(fs)));
      ++total;
    }
    CT_CHECK(!stage->empty(), ConfigError, "stage ", i, " has neither a transition nor ODE steps (num_steps 0 at the ",
             "same width and length)");
    add_stage(str_cat("stage_", i), stage);
  }
  finish(str_cat(o.scheme, " (", butcher_tableau(o.scheme).stages(), " stages, ", o.weights, " weights), ", total,
                 " ODE steps"));
}

HOResNetOptions HOResNetOptions::midpoint_resnet() {
  HOResNetOptions o;
  o.scheme = "midpoint";
  o.stem.num_filters = {32};
  return o;
}

HOResNetOptions HOResNetOptions::rk4_resnet() {
  HOResNetOptions o;
  o.scheme = "rk4";
  o.stem.num_filters = {32};
  return o;
}

HOResNetOptions HOResNetOptions::rk8_resnet() {
  HOResNetOptions o;
  o.scheme = "rk8";
  o.weights = "shared";
  o.stem.num_filters = {32};
  return o;
}

namespace {
ModelPtr make_ho(const HOResNetOptions& o, const ModelContext& c) { return std::make_shared<HOResNetImpl>(o, c); }
auto ho(HOResNetOptions preset) { return options_factory<ModelImpl, HOResNetOptions>(make_ho, std::move(preset)); }
}  // namespace

CT_REGISTER(backbone_registry(), "midpoint_resnet", (ho(HOResNetOptions::midpoint_resnet())),
            "ODE ResNet with explicit-midpoint (RK2) steps, one residual branch per stage (Luo et al. 2021)")
CT_REGISTER(backbone_registry(), "rk4_resnet", (ho(HOResNetOptions::rk4_resnet())),
            "ODE ResNet with classical RK4 steps, one residual branch per stage (Luo et al. 2021)")
CT_REGISTER(backbone_registry(), "rk8_resnet", (ho(HOResNetOptions::rk8_resnet())),
            "ODE ResNet with 8th-order Cooper-Verner steps over one shared residual branch")

}  // namespace cardiotorch::models
