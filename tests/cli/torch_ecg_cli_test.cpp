// `cardiotorch model-info` on torch_ecg presets prints torch_ecg.md §1.4's shapes and parameter
// counts; `cardiotorch import-config` turns a torch_ecg checkpoint's config into a backbone YAML
// that model-info builds.
#include <gtest/gtest.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/npy.h"
#include "support/test_util.h"

namespace cardiotorch {
namespace {

TEST(TorchEcgCli, ModelInfoPrintsTorchEcgShapesAndParameterCounts) {
  struct Case {
    const char* name;
    const char* params;
    const char* output;
  };
  for (const Case& c : {Case{"multi_scopic", "parameters: 6737760 ", "output:   (2, 1152, 250)"},
                        Case{"densenet_leadwise", "parameters: 51792 ", "output:   (2, 144, 125)"},
                        Case{"mobilenet_v1", "parameters: 4103532 ", "output:   (2, 1152, 63)"}}) {
    std::string out;
    ASSERT_EQ(test::run_cli(str_cat("model-info ", c.name, " --seq-len 2000"), &out), 0) << out;
    EXPECT_NE(out.find(c.params), std::string::npos) << out;
    EXPECT_NE(out.find(c.output), std::string::npos) << out;
  }
}

TEST(TorchEcgCli, ImportConfigWritesTheModelAndItsBackbone) {
  const std::string dir = test::make_temp_dir("import_config");
  const std::string ckpt = test::source_path("tests/fixtures/models/torch_ecg_ckpt_multi_scopic_leadwise.pth");
  std::string out;
  ASSERT_EQ(test::run_cli("import-config " + ckpt + " --cnn-only -o " + dir + "/backbone.yaml", &out), 0) << out;
  EXPECT_NE(out.find("-> cardiotorch backbone multi_scopic_leadwise (the cnn of ecg_crnn)"), std::string::npos) << out;
  EXPECT_NE(out.find("ignored: cnn.multi_scopic_leadwise.block.kw_activation"), std::string::npos) << out;
  ASSERT_EQ(test::run_cli("model-info -c " + dir + "/backbone.yaml --seq-len 2000", &out), 0) << out;
  EXPECT_NE(out.find("parameters: 2254464 "), std::string::npos) << out;
  EXPECT_NE(out.find("output:   (2, 2304, 250)"), std::string::npos) << out;
  // A file without a model_config is a clear error.
  EXPECT_EQ(test::run_cli("import-config " + test::source_path("tests/fixtures/models/blocks_parity.npz"), &out), 1);
  EXPECT_NE(out.find("blocks_parity.npz"), std::string::npos) << out;
}

// Grad-CAM reaches the torch_ecg backbones through their stage names (the names a PyTorch
// forward hook would use); the default layer (the last stage) is checked in cnn_backbones_test.
TEST(TorchEcgCli, GradCamOnATorchEcgBackboneAtANamedStage) {
  const std::string dir = test::make_temp_dir("cnn_gradcam");
  const std::string record = test::source_path("data/sample/cinc2021/E07500");
  std::string out;
  ASSERT_EQ(test::run_cli("saliency --model densenet_leadwise --layer transition_1 --input " + record + " -o " + dir +
                              "/named.npy",
                          &out),
            0)
      << out;
  EXPECT_NE(out.find("Grad-CAM at transition_1,"), std::string::npos) << out;
  const at::Tensor map = io::read_npy(dir + "/named.npy");
  ASSERT_EQ(map.dim(), 2);
  EXPECT_EQ(map.size(0), 1);
  EXPECT_EQ(map.size(1), 5000);  // the record's 10 s at 500 Hz: the map is upsampled to the input
  EXPECT_LE(map.max().item<float>(), 1.0f);
  EXPECT_GE(map.min().item<float>(), 0.0f);
  // A misspelt stage names the nearest one.
  EXPECT_EQ(
      test::run_cli(
          "saliency --model densenet_leadwise --layer transiton_1 --input " + record + " -o " + dir + "/bad.npy", &out),
      2);
  EXPECT_NE(out.find("did you mean 'transition_1'"), std::string::npos) << out;
}

}  // namespace
}  // namespace cardiotorch
