#include "cardiotorch/app/run.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cardiotorch/app/experiment.h"
#include "cardiotorch/core/file.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/progress.h"
#include "cardiotorch/core/run_dir.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/data/cache.h"
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/data/loader.h"
#include "cardiotorch/data/split.h"
#include "cardiotorch/report/ecg_plot.h"
#include "cardiotorch/report/html.h"
#include "cardiotorch/signal/pipeline.h"

namespace fs = std::filesystem;

namespace cardiotorch::app {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string fixed(double v, int digits) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

struct PassStats {
  int64_t batches = 0, samples = 0;
  double seconds = 0;
  std::vector<int64_t> shape;
  double mean = 0, std = 0;
  at::Tensor first_x;  // first sample of the first batch (for the report's figure)
};

PassStats run_pass(data::Loader& loader, int64_t epoch, int64_t max_batches, const std::string& label) {
  PassStats st;
  loader.start_epoch(epoch);
  const int64_t total = max_batches > 0 ? std::min(max_batches, loader.num_batches()) : loader.num_batches();
  ProgressBar bar(label, total, "batch");
  double sum = 0, sumsq = 0;
  int64_t n = 0;
  const auto t0 = Clock::now();
  while (st.batches < total) {
    auto b = loader.next();
    if (!b) break;
    if (st.batches == 0) {
      st.shape = b->x.sizes().vec();
      st.first_x = b->x[0].clone();
    }
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

std::vector<int64_t> class_counts(const data::Dataset& ds, const std::vector<int64_t>& idx, size_t n_classes) {
  std::vector<int64_t> c(n_classes, 0);
  for (int64_t i : idx)
    for (int64_t k : ds.item(i).classes)
      if (k >= 0 && static_cast<size_t>(k) < n_classes) ++c[static_cast<size_t>(k)];
  return c;
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

// Draws a record to <run>/<file> and returns the SVG markup ("" when plotting is unavailable).
std::string figure(const io::Record& rec, const std::string& path, report::EcgPlotOptions opts) {
  if (!report::plot_supported()) return "";
  report::plot_ecg(rec, path, opts);
  return read_file(path);
}

}  // namespace

RunResult run_experiment(const RunOptions& ro) {
  ExperimentOptions opts;
  const ConfigNode resolved = resolve_experiment(ro.config_file, ro.overrides, &opts);
  if (opts.threads > 0) set_thread_budget(static_cast<int>(opts.threads));
  if (opts.deterministic) set_deterministic(true);
  manual_seed(static_cast<uint64_t>(opts.seed));

  RunResult result;
  result.run_dir = (fs::path(opts.output_dir) / opts.name).string();
  RunDir run(result.run_dir, resolved);
  CT_LOG_INFO(build_summary());
  CT_LOG_INFO("run ", opts.name, " -> ", result.run_dir);
  auto stage = [&](const std::string& name, double secs, const std::string& summary) {
    result.stages.push_back({name, secs, summary});
    run.metrics().write({{"stage", name}, {"seconds", secs}, {"summary", summary}});
    CT_LOG_INFO(name, ": ", summary, " (", fixed(secs, 2), " s)");
  };

  report::HtmlReport html("cardiotorch run: " + opts.name);
  html.paragraph(str_cat("Config: ", ro.config_file, " (seed ", opts.seed, "). Run directory: ", result.run_dir, "."));

  CT_CHECK(!opts.data.dataset.is_null(), ConfigError, ro.config_file,
           ": data.dataset is required for a run, e.g. data: {dataset: {name: cinc2021, root: data/sample/cinc2021}}");

  // 1. Dataset: index labels and headers (no signal decoding yet).
  auto t0 = Clock::now();
  std::shared_ptr<const data::Dataset> dataset = data::build_dataset(resolved["data"]["dataset"]);
  const data::DatasetInfo& info = dataset->info();
  // Now the adapter's options are known in full: save them in the run's resolved config.
  ConfigNode full = ConfigNode::map();
  full.set("name", ConfigNode::string(info.name));
  full.merge(ConfigNode::parse(info.config, "dataset options"));
  ConfigNode saved = resolved.clone();
  ConfigNode data_node = saved["data"];
  data_node.set("dataset", full);
  saved.save(run.file("config.yaml"));
  stage("dataset", seconds_since(t0),
        str_cat(info.name, ": ", dataset->size(), " items from ", info.n_records, " records",
                info.fs > 0 ? str_cat(", ", info.fs, " Hz") : "", info.leads.empty() ? "" : str_cat(", ", info.leads.size(), " leads"),
                ", ", info.class_names.size(), " classes", info.n_skipped ? str_cat(", ", info.n_skipped, " skipped") : ""));
  CT_CHECK(dataset->size() > 0, DataError, resolved["data"]["dataset"].where(), ": the dataset has no items");

  // 2. Split by patient.
  t0 = Clock::now();
  const data::Split split = data::make_split(*dataset, opts.data.split);
  stage("split", seconds_since(t0),
        str_cat(opts.data.split.method, ": train ", split.train.size(), " / val ", split.val.size(), " / test ",
                split.test.size(), " items (", count_patients(*dataset, split.train), " / ",
                count_patients(*dataset, split.val), " / ", count_patients(*dataset, split.test), " patients)"));

  // 3. Preprocess once into the cache.
  const signal::Pipeline preprocess = signal::Pipeline::from_config(resolved["preprocess"]);
  const signal::Pipeline augment = signal::Pipeline::from_config(resolved["augment"]);
  const data::CacheOptions& cache_opts = opts.data.cache;
  t0 = Clock::now();
  auto cached = std::make_shared<data::CachedDataset>(dataset, preprocess, resolved["preprocess"].to_yaml(), cache_opts);
  const char* status = cached->status() == data::CachedDataset::Status::kHit     ? "hit"
                       : cached->status() == data::CachedDataset::Status::kBuilt ? "built"
                                                                                  : "rebuilt";
  stage("cache", seconds_since(t0),
        str_cat(status, " ", cached->path(), " (", preprocess.size(), " preprocessing steps, ", cache_opts.dtype, ")"));

  // 4. Load: augmented training batches, then evaluation batches.
  auto train_set = std::make_shared<data::SubsetDataset>(cached, split.train);
  data::LoaderOptions train_opts = opts.data.loader;
  train_opts.training = true;
  data::Loader train_loader(train_set, augment, train_opts);
  PassStats tr = run_pass(train_loader, 0, ro.max_batches, "train batches");
  stage("train loader", tr.seconds,
        str_cat(tr.batches, " batches, ", tr.samples, " samples of [", join([&] {
                  std::vector<std::string> d;
                  for (size_t i = 1; i < tr.shape.size(); ++i) d.push_back(std::to_string(tr.shape[i]));
                  return d;
                }(), ", "), "], ", fixed(tr.seconds > 0 ? tr.samples / tr.seconds : 0, 0), " samples/s, ",
                augment.size(), " augmenters, mean ", fixed(tr.mean, 3), " std ", fixed(tr.std, 3)));
  PassStats ev;
  const std::vector<int64_t>& eval_idx = split.val.empty() ? split.test : split.val;
  if (!eval_idx.empty()) {
    auto eval_set = std::make_shared<data::SubsetDataset>(cached, eval_idx);
    data::LoaderOptions eval_opts = opts.data.loader;
    eval_opts.training = false;
    eval_opts.shuffle = false;
    eval_opts.drop_last = false;
    data::Loader eval_loader(eval_set, augment, eval_opts);
    ev = run_pass(eval_loader, 0, ro.max_batches, "eval batches");
    stage("eval loader", ev.seconds,
          str_cat(ev.batches, " batches, ", ev.samples, " samples, ",
                  fixed(ev.seconds > 0 ? ev.samples / ev.seconds : 0, 0), " samples/s, mean ", fixed(ev.mean, 3),
                  " std ", fixed(ev.std, 3)));
  }

  // Report.
  html.heading("What ran");
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : result.stages) rows.push_back({s.name, fixed(s.seconds, 2) + " s", s.summary});
  html.table({"stage", "time", "result"}, rows);
  html.paragraph(
      "Model stages (pretraining, fine-tuning, evaluation) are not part of this build yet: this run covers the data "
      "path end to end.");

  html.heading("Dataset");
  html.preformatted(data::summarize(*dataset));
  {
    const size_t nc = info.class_names.size();
    auto ctr = class_counts(*dataset, split.train, nc), cva = class_counts(*dataset, split.val, nc),
         cte = class_counts(*dataset, split.test, nc);
    std::vector<std::vector<std::string>> crow;
    for (size_t k = 0; k < nc; ++k)
      crow.push_back({info.class_names[k], std::to_string(ctr[k]), std::to_string(cva[k]), std::to_string(cte[k])});
    html.heading("Labels per split", 3).table({"class", "train", "val", "test"}, crow);
  }

  html.heading("Preprocessing and augmentation");
  html.preformatted("preprocess (cached, eval mode):\n" + (preprocess.empty() ? "(none)\n" : preprocess.summary()) +
                    "\naugment (training only):\n" + (augment.empty() ? "(none)\n" : augment.summary()));

  // Figures: one record raw, after preprocessing, and as the training loader delivered it.
  if (report::plot_supported()) {
    const int64_t idx = split.train.empty() ? 0 : split.train.front();
    data::Sample raw = dataset->get(idx);
    data::Sample pre = cached->get(idx);
    report::EcgPlotOptions po;
    po.title = str_cat(raw.record_id, " as recorded (mV)");
    html.heading("Signals");
    html.svg(figure(to_record(raw.signal, raw.fs, raw.leads, raw.record_id), run.file("ecg_raw.svg"), po),
             "The record as read from disk: standard 12-lead layout, 25 mm/s, 10 mm/mV.");
    std::vector<std::string> few;
    for (const std::string l : {"II", "V1", "V5"})
      if (std::find(pre.leads.begin(), pre.leads.end(), l) != pre.leads.end()) few.push_back(l);
    report::EcgPlotOptions ps;
    ps.layout = "strips";
    ps.leads = few;
    ps.gain_mm_mv = 5.0;  // normalised signals have std 1: half the usual scale keeps rows apart
    ps.title = str_cat(pre.record_id, " after preprocessing (normalised units, 5 mm/unit)");
    html.svg(figure(to_record(pre.signal, pre.fs, pre.leads, pre.record_id), run.file("ecg_preprocessed.svg"), ps),
             "After the preprocessing pipeline (what the cache holds).");
    data::Sample aug = train_loader.prepare(0, 0);  // train_set item 0 is dataset item idx
    ps.title = str_cat(aug.record_id, " as a training sample (crop + augmentation)");
    html.svg(figure(to_record(aug.signal, aug.fs, aug.leads, aug.record_id), run.file("ecg_augmented.svg"), ps),
             "The same record as the training loader delivers it in epoch 0 (random crop, augmenters).");
  }

  html.heading("Resolved config");
  html.preformatted(saved.to_yaml());
  result.report_path = run.file("report.html");
  html.save(result.report_path);
  run.metrics().write({{"stage", std::string("report")}, {"path", result.report_path}});
  return result;
}

}  // namespace cardiotorch::app
