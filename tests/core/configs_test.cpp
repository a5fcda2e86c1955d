// Every YAML file shipped under configs/ resolves and validates (a typo there is a bug).
#include <gtest/gtest.h>

#include <filesystem>

#include "cardiotorch/app/experiment.h"
#include "cardiotorch/signal/pipeline.h"
#include "support/test_util.h"

namespace fs = std::filesystem;
namespace ct = cardiotorch;

TEST(ShippedConfigs, ExperimentsResolve) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(ct::test::source_path("configs"))) {
    if (e.path().extension() != ".yaml") continue;
    SCOPED_TRACE(e.path().string());
    EXPECT_NO_THROW(ct::resolve_experiment(e.path().string(), {}));
    ++n;
  }
  EXPECT_GE(n, 2);
}

TEST(ShippedConfigs, PipelinesBuild) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(ct::test::source_path("configs/pipelines"))) {
    if (e.path().extension() != ".yaml") continue;
    SCOPED_TRACE(e.path().string());
    auto p = ct::signal::Pipeline::from_config(ct::ConfigNode::load(e.path().string()));
    EXPECT_GT(p.size(), 0u);
    ++n;
  }
  EXPECT_GE(n, 1);
}

TEST(ShippedConfigs, FinetuneConfigsResolve) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(ct::test::source_path("configs/finetune"))) {
    if (e.path().extension() != ".yaml") continue;
    SCOPED_TRACE(e.path().string());
    ct::ExperimentOptions o;
    EXPECT_NO_THROW(ct::resolve_experiment(e.path().string(), {}, &o));
    EXPECT_FALSE(o.model.empty());
    // Step names are only looked up when the pipelines are built: build them too.
    if (!o.preprocess.is_null()) {
      EXPECT_NO_THROW(ct::signal::Pipeline::from_config(o.preprocess));
    }
    if (!o.augment.is_null()) {
      EXPECT_NO_THROW(ct::signal::Pipeline::from_config(o.augment));
    }
    ++n;
  }
  EXPECT_GE(n, 5);
}
