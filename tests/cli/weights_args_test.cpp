// WeightsArgs: the --weights flags any model-building command adds (parsed in-process).
#include <gtest/gtest.h>

#include "cli/weights_args.h"

TEST(WeightsArgs, FlagsFillLoadOptions) {
  CLI::App app;
  cardiotorch::cli::WeightsArgs w;
  w.add(app);
  app.parse(
      "--weights ckpt.pt --key model --strict --missing-key-threshold 0.25 --skip head.* --ignore decoder* "
      "--rename ^a=b --strip-prefix module. --add-prefix encoder. --no-auto-prefix",
      false);
  ASSERT_TRUE(w.given());
  const cardiotorch::weights::LoadOptions o = w.options();
  EXPECT_EQ(o.path, "ckpt.pt");
  EXPECT_EQ(o.key, "model");
  EXPECT_TRUE(o.strict);
  EXPECT_DOUBLE_EQ(o.missing_key_threshold, 0.25);
  EXPECT_EQ(o.skip, std::vector<std::string>{"head.*"});
  EXPECT_EQ(o.ignore, std::vector<std::string>{"decoder*"});
  EXPECT_EQ(o.rename, std::vector<std::string>{"^a=b"});
  EXPECT_EQ(o.strip_prefix, std::vector<std::string>{"module."});
  EXPECT_EQ(o.add_prefix, std::vector<std::string>{"encoder."});
  EXPECT_FALSE(o.auto_prefix);

  CLI::App none;
  cardiotorch::cli::WeightsArgs n;
  n.add(none);
  none.parse("", false);
  EXPECT_FALSE(n.given());
  EXPECT_TRUE(n.options().auto_prefix);
  EXPECT_DOUBLE_EQ(n.options().missing_key_threshold, 0.1);

  CLI::App bad;
  cardiotorch::cli::WeightsArgs b;
  b.add(bad);
  EXPECT_THROW(bad.parse("--missing-key-threshold 1.5", false), CLI::ValidationError);
}
