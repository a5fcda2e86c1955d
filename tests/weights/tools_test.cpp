// The library behind `weights inspect|convert|diff`.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "cardiotorch/core/error.h"
#include "cardiotorch/weights/tools.h"
#include "weights/tiny_models.h"

namespace ctt = cardiotorch::test;
namespace cw = cardiotorch::weights;

namespace {
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

TEST(WeightsTools, InspectShowsMetadataTreeTotalsAndSelection) {
  const std::string s = cw::inspect(ctt::weights_fixture("torch_ecg.safetensors"));
  for (const char* part :
       {"torch_ecg checkpoint (safetensors, torch_ecg.ckpt.v1)", "metadata:\n", "__format__: torch_ecg.ckpt.v1",
        "model_state_dict  dict, 9 entries, 9 tensors, 76 elements", "ema               dict, 8 entries, 8 tensors",
        "total: 17 tensors, 151 parameters (float32 150, int64 1)", "state_dict: 'model_state_dict', 9 tensors"})
    EXPECT_NE(s.find(part), std::string::npos) << part << "\n" << s;
  cw::TreeFormat only;
  only.tensors_only = true;
  EXPECT_EQ(cw::inspect(ctt::weights_fixture("torch_ecg.pth"), only).find("batch_size"), std::string::npos);
  cw::TreeFormat few;
  few.max_children = 2;
  EXPECT_NE(cw::inspect(ctt::weights_fixture("vit_plain.pt"), few).find("... 30 more"), std::string::npos);
}

TEST(WeightsTools, EditKeysInOrder) {
  const cw::NamedTensors in = {{"module.encoder_imaging.0.weight", torch::ones(2)},
                               {"module.projection_head.0.weight", torch::ones(3)},
                               {"module.encoder_imaging.1.bias", torch::zeros(2, torch::kDouble)}};
  cw::KeyEdits e;
  e.skip = {"*projection_head*"};
  e.strip_prefix = {"module."};
  e.rename = {"^encoder_imaging\\.=encoder."};
  e.add_prefix = {"model."};
  e.dtype = "float16";
  const auto out = cw::edit_keys(in, e);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].first, "model.encoder.0.weight");
  EXPECT_EQ(out[1].first, "model.encoder.1.bias");
  EXPECT_EQ(out[1].second.scalar_type(), at::kHalf);
  cw::KeyEdits clash;
  clash.rename = {"^.*$=same"};
  EXPECT_THROW(cw::edit_keys(in, clash), cardiotorch::ConfigError);  // two keys become one
  cw::KeyEdits bad;
  bad.dtype = "int8";
  EXPECT_THROW(cw::edit_keys(in, bad), cardiotorch::ConfigError);
  bad.dtype.clear();
  bad.rename = {"(unclosed=x"};
  EXPECT_THROW(cw::edit_keys(in, bad), cardiotorch::ConfigError);
}

TEST(WeightsTools, ConvertEveryFormatToBothOutputs) {
  const std::string dir = ctt::make_temp_dir("weights_tools_convert");
  const auto reference = cw::read_state_dict(ctt::weights_fixture("torch_ecg.pth"));
  for (const char* f : {"torch_ecg.pth", "torch_ecg.safetensors", "torch_ecg_dir", "cnn_legacy.pt"}) {
    for (const char* ext : {".safetensors", ".pt"}) {
      SCOPED_TRACE(std::string(f) + " -> " + ext);
      const std::string out = dir + "/out" + ext;
      const auto r = cw::convert(ctt::weights_fixture(f), out, "", {});
      EXPECT_EQ(r.tensors, 9);
      EXPECT_EQ(r.elements, 76);
      EXPECT_TRUE(cw::diff_state_dicts(cw::read_state_dict(out), reference).equal());
    }
  }
  cw::KeyEdits all;
  all.skip = {"*"};
  EXPECT_THROW(cw::convert(ctt::weights_fixture("torch_ecg.pth"), dir + "/none.pt", "", all), cardiotorch::ConfigError);
}

TEST(WeightsTools, DiffReportsValuesShapesAndKeys) {
  const cw::NamedTensors a = {{"w", torch::tensor({1.0, 2.0, kNan})},
                              {"s", torch::zeros({2, 2})},
                              {"inf", torch::tensor({kInf})},
                              {"only_a", torch::ones(1)}};
  const cw::NamedTensors b = {{"w", torch::tensor({1.0, 2.5, kNan})},
                              {"s", torch::zeros({4})},
                              {"inf", torch::tensor({kInf})},
                              {"only_b", torch::ones(1)}};
  const cw::DiffReport d = cw::diff_state_dicts(a, b, 0.1);
  ASSERT_EQ(d.common.size(), 3u);
  EXPECT_DOUBLE_EQ(d.common[0].max_abs, 0.5);  // NaN matches NaN
  EXPECT_TRUE(std::isinf(d.common[1].max_abs));
  EXPECT_EQ(d.common[2].max_abs, 0.0);  // inf equals inf
  EXPECT_EQ(d.only_a, std::vector<std::string>{"only_a"});
  EXPECT_EQ(d.only_b, std::vector<std::string>{"only_b"});
  EXPECT_FALSE(d.equal());
  const std::string s = d.to_string();
  EXPECT_NE(s.find("s    shape [2, 2] vs [4]"), std::string::npos) << s;
  EXPECT_NE(s.find("3 common tensors, 1 differ by more than 0.1 (largest 0.5 at w); 1 shape mismatches"),
            std::string::npos)
      << s;
  const cw::NamedTensors c = {{"w", torch::tensor({1.0, 2.0})}};
  EXPECT_TRUE(cw::diff_state_dicts(c, {{"w", torch::tensor({1.0, 2.05})}}, 0.1).equal());
  EXPECT_FALSE(cw::diff_state_dicts(c, {{"w", torch::tensor({1.0, 2.05})}}, 0.0).equal());
  const cw::NamedTensors nan = {{"w", torch::tensor({1.0, kNan})}};
  EXPECT_FALSE(cw::diff_state_dicts(c, nan, 1.0).equal());  // NaN on one side only
}
