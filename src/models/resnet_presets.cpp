// torch_ecg's ResNet-family and RegNet configs (model_configs/cnn/resnet.py, regnet.py) as
// named presets, at fs 500 like ECG_CRNN_CONFIG.cnn. Output shapes and parameter counts equal
// torch_ecg's (tests/models/resnet_test.cpp checks them against torch_ecg.md §1.4).
#include "cardiotorch/models/resnet.h"

namespace cardiotorch::models {
namespace {

// Attention configs of torch_ecg's model_configs/attn.py. The nodes are resolved against the
// block registry when read or built (not here: registration order across files is unknown).
BlockConfig attn(const char* yaml) {
  BlockConfig c;
  c.node = ConfigNode::parse(yaml, "resnet preset");
  return c;
}
BlockConfig se() { return attn("{name: se, reduction: 8, activation: relu, bias: true, dropouts: 0.0}"); }
BlockConfig gc() { return attn("{name: gc, ratio: 4, reduction: true, pooling_type: attn, fusion_types: [mul]}"); }
BlockConfig nl() {
  return attn(
      "{name: nl, mid_channels: 0, filter_lengths: {g: 1, theta: 1, phi: 1, W: 1}, subsample_length: 2, "
      "batch_norm: true}");
}

// resnet_block_basic / resnet_bottle_neck(_B) (he_normal, relu, no bias, conv shortcut).
ResNetBlockOptions basic_block(BlockConfig a = {}) {
  ResNetBlockOptions b;
  b.attn = std::move(a);
  return b;
}
ResNetBlockOptions bottleneck_B(BlockConfig a = {}) {
  ResNetBlockOptions b;
  b.expansion = 4;
  b.subsample_at = 1;
  b.attn = std::move(a);
  return b;
}

ConfigNode yaml(const char* text) { return ConfigNode::parse(text, "resnet preset"); }

// resnet_vanilla_common: stem 64 x 25 / 2, max pool 3 / 2, kernels 15, strides [1, 2, 2, 2].
ResNetOptions vanilla(std::vector<int64_t> num_blocks, bool bottleneck) {
  ResNetOptions o;
  o.num_blocks = std::move(num_blocks);
  o.filter_lengths = yaml("15");
  o.subsample_lengths = yaml("[1, 2, 2, 2]");
  o.stem = ResNetStemOptions{};
  if (bottleneck) {
    o.building_block = {"bottleneck"};
    o.block = {bottleneck_B()};
    o.base_width = 64;
  } else {
    o.building_block = {"basic"};
    o.block = {basic_block()};
  }
  return o;
}

ResNetOptions nature_comm_base() {
  ResNetOptions o = vanilla({1, 1, 1, 1}, false);
  o.stem.filter_lengths = {17};  // 16 in the paper, made odd
  o.stem.conv_stride = 1;
  o.stem.pool_stride = 1;  // no stem pooling
  o.filter_lengths = yaml("17");
  o.dropouts = {0.2};
  o.subsample_lengths = yaml("[4, 4, 4, 4]");
  o.num_filters = {128, 192, 256, 320};
  return o;
}

ResNetOptions nature_comm_bottleneck(BlockConfig a = {}) {
  ResNetOptions o = nature_comm_base();
  o.building_block = {"bottleneck"};
  o.block = {bottleneck_B(std::move(a))};
  return o;
}

// tresnet_common: space-to-depth stem, [basic+SE, basic+SE, bottleneck+SE, bottleneck], blur
// shortcuts (filter 7), anti-aliased convolutions, leaky ReLU. torch_ecg also sets block-level
// `reduction: 4` (stages 0, 1) and `pos: 2` (stage 2), which its blocks ignore: the values in
// effect are SE reduction 8 at the end of the block, kept here.
ResNetOptions tresnet(int64_t stem_width, std::vector<int64_t> num_blocks, const char* filter_lengths,
                      const char* conv_type = "aa") {
  ResNetOptions o;
  o.num_blocks = std::move(num_blocks);
  o.filter_lengths = yaml(filter_lengths);
  o.subsample_lengths = yaml("[1, 2, 2, 2]");
  o.activation = "leaky";
  o.stem.subsample_mode = "s2d";
  o.stem.num_filters = {stem_width};
  o.stem.filter_lengths = {1};
  o.stem.conv_stride = 1;
  o.stem.pool_size = 1;
  o.stem.pool_stride = 1;
  o.building_block = {"basic", "basic", "bottleneck", "bottleneck"};
  o.block = {basic_block(se()), basic_block(se()), bottleneck_B(se()), bottleneck_B()};
  for (auto& b : o.block) {
    b.activation = "leaky";
    b.subsample_mode = "blur";
    b.filt_size = 7;
    b.conv_type = conv_type;
  }
  return o;
}

}  // namespace

ResNetOptions ResNetOptions::resnet_18() { return vanilla({2, 2, 2, 2}, false); }
ResNetOptions ResNetOptions::resnet_34() { return vanilla({3, 4, 6, 3}, false); }
ResNetOptions ResNetOptions::resnet_50() { return vanilla({3, 4, 6, 3}, true); }
ResNetOptions ResNetOptions::resnet_101() {
  ResNetOptions o = vanilla({3, 4, 23, 3}, true);
  o.filter_lengths = yaml("11");
  return o;
}
ResNetOptions ResNetOptions::resnet_152() {
  ResNetOptions o = resnet_101();
  o.num_blocks = {3, 8, 36, 3};
  return o;
}
// torch_ecg derives resnext_vanilla_50_32x4d from resnet_vanilla_152, so its kernels are 11.
ResNetOptions ResNetOptions::resnext_50_32x4d() {
  ResNetOptions o = resnet_152();
  o.num_blocks = {3, 4, 6, 3};
  o.groups = 32;
  o.base_groups = 1;
  o.base_width = 4;
  return o;
}
ResNetOptions ResNetOptions::resnext_101_32x8d() {
  ResNetOptions o = resnext_50_32x4d();
  o.num_blocks = {3, 4, 23, 3};
  o.base_width = 8;
  return o;
}
ResNetOptions ResNetOptions::resnet_wide_50_2() {
  ResNetOptions o = resnet_50();
  o.base_width = 128;
  return o;
}
ResNetOptions ResNetOptions::resnet_wide_101_2() {
  ResNetOptions o = resnet_101();
  o.base_width = 128;
  return o;
}

ResNetOptions ResNetOptions::resnetN() {
  ResNetOptions o = resnet_18();
  o.num_blocks = {1, 1, 1, 1};
  o.filter_lengths = yaml("[19, 15, 11, 7]");
  return o;
}
ResNetOptions ResNetOptions::resnetNB() {
  ResNetOptions o = resnetN();
  o.building_block = {"bottleneck"};
  o.block = {bottleneck_B()};
  return o;
}
ResNetOptions ResNetOptions::resnetNS() {
  ResNetOptions o = resnetN();
  o.block[0].conv_type = "separable";
  return o;
}
ResNetOptions ResNetOptions::resnetNBS() {
  ResNetOptions o = resnetNB();
  o.block[0].conv_type = "separable";
  return o;
}

ResNetOptions ResNetOptions::resnet_nature_comm() {
  ResNetOptions o = nature_comm_base();
  o.block[0].subsample_mode = "max";
  return o;
}
// The attention variants replace the whole block config, so their shortcut subsamples by conv.
ResNetOptions ResNetOptions::resnet_nature_comm_se() {
  ResNetOptions o = nature_comm_base();
  o.block = {basic_block(se())};
  return o;
}
ResNetOptions ResNetOptions::resnet_nature_comm_gc() {
  ResNetOptions o = nature_comm_base();
  o.block = {basic_block(gc())};
  return o;
}
ResNetOptions ResNetOptions::resnet_nature_comm_nl() {
  ResNetOptions o = nature_comm_base();
  o.block = {basic_block(nl())};
  return o;
}
ResNetOptions ResNetOptions::resnet_nature_comm_bottle_neck() { return nature_comm_bottleneck(); }
ResNetOptions ResNetOptions::resnet_nature_comm_bottle_neck_se() { return nature_comm_bottleneck(se()); }
ResNetOptions ResNetOptions::resnet_nature_comm_bottle_neck_gc() { return nature_comm_bottleneck(gc()); }
ResNetOptions ResNetOptions::resnet_nature_comm_bottle_neck_nl() { return nature_comm_bottleneck(nl()); }

ResNetOptions ResNetOptions::tresnetF() { return tresnet(32, {1, 1, 1, 1}, "17", "separable"); }
ResNetOptions ResNetOptions::tresnetP() { return tresnet(56, {1, 1, 1, 1}, "17"); }
ResNetOptions ResNetOptions::tresnetN() { return tresnet(56, {2, 2, 2, 2}, "15"); }
ResNetOptions ResNetOptions::tresnetS() { return tresnet(56, {3, 4, 6, 3}, "13"); }
ResNetOptions ResNetOptions::tresnetM() { return tresnet(64, {3, 4, 11, 3}, "11"); }
ResNetOptions ResNetOptions::tresnetL() { return tresnet(76, {4, 5, 18, 3}, "[11, 11, 9, 7]"); }
ResNetOptions ResNetOptions::tresnetXL() { return tresnet(84, {4, 5, 24, 3}, "[11, 9, 9, 7]"); }
// torch_ecg's tresnetM_V2 replaces the blocks by plain bottleneck configs (relu, conv
// shortcuts, plain convolutions); its `pos: 2` is ignored as above.
ResNetOptions ResNetOptions::tresnetM_V2() {
  ResNetOptions o = tresnetM();
  o.building_block = {"bottleneck"};
  o.block = {bottleneck_B(se()), bottleneck_B(se()), bottleneck_B(se()), bottleneck_B()};
  return o;
}

// resnet_cpsc2018: basic blocks with per-block kernels, stem 48 x 15.
ResNetOptions ResNetOptions::resnet_cpsc2018() {
  ResNetOptions o = vanilla({3, 4, 6, 3}, false);
  o.filter_lengths = yaml("[[5, 5, 25], [5, 5, 5, 25], [5, 5, 5, 5, 5, 25], [5, 5, 49]]");
  o.stem.num_filters = {48};
  o.stem.filter_lengths = {15};
  return o;
}
// resnet_leadwise = torch_ecg's resnet_cpsc2018_leadwise: groups 12, stem 96 (the stem itself
// is not grouped: it uses base_groups).
ResNetOptions ResNetOptions::resnet_leadwise() {
  ResNetOptions o = resnet_cpsc2018();
  o.groups = 12;
  o.stem.num_filters = {96};
  return o;
}

// resnet_stanford (Hannun et al. 2019): 4 x 2 basic blocks, kernels 17, stem 72 x 17, block
// dropout 0.2 (on every block here; torch_ecg's reached only the first, see resnet.h).
ResNetOptions ResNetOptions::resnet_stanford() {
  ResNetOptions o = vanilla({2, 2, 2, 2}, false);
  o.subsample_lengths = yaml("2");
  o.filter_lengths = yaml("17");
  o.stem.num_filters = {72};
  o.stem.filter_lengths = {17};
  o.block[0].dropout = 0.2;
  return o;
}

// --- RegNet ---------------------------------------------------------------------------------

namespace {
RegNetOptions regnet_generated(int64_t tot_blocks, int64_t group_width, double w_a, double w_0, double w_m) {
  RegNetOptions o;
  o.filter_lengths = {11};
  o.subsample_lengths = {2};
  o.tot_blocks = tot_blocks;
  o.group_widths = {group_width};
  o.w_a = w_a;
  o.w_0 = w_0;
  o.w_m = w_m;
  o.block = bottleneck_B(se());
  o.block.expansion = 1;
  return o;
}
}  // namespace

RegNetOptions RegNetOptions::regnet_16_8() { return regnet_generated(16, 8, 27.89, 48, 2.09); }
RegNetOptions RegNetOptions::regnet_27_24() { return regnet_generated(27, 24, 20.71, 48, 2.65); }
RegNetOptions RegNetOptions::regnet_23_168() { return regnet_generated(23, 168, 69.86, 320, 2.0); }
RegNetOptions RegNetOptions::regnet_S() {
  RegNetOptions o;
  o.tot_blocks = 0;
  o.num_blocks = {2, 2, 2, 2};
  o.filter_lengths = {13, 11, 7, 5};
  o.subsample_lengths = {2, 2, 2, 2};
  o.num_filters = {32, 64, 128, 256};
  o.group_widths = {8, 16, 32, 64};
  o.block = bottleneck_B(se());
  o.block.expansion = 4;
  return o;
}

// --- registrations --------------------------------------------------------------------------

namespace {
ModelPtr make_resnet(const ResNetOptions& o, const ModelContext& c) { return std::make_shared<ResNetImpl>(o, c); }
ModelPtr make_regnet(const RegNetOptions& o, const ModelContext& c) { return std::make_shared<RegNetImpl>(o, c); }
auto resnet(ResNetOptions preset) { return options_factory<ModelImpl, ResNetOptions>(make_resnet, std::move(preset)); }
auto regnet(RegNetOptions preset) { return options_factory<ModelImpl, RegNetOptions>(make_regnet, std::move(preset)); }
}  // namespace

#define CT_RESNET(NAME, HELP) CT_REGISTER(backbone_registry(), #NAME, (resnet(ResNetOptions::NAME())), HELP)
CT_REGISTER(backbone_registry(), "resnet", (resnet(ResNetOptions::resnet_18())),
            "1-D ResNet family (torch_ecg ResNet); defaults = resnet_18, every key configurable")
CT_RESNET(resnet_18, "ResNet-18 (1-D, kernels 15, torch_ecg resnet_vanilla_18)")
CT_RESNET(resnet_34, "ResNet-34 (1-D, torch_ecg resnet_vanilla_34)")
CT_RESNET(resnet_50, "ResNet-50, bottleneck-B blocks (torch_ecg resnet_vanilla_50)")
CT_RESNET(resnet_101, "ResNet-101, kernels 11 (torch_ecg resnet_vanilla_101)")
CT_RESNET(resnet_152, "ResNet-152, kernels 11 (torch_ecg resnet_vanilla_152)")
CT_RESNET(resnext_50_32x4d, "ResNeXt-50 32x4d (torch_ecg resnext_vanilla_50_32x4d)")
CT_RESNET(resnext_101_32x8d, "ResNeXt-101 32x8d (torch_ecg resnext_vanilla_101_32x8d)")
CT_RESNET(resnet_wide_50_2, "Wide ResNet-50-2 (torch_ecg resnet_vanilla_wide_50_2)")
CT_RESNET(resnet_wide_101_2, "Wide ResNet-101-2 (torch_ecg resnet_vanilla_wide_101_2)")
CT_RESNET(resnetN, "small ResNet: one basic block per stage, kernels 19/15/11/7")
CT_RESNET(resnetNB, "resnetN with bottleneck blocks")
CT_RESNET(resnetNS, "resnetN with separable convolutions")
CT_RESNET(resnetNBS, "resnetNB with separable convolutions")
CT_RESNET(resnet_nature_comm, "ResNet of Ribeiro et al., Nature Communications 2020 (torch_ecg)")
CT_RESNET(resnet_nature_comm_se, "resnet_nature_comm with squeeze-and-excitation")
CT_RESNET(resnet_nature_comm_gc, "resnet_nature_comm with global context blocks")
CT_RESNET(resnet_nature_comm_nl, "resnet_nature_comm with non-local blocks")
CT_RESNET(resnet_nature_comm_bottle_neck, "resnet_nature_comm with bottleneck-B blocks (ECG_CRNN's default CNN)")
CT_RESNET(resnet_nature_comm_bottle_neck_se, "resnet_nature_comm_bottle_neck with squeeze-and-excitation")
CT_RESNET(resnet_nature_comm_bottle_neck_gc, "resnet_nature_comm_bottle_neck with global context blocks")
CT_RESNET(resnet_nature_comm_bottle_neck_nl, "resnet_nature_comm_bottle_neck with non-local blocks")
CT_RESNET(tresnetF, "TResNet femto: space-to-depth stem, SE, separable convs, blur shortcuts")
CT_RESNET(tresnetP, "TResNet pico: anti-aliased convs")
CT_RESNET(tresnetN, "TResNet nano")
CT_RESNET(tresnetS, "TResNet small")
CT_RESNET(tresnetM, "TResNet medium")
CT_RESNET(tresnetL, "TResNet large")
CT_RESNET(tresnetXL, "TResNet extra large")
CT_RESNET(tresnetM_V2, "TResNet-M v2: bottleneck blocks throughout")
CT_RESNET(resnet_cpsc2018, "ResNet of the CPSC 2018 entry: per-block kernels, stem 48")
CT_RESNET(resnet_leadwise, "lead-wise (groups 12) resnet_cpsc2018 (torch_ecg resnet_cpsc2018_leadwise)")
CT_RESNET(resnet_stanford, "ResNet of Hannun et al., Nature Medicine 2019 (torch_ecg resnet_stanford)")
#undef CT_RESNET

CT_REGISTER(backbone_registry(), "regnet", (regnet(RegNetOptions::regnet_16_8())),
            "1-D RegNet (torch_ecg RegNet): generated or explicit widths; defaults = regnet_16_8")
CT_REGISTER(backbone_registry(), "regnet_16_8", (regnet(RegNetOptions::regnet_16_8())),
            "RegNet, 16 blocks, group width 8, SE bottlenecks (torch_ecg regnet_16_8)")
CT_REGISTER(backbone_registry(), "regnet_27_24", (regnet(RegNetOptions::regnet_27_24())),
            "RegNet, 27 blocks, group width 24 (torch_ecg regnet_27_24)")
CT_REGISTER(backbone_registry(), "regnet_23_168", (regnet(RegNetOptions::regnet_23_168())),
            "RegNet, 23 blocks, group width 168, 105 M parameters (torch_ecg regnet_23_168)")
CT_REGISTER(backbone_registry(), "regnet_S", (regnet(RegNetOptions::regnet_S())),
            "RegNet with explicit widths [32, 64, 128, 256] x 4 (torch_ecg regnet_S)")

}  // namespace cardiotorch::models
