#include "cardiotorch/core/registry.h"

#include <gtest/gtest.h>

namespace ct = cardiotorch;

namespace {

struct Widget {
  virtual ~Widget() = default;
  virtual int value() const = 0;
};
struct ScaledOptions {
  int64_t scale = 2;
  template <class V>
  void fields(V& v) {
    v("scale", scale, "multiplier");
  }
  void validate() const { CT_CHECK(scale > 0, ct::ConfigError, "scale must be > 0, got ", scale); }
};
struct Scaled : Widget {
  explicit Scaled(ScaledOptions o) : o(o) {}
  int value() const override { return static_cast<int>(21 * o.scale); }
  ScaledOptions o;
};
struct Plain : Widget {
  int value() const override { return 7; }
};

ct::Registry<Widget>& widget_registry() {
  static ct::Registry<Widget> r("test_widget", "widgets used by the registry tests");
  return r;
}

CT_REGISTER(widget_registry(), "scaled", (ct::make_from_options<Scaled, ScaledOptions>), "21 times scale")
CT_REGISTER(widget_registry(), "plain", [](const ct::ConfigNode&) { return std::make_shared<Plain>(); }, "always 7")

TEST(Registry, BuildsByNameWithOptions) {
  auto w = widget_registry().build(ct::ConfigNode::parse("{name: scaled, scale: 3}"));
  EXPECT_EQ(w->value(), 63);
  EXPECT_EQ(widget_registry().build("plain", ct::ConfigNode())->value(), 7);
}

TEST(Registry, ListsNamesSortedWithHelp) {
  EXPECT_EQ(widget_registry().names(), (std::vector<std::string>{"plain", "scaled"}));
  EXPECT_EQ(widget_registry().help("scaled"), "21 times scale");
  EXPECT_EQ(&ct::registry_of("test_widget"), &widget_registry());
}

TEST(Registry, UnknownNameListsValidOnesAndNearest) {
  try {
    widget_registry().build(ct::ConfigNode::parse("{name: scaeld}", "exp.yaml"));
    FAIL();
  } catch (const ct::ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("exp.yaml: name: unknown test_widget 'scaeld'"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean 'scaled'"), std::string::npos) << m;
    EXPECT_NE(m.find("available: plain, scaled"), std::string::npos) << m;
  }
}

TEST(Registry, OptionsAreValidatedAndTyposRejected) {
  EXPECT_THROW(widget_registry().build(ct::ConfigNode::parse("{name: scaled, scale: 0}")), ct::ConfigError);
  EXPECT_THROW(widget_registry().build(ct::ConfigNode::parse("{name: scaled, scael: 2}")), ct::ConfigError);
  EXPECT_THROW(widget_registry().build(ct::ConfigNode::parse("{scale: 2}")), ct::ConfigError);  // no name
}

TEST(Registry, UnknownCategorySuggests) {
  try {
    ct::registry_of("test_widgte");
    FAIL();
  } catch (const ct::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'test_widget'"), std::string::npos) << e.what();
  }
}

TEST(RegistryDeathTest, DuplicateNameAbortsNamingBothSites) {
  EXPECT_DEATH(widget_registry().add("plain", nullptr, "dup", "here.cpp", 1), "registered twice.*here.cpp:1");
}

}  // namespace
