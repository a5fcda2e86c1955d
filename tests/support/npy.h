#pragma once
// Minimal .npy reader for test fixtures: little-endian float32/float64 (and int16/int32/int64),
// C order, NumPy format versions 1.0-3.0. Throws cardiotorch::DataError on anything else.
#include <ATen/core/Tensor.h>

#include <string>

namespace cardiotorch::test {

/// Loads an .npy file into a CPU tensor of the stored dtype and shape.
at::Tensor load_npy(const std::string& path);

}  // namespace cardiotorch::test
