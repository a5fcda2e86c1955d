// `cardiotorch saliency`, `forward` and `model-info` on the cardiac models, and the saliency
// drawings: the ECG on grid paper with the relevance under it, the image with its overlay.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cardiotorch/app/saliency.h"
#include "cardiotorch/core/error.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/report/ecg_plot.h"
#include "cardiotorch/report/image_plot.h"
#include "models/tiny_models.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace fs = std::filesystem;
using ct::test::run_cli;
using ::testing::HasSubstr;

namespace {

class SaliencyCli : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = ct::test::make_temp_dir("saliency_cli"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

// A narrow ResNet keeps each run short; what is checked does not depend on the width.
constexpr const char* kNarrow = " --set base_planes=8 --set 'layers=[1,1,1,1]'";

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_F(SaliencyCli, GradCamOfA2dResNetDrawsAndSavesTheMap) {
  ct::io::write_npy(path("x.npy"), at::randn({2, 3, 64, 48}));
  std::string out;
  ASSERT_EQ(
      run_cli("saliency --model resnet18_2d" + std::string(kNarrow) + " --num-classes 4 --input " + path("x.npy") +
                  " --layer layer4 --target 2 -o " + path("map.png") + " -o " + path("map.npy") + " --index 1",
              &out),
      0)
      << out;
  EXPECT_THAT(out, HasSubstr("Grad-CAM at layer4, class 2"));
  EXPECT_THAT(out, HasSubstr("untrained model"));  // honest about the missing weights
  const at::Tensor map = ct::io::read_npy(path("map.npy"));
  EXPECT_EQ(map.sizes(), (at::IntArrayRef{2, 64, 48}));
  EXPECT_GE(map.min().item<float>(), 0.0f);
  EXPECT_LE(map.max().item<float>(), 1.0f);
  EXPECT_EQ(slurp(path("map.png")).substr(1, 3), "PNG");
}

TEST_F(SaliencyCli, UsageErrorsAreOneLineWithExitTwo) {
  ct::io::write_npy(path("x.npy"), at::randn({1, 3, 32, 32}));
  const std::string base =
      "saliency --model resnet18_2d" + std::string(kNarrow) + " --input " + path("x.npy") + " -o " + path("m.npy");
  std::string out;
  EXPECT_EQ(run_cli(base + " --method rollout --layer layer4", &out), 2);
  EXPECT_THAT(out, HasSubstr("--layer applies to --method gradcam"));
  EXPECT_EQ(run_cli(base + " --target first", &out), 2);
  EXPECT_THAT(out, HasSubstr("--target must be a class index"));
  EXPECT_EQ(run_cli(base + " --method rolout", &out), 2);
  EXPECT_THAT(out, HasSubstr("did you mean 'rollout'"));
}

TEST_F(SaliencyCli, ModelErrorsNameTheFix) {
  ct::io::write_npy(path("x.npy"), at::randn({1, 3, 32, 32}));
  const std::string base =
      "saliency --model resnet18_2d" + std::string(kNarrow) + " --input " + path("x.npy") + " -o " + path("m.npy");
  std::string out;
  EXPECT_EQ(run_cli(base + " --layer layr4", &out), 2);
  EXPECT_THAT(out, HasSubstr("did you mean 'layer4'"));
  EXPECT_EQ(run_cli(base + " --method rollout", &out), 2);
  EXPECT_THAT(out, HasSubstr("use the gradcam method"));
  ct::io::write_npy(path("grey.npy"), at::randn({1, 1, 32, 32}));
  const std::string grey =
      "saliency --model resnet18_2d" + std::string(kNarrow) + " --input " + path("grey.npy") + " -o " + path("m.npy");
  EXPECT_NE(run_cli(grey, &out), 0);
  EXPECT_THAT(out, HasSubstr("repeat_grey: true"));
  EXPECT_EQ(run_cli(grey + " --set repeat_grey=true", &out), 0) << out;
}

TEST_F(SaliencyCli, ForwardRunsTheCmrEncoderOnAnNpyInput) {
  ct::io::write_npy(path("x.npy"), at::randn({2, 3, 64, 64}));
  std::string out;
  ASSERT_EQ(run_cli("forward --model cmr_encoder --input " + path("x.npy") + " -o " + path("y.npy"), &out), 0) << out;
  EXPECT_EQ(ct::io::read_npy(path("y.npy")).sizes(), (at::IntArrayRef{2, 512}));
  ASSERT_EQ(run_cli("forward --model cmr_classifier --set head=mlp --num-classes 5 --input " + path("x.npy") + " -o " +
                        path("z.npy"),
                    &out),
            0)
      << out;
  EXPECT_EQ(ct::io::read_npy(path("z.npy")).sizes(), (at::IntArrayRef{2, 5}));
}

TEST(ModelInfoCli, ImageModelsShowImageShapes) {
  std::string out;
  ASSERT_EQ(run_cli("model-info cmr_encoder --image-size 224 224", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("input:    (2, 3, 224, 224)"));
  EXPECT_THAT(out, HasSubstr("encoder.7 (layer4)   (2, 512, 7, 7)"));
  EXPECT_THAT(out, HasSubstr("parameters: 11176512 "));  // torchvision resnet18 without fc
  ASSERT_EQ(run_cli("model-info resnet50_2d", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("parameters: 25557032 "));
  EXPECT_THAT(out, HasSubstr("output:   (2, 1000)"));
  ASSERT_EQ(run_cli("model-info linear_classifier --in-channels 512 --num-classes 5", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("input:    (2, 512)"));
  EXPECT_THAT(out, HasSubstr("output:   (2, 5)"));
}

TEST_F(SaliencyCli, EcgDrawingShadesTheRelevanceUnderTheTraces) {
  if (!ct::report::plot_supported()) GTEST_SKIP() << "built without cairo";
  // A 12-lead record through a small 1-D CNN (registered models are the torch_ecg ones).
  const ct::app::ModelInput in = ct::app::load_model_input(ct::test::source_path("data/sample/cinc2021/E07500"));
  ASSERT_EQ(in.x.size(1), 12);
  auto net = std::make_shared<ct::test::Tiny1dImpl>(12);
  {
    // Non-negative weights: every activation and gradient is >= 0, so the map is not all zero
    // (an all-zero map draws no band at all).
    at::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.abs_();
  }
  ct::app::SaliencyRequest q;
  q.input = in.origin;
  q.outputs = {path("ecg.svg"), path("ecg.npy")};
  q.method_overrides = {"layer=block2"};
  const auto outcome = ct::app::explain_and_write(*net, in, q);
  EXPECT_EQ(outcome.written.size(), 2u);
  const at::Tensor map = ct::io::read_npy(path("ecg.npy"));
  EXPECT_EQ(map.sizes(), (at::IntArrayRef{1, in.x.size(2)}));
  const std::string svg = slurp(path("ecg.svg"));
  // 12 cells + the rhythm strip, each a gradient band, plus the legend's.
  size_t gradients = 0;
  for (size_t at = svg.find("<linearGradient"); at != std::string::npos; at = svg.find("<linearGradient", at + 1))
    ++gradients;
  EXPECT_EQ(gradients, 14u);
  EXPECT_THAT(svg, HasSubstr("stop-color:rgb(16%,36%,94%)"));

  // The relevance must line up with the record.
  ct::io::Record rec;
  rec.name = "r";
  rec.fs = 100;
  rec.signal = at::zeros({2, 300});
  rec.leads = {"I", "II"};
  rec.units = {"mV", "mV"};
  ct::report::EcgPlotOptions po;
  po.relevance = at::zeros({3, 300});
  EXPECT_THROW(ct::report::plot_ecg(rec, path("bad.svg"), po), ct::DataError);
  po.relevance = at::zeros({2, 300});
  ct::report::plot_ecg(rec, path("ok.png"), po);
  EXPECT_TRUE(fs::exists(path("ok.png")));
}

TEST_F(SaliencyCli, ImageDrawingChecksShapes) {
  if (!ct::report::plot_supported()) GTEST_SKIP() << "built without cairo";
  ct::report::plot_image(at::rand({1, 20, 30}), at::rand({20, 30}), path("img.png"));
  EXPECT_EQ(slurp(path("img.png")).substr(1, 3), "PNG");
  ct::report::plot_image(at::rand({3, 20, 30}), at::Tensor(), path("img.svg"));
  EXPECT_THAT(slurp(path("img.svg")), HasSubstr("<svg"));
  EXPECT_THROW(ct::report::plot_image(at::rand({1, 20, 30}), at::rand({30, 20}), path("x.png")), ct::ShapeError);
  EXPECT_THROW(ct::report::plot_image(at::rand({20}), at::Tensor(), path("x.png")), ct::ShapeError);
  EXPECT_THROW(ct::report::plot_image(at::rand({20, 20}), at::Tensor(), path("x.jpg")), ct::ConfigError);
}
