// on_leads: a step on a subset of the leads; the other leads come out bit-identical.
#include <gtest/gtest.h>

#include "augment/augment_test_util.h"
#include "cardiotorch/augment/leads.h"
#include "cardiotorch/core/error.h"

namespace cardiotorch {
namespace {

using test::make_aug;
using test::make_batch;
using test::run_aug;

constexpr double kFs = 360.0;

signal::SignalBatch named_batch(at::IntArrayRef shape, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  signal::SignalBatch b = make_batch(test::randn(shape, seed, dtype), kFs);
  for (int64_t i = 0; i < b.x.size(-2); ++i) b.leads.push_back("L" + std::to_string(i));
  return b;
}

at::Tensor leads_of(const at::Tensor& x, std::vector<int64_t> pos) {
  return x.index_select(x.dim() - 2, at::tensor(pos, at::kLong));
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(AugmentOnLeads, SelectedLeadsGetTheWrappedStepOthersStayBitIdentical) {
  auto step = make_aug("on_leads", "leads: [L3, L1], step: {name: gaussian_noise, p: 0.7, std: 0.1}");
  EXPECT_TRUE(step->is_augmentation());
  signal::SignalBatch in = named_batch({6, 5, 200}, 1);
  const at::Tensor x0 = in.x.clone();
  signal::SignalBatch out = run_aug(*step, in, 9);
  EXPECT_TRUE(at::equal(in.x, x0)) << "the input was modified in place";
  EXPECT_TRUE(at::equal(leads_of(out.x, {0, 2, 4}), leads_of(x0, {0, 2, 4})));
  // The selected leads, in the order given, equal the wrapped step run alone on them with the
  // same generator: the same per-slice draws (p per slice, as the step documents).
  signal::SignalBatch alone = make_batch(leads_of(x0, {3, 1}), kFs);
  alone.leads = {"L3", "L1"};
  alone = run_aug(*make_aug("gaussian_noise", "p: 0.7, std: 0.1"), alone, 9);
  EXPECT_TRUE(at::equal(leads_of(out.x, {3, 1}), alone.x));
  EXPECT_FALSE(at::equal(leads_of(out.x, {3, 1}), leads_of(x0, {3, 1}))) << "nothing was drawn";
  EXPECT_EQ(out.leads, in.leads);
}

TEST(AugmentOnLeads, IndicesSelectLikeNamesAndNeedNoLeadNames) {
  signal::SignalBatch in = named_batch({3, 4, 100}, 2);
  auto by_name = run_aug(*make_aug("on_leads", "leads: [L0, L2], step: {name: rescaling, p: 1}"), in, 5);
  signal::SignalBatch unnamed = in;
  unnamed.leads.clear();
  auto by_index = run_aug(*make_aug("on_leads", "indices: [0, 2], step: {name: rescaling, p: 1}"), unnamed, 5);
  EXPECT_TRUE(at::equal(by_name.x, by_index.x));
  EXPECT_FALSE(at::equal(by_name.x, in.x));
}

TEST(AugmentOnLeads, SameSeedSameOutputDifferentSeedDifferentFloat64Kept) {
  auto step = make_aug("on_leads", "indices: [1], step: {name: baseline_wander, p: 0.5}");
  signal::SignalBatch in = named_batch({16, 3, 400}, 3, at::kDouble);
  auto a = run_aug(*step, in, 42), b = run_aug(*step, in, 42), c = run_aug(*step, in, 43);
  EXPECT_TRUE(at::equal(a.x, b.x));
  EXPECT_FALSE(at::equal(a.x, c.x));
  EXPECT_EQ(a.x.scalar_type(), at::kDouble);
}

TEST(AugmentOnLeads, EvalModeSkipsAugmentersButRunsPreprocessors) {
  signal::Pipeline pipe;
  pipe.add(make_aug("on_leads", "indices: [0], step: {name: gaussian_noise, p: 1, std: 1}"));
  pipe.add(make_aug("on_leads", "indices: [1], step: {name: zscore}"));
  EXPECT_FALSE(pipe.steps()[1]->is_augmentation());
  signal::SignalBatch b = named_batch({2, 3, 300}, 4);
  b.x = b.x * 3 + 1;
  const at::Tensor x0 = b.x.clone();
  signal::StepContext ctx;  // eval
  pipe.apply(b, ctx);
  EXPECT_TRUE(at::equal(leads_of(b.x, {0, 2}), leads_of(x0, {0, 2})));
  at::Tensor z = leads_of(b.x, {1});
  EXPECT_LT(z.mean(-1).abs().max().item<double>(), 1e-5);
  EXPECT_NEAR(z.std(-1).mean().item<double>(), 1.0, 1e-4);  // zscore's default ddof: 1
}

TEST(AugmentOnLeads, LabelsPassThrough) {
  auto step = make_aug("on_leads", "indices: [0], step: {name: jitter, p: 1}");
  signal::SignalBatch in = named_batch({4, 2, 50}, 5);
  in.y = at::eye(4).index_select(1, at::arange(3));
  auto out = run_aug(*step, in, 1);
  EXPECT_TRUE(at::equal(out.y, in.y));
  EXPECT_FALSE(at::equal(out.x, in.x));
}

TEST(AugmentOnLeads, ConfigRoundTripsAndSummaryNamesTheStep) {
  auto step = make_aug("on_leads", "leads: [L1], step: {name: gaussian_noise, std: 0.2}");
  const std::string summary = step->summary();
  EXPECT_NE(summary.find("on_leads {leads: [L1]"), std::string::npos) << summary;
  EXPECT_NE(summary.find("gaussian_noise"), std::string::npos) << summary;
  EXPECT_NE(summary.find("std: 0.2"), std::string::npos) << summary;
  auto again = signal::build_step(step->config());
  signal::SignalBatch in = named_batch({8, 2, 100}, 6);
  EXPECT_TRUE(at::equal(run_aug(*step, in, 3).x, run_aug(*again, in, 3).x));
}

TEST(AugmentOnLeads, ConfigErrorsSayWhatIsWrong) {
  auto config_error = [](const std::string& opts) { return message_of([&] { make_aug("on_leads", opts); }); };
  EXPECT_NE(config_error("step: {name: jitter}").find("either by name"), std::string::npos);
  EXPECT_NE(config_error("leads: [a], indices: [0], step: {name: jitter}").find("not both"), std::string::npos);
  EXPECT_NE(config_error("leads: [a]").find("step: missing"), std::string::npos);
  EXPECT_NE(config_error("leads: [a, a], step: {name: jitter}").find("listed twice"), std::string::npos);
  EXPECT_NE(config_error("indices: [-1], step: {name: jitter}").find(">= 0"), std::string::npos);
  const std::string unknown = config_error("leads: [a], step: {name: gausian_noise}");
  EXPECT_NE(unknown.find("gaussian_noise"), std::string::npos) << unknown;  // did you mean
  const std::string key = config_error("leads: [a], step: {name: gaussian_noise, sdt: 1}");
  EXPECT_NE(key.find("step.sdt"), std::string::npos) << key;
  const std::string inner = config_error("leads: [a], step: {name: gaussian_noise, p: 2}");
  EXPECT_NE(inner.find("p must be in [0, 1]"), std::string::npos) << inner;
  for (const char* batch_level : {"mixup", "cutmix", "label_smooth"}) {
    const std::string mixing = config_error(std::string("leads: [a], step: {name: ") + batch_level + "}");
    EXPECT_NE(mixing.find("works on whole batches"), std::string::npos) << mixing;
  }
}

TEST(AugmentOnLeads, ShapeErrorsNameTheLeads) {
  signal::SignalBatch b = named_batch({2, 3, 100}, 7);
  auto shape_error = [&](const std::string& opts, const signal::SignalBatch& batch) {
    return message_of([&] { run_aug(*make_aug("on_leads", opts), batch, 1); });
  };
  const std::string missing = shape_error("leads: [V1], step: {name: jitter, p: 1}", b);
  EXPECT_NE(missing.find("no lead 'V1'"), std::string::npos) << missing;
  EXPECT_NE(missing.find("L0, L1, L2"), std::string::npos) << missing;
  EXPECT_NE(shape_error("indices: [3], step: {name: jitter, p: 1}", b).find("out of range"), std::string::npos);
  signal::SignalBatch unnamed = b;
  unnamed.leads.clear();
  EXPECT_NE(shape_error("leads: [L0], step: {name: jitter, p: 1}", unnamed).find("give indices"), std::string::npos);
  const std::string resample = shape_error("indices: [0], step: {name: resample, fs: 180}", b);
  EXPECT_NE(resample.find("changed the selected leads' shape"), std::string::npos) << resample;
  signal::SignalBatch flat = make_batch(test::randn({100}, 1), kFs);
  EXPECT_THROW(run_aug(*make_aug("on_leads", "indices: [0], step: {name: jitter, p: 1}"), flat, 1), ShapeError);
}

}  // namespace
}  // namespace cardiotorch
