#pragma once
// The start of the tiny experiment configs that train on the bundled real sample
// (data/sample/cinc2021, 50 twelve-lead records).
#include <cstdint>
#include <string>

#include "cardiotorch/core/error.h"
#include "support/test_util.h"

namespace cardiotorch::test {

/// `name`, output_dir <dir>/runs, `seed` and a data: section on data/sample/cinc2021 with a 20 %
/// validation split, no test split, the preprocessed cache in <dir>/cache and `loader` (a flow
/// map, e.g. "{batch_size: 8, crop: 256}"). The rest of the experiment follows it.
inline std::string sample_experiment_head(const std::string& name, const std::string& dir, int64_t seed,
                                          const std::string& loader) {
  return str_cat("name: ", name, "\noutput_dir: ", dir, "/runs\nseed: ", seed,
                 "\ndata:\n  dataset: {name: cinc2021, root: ", source_path("data/sample/cinc2021"),
                 "}\n  split: {val: 0.2, test: 0.0}\n  cache: {dir: ", dir,
                 "/cache, progress: false}\n  loader: ", loader, "\n");
}

}  // namespace cardiotorch::test
