#include "cardiotorch/models/staged_backbone.h"

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::models {

StagedBackboneImpl::StagedBackboneImpl(std::string family, int64_t in_channels) : family_(std::move(family)) {
  CT_CHECK(in_channels >= 1, ConfigError, family_, ": in_channels must be >= 1, got ", in_channels);
  in_channels_ = in_channels;
}

int64_t StagedBackboneImpl::channels_so_far() const {
  Shape s{kUnknown, in_channels_, kUnknown};
  for (const auto& st : stages_) s = st.second->output_shape(s);
  return s[1];
}

void StagedBackboneImpl::finish(std::string description) {
  CT_INTERNAL_ASSERT(!stages_.empty(), family_, " has no stages");
  description_ = std::move(description);
  out_channels_ = channels_so_far();
}

at::Tensor StagedBackboneImpl::forward(const at::Tensor& x) {
  check_input(x, 3, in_channels_, model_name().empty() ? family_ : model_name());
  at::Tensor y = x;
  for (auto& st : stages_) y = run_named(*st.second, st.first, y);
  return y;
}

Shape StagedBackboneImpl::output_shape(const Shape& input) const {
  check_shape(input, in_channels_, model_name().empty() ? family_ : model_name());
  Shape s = input;
  for (const auto& st : stages_) s = st.second->output_shape(s);
  return s;
}

std::vector<std::pair<std::string, Shape>> StagedBackboneImpl::stage_shapes(const Shape& input) const {
  std::vector<std::pair<std::string, Shape>> out;
  Shape s = input;
  for (const auto& st : stages_) {
    s = st.second->output_shape(s);
    out.emplace_back(st.first, s);
  }
  return out;
}

std::string StagedBackboneImpl::summary() const {
  return str_cat(model_name().empty() ? family_ : model_name(), ": ", family_,
                 description_.empty() ? "" : ", " + description_, ", ", out_channels_, " output channels, ",
                 format_count(count_parameters(*this)), " parameters");
}

}  // namespace cardiotorch::models
