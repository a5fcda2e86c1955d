#include "cardiotorch/core/config.h"

#include <gtest/gtest.h>

#include "cardiotorch/app/experiment.h"
#include "support/test_util.h"

namespace ct = cardiotorch;

namespace {

struct Inner {
  double lowcut = 0.5;
  std::vector<int64_t> groups = {3, 3, 6};
  template <class V>
  void fields(V& v) {
    v("lowcut", lowcut, "Hz");
    v("groups", groups, "lead groups");
  }
  void validate() const { CT_CHECK(lowcut >= 0, ct::ConfigError, "lowcut must be >= 0, got ", lowcut); }
};

struct Outer {
  std::string method = "fft";
  int64_t order = 4;
  bool enabled = true;
  std::optional<double> clip;
  Inner inner;
  template <class V>
  void fields(V& v) {
    v("method", method, "algorithm");
    v("order", order, "filter order");
    v("enabled", enabled, "switch");
    v("clip", clip, "optional clip");
    v("inner", inner, "nested");
  }
};

struct MethodOptions {
  std::string method = "fft";
  template <class V>
  void fields(V& v) {
    v("method", method, "algorithm");
  }
  void validate() const { ct::check_choice("method", method, {"fft", "butter"}); }
};

TEST(Config, DefaultsWhenKeysAbsent) {
  auto o = ct::from_config<Outer>(ct::ConfigNode::parse("{}"));
  EXPECT_EQ(o.method, "fft");
  EXPECT_EQ(o.order, 4);
  EXPECT_FALSE(o.clip.has_value());
  EXPECT_EQ(o.inner.groups.size(), 3u);
}

TEST(Config, ReadsTypedValues) {
  auto o = ct::from_config<Outer>(ct::ConfigNode::parse(
      "method: butter\norder: 2\nenabled: false\nclip: 4.5\ninner: {lowcut: 1.5, groups: [6, 6]}"));
  EXPECT_EQ(o.method, "butter");
  EXPECT_EQ(o.order, 2);
  EXPECT_FALSE(o.enabled);
  ASSERT_TRUE(o.clip.has_value());
  EXPECT_DOUBLE_EQ(*o.clip, 4.5);
  EXPECT_DOUBLE_EQ(o.inner.lowcut, 1.5);
  EXPECT_EQ(o.inner.groups, (std::vector<int64_t>{6, 6}));
}

TEST(Config, UnknownKeyNamesPathAndSuggestion) {
  try {
    ct::from_config<Outer>(ct::ConfigNode::parse("inner: {lowcat: 1}", "exp.yaml"));
    FAIL() << "expected ConfigError";
  } catch (const ct::ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("exp.yaml"), std::string::npos) << m;
    EXPECT_NE(m.find("inner.lowcat"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean 'lowcut'"), std::string::npos) << m;
  }
}

TEST(Config, WrongTypeNamesKey) {
  try {
    ct::from_config<Outer>(ct::ConfigNode::parse("order: four", "exp.yaml"));
    FAIL();
  } catch (const ct::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("order: expected an integer, got 'four'"), std::string::npos) << e.what();
  }
}

TEST(Config, ValidationErrorCarriesPath) {
  try {
    ct::from_config<Outer>(ct::ConfigNode::parse("inner: {lowcut: -1}", "exp.yaml"));
    FAIL();
  } catch (const ct::ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("exp.yaml: inner: lowcut must be >= 0"), std::string::npos) << m;
  }
}

TEST(Config, RoundTripThroughYaml) {
  Outer o;
  o.method = "yes";  // a string that YAML would read as a bool must survive
  o.order = 7;
  o.clip = 0.1;
  o.inner.groups = {1, 2};
  const std::string text = ct::to_config(o).to_yaml();
  auto back = ct::from_config<Outer>(ct::ConfigNode::parse(text));
  EXPECT_EQ(back.method, "yes");
  EXPECT_EQ(back.order, 7);
  ASSERT_TRUE(back.clip.has_value());
  EXPECT_DOUBLE_EQ(*back.clip, 0.1);
  EXPECT_EQ(back.inner.groups, (std::vector<int64_t>{1, 2}));
  EXPECT_NE(text.find("clip: 0.1\n"), std::string::npos) << text;  // shortest round-trip decimal
}

TEST(Config, OverridesNestedAndIndexed) {
  auto n = ct::ConfigNode::parse("a: {b: 1}\nsteps: [{name: x, k: 1}, {name: y}]");
  n.apply_override("a.b=2.5");
  n.apply_override("a.c=[1, 2]");
  n.apply_override("steps[1].k=hello");
  n.apply_override("new.deep.key=true");
  EXPECT_DOUBLE_EQ(n["a"]["b"].as_double(), 2.5);
  EXPECT_EQ(n["a"]["c"].size(), 2u);
  EXPECT_EQ(n["steps"][1]["k"].as_string(), "hello");
  EXPECT_TRUE(n["new"]["deep"]["key"].as_bool());
  EXPECT_THROW(n.apply_override("novalue"), ct::UsageError);
  EXPECT_THROW(n.apply_override("steps[9].k=1"), ct::UsageError);
}

TEST(Config, CompositionWithDefaults) {
  const std::string dir = ct::test::make_temp_dir("compose");
  ct::test::write_file(dir + "/base.yaml", "a: {x: 1, y: 2}\nlist: [1, 2, 3]\nkeep: base\n");
  ct::test::write_file(dir + "/mid.yaml", "defaults: base.yaml\na: {y: 20}\n");
  ct::test::write_file(dir + "/exp.yaml", "defaults: [mid]\na: {z: 3}\nlist: [9]\n");
  auto n = ct::ConfigNode::load(dir + "/exp.yaml");
  EXPECT_EQ(n["a"]["x"].as_int(), 1);
  EXPECT_EQ(n["a"]["y"].as_int(), 20);
  EXPECT_EQ(n["a"]["z"].as_int(), 3);
  EXPECT_EQ(n["list"].size(), 1u);
  EXPECT_EQ(n["keep"].as_string(), "base");
  EXPECT_FALSE(n.has("defaults"));
}

TEST(Config, CompositionCycleIsAnError) {
  const std::string dir = ct::test::make_temp_dir("cycle");
  ct::test::write_file(dir + "/a.yaml", "defaults: b.yaml\n");
  ct::test::write_file(dir + "/b.yaml", "defaults: a.yaml\n");
  EXPECT_THROW(ct::ConfigNode::load(dir + "/a.yaml"), ct::ConfigError);
}

TEST(Config, MissingFileAndBadYaml) {
  EXPECT_THROW(ct::ConfigNode::load("/nonexistent/x.yaml"), ct::ConfigError);
  try {
    ct::ConfigNode::parse("a: [1, 2", "bad.yaml");
    FAIL();
  } catch (const ct::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.yaml:"), std::string::npos);
  }
}

TEST(Config, CheckChoiceInValidateGetsThePathFromFromConfig) {
  try {
    ct::from_config<MethodOptions>(ct::ConfigNode::parse("{method: buter}", "exp.yaml"));
    FAIL();
  } catch (const ct::ConfigError& e) {
    EXPECT_STREQ(e.what(), "exp.yaml: method must be one of fft, butter, got 'buter' (did you mean 'butter'?)");
  }
}

TEST(Config, CheckChoiceSuggests) {
  try {
    ct::check_choice(ct::ConfigNode(), "method", "buter", {"fft", "butter"});
    FAIL();
  } catch (const ct::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'butter'"), std::string::npos) << e.what();
  }
}

TEST(Config, ComponentNameFromScalarMappingOrBase) {
  const auto base = ct::ConfigNode::parse("{name: resnet1d, depth: 18}");
  EXPECT_EQ(ct::component_name(ct::ConfigNode(), ct::ConfigNode::parse("vit")), "vit");
  EXPECT_EQ(ct::component_name(base, ct::ConfigNode::parse("{name: vit, depth: 4}")), "vit");
  // A mapping without a name refines the base component.
  EXPECT_EQ(ct::component_name(base, ct::ConfigNode::parse("{depth: 34}")), "resnet1d");
  EXPECT_EQ(ct::component_name(ct::ConfigNode(), ct::ConfigNode::parse("{depth: 34}")), "");
  EXPECT_EQ(ct::component_name(ct::ConfigNode::parse("{depth: 18}"), ct::ConfigNode::parse("{depth: 34}")), "");
}

TEST(Experiment, ResolveFillsDefaultsAndRejectsTypos) {
  const std::string dir = ct::test::make_temp_dir("exp");
  ct::test::write_file(dir + "/exp.yaml", "name: demo\nseed: 3\n");
  ct::ExperimentOptions typed;
  auto n = ct::resolve_experiment(dir + "/exp.yaml", {"threads=2"}, &typed);
  EXPECT_EQ(typed.seed, 3);
  EXPECT_EQ(typed.threads, 2);
  EXPECT_EQ(n["output_dir"].as_string(), "runs");
  ct::test::write_file(dir + "/typo.yaml", "name: demo\nseeed: 3\n");
  EXPECT_THROW(ct::resolve_experiment(dir + "/typo.yaml", {}), ct::ConfigError);
  EXPECT_THROW(ct::resolve_experiment(dir + "/exp.yaml", {"seed=-1"}), ct::ConfigError);
}

}  // namespace

TEST(Experiment, ResolvedPipelinesListEveryOptionAndRebuild) {
  const std::string dir = ct::test::make_temp_dir("exp_pipe");
  ct::test::write_file(dir + "/exp.yaml",
                       "preprocess: [{name: zscore}]\naugment: {steps: [{name: jitter}], random_order: true}\n");
  auto n = ct::resolve_experiment(dir + "/exp.yaml", {});
  EXPECT_EQ(n["preprocess"][0]["name"].as_string(), "zscore");
  EXPECT_TRUE(n["preprocess"][0].has("axis"));
  EXPECT_TRUE(n["augment"]["random_order"].as_bool());
  EXPECT_TRUE(n["augment"]["steps"][0].has("sigma"));
  // The resolved tree is itself a valid config that resolves to the same tree.
  ct::test::write_file(dir + "/resolved.yaml", n.to_yaml());
  EXPECT_EQ(ct::resolve_experiment(dir + "/resolved.yaml", {}).to_yaml(), n.to_yaml());
}
