#pragma once
// Higher-order ODE ResNets: MidPoint, RK4 and RK8 (stubs in torch_ecg, models/cnn/ho_resnet.py).
//
// A residual block x + f(x) is one forward-Euler step of the ODE dx/dt = f(x) with step 1.
// Luo, Sun, Zhou & Kamata, "Rethinking ResNets: Improved Stacking Strategies With High Order
// Schemes" (arXiv:2103.15244) observe that stacking such blocks is a weak integrator and
// regroup the blocks of a ResNet into the stages of higher-order Runge–Kutta steps. Here an
// ODE step with scheme (A, b) and step size h computes
//     k_i = f_i(x + h * sum_{j<i} a_ij k_j),   x' = x + h * sum_i b_i k_i
// with the residual functions f_i chosen by `weights`:
//   per_stage  one residual branch per RK stage (Luo et al.: s stacked blocks regrouped into one
//              s-stage step, so a step has the parameters of s ResNet blocks);
//   shared     one residual branch evaluated at every stage (the ODE view: one vector field,
//              integrated more accurately, with the parameters of one block).
// Schemes (explicit Butcher tableaus):
//   euler     1 stage, order 1 (a plain pre-activation-free ResNet)
//   midpoint  2 stages, order 2: k1 = f(x), k2 = f(x + h/2 k1), x' = x + h k2
//   rk4       4 stages, order 4: the classical Runge–Kutta method
//   rk8       11 stages, order 8: Cooper & Verner (SIAM J. Numer. Anal. 9(3), 1972)
// The residual function is a ResNet basic branch: cba_0 (conv, BN, activation), cba_1 (conv,
// BN). Each stage starts with a transition (a strided ConvBnActivation) when it subsamples or
// changes the width, then num_steps ODE steps at constant shape.
//
// State dict: input_stem (ResNet's stem), stage_<i>.transition, stage_<i>.step_<j>.f_<k> (per
// stage) or .f (shared), each {cba_0, cba_1}. Capture points: input_stem, stage_<i>,
// stage_<i>.step_<j>. Presets midpoint_resnet, rk4_resnet (per-stage weights) and rk8_resnet
// (shared weights: 11 stages of separate blocks would be 11 blocks per step).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/blocks/block.h"
#include "cardiotorch/models/resnet.h"
#include "cardiotorch/models/staged_backbone.h"

namespace cardiotorch::models {

/// An explicit Runge–Kutta scheme: stage i evaluates at x + h * sum_j a[i][j] k_j (j < i), the
/// step adds h * sum_i b[i] k_i.
struct ButcherTableau {
  std::string name;
  int order = 1;
  std::vector<std::vector<double>> a;  ///< row i has i entries
  std::vector<double> b;
  size_t stages() const { return b.size(); }
};
/// euler, midpoint, rk4 or rk8; ConfigError listing them otherwise.
const ButcherTableau& butcher_tableau(const std::string& scheme);
const std::vector<std::string>& ode_schemes();

/// One explicit Runge–Kutta step over residual functions: `functions` holds one function
/// (shared by every stage, registered as "f") or one per stage ("f_0", "f_1", ...). Each
/// function must keep the shape of its input.
class ODEStepImpl : public BlockImpl {
 public:
  ODEStepImpl(const std::string& scheme, double step_size, std::vector<BlockPtr> functions);
  at::Tensor forward(const at::Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  const ButcherTableau& tableau() const { return *tableau_; }

 private:
  const ButcherTableau* tableau_;
  double h_;
  std::vector<BlockPtr> f_;
  std::vector<std::string> names_;
};

struct HOResNetOptions {
  std::string scheme = "rk4";
  std::string weights = "per_stage";
  double step_size = 1.0;
  ResNetStemOptions stem;
  std::vector<int64_t> num_filters{32, 64, 128, 256};
  std::vector<int64_t> num_steps{1};
  std::vector<int64_t> filter_lengths{15, 11, 7, 5};
  std::vector<int64_t> subsample_lengths{1, 2, 2, 2};
  std::string activation = "relu";
  std::string kernel_initializer = "he_normal";
  double base_fs = 500.0;
  template <class V>
  void fields(V& v) {
    v("scheme", scheme, "Runge–Kutta scheme of every step: euler | midpoint | rk4 | rk8");
    v("weights", weights, "per_stage (one residual branch per RK stage) | shared (one branch for all stages)");
    v("step_size", step_size, "ODE step h (1 = a ResNet's Euler step)");
    v("stem", stem, "input stem (as ResNet's)");
    v("num_filters", num_filters, "width of each stage");
    v("num_steps", num_steps, "ODE steps of each stage (one or one per stage)");
    v("filter_lengths", filter_lengths, "kernel of each stage at base_fs (one or one per stage)");
    v("subsample_lengths", subsample_lengths, "stride of each stage's transition (one or one per stage)");
    v("activation", activation, "activation of the stem, transitions and residual branches");
    v("kernel_initializer", kernel_initializer, "initialiser of the conv kernels");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
  }
  void validate() const;

  static HOResNetOptions midpoint_resnet();
  static HOResNetOptions rk4_resnet();
  static HOResNetOptions rk8_resnet();
};

class HOResNetImpl : public StagedBackboneImpl {
 public:
  HOResNetImpl(const HOResNetOptions& options, const ModelContext& context);

 private:
  HOResNetOptions options_;
};

}  // namespace cardiotorch::models
