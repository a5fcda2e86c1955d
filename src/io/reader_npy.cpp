// NumPy .npy and .npz files as RecordReaders: [samples] or [leads, samples] arrays; fs from the
// .npz's scalar "fs", else from ReadOptions::fs, else 0.
#include <ATen/ATen.h>

#include <filesystem>

#include "cardiotorch/core/file.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/npy.h"
#include "cardiotorch/io/npy_format.h"
#include "cardiotorch/io/reader.h"
#include "io/reader_util.h"

namespace fs = std::filesystem;

namespace cardiotorch::io {
namespace {

Record from_tensor(at::Tensor t, const std::string& path, double fs) {
  CT_CHECK(t.dim() == 1 || t.dim() == 2, DataError, path, ": array has ", t.dim(),
           " dims; a record is [samples] or [leads, samples]");
  if (t.dim() == 1) t = t.unsqueeze(0);
  Record r;
  r.name = fs::path(path).stem().string();
  r.source = path;
  r.fs = fs;
  r.signal = t.to(at::kFloat).contiguous();
  for (int64_t i = 0; i < r.signal.size(0); ++i) r.leads.push_back("ch" + std::to_string(i));
  r.units.assign(static_cast<size_t>(r.signal.size(0)), "");
  return r;
}

class NpyReader : public RecordReader {
 public:
  std::vector<std::string> extensions() const override { return {".npy"}; }
  bool sniff(const std::string&, const std::string& head) const override {
    return head.compare(0, 6, "\x93NUMPY") == 0;
  }
  Record read(const std::string& path, const ReadOptions& options) const override {
    Record r = from_tensor(read_npy(path), path, options.fs);
    apply_window_and_channels(r, options);
    return r;
  }
  // The header alone gives the shape.
  RecordInfo info(const std::string& path) const override {
    const std::string head = read_file_prefix(path, 1 << 16);
    const NpyHeader h = parse_npy_header(head.data(), head.size(), path);
    RecordInfo info;
    info.path = path;
    info.name = fs::path(path).stem().string();
    info.format = "npy";
    const int64_t leads = h.shape.size() == 2 ? h.shape[0] : 1;
    info.n_samples = h.shape.empty() ? 1 : h.shape.back();
    for (int64_t i = 0; i < leads; ++i) info.leads.push_back("ch" + std::to_string(i)), info.units.push_back("");
    return info;
  }
};

class NpzReader : public RecordReader {
 public:
  std::vector<std::string> extensions() const override { return {".npz"}; }
  bool sniff(const std::string&, const std::string& head) const override {
    return head.compare(0, 4, "PK\x03\x04") == 0;
  }
  // The signal is options.variable, else the first of signal, ecg, data, x, else the only
  // array besides fs.
  Record read(const std::string& path, const ReadOptions& options) const override {
    const auto arrays = read_npz(path);
    std::string key = options.variable;
    if (!key.empty() && !arrays.count(key)) {
      std::vector<std::string> keys;
      for (const auto& kv : arrays) keys.push_back(kv.first);
      throw ConfigError(
          str_cat(path, ": no array '", key, "'", did_you_mean(key, keys), " (arrays: ", join(keys), ")"));
    }
    for (const char* k : {"signal", "ecg", "data", "x"})
      if (key.empty() && arrays.count(k)) key = k;
    if (key.empty()) {
      std::vector<std::string> keys;
      for (const auto& kv : arrays)
        if (kv.first != "fs") keys.push_back(kv.first);
      CT_CHECK(keys.size() == 1, DataError, path, ": cannot tell which array is the signal (arrays: ", join(keys),
               "); name it 'signal'");
      key = keys[0];
    }
    double fs = options.fs;
    auto it = arrays.find("fs");
    if (fs == 0 && it != arrays.end()) {
      CT_CHECK(it->second.numel() == 1, DataError, path, ": 'fs' must be a scalar");
      fs = it->second.to(at::kDouble).item<double>();
    }
    Record r = from_tensor(arrays.at(key), path, fs);
    apply_window_and_channels(r, options);
    return r;
  }
};

}  // namespace

CT_REGISTER(reader_registry(), "npy", make_reader<NpyReader>, "NumPy .npy: [samples] or [leads, samples]")
CT_REGISTER(reader_registry(), "npz", make_reader<NpzReader>,
            "NumPy .npz: array signal/ecg/data/x (or the only one) and an optional scalar fs")

}  // namespace cardiotorch::io
