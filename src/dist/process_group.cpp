#include "cardiotorch/dist/process_group.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cmath>
#include <cstdlib>
#include <thread>
#include <utility>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/core/strings.h"

// Gloo needs its headers (libgloo-dev on Debian) and a torch built with it; NCCL a CUDA torch.
// Without them the library still builds and a distributed run says what is missing.
#if defined(USE_C10D_GLOO) && __has_include(<gloo/config.h>) && \
    __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#define CT_HAVE_GLOO 1
#else
#define CT_HAVE_GLOO 0
#endif
#if defined(USE_C10D_NCCL) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define CT_HAVE_NCCL 1
#else
#define CT_HAVE_NCCL 0
#endif

namespace cardiotorch::dist {

namespace {

// libtorch 2.x split the process group into a dispatching front and per-device Backends; the
// Gloo and NCCL classes derive from Backend there and from ProcessGroup in 1.13. Both bases
// offer the collectives used here with the same signatures.
#if CT_TORCH_AT_LEAST(2, 0)
using BackendBase = c10d::Backend;
#else
using BackendBase = c10d::ProcessGroup;
#endif
using WorkPtr = decltype(std::declval<BackendBase&>().barrier(c10d::BarrierOptions()));

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000.0)));
}

// The first line of an exception's message, without torch's backtrace.
std::string first_line(const std::exception& e) {
  std::string m;
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) m = ce->what_without_backtrace();
  else m = e.what();
  const size_t nl = m.find('\n');
  return nl == std::string::npos ? m : m.substr(0, nl);
}

double seconds_of(std::chrono::milliseconds ms) { return static_cast<double>(ms.count()) / 1000.0; }

c10d::ReduceOp to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMax: return c10d::ReduceOp::MAX;
    case ReduceOp::kMin: return c10d::ReduceOp::MIN;
    case ReduceOp::kSum: break;
  }
  return c10d::ReduceOp::SUM;
}

}  // namespace

void DistOptions::validate() const {
  check_choice("backend", backend, {"auto", "gloo", "nccl"});
  CT_CHECK(timeout_s > 0 && std::isfinite(timeout_s), ConfigError, "timeout_s must be > 0, got ", timeout_s);
  CT_CHECK(setup_timeout_s > 0 && std::isfinite(setup_timeout_s), ConfigError, "setup_timeout_s must be > 0, got ",
           setup_timeout_s);
  CT_CHECK(bucket_mb > 0 && std::isfinite(bucket_mb), ConfigError, "bucket_mb must be > 0, got ", bucket_mb);
}

bool backend_available(const std::string& backend) {
  if (backend == "gloo") return CT_HAVE_GLOO;
  if (backend == "nccl") return CT_HAVE_NCCL;
  return false;
}

double timeout_from_env(double fallback) {
  const char* v = std::getenv("CT_DIST_TIMEOUT_S");
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  CT_CHECK(end && *end == '\0' && s > 0 && std::isfinite(s), ConfigError, "environment: CT_DIST_TIMEOUT_S='", v,
           "' is not a positive number of seconds");
  return s;
}

// ------------------------------------------------------------------------------- store

struct Store::Impl {
  c10::intrusive_ptr<c10d::Store> store;
};

Store::Store(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::shared_ptr<Store> Store::in_memory() {
  auto impl = std::make_shared<Impl>();
  impl->store = c10::make_intrusive<c10d::HashStore>();
  return std::make_shared<Store>(impl);
}

std::shared_ptr<Store> Store::tcp(const DistEnv& env, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(env.master_port);
  so.isServer = env.rank == 0 && !env.agent_store;
  so.numWorkers = static_cast<std::size_t>(env.world_size);
  so.waitWorkers = true;
  so.timeout = timeout;
  auto impl = std::make_shared<Impl>();
  try {
    impl->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    const std::string why = first_line(e);
    const bool in_use =
        why.find("Address already in use") != std::string::npos || why.find("errno: 98") != std::string::npos;
    CT_CHECK(!in_use, DataError, "dist: MASTER_PORT=", env.master_port, " is already in use on ", env.master_addr,
             " (another job or a previous run still holds it); choose another port: MASTER_PORT=<free port>, "
             "`cardiotorch launch --master-port P`, or torchrun --master_port");
    throw DataError(str_cat("dist: rank ", env.rank, " could not meet the other ", env.world_size - 1,
                            " ranks at the store ", env.master_addr, ":", env.master_port, " within ",
                            seconds_of(timeout),
                            " s (are all ranks started, with the same MASTER_ADDR/MASTER_PORT?): ", why));
  }
  return std::make_shared<Store>(impl);
}

// ------------------------------------------------------------------------ process group

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;  // the group's prefix of the job's store
  c10::intrusive_ptr<BackendBase> pg;
  int64_t barriers = 0;
};

ProcessGroup::ProcessGroup(std::unique_ptr<Impl> impl, int64_t rank, int64_t world, std::string backend,
                           std::chrono::milliseconds timeout)
    : impl_(std::move(impl)), rank_(rank), world_(world), backend_(std::move(backend)), timeout_(timeout) {}

ProcessGroup::~ProcessGroup() = default;

std::shared_ptr<ProcessGroup> ProcessGroup::create(const DistEnv& env, const DistOptions& options) {
  options.validate();
  const auto setup = to_ms(std::max(options.setup_timeout_s, timeout_from_env(options.timeout_s)));
  return create(Store::tcp(env, setup), env.rank, env.world_size, options);
}

std::shared_ptr<ProcessGroup> ProcessGroup::create(std::shared_ptr<Store> store, int64_t rank, int64_t world,
                                                   const DistOptions& options, const std::string& prefix) {
  options.validate();
  CT_CHECK(world >= 1 && rank >= 0 && rank < world, ArgumentError, "dist: rank ", rank, " of world ", world);
  std::string backend = options.backend;
  if (backend == "auto") backend = at::hasCUDA() ? "nccl" : "gloo";
  const auto timeout = to_ms(timeout_from_env(options.timeout_s));
  auto impl = std::make_unique<Impl>();
  impl->store = c10::make_intrusive<c10d::PrefixStore>(prefix, store->impl().store);
  [[maybe_unused]] const int r = static_cast<int>(rank), w = static_cast<int>(world);
  try {
    if (backend == "gloo") {
#if CT_HAVE_GLOO
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      // GLOO_SOCKET_IFNAME picks the interface (as in PyTorch); a single machine talks over
      // loopback; across nodes, the address this host's name resolves to.
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      const DistEnv env = env_from_process();
      if (ifname && *ifname) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (env.local_world_size < env.world_size)
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      else opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      opts->threads = 2;
      impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, r, w, opts);
#else
      throw ConfigError(
          "dist: this build has no Gloo backend (LibTorch without USE_C10D_GLOO, or the gloo headers were missing "
          "at build time: install libgloo-dev and rebuild), so it cannot run several CPU ranks");
#endif
    } else {
#if CT_HAVE_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      impl->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, r, w, opts);
#else
      throw ConfigError(
          "dist: backend nccl needs a CUDA build of LibTorch with NCCL; this build has none (use dist.backend: "
          "gloo on CPU)");
#endif
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw DataError(str_cat("dist: rank ", rank, " could not connect the ", backend, " group of ", world,
                            " ranks within ", seconds_of(timeout), " s: ", first_line(e)));
  }
  return std::shared_ptr<ProcessGroup>(new ProcessGroup(std::move(impl), rank, world, backend, timeout));
}

namespace {

template <class F>
void run_collective(const char* what, int64_t rank, std::chrono::milliseconds timeout, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    throw DataError(str_cat("dist: ", what, " failed on rank ", rank, " (timeout ", seconds_of(timeout),
                            " s; another rank died, hung or failed): ", first_line(e)));
  }
}

}  // namespace

void ProcessGroup::allreduce_(at::Tensor& tensor, ReduceOp op) {
  std::vector<at::Tensor> v{tensor};
  allreduce_(v, op);
}

void ProcessGroup::allreduce_(std::vector<at::Tensor>& tensors, ReduceOp op) {
  if (world_ == 1 || tensors.empty()) return;
  c10d::AllreduceOptions ao;
  ao.reduceOp = to_c10d(op);
  ao.timeout = timeout_;
  run_collective("all-reduce", rank_, timeout_, [&] {
    std::vector<WorkPtr> works;
    works.reserve(tensors.size());
    for (auto& t : tensors) {
      CT_CHECK(t.is_contiguous(), ArgumentError, "dist: all-reduce needs contiguous tensors");
      std::vector<at::Tensor> one{t};
      works.push_back(impl_->pg->allreduce(one, ao));
    }
    for (auto& w : works) w->wait(timeout_);
  });
}

struct ProcessGroup::Work::Impl {
  WorkPtr work;
  int64_t rank = 0;
  std::chrono::milliseconds timeout{0};
};

ProcessGroup::Work::Work(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProcessGroup::Work::~Work() = default;

void ProcessGroup::Work::wait() {
  if (!impl_ || !impl_->work) return;
  run_collective("all-reduce", impl_->rank, impl_->timeout, [&] { impl_->work->wait(impl_->timeout); });
  impl_->work.reset();
}

std::unique_ptr<ProcessGroup::Work> ProcessGroup::allreduce_async(at::Tensor& tensor, ReduceOp op) {
  auto impl = std::make_unique<Work::Impl>();
  impl->rank = rank_;
  impl->timeout = timeout_;
  if (world_ > 1) {
    CT_CHECK(tensor.is_contiguous(), ArgumentError, "dist: all-reduce needs contiguous tensors");
    c10d::AllreduceOptions ao;
    ao.reduceOp = to_c10d(op);
    ao.timeout = timeout_;
    std::vector<at::Tensor> one{tensor};
    run_collective("all-reduce", rank_, timeout_, [&] { impl->work = impl_->pg->allreduce(one, ao); });
  }
  return std::make_unique<Work>(std::move(impl));
}

void ProcessGroup::broadcast_(at::Tensor& tensor, int64_t root) {
  if (world_ == 1) return;
  CT_CHECK(root >= 0 && root < world_, ArgumentError, "dist: broadcast root ", root, " of world ", world_);
  c10d::BroadcastOptions bo;
  bo.rootRank = root;
  bo.timeout = timeout_;
  run_collective("broadcast", rank_, timeout_, [&] {
    CT_CHECK(tensor.is_contiguous(), ArgumentError, "dist: broadcast needs a contiguous tensor");
    std::vector<at::Tensor> one{tensor};
    impl_->pg->broadcast(one, bo)->wait(timeout_);
  });
}

std::vector<at::Tensor> ProcessGroup::all_gather(const at::Tensor& tensor) {
  if (world_ == 1) return {tensor};
  std::vector<at::Tensor> in{tensor.contiguous()};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int64_t r = 0; r < world_; ++r) out[0].push_back(at::empty_like(in[0]));
  c10d::AllgatherOptions go;
  go.timeout = timeout_;
  run_collective("all-gather", rank_, timeout_, [&] { impl_->pg->allgather(out, in, go)->wait(timeout_); });
  return out[0];
}

std::vector<at::Tensor> ProcessGroup::gather(const at::Tensor& tensor, int64_t root) {
  if (world_ == 1) return {tensor};
  CT_CHECK(root >= 0 && root < world_, ArgumentError, "dist: gather root ", root, " of world ", world_);
  std::vector<at::Tensor> in{tensor.contiguous()};
  // c10d wants one list of world tensors on the root and no list elsewhere.
  std::vector<std::vector<at::Tensor>> out;
  if (rank_ == root) {
    out.emplace_back();
    for (int64_t r = 0; r < world_; ++r) out[0].push_back(at::empty_like(in[0]));
  }
  c10d::GatherOptions go;
  go.rootRank = root;
  go.timeout = timeout_;
  run_collective("gather", rank_, timeout_, [&] { impl_->pg->gather(out, in, go)->wait(timeout_); });
  return rank_ == root ? out[0] : std::vector<at::Tensor>();
}

void ProcessGroup::barrier(std::chrono::milliseconds timeout) {
  if (world_ == 1) return;
  if (timeout.count() <= 0) timeout = timeout_;
  // Through the store rather than the backend: the wait can be longer than the backend's
  // per-operation timeout (rank 0 building the preprocessed cache), and it ends at exactly
  // `timeout` with the count of ranks that did arrive.
  const std::string key = str_cat("barrier/", impl_->barriers++);
  const auto start = std::chrono::steady_clock::now();
  int64_t arrived = 0;
  try {
    impl_->store->add(key, 1);
    auto pause = std::chrono::milliseconds(1);
    while ((arrived = impl_->store->add(key, 0)) < world_) {
      CT_CHECK(std::chrono::steady_clock::now() - start < timeout, DataError, "dist: barrier timed out on rank ", rank_,
               " after ", seconds_of(timeout), " s: ", arrived, " of ", world_,
               " ranks arrived (a rank died, hangs, or is far behind)");
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw DataError(str_cat("dist: barrier failed on rank ", rank_, ": ", first_line(e)));
  }
}

}  // namespace cardiotorch::dist
