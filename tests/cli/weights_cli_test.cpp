// cardiotorch weights inspect | convert | diff (the library functions behind them are tested in
// tests/weights/tools_test.cpp; here the command line: output, exit codes, one-line errors).
#include <gtest/gtest.h>

#include <algorithm>

#include "support/test_util.h"

namespace ctt = cardiotorch::test;

namespace {
std::string fixture(const std::string& name) { return ctt::source_path("tests/fixtures/weights/" + name); }
}  // namespace

TEST(WeightsCli, InspectPrintsEveryFixturesTree) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"vit_namespace.pt", "args   argparse.Namespace (placeholder), 6 entries"},
      {"vit_namespace.pt", "model          'vit_patchx'"},
      {"vit_namespace.pt", "cls_token                  float32 [1, 1, 8]"},
      {"vit_namespace.pt", "total: 32 tensors, 1,411 parameters (float32 1,411); 1 placeholder object"},
      {"vit_namespace.pt", "state_dict: 'model', 32 tensors"},
      {"vit_plain.pt", "state_dict: the whole checkpoint, 32 tensors"},
      {"vit_mae_train.pth", "optimizer  dict, 2 entries, 96 tensors"},
      {"vit_lightning.ckpt", "lightning.fabric.utilities.data.AttributeDict (placeholder)"},
      {"torch_ecg.pth", "torch_ecg.cfg.CFG (placeholder)"},
      {"torch_ecg.safetensors", "torch_ecg checkpoint (safetensors, torch_ecg.ckpt.v1)"},
      {"torch_ecg_dir", "torch_ecg checkpoint directory"},
      {"cnn_legacy.pt", "torch.save legacy format (torch < 1.6)"},
      {"cmr_resnet18.ckpt", "encoder_imaging.4.0.conv1.weight"},
      {"views.pt", "mat_t     float32 [6, 4] stride [1, 6]"},
      {"dtypes.pt", "bf16    bfloat16 [6]"},
      {"plain.safetensors", "note: hand-written"},
  };
  std::string args = "weights inspect --max-children 1000";
  for (const auto& [f, part] : cases)
    if (args.find(fixture(f)) == std::string::npos) args += " " + fixture(f);
  std::string out;
  ASSERT_EQ(ctt::run_cli(args, &out), 0) << out;
  for (const auto& [f, part] : cases) {
    const size_t at = out.find(fixture(f) + ": ");
    ASSERT_NE(at, std::string::npos) << f;
    const size_t end = out.find("\n\n", at);
    EXPECT_NE(out.substr(at, end == std::string::npos ? std::string::npos : end - at).find(part), std::string::npos)
        << f << ": " << part << "\n"
        << out;
  }
}

TEST(WeightsCli, HostileFileIsAOneLineError) {
  std::string out;
  EXPECT_EQ(ctt::run_cli("weights inspect " + fixture("hostile_os_system.pt"), &out), 1) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("refusing a pickle that calls posix.system"), std::string::npos) << out;
}

TEST(WeightsCli, ConvertThenDiff) {
  const std::string dir = ctt::make_temp_dir("weights_cli");
  std::string out;
  // Lightning checkpoint -> a torch.save archive with timm names -> the same as the plain one.
  ASSERT_EQ(ctt::run_cli(
                "weights convert " + fixture("vit_lightning.ckpt") + " " + dir + "/vit.pt --strip-prefix model.", &out),
            0)
      << out;
  EXPECT_NE(out.find("32 tensors, 1,411 parameters, from"), std::string::npos) << out;
  EXPECT_NE(out.find("[state_dict]"), std::string::npos) << out;
  ASSERT_EQ(ctt::run_cli("weights diff " + dir + "/vit.pt " + fixture("vit_plain.pt"), &out), 0) << out;
  EXPECT_NE(out.find("32 common tensors, 0 differ by more than 0"), std::string::npos) << out;
  // Different checkpoints: exit code 1 and the keys on each side.
  EXPECT_EQ(ctt::run_cli("weights diff " + fixture("vit_plain.pt") + " " + fixture("torch_ecg.pth"), &out), 1) << out;
  EXPECT_NE(out.find("0 common tensors"), std::string::npos) << out;
  EXPECT_NE(out.find("only in a: cls_token, pos_embed"), std::string::npos) << out;
}

TEST(WeightsCli, UsageErrors) {
  const std::string dir = ctt::make_temp_dir("weights_cli_err");
  std::string out;
  EXPECT_EQ(ctt::run_cli("weights convert " + fixture("vit_plain.pt") + " " + dir + "/x.h5", &out), 2) << out;
  EXPECT_NE(out.find("unknown output format '.h5'"), std::string::npos) << out;
  EXPECT_EQ(ctt::run_cli("weights convert " + fixture("vit_namespace.pt") + " " + dir + "/x.pt --key modle", &out), 1);
  EXPECT_NE(out.find("did you mean 'model'"), std::string::npos) << out;
}
