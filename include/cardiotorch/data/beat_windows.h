#pragma once
// Beat windows of a whole record, cut as a beat dataset cut them in training.
//
// A beat dataset has one item per annotated beat: a window around its R peak, often with
// context channels computed over the whole record (RR intervals, the record's median beat).
// `predict` on a record no dataset indexed must give a beat model the same inputs, from the
// dataset options stored in the checkpoint. Each beat adapter registers how, under its
// dataset_registry() name, next to the adapter:
//
//   CT_REGISTER(beat_windower_registry(), "mitdb", make_mitdb_windower, "...");
//
// A model trained on a dataset without an entry here reads fixed-length windows of the record.
#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cardiotorch/core/registry.h"

namespace cardiotorch::data {

class BeatWindower {
 public:
  virtual ~BeatWindower() = default;
  /// The annotation file extension the adapter read its beats from ("atr"): where predict
  /// looks for a record's beats before it runs a QRS detector.
  virtual std::string annotator() const = 0;
  /// Sets the record the next window() calls cut from: `signal` [leads, n] at `fs` Hz in the
  /// adapter's lead order, `peaks` its beats (ascending R-peak samples). Computes what the
  /// windows need from the whole record; DataError naming `where` when the beats cannot give
  /// it (e.g. RR context from a single beat).
  virtual void set_record(const at::Tensor& signal, double fs, std::vector<int64_t> peaks,
                          const std::string& where) = 0;
  /// Beat k's window [channels, width] (the adapter's item for that beat: zero-padded past the
  /// record's ends, context channels appended), or an undefined tensor for a beat whose window
  /// lies wholly outside the record.
  virtual at::Tensor window(size_t k) const = 0;
};

/// Keyed by dataset name; built from the dataset's options node (as a checkpoint stores it).
Registry<BeatWindower>& beat_windower_registry();

}  // namespace cardiotorch::data
