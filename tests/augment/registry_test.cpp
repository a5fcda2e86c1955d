// Properties every registered augmenter must have (iterates the registry, so a new
// augmenter is covered as soon as it registers).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "augment/augment_test_util.h"
#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"

namespace cardiotorch {
namespace {

using test::make_aug;
using test::make_batch;
using test::run_aug;

constexpr double kFs = 250.0;
constexpr int64_t kSamples = 1000;
constexpr int64_t kClasses = 5;

// Augmenters that only accept a 12-lead (or 8-lead) layout.
const std::set<std::string> kNeedsTwelveLeads = {"3kg"};
// Augmenters that only change the labels.
const std::set<std::string> kLabelsOnly = {"label_smooth"};

// Labels shaped (leading dims of x..., classes): soft rows that sum to 1.
at::Tensor labels_for(const at::Tensor& x, uint64_t seed) {
  std::vector<int64_t> shape;
  for (int64_t d = 0; d + 2 < x.dim(); ++d) shape.push_back(x.size(d));
  shape.push_back(kClasses);
  return at::softmax(test::randn(shape, seed, x.scalar_type()), -1);
}

signal::SignalBatch batch_of(at::IntArrayRef shape, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  at::Tensor x = test::randn(shape, seed, dtype);
  return make_batch(x, kFs, labels_for(x, seed + 1));
}

bool same(const at::Tensor& a, const at::Tensor& b) {
  return a.defined() == b.defined() && (!a.defined() || (a.sizes() == b.sizes() && at::equal(a, b)));
}

class EveryAugmenter : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryAugmenter, IsAnAugmentationWithASummary) {
  auto step = make_aug(GetParam());
  EXPECT_TRUE(step->is_augmentation());
  EXPECT_EQ(step->name(), GetParam());
  EXPECT_NE(step->summary().find(GetParam() + " {p: "), std::string::npos) << step->summary();
}

TEST_P(EveryAugmenter, RejectsBadProbabilityAndUnknownKeys) {
  EXPECT_THROW(make_aug(GetParam(), "p: 1.5"), ConfigError);
  EXPECT_THROW(make_aug(GetParam(), "p: -0.1"), ConfigError);
  try {
    make_aug(GetParam(), "probability: 0.5");
    FAIL() << "unknown key accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("probability"), std::string::npos) << e.what();
  }
}

TEST_P(EveryAugmenter, KeepsShapeForOneToFourDims) {
  auto step = make_aug(GetParam(), "p: 1");
  const std::vector<std::vector<int64_t>> shapes = {
      {kSamples}, {12, kSamples}, {3, 12, kSamples}, {2, 3, 12, kSamples}};
  for (const auto& shape : shapes) {
    signal::SignalBatch in = batch_of(shape, 11);
    const at::Tensor x0 = in.x.clone(), y0 = in.y.clone();
    if (shape.size() == 1 && kNeedsTwelveLeads.count(GetParam())) {
      EXPECT_THROW(run_aug(*step, in, 3), ShapeError) << GetParam() << " on 1-D input";
      continue;
    }
    signal::SignalBatch out = run_aug(*step, in, 3);
    EXPECT_EQ(out.x.sizes(), in.x.sizes()) << GetParam() << " dims " << shape.size();
    EXPECT_EQ(out.y.sizes(), in.y.sizes()) << GetParam() << " dims " << shape.size();
    EXPECT_EQ(out.x.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::isfinite(out.x).all().item<bool>()) << GetParam();
    EXPECT_TRUE(same(in.x, x0) && same(in.y, y0)) << GetParam() << " modified its input in place";
  }
}

TEST_P(EveryAugmenter, ProbabilityZeroIsIdentity) {
  auto step = make_aug(GetParam(), "p: 0");
  signal::SignalBatch in = batch_of({4, 12, kSamples}, 5);
  signal::SignalBatch out = run_aug(*step, in, 1);
  EXPECT_TRUE(same(out.x, in.x)) << GetParam();
  EXPECT_TRUE(same(out.y, in.y)) << GetParam();
}

TEST_P(EveryAugmenter, EvalModeThroughPipelineIsIdentity) {
  signal::Pipeline pipe;
  pipe.add(make_aug(GetParam(), "p: 1"));
  signal::SignalBatch b = batch_of({4, 12, kSamples}, 6);
  const at::Tensor x0 = b.x.clone(), y0 = b.y.clone();
  signal::StepContext ctx;
  ctx.training = false;
  ctx.generator = test::seeded(1);
  pipe.apply(b, ctx);
  EXPECT_TRUE(same(b.x, x0)) << GetParam();
  EXPECT_TRUE(same(b.y, y0)) << GetParam();
  // The same pipeline in training mode does change something (so the check above can fail).
  ctx.training = true;
  pipe.apply(b, ctx);
  EXPECT_FALSE(same(b.x, x0) && same(b.y, y0)) << GetParam();
}

TEST_P(EveryAugmenter, SameSeedSameOutputDifferentSeedDifferent) {
  auto step = make_aug(GetParam(), "p: 0.5");
  signal::SignalBatch in = batch_of({16, 12, kSamples}, 7);
  signal::SignalBatch a = run_aug(*step, in, 42);
  signal::SignalBatch b = run_aug(*step, in, 42);
  signal::SignalBatch c = run_aug(*step, in, 43);
  EXPECT_TRUE(same(a.x, b.x) && same(a.y, b.y)) << GetParam();
  EXPECT_FALSE(same(a.x, c.x) && same(a.y, c.y)) << GetParam();
}

TEST_P(EveryAugmenter, ThreadCountDoesNotChangeTheResult) {
  auto step = make_aug(GetParam(), "p: 0.5");
  signal::SignalBatch in = batch_of({16, 12, kSamples}, 13, at::kDouble);
  const int before = num_threads();
  set_num_threads(1);
  signal::SignalBatch a = run_aug(*step, in, 21);
  set_num_threads(2);
  signal::SignalBatch b = run_aug(*step, in, 21);
  set_num_threads(before);
  EXPECT_TRUE(at::allclose(a.x, b.x, 1e-12, 1e-12)) << GetParam();
  EXPECT_TRUE(at::allclose(a.y, b.y, 1e-12, 1e-12)) << GetParam();
}

TEST_P(EveryAugmenter, UndefinedGeneratorUsesTheDefaultOne) {
  auto step = make_aug(GetParam(), "p: 1");
  signal::SignalBatch b = batch_of({4, 12, kSamples}, 8);
  const at::Tensor x0 = b.x.clone(), y0 = b.y.clone();
  signal::StepContext ctx;
  ctx.training = true;
  step->apply(b, ctx);
  EXPECT_FALSE(same(b.x, x0) && same(b.y, y0)) << GetParam();
}

TEST_P(EveryAugmenter, WorksOnFloat64) {
  auto step = make_aug(GetParam(), "p: 1");
  signal::SignalBatch in = batch_of({8, 12, kSamples}, 9, at::kDouble);
  signal::SignalBatch out = run_aug(*step, in, 4);
  EXPECT_EQ(out.x.scalar_type(), at::kDouble) << GetParam();
  EXPECT_EQ(out.y.scalar_type(), at::kDouble) << GetParam();
  EXPECT_EQ(out.x.sizes(), in.x.sizes());
  EXPECT_TRUE(at::isfinite(out.x).all().item<bool>()) << GetParam();
  if (kLabelsOnly.count(GetParam())) EXPECT_FALSE(same(out.y, in.y)) << GetParam();
  else EXPECT_FALSE(same(out.x, in.x)) << GetParam();
}

TEST_P(EveryAugmenter, RejectsIntegerSignals) {
  if (kLabelsOnly.count(GetParam())) GTEST_SKIP() << "label-only augmenter";
  auto step = make_aug(GetParam(), "p: 1");
  signal::SignalBatch in = batch_of({4, 12, kSamples}, 10);
  in.x = in.x.mul(100).to(at::kShort);
  EXPECT_THROW(run_aug(*step, in, 1), ShapeError) << GetParam();
}

TEST_P(EveryAugmenter, CudaMatchesCpuForTheSameSeed) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  auto step = make_aug(GetParam(), "p: 0.5");
  signal::SignalBatch in = batch_of({8, 12, kSamples}, 12, at::kDouble);
  signal::SignalBatch gpu = in;
  gpu.x = in.x.cuda();
  gpu.y = in.y.cuda();
  signal::SignalBatch a = run_aug(*step, in, 5);
  signal::SignalBatch b = run_aug(*step, gpu, 5);
  EXPECT_TRUE(b.x.is_cuda()) << GetParam();
  EXPECT_TRUE(at::allclose(a.x, b.x.cpu(), 1e-9, 1e-9)) << GetParam();
  EXPECT_TRUE(at::allclose(a.y, b.y.cpu(), 1e-9, 1e-9)) << GetParam();
}

// Wrappers (on_leads) take their probability from the step they wrap: on_leads_test.cpp.
std::vector<std::string> plain_augmenters() {
  std::vector<std::string> names = signal::augmenter_registry().names();
  names.erase(std::remove(names.begin(), names.end(), "on_leads"), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Augment, EveryAugmenter, ::testing::ValuesIn(plain_augmenters()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return std::isdigit(static_cast<unsigned char>(n[0])) ? "A" + n : n;
                         });

TEST(AugmentRegistry, ListsEveryAugmenter) {
  const std::set<std::string> want = {"gaussian_noise",
                                      "jitter",
                                      "rescaling",
                                      "amplitude_flip",
                                      "time_shift",
                                      "random_resized_crop",
                                      "stretch_compress",
                                      "baseline_wander",
                                      "powerline_noise",
                                      "ft_surrogate",
                                      "time_mask",
                                      "lead_dropout",
                                      "mixup",
                                      "cutmix",
                                      "label_smooth",
                                      "3kg",
                                      "on_leads"};
  const auto names = signal::augmenter_registry().names();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), want);
}

TEST(AugmentRegistry, ProbabilityIsPerSlice) {
  // p = 0.5 over 300 slices of a (3, 100, 2, 50) signal: roughly half change, the rest are bit-identical.
  auto step = make_aug("amplitude_flip", "p: 0.5");
  at::Tensor x = test::randn({3, 100, 2, 50}, 1);
  signal::SignalBatch out = run_aug(*step, make_batch(x, kFs), 2);
  at::Tensor flipped = out.x.eq(x.neg()).all(-1).all(-1);
  at::Tensor kept = out.x.eq(x).all(-1).all(-1);
  EXPECT_TRUE((flipped ^ kept).all().item<bool>());
  const double frac = flipped.to(at::kDouble).mean().item<double>();
  EXPECT_GT(frac, 0.35);
  EXPECT_LT(frac, 0.65);
  // Every leading position is drawn independently: each of the 3 outer rows has both outcomes.
  EXPECT_TRUE((flipped.any(1) & kept.any(1)).all().item<bool>());
}

TEST(AugmentRegistry, SecondsNeedFs) {
  auto step = make_aug("time_mask", "p: 1");
  signal::SignalBatch b = make_batch(test::randn({2, 12, 100}, 1), 0.0);
  signal::Pipeline pipe;
  pipe.add(step);
  signal::StepContext ctx;
  ctx.training = true;
  EXPECT_THROW(pipe.apply(b, ctx), ConfigError);
  auto samples = make_aug("time_mask", "p: 1, unit: samples, max_length: 10");
  EXPECT_FALSE(samples->needs_fs());
  EXPECT_NO_THROW(run_aug(*samples, b, 1));
}

}  // namespace
}  // namespace cardiotorch

namespace cardiotorch {
namespace {

TEST(AugmentRegistry, PipelineConfigErrorsNameTheStep) {
  try {
    signal::Pipeline::from_config(ConfigNode::parse("[{name: jitter}, {name: mixup, p: 1.5}]", "aug.yaml"));
    FAIL() << "p: 1.5 accepted";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("aug.yaml"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[1]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("p must be in [0, 1], got 1.5"), std::string::npos) << msg;
  }
  EXPECT_THROW(signal::Pipeline::from_config(ConfigNode::parse("[{name: time_mask, unit: minutes}]")), ConfigError);
  EXPECT_THROW(signal::Pipeline::from_config(ConfigNode::parse("[{name: 3kg, angle: [10, 20]}]")), ConfigError);
  EXPECT_THROW(signal::Pipeline::from_config(ConfigNode::parse("[{name: baseline_wander, amplitude: [0.3, 0.1]}]")),
               ConfigError);
  signal::Pipeline ok = signal::Pipeline::from_config(
      ConfigNode::parse("{steps: [{name: 3kg, angle: 30}, {name: cutmix, alpha: 0.5}], random_order: true}"));
  EXPECT_EQ(ok.size(), 2u);
  EXPECT_NE(ok.summary().find("3kg {p: 0.5, angle: [30.0]"), std::string::npos) << ok.summary();
}

}  // namespace
}  // namespace cardiotorch
