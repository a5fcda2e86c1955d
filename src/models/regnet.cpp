#include <ATen/ATen.h>

#include <cmath>
#include <map>

#include "cardiotorch/core/error.h"
#include "cardiotorch/models/resnet.h"
#include "models/resnet_detail.h"

namespace cardiotorch::models {
namespace {

template <class T>
const T& at_stage(const std::vector<T>& v, size_t i) {
  return v.size() == 1 ? v[0] : v[i];
}

// The width generator of Radosavovic et al. 2020 in torch_ecg's float32 arithmetic, op for op,
// so that rounding at the quantisation boundaries matches (w_j = w_0 * w_m^round(log((j w_a +
// w_0) / w_0) / log w_m), quantised to multiples of 8).
std::vector<int64_t> generated_widths(int64_t tot_blocks, double w_a, double w_0, double w_m) {
  constexpr double kQuant = 8.0;
  const at::Tensor cont = at::arange(tot_blocks, at::kLong) * w_a + w_0;
  const at::Tensor capacity = at::round(at::log(cont / w_0) / std::log(w_m));
  const at::Tensor widths = (at::round(at::pow(at::Scalar(w_m), capacity) * w_0 / kQuant) * kQuant).to(at::kInt);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < widths.numel(); ++i) out.push_back(widths[i].item<int>());
  return out;
}

}  // namespace

std::vector<RegNetStage> regnet_stages(const RegNetOptions& o) {
  std::vector<RegNetStage> stages;
  if (!o.num_blocks.empty()) {
    CT_CHECK(o.tot_blocks == 0, ConfigError,
             "give either num_blocks with num_filters (explicit widths) or tot_blocks, "
             "w_a, w_0, w_m (generated widths), not both: set tot_blocks: 0 to use num_blocks");
    CT_CHECK(o.num_filters.size() == o.num_blocks.size(), ConfigError, "num_filters gives ", o.num_filters.size(),
             " stages, but num_blocks has ", o.num_blocks.size());
    for (size_t i = 0; i < o.num_blocks.size(); ++i) {
      CT_CHECK(o.num_blocks[i] >= 1 && o.num_filters[i] >= 1, ConfigError, "num_blocks and num_filters must be >= 1, ",
               "got ", o.num_blocks[i], " and ", o.num_filters[i], " at stage ", i);
      stages.push_back({o.num_blocks[i], o.num_filters[i]});
    }
    return stages;
  }
  CT_CHECK(o.num_filters.empty(), ConfigError,
           "num_filters needs num_blocks (explicit widths); generated widths come "
           "from tot_blocks, w_a, w_0, w_m");
  CT_CHECK(o.tot_blocks >= 1, ConfigError, "tot_blocks must be >= 1 (or give num_blocks and num_filters), got ",
           o.tot_blocks);
  CT_CHECK(o.w_a >= 0 && o.w_0 > 0 && o.w_m > 1 && std::fmod(o.w_0, 8.0) == 0, ConfigError,
           "invalid RegNet width settings: need w_a >= 0, w_0 > 0 and a multiple of 8, w_m > 1; got w_a ", o.w_a,
           ", w_0 ", o.w_0, ", w_m ", o.w_m);
  std::map<int64_t, int64_t> count;  // width -> blocks, ascending widths = stage order
  for (int64_t w : generated_widths(o.tot_blocks, o.w_a, o.w_0, o.w_m)) ++count[w];
  for (const auto& kv : count) stages.push_back({kv.second, kv.first});
  return stages;
}

void RegNetOptions::validate() const {
  const size_t n = regnet_stages(*this).size();
  detail::check_stage_count(group_widths.size(), n, "group_widths");
  detail::check_stage_count(filter_lengths.size(), n, "filter_lengths");
  detail::check_stage_count(subsample_lengths.size(), n, "subsample_lengths");
  detail::check_stage_count(dropouts.size(), n, "dropouts");
  for (int64_t g : group_widths) CT_CHECK(g >= 1, ConfigError, "group_widths must be >= 1, got ", g);
  for (int64_t k : filter_lengths) CT_CHECK(k >= 1, ConfigError, "filter_lengths must be >= 1, got ", k);
  for (int64_t s : subsample_lengths) CT_CHECK(s >= 1, ConfigError, "subsample_lengths must be >= 1, got ", s);
  for (double d : dropouts) CT_CHECK(d >= 0 && d < 1, ConfigError, "dropouts must be in [0, 1), got ", d);
  check_choice("building_block", building_block, {"basic", "bottleneck", "bottle_neck"});
  CT_CHECK(base_groups >= 1, ConfigError, "base_groups must be >= 1, got ", base_groups);
  check_activation("activation", activation, false);
  stem.validate();
  block.validate();
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0 (0 = never rescale kernels), got ", base_fs);
}

RegNetImpl::RegNetImpl(const RegNetOptions& o, const ModelContext& ctx) : options_(o) {
  o.validate();
  CT_CHECK(ctx.in_channels >= 1, ConfigError, "RegNet: in_channels must be >= 1, got ", ctx.in_channels);
  CT_CHECK(ctx.fs > 0, ConfigError, "RegNet: the sampling rate must be positive, got ", ctx.fs);
  in_channels_ = ctx.in_channels;
  stem_ = register_module("input_stem", std::make_shared<ResNetStemImpl>(
                                            in_channels_, o.stem, detail::stem_kernels(o.stem, ctx.fs, o.base_fs),
                                            o.base_groups, o.activation));
  const bool s2d = o.stem.subsample_mode == "s2d" || o.stem.subsample_mode == "space_to_depth";
  double fs = ctx.fs / static_cast<double>(s2d ? o.stem.block_size : o.stem.conv_stride * o.stem.pool_stride);
  int64_t in = stem_->out_channels();
  const auto stages = regnet_stages(o);
  for (size_t i = 0; i < stages.size(); ++i) {
    // torch_ecg's AnyStage: round the width to a multiple of the group width (up when rounding
    // down would lose more than 10 %), then groups = width / group width.
    const int64_t gw = at_stage(o.group_widths, i);
    int64_t width = stages[i].num_filters;
    if (width % gw != 0) {
      int64_t w = width / gw * gw;
      if (static_cast<double>(w) < 0.9 * static_cast<double>(width)) w += gw;
      width = w;
    }
    const int64_t groups = width / gw;
    auto stage = std::make_shared<BlockSequenceImpl>();
    for (int64_t j = 0; j < stages[i].num_blocks; ++j) {
      ResNetBlockArgs a;
      a.bottleneck = o.building_block != "basic";
      a.in_channels = in;
      a.num_filters = width;
      a.filter_length = detail::kernel_at(at_stage(o.filter_lengths, i), ctx.fs, o.base_fs);
      a.subsample_length = j == 0 ? at_stage(o.subsample_lengths, i) : 1;
      a.groups = groups;
      a.base_width = 48.0 / static_cast<double>(groups);  // neck width = width (torch_ecg's rule)
      a.dropout = o.block.dropout ? *o.block.dropout : at_stage(o.dropouts, i);
      a.fs = fs;
      auto block = stage->push_back(str_cat("block_", i, "_", j), std::make_shared<ResNetBlockImpl>(a, o.block));
      in = block->out_channels();
      fs /= static_cast<double>(a.subsample_length);
    }
    stages_.push_back(register_module(str_cat("stage_", i), stage));
  }
  out_channels_ = in;
}

at::Tensor RegNetImpl::forward(const at::Tensor& x) {
  check_input(x, 3, in_channels_, model_name().empty() ? "RegNet" : model_name());
  at::Tensor y = run_named(*stem_, "input_stem", x);
  for (size_t i = 0; i < stages_.size(); ++i) y = run_named(*stages_[i], str_cat("stage_", i), y);
  return y;
}

Shape RegNetImpl::output_shape(const Shape& input) const {
  Shape s = stem_->output_shape(input);
  for (const auto& st : stages_) s = st->output_shape(s);
  return s;
}

std::vector<std::pair<std::string, Shape>> RegNetImpl::stage_shapes(const Shape& input) const {
  std::vector<std::pair<std::string, Shape>> out;
  Shape s = stem_->output_shape(input);
  out.emplace_back("input_stem", s);
  for (size_t i = 0; i < stages_.size(); ++i) {
    s = stages_[i]->output_shape(s);
    out.emplace_back(str_cat("stage_", i, " (", stages_[i]->blocks().size(), " blocks)"), s);
  }
  return out;
}

std::string RegNetImpl::summary() const {
  std::vector<std::string> widths, blocks;
  for (const auto& st : regnet_stages(options_)) {
    widths.push_back(std::to_string(st.num_filters));
    blocks.push_back(std::to_string(st.num_blocks));
  }
  return str_cat(model_name().empty() ? "regnet" : model_name(), ": RegNet, stage widths [", join(widths),
                 "] x blocks [", join(blocks), "], ", out_channels_, " output channels, ",
                 format_count(count_parameters(*this)), " parameters");
}

}  // namespace cardiotorch::models
