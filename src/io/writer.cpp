#include "cardiotorch/io/writer.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/npy.h"

namespace fs = std::filesystem;

namespace cardiotorch::io {
namespace {

struct NamedWriter {
  std::string format;
  std::shared_ptr<const RecordWriter> writer;
};

// Built once, after static registration (thread-safe initialisation: batch jobs write in parallel).
const std::vector<NamedWriter>& writers() {
  static const std::vector<NamedWriter> all = [] {
    std::vector<NamedWriter> out;
    for (const auto& name : writer_registry().names())
      out.push_back({name, writer_registry().build(name, ConfigNode())});
    return out;
  }();
  return all;
}

const NamedWriter* writer_for(const std::string& path) {
  const std::string ext = to_lower(fs::path(path).extension().string());
  for (const auto& w : writers()) {
    const auto e = w.writer->extensions();
    if (!ext.empty() && std::find(e.begin(), e.end(), ext) != e.end()) return &w;
  }
  return nullptr;
}

class NpyWriter : public RecordWriter {
 public:
  std::vector<std::string> extensions() const override { return {".npy"}; }
  void write(const Record& r, const std::string& path, const WriteRecordOptions&) const override {
    write_npy(path, r.signal.to(at::kFloat).contiguous());
  }
};

class NpzWriter : public RecordWriter {
 public:
  std::vector<std::string> extensions() const override { return {".npz"}; }
  void write(const Record& r, const std::string& path, const WriteRecordOptions&) const override {
    write_npz(path, {{"signal", r.signal.to(at::kFloat).contiguous()}, {"fs", at::scalar_tensor(r.fs, at::kDouble)}});
  }
};

}  // namespace

Registry<RecordWriter>& writer_registry() {
  static Registry<RecordWriter> r("writer", "record file formats write_record produces (by extension)");
  return r;
}

std::string writer_format(const std::string& path) {
  const NamedWriter* w = writer_for(path);
  return w ? w->format : std::string();
}

std::vector<std::string> writer_extensions() {
  std::vector<std::string> out;
  for (const auto& w : writers())
    for (const auto& e : w.writer->extensions()) out.push_back(e);
  return out;
}

void write_record(const Record& record, const std::string& path, const WriteRecordOptions& options) {
  const NamedWriter* w = writer_for(path);
  CT_CHECK(w != nullptr, ArgumentError, path, ": no writer for this extension (writers: ", join(writer_extensions()),
           ")");
  CT_CHECK(record.signal.defined() && record.signal.dim() == 2, ArgumentError, path,
           ": a record to write needs a [leads, samples] signal");
  const auto parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  w->writer->write(record, path, options);
}

CT_REGISTER(writer_registry(), "npy", make_writer<NpyWriter>, ".npy: float32 [leads, samples]")
CT_REGISTER(writer_registry(), "npz", make_writer<NpzWriter>, ".npz: signal (float32 [leads, samples]) and fs")

}  // namespace cardiotorch::io
