#pragma once
// Small datasets for the data tests: a file-backed one (raw float32 files, so the cache
// can hash real sources) and helpers.
#include <ATen/ATen.h>

#include <atomic>
#include <fstream>
#include <stdexcept>

#include "cardiotorch/core/error.h"
#include "cardiotorch/data/dataset.h"
#include "cardiotorch/signal/pipeline.h"
#include "support/test_util.h"

namespace cardiotorch::test {

/// n records of [leads, samples] float32 written to dir/rec<i>.f32; class = i % n_classes.
/// Records whose index is in `bad` throw a DataError on get().
class FileDataset : public data::Dataset {
 public:
  FileDataset(const std::string& dir, int64_t n, int64_t leads, int64_t samples, int64_t n_classes = 3,
              std::vector<int64_t> bad = {})
      : leads_(leads), samples_(samples), bad_(std::move(bad)) {
    info_.name = "files";
    for (int64_t c = 0; c < n_classes; ++c) info_.class_names.push_back("c" + std::to_string(c));
    info_.label_kind = data::LabelKind::kClassIndex;
    info_.fs = 100;
    info_.n_records = n;
    info_.config = "files";
    for (int64_t i = 0; i < n; ++i) {
      data::ItemInfo it;
      it.record_id = "rec" + std::to_string(i);
      it.patient_id = "pat" + std::to_string(i / 2);
      it.classes = {i % n_classes};
      it.sources = {dir + "/rec" + std::to_string(i) + ".f32"};
      at::Tensor x = at::arange(leads * samples, at::kFloat).reshape({leads, samples}) * 0.001 + i;
      write_tensor(it.sources[0], x);
      items_.push_back(it);
    }
    data::count_labels(*this, info_);
  }
  static void write_tensor(const std::string& path, const at::Tensor& x) {
    std::ofstream f(path, std::ios::binary);
    f.write(static_cast<const char*>(x.data_ptr()), static_cast<std::streamsize>(x.numel() * 4));
  }
  int64_t size() const override { return static_cast<int64_t>(items_.size()); }
  data::Sample get(int64_t i) const override {
    ++reads;
    const auto& it = items_.at(static_cast<size_t>(i));
    for (int64_t b : bad_) CT_CHECK(b != i, DataError, it.sources[0], ": simulated decode failure");
    std::ifstream f(it.sources[0], std::ios::binary);
    at::Tensor x = at::empty({leads_, samples_}, at::kFloat);
    f.read(static_cast<char*>(x.data_ptr()), static_cast<std::streamsize>(x.numel() * 4));
    CT_CHECK(f.gcount() == x.numel() * 4, DataError, it.sources[0], ": truncated");
    data::Sample s;
    s.signal = x;
    s.fs = 100;
    for (int64_t l = 0; l < leads_; ++l) s.leads.push_back("L" + std::to_string(l));
    s.label = at::scalar_tensor(it.classes[0], at::kLong);
    s.record_id = it.record_id;
    s.patient_id = it.patient_id;
    s.text = "text of " + it.record_id;
    s.meta["index"] = std::to_string(i);
    return s;
  }
  const data::DatasetInfo& info() const override { return info_; }
  const data::ItemInfo& item(int64_t i) const override { return items_.at(static_cast<size_t>(i)); }

  mutable std::atomic<int64_t> reads{0};

 private:
  int64_t leads_, samples_;
  std::vector<int64_t> bad_;
  data::DatasetInfo info_;
  std::vector<data::ItemInfo> items_;
};

/// A preprocessing step: x * factor.
class ScaleStep : public signal::Step {
 public:
  explicit ScaleStep(double f) : f_(f) {}
  std::string name() const override { return "test_scale"; }
  void apply(signal::SignalBatch& b, signal::StepContext&) const override { b.x = b.x * f_; }

 private:
  double f_;
};

/// An augmenter: adds N(0, 1) noise drawn from ctx.generator.
class NoiseStep : public signal::Step {
 public:
  std::string name() const override { return "test_noise"; }
  bool is_augmentation() const override { return true; }
  void apply(signal::SignalBatch& b, signal::StepContext& ctx) const override {
    b.x = b.x + at::randn(b.x.sizes(), ctx.generator, b.x.options());
  }
};

}  // namespace cardiotorch::test
