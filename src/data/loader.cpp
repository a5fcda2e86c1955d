#include "cardiotorch/data/loader.h"

#include <tuple>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <numeric>

#include "cardiotorch/core/runtime.h"

namespace cardiotorch::data {

void LoaderOptions::validate() const {
  CT_CHECK(batch_size >= 1, ConfigError, "batch_size must be >= 1, got ", batch_size);
  CT_CHECK(num_workers >= 0, ConfigError, "num_workers must be >= 0, got ", num_workers);
  CT_CHECK(prefetch >= 1, ConfigError, "prefetch must be >= 1, got ", prefetch);
  CT_CHECK(world_size >= 1, ConfigError, "world_size must be >= 1, got ", world_size);
  CT_CHECK(rank >= 0 && rank < world_size, ConfigError, "rank must be in [0, world_size=", world_size, "), got ",
           rank);
  CT_CHECK(crop >= 0, ConfigError, "crop must be >= 0, got ", crop);
  CT_CHECK(views >= 1, ConfigError, "views must be >= 1, got ", views);
  check_choice("crop_mode", crop_mode, {"random", "center", "start"});
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

}  // namespace

Loader::Loader(DatasetPtr dataset, signal::Pipeline pipeline, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  CT_INTERNAL_ASSERT(dataset_ != nullptr);
  std::tie(pipeline_, batch_pipeline_) = pipeline.split_batch_level();
  options_.validate();
  CT_CHECK(options_.views == 1 || batch_pipeline_.empty(), ConfigError, "loader: views: ", options_.views,
           " cannot be combined with batch-level augmenters (", batch_pipeline_.steps().front()->name(),
           "): they would mix one view of a sample with another sample");
  const at::Device dev(options_.device);
  if (dev.is_cuda()) {
    CT_CHECK(at::hasCUDA(), ConfigError, "loader: device '", options_.device,
             "' requested, but this build or machine has no CUDA");
    use_cuda_ = true;
  }
}

Loader::~Loader() { stop_workers(); }

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
  const uint64_t seed = view == 0 ? derive_seed(options_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index))
                                  : derive_seed(options_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index),
                                                static_cast<uint64_t>(view));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  if (!pipeline_.empty()) {
    signal::SignalBatch b;
    b.x = s.signal;
    b.fs = s.fs;
    b.leads = s.leads;
    const bool pass_y = s.label.defined() && s.label.dim() == 1 && s.label.is_floating_point();
    if (pass_y) b.y = s.label;
    signal::StepContext ctx;
    ctx.training = options_.training;
    ctx.generator = gen;
    pipeline_.apply(b, ctx);
    CT_CHECK(b.x.dim() == 2, ShapeError, "the pipeline gave a signal of shape ", b.x.sizes(),
             "; expected [leads, samples]");
    s.signal = b.x;
    s.fs = b.fs;
    s.leads = b.leads;
    if (pass_y && b.y.defined()) s.label = b.y;
  }
  if (options_.crop > 0) {
    const int64_t len = s.signal.size(1), crop = options_.crop;
    const bool mask = s.label.defined() && s.label.dim() == 2 && s.label.size(1) == len;
    if (len > crop) {
      int64_t off = 0;
      if (options_.crop_mode == "random" && options_.training) {
        off = at::randint(len - crop + 1, {1}, gen, at::TensorOptions().dtype(at::kLong)).item<int64_t>();
      } else if (options_.crop_mode != "start") {
        off = (len - crop) / 2;
      }
      s.signal = s.signal.narrow(1, off, crop);
      if (mask) s.label = s.label.narrow(1, off, crop);
    } else if (len < crop) {
      s.signal = at::constant_pad_nd(s.signal, {0, crop - len}, 0);
      if (mask) s.label = at::constant_pad_nd(s.label, {0, crop - len}, 0);
    }
  }
  if (s.signal.scalar_type() != at::kFloat) s.signal = s.signal.to(at::kFloat);
  return s;
}

Batch Loader::make_batch(int64_t epoch, int64_t batch_index, const std::vector<int64_t>& idx) const {
  Batch b;
  b.epoch = epoch;
  b.batch_index = batch_index;
  std::vector<Sample> samples;
  samples.reserve(idx.size());
  std::vector<std::vector<at::Tensor>> extra(static_cast<size_t>(options_.views - 1));  // views 1..K-1
  for (int64_t i : idx) {
    try {
      if (options_.views == 1) {
        samples.push_back(prepare(i, epoch));
        continue;
      }
      // Decoded once; every view transforms its own copy (steps may work in place).
      const Sample decoded = dataset_->get(i);
      for (int64_t v = 0; v < options_.views; ++v) {
        Sample copy = decoded;
        copy.signal = decoded.signal.clone();
        Sample t = transform(std::move(copy), i, epoch, v);
        if (v == 0) samples.push_back(std::move(t));
        else extra[static_cast<size_t>(v - 1)].push_back(t.signal);
      }
    } catch (...) {
      rethrow_with_context(str_cat("loader: record ", dataset_->item(i).record_id, " (item ", i, "): "));
    }
  }
  const Sample& first = samples.front();
  const int64_t L = first.signal.size(0), S = first.signal.size(1);
  for (const Sample& s : samples) {
    CT_CHECK(s.signal.size(0) == L && s.signal.size(1) == S, ShapeError, "loader: record ", s.record_id,
             " has shape [", s.signal.size(0), ", ", s.signal.size(1), "] but record ", first.record_id,
             " in the same batch has [", L, ", ", S, "]; set loader.crop or add a fixed-length pipeline step");
    CT_CHECK(s.leads.empty() || first.leads.empty() || s.leads == first.leads, ShapeError, "loader: record ",
             s.record_id, " has leads ", join(s.leads), " but record ", first.record_id, " has ", join(first.leads),
             "; set the dataset's leads option");
    CT_CHECK(s.label.defined() == first.label.defined() &&
                 (!s.label.defined() || s.label.sizes() == first.label.sizes()),
             ShapeError, "loader: record ", s.record_id, " has a label of a different shape than record ",
             first.record_id);
  }
  const int64_t B = static_cast<int64_t>(samples.size());
  auto opts = at::TensorOptions().dtype(at::kFloat);
  if (use_cuda_ && options_.pin_memory) opts = opts.pinned_memory(true);
  b.x = at::empty({B, L, S}, opts);
  for (int64_t k = 0; k < B; ++k) b.x[k].copy_(samples[static_cast<size_t>(k)].signal);
  if (first.label.defined()) {
    std::vector<int64_t> shape{B};
    for (int64_t d : first.label.sizes()) shape.push_back(d);
    auto lopts = at::TensorOptions().dtype(first.label.scalar_type());
    if (use_cuda_ && options_.pin_memory) lopts = lopts.pinned_memory(true);
    b.y = at::empty(shape, lopts);
    for (int64_t k = 0; k < B; ++k) b.y[k].copy_(samples[static_cast<size_t>(k)].label);
  }
  if (options_.views > 1) {
    b.views.push_back(b.x);
    for (auto& v : extra) {
      for (const auto& t : v)
        CT_CHECK(t.sizes() == samples.front().signal.sizes(), ShapeError, "loader: a view has shape ", t.sizes(),
                 " but the first view ", samples.front().signal.sizes(), "; set loader.crop");
      b.views.push_back(at::stack(v).to(at::kFloat));
    }
  }
  b.indices = idx;
  for (const Sample& s : samples) {
    b.record_ids.push_back(s.record_id);
    b.patient_ids.push_back(s.patient_id);
    b.texts.push_back(s.text);
  }
  b.fs = first.fs;
  b.leads = first.leads;
  if (options_.training && !batch_pipeline_.empty()) apply_batch_steps(b);
  return b;
}

void Loader::apply_batch_steps(Batch& b) const {
  signal::SignalBatch sb;
  sb.x = b.x;
  sb.fs = b.fs;
  sb.leads = b.leads;
  if (b.y.defined()) {
    const auto& info = dataset_->info();
    if (info.label_kind == LabelKind::kClassIndex) {
      // Mixing needs soft labels: class indices become one-hot rows over the dataset's classes.
      const int64_t n_classes = static_cast<int64_t>(info.class_names.size());
      CT_CHECK(n_classes > 0, ShapeError, "loader: batch-level augmentation needs the dataset's class names");
      sb.y = at::one_hot(b.y.to(at::kLong), n_classes).to(at::kFloat);
    } else {
      CT_CHECK(info.label_kind != LabelKind::kMask, ShapeError,
               "loader: batch-level augmenters (", batch_pipeline_.steps().front()->name(),
               ") do not support per-sample mask labels");
      sb.y = b.y.to(at::kFloat);
    }
  }
  signal::StepContext ctx;
  ctx.training = true;
  // Its own stream: (seed, epoch, batch index) with a tag that per-sample streams never use.
  ctx.generator = at::make_generator<at::CPUGeneratorImpl>(
      derive_seed(options_.seed, static_cast<uint64_t>(b.epoch), static_cast<uint64_t>(b.batch_index), 0xBA7C4u));
  batch_pipeline_.apply(sb, ctx);
  b.x = sb.x;
  if (sb.y.defined()) b.y = sb.y;
}

Loader::Result Loader::run_job(int64_t job) const {
  Result r;
  try {
    r.batch = make_batch(epoch_, job, jobs_[static_cast<size_t>(job)]);
  } catch (...) {
    r.error = std::current_exception();
  }
  return r;
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    cv_work_.wait(lk, [&] {
      return stop_ || (next_job_ < static_cast<int64_t>(jobs_.size()) && next_job_ < consumed_ + options_.prefetch);
    });
    if (stop_) return;
    const int64_t job = next_job_++;
    lk.unlock();
    Result r = run_job(job);
    lk.lock();
    ready_[job] = std::move(r);
    cv_ready_.notify_all();
  }
}

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  stop_workers();
  CT_CHECK(first_batch >= 0 && first_batch <= num_batches(), UsageError, "loader: first_batch ", first_batch,
           " outside [0, ", num_batches(), "]");
  const std::vector<int64_t> order = epoch_order(epoch);
  jobs_.clear();
  const int64_t nb = num_batches();
  for (int64_t b = 0; b < nb; ++b) {
    const auto begin = order.begin() + b * options_.batch_size;
    const auto end = order.begin() + std::min<int64_t>(static_cast<int64_t>(order.size()), (b + 1) * options_.batch_size);
    jobs_.emplace_back(begin, end);
  }
  epoch_ = epoch;
  next_job_ = first_batch;
  consumed_ = first_batch;
  ready_.clear();
  stop_ = false;
  for (int64_t w = 0; w < options_.num_workers; ++w)
    workers_.emplace_back([this] {
      set_worker_threads(1);  // workers parallelise over samples; see core/runtime.h
      worker_loop();
    });
}

Batch Loader::to_device(Batch b) const {
  if (!use_cuda_) return b;
  const at::Device dev(options_.device);
  b.x = b.x.to(dev, /*non_blocking=*/options_.pin_memory);
  for (auto& v : b.views) v = v.to(dev, /*non_blocking=*/options_.pin_memory);
  if (b.y.defined()) b.y = b.y.to(dev, /*non_blocking=*/options_.pin_memory);
  return b;
}

std::optional<Batch> Loader::next() {
  CT_CHECK(epoch_ >= 0, UsageError, "loader: call start_epoch(epoch) before next()");
  if (consumed_ >= static_cast<int64_t>(jobs_.size())) return std::nullopt;
  Result r;
  if (options_.num_workers == 0) {
    r = run_job(consumed_);
    ++consumed_;
  } else {
    std::unique_lock<std::mutex> lk(mu_);
    cv_ready_.wait(lk, [&] { return ready_.count(consumed_) != 0; });
    r = std::move(ready_[consumed_]);
    ready_.erase(consumed_);
    ++consumed_;
    lk.unlock();
    cv_work_.notify_all();
  }
  if (r.error) std::rethrow_exception(r.error);
  return to_device(std::move(*r.batch));
}

}  // namespace cardiotorch::data
