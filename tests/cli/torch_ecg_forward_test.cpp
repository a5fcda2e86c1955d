// `cardiotorch forward` on torch_ecg checkpoints: the model built from the checkpoint's own
// model_config (--config-from-weights) or from a model_config.json (--config), torch_ecg's
// state_dict loaded by name with the load report printed, on a real PTB-XL WFDB record and on an
// .npy input; outputs compared with torch_ecg-style PyTorch (fixtures from
// tests/fixtures/models/make_task_fixtures.py). Also `model-info` on every task model and preset.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cardiotorch/io/npy.h"
#include "support/test_util.h"

namespace ctt = cardiotorch::test;

namespace {

std::string fixture(const std::string& name) { return ctt::source_path("tests/fixtures/models/" + name); }

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(TorchEcgForwardCli, CheckpointsOwnConfigOnARealRecord) {
  CT_REQUIRE_SHARED("ptbxl/records500/00000/00001_hr.hea");
  const auto expected = cardiotorch::io::read_npz(fixture("torch_ecg_crnn_expected.npz"));
  ASSERT_TRUE(expected.count("record_output")) << "regenerate the fixture with ../shared/data present";
  std::string record = ctt::shared_data("ptbxl/records500/00000/00001_hr.hea");
  record.resize(record.size() - 4);  // a WFDB record is named without its extension
  const std::string dir = ctt::make_temp_dir("torch_ecg_forward");
  std::string out;
  ASSERT_EQ(ctt::run_cli("forward --model ecg_crnn --weights " + fixture("torch_ecg_crnn.pth") +
                             " --config-from-weights --input " + record + " -o " + dir + "/y.npy",
                         &out),
            0)
      << out;
  // The load report: every tensor of the checkpoint found its place.
  EXPECT_NE(out.find("loaded 135/135 model tensors (100.0%)"), std::string::npos) << out;
  EXPECT_NE(out.find("matched by: 135 exact"), std::string::npos) << out;
  for (const char* none : {"missing: 0", "unexpected: 0", "mismatched: 0"})
    EXPECT_NE(out.find(none), std::string::npos) << out;
  EXPECT_NE(out.find("classes [NORM, MI, STTC, CD]"), std::string::npos) << out;
  EXPECT_NE(out.find("(1, 12, 5000) ->"), std::string::npos) << out;
  const at::Tensor y = cardiotorch::io::read_npy(dir + "/y.npy");
  ASSERT_EQ(y.sizes(), expected.at("record_output").sizes());
  EXPECT_LT(max_abs_diff(y, expected.at("record_output")), 1e-4) << y << expected.at("record_output");
}

TEST(TorchEcgForwardCli, ModelConfigJsonWithTheStateDict) {
  const auto expected = cardiotorch::io::read_npz(fixture("torch_ecg_crnn_expected.npz"));
  const std::string dir = ctt::make_temp_dir("torch_ecg_forward_json");
  cardiotorch::io::write_npy(dir + "/x.npy", expected.at("input"));
  std::string out;
  ASSERT_EQ(ctt::run_cli("forward --model ecg_crnn --config " + fixture("torch_ecg_crnn_model_config.json") +
                             " --weights " + fixture("torch_ecg_crnn.pth") + " --num-classes 4 --input " + dir +
                             "/x.npy -o " + dir + "/y.npy",
                         &out),
            0)
      << out;
  EXPECT_NE(out.find("loaded 135/135 model tensors (100.0%)"), std::string::npos) << out;
  const at::Tensor y = cardiotorch::io::read_npy(dir + "/y.npy");
  ASSERT_EQ(y.sizes(), expected.at("output").sizes());
  EXPECT_LT(max_abs_diff(y, expected.at("output")), 1e-5);
}

TEST(TorchEcgForwardCli, ConfigFromWeightsNeedsTheModelName) {
  std::string out;
  EXPECT_EQ(ctt::run_cli("forward --weights " + fixture("torch_ecg_crnn.pth") +
                             " --config-from-weights --input x.npy "
                             "-o y.npy",
                         &out),
            2)
      << out;
  EXPECT_NE(out.find("--config-from-weights needs --model NAME"), std::string::npos) << out;
}

TEST(TorchEcgForwardCli, ConfigFromWeightsNeedsWeightsAndAnImporter) {
  std::string out;
  EXPECT_EQ(ctt::run_cli("forward --model ecg_crnn --config-from-weights --input x.npy -o y.npy", &out), 2) << out;
  EXPECT_NE(out.find("pass --weights FILE"), std::string::npos) << out;
  EXPECT_EQ(ctt::run_cli("forward --model vit_patchx --weights " + fixture("torch_ecg_crnn.pth") +
                             " --config-from-weights --input x.npy -o y.npy",
                         &out),
            2)
      << out;
  EXPECT_NE(out.find("no torch_ecg importer for model 'vit_patchx'"), std::string::npos) << out;
}

// One case per model: each CLI run builds the model at full size.
class TaskModelInfoCli : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(TaskModelInfoCli, PrintsTorchEcgsShapesAndParameterCounts) {
  const auto& [args, part] = GetParam();
  std::string out;
  ASSERT_EQ(ctt::run_cli("model-info " + args, &out), 0) << args << "\n" << out;
  EXPECT_NE(out.find(part), std::string::npos) << args << "\n" << out;
}

INSTANTIATE_TEST_SUITE_P(
    Models, TaskModelInfoCli,
    ::testing::Values(std::make_pair("ecg_crnn --seq-len 2000 --num-classes 7", "parameters: 9559911"),
                      std::make_pair("ecg_seq_lab_net --seq-len 2000 --num-classes 2", "output:   (2, 250, 2)"),
                      std::make_pair("ecg_unet --num-classes 4", "parameters: 206860"),
                      std::make_pair("ecg_subtract_unet --num-classes 4", "parameters: 361084"),
                      std::make_pair("ecg_fcn --num-classes 4", "output:   (2, 5000, 4)"),
                      std::make_pair("rr_lstm --in-channels 1 --seq-len 100 --num-classes 7", "parameters: 368120"),
                      std::make_pair("rr_af_crf --in-channels 1 --seq-len 100 --num-classes 7", "parameters: 327670"),
                      std::make_pair("rr_af_vanilla --in-channels 1 --seq-len 100 --num-classes 7", "output:   (2, 7)"),
                      std::make_pair("ecg_crnn --config " +
                                         ctt::source_path("tests/fixtures/models/torch_ecg_crnn_model_config.json") +
                                         " --num-classes 4",
                                     "pool (max)    (2, 24)")),
    [](const ::testing::TestParamInfo<std::pair<std::string, std::string>>& info) {
      return std::to_string(info.index);
    });

}  // namespace
