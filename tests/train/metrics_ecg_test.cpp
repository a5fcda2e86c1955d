// CinC 2017 / 2020-2021 scores, AAMI beat statistics and delineation matching: hand-computed cases
// and invariants on the bundled challenge weights.
#include <gtest/gtest.h>

#include "cardiotorch/core/error.h"
#include "cardiotorch/data/adapters.h"
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/train/metrics.h"
#include "cardiotorch/train/metrics_ecg.h"
#include "support/test_util.h"

namespace tr = cardiotorch::train;
using cardiotorch::ConfigError;
using cardiotorch::DataError;
using cardiotorch::ShapeError;

namespace {
at::Tensor counts(std::vector<std::vector<int64_t>> rows) {
  std::vector<int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return at::tensor(flat, at::kLong).reshape({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())});
}
}  // namespace

// ------------------------------------------------------------------------------ CinC 2017

TEST(Cinc2017Score, HandComputedFromTheConfusion) {
  // Rows: reference N, A, O, ~; columns: the classifier's answer.
  const at::Tensor cm = counts({{50, 2, 5, 1}, {3, 20, 2, 0}, {6, 1, 30, 2}, {1, 0, 2, 5}});
  const tr::Cinc2017Score s = tr::cinc2017_score(cm);
  // F1_x = 2 N_xx / (row_x + col_x): N 100/(58+60), A 40/(25+23), O 60/(39+39), ~ 10/(8+8).
  EXPECT_NEAR(s.f1_normal, 100.0 / 118, 1e-15);
  EXPECT_NEAR(s.f1_af, 40.0 / 48, 1e-15);
  EXPECT_NEAR(s.f1_other, 60.0 / 78, 1e-15);
  EXPECT_NEAR(s.f1_noisy, 10.0 / 16, 1e-15);
  EXPECT_NEAR(s.score, (100.0 / 118 + 40.0 / 48 + 60.0 / 78) / 3, 1e-15);
  // The same data in another class order, located by indices.
  const at::Tensor perm = at::tensor(std::vector<int64_t>{1, 0, 3, 2});  // dataset order A, N, ~, O
  const at::Tensor cm2 = cm.index_select(0, perm).index_select(1, perm);
  EXPECT_NEAR(tr::cinc2017_score(cm2, {1, 0, 3, 2}).score, s.score, 1e-15);
  // Noisy class absent: its F1 is NaN, the score does not use it.
  const tr::Cinc2017Score s3 = tr::cinc2017_score(cm.slice(0, 0, 3).slice(1, 0, 3), {0, 1, 2, -1});
  EXPECT_TRUE(std::isnan(s3.f1_noisy));
  EXPECT_NEAR(s3.f1_af, 40.0 / (25 + 23), 1e-15);  // A's row without the ~ column is still 25
  // An empty class: 0/0 as MATLAB, NaN.
  EXPECT_TRUE(std::isnan(tr::cinc2017_score(at::zeros({4, 4}, at::kLong)).score));
  EXPECT_THROW(tr::cinc2017_score(cm, {0, 1, 2}), ConfigError);
  EXPECT_THROW(tr::cinc2017_score(cm, {0, 1, 2, 7}), ConfigError);
}

// ---------------------------------------------------------------------- CinC 2020 / 2021

class ChallengeScore : public ::testing::Test {
 protected:
  std::string dir_ = cardiotorch::test::make_temp_dir("challenge");
  std::string write(const std::string& name, const std::string& text) {
    cardiotorch::test::write_file(dir_ + "/" + name, text);
    return dir_ + "/" + name;
  }
};

TEST_F(ChallengeScore, HandComputedSmallCase) {
  // Classes A (code 1), B (code 2) and the normal class 426783006 (N).
  const auto w = tr::load_challenge_weights(write("w.csv",
                                                  ",1,2,426783006\n"
                                                  "1,1.0,0.5,0.0\n"
                                                  "2,0.5,1.0,0.25\n"
                                                  "426783006,0.0,0.25,1.0\n"));
  ASSERT_EQ(w.size(), 3);
  // Records (labels -> outputs): {A}->{A}, {A,B}->{B}, {N}->{A,N}, {B}->{}.
  const at::Tensor labels = counts({{1, 0, 0}, {1, 1, 0}, {0, 0, 1}, {0, 1, 0}});
  const at::Tensor outputs = counts({{1, 0, 0}, {0, 1, 0}, {1, 0, 1}, {0, 0, 0}});
  // observed: 1 + (W_AB + W_BB)/2 + (W_NA + W_NN)/2 + 0 = 1 + 0.75 + 0.5 = 54/24
  // correct:  1 + (W_AA + W_AB + W_BA + W_BB)/2 + 1 + 1 = 4.5 = 108/24
  // inactive: W_AN/2 + (W_AN + W_BN)/3 + W_NN + W_BN/2 = 0 + 1/12 + 1 + 1/8 = 29/24
  EXPECT_NEAR(tr::challenge_score(w, labels, outputs), (54.0 - 29.0) / (108.0 - 29.0), 1e-14);
  EXPECT_NEAR(tr::challenge_score(w, labels, labels), 1.0, 1e-14);
  EXPECT_EQ(tr::challenge_score(w, labels.slice(0, 2, 3), labels.slice(0, 2, 3)), 0.0);  // correct == inactive
  EXPECT_THROW(tr::challenge_score(w, labels, outputs, "999"), ConfigError);
  EXPECT_THROW(tr::challenge_score(w, labels.slice(1, 0, 2), outputs.slice(1, 0, 2)), ShapeError);
}

TEST_F(ChallengeScore, BundledWeightsPerfectIsOneAndAlwaysNormalIsZero) {
  const auto w = tr::load_challenge_weights(cardiotorch::test::source_path("data/sample/cinc2021/weights.csv"));
  ASSERT_EQ(w.size(), 26);  // 26 scored classes, equivalent codes joined with '|'
  EXPECT_GE(w.find("59118001"), 0);
  EXPECT_EQ(w.find("59118001"), w.find("713427006"));
  const int64_t normal = w.find(tr::kChallengeNormalCode);
  ASSERT_GE(normal, 0);
  at::manual_seed(3);
  const at::Tensor labels = (at::rand({64, 26}) < 0.12).to(at::kByte);
  EXPECT_NEAR(tr::challenge_score(w, labels, labels), 1.0, 1e-12);
  at::Tensor normal_only = at::zeros({64, 26}, at::kByte);
  normal_only.select(1, normal).fill_(1);
  EXPECT_NEAR(tr::challenge_score(w, labels, normal_only), 0.0, 1e-12);
  // Random outputs score between the two... and not above the perfect classifier.
  const double random = tr::challenge_score(w, labels, (at::rand({64, 26}) < 0.12).to(at::kByte));
  EXPECT_LT(random, 1.0);
}

TEST_F(ChallengeScore, TwentyTwentyLayoutMergesEquivalentColumns) {
  // 2020 style: 713427006 and 59118001 are separate columns with equal weights.
  const std::string eq = write("w2020.csv",
                               ",713427006,59118001,426783006\n"
                               "713427006,1.0,1.0,0.4\n"
                               "59118001,1.0,1.0,0.4\n"
                               "426783006,0.4,0.4,1.0\n");
  const auto w = tr::load_challenge_weights(eq);
  ASSERT_EQ(w.size(), 2);
  EXPECT_EQ(w.find("713427006"), w.find("59118001"));
  EXPECT_DOUBLE_EQ(w.at(0, 1), 0.4);
  // Merging disabled keeps both columns.
  EXPECT_EQ(tr::load_challenge_weights(eq, {}).size(), 3);
  const std::string differ = write("bad_eq.csv",
                                   ",713427006,59118001,426783006\n"
                                   "713427006,1.0,1.0,0.4\n"
                                   "59118001,1.0,1.0,0.3\n"
                                   "426783006,0.4,0.3,1.0\n");
  EXPECT_THROW(tr::load_challenge_weights(differ), DataError);
}

TEST_F(ChallengeScore, CorruptWeightFilesAreDataErrors) {
  EXPECT_THROW(tr::load_challenge_weights(dir_ + "/missing.csv"), DataError);
  EXPECT_THROW(tr::load_challenge_weights(write("ns.csv", ",1,2\n1,1.0,0.5\n")), DataError);  // not square
  EXPECT_THROW(tr::load_challenge_weights(write("nan.csv", ",1,2\n1,1.0,x\n2,0.5,1.0\n")), DataError);
  EXPECT_THROW(tr::load_challenge_weights(write("rows.csv", ",1,2\n2,1.0,0.5\n1,0.5,1.0\n")), DataError);
  try {
    tr::load_challenge_weights(write("nan2.csv", ",1,2\n1,1.0,\n2,0.5,1.0\n"));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("nan2.csv:2"), std::string::npos) << e.what();
  }
}

TEST_F(ChallengeScore, DatasetClassesMapOntoWeightsColumns) {
  const auto w = tr::load_challenge_weights(cardiotorch::test::source_path("data/sample/cinc2021/weights.csv"));
  // Model classes: normal, one merged pair, an unscored code, and the other code of a pair.
  const auto m = tr::map_classes_to_weights(w, {"426783006", "713427006|59118001", "10370003", "999999"});
  const int64_t n = w.find("426783006"), crbbb = w.find("59118001"), pr = w.find("10370003");
  EXPECT_EQ(m[static_cast<size_t>(n)], std::vector<int64_t>{0});
  EXPECT_EQ(m[static_cast<size_t>(crbbb)], std::vector<int64_t>{1});
  EXPECT_EQ(m[static_cast<size_t>(pr)], std::vector<int64_t>{2});
  // Two model classes of one equivalence class are OR-ed, as the evaluation code does.
  const auto m2 = tr::map_classes_to_weights(w, {"713427006", "59118001"});
  EXPECT_EQ(m2[static_cast<size_t>(crbbb)], (std::vector<int64_t>{0, 1}));
  const at::Tensor cols = counts({{1, 0}, {0, 1}, {0, 0}});
  const at::Tensor k = tr::to_weights_order(cols, m2);
  EXPECT_EQ(k.size(1), 26);
  EXPECT_EQ(k.select(1, crbbb).sum().item<int64_t>(), 2);
  EXPECT_EQ(k.sum().item<int64_t>(), 2);
  // A model class spanning two scored classes is a configuration error.
  EXPECT_THROW(tr::map_classes_to_weights(w, {"426783006|164889003"}), ConfigError);
}

// --------------------------------------------------------------------------------- AAMI

TEST(AamiStatistics, HandComputedWithFusionAndQRules) {
  // Rows: reference N, S, V, F, Q; columns: classifier.
  const at::Tensor cm =
      counts({{900, 10, 5, 3, 2}, {20, 60, 2, 0, 1}, {8, 1, 80, 4, 0}, {5, 0, 6, 10, 0}, {3, 0, 1, 0, 2}});
  const tr::AamiReport r = tr::aami_statistics(cm);
  // Q row left out: 920 + 83 + 93 + 21 beats, 900 + 60 + 80 + 10 correct.
  EXPECT_EQ(r.n_beats, 1117);
  EXPECT_NEAR(r.gross_accuracy, 1050.0 / 1117, 1e-15);
  const auto& n = r.classes[0];
  const auto& s = r.classes[1];
  const auto& v = r.classes[2];
  const auto& f = r.classes[3];
  EXPECT_NEAR(n.se, 900.0 / 920, 1e-15);
  EXPECT_NEAR(n.ppv, 900.0 / 933, 1e-15);
  EXPECT_NEAR(s.se, 60.0 / 83, 1e-15);
  EXPECT_NEAR(s.ppv, 60.0 / 71, 1e-15);
  EXPECT_NEAR(s.fpr, 11.0 / (11 + 1023), 1e-15);
  // VEB: the 6 fusion beats labelled V are neither FP nor TN.
  EXPECT_EQ(v.tp, 80);
  EXPECT_EQ(v.fn, 13);
  EXPECT_EQ(v.fp, 7);
  EXPECT_EQ(v.tn, 1011);
  EXPECT_NEAR(v.se, 80.0 / 93, 1e-15);
  EXPECT_NEAR(v.ppv, 80.0 / 87, 1e-15);
  EXPECT_NEAR(v.fpr, 7.0 / 1018, 1e-15);
  EXPECT_NEAR(f.se, 10.0 / 21, 1e-15);
  EXPECT_NEAR(f.ppv, 10.0 / 17, 1e-15);
  // Plain one-vs-rest without the EC57 rules.
  tr::AamiOptions plain;
  plain.exclude_reference_q = false;
  plain.fusion_as_veb_not_fp = false;
  const tr::AamiReport p = tr::aami_statistics(cm, plain);
  EXPECT_EQ(p.n_beats, 1123);
  EXPECT_EQ(p.classes[2].fp, 14);  // 5 + 2 + 6 + 1 (the Q beat labelled V)
  EXPECT_NEAR(p.classes[2].ppv, 80.0 / 94, 1e-15);
  EXPECT_THROW(tr::aami_statistics(cm.slice(0, 0, 4).slice(1, 0, 4)), ShapeError);
}

// --------------------------------------------------------------------------- delineation

TEST(Delineation, MatchingIsOneToOneClosestFirst) {
  // 190 and 210 are both 10 from 200: the earlier detection wins, 210 is a false positive.
  const tr::BoundaryMatch m = tr::match_boundaries({100, 200, 300}, {105, 190, 210, 400}, 15);
  EXPECT_EQ(m.tp, 2);
  EXPECT_EQ(m.fn, 1);
  EXPECT_EQ(m.fp, 2);
  EXPECT_EQ(m.errors, (std::vector<double>{5, -10}));
  // One detection between two references goes to the closer one only.
  const tr::BoundaryMatch one = tr::match_boundaries({100, 120}, {112}, 15);
  EXPECT_EQ(one.tp, 1);
  EXPECT_EQ(one.fn, 1);
  EXPECT_EQ(one.errors, std::vector<double>{-8});
  // Exactly at the tolerance counts; beyond does not.
  EXPECT_EQ(tr::match_boundaries({100}, {115}, 15).tp, 1);
  EXPECT_EQ(tr::match_boundaries({100}, {116}, 15).tp, 0);
  EXPECT_EQ(tr::match_boundaries({}, {1, 2}, 15).fp, 2);
}

TEST(Delineation, WavesFromMasksAndPooledStatistics) {
  const at::Tensor mask = at::tensor(std::vector<float>{0, 1, 1, 0, 0, 1, 1, 1});
  const auto w = tr::waves_from_mask(mask);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].onset, 1);
  EXPECT_EQ(w[0].offset, 2);
  EXPECT_EQ(w[1].onset, 5);
  EXPECT_EQ(w[1].offset, 7);

  // One class at 100 Hz, tolerance 50 ms = 5 samples.
  tr::DelineationOptions o;
  o.tolerance_ms = 50;
  tr::DelineationAccumulator acc({"QRS"}, 100.0, o);
  at::Tensor ref = at::zeros({1, 100}), pred = at::zeros({1, 100});
  ref[0].slice(0, 10, 21).fill_(1);   // [10, 20]
  ref[0].slice(0, 40, 51).fill_(1);   // [40, 50]
  pred[0].slice(0, 12, 20).fill_(1);  // [12, 19]: onset +2, offset -1
  pred[0].slice(0, 60, 71).fill_(1);  // [60, 70]: nothing within 5 samples
  acc.add(pred, ref);
  const tr::BoundaryStats on = acc.onset(0), off = acc.offset(0);
  EXPECT_EQ(on.tp, 1);
  EXPECT_EQ(on.fp, 1);
  EXPECT_EQ(on.fn, 1);
  EXPECT_DOUBLE_EQ(on.se, 0.5);
  EXPECT_DOUBLE_EQ(on.ppv, 0.5);
  EXPECT_DOUBLE_EQ(on.f1, 0.5);
  EXPECT_DOUBLE_EQ(on.mean_error_ms, 20.0);
  EXPECT_DOUBLE_EQ(on.std_error_ms, 0.0);
  EXPECT_DOUBLE_EQ(off.mean_error_ms, -10.0);
  // A second record pools with the first: onset errors +4 and 0 samples join the +2.
  at::Tensor pred2 = at::zeros({1, 100});
  pred2[0].slice(0, 14, 21).fill_(1);
  pred2[0].slice(0, 40, 51).fill_(1);
  acc.add(pred2.unsqueeze(0), ref.unsqueeze(0));  // (N, C, T) works too
  EXPECT_EQ(acc.records(), 2);
  EXPECT_EQ(acc.onset(0).tp, 3);
  EXPECT_NEAR(acc.onset(0).mean_error_ms, (20.0 + 40.0 + 0.0) / 3, 1e-12);

  // A wave cut by the window edge has no boundary there (both sides).
  tr::DelineationAccumulator edge({"P"}, 100.0, o);
  at::Tensor e = at::zeros({1, 30});
  e[0].slice(0, 0, 5).fill_(1);
  e[0].slice(0, 25, 30).fill_(1);
  edge.add(e, e);
  EXPECT_EQ(edge.onset(0).n_reference, 1);   // 25 only
  EXPECT_EQ(edge.offset(0).n_reference, 1);  // 4 only
  EXPECT_THROW(acc.add(at::zeros({2, 100}), at::zeros({2, 100})), ShapeError);
  EXPECT_THROW(tr::DelineationAccumulator({"P"}, 0.0), ConfigError);
}

TEST(Delineation, DetectionsOutsideTheAnnotatedSpanAreNotCounted) {
  // Reference annotated on [20, 79] only (-1 elsewhere), tolerance 5 samples at 100 Hz.
  tr::DelineationOptions o;
  o.tolerance_ms = 50;
  tr::DelineationAccumulator acc({"QRS"}, 100.0, o);
  at::Tensor ref = at::zeros({1, 100});
  ref[0].slice(0, 0, 20).fill_(-1);
  ref[0].slice(0, 80, 100).fill_(-1);
  ref[0].slice(0, 30, 41).fill_(1);  // [30, 40]
  at::Tensor pred = at::zeros({1, 100});
  pred[0].slice(0, 2, 9).fill_(1);    // [2, 8]: before the span, beyond the tolerance: ignored
  pred[0].slice(0, 16, 19).fill_(1);  // [16, 18]: within 5 samples of the span: counted (false)
  pred[0].slice(0, 31, 41).fill_(1);  // [31, 40]: the true wave
  pred[0].slice(0, 88, 95).fill_(1);  // after the span: ignored
  acc.add(pred, ref);
  EXPECT_EQ(acc.onset(0).n_reference, 1);
  EXPECT_EQ(acc.onset(0).n_detected, 2);  // 16 and 31
  EXPECT_EQ(acc.onset(0).tp, 1);
  EXPECT_EQ(acc.onset(0).fp, 1);
  EXPECT_EQ(acc.offset(0).n_detected, 2);  // 18 and 40
  // The same prediction against a fully annotated reference counts every wave.
  tr::DelineationAccumulator full({"QRS"}, 100.0, o);
  full.add(pred, ref.clamp_min(0));
  EXPECT_EQ(full.onset(0).n_detected, 4);
  // A record nobody annotated is skipped.
  acc.add(pred, at::full({1, 100}, -1.0));
  EXPECT_EQ(acc.records(), 1);
  EXPECT_EQ(acc.onset(0).n_detected, 2);
}

TEST(Delineation, LudbReferenceAgainstItselfAndShifted) {
  CT_REQUIRE_SHARED("ludb/data");
  cardiotorch::data::LudbOptions lo;
  lo.root = cardiotorch::test::shared_data("ludb");
  lo.limit = 3;
  const auto ds = cardiotorch::data::make_ludb(lo);
  tr::DelineationAccumulator same(ds->info().class_names, 500.0), shifted(ds->info().class_names, 500.0);
  for (int64_t i = 0; i < ds->size(); ++i) {
    const at::Tensor m = ds->get(i).label;
    same.add(m, m);
    // Every wave 10 samples (20 ms) later: all matched within 150 ms, error +20 ms.
    at::Tensor late = at::zeros_like(m);
    late.slice(1, 10, m.size(1)).copy_(m.slice(1, 0, m.size(1) - 10));
    shifted.add(late, m);
  }
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_GT(same.onset(c).n_reference, 10) << c;
    EXPECT_DOUBLE_EQ(same.onset(c).f1, 1.0);
    EXPECT_DOUBLE_EQ(same.offset(c).f1, 1.0);
    EXPECT_DOUBLE_EQ(same.onset(c).mean_error_ms, 0.0);
    EXPECT_DOUBLE_EQ(shifted.onset(c).mean_error_ms, 20.0) << c;
    EXPECT_GT(shifted.onset(c).se, 0.95) << c;
  }
}
