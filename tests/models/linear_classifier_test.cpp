// The seed's LinearClassifier: every init draws the seed's weights after the same seed, the
// (B, D) -> (B, K) contract and its errors. Fixture: make_resnet2d_fixtures.py.
#include "cardiotorch/models/linear_classifier.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "cardiotorch/core/error.h"
#include "models/model_test_util.h"

namespace ct = cardiotorch;
namespace m = cardiotorch::models;
using ct::test::max_abs_diff;
using ct::test::model_fixture;

TEST(LinearClassifier, InitsEqualTheSeedsAfterTheSameSeed) {
  const auto f = model_fixture("linear_classifier.npz");
  for (const std::string init : {"normal", "xavier", "kaiming", "orthogonal", "default"}) {
    m::LinearClassifierOptions o;
    o.in_features = 32;
    o.num_classes = 5;
    o.init = init;
    torch::manual_seed(7);
    m::LinearClassifierImpl probe(o);
    // orthogonal_ goes through a QR decomposition: equal to rounding, not bit for bit.
    EXPECT_LE(max_abs_diff(probe.model->weight, f.at(init + ".weight")), init == "orthogonal" ? 1e-7 : 0.0) << init;
    EXPECT_TRUE(at::equal(probe.model->bias, f.at(init + ".bias"))) << init;
  }
  // The fixture's inits differ from one another (the comparison above can fail).
  EXPECT_GT(max_abs_diff(f.at("normal.weight"), f.at("kaiming.weight")), 1e-2);
  EXPECT_GT(f.at("kaiming.weight").std().item<double>(), 10 * f.at("xavier.weight").std().item<double>());
}

TEST(LinearClassifier, FeaturesInLogitsOut) {
  m::ModelContext ctx;
  ctx.in_channels = 512;  // the feature width the surroundings know
  ctx.num_classes = 5;
  const m::ModelPtr probe = m::build_model(ct::ConfigNode::string("linear_classifier"), ctx);
  EXPECT_EQ(probe->input_shape(), (m::Shape{-1, 512}));
  EXPECT_EQ(probe->output_shape({4, 512}), (m::Shape{4, 5}));
  EXPECT_EQ(probe->output_shape({-1, 512}), (m::Shape{-1, 5}));
  EXPECT_EQ(probe->embed_dim(), 512);
  const at::Tensor x = at::randn({4, 512});
  const at::Tensor y = probe->forward(x);
  EXPECT_EQ(y.sizes().vec(), probe->output_shape(x.sizes().vec()));
  EXPECT_TRUE(at::equal(probe->embed(x), x));
  auto* impl = dynamic_cast<m::LinearClassifierImpl*>(probe.get());
  ASSERT_NE(impl, nullptr);
  EXPECT_TRUE(at::allclose(y, at::linear(x, impl->model->weight, impl->model->bias)));
  EXPECT_EQ(impl->model->bias.abs().sum().item<double>(), 0.0);
  // Names as the seed's module: model.weight, model.bias.
  const auto state = ct::test::state_of(*probe);
  EXPECT_EQ(state.size(), 2u);
  EXPECT_TRUE(state.count("model.weight") && state.count("model.bias"));

  EXPECT_THROW(probe->forward(at::randn({4, 511})), ct::ShapeError);
  EXPECT_THROW(probe->forward(at::randn({4, 512, 1})), ct::ShapeError);
  EXPECT_THROW(probe->output_shape({4, 3, 512}), ct::ShapeError);
}

TEST(LinearClassifier, OptionsWinOverContextAndAreChecked) {
  m::ModelContext ctx;
  ctx.in_channels = 12;
  ctx.num_classes = 0;
  EXPECT_THROW(m::build_model(ct::ConfigNode::string("linear_classifier"), ctx), ct::ConfigError);
  const auto probe =
      m::build_model(ct::ConfigNode::parse("{name: linear_classifier, in_features: 2048, num_classes: 3}"), ctx);
  EXPECT_EQ(probe->output_shape({2, 2048}), (m::Shape{2, 3}));
  try {
    m::build_model(ct::ConfigNode::parse("{name: linear_classifier, num_classes: 3, init: xavier_uniform}"), ctx);
    ADD_FAILURE() << "no error";
  } catch (const ct::ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("init must be one of"));
  }
}
