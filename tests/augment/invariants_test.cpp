// Per-augmenter invariants: what each transform must preserve or guarantee exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "augment/augment_test_util.h"
#include "cardiotorch/augment/vcg.h"
#include "cardiotorch/core/error.h"

namespace cardiotorch {
namespace {

using test::make_aug;
using test::make_batch;
using test::max_abs;
using test::run_aug;

const at::TensorOptions kF64 = at::TensorOptions().dtype(at::kDouble);

TEST(AugmentFlip, PreservesAbsoluteValue) {
  at::Tensor x = test::randn({4, 3, 12, 200}, 1, at::kDouble);
  auto out = run_aug(*make_aug("amplitude_flip", "p: 1"), make_batch(x, 100), 1).x;
  EXPECT_TRUE(at::equal(out, x.neg()));
  auto per_lead = run_aug(*make_aug("amplitude_flip", "p: 1, per_lead: true"), make_batch(x, 100), 2).x;
  EXPECT_TRUE(at::equal(per_lead.abs(), x.abs()));
  at::Tensor flipped = per_lead.eq(x.neg()).all(-1);
  EXPECT_TRUE((flipped | per_lead.eq(x).all(-1)).all().item<bool>());
  EXPECT_TRUE(flipped.any().item<bool>() && (~flipped).any().item<bool>());
}

TEST(AugmentTimeMask, AssignsExactlyTheSpanAndLeavesTheRestBitIdentical) {
  const double value = 7.25;  // outside the input's range, so the mask can be read back
  at::Tensor x = at::rand({32, 12, 400}, test::seeded(3), kF64).mul(2).sub(1);
  auto step = make_aug("time_mask", "p: 1, masks: 1, unit: samples, min_length: 10, max_length: 60, value: 7.25");
  at::Tensor out = run_aug(*step, make_batch(x, 100), 4).x;
  at::Tensor masked = out.eq(value);
  EXPECT_TRUE(at::equal(out.masked_select(~masked), x.masked_select(~masked)));
  // The same span in every lead, one contiguous run of 10..60 samples per slice.
  EXPECT_TRUE(masked.eq(masked.narrow(1, 0, 1)).all().item<bool>());
  at::Tensor m = masked.select(1, 0).to(at::kLong);
  for (int64_t i = 0; i < m.size(0); ++i) {
    at::Tensor row = m[i];
    const int64_t len = row.sum().item<int64_t>();
    EXPECT_GE(len, 10);
    EXPECT_LE(len, 60);
    const int64_t edges = row.diff().abs().sum().item<int64_t>() + row[0].item<int64_t>() + row[-1].item<int64_t>();
    EXPECT_EQ(edges, 2) << "slice " << i << " is not one contiguous span";
  }
  // Setting, not multiplying: a zero value masks non-zero samples to exactly 0.
  at::Tensor z = run_aug(*make_aug("time_mask", "p: 1, unit: samples, min_length: 5, max_length: 5"),
                         make_batch(x.abs().add(1), 100), 5)
                     .x;
  EXPECT_EQ(z.eq(0).sum().item<int64_t>(), 32 * 12 * 5);
}

TEST(AugmentTimeMask, PerLeadSpansDiffer) {
  at::Tensor x = at::ones({4, 12, 300}, kF64);
  at::Tensor out =
      run_aug(*make_aug("time_mask", "p: 1, unit: samples, min_length: 20, max_length: 20, per_lead: true"),
              make_batch(x, 100), 6)
          .x;
  at::Tensor masked = out.eq(0);
  EXPECT_TRUE(masked.sum(-1).eq(20).all().item<bool>());
  EXPECT_FALSE(masked.eq(masked.narrow(1, 0, 1)).all().item<bool>());
}

// x[b, l, t] = (t == b): a mixed slice reads back its own weight at t = b and the partner's at t = perm(b).
TEST(AugmentMixup, LabelWeightsMatchSignalWeightsAndSumToOne) {
  const int64_t batch = 8;
  at::Tensor x = at::eye(batch, kF64).unsqueeze(1).expand({batch, 3, batch}).contiguous();
  at::Tensor y = at::softmax(test::randn({batch, 4}, 7, at::kDouble), -1);
  auto out = run_aug(*make_aug("mixup", "p: 1, alpha: 0.7"), make_batch(x, 100, y), 8);
  int64_t mixed = 0;
  for (int64_t b = 0; b < batch; ++b) {
    at::Tensor row = out.x[b][0];
    EXPECT_TRUE(at::equal(out.x[b], row.unsqueeze(0).expand({3, batch}))) << "leads mixed differently";
    at::Tensor nz = row.abs().gt(1e-15).nonzero().flatten();
    ASSERT_GE(nz.numel(), 1);
    ASSERT_LE(nz.numel(), 2);
    const double lam = row[b].item<double>();
    int64_t partner = b;
    for (int64_t i = 0; i < nz.numel(); ++i)
      if (nz[i].item<int64_t>() != b) partner = nz[i].item<int64_t>();
    const double other = partner == b ? 0.0 : row[partner].item<double>();
    EXPECT_NEAR(lam + other, partner == b ? lam : 1.0, 1e-12);
    if (partner == b) {
      EXPECT_NEAR(lam, 1.0, 1e-12);
      EXPECT_TRUE(at::allclose(out.y[b], y[b], 0, 1e-12));
      continue;
    }
    ++mixed;
    EXPECT_TRUE(at::allclose(out.y[b], y[b] * lam + y[partner] * (1 - lam), 0, 1e-12)) << "b=" << b;
    EXPECT_NEAR(out.y[b].sum().item<double>(), 1.0, 1e-12);
  }
  EXPECT_GE(mixed, batch / 2);
}

// x[b] = b + 1 everywhere: the replaced span of slice b holds the partner's value.
TEST(AugmentCutmix, LabelWeightEqualsReplacedFraction) {
  const int64_t batch = 10, n = 250;
  at::Tensor x = at::arange(1, batch + 1, kF64).view({batch, 1, 1, 1}).expand({batch, 2, 3, n}).contiguous();
  at::Tensor y = at::eye(batch, kF64);  // one-hot: y_out[b][b] is the own weight
  auto out = run_aug(*make_aug("cutmix", "p: 1, alpha: 1"), make_batch(x, 100, y), 9);
  int64_t replaced_any = 0;
  for (int64_t b = 0; b < batch; ++b) {
    at::Tensor s = out.x[b];
    at::Tensor row = s[0][0];
    EXPECT_TRUE(at::equal(s, row.expand({2, 3, n}))) << "the span must be the same in every lead";
    at::Tensor foreign = row.ne(static_cast<double>(b + 1));
    const int64_t cut = foreign.sum().item<int64_t>();
    const double r = static_cast<double>(cut) / n;
    if (cut == 0) {
      EXPECT_TRUE(at::allclose(out.y[b], y[b], 0, 1e-12));
      continue;
    }
    ++replaced_any;
    const int64_t partner = static_cast<int64_t>(row.masked_select(foreign)[0].item<double>()) - 1;
    EXPECT_TRUE(row.masked_select(foreign).eq(static_cast<double>(partner + 1)).all().item<bool>());
    at::Tensor f = foreign.to(at::kLong);
    EXPECT_LE(f.diff().abs().sum().item<int64_t>(), 2) << "replaced samples must form one span";
    EXPECT_NEAR(out.y[b][b].item<double>(), 1.0 - r, 1e-12) << "own label weight must be the kept fraction";
    EXPECT_NEAR(out.y[b][partner].item<double>(), r, 1e-12) << "partner weight must be the replaced fraction";
    EXPECT_NEAR(out.y[b].sum().item<double>(), 1.0, 1e-12);
  }
  EXPECT_GE(replaced_any, batch / 2);
}

TEST(AugmentMixing, RejectsLabelsOfAnotherBatch) {
  at::Tensor x = test::randn({4, 12, 50}, 1);
  at::Tensor y = at::zeros({5, 3});
  EXPECT_THROW(run_aug(*make_aug("mixup", "p: 1"), make_batch(x, 100, y), 1), ShapeError);
  EXPECT_THROW(run_aug(*make_aug("cutmix", "p: 1"), make_batch(x, 100, y), 1), ShapeError);
  EXPECT_THROW(run_aug(*make_aug("label_smooth", "p: 1"), make_batch(x, 100), 1), ShapeError);
}

TEST(AugmentLabelSmooth, FormulaAndRowSums) {
  at::Tensor cls = at::randint(0, 6, {3, 20}, test::seeded(2), at::TensorOptions().dtype(at::kLong));
  at::Tensor y = at::one_hot(cls, 6).to(at::kDouble);  // (3, 20, 6)
  auto out =
      run_aug(*make_aug("label_smooth", "p: 1, smoothing: 0.2"), make_batch(test::randn({3, 20, 1, 8}, 1), 100, y), 3);
  EXPECT_TRUE(at::allclose(out.y, y * 0.8 + 0.2 / 6, 0, 1e-15));
  EXPECT_TRUE(at::allclose(out.y.sum(-1), y.sum(-1), 0, 1e-12));
  auto half = run_aug(*make_aug("label_smooth", "p: 0.5, smoothing: 0.2"),
                      make_batch(test::randn({3, 20, 1, 8}, 1), 100, y), 4);
  at::Tensor changed = half.y.ne(y).any(-1);
  EXPECT_TRUE(changed.any().item<bool>() && (~changed).any().item<bool>());
  EXPECT_TRUE(at::allclose(half.y.sum(-1), y.sum(-1), 0, 1e-12));
}

TEST(AugmentBaselineWander, ScalesLinearlyWithSignalAmplitude) {
  at::Tensor x = test::randn({6, 12, 2000}, 4, at::kDouble);
  auto step = make_aug("baseline_wander", "p: 1, amplitude: [0.1, 0.3]");
  at::Tensor w1 = run_aug(*step, make_batch(x, 200), 5).x - x;
  at::Tensor w10 = run_aug(*step, make_batch(x * 10, 200), 5).x - x * 10;
  EXPECT_GT(max_abs(w1), 0.0);
  EXPECT_TRUE(at::allclose(w10, w1 * 10, 1e-9, 1e-9));
  // Bounded by amplitude · peak-to-peak of each lead; a flat lead gets no wander.
  at::Tensor ptp = std::get<0>(x.max(-1, true)) - std::get<0>(x.min(-1, true));
  EXPECT_TRUE(w1.abs().le(ptp * 0.3 + 1e-12).all().item<bool>());
  at::Tensor flat = at::zeros({2, 12, 2000}, kF64);
  EXPECT_TRUE(at::equal(run_aug(*step, make_batch(flat, 200), 5).x, flat));
  // The added signal is slow: its first difference is tiny next to its range.
  EXPECT_LT(max_abs(w1.diff(1, -1)), 0.02 * max_abs(w1));
}

TEST(AugmentFtSurrogate, PreservesAmplitudeSpectrum) {
  for (int64_t n : {512, 501}) {
    at::Tensor x = test::randn({5, 12, n}, 6, at::kDouble);
    at::Tensor out = run_aug(*make_aug("ft_surrogate", "p: 1, magnitude: 0.5"), make_batch(x, 100), 7).x;
    at::Tensor fx = at::fft_rfft(x), fo = at::fft_rfft(out);
    EXPECT_TRUE(at::allclose(fo.abs(), fx.abs(), 1e-9, 1e-9)) << "n=" << n;
    EXPECT_GT(max_abs(out - x), 0.1);
    // The same phase shift in every lead by default.
    at::Tensor shift = at::angle(fo * fx.conj());
    at::Tensor d = at::remainder(shift - shift.narrow(1, 0, 1) + M_PI, 2 * M_PI) - M_PI;
    EXPECT_LT(max_abs(d), 1e-6) << "n=" << n;
  }
  at::Tensor x = test::randn({2, 12, 256}, 6, at::kDouble);
  at::Tensor out = run_aug(*make_aug("ft_surrogate", "p: 1, magnitude: 0.5, per_lead: true"), make_batch(x, 100), 7).x;
  at::Tensor fx = at::fft_rfft(x), fo = at::fft_rfft(out);
  at::Tensor shift = at::angle(fo * fx.conj());
  EXPECT_GT(max_abs(shift - shift.narrow(1, 0, 1)), 0.1);
  EXPECT_TRUE(at::allclose(fo.abs(), fx.abs(), 1e-9, 1e-9));
}

// 12-lead ECGs synthesised from a random VCG with the Dower matrix.
at::Tensor synthetic_ecg12(int64_t k, int64_t n, uint64_t seed) {
  at::Tensor vcg = test::randn({k, 3, n}, seed, at::kDouble);
  return at::matmul(augment::dower_matrix_12(), vcg);
}

TEST(Augment3kg, IdentityTransformReconstructsWithinDowerRoundTripError) {
  at::Tensor x = synthetic_ecg12(8, 1000, 11);
  auto step = make_aug("3kg", "p: 1, angle: [0], scale: [1, 1]");
  at::Tensor out = run_aug(*step, make_batch(x, 500), 1).x;
  const double rel = max_abs(out - x) / max_abs(x);
  // Measured 7.9e-4 (seed 11): the published inverse is a rounded (3-decimal) near-pseudo-inverse.
  std::cout << "[3kg] Dower round-trip max error / max |x| = " << rel << "\n";
  EXPECT_LT(rel, 1.5e-3);
  EXPECT_GT(rel, 0.0);
  at::Tensor idx = at::tensor(std::vector<int64_t>{0, 1, 6, 7, 8, 9, 10, 11});
  at::Tensor x8 = x.index_select(1, idx);
  at::Tensor out8 = run_aug(*step, make_batch(x8, 500), 1).x;
  EXPECT_TRUE(at::allclose(out8, out.index_select(1, idx), 1e-12, 1e-12));
  // Limb leads follow Einthoven/Goldberger exactly.
  EXPECT_TRUE(at::allclose(out.select(1, 2), out.select(1, 1) - out.select(1, 0), 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(out.select(1, 3), (out.select(1, 0) + out.select(1, 1)) * -0.5, 1e-12, 1e-12));
}

TEST(Augment3kg, RotationKeepsVcgMagnitudeScalingMultipliesIt) {
  at::Tensor x = synthetic_ecg12(8, 500, 12);
  at::Tensor idx = at::tensor(std::vector<int64_t>{0, 1, 6, 7, 8, 9, 10, 11});
  auto vcg_norm = [&](const at::Tensor& e) {
    return at::matmul(augment::inverse_dower_matrix(), e.index_select(1, idx)).norm(2, 1);
  };
  at::Tensor base = vcg_norm(x);
  at::Tensor rotated = run_aug(*make_aug("3kg", "p: 1, angle: [45, 45, 45], scale: [1, 1]"), make_batch(x, 500), 2).x;
  EXPECT_GT(max_abs(rotated - x), 0.1 * max_abs(x));
  EXPECT_LT(max_abs(vcg_norm(rotated) - base) / max_abs(base), 3e-3);
  at::Tensor scaled = run_aug(*make_aug("3kg", "p: 1, angle: [0], scale: [1.5, 1.5]"), make_batch(x, 500), 2).x;
  EXPECT_LT(max_abs(vcg_norm(scaled) - base * 1.5) / max_abs(base), 3e-3);
}

TEST(Augment3kg, ChecksLeadLayout) {
  auto step = make_aug("3kg", "p: 1");
  signal::SignalBatch b = make_batch(test::randn({2, 12, 100}, 1), 500);
  b.leads = {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};
  EXPECT_NO_THROW(run_aug(*step, b, 1));
  std::swap(b.leads[0], b.leads[1]);
  EXPECT_THROW(run_aug(*step, b, 1), ShapeError);
  EXPECT_THROW(run_aug(*step, make_batch(test::randn({2, 6, 100}, 1), 500), 1), ShapeError);
}

TEST(Augment3kg, PublishedMatricesAreNearInverses) {
  at::Tensor prod = at::matmul(augment::inverse_dower_matrix(), augment::dower_matrix());
  EXPECT_LT(max_abs(prod - at::eye(3, kF64)), 7e-4);  // measured 6.25e-4
}

TEST(AugmentNoise, GaussianStdAbsoluteAndRelative) {
  at::Tensor x = test::randn({8, 12, 4000}, 2, at::kDouble) * 3;
  at::Tensor d = run_aug(*make_aug("gaussian_noise", "p: 1, std: 0.5"), make_batch(x, 100), 3).x - x;
  EXPECT_NEAR(d.std().item<double>(), 0.5, 0.01);
  at::Tensor r = run_aug(*make_aug("gaussian_noise", "p: 1, std: 0.1, relative: true"), make_batch(x, 100), 3).x - x;
  EXPECT_NEAR(r.std().item<double>(), 0.3, 0.01);
}

TEST(AugmentNoise, JitterIsAmplitudeProportional) {
  at::Tensor x = test::randn({8, 12, 4000}, 2, at::kDouble);
  at::Tensor out = run_aug(*make_aug("jitter", "p: 1, scale: 0.6, sigma: 0.25"), make_batch(x, 100), 3).x;
  at::Tensor ratio = (out - x) / x;
  EXPECT_NEAR(ratio.std().item<double>(), 0.15, 0.005);
  at::Tensor zero = at::zeros({1, 2, 10}, kF64);
  EXPECT_TRUE(at::equal(run_aug(*make_aug("jitter", "p: 1"), make_batch(zero, 100), 3).x, zero));
}

TEST(AugmentNoise, PowerlineIsAMainsSinusoid) {
  at::Tensor x = test::randn({4, 3, 1000}, 2, at::kDouble);
  at::Tensor d =
      run_aug(*make_aug("powerline_noise", "p: 1, frequency: [50], amplitude: [0.1, 0.2]"), make_batch(x, 500), 3).x -
      x;
  at::Tensor spec = at::fft_rfft(d).abs();  // 1000 samples at 500 Hz: 0.5 Hz bins, 50 Hz = bin 100
  EXPECT_TRUE(spec.argmax(-1).eq(100).all().item<bool>());
  EXPECT_LT((spec.sum(-1) - spec.select(-1, 100)).max().item<double>(),
            1e-6 * spec.select(-1, 100).min().item<double>());
  EXPECT_THROW(run_aug(*make_aug("powerline_noise", "p: 1, frequency: [60]"), make_batch(x, 100), 3), ConfigError);
}

TEST(AugmentAmplitude, RescalingFactorsInRange) {
  at::Tensor x = test::randn({50, 12, 100}, 2, at::kDouble);
  at::Tensor out = run_aug(*make_aug("rescaling", "p: 1, range: [0.5, 2]"), make_batch(x, 100), 3).x;
  at::Tensor f = out / x;
  EXPECT_TRUE(at::allclose(f, f.select(-1, 0).select(-1, 0).view({50, 1, 1}).expand_as(f), 1e-12, 1e-12));
  EXPECT_GE(f.min().item<double>(), 0.5 - 1e-12);
  EXPECT_LE(f.max().item<double>(), 2.0 + 1e-12);
  at::Tensor pl = run_aug(*make_aug("rescaling", "p: 1, per_lead: true"), make_batch(x, 100), 3).x / x;
  EXPECT_GT(max_abs(pl - pl.narrow(1, 0, 1)), 1e-3);
  EXPECT_THROW(make_aug("rescaling", "distribution: lognormal"), ConfigError);
  EXPECT_THROW(make_aug("rescaling", "range: [2, 1]"), ConfigError);
}

TEST(AugmentAmplitude, LeadDropoutKeepsAtLeastOneLead) {
  at::Tensor x = test::randn({40, 12, 50}, 2, at::kDouble);
  at::Tensor out = run_aug(*make_aug("lead_dropout", "p: 1, rate: 1"), make_batch(x, 100), 3).x;
  at::Tensor kept = out.eq(x).all(-1);
  at::Tensor dropped = out.eq(0).all(-1);
  EXPECT_TRUE((kept ^ dropped).all().item<bool>());
  EXPECT_TRUE(kept.sum(-1).eq(1).all().item<bool>());
  at::Tensor half = run_aug(*make_aug("lead_dropout", "p: 1, rate: 0.5"), make_batch(x, 100), 4).x;
  const double frac = half.eq(0).all(-1).to(at::kDouble).mean().item<double>();
  EXPECT_GT(frac, 0.4);
  EXPECT_LT(frac, 0.6);
}

TEST(AugmentTime, CircularShiftIsARoll) {
  at::Tensor x = test::randn({6, 2, 100}, 2, at::kDouble);
  at::Tensor out = run_aug(*make_aug("time_shift", "p: 1, max_shift: 30, unit: samples"), make_batch(x, 100), 3).x;
  for (int64_t i = 0; i < 6; ++i) {
    bool found = false;
    for (int64_t s = -30; s <= 30 && !found; ++s) found = at::equal(out[i], at::roll(x[i], s, -1));
    EXPECT_TRUE(found) << "slice " << i;
  }
  at::Tensor z = run_aug(*make_aug("time_shift", "p: 1, max_shift: 0.3, mode: zero"), make_batch(x, 100), 3).x;
  for (int64_t i = 0; i < 6; ++i) {
    bool found = false;
    for (int64_t s = -30; s <= 30 && !found; ++s) {
      at::Tensor want = at::roll(x[i], s, -1);
      if (s > 0) want.narrow(-1, 0, s).zero_();
      if (s < 0) want.narrow(-1, 100 + s, -s).zero_();
      found = at::equal(z[i], want);
    }
    EXPECT_TRUE(found) << "slice " << i;
  }
}

TEST(AugmentTime, FullCropAndUnitStretchAreIdentity) {
  at::Tensor x = test::randn({4, 3, 300}, 2, at::kDouble);
  at::Tensor c = run_aug(*make_aug("random_resized_crop", "p: 1, scale: [1, 1]"), make_batch(x, 100), 3).x;
  EXPECT_TRUE(at::allclose(c, x, 1e-12, 1e-12));
  at::Tensor s = run_aug(*make_aug("stretch_compress", "p: 1, factor: [1, 1]"), make_batch(x, 100), 3).x;
  EXPECT_TRUE(at::allclose(s, x, 1e-12, 1e-12));
}

TEST(AugmentTime, CropOfARampIsARamp) {
  // A linear ramp stays linear under crop + linear resampling; its slope becomes (round(0.6·1001) - 1) / 1000 = 0.6.
  const int64_t n = 1001;
  at::Tensor ramp = at::arange(n, kF64).view({1, 1, n}).expand({20, 2, n}).contiguous();
  at::Tensor c = run_aug(*make_aug("random_resized_crop", "p: 1, scale: [0.6, 0.6]"), make_batch(ramp, 100), 3).x;
  at::Tensor slope = c.diff(1, -1);
  EXPECT_TRUE(at::allclose(slope, at::full_like(slope, 0.6), 1e-9, 1e-9));
  EXPECT_TRUE(c.select(-1, 0).ge(0).all().item<bool>() && c.select(-1, -1).le(n - 1).all().item<bool>());
}

TEST(AugmentTime, StretchAndCompressKeepLengthAndWarpTime) {
  const int64_t n = 1001;
  at::Tensor ramp = at::arange(n, kF64).view({1, 1, n}).expand({10, 1, n}).contiguous();
  at::Tensor st = run_aug(*make_aug("stretch_compress", "p: 1, factor: [1.25, 1.25]"), make_batch(ramp, 100), 3).x;
  at::Tensor ds = st.diff(1, -1);
  EXPECT_TRUE(at::allclose(ds, at::full_like(ds, 1000.0 / 1250.0), 1e-9, 1e-9));
  at::Tensor co = run_aug(*make_aug("stretch_compress", "p: 1, factor: [0.8, 0.8]"), make_batch(ramp + 1, 100), 3).x;
  EXPECT_EQ(co.size(-1), n);
  const int64_t zeros = co[0][0].eq(0).sum().item<int64_t>();
  EXPECT_EQ(zeros, n - 801);  // round(0.8·1001) = 801 samples of signal, the rest is padding
  at::Tensor edge =
      run_aug(*make_aug("stretch_compress", "p: 1, factor: [0.8, 0.8], pad: edge"), make_batch(ramp + 1, 100), 3).x;
  EXPECT_EQ(edge.eq(0).sum().item<int64_t>(), 0);
  EXPECT_DOUBLE_EQ(edge[0][0][0].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(edge[0][0][-1].item<double>(), static_cast<double>(n));
}

}  // namespace
}  // namespace cardiotorch
