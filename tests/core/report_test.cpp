#include "cardiotorch/report/html.h"

#include <gtest/gtest.h>

#include <fstream>

#include "cardiotorch/core/error.h"

#include "support/test_util.h"

namespace rp = cardiotorch::report;

TEST(Report, EscapesAndAssemblesSections) {
  rp::HtmlReport r("Run <1>");
  r.heading("Data").paragraph("a & b").table({"k", "v"}, {{"x", "<y>"}}).preformatted("seed: 0");
  const std::string s = r.str();
  EXPECT_NE(s.find("<title>Run &lt;1&gt;</title>"), std::string::npos);
  EXPECT_NE(s.find("<p>a &amp; b</p>"), std::string::npos);
  EXPECT_NE(s.find("<td>&lt;y&gt;</td>"), std::string::npos);
  EXPECT_NE(s.find("<pre>seed: 0</pre>"), std::string::npos);
}

TEST(Report, LineChartHasOnePolylinePerSeriesAndHandlesNaN) {
  rp::Series a{"loss", {0, 1, 2, 3}, {1.0, 0.5, NAN, 0.25}};
  rp::Series b{"val", {0, 1, 2, 3}, {1.2, 0.7, 0.6, 0.5}};
  const std::string svg = rp::svg_line_chart({a, b}, {"Loss", "epoch", "loss"});
  size_t n = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++n;
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_NE(svg.find(">loss<"), std::string::npos);
}

TEST(Report, SaveWritesFileAndFailsClearly) {
  const std::string dir = cardiotorch::test::make_temp_dir("report");
  rp::HtmlReport r("t");
  r.save(dir + "/report.html");
  std::ifstream f(dir + "/report.html");
  EXPECT_TRUE(f.good());
  EXPECT_THROW(r.save("/nonexistent_dir/x/report.html"), cardiotorch::Error);
}

TEST(Report, InlineSvgIdsAreNamespacedPerFigure) {
  const std::string svg =
      R"x(<svg><clipPath id="clip1"/><use xlink:href="#glyph0-1"/><g clip-path="url(#clip1)"/></svg>)x";
  EXPECT_EQ(rp::namespace_svg_ids(svg, "a-"),
            R"x(<svg><clipPath id="a-clip1"/><use xlink:href="#a-glyph0-1"/><g clip-path="url(#a-clip1)"/></svg>)x");
  rp::HtmlReport r("t");
  r.svg(svg).svg(svg);
  const std::string s = r.str();
  EXPECT_NE(s.find("id=\"f1-clip1\""), std::string::npos);
  EXPECT_NE(s.find("id=\"f2-clip1\""), std::string::npos);
  EXPECT_NE(s.find("url(#f2-clip1)"), std::string::npos);
}
