#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "cardiotorch/io/summary.h"
#include "support/test_util.h"

namespace cardiotorch {
namespace {

using test::run_cli;

std::string sample(const std::string& rel) { return test::source_path("data/sample/cinc2021/" + rel); }

TEST(CliInfo, RecordJsonHasHeaderAndPerLeadStats) {
  std::string out;
  ASSERT_EQ(run_cli("info " + sample("E07500") + " --json", &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["name"], "E07500");
  EXPECT_EQ(j["fs"], 500.0);
  EXPECT_EQ(j["samples"], 5000);
  EXPECT_EQ(j["duration_s"], 10.0);
  EXPECT_EQ(j["format"], "wfdb");
  ASSERT_EQ(j["leads"].size(), 12u);
  EXPECT_EQ(j["leads"][0]["name"], "I");
  EXPECT_EQ(j["leads"][0]["units"], "mV");
  EXPECT_EQ(j["leads"][0]["gain"], 1000.0);
  EXPECT_EQ(j["leads"][0]["nan"], 0);
  EXPECT_LT(j["leads"][0]["min"].get<double>(), j["leads"][0]["max"].get<double>());
  EXPECT_EQ(j["meta"]["dx"], "67741000119109,426177001");
  EXPECT_EQ(j["comments"][0], "Age: 78");
  // The same record through its .mat gives the same stats.
  std::string out_mat;
  ASSERT_EQ(run_cli("info " + sample("E07500.mat") + " --json", &out_mat), 0) << out_mat;
  const auto m = nlohmann::json::parse(out_mat);
  EXPECT_EQ(m["format"], "mat+wfdb");
  EXPECT_EQ(m["leads"], j["leads"]);
}

TEST(CliInfo, RecordText) {
  std::string out;
  ASSERT_EQ(run_cli("info " + sample("HR06000.hea"), &out), 0) << out;
  EXPECT_NE(out.find("fs        500 Hz"), std::string::npos) << out;
  EXPECT_NE(out.find("samples   5000 (10 s)"), std::string::npos) << out;
  EXPECT_NE(out.find("leads     12: I, II, III, aVR, aVL, aVF, V1, V2, V3, V4, V5, V6"), std::string::npos) << out;
  EXPECT_NE(out.find("Sex: Female"), std::string::npos) << out;
}

TEST(CliInfo, DirectorySummaryAndHook) {
  // A hook sees the records and adds a section; the CLI prints it (in-process: hooks are
  // registered by the library, so test the summary API and the CLI output separately).
  io::add_summary_hook("zz_test_sexes", [](const std::string&, io::DirectorySummary& s) {
    for (const auto& r : s.records)
      if (r.meta.count("sex")) s.sections["sex"][r.meta.at("sex")]++;
  });
  const io::DirectorySummary s = io::summarize_directory(sample(""));
  EXPECT_EQ(s.records.size(), 50u);
  EXPECT_EQ(s.fs_counts.at(500.0), 50);
  EXPECT_EQ(s.lead_sets.at("I, II, III, aVR, aVL, aVF, V1, V2, V3, V4, V5, V6"), 50);
  EXPECT_EQ(s.min_duration_s, 10.0);
  EXPECT_EQ(s.total_duration_s, 500.0);
  int64_t total = 0;
  for (const auto& [k, n] : s.sections.at("sex")) total += n;
  EXPECT_EQ(total, 50);
  EXPECT_TRUE(s.errors.empty());

  std::string out;
  ASSERT_EQ(run_cli("info " + sample("") + " --json", &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["records"], 50);
  EXPECT_EQ(j["fs"]["500"], 50);
  EXPECT_EQ(j["duration_s"]["median"], 10.0);
}

TEST(CliInfo, ErrorsExitOneAndNameTheFile) {
  const std::string dir = test::make_temp_dir("cli_info");
  test::write_file(dir + "/bad.npy", "\x93NUMPX garbage");
  std::string out;
  EXPECT_EQ(run_cli("info " + dir + "/bad.npy", &out), 1);
  EXPECT_NE(out.find(dir + "/bad.npy: not a .npy file"), std::string::npos) << out;
  EXPECT_EQ(run_cli("info " + dir + "/missing", &out), 1);
  EXPECT_NE(out.find("missing: no such record"), std::string::npos) << out;
  EXPECT_EQ(run_cli("info " + dir + "/empty_dir_none", &out), 1);
  test::write_file(dir + "/sub/readme.txt", "x");
  EXPECT_EQ(run_cli("info " + dir + "/sub", &out), 1);
  EXPECT_NE(out.find("no records found (looked for .edf, .bdf, .rec, .mat, .npy, .npz, .hea)"), std::string::npos)
      << out;
  EXPECT_EQ(run_cli("info -r " + dir + "/sub", &out), 1);
  EXPECT_NE(out.find("no records found (subdirectories included)"), std::string::npos) << out;
  EXPECT_EQ(run_cli("info", &out), 2);
  EXPECT_EQ(run_cli("info " + sample("E07500") + " --bogus", &out), 2);
}

TEST(CliInfo, RecordsOnlyInSubfoldersAreFoundWithAHint) {
  // PTB-XL keeps its records in records100/00000/...: a plain `info DIR` says where they are.
  const std::string dir = test::make_temp_dir("cli_info_nested");
  std::filesystem::create_directories(dir + "/records/000");
  std::filesystem::copy_file(test::source_path("tests/fixtures/io/f4_c.npy"), dir + "/records/000/a.npy");
  std::filesystem::copy_file(test::source_path("tests/fixtures/io/f4_c.npy"), dir + "/records/000/b.npy");
  std::string out;
  EXPECT_EQ(run_cli("info " + dir, &out), 2);
  EXPECT_NE(out.find(dir + ": no records directly in this directory, but 2 in its subdirectories "
                           "(e.g. records/000/a.npy); pass -r to include them"),
            std::string::npos)
      << out;
  EXPECT_EQ(run_cli("info -r " + dir + " --fs 100", &out), 0) << out;
  EXPECT_NE(out.find("records   2"), std::string::npos) << out;
}

TEST(CliInfo, DirectoryListsUnreadableRecords) {
  const std::string dir = test::make_temp_dir("cli_info_dir");
  test::write_file(dir + "/broken.mat", "MATLAB 5.0 MAT-file, but nothing after the text header");
  std::filesystem::copy_file(test::source_path("tests/fixtures/io/f4_c.npy"), dir + "/ok.npy");
  std::string out;
  ASSERT_EQ(run_cli("info " + dir + " --json --fs 100", &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["records"], 1);
  EXPECT_EQ(j["fs"]["100"], 1);
  ASSERT_EQ(j["errors"].size(), 1u);
  EXPECT_NE(j["errors"][0].get<std::string>().find("broken.mat"), std::string::npos) << out;
}

TEST(CliInfo, SharedDatasets) {
  CT_REQUIRE_SHARED("mitdb/101.hea");
  std::string out;
  ASSERT_EQ(run_cli("info " + test::shared_data("mitdb/101.hea") + " --json", &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["fs"], 360.0);
  EXPECT_EQ(j["samples"], 650000);
  EXPECT_EQ(j["leads"][0]["name"], "MLII");
  EXPECT_EQ(j["leads"][0]["gain"], 200.0);
}

}  // namespace
}  // namespace cardiotorch
