// The supervised objectives' losses against torch.nn criteria (tests/fixtures/train/losses.json).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cardiotorch/train/objective.h"
#include "train/fixture_util.h"

namespace ct = cardiotorch;
namespace tr = cardiotorch::train;

namespace {

// A "model" returning fixed outputs, so the objective's loss alone is tested.
class Fixed final : public ct::models::ModelImpl {
 public:
  explicit Fixed(at::Tensor out) : out_(std::move(out)) {}
  at::Tensor forward(const at::Tensor&) override { return out_; }
  ct::models::Shape output_shape(const ct::models::Shape&) const override { return out_.sizes().vec(); }
  int64_t embed_dim() const override { return 1; }

 private:
  at::Tensor out_;
};

double loss_of(const std::string& yaml, const tr::ObjectiveContext& c, const at::Tensor& out, const at::Tensor& y) {
  auto obj = tr::objective_registry().build(ct::ConfigNode::parse(yaml), c);
  Fixed m(out.to(at::kFloat));
  ct::data::Batch b;
  b.x = at::zeros({out.size(0), 1, 4});
  b.y = y;
  return obj->step(m, b, true).loss.item<double>();
}

tr::ObjectiveContext classes(int n) {
  tr::ObjectiveContext c;
  for (int i = 0; i < n; ++i) c.class_names.push_back("c" + std::to_string(i));
  return c;
}

}  // namespace

TEST(Losses, CrossEntropyWithSmoothingAndWeights) {
  const auto fx = ct::test::load_json_fixture("losses.json");
  const at::Tensor logits = ct::test::tensor_of(fx["logits"]), labels = ct::test::tensor_of(fx["labels"], true);
  const auto c = classes(4);
  EXPECT_NEAR(loss_of("{name: multiclass}", c, logits, labels), fx["ce"].get<double>(), 1e-6);
  EXPECT_NEAR(
      loss_of("{name: multiclass, label_smoothing: 0.1, class_weights: [1.0, 2.0, 0.5, 1.5]}", c, logits, labels),
      fx["ce_smooth_weighted"].get<double>(), 1e-6);
  // Soft targets (mixup) with smoothing.
  EXPECT_NEAR(
      loss_of("{name: multiclass, label_smoothing: 0.1}", c, logits, ct::test::tensor_of(fx["soft"]).to(at::kFloat)),
      fx["ce_soft_smooth"].get<double>(), 1e-6);
}

TEST(Losses, BalancedClassWeightsFromCounts) {
  // sklearn's "balanced": n / (C * count).
  const auto w = tr::balanced_class_weights({50, 25, 25, 0}, 100);
  EXPECT_DOUBLE_EQ(w[0], 0.5);
  EXPECT_DOUBLE_EQ(w[1], 1.0);
  EXPECT_DOUBLE_EQ(w[3], 0.0);
  const auto pw = tr::balanced_pos_weight({10, 50, 0}, 100, 20.0);
  EXPECT_DOUBLE_EQ(pw[0], 9.0);
  EXPECT_DOUBLE_EQ(pw[1], 1.0);
  EXPECT_DOUBLE_EQ(pw[2], 20.0);
}

TEST(Losses, BinaryCrossEntropyWithPosWeight) {
  const auto fx = ct::test::load_json_fixture("losses.json");
  const at::Tensor logits = ct::test::tensor_of(fx["ml_logits"]),
                   t = ct::test::tensor_of(fx["ml_targets"]).to(at::kFloat);
  const auto c = classes(3);
  EXPECT_NEAR(loss_of("{name: multilabel}", c, logits, t), fx["bce"].get<double>(), 1e-6);
  EXPECT_NEAR(loss_of("{name: multilabel, pos_weight: [2.0, 0.5, 3.0]}", c, logits, t),
              fx["bce_pos_weight"].get<double>(), 1e-6);
  // Balanced pos_weight from the training counts: neg / pos.
  auto cc = c;
  cc.train_label_counts = {2, 1, 3};
  cc.train_size = 5;
  const double balanced = loss_of("{name: multilabel, balance: balanced}", cc, logits, t);
  EXPECT_NEAR(balanced,
              at::binary_cross_entropy_with_logits(logits.to(at::kFloat), t, c10::nullopt,
                                                   at::tensor({1.5, 4.0, 2.0 / 3.0}, at::kFloat))
                  .item<double>(),
              1e-6);
}

TEST(Losses, SegmentationAndRegression) {
  const auto fx = ct::test::load_json_fixture("losses.json");
  const auto c = classes(3);
  EXPECT_NEAR(loss_of("{name: segmentation, pos_weight: [2.0, 0.5, 3.0]}", c,
                      ct::test::tensor_of(fx["seg_logits"]).view({2, 3, 7}),
                      ct::test::tensor_of(fx["seg_targets"]).view({2, 3, 7}).to(at::kFloat)),
              fx["seg_bce_pos_weight"].get<double>(), 1e-6);
  const auto r = classes(2);
  EXPECT_NEAR(loss_of("{name: regression}", r, ct::test::tensor_of(fx["reg_out"]), ct::test::tensor_of(fx["reg_t"])),
              fx["mse"].get<double>(), 1e-6);
  EXPECT_NEAR(loss_of("{name: regression, loss: smooth_l1, beta: 0.5}", r, ct::test::tensor_of(fx["reg_out"]),
                      ct::test::tensor_of(fx["reg_t"])),
              fx["smooth_l1"].get<double>(), 1e-6);
}

TEST(Losses, SegmentationSkipsUnannotatedSamples) {
  // Label -1 (LUDB's unannotated record ends): the loss is the mean over the labelled samples
  // only, and those samples get no gradient, whatever the model outputs there.
  const auto c = classes(2);
  at::Tensor out = at::randn({2, 2, 9}, at::TensorOptions().dtype(at::kFloat));
  at::Tensor y = at::randint(0, 2, {2, 2, 9}).to(at::kFloat);
  y.slice(2, 0, 3).fill_(-1);
  y[1].slice(1, 7, 9).fill_(-1);
  const at::Tensor keep = y.ge(0);
  const double want =
      at::binary_cross_entropy_with_logits(out.masked_select(keep), y.masked_select(keep)).item<double>();
  EXPECT_NEAR(loss_of("{name: segmentation}", c, out, y), want, 1e-6);
  at::Tensor wild = out.clone();
  wild.masked_fill_(keep.logical_not(), 50.0f);
  EXPECT_NEAR(loss_of("{name: segmentation}", c, wild, y), want, 1e-6);
}

TEST(Losses, ShapeAndConfigErrors) {
  const auto c = classes(4);
  EXPECT_THROW(loss_of("{name: multiclass}", c, at::zeros({3, 5}), at::zeros({3}, at::kLong)), ct::ShapeError);
  EXPECT_THROW(loss_of("{name: multiclass, class_weights: [1, 2]}", c, at::zeros({3, 4}), at::zeros({3}, at::kLong)),
               ct::ConfigError);
  EXPECT_THROW(loss_of("{name: multiclass, label_smoothing: 1.0}", c, at::zeros({3, 4}), at::zeros({3}, at::kLong)),
               ct::ConfigError);
  EXPECT_EQ(tr::default_objective(ct::data::LabelKind::kMask), "segmentation");
  EXPECT_THROW(tr::default_objective(ct::data::LabelKind::kNone), ct::ConfigError);
}

TEST(Losses, SqrtWeightsAndCap) {
  const auto w = tr::sqrt_class_weights({400, 100, 4, 0});
  EXPECT_DOUBLE_EQ(w[0], 1.0);
  EXPECT_DOUBLE_EQ(w[1], 2.0);
  EXPECT_DOUBLE_EQ(w[2], 10.0);
  EXPECT_DOUBLE_EQ(w[3], 0.0);
  const auto c = tr::cap_weights(w, 5.0);
  EXPECT_DOUBLE_EQ(c[2], 5.0);
  EXPECT_DOUBLE_EQ(c[1], 2.0);
  EXPECT_DOUBLE_EQ(c[3], 0.0);
}
