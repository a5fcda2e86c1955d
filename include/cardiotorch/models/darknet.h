#pragma once
// 1-D DarkNet (YOLOv3's Darknet-53 backbone, Redmon & Farhadi 2018), a stub in torch_ecg
// (models/cnn/darknet.py raises NotImplementedError).
//
//   stem (ConvBnActivation) -> stage_<i>: down (strided ConvBnActivation doubling the width)
//   then num_blocks[i] residual blocks, each x + conv_2(conv_1(x)) where conv_1 is a 1x1
//   convolution to half the width and conv_2 a convolution back to the full width.
// Every convolution is conv -> BatchNorm -> leaky ReLU. The 2-D Darknet-53 has 3x3 kernels;
// here the kernel lengths are options given at base_fs (500 Hz), since an ECG beat spans
// hundreds of samples.
//
// Presets: darknet53 (stages [1, 2, 8, 8, 4], widths 64..1024, kernels 3 as in the paper's
// 3x3), darknet53_ecg (the same depth, widths 32..512 and kernels [15, 11, 7, 5, 3], for
// 12 x 5000 ECGs) and darknet21 (stages [1, 1, 2, 2, 1], widths 32..512).
// State dict: stem.{conv1d, batch_norm}, stage_<i>.down, stage_<i>.block_<j>.{conv_1, conv_2}.
// Capture points: stem, stage_<i>, stage_<i>.block_<j>.
#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/core/config.h"
#include "cardiotorch/models/staged_backbone.h"

namespace cardiotorch::models {

struct DarkNetOptions {
  int64_t stem_num_filters = 32;
  int64_t stem_filter_length = 3;
  std::vector<int64_t> num_blocks{1, 2, 8, 8, 4};
  std::vector<int64_t> num_filters{64, 128, 256, 512, 1024};
  std::vector<int64_t> filter_lengths{3};
  std::vector<int64_t> subsample_lengths{2};
  std::string activation = "leaky";
  std::string norm = "batch_norm";
  std::string kernel_initializer = "he_normal";
  double base_fs = 500.0;
  template <class V>
  void fields(V& v) {
    v("stem_num_filters", stem_num_filters, "width of the stem convolution");
    v("stem_filter_length", stem_filter_length, "kernel of the stem convolution at base_fs");
    v("num_blocks", num_blocks, "residual blocks of each stage");
    v("num_filters", num_filters, "width of each stage");
    v("filter_lengths", filter_lengths,
      "kernel of each stage's down and residual convolutions at base_fs (one or per stage)");
    v("subsample_lengths", subsample_lengths, "stride of each stage's down convolution (one or per stage)");
    v("activation", activation, "activation after every convolution");
    v("norm", norm, "normalisation after every convolution");
    v("kernel_initializer", kernel_initializer, "initialiser of the conv kernels");
    v("base_fs", base_fs, "sampling rate the kernel lengths are given at; 0 = never rescale");
  }
  void validate() const;

  static DarkNetOptions darknet53();
  static DarkNetOptions darknet53_ecg();
  static DarkNetOptions darknet21();
};

class DarkNetImpl : public StagedBackboneImpl {
 public:
  DarkNetImpl(const DarkNetOptions& options, const ModelContext& context);

 private:
  DarkNetOptions options_;
};

}  // namespace cardiotorch::models
