#include "cardiotorch/data/sampling.h"

#include <algorithm>
#include <map>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"

namespace cardiotorch::data {

std::vector<int64_t> class_balanced_draw(const Dataset& ds, const std::vector<int64_t>& items, uint64_t seed,
                                         int64_t epoch) {
  std::map<int64_t, int64_t> counts;
  for (int64_t i : items) {
    const auto& cl = ds.item(i).classes;
    if (!cl.empty()) ++counts[cl.front()];
  }
  CT_CHECK(!counts.empty(), DataError, "class-balanced sampling: none of the ", items.size(), " items has a class");
  std::vector<double> cum;
  cum.reserve(items.size());
  double total = 0;
  for (int64_t i : items) {
    const auto& cl = ds.item(i).classes;
    total += cl.empty() ? 0.0 : 1.0 / static_cast<double>(counts[cl.front()]);
    cum.push_back(total);
  }
  std::vector<int64_t> out;
  out.reserve(items.size());
  for (size_t j = 0; j < items.size(); ++j) {
    // 53 random bits of a stream keyed by (seed, epoch, draw): platform independent.
    const uint64_t r = derive_seed(seed, static_cast<uint64_t>(epoch), j, 0xBA1Au);
    const double u = static_cast<double>(r >> 11) * 0x1.0p-53 * total;
    const size_t k = static_cast<size_t>(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
    out.push_back(items[std::min(k, items.size() - 1)]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace cardiotorch::data
