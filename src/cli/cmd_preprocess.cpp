// cardiotorch preprocess --config pipeline.yaml RECORD -o out.npy [--plot before_after.svg]
// cardiotorch preprocess --config pipeline.yaml RECORD|DIR... -o OUTDIR [--on-error skip]
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <filesystem>
#include <iterator>
#include <iostream>

#include "cardiotorch/app/batch.h"
#include "cardiotorch/core/config.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/writer.h"
#include "cardiotorch/report/ecg_plot.h"
#include "cardiotorch/signal/pipeline.h"
#include "cardiotorch/signal/resample.h"
#include "cli/command.h"
#include "cli/record_args.h"

namespace fs = std::filesystem;

namespace cardiotorch::cli {
namespace {

// Normalised outputs have no physical unit; say so instead of labelling them mV.
std::string output_units(const signal::Pipeline& pipeline, const std::string& input_units) {
  for (const auto& st : pipeline.steps())
    for (const char* n : {"zscore", "groupwise_zscore", "minmax", "robust_scale", "normalize"})
      if (st->name() == n) return "a.u.";
  return input_units;
}

std::string shape_str(const at::Tensor& t) {
  std::vector<std::string> d;
  for (auto s : t.sizes()) d.push_back(std::to_string(s));
  return "(" + join(d) + ")";
}

// Before/after strips for the plot: each chosen output lead drawn under its input lead (when
// the input has it). The output is put on the input's time grid for display: resampled
// linearly when fs changed, drawn from t = 0 and padded with gaps when it is shorter.
io::Record before_after(const io::Record& in, const signal::SignalBatch& out, std::vector<std::string> leads,
                        const std::string& out_unit) {
  at::Tensor y = out.x.to(at::kFloat);
  if (y.dim() == 1) y = y.unsqueeze(0);
  y = y.reshape({-1, y.size(-2), y.size(-1)})[0];  // first element of any leading dims (e.g. ncrop)
  const int64_t n = in.n_samples();
  if (out.fs > 0 && in.fs > 0 && std::abs(out.fs - in.fs) > 1e-9) {
    const auto m = static_cast<int64_t>(std::llround(static_cast<double>(y.size(-1)) * in.fs / out.fs));
    y = signal::resample_linear(y, std::max<int64_t>(m, 1));
  }
  if (y.size(-1) > n) y = y.narrow(-1, 0, n);
  if (y.size(-1) < n) y = at::constant_pad_nd(y, {0, n - y.size(-1)}, std::nan(""));
  std::vector<std::string> out_names = out.leads;
  if (out_names.size() != static_cast<size_t>(y.size(0))) {
    out_names.clear();
    for (int64_t i = 0; i < y.size(0); ++i) out_names.push_back(i < in.n_leads() ? in.leads[i] : std::to_string(i));
  }
  if (leads.empty())
    for (size_t i = 0; i < std::min<size_t>(3, out_names.size()); ++i) leads.push_back(out_names[i]);
  io::Record r;
  r.name = in.name;
  r.fs = in.fs;
  std::vector<at::Tensor> rows;
  for (const auto& want : leads) {
    const std::string l = io::normalize_lead_name(want);
    auto oi = std::find(out_names.begin(), out_names.end(), l);
    CT_CHECK(oi != out_names.end(), UsageError, "--plot-leads: lead '", want, "' is not in the output (",
             join(out_names), ")");
    auto ii = std::find(in.leads.begin(), in.leads.end(), l);
    if (ii != in.leads.end()) {
      rows.push_back(in.signal[ii - in.leads.begin()].to(at::kFloat));
      r.leads.push_back(l + " before");
      r.units.push_back(in.units.empty() ? "mV" : in.units[ii - in.leads.begin()]);
    }
    rows.push_back(y[oi - out_names.begin()]);
    r.leads.push_back(l + " after");
    r.units.push_back(out_unit);
  }
  r.signal = at::stack(rows, 0).contiguous();
  return r;
}

class PreprocessCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    args_.add(app, /*window=*/true, /*many=*/true);
    app.add_option("-c,--config", config_,
                   "pipeline YAML: a list of steps, {steps: [...]}, or a file with a "
                   "top-level 'pipeline:' key")
        ->required();
    app.add_option("-o,--output", output_,
                   "one record: the output file (.npy float32 [leads, samples]; .npz, .csv, .hea too); several "
                   "records or a directory: the output directory (one .npy per record + manifest.csv)")
        ->required();
    app.add_option("--on-error", on_error_,
                   "directories: raise (stop at the first bad record) or skip (list it, go on)")
        ->check(CLI::IsMember({"raise", "skip"}));
    app.add_option("-j,--jobs", jobs_, "records processed in parallel (default: all cores)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--set", overrides_, "override a config value, e.g. --set 'pipeline[0].lowcut=1'");
    app.add_option("--plot", plot_, "also draw input and output strips to this .svg/.png");
    app.add_option("--plot-leads", plot_leads_, "leads of the plot, comma-separated (default: first 3)")
        ->delimiter(',');
    app.add_flag("--train", train_, "training mode: run augmenters and random crops");
    app.add_option("--seed", seed_, "seed for random steps (with --train)");
  }

  int run() override {
    // A bare list of steps, {steps: [...]}, or an experiment-style file with `pipeline:`.
    ConfigNode cfg = ConfigNode::load(config_);
    for (const auto& o : overrides_) cfg.apply_override(o);
    const ConfigNode steps = cfg.is_map() && cfg.has("pipeline") ? cfg["pipeline"] : cfg;
    const signal::Pipeline pipeline = signal::Pipeline::from_config(steps);
    CT_CHECK(!pipeline.empty(), ConfigError, config_, ": the pipeline has no steps");
    std::error_code ec;
    CT_CHECK(!fs::path(output_).has_extension() || !io::writer_format(output_).empty() || fs::is_directory(output_, ec),
             UsageError, output_, ": output must end in ", join(io::writer_extensions()), " (or name a directory)");
    const bool single =
        args_.paths.size() == 1 && !fs::is_directory(args_.path(), ec) && !io::writer_format(output_).empty();
    if (!single) return preprocess_many(pipeline);

    const io::Record rec = args_.read();
    signal::SignalBatch batch;
    batch.x = rec.signal;
    batch.fs = rec.fs;
    batch.leads = rec.leads;
    signal::StepContext ctx;
    ctx.training = train_;
    ctx.generator = at::make_generator<at::CPUGeneratorImpl>(seed_);
    pipeline.apply(batch, ctx);

    CT_CHECK(batch.x.dim() == 2 || io::writer_format(output_) == "npy", UsageError, output_,
             ": the pipeline gives a signal shaped ", shape_str(batch.x),
             "; only .npy holds more than [leads, samples]");
    if (batch.x.dim() == 2) {
      io::Record out = rec;
      out.signal = batch.x.to(at::kFloat).contiguous();
      out.fs = batch.fs;
      if (batch.leads.size() == static_cast<size_t>(out.signal.size(0))) out.leads = batch.leads;
      out.units.assign(static_cast<size_t>(out.signal.size(0)),
                       output_units(pipeline, rec.units.empty() ? "mV" : rec.units[0]));
      io::write_record(out, output_);
    } else {
      io::write_npy(output_, batch.x.to(at::kFloat).contiguous());  // e.g. ncrop's (n, leads, samples)
    }
    std::cout << pipeline.summary() << rec.name << ": " << shape_str(rec.signal) << " at " << rec.fs << " Hz -> "
              << shape_str(batch.x) << " at " << batch.fs << " Hz"
              << (batch.leads.empty() ? "" : ", leads " + join(batch.leads)) << "\nwrote " << output_ << "\n";
    if (!plot_.empty()) {
      report::EcgPlotOptions po;
      po.layout = "strips";
      po.title = rec.name + ": before / after preprocessing";
      const std::string unit = output_units(pipeline, rec.units.empty() ? "mV" : rec.units[0]);
      report::plot_ecg(before_after(rec, batch, plot_leads_, unit), plot_, po);
      std::cout << "wrote " << plot_ << "\n";
    }
    return 0;
  }

 private:
  int preprocess_many(const signal::Pipeline& pipeline) {
    CT_CHECK(plot_.empty(), UsageError, "--plot draws one record; give one record and an output file");
    CT_CHECK(io::writer_format(output_).empty() || fs::is_directory(output_), UsageError, output_,
             ": several records (or a directory) are preprocessed into an output directory; -o names a file");
    const std::vector<app::BatchItem> plan = app::plan_batch(args_.paths, output_, ".npy");
    app::BatchOptions bo;
    bo.on_error = on_error_;
    bo.threads = jobs_;
    bo.label = "preprocess";
    app::PreprocessRecordsOptions po;
    po.training = train_;
    po.seed = seed_;
    po.units = output_units(pipeline, "");
    std::cout << pipeline.summary();
    const app::BatchResult res = app::preprocess_records(
        plan, [this](const std::string& p) { return args_.read(p); }, pipeline, po, bo);
    const std::string manifest = (fs::path(output_) / "manifest.csv").string();
    app::write_manifest(res, manifest);
    std::cout << app::summarize_batch(res, "preprocessed") << "\nwrote " << output_ << " (manifest: " << manifest
              << ")\n";
    return res.n_ok == 0 && res.n_failed > 0 ? 1 : 0;
  }

  RecordArgs args_;
  std::string on_error_ = "raise";
  int jobs_ = 0;
  std::string config_, output_, plot_;
  std::vector<std::string> overrides_, plot_leads_;
  bool train_ = false;
  uint64_t seed_ = 0;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND(
    "preprocess", "run a preprocessing pipeline (YAML) on one record (-o file) or whole directories (-o directory)",
    "cardiotorch preprocess --config configs/pipelines/standard.yaml data/sample/cinc2021/E07500 -o out.npy --plot "
    "ba.svg\n"
    "  cardiotorch preprocess -c configs/pipelines/standard.yaml data/sample/cinc2021 -o pre/ --on-error skip",
    cardiotorch::cli::PreprocessCommand)
