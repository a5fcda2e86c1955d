#include "cardiotorch/app/batch.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "cardiotorch/core/file.h"
#include "cardiotorch/core/progress.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/reader.h"

namespace fs = std::filesystem;

namespace cardiotorch::app {
namespace {

// "dir/100.hea" -> "100", "dir/100" (a WFDB record named without .hea) -> "100".
std::string output_stem(const fs::path& record) {
  const auto exts = io::record_extensions();
  const std::string e = to_lower(record.extension().string());
  return std::find(exts.begin(), exts.end(), e) != exts.end() ? record.stem().string() : record.filename().string();
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::vector<std::string> parts;
  for (int64_t d : shape) parts.push_back(std::to_string(d));
  return join(parts, "x");
}

}  // namespace

std::vector<BatchItem> plan_batch(const std::vector<std::string>& inputs, const std::string& out_dir,
                                  const std::string& ext) {
  CT_CHECK(!inputs.empty(), UsageError, "no records given");
  std::vector<BatchItem> items;
  std::map<std::string, std::string> seen;  // output -> input
  auto add = [&](const std::string& input, const fs::path& out) {
    const std::string o = out.lexically_normal().string();
    auto [it, fresh] = seen.emplace(o, input);
    CT_CHECK(fresh, UsageError, "two records would write ", o, ": ", it->second, " and ", input,
             " (convert them into separate output directories)");
    items.push_back({input, o});
  };
  for (const auto& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      const std::vector<std::string> found = io::find_records(in, true);
      CT_CHECK(!found.empty(), UsageError, in, ": no records in this directory or below (looked for ",
               join(io::record_extensions()), ")");
      fs::path base = out_dir;
      if (inputs.size() > 1)
        base /= fs::path(in).lexically_normal().filename().empty()
                    ? fs::path(in).lexically_normal().parent_path().filename()
                    : fs::path(in).lexically_normal().filename();
      for (const auto& p : found) {
        const fs::path rel = fs::path(p).lexically_relative(in);
        add(p, base / rel.parent_path() / (output_stem(p) + ext));
      }
    } else {
      CT_CHECK((fs::is_regular_file(in, ec) || fs::is_regular_file(in + ".hea", ec)) && !io::record_format(in).empty(),
               UsageError, in, ": not a record or a directory (records: ", join(io::record_extensions()),
               ", or a WFDB record name)");
      add(in, fs::path(out_dir) / (output_stem(in) + ext));
    }
  }
  return items;
}

void BatchOptions::validate() const {
  check_choice("on_error", on_error, {"raise", "skip"});
  CT_CHECK(threads >= 0, ConfigError, "threads must be >= 0, got ", threads);
}

BatchResult run_batch(const std::vector<BatchItem>& items, const BatchJob& job, const BatchOptions& options) {
  options.validate();
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t n = static_cast<int64_t>(items.size());
  BatchResult out;
  out.items.resize(items.size());
  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n)));
  out.threads = threads;
  const bool skip = options.on_error == "skip";

  std::vector<std::exception_ptr> errors(items.size());
  std::atomic<int64_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex bar_mutex;
  std::unique_ptr<ProgressBar> bar;
  if (options.progress) bar = std::make_unique<ProgressBar>(options.label, n, "rec");
  int64_t failed_so_far = 0;

  auto work = [&] {
    if (threads > 1) set_worker_threads(1);  // parallel over records, not inside each
    for (int64_t i; !stop && (i = next++) < n;) {
      BatchItemResult& r = out.items[static_cast<size_t>(i)];
      r.input = items[static_cast<size_t>(i)].input;
      r.output = items[static_cast<size_t>(i)].output;
      try {
        job(items[static_cast<size_t>(i)], i, r);
        r.ok = true;
      } catch (...) {
        // Name the record unless the message already does; keep the error's category.
        std::string what;
        try {
          throw;
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        try {
          rethrow_with_context(what.find(r.input) == std::string::npos ? r.input + ": " : std::string());
        } catch (const std::exception& e) {
          r.error = one_line(e.what());
          errors[static_cast<size_t>(i)] = std::current_exception();
        }
        r.ok = false;
        if (!skip) stop = true;
      }
      if (bar) {
        std::lock_guard<std::mutex> lock(bar_mutex);
        if (!r.ok) bar->set_postfix(str_cat(++failed_so_far, " failed"));
        bar->tick();
      }
    }
  };
  if (threads == 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
  }
  if (bar) bar->finish();
  if (!skip)
    for (const auto& e : errors)
      if (e) std::rethrow_exception(e);
  for (const auto& r : out.items) (r.ok ? out.n_ok : out.n_failed)++;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

BatchResult convert_records(const std::vector<BatchItem>& items, const RecordSource& read, const BatchOptions& options,
                            const io::WriteRecordOptions& write) {
  return run_batch(
      items,
      [&](const BatchItem& item, int64_t, BatchItemResult& r) {
        const io::Record rec = read(item.input);
        io::write_record(rec, item.output, write);
        r.fs = rec.fs;
        r.shape = rec.signal.sizes().vec();
        r.leads = rec.leads;
      },
      options);
}

BatchResult preprocess_records(const std::vector<BatchItem>& items, const RecordSource& read,
                               const signal::Pipeline& pipeline, const PreprocessRecordsOptions& preprocess,
                               const BatchOptions& options) {
  return run_batch(
      items,
      [&](const BatchItem& item, int64_t index, BatchItemResult& r) {
        io::Record rec = read(item.input);
        signal::SignalBatch b;
        b.x = rec.signal;
        b.fs = rec.fs;
        b.leads = rec.leads;
        signal::StepContext ctx;
        ctx.training = preprocess.training;
        ctx.generator =
            at::make_generator<at::CPUGeneratorImpl>(derive_seed(preprocess.seed, static_cast<uint64_t>(index)));
        pipeline.apply(b, ctx);
        CT_CHECK(b.x.dim() == 2, ShapeError, item.input, ": the pipeline gave a signal shaped ", b.x.sizes(),
                 "; a record file holds [leads, samples] (ncrop output cannot be written per record)");
        const bool same_leads = b.leads.size() == static_cast<size_t>(b.x.size(0));
        std::vector<std::string> units = rec.units;
        if (!preprocess.units.empty() || units.size() != static_cast<size_t>(b.x.size(0)))
          units.assign(static_cast<size_t>(b.x.size(0)), preprocess.units.empty() ? "mV" : preprocess.units);
        rec.signal = b.x.to(at::kFloat).contiguous();
        rec.fs = b.fs;
        if (same_leads) {
          rec.leads = b.leads;
        } else {
          rec.leads.clear();
          for (int64_t c = 0; c < b.x.size(0); ++c) rec.leads.push_back("ch" + std::to_string(c));
        }
        rec.units = units;
        io::write_record(rec, item.output);
        r.fs = rec.fs;
        r.shape = rec.signal.sizes().vec();
        r.leads = rec.leads;
      },
      options);
}

void write_manifest(const BatchResult& result, const std::string& path) {
  const fs::path dir = fs::path(path).parent_path();
  std::string text = "input,output,status,fs,shape,leads,error\n";
  for (const auto& r : result.items) {
    const std::string out = dir.empty() ? r.output : fs::path(r.output).lexically_relative(dir).string();
    char fsbuf[32] = "";
    if (r.ok) std::snprintf(fsbuf, sizeof fsbuf, "%.10g", r.fs);
    text += str_cat(csv_field(r.input), ",", csv_field(out), ",", r.ok ? "ok" : "failed", ",", fsbuf, ",",
                    shape_text(r.shape), ",", csv_field(join(r.leads, " ")), ",", csv_field(r.error), "\n");
  }
  write_file(path, text);
}

std::string summarize_batch(const BatchResult& r, const std::string& verb) {
  const int64_t n = static_cast<int64_t>(r.items.size());
  char rate[64] = "";
  if (r.seconds > 0) std::snprintf(rate, sizeof rate, "%.0f records/s, ", static_cast<double>(n) / r.seconds);
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", r.seconds);
  std::string out = str_cat(verb, " ", r.n_ok, " of ", n, " records in ", secs, " s (", rate, r.threads,
                            r.threads == 1 ? " thread)" : " threads)");
  if (r.n_failed > 0) {
    out += str_cat("\n", r.n_failed, " skipped:");
    for (const auto& it : r.items)
      if (!it.ok && !it.error.empty()) out += "\n  " + it.error;
  }
  return out;
}

}  // namespace cardiotorch::app
