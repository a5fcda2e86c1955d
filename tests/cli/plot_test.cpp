#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

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

TEST_F(PlotTest, SvgHasLeadLabelsInStandardOrder) {
  // cairo writes text as glyphs, so check the layout through the library instead: the
  // strips layout for 2 leads has 2 rows (height) and the 12lead layout 4.
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

TEST_F(PlotTest, StripsForNon12LeadRecordsWithAnnotations) {
  CT_REQUIRE_SHARED("mitdb/101.atr");
  std::string out;
  ASSERT_EQ(run_cli("plot " + test::shared_data("mitdb/101.hea") + " --from 60 --duration 8 -o " + dir_ + "/m.png --dpi 127",
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
  EXPECT_EQ(run_cli("plot " + sample("E07500") + " --leads V8 -o " + dir_ + "/x.png", &out), 1);
  EXPECT_NE(out.find("no lead 'V8' to plot"), std::string::npos) << out;
  EXPECT_EQ(run_cli("plot " + sample("E07500") + " --from 30 -o " + dir_ + "/x.png", &out), 1);
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
}

}  // namespace
}  // namespace cardiotorch
