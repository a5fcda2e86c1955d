// cardiotorch plot RECORD -o ecg.svg|png
#include <filesystem>
#include <iostream>

#include "cardiotorch/io/annotation.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/summary.h"
#include "cardiotorch/io/wfdb.h"
#include "cardiotorch/report/ecg_plot.h"
#include "cli/command.h"
#include "cli/record_args.h"

namespace fs = std::filesystem;

namespace cardiotorch::cli {
namespace {

class PlotCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    args_.add(app);
    app.add_option("-o,--output", output_, "output image: .svg or .png")->required();
    app.add_option("--layout", opts_.layout, "auto, 12lead or strips")
        ->check(CLI::IsMember({"auto", "12lead", "strips"}));
    app.add_option("--speed", opts_.speed_mm_s, "paper speed in mm/s (default 25)");
    app.add_option("--gain", opts_.gain_mm_mv, "amplitude in mm/mV (default 10)");
    app.add_option("--dpi", opts_.dpi, "PNG resolution (default 150)");
    app.add_option("--title", opts_.title, "title line (default: record, rate, window, scale)");
    app.add_option("--annotator", annotator_,
                   "WFDB annotator whose beats are marked (default: atr when <record>.atr exists); EDF+ files "
                   "mark their own annotations; 'none' = no markers");
  }

  int run() override {
    // Only the window is read (10 s unless --duration); the plot then spans all of it.
    const io::Record rec = args_.read(10.0);
    opts_.time_offset_s = args_.from_s;
    const io::RecordInfo info = io::read_record_info(args_.path());
    const double rate = info.fs > 0 ? info.fs : rec.fs;
    if (rate > 0 && info.n_samples > 0) opts_.total_duration_s = info.n_samples / rate;
    if (!args_.channels.empty()) opts_.leads = rec.leads;  // a chosen subset is drawn as strips, in that order
    const std::string format = io::record_format(args_.path());
    if (annotator_ != "none" && format == "wfdb") {
      const std::string stem =
          (fs::path(io::wfdb::record_dir(args_.path())) / fs::path(io::wfdb::header_path(args_.path())).stem())
              .string();
      const std::string ann = annotator_.empty() ? "atr" : annotator_;
      std::error_code ec;
      if (fs::exists(stem + "." + ann, ec)) {
        io::AnnotationSet set = io::read_annotations(stem, ann);
        io::to_sample_rate(set, rate);
        opts_.markers = report::beat_markers(set.annotations, rate);
      } else if (!annotator_.empty()) {
        throw DataError(str_cat(stem, ".", ann, ": no such annotation file"));
      }
    } else if (annotator_ != "none" && format == "edf") {
      CT_CHECK(annotator_.empty(), UsageError, "--annotator ", annotator_,
               ": EDF+ files carry their own annotations (use --annotator none to hide them)");
      opts_.markers = report::edf_markers(io::read_edf_annotations(args_.path()));
    }
    report::plot_ecg(rec, output_, opts_);
    std::cout << "wrote " << output_ << "\n";
    return 0;
  }

 private:
  RecordArgs args_;
  std::string output_;
  std::string annotator_;
  report::EcgPlotOptions opts_;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("plot", "draw a record on ECG grid paper (12-lead layout or stacked strips) as SVG/PNG",
               "cardiotorch plot data/sample/cinc2021/E07500 -o ecg.png   (or: --leads II,V1 --from 2 --duration 5)",
               cardiotorch::cli::PlotCommand)
