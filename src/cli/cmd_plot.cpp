// cardiotorch plot RECORD -o ecg.svg|png
#include <filesystem>
#include <iostream>

#include "cardiotorch/io/annotation.h"
#include "cardiotorch/io/reader.h"
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
    args_.add(app, /*window=*/false);
    app.add_option("-o,--output", output_, "output image: .svg or .png")->required();
    app.add_option("--from", opts_.from_s, "start, in seconds from the record start")->check(CLI::NonNegativeNumber);
    app.add_option("--duration", opts_.duration_s, "window length in seconds (default 10, or the whole record)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--layout", opts_.layout, "auto, 12lead or strips")
        ->check(CLI::IsMember({"auto", "12lead", "strips"}));
    app.add_option("--speed", opts_.speed_mm_s, "paper speed in mm/s (default 25)");
    app.add_option("--gain", opts_.gain_mm_mv, "amplitude in mm/mV (default 10)");
    app.add_option("--dpi", opts_.dpi, "PNG resolution (default 150)");
    app.add_option("--title", opts_.title, "title line (default: record, rate, window, scale)");
    app.add_option("--annotator", annotator_,
                   "WFDB annotator whose beats are marked (default: atr when <record>.atr exists; 'none' = off)");
  }

  int run() override {
    // Lead selection is a plotting choice here (order of the strips), not a read filter.
    opts_.leads = args_.channels;
    io::ReadOptions ro;
    ro.fs = args_.fs;
    ro.variable = args_.variable;
    const io::Record rec = io::read_record(args_.path, ro);
    if (annotator_ != "none" && io::record_format(args_.path) == "wfdb") {
      const std::string stem = (fs::path(io::wfdb::record_dir(args_.path)) /
                                fs::path(io::wfdb::header_path(args_.path)).stem()).string();
      const std::string ann = annotator_.empty() ? "atr" : annotator_;
      std::error_code ec;
      if (fs::exists(stem + "." + ann, ec)) {
        opts_.markers = report::beat_markers(io::read_annotations(stem, ann).annotations, rec.fs);
      } else if (!annotator_.empty()) {
        throw DataError(str_cat(stem, ".", ann, ": no such annotation file"));
      }
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
