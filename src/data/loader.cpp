#include "cardiotorch/data/loader.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <numeric>
#include <tuple>

#include "cardiotorch/core/runtime.h"
#include "cardiotorch/core/thread_pool.h"
#include "cardiotorch/signal/crop.h"

namespace cardiotorch::data {

void LoaderOptions::validate() const {
  CT_CHECK(batch_size >= 1, ConfigError, "batch_size must be >= 1, got ", batch_size);
  CT_CHECK(num_workers >= -1, ConfigError, "num_workers must be >= 0, or -1 for the thread budget's share, got ",
           num_workers);
  CT_CHECK(prefetch >= 1, ConfigError, "prefetch must be >= 1, got ", prefetch);
  CT_CHECK(world_size >= 1, ConfigError, "world_size must be >= 1, got ", world_size);
  CT_CHECK(rank >= 0 && rank < world_size, ConfigError, "rank must be in [0, world_size=", world_size, "), got ", rank);
  CT_CHECK(crop >= 0, ConfigError, "crop must be >= 0, got ", crop);
  CT_CHECK(views >= 1, ConfigError, "views must be >= 1, got ", views);
  check_choice("crop_mode", crop_mode, {"random", "centre", "center", "start", "end"});
  try {
    (void)at::Device(device);
  } catch (const std::exception&) {
    throw ConfigError(str_cat("device must be cpu or cuda[:N], got '", device, "'"));
  }
}

namespace {

// Worker errors keep their category and gain the record name.
[[noreturn]] void rethrow_with_context(const std::string& prefix) {
  try {
    throw;
  } catch (const ShapeError& e) {
    throw ShapeError(prefix + e.what());
  } catch (const ConfigError& e) {
    throw ConfigError(prefix + e.what());
  } catch (const UsageError& e) {
    throw UsageError(prefix + e.what());
  } catch (const std::exception& e) {
    throw DataError(prefix + e.what());
  }
}

Batch to_device_batch(Batch b, bool use_cuda, const LoaderOptions& o) {
  if (!use_cuda) return b;
  const at::Device dev(o.device);
  b.x = b.x.to(dev, /*non_blocking=*/o.pin_memory);
  for (auto& v : b.views) v = v.to(dev, /*non_blocking=*/o.pin_memory);
  if (b.y.defined()) b.y = b.y.to(dev, /*non_blocking=*/o.pin_memory);
  return b;
}

}  // namespace

namespace {
// One batch in flight: its samples, filled in by whichever workers take them.
struct Slot {
  std::vector<int64_t> indices;
  std::vector<Sample> samples;
  std::vector<std::vector<at::Tensor>> views;  // views > 1: per sample, its views 1..K-1
  std::vector<std::exception_ptr> errors;
  std::atomic<int64_t> remaining{0};
  std::optional<Batch> batch;  // set when ready (or error)
  std::exception_ptr error;
  bool ready = false;
};
}  // namespace

struct Loader::Impl {
  explicit Impl(const Loader& l) : loader(l) {}
  ~Impl() {
    cancel();
    pool.reset();  // joins the workers; the tasks left are stale and return at once
  }

  const Loader& loader;
  signal::Pipeline pipeline;        // per-sample steps, run in prepare()
  signal::Pipeline batch_pipeline;  // batch-level steps (mixup, cutmix, ...), run after collation
  signal::CropOptions crop;         // the crop step's options for LoaderOptions::crop
  bool use_cuda = false;
  std::unique_ptr<ThreadPool> pool;  // null with num_workers == 0

  // Epoch state. `generation` changes on every start_epoch, so tasks of an abandoned epoch
  // skip their work; `in_flight` counts queued and running tasks so start_epoch can wait for them.
  std::mutex mu;
  std::condition_variable cv_ready, cv_idle;
  std::atomic<uint64_t> generation{0};
  int64_t epoch = -1;
  std::vector<std::vector<int64_t>> jobs;
  int64_t scheduled = 0;  // batches handed to the pool
  int64_t consumed = 0;   // batches handed to the consumer
  int64_t in_flight = 0;
  std::map<int64_t, std::shared_ptr<Slot>> slots;

  void cancel() {
    std::unique_lock<std::mutex> lk(mu);
    generation.fetch_add(1);
    cv_idle.wait(lk, [&] { return in_flight == 0; });
    slots.clear();
  }

  // Queues batch `job` of the current epoch: one task per sample. Called with mu held.
  void schedule(int64_t job) {
    auto slot = std::make_shared<Slot>();
    slot->indices = jobs[static_cast<size_t>(job)];
    const int64_t n = static_cast<int64_t>(slot->indices.size());
    slot->samples.resize(static_cast<size_t>(n));
    slot->views.resize(static_cast<size_t>(n));
    slot->errors.resize(static_cast<size_t>(n));
    slot->remaining.store(n);
    slots[job] = slot;
    in_flight += n;
    const uint64_t gen = generation.load();
    const int64_t ep = epoch;
    for (int64_t k = 0; k < n; ++k) pool->submit([this, slot, gen, ep, job, k] { run_sample(slot, gen, ep, job, k); });
  }

  void run_sample(const std::shared_ptr<Slot>& slot, uint64_t gen, int64_t ep, int64_t job, int64_t k) {
    if (generation.load() == gen) {
      const size_t i = static_cast<size_t>(k);
      try {
        prepare_sample(*slot, i, ep);
      } catch (...) {
        slot->errors[i] = std::current_exception();
      }
      // The last sample's worker collates the batch, outside the lock.
      if (slot->remaining.fetch_sub(1) == 1 && generation.load() == gen) {
        try {
          slot->batch = collate(ep, job, *slot);
        } catch (...) {
          slot->error = std::current_exception();
        }
        std::lock_guard<std::mutex> lk(mu);
        slot->ready = true;
        cv_ready.notify_all();
      }
    }
    std::lock_guard<std::mutex> lk(mu);
    if (--in_flight == 0) cv_idle.notify_all();
  }

  // Sample i of a slot: prepare() with one view; with K views the record is decoded once and
  // every view transforms its own copy (steps may work in place).
  void prepare_sample(Slot& slot, size_t i, int64_t ep) const {
    const int64_t index = slot.indices[i];
    const int64_t views = loader.options().views;
    if (views == 1) {
      slot.samples[i] = loader.prepare(index, ep);
      return;
    }
    const Sample decoded = loader.dataset().get(index);
    slot.views[i].clear();
    for (int64_t v = 0; v < views; ++v) {
      Sample copy = decoded;
      copy.signal = decoded.signal.clone();
      Sample t = loader.transform(std::move(copy), index, ep, v);
      if (v == 0) slot.samples[i] = std::move(t);
      else slot.views[i].push_back(std::move(t.signal));
    }
  }

  // Checks, stacks and post-processes prepared samples; the first sample error wins.
  Batch collate(int64_t ep, int64_t batch_index, Slot& slot) const;
  void apply_batch_steps(Batch& b) const;
};

Loader::Loader(DatasetPtr dataset, signal::Pipeline pipeline, LoaderOptions options)
    : impl_(std::make_unique<Impl>(*this)), dataset_(std::move(dataset)), options_(std::move(options)) {
  CT_INTERNAL_ASSERT(dataset_ != nullptr);
  std::tie(impl_->pipeline, impl_->batch_pipeline) = pipeline.split_batch_level();
  options_.validate();
  if (options_.num_workers < 0) options_.num_workers = thread_budget().loader_workers;
  CT_CHECK(options_.views == 1 || impl_->batch_pipeline.empty(), ConfigError, "loader: views: ", options_.views,
           " cannot be combined with batch-level augmenters (", impl_->batch_pipeline.steps().front()->name(),
           "): they would mix one view of a sample with another sample");
  const at::Device dev(options_.device);
  if (dev.is_cuda()) {
    CT_CHECK(at::hasCUDA(), ConfigError, "loader: device '", options_.device,
             "' requested, but this build or machine has no CUDA");
    impl_->use_cuda = true;
  }
  signal::CropOptions& c = impl_->crop;
  c.length = std::max<int64_t>(1, options_.crop);
  c.mode = signal::is_centre(options_.crop_mode) ? "centre" : options_.crop_mode;
  c.eval_mode = "centre";
  c.pad = "end";
  c.pad_value = 0.0;
  if (options_.num_workers > 0) impl_->pool = std::make_unique<ThreadPool>(static_cast<int>(options_.num_workers));
}

// The workers use dataset_, options_ and impl_'s pipeline and crop: stop them before any of
// these go. Not impl_.reset(): it nulls impl_ before ~Impl waits for the running samples, and a
// worker past a slow step then reads impl_->crop through a null pointer.
Loader::~Loader() {
  if (!impl_) return;
  impl_->cancel();
  impl_->pool.reset();
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const {
  const int64_t n = dataset_->size();
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  if (options_.shuffle && n > 1) {
    // Our own Fisher-Yates over derive_seed: identical on every platform and torch version.
    uint64_t state = derive_seed(options_.seed, static_cast<uint64_t>(epoch), 0x5348u);
    for (int64_t i = n - 1; i > 0; --i) {
      state = derive_seed(state, static_cast<uint64_t>(i));
      std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(state % static_cast<uint64_t>(i + 1))]);
    }
  }
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(n / options_.world_size + 1));
  for (int64_t j = options_.rank; j < n; j += options_.world_size) out.push_back(perm[static_cast<size_t>(j)]);
  return out;
}

int64_t Loader::shard_size() const {
  const int64_t n = dataset_->size();
  return n / options_.world_size + (options_.rank < n % options_.world_size ? 1 : 0);
}

int64_t Loader::num_batches() const {
  const int64_t n = shard_size();
  return options_.drop_last ? n / options_.batch_size : (n + options_.batch_size - 1) / options_.batch_size;
}

Sample Loader::prepare(int64_t index, int64_t epoch) const { return transform(dataset_->get(index), index, epoch, 0); }

Sample Loader::transform(Sample s, int64_t index, int64_t epoch, int64_t view) const {
  CT_CHECK(s.signal.defined() && s.signal.dim() == 2, ShapeError, "expected a signal [leads, samples]");
  // View 0 draws from (seed, epoch, index) as a single-view loader does; view v > 0 from its own
  // stream (seed, epoch, index, v), so the views of a sample are independent of each other.
  const uint64_t seed = view == 0
                            ? derive_seed(options_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index))
                            : derive_seed(options_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index),
                                          static_cast<uint64_t>(view));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const signal::Pipeline& pipeline = impl_->pipeline;
  if (!pipeline.empty()) {
    signal::SignalBatch b;
    b.x = std::move(s.signal);  // the pipeline may then work in place on the sample's own buffer
    b.fs = s.fs;
    b.leads = s.leads;
    const bool pass_y = s.label.defined() && s.label.dim() == 1 && s.label.is_floating_point();
    if (pass_y) b.y = s.label;
    signal::StepContext ctx;
    ctx.training = options_.training;
    ctx.generator = gen;
    pipeline.apply(b, ctx);
    CT_CHECK(b.x.dim() == 2, ShapeError, "the pipeline gave a signal of shape ", b.x.sizes(),
             "; expected [leads, samples]");
    s.signal = b.x;
    s.fs = b.fs;
    s.leads = b.leads;
    if (pass_y && b.y.defined()) s.label = b.y;
  }
  if (options_.crop > 0) {
    // The crop step's window; a mask label [classes, samples] is cut at the same place.
    const int64_t len = s.signal.size(1);
    const bool mask = s.label.defined() && s.label.dim() == 2 && s.label.size(1) == len;
    const int64_t start = signal::crop_start(impl_->crop, len, options_.training, gen);
    s.signal = signal::crop_window(s.signal, impl_->crop, start);
    if (mask) s.label = signal::crop_window(s.label, impl_->crop, start);
  }
  if (s.signal.scalar_type() != at::kFloat) s.signal = s.signal.to(at::kFloat);
  return s;
}

Batch Loader::Impl::collate(int64_t ep, int64_t batch_index, Slot& slot) const {
  const Dataset& ds = loader.dataset();
  for (size_t k = 0; k < slot.errors.size(); ++k) {
    if (!slot.errors[k]) continue;
    try {
      std::rethrow_exception(slot.errors[k]);
    } catch (...) {
      const int64_t i = slot.indices[k];
      rethrow_with_context(str_cat("loader: record ", ds.item(i).record_id, " (item ", i, "): "));
    }
  }
  std::vector<Sample>& samples = slot.samples;
  Batch b;
  b.epoch = ep;
  b.batch_index = batch_index;
  const Sample& first = samples.front();
  const int64_t L = first.signal.size(0), S = first.signal.size(1);
  for (const Sample& s : samples) {
    CT_CHECK(s.signal.size(0) == L && s.signal.size(1) == S, ShapeError, "loader: record ", s.record_id, " has shape [",
             s.signal.size(0), ", ", s.signal.size(1), "] but record ", first.record_id, " in the same batch has [", L,
             ", ", S, "]; set loader.crop or add a fixed-length pipeline step");
    CT_CHECK(s.leads.empty() || first.leads.empty() || s.leads == first.leads, ShapeError, "loader: record ",
             s.record_id, " has leads ", join(s.leads), " but record ", first.record_id, " has ", join(first.leads),
             "; set the dataset's leads option");
    CT_CHECK(
        s.label.defined() == first.label.defined() && (!s.label.defined() || s.label.sizes() == first.label.sizes()),
        ShapeError, "loader: record ", s.record_id, " has a label of a different shape than record ", first.record_id);
  }
  const int64_t B = static_cast<int64_t>(samples.size());
  const bool pin = use_cuda && loader.options().pin_memory;
  auto opts = at::TensorOptions().dtype(at::kFloat);
  if (pin) opts = opts.pinned_memory(true);
  b.x = at::empty({B, L, S}, opts);
  for (int64_t k = 0; k < B; ++k) b.x[k].copy_(samples[static_cast<size_t>(k)].signal);
  if (first.label.defined()) {
    std::vector<int64_t> shape{B};
    for (int64_t d : first.label.sizes()) shape.push_back(d);
    auto lopts = at::TensorOptions().dtype(first.label.scalar_type());
    if (pin) lopts = lopts.pinned_memory(true);
    b.y = at::empty(shape, lopts);
    for (int64_t k = 0; k < B; ++k) b.y[k].copy_(samples[static_cast<size_t>(k)].label);
  }
  if (loader.options().views > 1) {
    b.views.push_back(b.x);
    for (int64_t v = 1; v < loader.options().views; ++v) {
      std::vector<at::Tensor> view;
      for (size_t k = 0; k < samples.size(); ++k) {
        const at::Tensor& t = slot.views[k][static_cast<size_t>(v - 1)];
        CT_CHECK(t.sizes() == samples[k].signal.sizes(), ShapeError, "loader: record ", samples[k].record_id, ": view ",
                 v, " has shape ", t.sizes(), " but view 0 ", samples[k].signal.sizes(), "; set loader.crop");
        view.push_back(t.scalar_type() == at::kFloat ? t : t.to(at::kFloat));
      }
      at::Tensor stacked = at::stack(view);
      if (pin) stacked = stacked.pin_memory();
      b.views.push_back(std::move(stacked));
    }
    slot.views.clear();
  }
  b.indices = slot.indices;
  for (Sample& s : samples) {
    b.record_ids.push_back(std::move(s.record_id));
    b.patient_ids.push_back(std::move(s.patient_id));
    b.texts.push_back(std::move(s.text));
  }
  b.fs = first.fs;
  b.leads = first.leads;
  samples.clear();  // the batch holds the data now
  if (loader.options().training && !batch_pipeline.empty()) apply_batch_steps(b);
  return b;
}

void Loader::Impl::apply_batch_steps(Batch& b) const {
  const LoaderOptions& options = loader.options();
  signal::SignalBatch sb;
  sb.x = b.x;
  sb.fs = b.fs;
  sb.leads = b.leads;
  if (b.y.defined()) {
    const auto& info = loader.dataset().info();
    if (info.label_kind == LabelKind::kClassIndex) {
      // Mixing needs soft labels: class indices become one-hot rows over the dataset's classes.
      const int64_t n_classes = static_cast<int64_t>(info.class_names.size());
      CT_CHECK(n_classes > 0, ShapeError, "loader: batch-level augmentation needs the dataset's class names");
      sb.y = at::one_hot(b.y.to(at::kLong), n_classes).to(at::kFloat);
    } else {
      CT_CHECK(info.label_kind != LabelKind::kMask, ShapeError, "loader: batch-level augmenters (",
               batch_pipeline.steps().front()->name(), ") do not support per-sample mask labels");
      sb.y = b.y.to(at::kFloat);
    }
  }
  signal::StepContext ctx;
  ctx.training = true;
  // Its own stream: (seed, epoch, batch index) with a tag that per-sample streams never use.
  ctx.generator = at::make_generator<at::CPUGeneratorImpl>(
      derive_seed(options.seed, static_cast<uint64_t>(b.epoch), static_cast<uint64_t>(b.batch_index), 0xBA7C4u));
  batch_pipeline.apply(sb, ctx);
  b.x = sb.x;
  if (sb.y.defined()) b.y = sb.y;
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  Impl& m = *impl_;
  CT_CHECK(first_batch >= 0 && first_batch <= num_batches(), UsageError, "loader: first_batch ", first_batch,
           " outside [0, ", num_batches(), "]");
  m.cancel();
  const std::vector<int64_t> order = epoch_order(epoch);
  std::lock_guard<std::mutex> lk(m.mu);
  m.jobs.clear();
  const int64_t nb = num_batches();
  for (int64_t b = 0; b < nb; ++b) {
    const auto begin = order.begin() + b * options_.batch_size;
    const auto end =
        order.begin() + std::min<int64_t>(static_cast<int64_t>(order.size()), (b + 1) * options_.batch_size);
    m.jobs.emplace_back(begin, end);
  }
  m.epoch = epoch;
  m.consumed = first_batch;
  m.scheduled = first_batch;
  if (m.pool)
    for (; m.scheduled < std::min<int64_t>(nb, first_batch + options_.prefetch); ++m.scheduled) m.schedule(m.scheduled);
}

std::optional<Batch> Loader::next() {
  Impl& m = *impl_;
  CT_CHECK(m.epoch >= 0, UsageError, "loader: call start_epoch(epoch) before next()");
  if (m.consumed >= static_cast<int64_t>(m.jobs.size())) return std::nullopt;
  std::shared_ptr<Slot> slot;
  if (!m.pool) {
    slot = std::make_shared<Slot>();
    slot->indices = m.jobs[static_cast<size_t>(m.consumed)];
    const size_t n = slot->indices.size();
    slot->samples.resize(n);
    slot->views.resize(n);
    slot->errors.resize(n);
    for (size_t i = 0; i < n; ++i) {
      try {
        m.prepare_sample(*slot, i, m.epoch);
      } catch (...) {
        slot->errors[i] = std::current_exception();
        break;  // in the consumer's thread the first error ends the batch
      }
    }
    const int64_t job = m.consumed++;
    return to_device_batch(m.collate(m.epoch, job, *slot), m.use_cuda, options_);
  }
  {
    std::unique_lock<std::mutex> lk(m.mu);
    m.cv_ready.wait(lk, [&] {
      auto it = m.slots.find(m.consumed);
      return it != m.slots.end() && it->second->ready;
    });
    auto it = m.slots.find(m.consumed);
    slot = it->second;
    m.slots.erase(it);
    ++m.consumed;
    if (m.scheduled < static_cast<int64_t>(m.jobs.size())) m.schedule(m.scheduled++);
  }
  if (slot->error) std::rethrow_exception(slot->error);
  return to_device_batch(std::move(*slot->batch), m.use_cuda, options_);
}

}  // namespace cardiotorch::data
