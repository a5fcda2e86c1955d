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
CT_REGISTER(
    widget_registry(), "plain", [](const ct::ConfigNode&) { return std::make_shared<Plain>(); }, "always 7")

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
  auto factory = [](const ct::ConfigNode&) { return std::make_shared<Plain>(); };
  EXPECT_DEATH(widget_registry().add("plain", factory, "dup", "here.cpp", 1), "registered twice.*here.cpp:1");
}

// --- build context, schemas, nested components --------------------------------------------

struct Gadget {
  virtual ~Gadget() = default;
  virtual int64_t width() const = 0;
};
struct GadgetContext {
  int64_t in_width = 0;  // what the owner knows when it builds the gadget
};
struct WideOptions {
  int64_t factor = 3;
  std::string mode = "add";
  template <class V>
  void fields(V& v) {
    v("factor", factor, "width multiplier");
    v("mode", mode, "add | mul");
  }
  void validate() const { ct::check_choice("mode", mode, {"add", "mul"}); }
};
struct Wide : Gadget {
  Wide(const WideOptions& o, const GadgetContext& c)
      : w(o.mode == "add" ? c.in_width + o.factor : c.in_width * o.factor) {}
  int64_t width() const override { return w; }
  int64_t w;
};
int built_gadgets = 0;
ct::Registry<Gadget, GadgetContext>& gadget_registry() {
  static ct::Registry<Gadget, GadgetContext> r("test_gadget", "gadgets that need a build context");
  return r;
}
std::shared_ptr<Gadget> make_wide(const WideOptions& o, const GadgetContext& c) {
  ++built_gadgets;
  return std::make_shared<Wide>(o, c);
}
WideOptions doubled() {
  WideOptions o;
  o.factor = 2;
  o.mode = "mul";
  return o;
}
CT_REGISTER(gadget_registry(), "wide", (ct::options_factory<Gadget, WideOptions>(make_wide)), "in_width + factor")
CT_REGISTER(gadget_registry(), "double", (ct::options_factory<Gadget, WideOptions>(make_wide, doubled())),
            "a preset: in_width * 2")
CT_REGISTER(gadget_registry(), "opaque",
            ([](const ct::ConfigNode&, const GadgetContext& c) { return std::make_shared<Wide>(WideOptions{}, c); }),
            "registered without a schema")

struct GadgetCategory {
  static constexpr const char* category = "test_gadget";
};
struct HolderOptions {
  ct::Component<GadgetCategory> gadget = ct::Component<GadgetCategory>::named("double");
  std::vector<ct::Component<GadgetCategory>> extras;
  template <class V>
  void fields(V& v) {
    v("gadget", gadget, "the main gadget");
    v("extras", extras, "more gadgets");
  }
};

TEST(Registry, FactoriesReceiveTheBuildContext) {
  EXPECT_EQ(gadget_registry().build(ct::ConfigNode::parse("{name: wide, factor: 5}"), GadgetContext{10})->width(), 15);
  EXPECT_EQ(gadget_registry().build(ct::ConfigNode::parse("double"), GadgetContext{10})->width(), 20);
  // A preset's values are defaults that the config refines.
  EXPECT_EQ(gadget_registry().build(ct::ConfigNode::parse("{name: double, factor: 4}"), GadgetContext{10})->width(),
            40);
  EXPECT_EQ(gadget_registry().build("opaque", ct::ConfigNode(), GadgetContext{1})->width(), 4);
}

TEST(Registry, SchemaResolvesWithoutBuilding) {
  const int before = built_gadgets;
  const ct::ConfigNode r = gadget_registry().resolve(ct::ConfigNode::parse("{name: double, factor: 4}"));
  EXPECT_EQ(r["name"].as_string(), "double");
  EXPECT_EQ(r["factor"].as_int(), 4);
  EXPECT_EQ(r["mode"].as_string(), "mul");  // the preset's value, filled in
  EXPECT_EQ(r.keys().front(), "name");
  EXPECT_EQ(gadget_registry().resolve(ct::ConfigNode::parse("wide"))["factor"].as_int(), 3);
  EXPECT_EQ(built_gadgets, before);
  // Resolving a resolved node gives it back.
  EXPECT_EQ(gadget_registry().resolve(r).to_yaml(), r.to_yaml());
  const auto lines = gadget_registry().describe("double");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "factor = 2  # width multiplier");
  EXPECT_NE(gadget_registry().describe("opaque")[0].find("no options schema"), std::string::npos);
}

TEST(Registry, SchemaRejectsTyposWithTheKeyPath) {
  try {
    gadget_registry().resolve(ct::ConfigNode::parse("{name: wide, facter: 2}", "exp.yaml"));
    FAIL();
  } catch (const ct::ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("exp.yaml: unknown key 'facter' (did you mean 'factor'?)"), std::string::npos) << m;
  }
  EXPECT_THROW(gadget_registry().resolve(ct::ConfigNode::parse("{name: wide, mode: sub}")), ct::ConfigError);
  EXPECT_THROW(gadget_registry().resolve(ct::ConfigNode::parse("{name: wdie}")), ct::ConfigError);
}

TEST(Registry, NestedComponentsAreValidatedWithTheirKeyPath) {
  const ct::ConfigNode root =
      ct::ConfigNode::parse("model: {gadget: {name: wide}, extras: [double, {name: wide, mode: mul}]}", "exp.yaml");
  const auto h = ct::from_config<HolderOptions>(root["model"]);
  EXPECT_EQ(h.gadget.name(), "wide");
  EXPECT_EQ(h.gadget.node["factor"].as_int(), 3);  // defaults filled in
  ASSERT_EQ(h.extras.size(), 2u);
  EXPECT_EQ(h.extras[0].node["mode"].as_string(), "mul");
  EXPECT_EQ(h.extras[1].node["mode"].as_string(), "mul");
  try {
    ct::from_config<HolderOptions>(
        ct::ConfigNode::parse("model: {extras: [double, {name: wide, factr: 1}]}", "exp.yaml")["model"]);
    FAIL();
  } catch (const ct::ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("unknown key 'model.extras[1].factr'"), std::string::npos) << m;
  }
}

TEST(Registry, NestedComponentWithoutNameRefinesTheDefault) {
  const auto h = ct::from_config<HolderOptions>(ct::ConfigNode::parse("{gadget: {factor: 7}}"));
  EXPECT_EQ(h.gadget.name(), "double");
  EXPECT_EQ(h.gadget.node["factor"].as_int(), 7);
  EXPECT_EQ(h.gadget.node["mode"].as_string(), "mul");
  // The resolved config shows the nested defaults; `~` removes the component.
  const ct::ConfigNode out = ct::to_config(ct::from_config<HolderOptions>(ct::ConfigNode::parse("{}")));
  EXPECT_EQ(out["gadget"]["mode"].as_string(), "mul");
  EXPECT_TRUE(ct::from_config<HolderOptions>(ct::ConfigNode::parse("{gadget: ~}")).gadget.empty());
  // The owner builds it later with its context.
  EXPECT_EQ(gadget_registry().build(h.gadget.node, GadgetContext{3})->width(), 21);
}

}  // namespace
