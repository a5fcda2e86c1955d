// cardiotorch convert RECORD -o OUT.{npy,npz,csv,hea}
// cardiotorch convert RECORD|DIR... -o OUTDIR [--format npy] [--on-error skip]
#include <filesystem>
#include <iostream>

#include "cardiotorch/app/batch.h"
#include "cardiotorch/io/writer.h"
#include "cli/command.h"
#include "cli/record_args.h"

namespace fs = std::filesystem;

namespace cardiotorch::cli {
namespace {

std::string extension_list() {
  auto exts = io::writer_extensions();
  if (exts.size() < 2) return join(exts);
  const std::string last = exts.back();
  exts.pop_back();
  return join(exts) + " or " + last;
}

class ConvertCommand : public Command {
 public:
  void setup(CLI::App& app) override {
    args_.add(app, /*window=*/true, /*many=*/true);
    app.add_option("-o,--output", output_,
                   "one record: the output file, .npy (float32 [leads, samples]), .npz (signal + fs), .csv or "
                   ".hea (WFDB format 16 + .dat); several records or a directory: the output directory")
        ->required();
    app.add_option("--format", format_, "output format of a directory conversion: npy, npz, csv or hea (default npy)");
    app.add_option("--on-error", on_error_, "raise (stop at the first bad record) or skip (list it and go on)")
        ->check(CLI::IsMember({"raise", "skip"}));
    app.add_option("-j,--jobs", jobs_, "records converted in parallel (default: all cores)")
        ->check(CLI::NonNegativeNumber);
  }

  int run() override {
    std::error_code ec;
    // "out.txt" is a mistyped file name more often than a directory name.
    CT_CHECK(!fs::path(output_).has_extension() || !io::writer_format(output_).empty() || fs::is_directory(output_, ec),
             UsageError, output_, ": output must end in ", extension_list(), " (or name a directory)");
    const bool single =
        args_.paths.size() == 1 && !fs::is_directory(args_.path(), ec) && !io::writer_format(output_).empty();
    return single ? convert_one() : convert_many();
  }

 private:
  int convert_one() {
    CT_CHECK(format_.empty(), UsageError, "--format is for directory conversions; ", output_,
             " already names the format");
    const io::Record r = args_.read();
    CT_CHECK(r.fs > 0 || io::writer_format(output_) != "wfdb", UsageError, output_, ": WFDB needs a sampling rate and ",
             args_.path(), " stores none; pass --fs");
    io::WriteRecordOptions wo;
    wo.time_offset_s = args_.from_s;
    io::write_record(r, output_, wo);
    std::cout << "wrote " << output_ << " (" << r.n_leads() << " leads x " << r.n_samples() << " samples";
    if (r.fs > 0) std::cout << ", " << r.fs << " Hz";
    std::cout << ")\n";
    return 0;
  }

  int convert_many() {
    const std::string ext = "." + (format_.empty() ? std::string("npy") : to_lower(format_));
    CT_CHECK(!io::writer_format("x" + ext).empty(), UsageError, "--format ", format_, ": expected one of ",
             extension_list());
    CT_CHECK(io::writer_format(output_).empty() || fs::is_directory(output_), UsageError, output_,
             ": several records (or a directory) are converted into an output directory; -o names a file");
    const std::vector<app::BatchItem> plan = app::plan_batch(args_.paths, output_, ext);
    app::BatchOptions bo;
    bo.on_error = on_error_;
    bo.threads = jobs_;
    bo.label = "convert";
    io::WriteRecordOptions wo;
    wo.time_offset_s = args_.from_s;
    const app::BatchResult res = app::convert_records(
        plan, [this](const std::string& p) { return args_.read(p); }, bo, wo);
    const std::string manifest = (fs::path(output_) / "manifest.csv").string();
    app::write_manifest(res, manifest);
    std::cout << app::summarize_batch(res, "converted") << "\nwrote " << output_ << " (manifest: " << manifest << ")\n";
    return res.n_ok == 0 && res.n_failed > 0 ? 1 : 0;
  }

  RecordArgs args_;
  std::string output_, format_, on_error_ = "raise";
  int jobs_ = 0;
};

}  // namespace
}  // namespace cardiotorch::cli

CT_CLI_COMMAND("convert",
               "convert records to .npy/.npz/.csv or WFDB (physical units): one file, or whole directories in one "
               "process",
               "cardiotorch convert /data/mitdb/100 --from 10 --duration 60 --leads MLII -o out/100.hea\n"
               "  cardiotorch convert /data/ptbxl -o ptbxl_npy --on-error skip   (every record, all cores, "
               "manifest.csv)",
               cardiotorch::cli::ConvertCommand)
