#include "cardiotorch/models/multi_scopic.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <set>

#include "cardiotorch/core/registry.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/models/blocks/conv_bn_act.h"
#include "cardiotorch/models/capture.h"
#include "models/cnn_util.h"
#include "models/resnet_detail.h"

namespace cardiotorch::models {

void MultiScopicBlockOptions::validate() const {
  check_choice("subsample_mode", subsample_mode, DownSampleImpl::modes());
  detail::check_batch_norm(batch_norm, "batch_norm");
  check_activation("activation", activation);
  check_initializer("kernel_initializer", kernel_initializer);
}

namespace {

// A branch x block x conv tree of integers: a scalar at any level covers everything below it.
std::vector<std::vector<std::vector<int64_t>>> conv_tree(const ConfigNode& node, const std::string& key,
                                                         const std::vector<std::vector<size_t>>& shape) {
  std::vector<std::vector<std::vector<int64_t>>> out(shape.size());
  auto int_of = [&](const ConfigNode& n, const std::string& where) {
    CT_CHECK(n.is_scalar(), ConfigError, where, " must be an integer or a list");
    try {
      return n.as_int();
    } catch (const ConfigError&) {
      throw ConfigError(str_cat(where, " must be an integer, got '", n.as_string(), "'"));
    }
  };
  const bool all = node.is_scalar();
  CT_CHECK(all || (node.is_sequence() && node.size() == shape.size()), ConfigError, key,
           " must be one value or a list ", "with one entry per branch (", shape.size(), " branches from scopes)");
  for (size_t b = 0; b < shape.size(); ++b) {
    const ConfigNode nb = all ? node : node[b];
    const std::string kb = all ? key : str_cat(key, "[", b, "]");
    const bool branch_all = nb.is_scalar();
    CT_CHECK(branch_all || (nb.is_sequence() && nb.size() == shape[b].size()), ConfigError, kb,
             " must be one value or a list with one entry per block (", shape[b].size(), " blocks in branch ", b, ")");
    for (size_t j = 0; j < shape[b].size(); ++j) {
      const ConfigNode nj = branch_all ? nb : nb[j];
      const std::string kj = branch_all ? kb : str_cat(kb, "[", j, "]");
      std::vector<int64_t> convs;
      if (nj.is_scalar()) {
        convs.assign(shape[b][j], int_of(nj, kj));
      } else {
        CT_CHECK(nj.is_sequence() && nj.size() == shape[b][j], ConfigError, kj,
                 " must be one value or a list with one entry per convolution (", shape[b][j], " in block ", j,
                 " of branch ", b, ")");
        for (size_t k = 0; k < nj.size(); ++k) convs.push_back(int_of(nj[k], str_cat(kj, "[", k, "]")));
      }
      out[b].push_back(std::move(convs));
    }
  }
  return out;
}

// A branch x block tree (subsample lengths, dropouts): a scalar (or a dropout mapping) covers
// everything below it.
template <class T, class Leaf>
std::vector<std::vector<T>> block_tree(const ConfigNode& node, const std::string& key,
                                       const std::vector<std::vector<size_t>>& shape, Leaf leaf) {
  std::vector<std::vector<T>> out(shape.size());
  const bool all = !node.is_sequence();
  CT_CHECK(all || node.size() == shape.size(), ConfigError, key, " must be one value or a list with one entry per ",
           "branch (", shape.size(), " branches from scopes)");
  for (size_t b = 0; b < shape.size(); ++b) {
    const ConfigNode nb = all ? node : node[b];
    const std::string kb = all ? key : str_cat(key, "[", b, "]");
    if (!nb.is_sequence()) {
      out[b].assign(shape[b].size(), leaf(nb, kb));
      continue;
    }
    CT_CHECK(nb.size() == shape[b].size(), ConfigError, kb, " must be one value or a list with one entry per block (",
             shape[b].size(), " blocks in branch ", b, ")");
    for (size_t j = 0; j < nb.size(); ++j) out[b].push_back(leaf(nb[j], str_cat(kb, "[", j, "]")));
  }
  return out;
}

}  // namespace

MultiScopicLayout multi_scopic_layout(const MultiScopicOptions& o) {
  // scopes fixes the structure: branch x block x conv, with nothing broadcast.
  CT_CHECK(o.scopes.is_sequence() && o.scopes.size() >= 1, ConfigError,
           "scopes must be a list of branches, each a list of blocks, each a list of dilations");
  std::vector<std::vector<size_t>> shape;
  std::vector<std::vector<std::vector<int64_t>>> dil;
  for (size_t b = 0; b < o.scopes.size(); ++b) {
    const ConfigNode nb = o.scopes[b];
    CT_CHECK(nb.is_sequence() && nb.size() >= 1, ConfigError, "scopes[", b, "] must be a non-empty list of blocks");
    shape.emplace_back();
    dil.emplace_back();
    for (size_t j = 0; j < nb.size(); ++j) {
      const auto d = detail::ints_of(nb[j], str_cat("scopes[", b, "][", j, "]"));
      for (int64_t v : d) CT_CHECK(v >= 1, ConfigError, "scopes[", b, "][", j, "]: dilations must be >= 1, got ", v);
      shape.back().push_back(d.size());
      dil.back().push_back(d);
    }
  }
  const auto nf = conv_tree(o.num_filters, "num_filters", shape);
  const auto fl = conv_tree(o.filter_lengths, "filter_lengths", shape);
  const auto sub = block_tree<int64_t>(
      o.subsample_lengths, "subsample_lengths", shape, [](const ConfigNode& n, const std::string& k) {
        const auto v = detail::ints_of(n, k);
        CT_CHECK(v.size() == 1 && v[0] >= 1, ConfigError, k, " must be an integer >= 1");
        return v[0];
      });
  const auto drop = block_tree<detail::DropoutSpec>(o.dropouts, "dropouts", shape, detail::dropout_of);
  MultiScopicLayout out;
  for (size_t b = 0; b < shape.size(); ++b) {
    out.branches.emplace_back();
    for (size_t j = 0; j < shape[b].size(); ++j) {
      MultiScopicLayout::Block blk;
      blk.dilations = dil[b][j];
      blk.num_filters = nf[b][j];
      blk.filter_lengths = fl[b][j];
      for (int64_t v : blk.num_filters)
        CT_CHECK(v >= 1, ConfigError, "num_filters must be >= 1, got ", v, " in block ", j, " of branch ", b);
      for (int64_t v : blk.filter_lengths)
        CT_CHECK(v >= 1, ConfigError, "filter_lengths must be >= 1, got ", v, " in block ", j, " of branch ", b);
      blk.subsample_length = sub[b][j];
      blk.dropout = drop[b][j].p;
      blk.dropout_channelwise = drop[b][j].channelwise;
      out.branches.back().push_back(std::move(blk));
    }
  }
  return out;
}

void MultiScopicOptions::validate() const {
  multi_scopic_layout(*this);
  CT_CHECK(groups >= 1, ConfigError, "groups must be >= 1, got ", groups);
  block.validate();
  CT_CHECK(base_fs >= 0, ConfigError, "base_fs must be >= 0 (0 = never rescale kernels), got ", base_fs);
}

MultiScopicCNNImpl::MultiScopicCNNImpl(const MultiScopicOptions& o, const ModelContext& ctx) : options_(o) {
  o.validate();
  CT_CHECK(ctx.in_channels >= 1, ConfigError, "MultiScopicCNN: in_channels must be >= 1, got ", ctx.in_channels);
  in_channels_ = ctx.in_channels;
  const MultiScopicLayout layout = multi_scopic_layout(o);
  const std::string norm = detail::norm_of(o.block.batch_norm, "block.batch_norm");
  auto holder = register_module("branches", std::make_shared<torch::nn::Module>("ModuleDict"));
  for (size_t b = 0; b < layout.branches.size(); ++b) {
    auto branch = std::make_shared<BlockSequenceImpl>();
    int64_t in = in_channels_;
    for (size_t j = 0; j < layout.branches[b].size(); ++j) {
      const auto& L = layout.branches[b][j];
      auto blk = std::make_shared<BlockSequenceImpl>();
      for (size_t k = 0; k < L.dilations.size(); ++k) {
        blk->push_back(str_cat("ca_", k),
                       make_cba(ConvBnActivationOptions(in, L.num_filters[k],
                                                        detail::kernel_at(L.filter_lengths[k], ctx.fs, o.base_fs))
                                    .dilation(L.dilations[k])
                                    .groups(o.groups)
                                    .norm(norm)
                                    .activation(o.block.activation)
                                    .kernel_initializer(o.block.kernel_initializer)
                                    .bias(o.block.bias)));
        in = L.num_filters[k];
      }
      blk->push_back("bn", std::make_shared<BatchNormBlockImpl>(in));
      blk->push_back("down",
                     std::make_shared<DownSampleImpl>(
                         DownSampleOptions(L.subsample_length, in).groups(o.groups).mode(o.block.subsample_mode)));
      if (auto d = detail::make_dropout({L.dropout, L.dropout_channelwise})) blk->push_back("dropout", d);
      branch->push_back(str_cat("block_", j), blk);
    }
    holder->register_module(str_cat("branch_", b), branch);
    branches_.push_back(branch);
  }
  // Branches are concatenated on channels, so they must agree on the length at every input
  // length; probing a run of lengths covers every residue of the subsampling factors.
  for (int64_t len = 1000; len < 1064; ++len) {
    const int64_t l0 = branches_[0]->output_shape({1, in_channels_, len})[2];
    for (size_t b = 1; b < branches_.size(); ++b) {
      const int64_t lb = branches_[b]->output_shape({1, in_channels_, len})[2];
      CT_CHECK(lb == l0, ConfigError, "MultiScopicCNN: branch ", b, " gives ", lb, " samples but branch 0 gives ", l0,
               " for an input of ", len, " (their subsample_lengths must subsample alike)");
    }
  }
  out_channels_ = output_shape({kUnknown, in_channels_, kUnknown})[1];
}

BlockImpl& MultiScopicCNNImpl::branch(size_t i) const {
  CT_CHECK(i < branches_.size(), IndexError, "MultiScopicCNN: branch ", i, " of ", branches_.size());
  return *branches_[i];
}

at::Tensor MultiScopicCNNImpl::forward(const at::Tensor& x) {
  check_input(x, 3, in_channels_, model_name().empty() ? "MultiScopicCNN" : model_name());
  std::vector<at::Tensor> outs;
  outs.reserve(branches_.size());
  if (capture_active()) {
    CaptureScope scope("branches");
    for (size_t b = 0; b < branches_.size(); ++b) outs.push_back(run_named(*branches_[b], str_cat("branch_", b), x));
  } else {
    for (auto& br : branches_) outs.push_back(br->forward(x));
  }
  return at::cat(outs, 1);
}

Shape MultiScopicCNNImpl::output_shape(const Shape& input) const {
  check_shape(input, in_channels_, model_name().empty() ? "MultiScopicCNN" : model_name());
  Shape out = branches_[0]->output_shape(input);
  for (size_t b = 1; b < branches_.size(); ++b) {
    const Shape s = branches_[b]->output_shape(input);
    out[1] += s[1];
  }
  return out;
}

std::vector<std::pair<std::string, Shape>> MultiScopicCNNImpl::stage_shapes(const Shape& input) const {
  std::vector<std::pair<std::string, Shape>> out;
  for (size_t b = 0; b < branches_.size(); ++b) {
    Shape s = input;
    for (const auto& blk : branches_[b]->blocks()) {
      s = blk.second->output_shape(s);
      out.emplace_back(str_cat("branches.branch_", b, ".", blk.first), s);
    }
  }
  return out;
}

std::string MultiScopicCNNImpl::summary() const {
  return str_cat(model_name().empty() ? "multi_scopic" : model_name(), ": MultiScopicCNN, ", branches_.size(),
                 " branches", lead_wise() ? ", lead-wise" : "", ", ", out_channels_, " output channels, ",
                 format_count(count_parameters(*this)), " parameters");
}

void MultiScopicCNNImpl::assign_weights_lead_wise(MultiScopicCNNImpl& other,
                                                  const std::vector<int64_t>& indices) const {
  const char* who = "assign_weights_lead_wise";
  CT_CHECK(lead_wise(), ConfigError, who, ": this model is not lead-wise (groups ", options_.groups, ", ", in_channels_,
           " input leads)");
  CT_CHECK(other.lead_wise(), ConfigError, who, ": the target model is not lead-wise (groups ", other.options_.groups,
           ", ", other.in_channels_, " input leads)");
  CT_CHECK(static_cast<int64_t>(indices.size()) == other.in_channels_, ConfigError, who, ": ", indices.size(),
           " lead indices for a target model on ", other.in_channels_, " leads");
  std::set<int64_t> seen;
  for (int64_t i : indices) {
    CT_CHECK(i >= 0 && i < in_channels_, ConfigError, who, ": lead index ", i, " outside [0, ", in_channels_, ")");
    CT_CHECK(seen.insert(i).second, ConfigError, who, ": lead index ", i, " given twice");
  }
  const MultiScopicLayout a = multi_scopic_layout(options_), b = multi_scopic_layout(other.options_);
  CT_CHECK(a.branches.size() == b.branches.size(), ConfigError, who, ": ", a.branches.size(), " branches vs ",
           b.branches.size());
  for (size_t i = 0; i < a.branches.size(); ++i) {
    CT_CHECK(a.branches[i].size() == b.branches[i].size(), ConfigError, who, ": branch ", i, " has ",
             a.branches[i].size(), " blocks vs ", b.branches[i].size());
    for (size_t j = 0; j < a.branches[i].size(); ++j) {
      const auto &x = a.branches[i][j], &y = b.branches[i][j];
      CT_CHECK(x.dilations == y.dilations && x.filter_lengths == y.filter_lengths &&
                   x.subsample_length == y.subsample_length,
               ConfigError, who, ": branch ", i, " block ", j,
               " differs in scopes, filter_lengths or subsample_lengths");
      for (size_t k = 0; k < x.num_filters.size(); ++k)
        CT_CHECK(x.num_filters[k] * other.in_channels_ == y.num_filters[k] * in_channels_, ConfigError, who,
                 ": num_filters must be proportional to the leads: branch ", i, " block ", j, " conv ", k, " has ",
                 x.num_filters[k], " filters for ", in_channels_, " leads but ", y.num_filters[k], " for ",
                 other.in_channels_);
    }
  }
  CT_CHECK(to_config(options_.block).to_yaml() == to_config(other.options_.block).to_yaml(), ConfigError, who,
           ": the block options differ");
  CT_CHECK(options_.base_fs == other.options_.base_fs, ConfigError, who, ": base_fs differs");

  // Every per-channel tensor of a lead-wise network (conv weights and biases by output
  // channel, norm parameters and statistics) is laid out group-major: lead i owns the rows
  // [i * units, (i + 1) * units). The target takes the rows of the chosen leads.
  at::NoGradGuard no_grad;
  auto copy_rows = [&](const std::string& name, const at::Tensor& src, at::Tensor& dst) {
    if (src.dim() == 0) {
      dst.copy_(src);
      return;
    }
    const int64_t units = src.size(0) / in_channels_;
    CT_INTERNAL_ASSERT(units * in_channels_ == src.size(0), name, ": ", src.size(0), " rows for ", in_channels_,
                       " groups");
    std::vector<int64_t> rows;
    for (int64_t i : indices)
      for (int64_t j = 0; j < units; ++j) rows.push_back(i * units + j);
    const at::Tensor picked = src.index_select(0, at::tensor(rows, at::kLong));
    CT_CHECK(picked.sizes() == dst.sizes(), ConfigError, who, ": ", name, " has shape ", dst.sizes(),
             " in the target, but the chosen leads give ", picked.sizes());
    dst.copy_(picked);
  };
  for (size_t i = 0; i < branches_.size(); ++i) {
    auto src_p = branches_[i]->named_parameters(true);
    auto dst_p = other.branches_[i]->named_parameters(true);
    CT_INTERNAL_ASSERT(src_p.size() == dst_p.size(), "parameter lists differ");
    for (const auto& p : src_p) {
      at::Tensor* d = dst_p.find(p.key());
      CT_INTERNAL_ASSERT(d != nullptr, "target lacks ", p.key());
      copy_rows(str_cat("branches.branch_", i, ".", p.key()), p.value(), *d);
    }
    auto src_b = branches_[i]->named_buffers(true);
    auto dst_b = other.branches_[i]->named_buffers(true);
    for (const auto& p : src_b) {
      at::Tensor* d = dst_b.find(p.key());
      CT_INTERNAL_ASSERT(d != nullptr, "target lacks ", p.key());
      copy_rows(str_cat("branches.branch_", i, ".", p.key()), p.value(), *d);
    }
  }
}

// --- presets (torch_ecg model_configs/cnn/multi_scopic.py) --------------------------------

MultiScopicOptions MultiScopicOptions::multi_scopic() { return MultiScopicOptions{}; }

MultiScopicOptions MultiScopicOptions::multi_scopic_leadwise() {
  MultiScopicOptions o;
  o.groups = 12;
  o.num_filters = ConfigNode::scalar("[[192, 384, 768], [192, 384, 768], [192, 384, 768]]");
  return o;
}

namespace {
ModelPtr make_ms(const MultiScopicOptions& o, const ModelContext& c) {
  return std::make_shared<MultiScopicCNNImpl>(o, c);
}
auto ms(MultiScopicOptions preset) {
  return options_factory<ModelImpl, MultiScopicOptions>(make_ms, std::move(preset));
}
}  // namespace

CT_REGISTER(backbone_registry(), "multi_scopic", (ms(MultiScopicOptions::multi_scopic())),
            "MultiScopicCNN: 3 branches of dilated convolutions (CPSC 2019 winner; torch_ecg multi_scopic)")
CT_REGISTER(backbone_registry(), "multi_scopic_leadwise", (ms(MultiScopicOptions::multi_scopic_leadwise())),
            "lead-wise MultiScopicCNN: groups 12, 2x widths (torch_ecg multi_scopic_leadwise)")

}  // namespace cardiotorch::models
