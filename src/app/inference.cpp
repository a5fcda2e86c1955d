#include "cardiotorch/app/inference.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/decisions.h"
#include "cardiotorch/core/error.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/core/progress.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/data/beat_windows.h"
#include "cardiotorch/io/annotation.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/report/ecg_plot.h"
#include "cardiotorch/report/training_plots.h"
#include "cardiotorch/signal/qrs.h"
#include "cardiotorch/train/metrics_ecg.h"

namespace fs = std::filesystem;

namespace cardiotorch::app {

namespace {

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

std::string cell(double v, int digits = 4) {
  if (!std::isfinite(v)) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

std::string text_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t c = 0; c < header.size(); ++c) w[c] = header[c].size();
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size() && c < w.size(); ++c) w[c] = std::max(w[c], r[c].size());
  std::ostringstream os;
  auto line = [&](const std::vector<std::string>& r) {
    for (size_t c = 0; c < w.size(); ++c) {
      const std::string& s = c < r.size() ? r[c] : std::string();
      if (c == 0) os << s << std::string(w[c] - s.size(), ' ');
      else os << "  " << std::string(w[c] - s.size(), ' ') << s;
    }
    os << '\n';
  };
  line(header);
  std::vector<std::string> rule;
  for (size_t c = 0; c < w.size(); ++c) rule.push_back(std::string(w[c], '-'));
  line(rule);
  for (const auto& r : rows) line(r);
  return os.str();
}

double ratio(int64_t a, int64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : std::nan(""); }

// The preprocessing pipeline run on a signal (eval mode): signal, fs and leads are updated.
void preprocess(const signal::Pipeline& p, at::Tensor& x, double& fs, std::vector<std::string>& leads) {
  if (p.empty()) return;
  signal::SignalBatch b;
  b.x = x;
  b.fs = fs;
  b.leads = leads;
  signal::StepContext ctx;
  ctx.training = false;
  p.apply(b, ctx);
  x = b.x;
  fs = b.fs;
  leads = b.leads;
}

}  // namespace

// ------------------------------------------------------------------------------- evaluate

EvaluationReport write_evaluation(const train::EvalResult& r, const train::MetricSet& ms, const TaskInfo& info,
                                  const std::string& out_dir, const std::string& title) {
  fs::create_directories(out_dir);
  EvaluationReport rep;
  rep.out_dir = out_dir;
  rep.samples = r.samples;
  rep.loss = r.loss;
  rep.metrics = r.all();
  nlohmann::json j;
  j["title"] = title;
  j["samples"] = r.samples;
  j["loss"] = num(r.loss);
  nlohmann::json mj = nlohmann::json::object();
  for (const auto& [k, v] : r.metrics) mj[k] = num(v);
  j["metrics"] = mj;
  j["class_names"] = info.class_names;
  // The decision rule behind every count below (AUROC and AP do not depend on it).
  nlohmann::json dj{{"rule", info.decisions.empty() ? "default" : info.decisions}};
  if (!info.thresholds.empty()) dj["thresholds"] = info.thresholds;
  if (!info.class_offsets.empty()) dj["class_offsets"] = info.class_offsets;
  j["decisions"] = dj;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  const train::TaskKind task = ms.context().task;
  const auto& names = info.class_names;
  if ((task == train::TaskKind::kMulticlass || task == train::TaskKind::kMultilabel) && ms.count() > 0) {
    const train::EpochOutputs e = ms.epoch();
    header = {"class", "support", "predicted", "Se", "+P", "Sp", "F1"};
    const bool auroc = r.metrics.count("auroc/" + (names.empty() ? std::string("0") : names[0])) != 0;
    if (auroc) header.push_back("AUROC");
    nlohmann::json pc = nlohmann::json::array();
    for (size_t c = 0; c < e.counts.size(); ++c) {
      const auto& k = e.counts[c];
      const std::string name = c < names.size() ? names[c] : std::to_string(c);
      const double se = ratio(k.tp, k.tp + k.fn), ppv = ratio(k.tp, k.tp + k.fp), sp = ratio(k.tn, k.tn + k.fp),
                   f1 = ratio(2 * k.tp, 2 * k.tp + k.fp + k.fn);
      std::vector<std::string> row = {
          name, std::to_string(k.support()), std::to_string(k.tp + k.fp), cell(se), cell(ppv), cell(sp), cell(f1)};
      nlohmann::json cj{{"class", name},
                        {"support", k.support()},
                        {"predicted", k.tp + k.fp},
                        {"tp", k.tp},
                        {"fp", k.fp},
                        {"fn", k.fn},
                        {"tn", k.tn},
                        {"se", num(se)},
                        {"ppv", num(ppv)},
                        {"sp", num(sp)},
                        {"f1", num(f1)}};
      if (auroc) {
        auto it = r.metrics.find("auroc/" + name);
        const double a = it == r.metrics.end() ? std::nan("") : it->second;
        row.push_back(cell(a));
        cj["auroc"] = num(a);
      }
      rows.push_back(row);
      pc.push_back(cj);
    }
    j["per_class"] = pc;
    if (e.confusion.defined()) {
      std::vector<std::vector<int64_t>> cm;
      const at::Tensor c = e.confusion.to(at::kLong).contiguous();
      for (int64_t a = 0; a < c.size(0); ++a) {
        std::vector<int64_t> row;
        for (int64_t b = 0; b < c.size(1); ++b) row.push_back(c[a][b].item<int64_t>());
        cm.push_back(row);
      }
      j["confusion"] = cm;
      if (report::plot_supported()) {
        report::ConfusionPlotOptions po;
        po.title = title;
        report::plot_confusion_matrix(cm, names, out_dir + "/confusion_matrix.svg", po);
        report::plot_confusion_matrix(cm, names, out_dir + "/confusion_matrix.png", po);
        rep.files.push_back(out_dir + "/confusion_matrix.svg");
        rep.files.push_back(out_dir + "/confusion_matrix.png");
      }
    }
  } else if (task == train::TaskKind::kSegmentation) {
    header = {"wave", "boundary", "Se", "+P", "F1", "error mean ms", "error sd ms"};
    nlohmann::json pc = nlohmann::json::array();
    for (const auto& c : names)
      for (const char* b : {"onset", "offset"}) {
        const std::string p = str_cat("delineation/", c, "_", b, "_");
        auto get = [&](const std::string& k) {
          auto it = r.metrics.find(p + k);
          return it == r.metrics.end() ? std::nan("") : it->second;
        };
        if (!r.metrics.count(p + "f1")) continue;
        rows.push_back({c, b, cell(get("se")), cell(get("ppv")), cell(get("f1")), cell(get("error_mean_ms"), 1),
                        cell(get("error_std_ms"), 1)});
        pc.push_back({{"wave", c},
                      {"boundary", b},
                      {"se", num(get("se"))},
                      {"ppv", num(get("ppv"))},
                      {"f1", num(get("f1"))},
                      {"error_mean_ms", num(get("error_mean_ms"))},
                      {"error_std_ms", num(get("error_std_ms"))}});
      }
    j["per_class"] = pc;
  }
  // AAMI beat statistics (EC57 rules) when the metric ran.
  if (r.metrics.count("aami/accuracy")) {
    std::vector<std::vector<std::string>> arows;
    for (const auto& c : train::aami_classes()) {
      auto get = [&](const char* k) {
        auto it = r.metrics.find(str_cat("aami/", c, "_", k));
        return it == r.metrics.end() ? std::nan("") : it->second;
      };
      arows.push_back({c, cell(get("se")), cell(get("ppv")), cell(get("fpr"))});
    }
    rep.table += "AAMI EC57 (reference Q beats excluded, F labelled V not a VEB false positive); gross accuracy " +
                 cell(r.metrics.at("aami/accuracy")) + "\n" + text_table({"class", "Se", "+P", "FPR"}, arows) + "\n";
  }
  if (!rows.empty()) rep.table = text_table(header, rows) + (rep.table.empty() ? "" : "\n" + rep.table);
  {
    std::ofstream f(out_dir + "/metrics.json");
    f << j.dump(2) << '\n';
    rep.files.push_back(out_dir + "/metrics.json");
  }
  if (!rows.empty()) {
    std::ofstream f(out_dir + "/per_class.csv");
    f << join(header, ",") << '\n';
    for (const auto& row : rows) f << join(row, ",") << '\n';
    rep.files.push_back(out_dir + "/per_class.csv");
  }
  {
    std::ofstream f(out_dir + "/summary.txt");
    f << title << "\n" << r.samples << " samples, loss " << cell(r.loss) << "\n\n" << rep.table;
    for (const auto& [k, v] : r.metrics)
      if (k.find('/') == std::string::npos) f << k << " = " << cell(v) << '\n';
    rep.files.push_back(out_dir + "/summary.txt");
  }
  return rep;
}

EvaluationReport evaluate_checkpoint(const EvaluateRequest& req) {
  TrainedModel t = load_ensemble(req.checkpoints, req.weights);
  check_choice("--decisions", req.decisions, {"stored", "default"});
  if (req.decisions == "default") {
    t.info.thresholds.clear();
    t.info.class_offsets.clear();
    t.info.decisions.clear();
  }
  auto ds = open_task_dataset(t, req.data, req.data_set);
  CT_CHECK(ds->info().label_kind == t.info.kind(), DataError, "evaluate: the data has ",
           data::label_kind_name(ds->info().label_kind), " labels, the model was trained on ", t.info.label_kind);
  std::string part = req.split.empty() ? (req.data.empty() ? "test" : "all") : req.split;
  std::vector<int64_t> idx = task_split(t, *ds, part);
  if (idx.empty() && req.split.empty() && part == "test") {
    part = "val";
    idx = task_split(t, *ds, part);
  }
  CT_CHECK(!idx.empty(), DataError, "evaluate: the ", part, " part of the data is empty");
  const c10::Device device = train::resolve_device("auto");
  data::Loader loader(std::make_shared<data::SubsetDataset>(ds, idx), t.preprocess,
                      eval_loader_options(t, req.batch_size, req.num_workers, device));
  const auto task = t.objective->task();
  CT_CHECK(task.has_value(), ConfigError, "evaluate: objective ", t.objective->objective_name(),
           " has no per-sample predictions to evaluate");
  auto ms = make_metric_set(t.config["metrics"], *task, t.info);
  t.model->to(device);
  t.objective->to(device);
  const train::EvalResult r =
      train::evaluate(*t.model, *t.objective, loader, ms.get(), device, at::kFloat, "evaluate", 0, true);
  const std::string& first = req.checkpoints.front();
  const size_t n = t.members.size();  // an ensemble file counts its members
  std::string out = req.out_dir;
  if (out.empty()) {
    const std::string tag = req.data.empty() ? part : fs::path(req.data).filename().string();
    // Beside the run's checkpoints/ folder (<run>/eval_<data>), or beside a checkpoint kept
    // anywhere else (an ensemble file in /tmp must not write to /eval_<data>).
    const fs::path dir = fs::path(first).parent_path();
    const fs::path base = dir.filename() == "checkpoints" ? dir.parent_path() : dir;
    out = (base / ("eval_" + tag + (n > 1 ? "_ensemble" : ""))).string();
  }
  const std::string what =
      n > 1 ? str_cat("ensemble of ", n, " (", first, ", ...)") : fs::path(first).filename().string();
  EvaluationReport rep = write_evaluation(
      r, *ms, t.info, out,
      str_cat(what, " on ", req.data.empty() ? t.info.data_root : req.data, " (", part, ", ", idx.size(), " items)"));
  if (n > 1) {
    std::ofstream f(out + "/members.txt");
    for (const auto& p : t.members) f << p << '\n';
    rep.files.push_back(out + "/members.txt");
  }
  return rep;
}

// -------------------------------------------------------------------------------- predict

namespace {

std::vector<int64_t> window_starts(int64_t len, int64_t win, int64_t stride) {
  if (len <= win) return {0};
  std::vector<int64_t> s;
  for (int64_t a = 0; a + win <= len; a += stride) s.push_back(a);
  if (s.back() + win < len) s.push_back(len - win);  // the end is always covered
  return s;
}

// Pads or crops the last dim to `len` (from the start), as the loader does for short records.
at::Tensor fit_length(const at::Tensor& x, int64_t len) {
  if (len <= 0 || x.size(-1) == len) return x;
  if (x.size(-1) > len) return x.narrow(-1, 0, len);
  return at::constant_pad_nd(x, {0, len - x.size(-1)}, 0);
}

at::Tensor run_model(TrainedModel& t, const at::Tensor& batch) {
  at::NoGradGuard no_grad;
  return t.objective->probabilities(t.model->forward(batch)).to(at::kDouble).cpu();
}

std::string decide(const TrainedModel& t, const std::vector<double>& p) {
  const auto& names = t.info.class_names;
  if (t.objective->task() == train::TaskKind::kMultilabel) {
    std::vector<std::string> pos;
    for (size_t c = 0; c < p.size(); ++c) {
      const double thr = c < t.info.thresholds.size() ? t.info.thresholds[c] : 0.5;
      if (p[c] >= thr) pos.push_back(c < names.size() ? names[c] : std::to_string(c));
    }
    return join(pos, "|");
  }
  // The rule evaluate's metrics use: argmax, or argmax of log p + the offsets tuned on validation.
  const auto k = static_cast<size_t>(
      train::offset_argmax_predictions(at::tensor(p, at::kDouble).unsqueeze(0), t.info.class_offsets)[0]
          .item<int64_t>());
  return k < names.size() ? names[k] : std::to_string(k);
}

std::vector<double> row_of(const at::Tensor& probs, int64_t i) {
  std::vector<double> v(static_cast<size_t>(probs.size(1)));
  for (int64_t c = 0; c < probs.size(1); ++c) v[static_cast<size_t>(c)] = probs[i][c].item<double>();
  return v;
}

}  // namespace

std::vector<Prediction> predict_records(const PredictRequest& req, std::vector<std::string>* class_names) {
  CT_CHECK(!req.records.empty(), UsageError, "predict: give at least one record");
  check_choice("aggregate", req.aggregate, {"mean", "max"});
  check_choice("beats", req.beats, {"auto", "annotations", "detector"});
  TrainedModel t = load_ensemble(req.checkpoints, req.weights);
  if (class_names) *class_names = t.info.class_names;
  const ConfigNode ds = t.config["data"]["dataset"];
  // A beat model reads windows around R peaks with the context its dataset adapter gave them
  // in training (data::beat_windower_registry(), built from the stored dataset options; older
  // checkpoints lack newer keys: their defaults reproduce what those versions did).
  const std::string dataset = ds.has("name") ? ds["name"].as_string() : "";
  const std::shared_ptr<data::BeatWindower> beats =
      data::beat_windower_registry().contains(dataset) ? data::beat_windower_registry().build(ds) : nullptr;
  const bool segmentation = t.objective->task() == train::TaskKind::kSegmentation;
  const int64_t win = t.info.seq_len;
  io::ReadOptions ro;
  ro.fs = req.fs;
  if (ds.has("leads") && ds["leads"].is_sequence() && ds["leads"].size() > 0)
    ro.channels = ds["leads"].as_string_list();
  std::vector<Prediction> out;
  for (const std::string& path : req.records) {
    io::Record rec = io::read_record(path, ro);
    CT_CHECK(rec.fs > 0, UsageError, path, ": no sampling rate; pass --fs");
    const std::string name = rec.name.empty() ? fs::path(path).stem().string() : rec.name;
    if (beats) {
      std::vector<int64_t> peaks;
      std::vector<std::string> refs;
      const std::string annotator = !req.annotator.empty() ? req.annotator : beats->annotator();
      const bool have_ann =
          fs::exists(path + "." + annotator) ||
          fs::exists((fs::path(path).parent_path() / fs::path(path).stem()).string() + "." + annotator);
      CT_CHECK(req.beats != "annotations" || have_ann, DataError, path, ": no .", annotator,
               " annotations (use --beats detector)");
      if (have_ann && req.beats != "detector") {
        const std::string base = (fs::path(path).parent_path() / fs::path(path).stem()).string();
        for (const auto& an :
             io::read_annotations(fs::exists(path + "." + annotator) ? path : base, annotator).annotations) {
          if (!io::is_beat_code(an.code)) continue;
          peaks.push_back(an.sample);
          const char c = io::aami_class(an.symbol);
          refs.push_back(c ? std::string(1, c) : an.symbol);
        }
        CT_LOG_INFO(name, ": ", peaks.size(), " beats from the .", annotator, " annotations");
      } else {
        peaks = signal::detect_qrs(rec.signal[0], rec.fs);
        CT_LOG_INFO(name, ": ", peaks.size(), " beats found by the QRS detector (lead ",
                    rec.leads.empty() ? std::string("0") : rec.leads[0], ")");
      }
      beats->set_record(rec.signal, rec.fs, peaks, path);
      std::vector<at::Tensor> windows;
      std::vector<size_t> which;
      auto flush = [&] {
        if (windows.empty()) return;
        // The pipeline runs on the stacked windows at once (steps take any leading dims and
        // treat each window on its own, as the dataset did one window at a time).
        at::Tensor x = at::stack(windows);
        double wfs = rec.fs;
        std::vector<std::string> leads = rec.leads;
        preprocess(t.preprocess, x, wfs, leads);
        const at::Tensor probs = run_model(t, fit_length(x.to(at::kFloat), win));
        for (size_t k = 0; k < which.size(); ++k) {
          Prediction p;
          p.record = name;
          p.unit = "beat";
          p.sample = peaks[which[k]];
          p.time_s = static_cast<double>(p.sample) / rec.fs;
          p.probabilities = row_of(probs, static_cast<int64_t>(k));
          p.decision = decide(t, p.probabilities);
          if (!refs.empty()) p.reference = refs[which[k]];
          out.push_back(std::move(p));
        }
        windows.clear();
        which.clear();
      };
      for (size_t k = 0; k < peaks.size(); ++k) {
        at::Tensor w = beats->window(k);
        if (!w.defined()) continue;  // wholly outside the record
        windows.push_back(std::move(w));
        which.push_back(k);
        if (windows.size() == 256) flush();
      }
      flush();
      continue;
    }
    at::Tensor x = rec.signal;
    double fs = rec.fs;
    std::vector<std::string> leads = rec.leads;
    preprocess(t.preprocess, x, fs, leads);
    x = x.to(at::kFloat);
    CT_CHECK(x.size(0) == t.info.in_channels, ShapeError, path, ": ", x.size(0),
             " leads after preprocessing, the model takes ", t.info.in_channels, " (", join(t.info.leads), ")");
    const int64_t len = x.size(1);
    const int64_t stride =
        req.stride_s > 0 ? std::max<int64_t>(1, std::llround(req.stride_s * fs)) : std::max<int64_t>(1, win);
    const auto starts = window_starts(len, win, stride);
    std::vector<at::Tensor> windows;
    for (int64_t s : starts) windows.push_back(fit_length(x.narrow(1, s, std::min(win, len - s)), win));
    if (segmentation) {
      // Average overlapping windows' per-sample probabilities, then read off the waves.
      at::Tensor sum = at::zeros({t.objective->num_outputs(), std::max(len, win)}, at::kDouble);
      at::Tensor cnt = at::zeros({std::max(len, win)}, at::kDouble);
      at::Tensor probs;
      {
        at::NoGradGuard no_grad;
        at::Tensor o = t.model->forward(at::stack(windows));
        if (o.size(1) != t.objective->num_outputs()) o = o.transpose(1, 2);
        if (o.size(2) != win) o = at::upsample_linear1d(o.contiguous(), {win}, true);
        probs = t.objective->probabilities(o).to(at::kDouble).cpu();
      }
      for (size_t k = 0; k < starts.size(); ++k) {
        sum.narrow(1, starts[k], win).add_(probs[static_cast<int64_t>(k)]);
        cnt.narrow(0, starts[k], win).add_(1);
      }
      const at::Tensor mean = (sum / cnt.clamp_min(1)).narrow(1, 0, len);
      for (int64_t c = 0; c < mean.size(0); ++c)
        for (const auto& w : train::waves_from_mask(mean[c])) {
          Prediction p;
          p.record = name;
          p.unit = "wave";
          p.sample = w.onset;
          p.end = w.offset;
          p.time_s = static_cast<double>(w.onset) / fs;
          p.decision = static_cast<size_t>(c) < t.info.class_names.size() ? t.info.class_names[static_cast<size_t>(c)]
                                                                          : std::to_string(c);
          out.push_back(std::move(p));
        }
      continue;
    }
    const at::Tensor probs = run_model(t, at::stack(windows));  // (W, C)
    const at::Tensor agg = req.aggregate == "max" ? std::get<0>(probs.max(0)) : probs.mean(0);
    Prediction p;
    p.record = name;
    p.unit = "record";
    p.windows = static_cast<int64_t>(starts.size());
    p.probabilities = row_of(agg.unsqueeze(0), 0);
    p.decision = decide(t, p.probabilities);
    out.push_back(std::move(p));
  }
  return out;
}

std::string predictions_csv(const std::vector<Prediction>& preds, const std::vector<std::string>& names) {
  std::ostringstream os;
  os << "record,unit,sample,end,time_s,windows";
  for (const auto& c : names) os << ",p_" << c;
  os << ",decision,reference\n";
  for (const auto& p : preds) {
    os << p.record << ',' << p.unit << ',' << p.sample << ',' << p.end << ',' << cell(p.time_s, 3) << ',' << p.windows;
    for (size_t c = 0; c < names.size(); ++c)
      os << ',' << (c < p.probabilities.size() ? cell(p.probabilities[c], 6) : std::string());
    os << ',' << p.decision << ',' << p.reference << '\n';
  }
  return os.str();
}

void write_predictions(const std::vector<Prediction>& preds, const std::vector<std::string>& names,
                       const std::string& path) {
  const std::string ext = to_lower(fs::path(path).extension().string());
  CT_CHECK(ext == ".csv" || ext == ".json", UsageError, "-o ", path, ": use a .csv or .json file");
  std::ofstream f(path);
  CT_CHECK(f.good(), Error, path, ": cannot write");
  if (ext == ".csv") {
    f << predictions_csv(preds, names);
    return;
  }
  nlohmann::json j;
  j["classes"] = names;
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& p : preds) {
    nlohmann::json pj{{"record", p.record}, {"unit", p.unit}, {"time_s", p.time_s}, {"decision", p.decision}};
    if (p.sample >= 0) pj["sample"] = p.sample;
    if (p.end >= 0) pj["end"] = p.end;
    if (p.unit == "record") pj["windows"] = p.windows;
    if (!p.probabilities.empty()) {
      nlohmann::json pr = nlohmann::json::object();
      for (size_t c = 0; c < names.size() && c < p.probabilities.size(); ++c) pr[names[c]] = p.probabilities[c];
      pj["probabilities"] = pr;
    }
    if (!p.reference.empty()) pj["reference"] = p.reference;
    arr.push_back(pj);
  }
  j["predictions"] = arr;
  f << j.dump(2) << '\n';
}

// ---------------------------------------------------------------------------------- embed

EmbedResult embed_dataset(const EmbedRequest& req) {
  CT_CHECK(!req.output.empty(), UsageError, "embed: -o FILE.npy is required");
  TrainedModel t = load_trained(req.checkpoint, req.weights);
  auto ds = open_task_dataset(t, req.data, req.data_set);
  const std::vector<int64_t> idx = task_split(t, *ds, req.data.empty() ? req.split : "all");
  CT_CHECK(!idx.empty(), DataError, "embed: no items to embed");
  const c10::Device device = train::resolve_device("auto");
  auto subset = std::make_shared<data::SubsetDataset>(ds, idx);
  data::Loader loader(subset, t.preprocess, eval_loader_options(t, req.batch_size, -1, device));
  models::ModelImpl& enc = t.objective->downstream(*t.model);
  enc.to(device);
  enc.eval();
  std::vector<at::Tensor> parts, labels;
  std::vector<std::string> ids, patients;
  loader.start_epoch(0);
  ProgressBar bar("embed", loader.num_batches(), "batch");
  {
    at::NoGradGuard no_grad;
    while (auto b = loader.next()) {
      parts.push_back((req.localized ? enc.forward_localized(b->x) : enc.embed(b->x)).to(at::kFloat).cpu());
      if (b->y.defined()) labels.push_back(b->y.cpu());
      ids.insert(ids.end(), b->record_ids.begin(), b->record_ids.end());
      patients.insert(patients.end(), b->patient_ids.begin(), b->patient_ids.end());
      bar.tick();
    }
  }
  bar.finish();
  const at::Tensor emb = at::cat(parts).contiguous();
  io::write_npy(req.output, emb);
  EmbedResult res;
  res.shape = emb.sizes().vec();
  const fs::path p(req.output);
  const std::string stem = (p.parent_path() / p.stem()).string();
  res.ids_path = stem + "_ids.csv";
  {
    std::ofstream f(res.ids_path);
    f << "row,record_id,patient_id\n";
    for (size_t i = 0; i < ids.size(); ++i) f << i << ',' << ids[i] << ',' << patients[i] << '\n';
  }
  if (!labels.empty()) {
    res.labels_path = stem + "_labels.npy";
    at::Tensor l = at::cat(labels);
    io::write_npy(res.labels_path,
                  l.is_floating_point() ? l.to(at::kFloat).contiguous() : l.to(at::kLong).contiguous());
  }
  return res;
}

}  // namespace cardiotorch::app
