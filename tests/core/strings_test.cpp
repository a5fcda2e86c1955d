#include "cardiotorch/core/strings.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ct = cardiotorch;

TEST(Strings, EditDistance) {
  EXPECT_EQ(ct::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(ct::edit_distance("", "abc"), 3u);
  EXPECT_EQ(ct::edit_distance("same", "same"), 0u);
}

TEST(Strings, NearestMatchAcceptsTyposOnly) {
  const std::vector<std::string> c{"bandpass", "baseline", "zscore"};
  EXPECT_EQ(ct::nearest_match("bandpas", c), "bandpass");
  EXPECT_EQ(ct::nearest_match("ZScore", c), "zscore");
  EXPECT_EQ(ct::nearest_match("completely_different", c), "");
  EXPECT_EQ(ct::did_you_mean("basline", c), " (did you mean 'baseline'?)");
  // Among names containing the typo, the closest spelling wins, whatever the order.
  EXPECT_EQ(ct::nearest_match("entry_flo", {"entry_flow.init_convs", "entry_flow", "entry_flow.block_0"}),
            "entry_flow");
}

TEST(Strings, SplitTrimJoin) {
  EXPECT_EQ(ct::split("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(ct::split("a,,b", ',', false), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ct::trim("  x y \r\n"), "x y");
  EXPECT_EQ(ct::join({"a", "b"}, "-"), "a-b");
  EXPECT_TRUE(ct::starts_with("record.hea", "rec"));
  EXPECT_TRUE(ct::ends_with("record.hea", ".hea"));
}

TEST(Strings, FormatFixed) {
  EXPECT_EQ(ct::format_fixed(0.256, 2), "0.26");
  EXPECT_EQ(ct::format_fixed(-1.5, 0), "-2");  // printf rounds half to even: -1.5 -> -2
  EXPECT_EQ(ct::format_fixed(3.0, 3), "3.000");
  EXPECT_EQ(ct::format_fixed(std::nan(""), 2), "n/a");
  EXPECT_EQ(ct::format_fixed(-INFINITY, 2, "-"), "-");
}
