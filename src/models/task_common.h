#pragma once
// Helpers shared by the task models (ECG_CRNN, U-Nets, ECG_FCN, RR_LSTM); not installed.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/models/model.h"

namespace cardiotorch::models::detail {

/// The number of classes of a head: the length of `classes` when given, else the build
/// context's. ConfigError naming both sources when neither gives one, or when they disagree.
int64_t resolve_num_classes(const std::vector<std::string>& classes, int64_t context_classes, const std::string& who);

/// ConfigError unless `pool` is max, avg or none (attn: torch_ecg's unimplemented attentive pooling).
void check_global_pool(const std::string& pool);
/// Adaptive max / avg pooling of (B, C, L) to (B, C * size) (channel-major, as torch_ecg's
/// "batch (channels pool_size)" rearrangement).
at::Tensor global_pool(const at::Tensor& x, const std::string& mode, int64_t size);

/// The backbone's feature map must be (B, C, L): ConfigError naming `who` for token models.
void check_feature_map_backbone(const ModelImpl& backbone, const std::string& who);

/// Sampling rate of a backbone's output map, from its length ratio at a probe length.
double output_fs(const ModelImpl& backbone, double fs);

/// (B, C, L) -> (B, C, size) by linear interpolation with align_corners (torch_ecg's
/// recover_length).
at::Tensor interpolate_linear(const at::Tensor& x, int64_t size);

}  // namespace cardiotorch::models::detail
