// Adapters on the real data in ../shared/data (counts from its README.md).
#include "cardiotorch/data/adapters.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "cardiotorch/data/beat_windows.h"
#include "cardiotorch/data/split.h"
#include "cardiotorch/io/annotation.h"
#include "cardiotorch/io/reader.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace cd = cardiotorch::data;

namespace {

std::shared_ptr<cd::Dataset> build(const std::string& yaml) { return cd::build_dataset(ct::ConfigNode::parse(yaml)); }

int64_t count_of(const cd::DatasetInfo& in, const std::string& cls) {
  for (size_t c = 0; c < in.class_names.size(); ++c)
    if (in.class_names[c] == cls) return in.label_counts[c];
  ADD_FAILURE() << "no class " << cls << " in " << ct::join(in.class_names);
  return -1;
}

}  // namespace

TEST(DataAdapters, RegistryListsEveryAdapterAndRejectsUnknownKeys) {
  for (const char* n : {"cinc2017", "cinc2020", "cinc2021", "ptbxl", "mitdb", "ludb", "folder"})
    EXPECT_TRUE(cd::dataset_registry().contains(n)) << n;
  EXPECT_THROW(build("{name: ptbxl, root: /nonexistent, lables: superclass}"), ct::ConfigError);
  EXPECT_THROW(build("{name: ptbxl, root: /x, fs: 250}"), ct::ConfigError);
  EXPECT_THROW(build("{name: ptbxl, root: /x, on_error: ignore}"), ct::ConfigError);
  EXPECT_THROW(build("{name: ptbxl}"), ct::ConfigError);  // root is required
  EXPECT_THROW(build("{name: ptbx, root: /x}"), ct::ConfigError);
}

TEST(DataAdapters, Cinc2017CountsAndDecode) {
  CT_REQUIRE_SHARED("cinc2017/REFERENCE.csv");
  auto ds = build("{name: cinc2017, root: " + ct::test::shared_data("cinc2017") + "}");
  const auto& in = ds->info();
  EXPECT_EQ(ds->size(), 1028);
  EXPECT_EQ(count_of(in, "N"), 595);
  EXPECT_EQ(count_of(in, "O"), 280);
  EXPECT_EQ(count_of(in, "A"), 96);
  EXPECT_EQ(count_of(in, "~"), 57);
  EXPECT_EQ(in.label_kind, cd::LabelKind::kClassIndex);
  const cd::Sample s = ds->get(0);
  EXPECT_EQ(s.record_id, "A00001");
  EXPECT_EQ(s.signal.sizes(), (std::vector<int64_t>{1, 9000}));
  EXPECT_EQ(s.fs, 300);
  EXPECT_EQ(s.label.item<int64_t>(), 0);  // N
  // A00001.hea: gain 1000/mV, baseline 0, first value -127 adu.
  EXPECT_FLOAT_EQ(s.signal[0][0].item<float>(), -0.127f);
  auto orig =
      build("{name: cinc2017, root: " + ct::test::shared_data("cinc2017") + ", reference: REFERENCE-original.csv}");
  EXPECT_EQ(orig->size(), 1028);
  EXPECT_NE(orig->info().label_counts, in.label_counts);
}

TEST(DataAdapters, OnErrorSkipCountsBadRowsAndRaiseStops) {
  CT_REQUIRE_SHARED("cinc2017/A00001.hea");
  const auto dir = ct::test::make_temp_dir("cinc2017_bad");
  namespace fs = std::filesystem;
  for (const char* r : {"A00001", "A00002"})
    for (const char* ext : {".hea", ".mat"})
      fs::copy_file(ct::test::shared_data(std::string("cinc2017/") + r + ext), dir + "/" + r + ext);
  fs::copy_file(ct::test::shared_data("cinc2017/A00003.hea"), dir + "/A00003.hea");  // its .mat is missing
  ct::test::write_file(dir + "/REFERENCE.csv", "A00001,N\nA00002,X\nA09999,A\nA00003,O\n");
  try {
    build("{name: cinc2017, root: " + dir + "}");
    FAIL() << "expected DataError";
  } catch (const ct::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("REFERENCE.csv:2"), std::string::npos) << e.what();
  }
  auto ds = build("{name: cinc2017, root: " + dir + ", on_error: skip}");
  EXPECT_EQ(ds->size(), 1);
  EXPECT_EQ(ds->info().n_skipped, 3);
  EXPECT_NE(cd::summarize(*ds).find("3 skipped"), std::string::npos) << cd::summarize(*ds);
  // A missing signal file is found when indexing, not at the first get().
  ct::test::write_file(dir + "/REFERENCE.csv", "A00001,N\nA00003,O\n");
  try {
    build("{name: cinc2017, root: " + dir + "}");
    FAIL() << "expected DataError";
  } catch (const ct::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("A00003.mat: missing"), std::string::npos) << e.what();
  }
}

TEST(DataAdapters, Cinc2021ScoredClassesWithEquivalences) {
  // The vendored copy (data/sample/cinc2021) needs no shared data, so this runs in CI.
  const std::string root = ct::test::source_path("data/sample/cinc2021");
  auto ds = build("{name: cinc2021, root: " + root + "}");
  const auto& in = ds->info();
  EXPECT_EQ(ds->size(), 50);
  // weights.csv has 26 columns (CLBBB|LBBB, CRBBB|RBBB, PAC|SVPB, PVC|VPB already merged).
  ASSERT_EQ(in.class_names.size(), 26u);
  EXPECT_EQ(in.class_codes.size(), 26u);
  EXPECT_NE(std::find(in.class_names.begin(), in.class_names.end(), "PAC|SVPB"), in.class_names.end());
  EXPECT_NE(std::find(in.class_codes.begin(), in.class_codes.end(), "713427006|59118001"), in.class_codes.end());
  // README: 284470004 PAC 20, 427084000 sinus tachycardia 23, 426783006 sinus rhythm 15.
  EXPECT_EQ(count_of(in, "STach"), 23);
  EXPECT_EQ(count_of(in, "NSR"), 15);
  EXPECT_GE(count_of(in, "PAC|SVPB"), 20);
  EXPECT_EQ(in.fs, 500);
  EXPECT_EQ(in.leads.size(), 12u);
  const cd::Sample s = ds->get(0);
  EXPECT_EQ(s.record_id, "E07500");
  EXPECT_EQ(s.signal.sizes(), (std::vector<int64_t>{12, 5000}));
  EXPECT_EQ(s.meta.at("age"), "78");
  EXPECT_EQ(s.meta.at("sex"), "Male");
  EXPECT_EQ(s.meta.at("dx"), "67741000119109,426177001");
  EXPECT_FLOAT_EQ(s.signal[0][0].item<float>(), -0.068f);  // E07500.hea: I starts at -68 adu, 1000/mV
  EXPECT_EQ(s.label.sum().item<float>(), 1.0f);            // SB scored; 67741000119109 is unscored
  // The HR headers write "/mv"; the 2021 PTB-XL records decode at 1000/mV.
  for (int64_t i = 0; i < ds->size(); ++i)
    if (ds->item(i).record_id == "HR06000") {
      EXPECT_EQ(ds->get(i).signal.size(1), 5000);
    }

  auto all = build("{name: cinc2021, root: " + root + ", classes: all}");
  EXPECT_EQ(all->info().class_names.size(), 25u);  // distinct codes in these 50 headers
  EXPECT_EQ(all->info().n_unlabelled, 0);
}

TEST(DataAdapters, Cinc2020SamplesToleratesQuirks) {
  CT_REQUIRE_SHARED("cinc2020-samples/weights.csv");
  auto ds = build("{name: cinc2020, root: " + ct::test::shared_data("cinc2020-samples") + "}");
  const auto& in = ds->info();
  EXPECT_EQ(ds->size(), 36);
  EXPECT_EQ(in.class_names.size(), 24u);  // 27 scored codes, 3 equivalence pairs merged
  EXPECT_EQ(in.n_unlabelled, 36);         // the Dx lines were blanked in this copy
  EXPECT_EQ(in.fs, 0);                    // 500 Hz and 1000 Hz (S-series) records
  std::map<std::string, cd::Sample> by_id;
  for (int64_t i = 0; i < ds->size(); ++i) {
    const auto& id = ds->item(i).record_id;
    if (id == "E00001" || id == "HR00001" || id == "S0001") by_id[id] = ds->get(i);
  }
  EXPECT_EQ(by_id["S0001"].signal.sizes(), (std::vector<int64_t>{12, 38400}));
  EXPECT_EQ(by_id["S0001"].fs, 1000);
  // HR00001 holds PTB-XL 00001's values at 1000 adu/mV (header says 200): fix_gains makes them mV.
  CT_REQUIRE_SHARED("ptbxl/records500/00000/00001_hr.hea");
  auto ptb = build("{name: ptbxl, root: " + ct::test::shared_data("ptbxl") + ", fs: 500, on_error: skip, limit: 1}");
  EXPECT_TRUE(at::allclose(by_id["HR00001"].signal, ptb->get(0).signal, 0, 1e-6));
  auto raw = build("{name: cinc2020, root: " + ct::test::shared_data("cinc2020-samples") + ", fix_gains: false}");
  for (int64_t i = 0; i < raw->size(); ++i)
    if (raw->item(i).record_id == "HR00001") {
      EXPECT_TRUE(at::allclose(raw->get(i).signal, ptb->get(0).signal * 5.0, 0, 1e-5));
    }
  // The CPSC table restores the A-series labels: RBBB x3, NSR x1, AF x4 (PVC/STD are unscored).
  auto cpsc = build("{name: cinc2020, root: " + ct::test::shared_data("cinc2020-samples") +
                    ", cpsc_reference: cpsc2018_REFERENCE_subset.csv}");
  EXPECT_EQ(count_of(cpsc->info(), "CRBBB|RBBB"), 3);
  EXPECT_EQ(count_of(cpsc->info(), "NSR"), 1);
  EXPECT_EQ(count_of(cpsc->info(), "AF"), 4);
  EXPECT_EQ(cpsc->info().n_unlabelled, 36 - 8);
  auto cpsc_all = build("{name: cinc2020, root: " + ct::test::shared_data("cinc2020-samples") +
                        ", cpsc_reference: cpsc2018_REFERENCE_subset.csv, classes: all}");
  EXPECT_EQ(cpsc_all->info().n_unlabelled, 36 - 10);
  auto only500 =
      build("{name: cinc2020, root: " + ct::test::shared_data("cinc2020-samples") + ", fs: 500, on_error: skip}");
  EXPECT_EQ(only500->size(), 34);
  EXPECT_EQ(only500->info().n_skipped, 2);
}

TEST(DataAdapters, PtbxlSuperclassCountsFoldsAndText) {
  CT_REQUIRE_SHARED("ptbxl/ptbxl_database.csv");
  auto ds = build("{name: ptbxl, root: " + ct::test::shared_data("ptbxl") + "}");
  const auto& in = ds->info();
  EXPECT_EQ(ds->size(), 434);
  EXPECT_EQ(in.class_names, (std::vector<std::string>{"CD", "HYP", "MI", "NORM", "STTC"}));
  EXPECT_EQ(count_of(in, "NORM"), 261);
  EXPECT_EQ(count_of(in, "STTC"), 80);
  EXPECT_EQ(count_of(in, "CD"), 67);
  EXPECT_EQ(count_of(in, "MI"), 65);
  EXPECT_EQ(count_of(in, "HYP"), 33);
  EXPECT_EQ(in.n_unlabelled, 10);
  const cd::Sample s = ds->get(0);
  EXPECT_EQ(s.record_id, "1");
  EXPECT_EQ(s.patient_id, "15709");
  EXPECT_EQ(s.text, "sinusrhythmus periphere niederspannung");
  EXPECT_EQ(s.signal.sizes(), (std::vector<int64_t>{12, 1000}));
  EXPECT_EQ(s.leads[3], "aVR");
  EXPECT_EQ(s.fs, 100);
  EXPECT_FLOAT_EQ(s.signal[0][0].item<float>(), -0.119f);
  EXPECT_EQ(ds->item(0).fold, "3");
  std::set<std::string> folds;
  for (int64_t i = 0; i < ds->size(); ++i) folds.insert(ds->item(i).fold);
  EXPECT_EQ(folds, (std::set<std::string>{"1", "2", "3", "4", "5", "6", "7", "8", "9"}));
  // Named folds: 9 = validation; patients never cross PTB-XL's folds.
  cd::SplitOptions so;
  so.method = "named";
  so.val_folds = {"9"};
  auto sp = cd::make_split(*ds, so);
  EXPECT_EQ(sp.train.size() + sp.val.size(), 434u);
  std::set<std::string> train_pat;
  for (int64_t i : sp.train) train_pat.insert(ds->item(i).patient_id);
  for (int64_t i : sp.val) EXPECT_EQ(train_pat.count(ds->item(i).patient_id), 0u);

  auto hr = build("{name: ptbxl, root: " + ct::test::shared_data("ptbxl") + ", fs: 500, on_error: skip}");
  EXPECT_EQ(hr->size(), 88);
  EXPECT_EQ(hr->info().n_skipped, 434 - 88);
  EXPECT_EQ(hr->get(0).signal.sizes(), (std::vector<int64_t>{12, 5000}));
  EXPECT_THROW(build("{name: ptbxl, root: " + ct::test::shared_data("ptbxl") + ", fs: 500}"), ct::DataError);

  auto rhythm = build("{name: ptbxl, root: " + ct::test::shared_data("ptbxl") + ", labels: rhythm, leads: [II, V1]}");
  EXPECT_NE(std::find(rhythm->info().class_names.begin(), rhythm->info().class_names.end(), "SR"),
            rhythm->info().class_names.end());
  const cd::Sample r0 = rhythm->get(0);
  EXPECT_EQ(r0.leads, (std::vector<std::string>{"II", "V1"}));
  EXPECT_TRUE(at::equal(r0.signal[0], s.signal[1]));
  EXPECT_TRUE(at::equal(r0.signal[1], s.signal[6]));
  EXPECT_THROW(build("{name: ptbxl, root: " + ct::test::shared_data("ptbxl") + ", leads: [V7], limit: 1}")->get(0),
               ct::DataError);
}

TEST(DataAdapters, SummarizePrintsCounts) {
  CT_REQUIRE_SHARED("ptbxl/ptbxl_database.csv");
  auto ds = build("{name: ptbxl, root: " + ct::test::shared_data("ptbxl") + "}");
  const std::string s = cd::summarize(*ds);
  EXPECT_NE(s.find("dataset ptbxl: 434 items"), std::string::npos) << s;
  EXPECT_NE(s.find("NORM  261"), std::string::npos) << s;
  EXPECT_NE(s.find("none  10"), std::string::npos) << s;
}

TEST(DataAdapters, MitdbAamiCountsDs1AndWindows) {
  CT_REQUIRE_SHARED("mitdb/101.atr");
  const std::string root = ct::test::shared_data("mitdb");
  auto all = build("{name: mitdb, root: " + root + ", exclude_paced: false}");
  const auto& in = all->info();
  EXPECT_EQ(in.n_records, 26);
  EXPECT_EQ(count_of(in, "N"), 46372);
  EXPECT_EQ(count_of(in, "S"), 944);
  EXPECT_EQ(count_of(in, "V"), 4015);
  EXPECT_EQ(count_of(in, "F"), 415);
  EXPECT_EQ(count_of(in, "Q"), 8036);

  auto ds1 = build("{name: mitdb, root: " + root + ", records: DS1}");
  const auto& d = ds1->info();
  EXPECT_EQ(d.n_records, 22);
  EXPECT_EQ(count_of(d, "N"), 45866);
  EXPECT_EQ(count_of(d, "S"), 944);
  EXPECT_EQ(count_of(d, "V"), 3788);
  EXPECT_EQ(count_of(d, "F"), 415);
  EXPECT_EQ(count_of(d, "Q"), 8);
  EXPECT_EQ(d.fs, 360);
  for (int64_t i = 0; i < ds1->size(); i += 997) EXPECT_EQ(ds1->item(i).fold, "DS1");

  // Window: 0.25 s before and 0.45 s after the R peak at 360 Hz = 90 + 162 samples.
  const cd::Sample s = ds1->get(5);
  EXPECT_EQ(s.signal.sizes(), (std::vector<int64_t>{2, 252}));
  EXPECT_EQ(s.leads[0], "MLII");
  const int64_t peak = std::stoll(s.meta.at("sample"));
  EXPECT_EQ(s.record_id, "101:" + std::to_string(peak));
  EXPECT_EQ(s.patient_id, "101");
  // Same values as reading the record directly around the peak.
  auto direct = build("{name: mitdb, root: " + root + ", records: [101], before: 1, after: 1}");
  const cd::Sample wide = direct->get(5);
  EXPECT_TRUE(at::equal(s.signal, wide.signal.narrow(1, 360 - 90, 252)));
  // The first beat of 101 sits near the start: its window is zero-padded, never dropped.
  const cd::Sample first = direct->get(0);
  EXPECT_EQ(first.signal.size(1), 720);

  // Rhythm episodes: 201 has AF; the aux of '+' annotations is carried per beat.
  auto r201 = build("{name: mitdb, root: " + root + ", records: [201]}");
  std::map<std::string, int64_t> rhythms;
  for (int64_t i = 0; i < r201->size(); i += 50) ++rhythms[r201->get(i).meta["rhythm"]];
  EXPECT_GT(rhythms["(AFIB"], 0);
  EXPECT_GT(rhythms["(N"], 0);

  auto ds2 = build("{name: mitdb, root: " + root + ", records: DS2, on_error: skip}");
  EXPECT_EQ(ds2->size(), 0);
  EXPECT_EQ(ds2->info().n_skipped, 22);
  EXPECT_THROW(build("{name: mitdb, root: " + root + ", records: DS2}"), ct::DataError);
}

// RR context channels: intervals to the neighbouring classified beats over the local mean of
// rr_window intervals on each side, recomputed here from the annotation file itself.
TEST(DataAdapters, MitdbRrFeaturesFromTheAnnotations) {
  CT_REQUIRE_SHARED("mitdb/101.atr");
  const std::string root = ct::test::shared_data("mitdb");
  auto ds = build("{name: mitdb, root: " + root + ", records: [101], leads: [MLII], rr_features: true, rr_window: 3}");
  auto longer =
      build("{name: mitdb, root: " + root +
            ", records: [101], leads: [MLII], rr_features: true, rr_window: 3, rr_irregularity_windows: [12]}");
  auto both =
      build("{name: mitdb, root: " + root +
            ", records: [101], leads: [MLII], rr_features: true, rr_window: 3, rr_irregularity_windows: [3, 12]}");
  EXPECT_EQ(both->info().leads, (std::vector<std::string>{"MLII", "RR_pre", "RR_post", "RR_local", "RR_irregularity",
                                                          "RR_irregularity_12"}));
  EXPECT_EQ(ds->info().leads, (std::vector<std::string>{"MLII", "RR_pre", "RR_post", "RR_local", "RR_irregularity"}));
  std::vector<double> peaks;
  for (const auto& a : ct::io::read_annotations(root + "/101", "atr").annotations)
    if (cd::aami_index(a.symbol) >= 0) peaks.push_back(static_cast<double>(a.sample));
  ASSERT_EQ(static_cast<int64_t>(peaks.size()), ds->size());
  auto rr = [&](size_t k) { return (peaks[k + 1] - peaks[k]) / 360.0; };
  for (size_t i : {size_t{0}, size_t{1}, size_t{10}, peaks.size() - 1}) {
    const cd::Sample s = ds->get(static_cast<int64_t>(i));
    ASSERT_EQ(s.signal.sizes(), (std::vector<int64_t>{5, 252}));
    const size_t n = peaks.size() - 1;  // intervals
    const double pre = i > 0 ? rr(i - 1) : rr(0), post = i < n ? rr(i) : rr(n - 1);
    double sum = 0;
    const size_t lo = i > 3 ? i - 3 : 0, hi = std::min(n, i + 3);
    for (size_t k = lo; k < hi; ++k) sum += rr(k);
    const double local = sum / static_cast<double>(hi - lo);
    // The median successive difference over the mean interval, within w intervals each side.
    auto irregularity = [&](size_t w) {
      const size_t a = i > w ? i - w : 0, b = std::min(n, i + w);
      std::vector<double> diffs;
      double span = 0;
      for (size_t k = a; k < b; ++k) span += rr(k);
      for (size_t k = a; k + 1 < b; ++k) diffs.push_back(std::abs(rr(k + 1) - rr(k)));
      std::sort(diffs.begin(), diffs.end());
      return diffs[diffs.size() / 2] / (span / static_cast<double>(b - a));  // the upper median
    };
    const double expected[4] = {pre / local, post / local, local, irregularity(3)};
    for (int c = 0; c < 4; ++c) {
      EXPECT_NEAR(s.signal[c + 1].min().item<double>(), expected[c], 1e-4) << "beat " << i << " channel " << c;
      EXPECT_NEAR(s.signal[c + 1].max().item<double>(), expected[c], 1e-4) << "beat " << i << " channel " << c;
    }
    // rr_irregularity_windows: only RR_irregularity reads the longer span; with two spans, a
    // channel each.
    const cd::Sample l = longer->get(static_cast<int64_t>(i));
    EXPECT_TRUE(at::equal(l.signal.narrow(0, 0, 4), s.signal.narrow(0, 0, 4))) << "beat " << i;
    EXPECT_NEAR(l.signal[4][0].item<double>(), irregularity(12), 1e-4) << "beat " << i;
    const cd::Sample b = both->get(static_cast<int64_t>(i));
    EXPECT_TRUE(at::equal(b.signal.narrow(0, 0, 5), s.signal)) << "beat " << i;
    EXPECT_TRUE(at::equal(b.signal[5], l.signal[4])) << "beat " << i;
    if (i == 10) {
      EXPECT_NE(irregularity(12), irregularity(3));  // the check can tell them apart
    }
  }
  // The ECG lead itself is the plain window.
  auto plain = build("{name: mitdb, root: " + root + ", records: [101], leads: [MLII]}");
  EXPECT_TRUE(at::equal(plain->get(10).signal[0], ds->get(10).signal[0]));
  EXPECT_THROW(build("{name: mitdb, root: " + root + ", rr_window: 0}"), ct::ConfigError);
  for (const char* bad : {"[0]", "[-1]", "[3, 3]"})
    EXPECT_THROW(build("{name: mitdb, root: " + root + ", rr_features: true, rr_irregularity_windows: " + bad + "}"),
                 ct::ConfigError)
        << bad;
}

// rr_irregularity_lags: bigeminy (intervals alternating 0.6 / 1.0 s) has large successive
// differences but repeats at lag 2; an irregular rhythm does not repeat at any lag.
TEST(DataAdapters, MitdbRrIrregularityLagsReadRepeatingEctopyAsRegular) {
  cd::MitdbOptions o;
  o.root = "unused";
  o.rr_features = true;
  o.rr_window = 6;
  std::vector<int64_t> bigeminy{0}, irregular{0};
  const std::vector<double> pattern{0.61, 0.93, 0.72, 1.12, 0.55, 0.87, 1.03, 0.66, 0.79, 0.98};
  for (int k = 0; k < 40; ++k) {
    bigeminy.push_back(bigeminy.back() + (k % 2 ? 360 : 216));
    irregular.push_back(irregular.back() + static_cast<int64_t>(360 * pattern[k % pattern.size()]));
  }
  auto irregularity = [&](const std::vector<int64_t>& peaks, int64_t lags) {
    o.rr_irregularity_lags = {lags};
    return cd::mitdb_rr_context(peaks, 360, o)[20][3];  // a beat with full spans on both sides
  };
  EXPECT_NEAR(irregularity(bigeminy, 1), 0.4 / 0.8, 1e-9);  // |0.6 - 1.0| over the mean 0.8
  EXPECT_NEAR(irregularity(bigeminy, 2), 0.0, 1e-9);
  EXPECT_NEAR(irregularity(bigeminy, 3), 0.0, 1e-9);
  EXPECT_GT(irregularity(irregular, 1), 0.2);
  EXPECT_GT(irregularity(irregular, 3), 0.05);
  EXPECT_LE(irregularity(irregular, 3), irregularity(irregular, 1));  // a min over more lags

  // A list: one channel per span and lag, spans outer, each equal to the single-lag value.
  o.rr_irregularity_windows = {6, 12};
  o.rr_irregularity_lags = {1, 3};
  EXPECT_EQ(cd::mitdb_rr_channels(o),
            (std::vector<std::string>{"RR_pre", "RR_post", "RR_local", "RR_irregularity", "RR_irregularity_lag3",
                                      "RR_irregularity_12", "RR_irregularity_12_lag3"}));
  const auto both = cd::mitdb_rr_context(bigeminy, 360, o)[20];
  ASSERT_EQ(both.size(), 7u);
  EXPECT_NEAR(both[3], 0.5, 1e-9);  // span 6, lag 1: bigeminy is irregular
  EXPECT_NEAR(both[4], 0.0, 1e-9);  // span 6, lags 1-3: it repeats
  const auto pair = cd::mitdb_rr_context(irregular, 360, o)[20];
  for (int64_t lag : {1, 3}) {
    cd::MitdbOptions one = o;
    one.rr_irregularity_lags = {lag};
    const auto single = cd::mitdb_rr_context(irregular, 360, one)[20];
    EXPECT_EQ(single[3], pair[lag == 1 ? 3 : 4]) << lag;  // span 6
    EXPECT_EQ(single[4], pair[lag == 1 ? 5 : 6]) << lag;  // span 12
  }
  // Checkpoints from before the list form store a scalar; it reads as a list of one.
  EXPECT_EQ(ct::from_config<cd::MitdbOptions>(ct::ConfigNode::parse("{root: r, rr_irregularity_lags: 3}"))
                .rr_irregularity_lags,
            (std::vector<int64_t>{3}));
  EXPECT_EQ(ct::from_config<cd::MitdbOptions>(ct::ConfigNode::parse("{root: r}")).rr_irregularity_lags,
            (std::vector<int64_t>{1}));
  for (const std::vector<int64_t>& bad : {std::vector<int64_t>{0}, {}, {1, 1}, {3, -1}}) {
    o.rr_irregularity_lags = bad;
    EXPECT_THROW(o.validate(), ct::ConfigError) << "lags " << ::testing::PrintToString(bad);
  }
}

// rr_reference: three more channels, the beat's intervals over the mean (or median) RR of the
// intervals ending within +-rr_reference seconds, recomputed here from the annotation file.
TEST(DataAdapters, MitdbRrReferenceChannelsUseTheAverageRrAroundTheBeat) {
  CT_REQUIRE_SHARED("mitdb/209.atr");
  const std::string root = ct::test::shared_data("mitdb");
  // 209 has runs of supraventricular tachycardia: premature against the usual rhythm, not
  // against the run's own local mean.
  const std::string base =
      "{name: mitdb, root: " + root + ", records: [209], leads: [MLII], rr_features: true, rr_window: 3";
  auto mean = build(base + ", rr_reference: 60, rr_reference_average: mean}");
  auto median = build(base + ", rr_reference: 60}");
  auto p75 = build(base + ", rr_reference: 60, rr_reference_average: p75}");
  EXPECT_EQ(mean->info().leads, (std::vector<std::string>{"MLII", "RR_pre", "RR_post", "RR_local", "RR_irregularity",
                                                          "RR_pre_ref", "RR_post_ref", "RR_local_ref"}));
  std::vector<int64_t> peaks;
  for (const auto& a : ct::io::read_annotations(root + "/209", "atr").annotations)
    if (cd::aami_index(a.symbol) >= 0) peaks.push_back(a.sample);
  ASSERT_EQ(static_cast<int64_t>(peaks.size()), mean->size());
  const size_t n = peaks.size() - 1;  // intervals
  auto rr = [&](size_t k) { return static_cast<double>(peaks[k + 1] - peaks[k]) / 360.0; };
  auto span = [&](size_t i) {
    std::vector<double> v;
    for (size_t k = 0; k < n; ++k)
      if (std::abs(static_cast<double>(peaks[k + 1] - peaks[i])) <= 60 * 360) v.push_back(rr(k));
    std::sort(v.begin(), v.end());
    return v;
  };
  // Beats at both ends (a one-sided span) and the first S beat of the record.
  size_t first_s = 0;
  while (first_s < n && mean->get(static_cast<int64_t>(first_s)).label.item<int64_t>() != 1) ++first_s;
  ASSERT_LT(first_s, n);
  for (size_t i : {size_t{0}, size_t{200}, first_s, n}) {
    const std::vector<double> v = span(i);
    double sum = 0;
    for (double x : v) sum += x;
    const size_t k75 = std::min(v.size() - 1, static_cast<size_t>(0.75 * static_cast<double>(v.size())));
    for (const auto& [ds, ref] : {std::pair{mean, sum / static_cast<double>(v.size())},
                                  std::pair{median, v[v.size() / 2]}, std::pair{p75, v[k75]}}) {
      const cd::Sample s = ds->get(static_cast<int64_t>(i));
      ASSERT_EQ(s.signal.size(0), 8);
      const double local = s.signal[3][0].item<double>();
      const double pre = i > 0 ? rr(i - 1) : rr(0), post = i < n ? rr(i) : rr(n - 1);
      const double expected[3] = {pre / ref, post / ref, local / ref};
      for (int c = 0; c < 3; ++c) {
        EXPECT_NEAR(s.signal[c + 5].min().item<double>(), expected[c], 1e-4) << "beat " << i << " channel " << c;
        EXPECT_NEAR(s.signal[c + 5].max().item<double>(), expected[c], 1e-4) << "beat " << i << " channel " << c;
      }
    }
  }
  // The first four RR channels are those without a reference.
  auto without = build(base + "}");
  EXPECT_TRUE(at::equal(without->get(static_cast<int64_t>(first_s)).signal,
                        mean->get(static_cast<int64_t>(first_s)).signal.narrow(0, 0, 5)));
  // The S beats of 209 are clearly premature against the reference (median below 0.8) while
  // their local ratio is not: the reason the channels exist.
  std::vector<double> pre_ref, pre_local;
  for (int64_t i = 0; i < mean->size(); ++i) {
    const cd::Sample s = mean->get(i);
    if (s.label.item<int64_t>() != 1) continue;
    pre_ref.push_back(s.signal[5][0].item<double>());
    pre_local.push_back(s.signal[1][0].item<double>());
  }
  ASSERT_GT(pre_ref.size(), 300u);
  std::sort(pre_ref.begin(), pre_ref.end());
  std::sort(pre_local.begin(), pre_local.end());
  EXPECT_LT(pre_ref[pre_ref.size() / 2], 0.8);
  EXPECT_GT(pre_local[pre_local.size() / 2], 0.8);
  EXPECT_THROW(build("{name: mitdb, root: " + root + ", rr_reference: 300}"), ct::ConfigError);  // no rr_features
  EXPECT_THROW(build("{name: mitdb, root: " + root + ", rr_features: true, rr_reference: -1}"), ct::ConfigError);
  for (const char* bad : {"mode", "p", "p0", "p100", "p7.5", "p-5", "P75", "p075x"})
    EXPECT_THROW(build(base + ", rr_reference: 60, rr_reference_average: " + bad + "}"), ct::ConfigError) << bad;
  EXPECT_DOUBLE_EQ(cd::mitdb_reference_quantile("p90"), 0.9);
  EXPECT_DOUBLE_EQ(cd::mitdb_reference_quantile("median"), 0.5);
  EXPECT_LT(cd::mitdb_reference_quantile("mean"), 0.0);
}

// template_diff: the lead minus the record's median beat, the median recomputed here over
// every beat window of the record.
TEST(DataAdapters, MitdbTemplateDiffSubtractsTheRecordsMedianBeat) {
  CT_REQUIRE_SHARED("mitdb/101.atr");
  const std::string root = ct::test::shared_data("mitdb");
  auto plain = build("{name: mitdb, root: " + root + ", records: [101], leads: [MLII]}");
  auto ds =
      build("{name: mitdb, root: " + root + ", records: [101], leads: [MLII], template_diff: true, rr_features: true}");
  EXPECT_EQ(ds->info().leads,
            (std::vector<std::string>{"MLII", "MLII-median", "RR_pre", "RR_post", "RR_local", "RR_irregularity"}));
  std::vector<at::Tensor> windows;
  for (int64_t i = 0; i < plain->size(); ++i) windows.push_back(plain->get(i).signal);
  const at::Tensor median = std::get<0>(at::stack(windows, 0).median(0));
  for (int64_t i : {int64_t{0}, int64_t{7}, plain->size() - 1}) {
    const cd::Sample s = ds->get(i);
    ASSERT_EQ(s.signal.sizes(), (std::vector<int64_t>{6, 252}));
    EXPECT_TRUE(at::equal(s.signal[0], windows[i][0]));
    EXPECT_TRUE(at::allclose(s.signal[1], windows[i][0] - median[0], 1e-6, 1e-6)) << "beat " << i;
  }
}

// predict cuts a beat model's inputs from a record no dataset indexed, through the windower the
// adapter registers: for every beat, the adapter's own item (window, record template, RR context
// with every channel of the shipped config), bit for bit.
TEST(DataAdapters, MitdbBeatWindowerCutsTheAdaptersItems) {
  CT_REQUIRE_SHARED("mitdb/101.atr");
  const std::string root = ct::test::shared_data("mitdb");
  const ct::ConfigNode node =
      ct::ConfigNode::parse("{name: mitdb, root: " + root +
                            ", records: [101], leads: [MLII], rr_features: true, rr_irregularity_windows: [20, 40], "
                            "rr_irregularity_lags: [1, 3], rr_reference: 300, template_diff: true}");
  auto ds = cd::build_dataset(node);
  ASSERT_TRUE(cd::beat_windower_registry().contains("mitdb"));
  EXPECT_FALSE(cd::beat_windower_registry().contains("cinc2017"));  // a record model
  auto w = cd::beat_windower_registry().build(node);
  EXPECT_EQ(w->annotator(), "atr");
  ct::io::ReadOptions ro;
  ro.channels = {"MLII"};
  const ct::io::Record rec = ct::io::read_record(root + "/101", ro);
  std::vector<int64_t> peaks;
  for (const auto& a : ct::io::read_annotations(root + "/101", "atr").annotations)
    if (cd::aami_index(a.symbol) >= 0) peaks.push_back(a.sample);
  ASSERT_EQ(static_cast<int64_t>(peaks.size()), ds->size());
  w->set_record(rec.signal, rec.fs, peaks, "101");
  for (int64_t i : {int64_t{0}, int64_t{1}, int64_t{7}, ds->size() / 2, ds->size() - 1}) {
    const at::Tensor item = ds->get(i).signal, cut = w->window(static_cast<size_t>(i));
    ASSERT_EQ(cut.sizes(), item.sizes()) << "beat " << i;
    EXPECT_TRUE(at::equal(cut, item)) << "beat " << i << ": " << (cut - item).abs().max();
  }
  // The RR context needs two beats; the error names the record.
  try {
    w->set_record(rec.signal, rec.fs, {peaks[0]}, "rec-x");
    ADD_FAILURE() << "one beat was accepted";
  } catch (const ct::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("rec-x: 1 beats"), std::string::npos) << e.what();
  }
  // A beat wholly outside the record has no window.
  w->set_record(rec.signal, rec.fs, {peaks[0], peaks[1], rec.signal.size(1) + 1000}, "101");
  EXPECT_TRUE(w->window(1).defined());
  EXPECT_FALSE(w->window(2).defined());
}

TEST(DataAdapters, LudbMasksAndWaveCounts) {
  CT_REQUIRE_SHARED("ludb/data/1.ii");
  const std::string root = ct::test::shared_data("ludb");
  auto ds = build("{name: ludb, root: " + root + "}");
  const auto& in = ds->info();
  EXPECT_EQ(ds->size(), 150);
  EXPECT_EQ(in.label_kind, cd::LabelKind::kMask);
  EXPECT_EQ(count_of(in, "P"), 1055);
  EXPECT_EQ(count_of(in, "QRS"), 1367);
  EXPECT_EQ(count_of(in, "T"), 1226);
  const cd::Sample s = ds->get(0);
  EXPECT_EQ(s.record_id, "1");
  EXPECT_EQ(s.signal.sizes(), (std::vector<int64_t>{12, 5000}));
  EXPECT_EQ(s.label.sizes(), (std::vector<int64_t>{3, 5000}));
  EXPECT_EQ(s.meta.at("sex"), "F");
  EXPECT_EQ(s.meta.at("age"), "51");
  EXPECT_NE(s.text.find("Rhythm: Sinus bradycardia."), std::string::npos) << s.text;
  // Masks agree with the annotation file: every QRS run starts at a '(' and ends at a ')'.
  const auto anns = ct::io::read_annotations(root + "/data/1", "ii");
  int64_t runs = 0;
  const at::Tensor q = s.label[1];
  for (int64_t k = 0; k < 5000; ++k)
    if (q[k].item<float>() > 0 && (k == 0 || q[k - 1].item<float>() <= 0)) ++runs;
  int64_t qrs = 0;
  for (const auto& a : anns.annotations) qrs += a.symbol == "N";
  EXPECT_EQ(runs, qrs);
  // P, QRS and T of one lead do not overlap.
  EXPECT_LE(s.label.sum(0).max().item<float>(), 1.0f);
  // Outside the annotated span (first to last annotation of the lead) every channel is -1;
  // inside it, 0 or 1.
  int64_t first = 5000, last = -1;
  for (const auto& a : anns.annotations) first = std::min(first, a.sample), last = std::max(last, a.sample);
  ASSERT_GT(first, 0);
  ASSERT_LT(last, 4999);
  EXPECT_TRUE(s.label.slice(1, 0, first).eq(-1).all().item<bool>());
  EXPECT_TRUE(s.label.slice(1, last + 1, 5000).eq(-1).all().item<bool>());
  EXPECT_TRUE(s.label.slice(1, first, last + 1).ge(0).all().item<bool>());
  EXPECT_EQ(s.label[1][first - 1].item<float>(), -1.0f);
  const at::Tensor bg = build("{name: ludb, root: " + root + ", unannotated: background, limit: 1}")->get(0).label;
  EXPECT_TRUE(bg.ge(0).all().item<bool>());
  EXPECT_TRUE(bg.eq(s.label.clamp_min(0)).all().item<bool>());
  EXPECT_THROW(build("{name: ludb, root: " + root + ", unannotated: zero}"), ct::ConfigError);
  auto all = build("{name: ludb, root: " + root + ", mask_lead: all, limit: 3}");
  EXPECT_EQ(all->size(), 3);
  EXPECT_GE(all->get(0).label.sum().item<float>(), s.label.sum().item<float>());
  EXPECT_THROW(build("{name: ludb, root: " + root + ", mask_lead: v7}"), ct::ConfigError);
}

TEST(DataAdapters, FolderManifestAndClassFolders) {
  CT_REQUIRE_SHARED("cinc2017/A00001.hea");
  namespace fs = std::filesystem;
  const auto dir = ct::test::make_temp_dir("folder_ds");
  const std::vector<std::pair<std::string, std::string>> recs = {
      {"A00001", "normal"}, {"A00004", "af"}, {"A00002", "normal"}};
  for (const auto& [r, cls] : recs)
    for (const char* ext : {".hea", ".mat"}) {
      fs::create_directories(dir + "/" + cls);
      fs::copy_file(ct::test::shared_data("cinc2017/" + r + ext), dir + "/" + cls + "/" + r + ext);
    }
  ct::test::write_file(dir + "/labels.csv",
                       "path,label,patient_id\n"
                       "normal/A00001.hea,normal,\"p,1\"\n"
                       "af/A00004.hea,af,p2\n"
                       "normal/A00002,normal,p2\n");
  auto m = build("{name: folder, root: " + dir + ", manifest: labels.csv}");
  EXPECT_EQ(m->size(), 3);
  EXPECT_EQ(m->info().class_names, (std::vector<std::string>{"af", "normal"}));
  EXPECT_EQ(m->item(0).patient_id, "p,1");
  EXPECT_EQ(m->item(0).record_id, "normal/A00001");
  const cd::Sample s = m->get(1);
  EXPECT_EQ(s.label.item<int64_t>(), 0);
  EXPECT_EQ(s.fs, 300);
  auto ref = build("{name: cinc2017, root: " + ct::test::shared_data("cinc2017") + ", limit: 4}");
  EXPECT_TRUE(at::equal(s.signal, ref->get(3).signal));

  auto f = build("{name: folder, root: " + dir + ", classes: [normal, af]}");
  EXPECT_EQ(f->size(), 3);
  EXPECT_EQ(f->info().label_counts, (std::vector<int64_t>{2, 1}));

  ct::test::write_file(dir + "/bad.csv",
                       "path,label\nnormal/A00001.hea,normal\nnowhere/X.hea,af\nnormal/A00002.hea,cat\n");
  auto b = build("{name: folder, root: " + dir + ", manifest: bad.csv, classes: [normal, af], on_error: skip}");
  EXPECT_EQ(b->size(), 1);
  EXPECT_EQ(b->info().n_skipped, 2);
  EXPECT_THROW(build("{name: folder, root: " + dir + ", manifest: bad.csv, classes: [normal, af]}"), ct::DataError);
}

TEST(DataAdapters, DetectAndOpenByLayout) {
  CT_REQUIRE_SHARED("mitdb/101.atr");
  const std::map<std::string, std::string> expect = {
      {"ptbxl", "ptbxl"},       {"cinc2017", "cinc2017"},         {"mitdb", "mitdb"}, {"ludb", "ludb"},
      {"cinc2021", "cinc2021"}, {"cinc2020-samples", "cinc2020"}, {"cpsc2019", ""},   {"cpsc2021", ""}};
  for (const auto& [dir, name] : expect) EXPECT_EQ(cd::detect_dataset(ct::test::shared_data(dir)), name) << dir;
  EXPECT_EQ(cd::detect_dataset(ct::test::source_path("data/sample/cinc2021")), "cinc2021");
  auto ds = cd::open_dataset(ct::test::shared_data("cinc2017"));
  EXPECT_EQ(ds->size(), 1028);
  EXPECT_NE(cd::summarize(*ds).find("N     595"), std::string::npos) << cd::summarize(*ds);
  EXPECT_THROW(cd::open_dataset(ct::test::shared_data("cpsc2019")), ct::ConfigError);
}

TEST(DataAdapters, PtbxlPatientKFoldIsStratified) {
  CT_REQUIRE_SHARED("ptbxl/ptbxl_database.csv");
  auto ds = build("{name: ptbxl, root: " + ct::test::shared_data("ptbxl") + "}");
  auto folds = cd::kfold(*ds, 5, 123);
  std::map<std::string, size_t> owner;
  for (size_t f = 0; f < folds.size(); ++f)
    for (int64_t i : folds[f]) {
      auto [it, fresh] = owner.emplace(ds->item(i).patient_id, f);
      EXPECT_EQ(it->second, f) << "patient " << ds->item(i).patient_id;
    }
  EXPECT_GT(owner.size(), 300u);
  for (size_t c = 0; c < ds->info().class_names.size(); ++c) {
    const double target = ds->info().label_counts[c] / 5.0;
    for (const auto& f : folds) {
      int64_t n = 0;
      for (int64_t i : f) {
        const auto& cls = ds->item(i).classes;
        n += std::count(cls.begin(), cls.end(), static_cast<int64_t>(c));
      }
      EXPECT_NEAR(n, target, 2 + 0.1 * target) << ds->info().class_names[c];
    }
  }
}

TEST(DataMitdb, AnnotationTimeResolutionIsApplied) {
  // 101's beats rewritten at 720 ticks/s (twice the record's rate) with a "## time resolution"
  // header: the adapter puts them back on the record's samples, so items and windows are unchanged.
  CT_REQUIRE_SHARED("mitdb/101.atr");
  const std::string src = ct::test::shared_data("mitdb");
  const std::string dir = ct::test::make_temp_dir("mitdb_timeres");
  for (const char* f : {"101.hea", "101.dat"}) std::filesystem::copy_file(src + "/" + f, dir + "/" + f);
  ct::io::AnnotationSet orig = ct::io::read_annotations(src + "/101", "atr");
  std::vector<ct::io::Annotation> ticks = orig.annotations;
  for (auto& a : ticks) a.sample *= 2;
  ct::io::write_annotations(dir + "/101.atr", ticks, orig.definitions, 720.0);
  auto want = build("{name: mitdb, root: " + src + ", records: [101]}");
  auto got = build("{name: mitdb, root: " + dir + ", records: [101]}");
  ASSERT_EQ(got->size(), want->size());
  for (int64_t i = 0; i < got->size(); i += 97) EXPECT_EQ(got->item(i).record_id, want->item(i).record_id);
  EXPECT_TRUE(at::equal(got->get(10).signal, want->get(10).signal));
}
