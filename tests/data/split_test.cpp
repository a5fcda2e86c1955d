#include "cardiotorch/data/split.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "cardiotorch/core/runtime.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
namespace cd = cardiotorch::data;

namespace {

// 600 items from 150 patients (1-7 records each), 5 classes with skewed frequencies,
// multi-label for some items; signals are tiny (splits never decode).
std::shared_ptr<cd::InMemoryDataset> synthetic(int64_t n_patients = 150) {
  cd::DatasetInfo info;
  info.name = "synthetic";
  info.class_names = {"A", "B", "C", "D", "E"};
  info.label_kind = cd::LabelKind::kMultiHot;
  std::vector<cd::Sample> samples;
  std::vector<cd::ItemInfo> items;
  uint64_t s = 7;
  auto rnd = [&] {
    s = ct::derive_seed(s, 1);
    return s;
  };
  for (int64_t p = 0; p < n_patients; ++p) {
    const int64_t n = 1 + static_cast<int64_t>(rnd() % 7);
    // A patient tends to keep a class (as real patients do).
    const int64_t base = static_cast<int64_t>(rnd() % 100);
    for (int64_t r = 0; r < n; ++r) {
      cd::ItemInfo it;
      it.record_id = "p" + std::to_string(p) + "_" + std::to_string(r);
      it.patient_id = "p" + std::to_string(p);
      const int64_t c = base < 50 ? 0 : base < 75 ? 1 : base < 90 ? 2 : base < 97 ? 3 : 4;
      it.classes.push_back(c);
      if (rnd() % 5 == 0 && c != 1) it.classes.push_back(1);
      it.fold = std::to_string(p % 10 + 1);
      cd::Sample smp;
      smp.signal = at::zeros({1, 4});
      smp.record_id = it.record_id;
      samples.push_back(smp);
      items.push_back(it);
    }
  }
  return std::make_shared<cd::InMemoryDataset>(info, samples, items);
}

void expect_disjoint_patients(const cd::Dataset& ds, const std::vector<std::vector<int64_t>>& parts) {
  std::map<std::string, size_t> owner;
  for (size_t p = 0; p < parts.size(); ++p)
    for (int64_t i : parts[p]) {
      auto [it, fresh] = owner.emplace(ds.item(i).group(), p);
      EXPECT_EQ(it->second, p) << "patient " << ds.item(i).group() << " in parts " << it->second << " and " << p;
    }
}

void expect_exact_cover(const cd::Dataset& ds, const std::vector<std::vector<int64_t>>& parts) {
  std::vector<int> seen(static_cast<size_t>(ds.size()), 0);
  for (const auto& part : parts)
    for (int64_t i : part) ++seen[static_cast<size_t>(i)];
  for (int64_t i = 0; i < ds.size(); ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], 1) << "item " << i;
}

}  // namespace

TEST(DataSplit, KFoldPatientDisjointCoveringAndStratified) {
  auto ds = synthetic();
  const int64_t k = 5;
  auto folds = cd::kfold(*ds, k, /*seed=*/3);
  ASSERT_EQ(folds.size(), static_cast<size_t>(k));
  expect_exact_cover(*ds, folds);
  expect_disjoint_patients(*ds, folds);
  const auto& totals = ds->info().label_counts;
  for (size_t c = 0; c < totals.size(); ++c) {
    const double target = static_cast<double>(totals[c]) / k;
    for (const auto& f : folds) {
      int64_t n = 0;
      for (int64_t i : f)
        for (int64_t cc : ds->item(i).classes) n += cc == static_cast<int64_t>(c);
      // Whole patients (up to 7 records) move together, so allow a patient's worth plus 15 %.
      EXPECT_NEAR(static_cast<double>(n), target, 7 + 0.15 * target) << "class " << c;
    }
  }
  for (const auto& f : folds)
    EXPECT_NEAR(static_cast<double>(f.size()), ds->size() / double(k), 7 + 0.1 * ds->size() / k);
}

TEST(DataSplit, StratifiedBeatsUnstratifiedOnTheRareClass) {
  auto ds = synthetic();
  auto spread = [&](const std::vector<std::vector<int64_t>>& folds, int64_t c) {
    int64_t lo = 1 << 30, hi = 0;
    for (const auto& f : folds) {
      int64_t n = 0;
      for (int64_t i : f)
        for (int64_t cc : ds->item(i).classes) n += cc == c;
      lo = std::min(lo, n);
      hi = std::max(hi, n);
    }
    return hi - lo;
  };
  int64_t strat = 0, plain = 0;
  for (uint64_t seed = 0; seed < 5; ++seed) {
    strat += spread(cd::kfold(*ds, 5, seed, true), 4);
    plain += spread(cd::kfold(*ds, 5, seed, false), 4);
  }
  EXPECT_LT(strat, plain);
}

TEST(DataSplit, SameSeedSameSplitOtherSeedOtherSplit) {
  auto ds = synthetic();
  EXPECT_EQ(cd::kfold(*ds, 5, 11), cd::kfold(*ds, 5, 11));
  EXPECT_NE(cd::kfold(*ds, 5, 11), cd::kfold(*ds, 5, 12));
  cd::SplitOptions o;
  o.seed = 4;
  auto a = cd::make_split(*ds, o), b = cd::make_split(*ds, o);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.val, b.val);
  EXPECT_EQ(a.test, b.test);
}

TEST(DataSplit, FractionsRespectSharesAndPatients) {
  auto ds = synthetic();
  cd::SplitOptions o;
  o.val = 0.2;
  o.test = 0.1;
  auto s = cd::make_split(*ds, o);
  expect_exact_cover(*ds, {s.train, s.val, s.test});
  expect_disjoint_patients(*ds, {s.train, s.val, s.test});
  const double n = static_cast<double>(ds->size());
  EXPECT_NEAR(s.val.size(), 0.2 * n, 8);
  EXPECT_NEAR(s.test.size(), 0.1 * n, 8);
}

TEST(DataSplit, ByRecordWhenPatientGroupingOff) {
  auto ds = synthetic();
  auto folds = cd::kfold(*ds, 4, 1, true, /*by_patient=*/false);
  expect_exact_cover(*ds, folds);
  // Record-level folds are balanced to within one item per class pattern.
  for (const auto& f : folds) EXPECT_NEAR(static_cast<double>(f.size()), ds->size() / 4.0, 3);
}

TEST(DataSplit, KFoldOptionsPickTestAndValFolds) {
  auto ds = synthetic();
  auto folds = cd::kfold(*ds, 5, 9);
  cd::SplitOptions o;
  o.method = "kfold";
  o.k = 5;
  o.fold = 2;
  o.val_fold = 4;
  o.seed = 9;
  auto s = cd::make_split(*ds, o);
  EXPECT_EQ(s.test, folds[2]);
  EXPECT_EQ(s.val, folds[4]);
  EXPECT_EQ(s.train.size() + s.val.size() + s.test.size(), static_cast<size_t>(ds->size()));
}

TEST(DataSplit, NamedFolds) {
  auto ds = synthetic();
  cd::SplitOptions o;
  o.method = "named";
  o.val_folds = {"9"};
  o.test_folds = {"10"};
  auto s = cd::make_split(*ds, o);
  expect_exact_cover(*ds, {s.train, s.val, s.test});
  for (int64_t i : s.val) EXPECT_EQ(ds->item(i).fold, "9");
  for (int64_t i : s.test) EXPECT_EQ(ds->item(i).fold, "10");
  for (int64_t i : s.train) EXPECT_TRUE(ds->item(i).fold != "9" && ds->item(i).fold != "10");
  o.test_folds = {"11"};
  EXPECT_THROW(cd::make_split(*ds, o), ct::ConfigError);
}

TEST(DataSplit, OptionsFromConfigRejectUnknownKeys) {
  auto o = ct::from_config<cd::SplitOptions>(ct::ConfigNode::parse("{method: kfold, k: 10, fold: 3}"));
  EXPECT_EQ(o.k, 10);
  EXPECT_THROW(ct::from_config<cd::SplitOptions>(ct::ConfigNode::parse("{methd: kfold}")), ct::ConfigError);
  EXPECT_THROW(ct::from_config<cd::SplitOptions>(ct::ConfigNode::parse("{method: kfold, k: 3, fold: 3}")),
               ct::ConfigError);
}

TEST(DataSplit, SubsetViewsMapIndicesAndRecount) {
  auto ds = synthetic(20);
  auto folds = cd::kfold(*ds, 4, 0);
  cd::SubsetDataset sub(ds, folds[1]);
  ASSERT_EQ(sub.size(), static_cast<int64_t>(folds[1].size()));
  int64_t total = 0;
  for (int64_t i = 0; i < sub.size(); ++i) {
    EXPECT_EQ(sub.item(i).record_id, ds->item(folds[1][static_cast<size_t>(i)]).record_id);
    EXPECT_EQ(sub.get(i).record_id, sub.item(i).record_id);
    total += static_cast<int64_t>(sub.item(i).classes.size());
  }
  int64_t counted = 0;
  for (int64_t c : sub.info().label_counts) counted += c;
  EXPECT_EQ(counted, total);
  EXPECT_THROW(cd::SubsetDataset(ds, {ds->size()}), ct::IndexError);
}
