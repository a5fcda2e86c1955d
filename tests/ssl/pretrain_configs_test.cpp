// The shipped pretraining configs resolve, name a self-supervised objective and repeat the
// anchor's preprocessing of configs/pipelines/mae_anchor.yaml step for step.
#include <gtest/gtest.h>

#include <filesystem>

#include "cardiotorch/app/experiment.h"
#include "cardiotorch/signal/pipeline.h"
#include "support/test_util.h"

namespace fs = std::filesystem;
namespace ct = cardiotorch;

TEST(PretrainConfigs, ResolveWithTheAnchorPipeline) {
  const std::string anchor = ct::signal::Pipeline::from_config(
                                 ct::ConfigNode::load(ct::test::source_path("configs/pipelines/mae_anchor.yaml")))
                                 .config()
                                 .to_yaml();
  int n = 0;
  for (const auto& e : fs::directory_iterator(ct::test::source_path("configs/pretrain"))) {
    if (e.path().extension() != ".yaml") continue;
    SCOPED_TRACE(e.path().string());
    ct::ExperimentOptions o;
    const ct::ConfigNode cfg = ct::resolve_experiment(e.path().string(), {}, &o);
    EXPECT_EQ(o.objective.name(), "mae");
    EXPECT_TRUE(ct::starts_with(o.model.name(), "mae_vit"));
    EXPECT_EQ(cfg["preprocess"].to_yaml(), anchor);
    EXPECT_EQ(o.data.loader.crop, 2500);
    ++n;
  }
  EXPECT_GE(n, 2);
}
