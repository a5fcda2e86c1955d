// `cardiotorch info DIR` on a known dataset layout adds the dataset's label counts.
#include <gtest/gtest.h>

#include "support/test_util.h"

namespace ctt = cardiotorch::test;

TEST(CliInfoLabels, VendoredCinc2021ShowsLabelCounts) {
  std::string out;
  ASSERT_EQ(ctt::run_cli("info " + ctt::source_path("data/sample/cinc2021"), &out), 0) << out;
  EXPECT_NE(out.find("labels (cinc2021, 50 items)"), std::string::npos) << out;
  // 23 sinus tachycardia, 20 PAC (the README's counts for this sample).
  EXPECT_NE(out.find("23    STach"), std::string::npos) << out;
  EXPECT_NE(out.find("20    PAC|SVPB"), std::string::npos) << out;
}

TEST(CliInfoLabels, SharedCinc2017ShowsFourClasses) {
  CT_REQUIRE_SHARED("cinc2017/REFERENCE.csv");
  std::string out;
  ASSERT_EQ(ctt::run_cli("info " + ctt::shared_data("cinc2017"), &out), 0) << out;
  EXPECT_NE(out.find("595   N"), std::string::npos) << out;
  EXPECT_NE(out.find("96    A"), std::string::npos) << out;
}
