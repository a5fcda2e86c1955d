#include "cardiotorch/dist/data_parallel.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>

#include "cardiotorch/core/error.h"

namespace cardiotorch::dist {

namespace {

// Broadcasts `tensors` from root through one flat buffer per (dtype, device): one collective
// instead of one per tensor.
void broadcast_tensors(std::vector<at::Tensor> tensors, ProcessGroup& group, int64_t root) {
  if (group.world_size() == 1 || tensors.empty()) return;
  at::NoGradGuard no_grad;
  std::map<std::pair<int, std::string>, std::vector<at::Tensor>> by_kind;
  for (auto& t : tensors)
    if (t.defined() && t.numel() > 0) by_kind[{static_cast<int>(t.scalar_type()), t.device().str()}].push_back(t);
  for (auto& [kind, ts] : by_kind) {
    std::vector<at::Tensor> flat_parts;
    for (auto& t : ts) flat_parts.push_back(t.detach().reshape({-1}));
    at::Tensor flat = at::cat(flat_parts);
    group.broadcast_(flat, root);
    int64_t off = 0;
    for (auto& t : ts) {
      at::Tensor dst = t.detach();
      dst.copy_(flat.narrow(0, off, t.numel()).view(t.sizes()));
      off += t.numel();
    }
  }
}

}  // namespace

void broadcast_module(torch::nn::Module& module, ProcessGroup& group, bool buffers, int64_t root) {
  std::vector<at::Tensor> ts = module.parameters();
  if (buffers)
    for (auto& b : module.buffers()) ts.push_back(b);
  broadcast_tensors(std::move(ts), group, root);
}

void broadcast_buffers(torch::nn::Module& module, ProcessGroup& group, int64_t root) {
  broadcast_tensors(module.buffers(), group, root);
}

// ------------------------------------------------------------------------ gradient sync

// Tells the GradientSync that a parameter's gradient of this backward pass is accumulated. A
// post hook of its AccumulateGrad node: it runs right after .grad was updated.
class ReadyHook final : public torch::autograd::FunctionPostHook {
 public:
  explicit ReadyHook(std::function<void()> ready) : ready_(std::move(ready)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    ready_();
    return outputs;
  }

 private:
  std::function<void()> ready_;
};

struct GradientSync::Hooks {
  // The nodes are held here: a parameter keeps only a weak reference to its AccumulateGrad, and
  // a node freed with its graph would come back without the hook.
  std::vector<std::shared_ptr<torch::autograd::Node>> nodes;
  std::vector<uintptr_t> keys;
};

GradientSync::GradientSync(ProcessGroupPtr group, std::vector<at::Tensor> params, double bucket_mb, bool overlap)
    : group_(std::move(group)), params_(std::move(params)) {
  CT_CHECK(group_ != nullptr, ArgumentError, "GradientSync: no process group");
  CT_CHECK(bucket_mb > 0, ArgumentError, "GradientSync: bucket_mb must be > 0, got ", bucket_mb);
  const auto cap = static_cast<int64_t>(bucket_mb * 1024.0 * 1024.0);
  // With overlap the first bucket holds at most 1 MiB (DDP's first-bucket size): the last
  // layers' gradients, ready first, then go out while the rest of backward computes. Otherwise a
  // model smaller than bucket_mb (the 24 MB ViT in 25 MB buckets) is one bucket, which can only
  // start when backward has finished.
  const int64_t first_cap = overlap ? std::min<int64_t>(cap, int64_t{1} << 20) : cap;
  // Reverse order: the last layers' gradients are ready first in backward (the order DDP
  // uses), so with overlap the first buckets start while the early layers still compute.
  Bucket cur;
  int64_t cur_bytes = 0;
  auto flush = [&] {
    if (cur.params.empty()) return;
    buckets_.push_back(std::move(cur));
    cur = Bucket();
    cur_bytes = 0;
  };
  for (size_t k = params_.size(); k-- > 0;) {
    const at::Tensor& p = params_[k];
    const int64_t nbytes = p.numel() * static_cast<int64_t>(p.element_size());
    if (!cur.params.empty()) {
      const at::Tensor& first = params_[cur.params.front()];
      const int64_t limit = buckets_.empty() ? first_cap : cap;
      if (first.scalar_type() != p.scalar_type() || first.device() != p.device() || cur_bytes + nbytes > limit) flush();
    }
    cur.params.push_back(k);
    cur_bytes += nbytes;
    bytes_ += nbytes;
  }
  flush();
  bucket_of_.assign(params_.size(), 0);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    int64_t n = 0;
    for (size_t k : buckets_[b].params) {
      n += params_[k].numel();
      bucket_of_[k] = b;
    }
    buckets_[b].flat = at::zeros({n}, params_[buckets_[b].params.front()].options().requires_grad(false));
  }
  hooked_.assign(params_.size(), false);
  if (overlap && group_->world_size() > 1) {
    hooks_ = std::make_unique<Hooks>();
    for (size_t k = 0; k < params_.size(); ++k) {
      // A tensor that takes no gradient (frozen) never becomes ready: it does not hold its
      // bucket back, and sync() sums whatever gradient it has (none).
      if (!params_[k].requires_grad() || !params_[k].is_leaf()) continue;
      auto node = torch::autograd::impl::grad_accumulator(params_[k]);
      if (!node) continue;
      hooks_->keys.push_back(node->add_post_hook(std::make_unique<ReadyHook>([this, k] { on_ready(k); })));
      hooks_->nodes.push_back(std::move(node));
      hooked_[k] = true;
    }
  }
  reset_readiness();
}

GradientSync::~GradientSync() {
  if (hooks_)
    for (size_t i = 0; i < hooks_->nodes.size(); ++i) hooks_->nodes[i]->del_post_hook(hooks_->keys[i]);
  // An all-reduce still in flight (an exception left the step) must end before its buffer goes;
  // its error, if any, is the one that exception already carries.
  for (auto& b : buckets_) {
    if (!b.work) continue;
    try {
      b.work->wait();
    } catch (const std::exception&) {
    }
  }
}

void GradientSync::reset_readiness() {
  for (auto& b : buckets_) {
    b.pending = 0;
    for (size_t k : b.params) b.pending += hooked_[k] ? 1 : 0;
  }
  next_launch_ = 0;
}

void GradientSync::arm() {
  if (!hooks_) return;
  std::lock_guard<std::mutex> lock(mu_);
  reset_readiness();
  launched_in_backward_ = 0;
  armed_ = true;
}

void GradientSync::on_ready(size_t k) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!armed_) return;  // an earlier micro-batch of the window: its gradient is not final yet
  Bucket& b = buckets_[bucket_of_[k]];
  if (b.pending > 0) --b.pending;
  // In bucket order on every rank: a ready bucket waits for the ones before it. (A bucket of
  // frozen tensors alone, pending 0 from the start, goes with the first hook that fires.)
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    launch(next_launch_++);
    ++launched_in_backward_;
  }
}

void GradientSync::launch(size_t bi) {
  at::NoGradGuard no_grad;
  Bucket& b = buckets_[bi];
  int64_t off = 0;
  for (size_t k : b.params) {
    const at::Tensor& g = params_[k].grad();
    at::Tensor slot = b.flat.narrow(0, off, params_[k].numel());
    if (g.defined()) slot.copy_(g.reshape({-1}));
    else slot.zero_();
    off += params_[k].numel();
  }
  b.work = group_->allreduce_async(b.flat);
}

at::Tensor GradientSync::sync(const at::Tensor& extra) {
  at::NoGradGuard no_grad;
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = false;
  const int64_t n_extra = extra.defined() ? extra.numel() : 0;
  const c10::Device dev = params_.empty() ? c10::Device(c10::kCPU) : params_.front().device();
  // One small float64 vector rides along: the caller's values, then a has-gradient flag per
  // parameter (so an unused parameter stays without gradient on every rank alike).
  at::Tensor meta = at::zeros({n_extra + static_cast<int64_t>(params_.size())}, at::dtype(at::kDouble));
  if (n_extra) meta.narrow(0, 0, n_extra).copy_(extra.detach().reshape({-1}).to(at::kCPU, at::kDouble));
  auto* flags = meta.data_ptr<double>() + n_extra;
  for (size_t k = 0; k < params_.size(); ++k) flags[k] = params_[k].grad().defined() ? 1.0 : 0.0;
  // The buckets the backward pass did not start (all of them without overlap), in order, then
  // the small vector; they overlap one another on the backend's threads.
  while (next_launch_ < buckets_.size()) launch(next_launch_++);
  at::Tensor meta_dev = meta.to(dev);
  auto meta_work = group_->allreduce_async(meta_dev);
  for (auto& b : buckets_) {
    b.work->wait();
    b.work.reset();
  }
  meta_work->wait();
  reset_readiness();
  meta = meta_dev.to(at::kCPU);
  flags = meta.data_ptr<double>() + n_extra;
  for (auto& b : buckets_) {
    int64_t off = 0;
    for (size_t k : b.params) {
      at::Tensor p = params_[k];
      const at::Tensor summed = b.flat.narrow(0, off, p.numel()).view(p.sizes());
      off += p.numel();
      if (flags[k] == 0.0) continue;
      if (p.grad().defined()) p.mutable_grad().copy_(summed);
      else p.mutable_grad() = summed.clone();
    }
  }
  return meta.narrow(0, 0, n_extra);
}

// ----------------------------------------------------------------------- uneven gathers

namespace {

// Where a backend's collectives take their tensors: NCCL moves CUDA tensors only.
c10::Device comm_device(const ProcessGroup& group) {
  return group.backend() == "nccl" ? c10::Device(c10::kCUDA) : c10::Device(c10::kCPU);
}

constexpr int64_t kMaxGatherDims = 8;

}  // namespace

std::vector<at::Tensor> gather_rows(const at::Tensor& x, ProcessGroup& group, int64_t root) {
  const int64_t world = group.world_size();
  CT_CHECK(!x.defined() || (x.dim() >= 1 && x.dim() <= kMaxGatherDims), ShapeError, "gather_rows: expected 1 to ",
           kMaxGatherDims, " dimensions, got ", x.sizes());
  if (world == 1) return {x};
  at::NoGradGuard no_grad;
  // Round 1: every rank's shape and dtype (defined, rows, dtype, dims, sizes...), so that each
  // pads its rows to the longest and a rank without rows learns the shape.
  at::Tensor header = at::zeros({4 + kMaxGatherDims}, at::kLong);
  {
    auto* h = header.data_ptr<int64_t>();
    if (x.defined()) {
      h[0] = 1;
      h[1] = x.size(0);
      h[2] = static_cast<int64_t>(x.scalar_type());
      h[3] = x.dim();
      for (int64_t d = 0; d < x.dim(); ++d) h[4 + d] = x.size(d);
    }
  }
  const c10::Device dev = comm_device(group);
  std::vector<at::Tensor> headers = group.all_gather(header.to(dev));
  for (auto& h : headers) h = h.to(at::kCPU);
  int64_t ref = -1, max_rows = 0;
  for (int64_t r = 0; r < world; ++r) {
    const auto* h = headers[static_cast<size_t>(r)].data_ptr<int64_t>();
    if (h[0] == 0) continue;
    max_rows = std::max(max_rows, h[1]);
    if (ref < 0) {
      ref = r;
      continue;
    }
    const auto* f = headers[static_cast<size_t>(ref)].data_ptr<int64_t>();
    bool same = h[2] == f[2] && h[3] == f[3];
    for (int64_t d = 1; same && d < h[3]; ++d) same = h[4 + d] == f[4 + d];
    CT_CHECK(same, ShapeError, "gather_rows: rank ", r, " gives ", c10::IntArrayRef(h + 4, static_cast<size_t>(h[3])),
             " ", c10::toString(static_cast<at::ScalarType>(h[2])), ", rank ", ref, " ",
             c10::IntArrayRef(f + 4, static_cast<size_t>(f[3])), " ", c10::toString(static_cast<at::ScalarType>(f[2])),
             " (only the row count may differ)");
  }
  if (ref < 0)
    return group.rank() == root ? std::vector<at::Tensor>(static_cast<size_t>(world)) : std::vector<at::Tensor>();
  const auto* f = headers[static_cast<size_t>(ref)].data_ptr<int64_t>();
  std::vector<int64_t> shape(f + 4, f + 4 + f[3]);
  shape[0] = max_rows;
  const auto dtype = static_cast<at::ScalarType>(f[2]);
  // Round 2: the rows, padded to the longest shard.
  at::Tensor padded = at::zeros(shape, at::TensorOptions().dtype(dtype).device(dev));
  if (x.defined() && x.size(0) > 0) padded.narrow(0, 0, x.size(0)).copy_(x.detach());
  std::vector<at::Tensor> parts = group.gather(padded, root);
  if (group.rank() != root) return {};
  std::vector<at::Tensor> out(static_cast<size_t>(world));
  for (int64_t r = 0; r < world; ++r) {
    const auto* h = headers[static_cast<size_t>(r)].data_ptr<int64_t>();
    if (h[0] != 0) out[static_cast<size_t>(r)] = parts[static_cast<size_t>(r)].narrow(0, 0, h[1]);
  }
  return out;
}

std::vector<std::string> gather_strings(const std::string& s, ProcessGroup& group, int64_t root) {
  if (group.world_size() == 1) return {s};
  at::Tensor bytes = at::empty({static_cast<int64_t>(s.size())}, at::kByte);
  if (!s.empty()) std::memcpy(bytes.data_ptr<uint8_t>(), s.data(), s.size());
  std::vector<at::Tensor> parts = gather_rows(bytes, group, root);
  std::vector<std::string> out;
  for (const auto& p : parts) {
    const at::Tensor c = p.defined() ? p.to(at::kCPU).contiguous() : at::Tensor();
    if (!c.defined() || c.numel() == 0) out.emplace_back();
    else out.emplace_back(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), static_cast<size_t>(c.numel()));
  }
  return out;
}

void broadcast_string(std::string& s, ProcessGroup& group, int64_t root) {
  if (group.world_size() == 1) return;
  const c10::Device dev = comm_device(group);
  at::Tensor n = at::scalar_tensor(static_cast<int64_t>(s.size()), at::kLong).reshape({1}).to(dev);
  group.broadcast_(n, root);
  const int64_t len = n.to(at::kCPU).item<int64_t>();
  at::Tensor bytes = at::zeros({len}, at::kByte);
  if (group.rank() == root && len > 0) std::memcpy(bytes.data_ptr<uint8_t>(), s.data(), s.size());
  bytes = bytes.to(dev);
  if (len > 0) group.broadcast_(bytes, root);
  bytes = bytes.to(at::kCPU).contiguous();
  if (len == 0) s.clear();
  else s.assign(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(len));
}

// --------------------------------------------------------------------- all-gather with grad

namespace {

class AllGatherWithGrad : public torch::autograd::Function<AllGatherWithGrad> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, ProcessGroup* group) {
    ctx->saved_data["group"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(group));
    ctx->saved_data["rows"] = x.size(0);
    return at::cat(group->all_gather(x.detach().contiguous()), 0);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* group = reinterpret_cast<ProcessGroup*>(static_cast<intptr_t>(ctx->saved_data["group"].toInt()));
    const int64_t rows = ctx->saved_data["rows"].toInt();
    // Every rank's loss used every rank's rows: this rank's rows get the sum of all ranks'
    // gradients for them.
    at::Tensor g = grads[0].contiguous().clone();
    group->allreduce_(g);
    return {g.narrow(0, group->rank() * rows, rows), at::Tensor()};
  }
};

}  // namespace

at::Tensor all_gather_with_grad(const at::Tensor& x, const ProcessGroupPtr& group) {
  CT_CHECK(group != nullptr, ArgumentError, "all_gather_with_grad: no process group");
  CT_CHECK(x.dim() >= 1, ShapeError, "all_gather_with_grad: expected at least 1 dimension, got ", x.sizes());
  if (group->world_size() == 1) return x;
  return AllGatherWithGrad::apply(x, group.get());
}

}  // namespace cardiotorch::dist
