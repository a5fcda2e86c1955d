#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/report/ecg_plot.h"
#include "support/test_util.h"

namespace cardiotorch {
namespace {

using test::run_cli;

std::string sample(const std::string& rel) { return test::source_path("data/sample/cinc2021/" + rel); }

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// PNG IHDR width and height (big-endian at bytes 16..23).
std::pair<int, int> png_size(const std::string& bytes) {
  auto be = [&](size_t at) {
    return (static_cast<unsigned char>(bytes[at]) << 24) | (static_cast<unsigned char>(bytes[at + 1]) << 16) |
           (static_cast<unsigned char>(bytes[at + 2]) << 8) | static_cast<unsigned char>(bytes[at + 3]);
  };
  return {be(16), be(20)};
}

// The coordinates (mm: the SVG applies a mm -> pt matrix) of every <path> whose style contains
// `style`, e.g. the calibration pulses (miter joins) or the traces (round joins).
std::vector<std::vector<std::pair<double, double>>> svg_paths(const std::string& svg, const std::string& style) {
  // Plain scanning: std::regex recurses per character and overflows the stack on long paths.
  std::vector<std::vector<std::pair<double, double>>> out;
  const std::string open = "<path style=\"", mm = "transform=\"matrix(2.834646,0,0,2.834646,0,0)\"";
  for (size_t at = svg.find(open); at != std::string::npos; at = svg.find(open, at + 1)) {
    const size_t end = svg.find("/>", at);
    const std::string tag = svg.substr(at, end - at);
    const size_t st = open.size(), st_end = tag.find('"', st);
    if (tag.substr(st, st_end - st).find(style) == std::string::npos || tag.find(mm) == std::string::npos) continue;
    const size_t d = tag.find(" d=\"") + 4;
    std::istringstream in(tag.substr(d, tag.find('"', d) - d));
    std::vector<std::pair<double, double>> pts;
    std::string op;
    double x, y;
    while (in >> op >> x >> y) pts.emplace_back(x, y);
    out.push_back(pts);
  }
  return out;
}

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!report::plot_supported()) GTEST_SKIP() << "built without cairo";
    dir_ = test::make_temp_dir("plot");
  }
  std::string dir_;
};

TEST_F(PlotTest, TwelveLeadPngHasPaperGeometry) {
  std::string out;
  ASSERT_EQ(run_cli("plot " + sample("E07500") + " -o " + dir_ + "/e.png --dpi 254", &out), 0) << out;
  const std::string png = slurp(dir_ + "/e.png");
  ASSERT_GT(png.size(), 1000u);
  ASSERT_EQ(png.substr(1, 3), "PNG");
  // 254 dpi = 10 px/mm. Width: 2 x 6 mm margin + 10 mm calibration band + 10 s x 25 mm/s;
  // height: 2 x 6 mm + 10 mm title + 4 rows x 35 mm.
  EXPECT_EQ(png_size(png), std::make_pair(2720, 1620));
}

TEST_F(PlotTest, PageSizeFollowsSpeedGainAndLeadCount) {
  // Two strips are two 35 mm rows; at 50 mm/s and 20 mm/mV the page grows accordingly.
  const io::Record r = io::read_record(sample("E07500"));
  report::EcgPlotOptions o;
  o.dpi = 254;
  o.layout = "strips";
  o.leads = {"II", "V1"};
  report::plot_ecg(r, dir_ + "/s.png", o);
  EXPECT_EQ(png_size(slurp(dir_ + "/s.png")), std::make_pair(2720, 2 * 350 + 220));
  o.duration_s = 4;
  o.speed_mm_s = 50;
  o.gain_mm_mv = 20;
  report::plot_ecg(r, dir_ + "/fast.png", o);
  // 4 s x 50 mm/s = 200 mm; rows of 3.5 mV x 20 mm/mV = 70 mm.
  EXPECT_EQ(png_size(slurp(dir_ + "/fast.png")), std::make_pair(2220, 2 * 700 + 220));
  report::plot_ecg(r, dir_ + "/e.svg", {});
  const std::string svg = slurp(dir_ + "/e.svg");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("width=\"771.02"), std::string::npos) << svg.substr(0, 300);  // 272 mm in pt
}

TEST_F(PlotTest, CalibrationPulseAndTraceScaleInMillimetres) {
  const io::Record r = io::read_record(sample("E07500"));
  for (double gain : {10.0, 20.0}) {
    SCOPED_TRACE(gain);
    report::EcgPlotOptions o;
    o.layout = "strips";
    o.leads = {"II"};
    o.gain_mm_mv = gain;
    report::plot_ecg(r, dir_ + "/cal.svg", o);
    const std::string svg = slurp(dir_ + "/cal.svg");
    const auto pulses =
        svg_paths(svg, "stroke-width:0.3;stroke-linecap:butt;stroke-linejoin:miter;stroke:rgb(0%,0%,0%)");
    ASSERT_EQ(pulses.size(), 1u);
    const auto& p = pulses[0];
    ASSERT_EQ(p.size(), 6u);
    EXPECT_NEAR(p[1].second - p[2].second, gain, 1e-3);  // 1 mV tall
    EXPECT_NEAR(p[3].first - p[2].first, 5.0, 1e-3);     // 0.2 s at 25 mm/s
    const auto traces = svg_paths(svg, "stroke-width:0.25;");
    ASSERT_EQ(traces.size(), 1u);
    const auto& t = traces[0];
    ASSERT_GT(t.size(), 1000u);  // cairo merges collinear runs, so not one point per sample
    EXPECT_NEAR(t.back().first - t.front().first, 4999.0 / 500.0 * 25.0, 1e-3);
    double lo = 1e9, hi = -1e9;
    for (const auto& pt : t) lo = std::min(lo, pt.second), hi = std::max(hi, pt.second);
    const at::Tensor ii = r.signal[1];
    const double span_mv = (ii.max() - ii.min()).item<double>();
    EXPECT_NEAR(hi - lo, span_mv * gain, 1e-3);
    // Upward deflection is up the page: the sample maximum is the smallest y.
    const double t_max = static_cast<double>(ii.argmax().item<int64_t>()) / 500.0;
    for (const auto& pt : t)
      if (pt.second == lo) {
        EXPECT_NEAR(pt.first - t.front().first, t_max * 25.0, 1e-3);
      }
  }
}

TEST_F(PlotTest, TwelveLeadColumnsShowConsecutiveQuarters) {
  const io::Record r = io::read_record(sample("E07500"));
  report::plot_ecg(r, dir_ + "/e.svg", {});
  const std::string svg = slurp(dir_ + "/e.svg");
  EXPECT_EQ(svg_paths(svg, "stroke-width:0.3;stroke-linecap:butt;stroke-linejoin:miter;stroke:rgb(0%,0%,0%)").size(),
            4u);  // one pulse per row
  const auto traces = svg_paths(svg, "stroke-width:0.25;");
  ASSERT_EQ(traces.size(), 13u);  // 12 segments + the rhythm strip
  // Drawing order: rows I/aVR/V1/V4, II/aVL/V2/V5, III/aVF/V3/V6, then the rhythm strip.
  const double x0 = traces[0].front().first;
  for (int row = 0; row < 3; ++row)
    for (int col = 0; col < 4; ++col) {
      const auto& t = traces[static_cast<size_t>(row * 4 + col)];
      EXPECT_NEAR(t.back().first - t.front().first, 1249.0 / 500 * 25, 1e-3) << row << "," << col;  // 2.5 s
      EXPECT_NEAR(t.front().first - x0, col * 62.5, 1e-3);  // 2.5 s x 25 mm/s per column
    }
  EXPECT_NEAR(traces[12].back().first - traces[12].front().first, 4999.0 / 500 * 25, 1e-3);
  // Column 2 of row 0 is V1 over 5-7.5 s: its y-span is V1's span there.
  const at::Tensor v1 = r.signal[6].slice(0, 2500, 3750);
  double lo = 1e9, hi = -1e9;
  for (const auto& pt : traces[2]) lo = std::min(lo, pt.second), hi = std::max(hi, pt.second);
  EXPECT_NEAR(hi - lo, (v1.max() - v1.min()).item<double>() * 10.0, 1e-3);
}

TEST_F(PlotTest, StripsForNon12LeadRecordsWithAnnotations) {
  CT_REQUIRE_SHARED("mitdb/101.atr");
  std::string out;
  ASSERT_EQ(
      run_cli("plot " + test::shared_data("mitdb/101.hea") + " --from 60 --duration 8 -o " + dir_ + "/m.png --dpi 127",
              &out),
      0)
      << out;
  // 5 px/mm: (12 + 10 + 200) mm wide, (22 + 2 x 35) mm high.
  EXPECT_EQ(png_size(slurp(dir_ + "/m.png")), std::make_pair(1110, 460));
  EXPECT_EQ(run_cli("plot " + test::shared_data("mitdb/101.hea") + " --annotator qrs -o " + dir_ + "/q.png", &out), 1);
  EXPECT_NE(out.find("101.qrs: no such annotation file"), std::string::npos) << out;
}

TEST_F(PlotTest, BadRequestsFailClearly) {
  std::string out;
  EXPECT_EQ(run_cli("plot " + sample("E07500") + " -o " + dir_ + "/x.pdf", &out), 2);
  EXPECT_NE(out.find("x.pdf: plot format must be .svg or .png"), std::string::npos) << out;
  EXPECT_EQ(run_cli("plot " + sample("E07500") + " --leads V8 -o " + dir_ + "/x.png", &out), 2);
  EXPECT_NE(out.find("E07500.hea: no signal named 'V8'"), std::string::npos) << out;
  EXPECT_EQ(run_cli("plot " + sample("E07500") + " --from 30 -o " + dir_ + "/x.png", &out), 2);
  EXPECT_NE(out.find("past the end of the record"), std::string::npos) << out;
  EXPECT_EQ(run_cli("plot " + sample("E07500") + " --layout grid -o " + dir_ + "/x.png", &out), 2);
  EXPECT_EQ(run_cli("plot " + sample("E07500") + " -o /nonexistent_dir/x.png", &out), 1);
  EXPECT_NE(out.find("/nonexistent_dir/x.png"), std::string::npos) << out;
  const io::Record two = io::read_record(sample("E07500"), [] {
    io::ReadOptions o;
    o.channels = {"I", "II"};
    return o;
  }());
  report::EcgPlotOptions o;
  o.layout = "12lead";
  EXPECT_THROW(report::plot_ecg(two, dir_ + "/y.png", o), DataError);
  o.layout = "strips";
  o.leads = {"V8"};
  try {
    report::plot_ecg(two, dir_ + "/y.png", o);
    ADD_FAILURE();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("no lead 'V8' to plot"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cardiotorch
