// The QRS detector against the MIT-BIH reference beat annotations (../shared/data).
#include <gtest/gtest.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/io/annotation.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/signal/qrs.h"
#include "cardiotorch/train/metrics_ecg.h"
#include "support/test_util.h"

namespace ct = cardiotorch;

namespace {

// Se and +P of the detections on the first `minutes` of a record (150 ms tolerance, EC57's).
std::pair<double, double> score(const std::string& path, double minutes) {
  ct::io::ReadOptions o;
  o.to = static_cast<int64_t>(minutes * 60 * 360);
  const ct::io::Record r = ct::io::read_record(path, o);
  const auto detected = ct::signal::detect_qrs(r.signal[0], r.fs);
  std::vector<int64_t> ref;
  for (const auto& a : ct::io::read_annotations(path, "atr").annotations)
    if (ct::io::is_beat_code(a.code) && a.sample >= 0.5 * r.fs && a.sample < o.to - 0.5 * r.fs) ref.push_back(a.sample);
  std::vector<int64_t> det;
  for (int64_t d : detected)
    if (d >= 0.5 * r.fs && d < o.to - 0.5 * r.fs) det.push_back(d);
  const auto m = ct::train::match_boundaries(ref, det, static_cast<int64_t>(0.15 * r.fs));
  return {static_cast<double>(m.tp) / static_cast<double>(m.tp + m.fn),
          static_cast<double>(m.tp) / static_cast<double>(m.tp + m.fp)};
}

}  // namespace

TEST(QrsDetector, FindsTheAnnotatedBeatsOfMitdbRecords) {
  CT_REQUIRE_SHARED("wfdb-python/sample-data/100.atr");
  CT_REQUIRE_SHARED("mitdb/208.atr");
  // 100 and 119: sinus rhythm (119 with ventricular bigeminy); 108: large P and T waves, noise;
  // 208: wide low-frequency PVCs in couplets and fusion beats.
  for (const auto& [rel, se_min, ppv_min] :
       std::vector<std::tuple<std::string, double, double>>{{"wfdb-python/sample-data/100", 0.995, 0.995},
                                                            {"mitdb/119", 0.995, 0.995},
                                                            {"mitdb/108", 0.99, 0.97},
                                                            {"mitdb/208", 0.99, 0.99}}) {
    const std::string hea = ct::test::shared_data(rel + ".hea");
    const auto [se, ppv] = score(hea.substr(0, hea.size() - 4), 5.0);
    EXPECT_GE(se, se_min) << rel;
    EXPECT_GE(ppv, ppv_min) << rel;
  }
}

TEST(QrsDetector, EdgeCases) {
  EXPECT_TRUE(ct::signal::detect_qrs(at::zeros({100}), 360).empty());   // shorter than 0.5 s
  EXPECT_TRUE(ct::signal::detect_qrs(at::zeros({3600}), 360).empty());  // flat line
  EXPECT_THROW(ct::signal::detect_qrs(at::zeros({2, 100}), 360), ct::ShapeError);
  EXPECT_THROW(ct::signal::detect_qrs(at::zeros({1000}), 0), ct::ConfigError);
}
