// The main job's `data` stage: index the dataset, split it by patient, preprocess it once into
// the cache, pull augmented training batches and evaluation batches through the loader, and
// draw one record raw, preprocessed and as a training sample for the report.
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include "cardiotorch/app/run.h"
#include "cardiotorch/core/file.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/progress.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/report/ecg_plot.h"
#include "cardiotorch/signal/pipeline.h"

namespace cardiotorch::app {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct PassStats {
  int64_t batches = 0, samples = 0;
  double seconds = 0;
  std::vector<int64_t> shape;
  double mean = 0, std = 0;
};

PassStats run_pass(data::Loader& loader, int64_t max_batches, const std::string& label) {
  PassStats st;
  loader.start_epoch(0);
  const int64_t total = max_batches > 0 ? std::min(max_batches, loader.num_batches()) : loader.num_batches();
  ProgressBar bar(label, total, "batch");
  double sum = 0, sumsq = 0;
  int64_t n = 0;
  const auto t0 = Clock::now();
  while (st.batches < total) {
    auto b = loader.next();
    if (!b) break;
    if (st.batches == 0) st.shape = b->x.sizes().vec();
    // Double accumulation without a double copy of the batch (this loop is what is timed).
    sum += b->x.sum(at::kDouble).item<double>();
    sumsq += b->x.square().sum(at::kDouble).item<double>();
    n += b->x.numel();
    st.samples += b->size();
    ++st.batches;
    bar.tick();
  }
  bar.finish();
  st.seconds = seconds_since(t0);
  if (n > 0) {
    st.mean = sum / n;
    st.std = std::sqrt(std::max(0.0, sumsq / n - st.mean * st.mean));
  }
  return st;
}

int64_t count_patients(const data::Dataset& ds, const std::vector<int64_t>& idx) {
  std::set<std::string> p;
  for (int64_t i : idx) p.insert(ds.item(i).group());
  return static_cast<int64_t>(p.size());
}

io::Record to_record(const at::Tensor& x, double fs, const std::vector<std::string>& leads, const std::string& name) {
  io::Record r;
  r.name = name;
  r.fs = fs;
  r.signal = x.to(at::kFloat).contiguous();
  r.leads = leads;
  if (r.leads.size() != static_cast<size_t>(r.signal.size(0))) {
    r.leads.clear();
    for (int64_t i = 0; i < r.signal.size(0); ++i) r.leads.push_back("ch" + std::to_string(i));
  }
  r.units.assign(r.leads.size(), "mV");
  return r;
}

class DataStage : public Stage {
 public:
  std::string fingerprint(RunContext& ctx) const override {
    const ConfigNode& c = ctx.config();
    return fingerprint_of(str_cat(c["data"].to_yaml(), "\n", c["preprocess"].to_yaml(), "\n", c["augment"].to_yaml(),
                                  "\nmax_batches ", ctx.request().max_batches));
  }

  StageResult run(RunContext& ctx) override {
    StageResult r;
    const ExperimentOptions& opts = ctx.options();
    // Index labels and headers (no signal decoding yet), then split by patient.
    auto t0 = Clock::now();
    auto dataset = ctx.dataset();
    const data::DatasetInfo& info = dataset->info();
    const double t_index = seconds_since(t0);
    CT_LOG_INFO("dataset ", info.name, ": ", dataset->size(), " items from ", info.n_records, " records (",
                format_fixed(t_index, 2), " s)");
    const data::Split& split = ctx.split();
    const int64_t ptr = count_patients(*dataset, split.train), pva = count_patients(*dataset, split.val),
                  pte = count_patients(*dataset, split.test);
    CT_CHECK(!split.train.empty(), ConfigError, "data.split: the training part is empty");
    CT_LOG_INFO("split ", opts.data.split.method, ": train ", split.train.size(), " / val ", split.val.size(),
                " / test ", split.test.size(), " items (", ptr, " / ", pva, " / ", pte, " patients)");

    // Preprocess once into the cache (the training stages read the same shard).
    t0 = Clock::now();
    auto cached = ctx.cached();
    const double t_cache = seconds_since(t0);
    const char* status = cached->status() == data::CachedDataset::Status::kHit     ? "hit"
                         : cached->status() == data::CachedDataset::Status::kBuilt ? "built"
                                                                                   : "rebuilt";
    CT_LOG_INFO("cache ", status, ": ", cached->path(), " (", format_fixed(t_cache, 2), " s)");

    // Augmented training batches, then evaluation batches: the data path the trainers use.
    const signal::Pipeline augment = signal::Pipeline::from_config(ctx.config()["augment"]);
    auto train_set = std::make_shared<data::SubsetDataset>(cached, split.train);
    data::LoaderOptions train_opts = opts.data.loader;
    train_opts.training = true;
    data::Loader train_loader(train_set, augment, train_opts);
    const PassStats tr = run_pass(train_loader, ctx.request().max_batches, "train batches");
    PassStats ev;
    const std::vector<int64_t>& eval_idx = split.val.empty() ? split.test : split.val;
    if (!eval_idx.empty()) {
      data::LoaderOptions eval_opts = opts.data.loader;
      eval_opts.training = false;
      eval_opts.shuffle = false;
      eval_opts.drop_last = false;
      data::Loader eval_loader(std::make_shared<data::SubsetDataset>(cached, eval_idx), augment, eval_opts);
      ev = run_pass(eval_loader, ctx.request().max_batches, "eval batches");
    }

    r.values = {{"items", double(dataset->size())},
                {"records", double(info.n_records)},
                {"classes", double(info.class_names.size())},
                {"train/items", double(split.train.size())},
                {"val/items", double(split.val.size())},
                {"test/items", double(split.test.size())},
                {"train/patients", double(ptr)},
                {"val/patients", double(pva)},
                {"test/patients", double(pte)},
                {"index_seconds", t_index},
                {"cache_seconds", t_cache},
                {"train_loader/samples_per_s", tr.seconds > 0 ? tr.samples / tr.seconds : 0},
                {"train_loader/mean", tr.mean},
                {"train_loader/std", tr.std},
                {"eval_loader/samples_per_s", ev.seconds > 0 ? ev.samples / ev.seconds : 0}};
    r.files["cache"] = cached->path();
    r.files["cache_status"] = status;
    std::vector<std::string> dims;
    for (size_t i = 1; i < tr.shape.size(); ++i) dims.push_back(std::to_string(tr.shape[i]));
    r.summary = str_cat(info.name, ": ", dataset->size(), " items, ", info.class_names.size(), " classes; split ",
                        split.train.size(), "/", split.val.size(), "/", split.test.size(), " (", ptr, "/", pva, "/",
                        pte, " patients); cache ", status, "; train batches [", join(dims, ", "), "] at ",
                        format_fixed(r.values["train_loader/samples_per_s"], 0), " samples/s");

    // Figures: one record raw, after preprocessing, and as the training loader delivers it.
    if (report::plot_supported()) {
      const int64_t idx = split.train.front();
      data::Sample raw = dataset->get(idx);
      data::Sample pre = cached->get(idx);
      report::EcgPlotOptions po;
      po.title = str_cat(raw.record_id, " as recorded (mV)");
      report::plot_ecg(to_record(raw.signal, raw.fs, raw.leads, raw.record_id), ctx.file("ecg_raw.svg"), po);
      r.files["figure:raw"] = ctx.file("ecg_raw.svg");
      std::vector<std::string> few;
      for (const std::string l : {"II", "V1", "V5"})
        if (std::find(pre.leads.begin(), pre.leads.end(), l) != pre.leads.end()) few.push_back(l);
      report::EcgPlotOptions ps;
      ps.layout = "strips";
      ps.leads = few;
      ps.gain_mm_mv = 5.0;  // normalised signals have std 1: half the usual scale keeps rows apart
      ps.title = str_cat(pre.record_id, " after preprocessing (normalised units, 5 mm/unit)");
      report::plot_ecg(to_record(pre.signal, pre.fs, pre.leads, pre.record_id), ctx.file("ecg_preprocessed.svg"), ps);
      r.files["figure:preprocessed"] = ctx.file("ecg_preprocessed.svg");
      data::Sample aug = train_loader.prepare(0, 0);  // train_set item 0 is dataset item idx
      ps.title = str_cat(aug.record_id, " as a training sample (crop + augmentation)");
      report::plot_ecg(to_record(aug.signal, aug.fs, aug.leads, aug.record_id), ctx.file("ecg_augmented.svg"), ps);
      r.files["figure:augmented"] = ctx.file("ecg_augmented.svg");
    }
    return r;
  }
};

}  // namespace

CT_REGISTER(stage_registry(), "data",
            ([](const ConfigNode&) -> std::shared_ptr<Stage> { return std::make_shared<DataStage>(); }),
            "index the dataset, split it by patient, preprocess it into the cache, check the loader; ECG figures")

}  // namespace cardiotorch::app
