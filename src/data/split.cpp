#include "cardiotorch/data/split.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <limits>
#include <numeric>
#include <set>
#include <unordered_map>

#include "cardiotorch/core/runtime.h"

namespace cardiotorch::data {

namespace {

struct Group {
  std::vector<int64_t> items;
  std::map<int64_t, int64_t> counts;  // class -> items of this group with it
  int64_t rarity = std::numeric_limits<int64_t>::max();
};

}  // namespace

std::vector<std::vector<int64_t>> partition(const std::vector<std::string>& groups,
                                            const std::vector<std::vector<int64_t>>& classes, int64_t n_classes,
                                            const std::vector<double>& weights, uint64_t seed, bool stratify) {
  CT_CHECK(groups.size() == classes.size(), ArgumentError, "partition: ", groups.size(), " groups but ", classes.size(),
           " label lists");
  CT_CHECK(!weights.empty(), ArgumentError, "partition: no parts requested");
  double wsum = 0;
  for (double w : weights) {
    CT_CHECK(w >= 0, ArgumentError, "partition: part weights must be >= 0, got ", w);
    wsum += w;
  }
  CT_CHECK(wsum > 0, ArgumentError, "partition: part weights sum to 0");
  const size_t n_parts = weights.size();
  const int64_t n_items = static_cast<int64_t>(groups.size());

  // Groups in first-appearance order (independent of hash-map iteration order).
  std::vector<Group> gs;
  std::unordered_map<std::string, size_t> gidx;
  std::vector<int64_t> totals(static_cast<size_t>(std::max<int64_t>(n_classes, 0)), 0);
  for (int64_t i = 0; i < n_items; ++i) {
    auto [it, fresh] = gidx.emplace(groups[static_cast<size_t>(i)], gs.size());
    if (fresh) gs.emplace_back();
    Group& g = gs[it->second];
    g.items.push_back(i);
    for (int64_t c : classes[static_cast<size_t>(i)]) {
      CT_CHECK(c >= 0 && c < n_classes, ArgumentError, "partition: class ", c, " of item ", i, " out of range [0, ",
               n_classes, ")");
      ++g.counts[c];
      ++totals[static_cast<size_t>(c)];
    }
  }
  for (Group& g : gs)
    for (const auto& [c, k] : g.counts) g.rarity = std::min(g.rarity, totals[static_cast<size_t>(c)]);

  // Seeded shuffle, then rarest classes first and larger groups first (stable, so ties keep
  // the shuffled order).
  std::vector<size_t> order(gs.size());
  std::iota(order.begin(), order.end(), 0);
  uint64_t state = derive_seed(seed, 0x5011u);
  for (size_t i = order.size(); i > 1; --i) {
    state = derive_seed(state, i);
    std::swap(order[i - 1], order[static_cast<size_t>(state % i)]);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int64_t ra = stratify ? gs[a].rarity : 0, rb = stratify ? gs[b].rarity : 0;
    if (ra != rb) return ra < rb;
    return gs[a].items.size() > gs[b].items.size();
  });

  std::vector<double> share(n_parts);
  for (size_t p = 0; p < n_parts; ++p) share[p] = weights[p] / wsum;
  std::vector<std::vector<int64_t>> cnt(n_parts, std::vector<int64_t>(totals.size(), 0));
  std::vector<int64_t> size(n_parts, 0);
  std::vector<std::vector<int64_t>> out(n_parts);
  const double n_total = std::max<double>(1.0, static_cast<double>(n_items));
  for (size_t gi : order) {
    const Group& g = gs[gi];
    size_t best = n_parts;
    double best_label = 0, best_size = 0;
    for (size_t p = 0; p < n_parts; ++p) {
      if (share[p] <= 0) continue;
      // How much this part lacks the group's classes (relative to each class's total), and items overall.
      double label_deficit = 0;
      if (stratify)
        for (const auto& [c, k] : g.counts) {
          const double total = static_cast<double>(totals[static_cast<size_t>(c)]);
          label_deficit +=
              static_cast<double>(k) * (share[p] * total - static_cast<double>(cnt[p][static_cast<size_t>(c)])) / total;
        }
      const double size_deficit = (share[p] * n_total - static_cast<double>(size[p])) / n_total;
      const bool better = best == n_parts || label_deficit > best_label + 1e-12 ||
                          (std::abs(label_deficit - best_label) <= 1e-12 && size_deficit > best_size + 1e-12);
      if (better) {
        best = p;
        best_label = label_deficit;
        best_size = size_deficit;
      }
    }
    for (const auto& [c, k] : g.counts) cnt[best][static_cast<size_t>(c)] += k;
    size[best] += static_cast<int64_t>(g.items.size());
    out[best].insert(out[best].end(), g.items.begin(), g.items.end());
  }
  for (auto& part : out) std::sort(part.begin(), part.end());
  return out;
}

namespace {
void gather(const Dataset& ds, bool by_patient, std::vector<std::string>& groups,
            std::vector<std::vector<int64_t>>& classes) {
  groups.resize(static_cast<size_t>(ds.size()));
  classes.resize(static_cast<size_t>(ds.size()));
  for (int64_t i = 0; i < ds.size(); ++i) {
    const ItemInfo& it = ds.item(i);
    groups[static_cast<size_t>(i)] = by_patient ? it.group() : std::to_string(i);
    classes[static_cast<size_t>(i)] = it.classes;
  }
}
}  // namespace

std::vector<std::vector<int64_t>> kfold(const Dataset& ds, int64_t k, uint64_t seed, bool stratify, bool by_patient) {
  CT_CHECK(k >= 2, ConfigError, "kfold: k must be >= 2, got ", k);
  std::vector<std::string> groups;
  std::vector<std::vector<int64_t>> classes;
  gather(ds, by_patient, groups, classes);
  return partition(groups, classes, static_cast<int64_t>(ds.info().class_names.size()),
                   std::vector<double>(static_cast<size_t>(k), 1.0), seed, stratify);
}

std::vector<int64_t> select_folds(const Dataset& ds, const std::vector<std::string>& folds) {
  const std::set<std::string> want(folds.begin(), folds.end());
  std::vector<int64_t> out;
  for (int64_t i = 0; i < ds.size(); ++i)
    if (want.count(ds.item(i).fold)) out.push_back(i);
  return out;
}

void SplitOptions::validate() const {
  check_choice("method", method, {"fractions", "kfold", "named"});
  CT_CHECK(val >= 0 && test >= 0 && val + test < 1, ConfigError, "val and test must be >= 0 with val + test < 1, got ",
           val, " and ", test);
  CT_CHECK(k >= 2, ConfigError, "k must be >= 2, got ", k);
  CT_CHECK(fold >= 0 && fold < k, ConfigError, "fold must be in [0, k), got ", fold);
  CT_CHECK(val_fold < k && val_fold != fold, ConfigError, "val_fold must be -1 or another fold in [0, k), got ",
           val_fold);
}

Split make_split(const Dataset& ds, const SplitOptions& o) {
  o.validate();
  Split s;
  if (o.method == "named") {
    CT_CHECK(!o.val_folds.empty() || !o.test_folds.empty() || !o.train_folds.empty(), ConfigError,
             "split: method 'named' needs train_folds, val_folds or test_folds");
    std::set<std::string> named_fold_values;
    for (int64_t i = 0; i < ds.size(); ++i) named_fold_values.insert(ds.item(i).fold);
    auto check_exists = [&](const std::vector<std::string>& fs, const char* key) {
      std::vector<std::string> known;
      for (const auto& f : named_fold_values)
        if (!f.empty()) known.push_back(f);
      for (const auto& f : fs)
        CT_CHECK(named_fold_values.count(f), ConfigError, "split.", key, ": dataset ", ds.info().name, " has no fold '",
                 f, "'", did_you_mean(f, known), " (folds: ", join(known), ")");
    };
    check_exists(o.train_folds, "train_folds");
    check_exists(o.val_folds, "val_folds");
    check_exists(o.test_folds, "test_folds");
    s.val = select_folds(ds, o.val_folds);
    s.test = select_folds(ds, o.test_folds);
    if (!o.train_folds.empty()) {
      s.train = select_folds(ds, o.train_folds);
    } else {
      std::set<std::string> used(o.val_folds.begin(), o.val_folds.end());
      used.insert(o.test_folds.begin(), o.test_folds.end());
      for (int64_t i = 0; i < ds.size(); ++i)
        if (!used.count(ds.item(i).fold)) s.train.push_back(i);
    }
    return s;
  }
  std::vector<std::string> groups;
  std::vector<std::vector<int64_t>> classes;
  gather(ds, o.by_patient, groups, classes);
  const int64_t nc = static_cast<int64_t>(ds.info().class_names.size());
  if (o.method == "fractions") {
    auto parts = partition(groups, classes, nc, {1.0 - o.val - o.test, o.val, o.test}, o.seed, o.stratify);
    s.train = std::move(parts[0]);
    s.val = std::move(parts[1]);
    s.test = std::move(parts[2]);
    return s;
  }
  auto folds = partition(groups, classes, nc, std::vector<double>(static_cast<size_t>(o.k), 1.0), o.seed, o.stratify);
  for (int64_t f = 0; f < o.k; ++f) {
    auto& dst = f == o.fold ? s.test : f == o.val_fold ? s.val : s.train;
    dst.insert(dst.end(), folds[static_cast<size_t>(f)].begin(), folds[static_cast<size_t>(f)].end());
  }
  std::sort(s.train.begin(), s.train.end());
  return s;
}

}  // namespace cardiotorch::data
