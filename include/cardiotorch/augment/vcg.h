#pragma once
// 3KG (Gopal et al., ML4H 2021): augmentation in vectorcardiogram space.
// 12-lead (or 8 independent leads) -> VCG (inverse Dower) -> random 3-D rotation and
// scaling -> back to the leads (Dower).
#include <string>
#include <vector>

#include "cardiotorch/augment/augmenter.h"

namespace cardiotorch::augment {

/// Dower matrix (8 x 3, float64, CPU): leads I, II, V1..V6 = D · [X, Y, Z].
at::Tensor dower_matrix();
/// Inverse Dower matrix (3 x 8, float64, CPU): [X, Y, Z] = D⁻¹ · [I, II, V1..V6].
at::Tensor inverse_dower_matrix();
/// The full 12 x 3 Dower matrix (I, II, III, aVR, aVL, aVF, V1..V6); the rows of the
/// limb leads derived from I and II follow Einthoven's and Goldberger's identities exactly.
at::Tensor dower_matrix_12();

struct Vcg3kgOptions {
  double p = 0.5;
  std::vector<double> angle = {45.0, 45.0, 45.0};  ///< max |rotation| about X, Y, Z in degrees
  std::vector<double> scale = {1.0, 1.5};          ///< [low, high] scale factor range
  bool per_axis_scale = false;                     ///< independent factor per VCG axis
  template <class V>
  void fields(V& v) {
    v("p", p, "probability of applying to each (leads, samples) slice");
    v("angle", angle, "maximum rotation in degrees about X, Y, Z (3 values in [0, 180]; one value = all axes)");
    v("scale", scale, "[low, high] VCG scale factor range (> 0)");
    v("per_axis_scale", per_axis_scale, "draw an independent scale factor for each VCG axis");
  }
  void validate() const;
};

/// Needs 12 leads in the standard order I, II, III, aVR, aVL, aVF, V1..V6, or the 8
/// independent leads I, II, V1..V6 (checked against batch.leads when those are known).
/// Every output lead is re-synthesised from the rotated VCG, so even the identity transform
/// projects the signal onto the 3-D Dower subspace.
class Vcg3kg : public SliceAugmenter<Vcg3kgOptions> {
 public:
  using SliceAugmenter::SliceAugmenter;
  std::string name() const override { return "3kg"; }

 protected:
  void prepare(const SignalBatch& batch) const override;
  at::Tensor transform(const at::Tensor& x, const SignalBatch& batch, at::Generator& gen) const override;
};

}  // namespace cardiotorch::augment
