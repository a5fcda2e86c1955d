#include "cardiotorch/dist/sync_batchnorm.h"

#include <ATen/ATen.h>
#include <ATen/ops/batch_norm_native.h>
#include <torch/autograd.h>
#include <torch/library.h>
#include <torch/nn/modules/batchnorm.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::dist {

namespace {

// The synchronised layers, by the address of their running_mean (or weight) TensorImpl: the
// tensors a BatchNorm module hands to aten::batch_norm. In-place updates (optimizer steps,
// checkpoint loads, buffer broadcasts, EMA swaps) keep the address.
struct Layers {
  std::mutex mu;
  std::unordered_map<const void*, ProcessGroup*> groups;
  std::atomic<int64_t> count{0};
};

Layers& layers() {
  static Layers l;
  return l;
}

thread_local bool t_join = false;

const void* key_of(const at::Tensor& running_mean, const at::Tensor& weight) {
  if (running_mean.defined()) return running_mean.unsafeGetTensorImpl();
  if (weight.defined()) return weight.unsafeGetTensorImpl();
  return nullptr;
}

ProcessGroup* group_of(const void* key) {
  if (key == nullptr) return nullptr;
  Layers& l = layers();
  std::lock_guard<std::mutex> lock(l.mu);
  auto it = l.groups.find(key);
  return it == l.groups.end() ? nullptr : it->second;
}

// Reduction dims of (N, C, *): every dim but the channels.
std::vector<int64_t> stat_dims(const at::Tensor& x) {
  std::vector<int64_t> d{0};
  for (int64_t k = 2; k < x.dim(); ++k) d.push_back(k);
  return d;
}

// (C) -> (1, C, 1, ...) to broadcast against the input.
at::Tensor per_channel(const at::Tensor& v, const at::Tensor& like) {
  std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
  shape[1] = v.numel();
  return v.view(shape);
}

// The global statistics of every rank's input per channel: this rank's count, mean and sum of
// squared deviations (two passes: stable), all-gathered and combined with Chan's formula in
// float64 (no cancellation as with a sum and a sum of squares).
struct GlobalStats {
  at::Tensor mean, m2;  // (C) float64
  double n = 0;
};

GlobalStats global_stats(const at::Tensor& x, bool join, ProcessGroup& group) {
  const int64_t C = x.size(1);
  const auto dims = stat_dims(x);
  const int64_t n_local = join ? 0 : x.numel() / std::max<int64_t>(1, C);
  at::Tensor stats = at::zeros({1 + 2 * C}, x.options().dtype(at::kDouble));
  if (n_local > 0) {
    const at::Tensor mean = x.mean(dims);
    stats[0].fill_(static_cast<double>(n_local));
    stats.narrow(0, 1, C).copy_(mean);
    stats.narrow(0, 1 + C, C).copy_((x - per_channel(mean, x)).pow(2).sum(dims));
  }
  const at::Tensor all = at::stack(group.all_gather(stats));  // (world, 1 + 2C)
  const at::Tensor counts = all.select(1, 0).unsqueeze(1);    // (world, 1)
  GlobalStats g;
  g.n = counts.sum().item<double>();
  if (g.n <= 0) return g;
  const at::Tensor means = all.narrow(1, 1, C), m2s = all.narrow(1, 1 + C, C);
  g.mean = (counts * means).sum(0) / g.n;
  g.m2 = (m2s + counts * (means - g.mean).pow(2)).sum(0);
  return g;
}

// y = (x - mean) * invstd * weight + bias with the global mean and invstd (given, not
// differentiated: they are functions of every rank's input); the backward adds their terms
// through two per-channel sums all-reduced over the ranks. Undefined weight / bias arrive as
// empty (numel 0) tensors: custom autograd functions take defined tensors only.
class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, const at::Tensor& mean, const at::Tensor& invstd, double n,
                            int64_t group_address, bool join) {
    at::Tensor y = (x - per_channel(mean, x)) * per_channel(invstd, x);
    if (weight.numel() > 0) y = y * per_channel(weight.to(x.scalar_type()), x);
    if (bias.numel() > 0) y = y + per_channel(bias.to(x.scalar_type()), x);
    ctx->save_for_backward({x, weight, mean, invstd});
    ctx->saved_data["group"] = group_address;
    ctx->saved_data["join"] = join;
    ctx->saved_data["n"] = n;
    ctx->saved_data["bias"] = bias.numel() > 0;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    auto* group = reinterpret_cast<ProcessGroup*>(static_cast<intptr_t>(ctx->saved_data["group"].toInt()));
    const bool join = ctx->saved_data["join"].toBool(), has_bias = ctx->saved_data["bias"].toBool();
    const double n = ctx->saved_data["n"].toDouble();
    const auto dims = stat_dims(x);
    const int64_t C = x.size(1);
    const at::Tensor dy = grads[0].defined() ? grads[0].to(x.scalar_type()) : at::zeros_like(x);
    const at::Tensor xhat = (x - per_channel(mean, x)) * per_channel(invstd, x);
    // This rank's sums; over all ranks, the two that the input's gradient needs.
    at::Tensor sum_dy = dy.sum(dims), sum_dy_xhat = (dy * xhat).sum(dims);
    if (join) {
      sum_dy.zero_();
      sum_dy_xhat.zero_();
    }
    at::Tensor both = at::cat({sum_dy, sum_dy_xhat}).to(at::kDouble);
    group->allreduce_(both);
    const at::Tensor g_dy = both.narrow(0, 0, C).to(x.scalar_type());
    const at::Tensor g_dy_xhat = both.narrow(0, C, C).to(x.scalar_type());
    const at::Tensor scale = weight.numel() > 0 ? invstd * weight.to(x.scalar_type()) : invstd;
    at::Tensor grad_x;
    if (join) grad_x = at::zeros_like(x);  // its samples are in no statistic and no loss
    else grad_x = (dy - per_channel(g_dy, x) / n - xhat * per_channel(g_dy_xhat, x) / n) * per_channel(scale, x);
    // The weight's and bias's gradients are this rank's share; the gradient sync sums them.
    at::Tensor grad_w, grad_b;
    if (weight.numel() > 0) grad_w = sum_dy_xhat.to(weight.scalar_type());
    if (has_bias) grad_b = sum_dy.to(weight.numel() > 0 ? weight.scalar_type() : x.scalar_type());
    return {grad_x, grad_w, grad_b, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// aten::batch_norm at the autograd level: the registered layers in training mode go through
// sync_batch_norm, everything else to ATen's native batch_norm (what the composite kernel
// this one stands in front of does).
at::Tensor batch_norm_kernel(const at::Tensor& input, const c10::optional<at::Tensor>& weight,
                             const c10::optional<at::Tensor>& bias, const c10::optional<at::Tensor>& running_mean,
                             const c10::optional<at::Tensor>& running_var, bool training, double momentum, double eps,
                             bool cudnn_enabled) {
  if (training && layers().count.load(std::memory_order_relaxed) > 0) {
    const at::Tensor rm = running_mean.value_or(at::Tensor()), w = weight.value_or(at::Tensor());
    if (ProcessGroup* group = group_of(key_of(rm, w)))
      return sync_batch_norm(input, w, bias.value_or(at::Tensor()), rm, running_var.value_or(at::Tensor()), momentum,
                             eps, *group);
  }
  return at::native::batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled);
}

void register_kernel_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Never destroyed: the kernel must outlive every module that might still call batch_norm
    // while the process exits, and it defers to ATen whenever no layer is registered.
    for (auto key : {c10::DispatchKey::AutogradCPU, c10::DispatchKey::AutogradCUDA}) {
      auto* lib = new torch::Library(torch::Library::IMPL, "aten", key, __FILE__, __LINE__);
      lib->impl("batch_norm", TORCH_FN(batch_norm_kernel));
    }
  });
}

template <class Impl>
bool add_layer(torch::nn::Module& m, const std::string& name, std::vector<const void*>& keys, ProcessGroup* group) {
  auto* bn = dynamic_cast<Impl*>(&m);
  if (bn == nullptr) return false;
  const void* key = key_of(bn->running_mean, bn->weight);
  if (key == nullptr) {
    CT_LOG_WARN("dist.sync_batchnorm: BatchNorm '", name,
                "' has neither running statistics nor affine weights, so it cannot be recognised; it stays per rank");
    return true;
  }
  Layers& l = layers();
  std::lock_guard<std::mutex> lock(l.mu);
  CT_CHECK(l.groups.emplace(key, group).second, ArgumentError, "dist.sync_batchnorm: BatchNorm '", name,
           "' is synchronised twice");
  keys.push_back(key);
  l.count.fetch_add(1);
  return true;
}

void remove_layers(std::vector<const void*>& keys) {
  Layers& l = layers();
  std::lock_guard<std::mutex> lock(l.mu);
  for (const void* k : keys) {
    l.groups.erase(k);
    l.count.fetch_sub(1);
  }
  keys.clear();
}

}  // namespace

SyncBatchNorm::SyncBatchNorm(const std::vector<torch::nn::Module*>& modules, ProcessGroupPtr group)
    : group_(std::move(group)) {
  CT_CHECK(group_ != nullptr, ArgumentError, "SyncBatchNorm: no process group");
  register_kernel_once();
  try {
    for (torch::nn::Module* root : modules) {
      if (root == nullptr) continue;
      for (const auto& item : root->named_modules("", /*include_self=*/true)) {
        torch::nn::Module& m = *item.value();
        const std::string& name = item.key();
        add_layer<torch::nn::BatchNorm1dImpl>(m, name, keys_, group_.get()) ||
            add_layer<torch::nn::BatchNorm2dImpl>(m, name, keys_, group_.get()) ||
            add_layer<torch::nn::BatchNorm3dImpl>(m, name, keys_, group_.get());
      }
    }
  } catch (...) {
    remove_layers(keys_);
    throw;
  }
}

SyncBatchNorm::~SyncBatchNorm() { remove_layers(keys_); }

SyncBatchNorm::Join::Join() : previous_(t_join) { t_join = true; }
SyncBatchNorm::Join::~Join() { t_join = previous_; }

at::Tensor sync_batch_norm(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                           at::Tensor running_mean, at::Tensor running_var, double momentum, double eps,
                           ProcessGroup& group) {
  CT_CHECK(input.dim() >= 2, ShapeError, "sync_batch_norm: expected (N, C, ...) input, got ", input.sizes());
  const bool join = t_join;
  // Half inputs (autocast) are normalised in float.
  const at::Tensor x = input.scalar_type() == at::kDouble ? input : input.to(at::kFloat);
  GlobalStats st;
  {
    at::NoGradGuard no_grad;
    st = global_stats(x.detach(), join, group);
  }
  CT_CHECK(st.n > 1, ShapeError, "sync_batch_norm: expected more than 1 value per channel over all ranks in training, ",
           "got input ", input.sizes(), " on rank ", group.rank(), " and ", st.n, " in all");
  const at::Tensor var = st.m2 / st.n;
  if (running_mean.defined() && running_var.defined()) {
    at::NoGradGuard no_grad;
    running_mean.mul_(1 - momentum).add_(st.mean.to(running_mean.scalar_type()), momentum);
    running_var.mul_(1 - momentum).add_((st.m2 / (st.n - 1)).to(running_var.scalar_type()), momentum);
  }
  const at::Tensor mean = st.mean.to(x.scalar_type()), invstd = (var + eps).rsqrt().to(x.scalar_type());
  const at::Tensor none = at::empty({0}, x.options());
  const at::Tensor y =
      SyncBatchNormFunction::apply(x, weight.defined() ? weight : none, bias.defined() ? bias : none, mean, invstd,
                                   st.n, static_cast<int64_t>(reinterpret_cast<intptr_t>(&group)), join);
  return y.scalar_type() == input.scalar_type() ? y : y.to(input.scalar_type());
}

}  // namespace cardiotorch::dist
