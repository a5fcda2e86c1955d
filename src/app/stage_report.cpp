// The main job's `report` stage: runs/<name>/report.html, one self-contained page (inline SVG)
// built from the stage records and the files the stages wrote, so a resumed run's report is
// as complete as an uninterrupted one's. Also the console's comparison table.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "cardiotorch/app/run.h"
#include "cardiotorch/core/file.h"
#include "cardiotorch/core/log.h"
#include "cardiotorch/report/ecg_plot.h"
#include "cardiotorch/report/html.h"
#include "cardiotorch/report/metrics_log.h"
#include "cardiotorch/report/training_plots.h"
#include "cardiotorch/signal/pipeline.h"

namespace fs = std::filesystem;

namespace cardiotorch::app {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

double value(const StageResult& r, const std::string& key) {
  auto it = r.values.find(key);
  return it == r.values.end() ? kNaN : it->second;
}

std::string file_of(const StageResult& r, const std::string& key) {
  auto it = r.files.find(key);
  return it == r.files.end() ? std::string() : it->second;
}

// The classifier runs in the comparison's order.
struct ClassifierRun {
  std::string key;    // stage record name
  std::string label;  // "pretrained fine-tune"
  const StageResult* result = nullptr;
};

std::vector<ClassifierRun> classifier_runs(const RunContext& ctx) {
  std::vector<ClassifierRun> out;
  for (const auto& [key, label] :
       std::vector<std::pair<std::string, std::string>>{{"finetune", "pretrained fine-tune"},
                                                        {"linear_probe", "pretrained linear probe"},
                                                        {"baseline_finetune", "random-init fine-tune"},
                                                        {"baseline_linear_probe", "random-init linear probe"}})
    if (const StageResult* r = ctx.result(key)) out.push_back({key, label, r});
  return out;
}

// "test" when the runs were evaluated on a test split, else "val".
std::string eval_part(const std::vector<ClassifierRun>& runs) {
  for (const auto& c : runs)
    if (std::isfinite(value(*c.result, "test/loss")) || std::isfinite(value(*c.result, "test/auroc_macro")))
      return "test";
  return "val";
}

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

Table comparison(const RunContext& ctx) {
  Table t;
  const auto runs = classifier_runs(ctx);
  if (runs.empty()) return t;
  const std::string part = eval_part(runs);
  t.header = {"classifier", part + " macro AUROC", part + " macro AUPRC", part + " macro F1"};
  if (part == "test") t.header.push_back("val macro AUROC");
  t.header.insert(t.header.end(), {"steps", "train time"});
  for (const auto& c : runs) {
    std::vector<std::string> row{c.label, format_fixed(value(*c.result, part + "/auroc_macro"), 3),
                                 format_fixed(value(*c.result, part + "/auprc_macro"), 3),
                                 format_fixed(value(*c.result, part + "/f1_macro"), 3)};
    if (part == "test") row.push_back(format_fixed(value(*c.result, "val/auroc_macro"), 3));
    row.push_back(format_fixed(value(*c.result, "steps"), 0));
    row.push_back(format_fixed(value(*c.result, "train_seconds"), 0) + " s");
    t.rows.push_back(row);
  }
  return t;
}

std::string split_line(const RunContext& ctx) {
  const StageResult* d = ctx.result("data");
  if (!d) return "";
  auto n = [&](const char* k) { return format_fixed(value(*d, k), 0); };
  return str_cat("split by patient: train ", n("train/items"), " / val ", n("val/items"), " / test ", n("test/items"),
                 " records (", n("train/patients"), " / ", n("val/patients"), " / ", n("test/patients"), " patients)");
}

// Classes whose metric is defined in `part` for every run (AUROC needs positives and negatives).
std::vector<std::string> class_names_of(const std::vector<ClassifierRun>& runs, const std::string& part) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  const std::string prefix = part + "/auroc/";
  for (const auto& c : runs)
    for (const auto& [k, v] : c.result->values)
      if (k.rfind(prefix, 0) == 0 && seen.insert(k.substr(prefix.size())).second)
        out.push_back(k.substr(prefix.size()));
  return out;
}

std::string inline_file_svg(const std::string& path) {
  if (path.empty() || !fs::exists(path) || fs::path(path).extension() != ".svg") return "";
  return read_file(path);
}

class ReportStage : public Stage {
 public:
  std::string fingerprint(RunContext&) const override { return ""; }  // cheap: always rebuilt from the records

  StageResult run(RunContext& ctx) override {
    const ExperimentOptions& opts = ctx.options();
    report::HtmlReport html("cardiotorch run: " + opts.name);
    html.paragraph(str_cat("Config ", ctx.request().config_file, " (seed ", opts.seed, "); run directory ",
                           ctx.run_dir(), "; stages ", join(opts.stages, " → "), "."));

    const auto runs = classifier_runs(ctx);
    const std::string part = runs.empty() ? "test" : eval_part(runs);
    const StageResult* data_result = ctx.result("data");
    auto dataset = ctx.dataset();
    const data::Split& split = ctx.split();
    const std::vector<int64_t>& eval_idx = part == "test" ? split.test : split.val;

    // What the numbers can and cannot say, before the numbers.
    if (!runs.empty()) {
      const auto classes = class_names_of(runs, part);
      int64_t defined = 0;
      for (const auto& c : classes) defined += std::isfinite(value(*runs.front().result, part + "/auroc/" + c)) ? 1 : 0;
      std::string caveat = str_cat(
          "How to read these numbers. The ", part, " split holds ", eval_idx.size(),
          " records; macro AUROC averages the ", defined, " of ", dataset->info().class_names.size(),
          " classes that have both positive and negative records there, many of them with one or two positives. "
          "At this size one record moves a class's AUROC by a large step, so differences between the rows are "
          "within chance");
      if (dataset->size() < 1000)
        caveat +=
            str_cat(" (", dataset->size(), " records in all, ",
                    format_fixed(value(data_result ? *data_result : StageResult{}, "train/items"), 0),
                    " for training): the table shows that pretraining, fine-tuning, probing and evaluation run end "
                    "to end on real ECGs, not that pretraining helps. Point the same stages at a full dataset "
                    "(e.g. configs/demo_ptbxl.yaml) and pretrain for hours for a comparison that means something.");
      else caveat += ".";
      html.raw("<div style=\"border-left:4px solid #c07a00;background:#fff7e6;padding:8px 14px;margin:12px 0\"><p>" +
               report::html_escape(caveat) + "</p></div>\n");

      html.heading("Pretrained vs random initialisation");
      const Table t = comparison(ctx);
      html.table(t.header, t.rows);
      std::string monitor = ctx.config()["train"]["monitor"].as_string();
      const ConfigNode ft_monitor = ctx.config()["per_stage"]["finetune"]["train"]["monitor"];
      if (!ft_monitor.is_null()) monitor = ft_monitor.as_string();
      std::string line = split_line(ctx);
      if (!line.empty()) line[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(line[0])));
      html.paragraph(str_cat(line, line.empty() ? "" : ". ", "Each classifier is evaluated on the ", part,
                             " split with its best checkpoint by ", monitor, " on the validation split."));
      add_classifier_curves(html, runs);
      add_per_class(html, ctx, runs, part);
    }

    html.heading("What ran");
    std::vector<std::vector<std::string>> rows;
    for (const std::string& s : opts.stages) {
      const StageResult* r = ctx.result(s);
      if (!r) continue;
      rows.push_back({s, s == "report" ? "-" : format_fixed(r->seconds, 1) + " s",
                      r->resumed ? "earlier session" : "this session", r->summary});
    }
    html.table({"stage", "time", "finished in", "result"}, rows);

    if (const StageResult* p = ctx.result("pretrain")) add_pretrain(html, *p);
    add_data(html, ctx, data_result);

    html.heading("Resolved config");
    html.paragraph("Every stage's own resolved config is in its run directory (<stage>/config.yaml).");
    html.preformatted(ctx.config().to_yaml());

    StageResult r;
    const std::string path = ctx.file("report.html");
    html.save(path);
    r.files["report"] = path;
    r.summary = path;
    return r;
  }

 private:
  static void add_classifier_curves(report::HtmlReport& html, const std::vector<ClassifierRun>& runs) {
    std::vector<report::Series> auroc, loss;
    for (const auto& c : runs) {
      const std::string log_path = (fs::path(file_of(*c.result, "run_dir")) / "metrics.jsonl").string();
      if (!fs::exists(log_path)) continue;
      const report::MetricsLog log = report::read_metrics_log(log_path);
      report::Series a = log.series("val", "auroc_macro", "step");
      a.label = c.label;
      if (!a.x.empty()) auroc.push_back(a);
      report::Series l = log.series("train", "loss", "step");
      l.label = c.label;
      if (!l.x.empty()) loss.push_back(l);
    }
    if (auroc.empty() && loss.empty()) return;
    html.heading("Classifier training", 3);
    if (!auroc.empty()) {
      report::CurvePlotOptions o;
      o.title = "Validation macro AUROC";
      o.x_label = "optimizer step";
      o.y_label = "macro AUROC";
      o.y_min = 0;
      o.y_max = 1;
      html.svg(report::curves_svg(auroc, o), "Validation macro AUROC of each classifier during training.");
    }
    if (!loss.empty()) {
      report::CurvePlotOptions o;
      o.title = "Training loss";
      o.x_label = "optimizer step";
      o.y_label = "loss";
      html.svg(report::curves_svg(loss, o), "Training loss (logged every train.log_every steps).");
    }
  }

  static void add_per_class(report::HtmlReport& html, RunContext& ctx, const std::vector<ClassifierRun>& runs,
                            const std::string& part) {
    const auto classes = class_names_of(runs, part);
    if (classes.empty()) return;
    auto dataset = ctx.dataset();
    const data::Split& split = ctx.split();
    const auto& names = dataset->info().class_names;
    auto count = [&](const std::vector<int64_t>& idx, const std::string& cls) {
      const auto pos = std::find(names.begin(), names.end(), cls);
      if (pos == names.end()) return int64_t(-1);
      const int64_t k = pos - names.begin();
      int64_t n = 0;
      for (int64_t i : idx)
        for (int64_t c : dataset->item(i).classes) n += c == k ? 1 : 0;
      return n;
    };
    std::vector<std::string> header{"class", "train +", part + " +"};
    for (const auto& c : runs) header.push_back(c.label + " AUROC");
    for (const auto& c : runs) header.push_back(c.label + " F1");
    std::vector<std::vector<std::string>> rows;
    const std::vector<int64_t>& eval_idx = part == "test" ? split.test : split.val;
    for (const auto& cls : classes) {
      const int64_t n_eval = count(eval_idx, cls);
      if (n_eval == 0) continue;  // no positive: AUROC undefined and F1 meaningless; counted in the caveat
      std::vector<std::string> row{cls, std::to_string(count(split.train, cls)), std::to_string(n_eval)};
      for (const auto& c : runs) row.push_back(format_fixed(value(*c.result, part + "/auroc/" + cls), 3));
      for (const auto& c : runs) row.push_back(format_fixed(value(*c.result, part + "/f1/" + cls), 3));
      rows.push_back(row);
    }
    html.heading(str_cat("Per class (", part, " split)"), 3);
    html.paragraph(
        str_cat("Classes with at least one positive ", part,
                " record; \"+\" = positive records (multi-label: a record counts for each of its classes). "
                "F1 at the 0.5 threshold; n/a = undefined (no negatives, or no positives predicted nor present)."));
    html.table(header, rows);
  }

  static void add_pretrain(report::HtmlReport& html, const StageResult& p) {
    html.heading("Pretraining");
    std::vector<std::vector<std::string>> rows;
    for (const auto& [k, v] : p.values) {
      if (k == "lr" || k == "nonfinite_total" || k == "samples_per_s") continue;
      const bool integral = std::isfinite(v) && v == std::round(v) && std::fabs(v) >= 1;
      rows.push_back({k, format_fixed(v, integral ? 0 : (std::fabs(v) >= 100 ? 1 : 4))});
    }
    html.table({"at the end", "value"}, rows);
    const std::string log_path = (fs::path(file_of(p, "run_dir")) / "metrics.jsonl").string();
    if (fs::exists(log_path) && report::plot_supported()) {
      const report::MetricsLog log = report::read_metrics_log(log_path);
      for (const auto& fig : report::training_figures(log)) {
        if (fig.name != "loss" && fig.name != "ncc") continue;
        html.svg(report::curves_svg(fig.series, fig.options),
                 fig.name == "ncc"
                     ? "Normalised cross-correlation between the input and its reconstruction (1 = perfect)."
                     : "Pretraining loss, train and validation.");
      }
    }
    // Reconstructions: the first and the last plot show what pretraining learned.
    std::vector<std::string> plots;
    for (const auto& [k, v] : p.files)
      if (k.rfind("plot:", 0) == 0 && fs::path(v).extension() == ".svg") plots.push_back(v);
    if (!plots.empty()) {
      html.heading("Reconstructions", 3);
      std::vector<std::string> show{plots.front()};
      if (plots.size() > 1) show.push_back(plots.back());
      for (const auto& f : show) {
        const std::string svg = inline_file_svg(f);
        if (!svg.empty())
          html.svg(svg, str_cat(fs::path(f).stem().string(),
                                ": input (black) and the reconstruction; shaded patches were masked."));
      }
    }
  }

  static void add_data(report::HtmlReport& html, RunContext& ctx, const StageResult* d) {
    auto dataset = ctx.dataset();
    const data::Split& split = ctx.split();
    const auto& info = dataset->info();
    html.heading("Data");
    html.preformatted(data::summarize(*dataset));
    const size_t nc = info.class_names.size();
    std::vector<std::vector<std::string>> crow;
    auto counts = [&](const std::vector<int64_t>& idx) {
      std::vector<int64_t> c(nc, 0);
      for (int64_t i : idx)
        for (int64_t k : dataset->item(i).classes)
          if (k >= 0 && static_cast<size_t>(k) < nc) ++c[static_cast<size_t>(k)];
      return c;
    };
    const auto ctr = counts(split.train), cva = counts(split.val), cte = counts(split.test);
    for (size_t k = 0; k < nc; ++k)
      if (ctr[k] + cva[k] + cte[k] > 0)
        crow.push_back({info.class_names[k], std::to_string(ctr[k]), std::to_string(cva[k]), std::to_string(cte[k])});
    html.heading("Labels per split (classes present)", 3).table({"class", "train", "val", "test"}, crow);
    const signal::Pipeline preprocess = signal::Pipeline::from_config(ctx.config()["preprocess"]);
    const signal::Pipeline augment = signal::Pipeline::from_config(ctx.config()["augment"]);
    html.heading("Preprocessing and augmentation", 3);
    html.preformatted("preprocess (cached, every stage):\n" + (preprocess.empty() ? "(none)\n" : preprocess.summary()) +
                      "\naugment (training only; a stage may set its own):\n" +
                      (augment.empty() ? "(none)\n" : augment.summary()));
    if (!d) return;
    const std::vector<std::pair<std::string, std::string>> figs{
        {"figure:raw", "The record as read from disk: standard 12-lead layout, 25 mm/s, 10 mm/mV."},
        {"figure:preprocessed", "After the preprocessing pipeline (what the cache holds)."},
        {"figure:augmented",
         "The same record as the training loader delivers it in epoch 0 (random crop, augmenters)."}};
    bool any = false;
    for (const auto& [key, caption] : figs) {
      const std::string svg = inline_file_svg(file_of(*d, key));
      if (svg.empty()) continue;
      if (!any) html.heading("Signals", 3);
      any = true;
      html.svg(svg, caption);
    }
  }
};

}  // namespace

std::string comparison_table(const RunContext& ctx) {
  const Table t = comparison(ctx);
  if (t.rows.empty()) return "";
  std::vector<size_t> w(t.header.size(), 0);
  for (size_t i = 0; i < t.header.size(); ++i) w[i] = t.header[i].size();
  for (const auto& r : t.rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string c = cells[i];
      const std::string pad(w[i] - c.size(), ' ');
      s += i == 0 ? c + pad : "  " + pad + c;  // first column left, numbers right
    }
    return s + "\n";
  };
  std::string out = line(t.header);
  for (const auto& r : t.rows) out += line(r);
  const std::string split = split_line(ctx);
  if (!split.empty()) out += split + "\n";
  return out;
}

CT_REGISTER(stage_registry(), "report",
            ([](const ConfigNode&) -> std::shared_ptr<Stage> { return std::make_shared<ReportStage>(); }),
            "write <run>/report.html: comparison, curves, reconstructions, per-class metrics, data, config")

}  // namespace cardiotorch::app
