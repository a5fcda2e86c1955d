#pragma once
// Helpers shared by the ResNet and RegNet sources (not installed).
#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/resnet.h"

namespace cardiotorch::models::detail {

/// torch_ecg's granularity: one int for the net, one per stage, or one list per stage with one
/// value per block -> one value per block. `first_only`: a stage's single value goes to its
/// first block and the others get 1 (subsample_lengths). ConfigError naming `key` otherwise.
std::vector<std::vector<int64_t>> per_block_values(const ConfigNode& node, const std::string& key,
                                                   const std::vector<int64_t>& num_blocks, bool first_only);
/// ConfigError unless n is 1 or `stages`.
void check_stage_count(size_t n, size_t stages, const std::string& key);
/// Kernel `k` given at `base_fs` for an input at `fs` (unchanged when base_fs is 0 or equal).
int64_t kernel_at(int64_t k, double fs, double base_fs);
std::vector<int64_t> stem_kernels(const ResNetStemOptions& stem, double fs, double base_fs);

}  // namespace cardiotorch::models::detail
