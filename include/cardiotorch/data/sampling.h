#pragma once
// Class-balanced sampling: which items an epoch draws when every class should be seen about
// equally often (single-label data with rare classes, e.g. MIT-BIH F and Q beats).
#include <cstdint>
#include <vector>

#include "cardiotorch/data/dataset.h"

namespace cardiotorch::data {

/// |items| draws with replacement from `items` (dataset indices), each with probability
/// proportional to 1 / (number of `items` of its first class); items without a class are never
/// drawn. The draw is a function of (seed, epoch) alone (the same on every machine and after a
/// resume), returned sorted (the loader shuffles).
std::vector<int64_t> class_balanced_draw(const Dataset& ds, const std::vector<int64_t>& items, uint64_t seed,
                                         int64_t epoch);

}  // namespace cardiotorch::data
