// Lists of options structs refine the current list (a preset's) instead of resetting it.
#include <gtest/gtest.h>

#include "cardiotorch/core/config.h"

namespace ct = cardiotorch;

namespace {

struct Part {
  int64_t width = 1;
  std::string kind = "plain";
  template <class V>
  void fields(V& v) {
    v("width", width, "width");
    v("kind", kind, "kind");
  }
};

struct Whole {
  std::vector<Part> parts{Part{}};
  std::vector<int64_t> sizes{1, 2};
  template <class V>
  void fields(V& v) {
    v("parts", parts, "one part for all, or one per stage");
    v("sizes", sizes, "plain list");
  }
};

Whole preset() {
  Whole w;
  w.parts = {Part{4, "a"}, Part{5, "b"}, Part{6, "c"}};
  return w;
}

TEST(ConfigOptionsList, AMappingRefinesEveryElement) {
  Whole w = preset();
  ct::update_from_config(w, ct::ConfigNode::parse("{parts: {kind: z}}"));
  ASSERT_EQ(w.parts.size(), 3u);
  EXPECT_EQ(w.parts[0].width, 4);
  EXPECT_EQ(w.parts[2].width, 6);
  for (const auto& p : w.parts) EXPECT_EQ(p.kind, "z");
}

TEST(ConfigOptionsList, AListRefinesElementWise) {
  Whole w = preset();
  ct::update_from_config(w, ct::ConfigNode::parse("{parts: [{kind: x}, {}, {width: 9}, {width: 7}]}"));
  ASSERT_EQ(w.parts.size(), 4u);
  EXPECT_EQ(w.parts[0].kind, "x");
  EXPECT_EQ(w.parts[0].width, 4);
  EXPECT_EQ(w.parts[1].kind, "b");
  EXPECT_EQ(w.parts[2].width, 9);
  EXPECT_EQ(w.parts[2].kind, "c");
  EXPECT_EQ(w.parts[3].width, 7);  // new element: defaults
  EXPECT_EQ(w.parts[3].kind, "plain");
  // A shorter list drops the rest.
  ct::update_from_config(w, ct::ConfigNode::parse("{parts: [{width: 2}]}"));
  ASSERT_EQ(w.parts.size(), 1u);
  EXPECT_EQ(w.parts[0].kind, "x");
}

TEST(ConfigOptionsList, ResolvedListsReadBackToThemselves) {
  Whole w = preset();
  const ct::ConfigNode out = ct::to_config(w);
  Whole again = preset();
  ct::update_from_config(again, out);
  EXPECT_EQ(ct::to_config(again).to_yaml(), out.to_yaml());
  // Plain lists still replace.
  ct::update_from_config(w, ct::ConfigNode::parse("{sizes: [5]}"));
  EXPECT_EQ(w.sizes, (std::vector<int64_t>{5}));
  // Unknown keys inside an element name the element.
  try {
    ct::update_from_config(w, ct::ConfigNode::parse("{parts: [{}, {widht: 1}]}", "x.yaml"));
    FAIL();
  } catch (const ct::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("parts[1].widht"), std::string::npos) << e.what();
  }
}

}  // namespace
