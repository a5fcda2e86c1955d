// The CLI's contract: --help everywhere, --version, exit codes 0 / 1 / 2, one-line errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "cardiotorch/build_info.h"

#include "support/test_util.h"

namespace ctt = cardiotorch::test;

TEST(Cli, HelpListsCommands) {
  std::string out;
  EXPECT_EQ(ctt::run_cli("--help", &out), 0);
  EXPECT_NE(out.find("config"), std::string::npos);
  EXPECT_NE(out.find("list"), std::string::npos);
}

TEST(Cli, VersionPrintsVersions) {
  std::string out;
  EXPECT_EQ(ctt::run_cli("--version", &out), 0);
  EXPECT_NE(out.find("cardiotorch " CARDIOTORCH_VERSION_STRING), std::string::npos) << out;
}

TEST(Cli, EveryCommandHasHelpWithExample) {
  std::string out;
  ASSERT_EQ(ctt::run_cli("--help", &out), 0);
  // Parse the "Subcommands:" block of the top-level help.
  const size_t at = out.find("Subcommands:");
  ASSERT_NE(at, std::string::npos);
  std::istringstream is(out.substr(at));
  std::string line;
  std::getline(is, line);
  int n = 0;
  while (std::getline(is, line)) {
    std::istringstream ls(line);
    std::string name;
    if (!(ls >> name) || line.find("  ") != 0) break;
    std::string help;
    EXPECT_EQ(ctt::run_cli(name + " --help", &help), 0) << name;
    EXPECT_NE(help.find("Example:"), std::string::npos) << name << " --help has no example:\n" << help;
    ++n;
  }
  EXPECT_GE(n, 2);
}

TEST(Cli, UsageErrorsExit2) {
  std::string out;
  EXPECT_EQ(ctt::run_cli("", &out), 2);
  EXPECT_EQ(ctt::run_cli("no-such-command", &out), 2);
  EXPECT_EQ(ctt::run_cli("lst", &out), 2);
  EXPECT_NE(out.find("unknown command 'lst' (did you mean 'list'?)"), std::string::npos) << out;
  EXPECT_EQ(ctt::run_cli("config show", &out), 2);  // missing FILE
  EXPECT_EQ(ctt::run_cli("config show /nonexistent.yaml", &out), 2);
}

TEST(Cli, MisspeltConfigKeyExits2NamingKeyAndSuggestion) {
  const std::string dir = ctt::make_temp_dir("cli_cfg");
  ctt::write_file(dir + "/exp.yaml", "name: demo\nsed: 3\n");
  std::string out;
  EXPECT_EQ(ctt::run_cli("config show " + dir + "/exp.yaml", &out), 2);
  EXPECT_NE(out.find("unknown key 'sed'"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'seed'"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "one-line error expected:\n" << out;
}

// A typed nested component: a misspelt key inside the model's backbone section is caught by the
// backbone's own schema, with the whole key path, before anything is built.
TEST(Cli, MisspeltKeyInsideTheModelsBackboneExits2NamingThePath) {
  const std::string dir = ctt::make_temp_dir("cli_cfg_backbone");
  ctt::write_file(dir + "/exp.yaml",
                  "name: demo\nmodel:\n  name: ecg_crnn\n  cnn:\n    name: resnet_nature_comm_se\n"
                  "    filter_lenghts: 9\n");
  std::string out;
  EXPECT_EQ(ctt::run_cli("config show " + dir + "/exp.yaml", &out), 2);
  EXPECT_NE(out.find("model.cnn"), std::string::npos) << out;
  EXPECT_NE(out.find("filter_lenghts"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'filter_lengths'"), std::string::npos) << out;
  // The same key spelt right resolves, and the backbone's defaults show in the resolved config.
  ctt::write_file(dir + "/ok.yaml",
                  "name: demo\nmodel:\n  name: ecg_crnn\n  cnn:\n    name: resnet_nature_comm_se\n"
                  "    filter_lengths: 9\n");
  EXPECT_EQ(ctt::run_cli("config show " + dir + "/ok.yaml", &out), 0) << out;
  EXPECT_NE(out.find("filter_lengths: 9"), std::string::npos) << out;
  EXPECT_NE(out.find("num_blocks"), std::string::npos) << out;
}

TEST(Cli, ConfigShowAppliesOverridesAndIncludes) {
  const std::string dir = ctt::make_temp_dir("cli_cfg2");
  ctt::write_file(dir + "/base.yaml", "seed: 1\nthreads: 1\n");
  ctt::write_file(dir + "/exp.yaml", "defaults: base.yaml\nname: demo\n");
  std::string out;
  EXPECT_EQ(ctt::run_cli("config show " + dir + "/exp.yaml --set seed=9", &out), 0) << out;
  EXPECT_NE(out.find("seed: 9"), std::string::npos) << out;
  EXPECT_NE(out.find("threads: 1"), std::string::npos) << out;
  EXPECT_NE(out.find("name: demo"), std::string::npos) << out;
  EXPECT_EQ(ctt::run_cli("config show " + dir + "/exp.yaml --set seed", &out), 2) << out;
}

TEST(Cli, ListShowsRegistriesAndRejectsUnknownCategory) {
  std::string out;
  EXPECT_EQ(ctt::run_cli("list", &out), 0) << out;
  EXPECT_EQ(ctt::run_cli("list no_such_category", &out), 2) << out;
  EXPECT_NE(out.find("unknown registry category"), std::string::npos) << out;
}

TEST(Cli, ListOneEntryShowsItsDefaults) {
  std::string out;
  ASSERT_EQ(ctt::run_cli("list augmenter mixup", &out), 0) << out;
  EXPECT_NE(out.find("alpha = 0.4"), std::string::npos) << out;
  ASSERT_EQ(ctt::run_cli("list preprocessors bandpass", &out), 0) << out;
  EXPECT_NE(out.find("lowcut = 0.5"), std::string::npos) << out;
  EXPECT_EQ(ctt::run_cli("list preprocessor bandpas", &out), 2) << out;
  EXPECT_NE(out.find("did you mean 'bandpass'"), std::string::npos) << out;
  // A preset: lowpass shares highpass's options struct but not its default cut-off.
  ASSERT_EQ(ctt::run_cli("list preprocessor lowpass", &out), 0) << out;
  EXPECT_NE(out.find("cutoff = 45"), std::string::npos) << out;
}

TEST(Cli, ListStepCoversPreprocessorsAndAugmenters) {
  // on_leads' `step` option takes either kind; its description points at `cardiotorch list step`.
  std::string out;
  ASSERT_EQ(ctt::run_cli("list augmenter on_leads", &out), 0) << out;
  EXPECT_NE(out.find("`cardiotorch list step`"), std::string::npos) << out;
  ASSERT_EQ(ctt::run_cli("list step", &out), 0) << out;
  EXPECT_NE(out.find("bandpass"), std::string::npos) << out;
  EXPECT_NE(out.find("gaussian_noise"), std::string::npos) << out;
  ASSERT_EQ(ctt::run_cli("list steps zscore", &out), 0) << out;
  EXPECT_NE(out.find("ddof = 1"), std::string::npos) << out;
  ASSERT_EQ(ctt::run_cli("list step jitter", &out), 0) << out;
  EXPECT_NE(out.find("p = 0.5"), std::string::npos) << out;
  EXPECT_EQ(ctt::run_cli("list step gausian_noise", &out), 2) << out;
  EXPECT_NE(out.find("did you mean 'gaussian_noise'"), std::string::npos) << out;
}

TEST(Cli, ListShowsEveryOptionEvenWhenTheDefaultsDoNotValidate) {
  // resample needs fs or length: its defaults alone fail validation, yet every option is listed
  // with its default and the required ones are marked.
  std::string out;
  ASSERT_EQ(ctt::run_cli("list preprocessor resample", &out), 0) << out;
  EXPECT_NE(out.find("* fs = ~  # target sampling rate in Hz"), std::string::npos) << out;
  EXPECT_NE(out.find("* length = ~"), std::string::npos) << out;
  EXPECT_NE(out.find("  method = poly"), std::string::npos) << out;
  EXPECT_NE(out.find("required: set exactly one of fs (Hz) or length (samples)"), std::string::npos) << out;
  ASSERT_EQ(ctt::run_cli("list dataset ptbxl", &out), 0) << out;
  EXPECT_NE(out.find("* root = "), std::string::npos) << out;
  EXPECT_NE(out.find("  labels = superclass"), std::string::npos) << out;
  ASSERT_EQ(ctt::run_cli("list preprocessor baseline_remove", &out), 0) << out;
  EXPECT_NE(out.find("  pad = nearest"), std::string::npos) << out;
  EXPECT_EQ(out.find("required:"), std::string::npos) << out;
}
