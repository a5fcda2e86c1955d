#pragma once
// ECG plots on standard grid paper (SVG or PNG, rendered with cairo).
//
// Paper: 1 mm minor and 5 mm major grid lines (pink/red), 25 mm/s and 10 mm/mV by default, a
// 1 mV calibration pulse (10 mm x 0.2 s) at the start of every row, lead labels.
// Layouts:
//  - "12lead": the standard 3 x 4 arrangement (I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6),
//    each column a consecutive quarter of the window (2.5 s for the default 10 s), plus a
//    full-width rhythm strip of lead II. Needs the 12 standard leads.
//  - "strips": one full-width row per lead, stacked (any number of leads).
//  - "auto": 12lead when the record has the 12 standard leads, no lead subset was asked for and
//    the window is at least 4 s long; strips otherwise.
// Signals in uV or V are converted to mV; other units are drawn as if mV (the title says so).
// Each trace is centred on its row by subtracting its median over the drawn segment.
// A relevance map (saliency) can shade the paper under the traces, a blue band whose opacity
// follows the relevance of each 0.5 mm of paper (its maximum there). An overlay (a
// reconstruction) can be drawn over the traces in green.
#include <string>
#include <vector>

#include "cardiotorch/io/annotation.h"
#include "cardiotorch/io/edf.h"
#include "cardiotorch/io/record.h"

namespace cardiotorch::report {

/// A labelled mark on the time axis (e.g. a beat annotation), drawn above the traces.
struct PlotMarker {
  double time_s = 0.0;  ///< seconds from the start of the record
  std::string label;    ///< e.g. "N", "V"
};

struct EcgPlotOptions {
  std::string layout = "auto";     ///< auto, 12lead, strips
  double from_s = 0.0;             ///< start of the window, seconds from the record start
  double duration_s = 0.0;         ///< window length; 0 = 10 s (or the whole record if shorter)
  std::vector<std::string> leads;  ///< leads to draw (strips) in this order; empty = all
  std::string rhythm_lead = "II";  ///< lead of the 12lead rhythm strip
  double speed_mm_s = 25.0;
  double gain_mm_mv = 10.0;
  double dpi = 150.0;               ///< PNG resolution (SVG is vector)
  std::string title;                ///< "" = record name, rate, window and scale
  std::vector<PlotMarker> markers;  ///< times in seconds of the original recording (see time_offset_s)
  /// Time of the record's first sample in the original recording, when the record is a window
  /// of a longer one (read with ReadOptions::from): shifts the title times and the markers.
  double time_offset_s = 0.0;
  /// Length of the original recording for the title ("of 1805.6 s"); 0 = the record's own
  /// length when time_offset_s is 0, else left out.
  double total_duration_s = 0.0;
  /// Relevance shaded under the traces (saliency maps), aligned with the record's samples:
  /// (samples,) shared by every lead or (leads, samples) one row per lead, values in [0, 1]
  /// (clamped). Undefined = none. A legend with `relevance_label` goes under the title.
  at::Tensor relevance;
  std::string relevance_label;
  /// A second trace drawn in green over the record's (a model's reconstruction), aligned with
  /// the record: (leads, samples) in the record's units, centred with the record's median so
  /// offsets stay visible. Undefined = none. A legend with `overlay_label` goes under the title.
  at::Tensor overlay;
  std::string overlay_label;

  template <class V>
  void fields(V& v) {
    v("layout", layout, "auto, 12lead or strips");
    v("from", from_s, "start of the window in seconds");
    v("duration", duration_s, "window length in seconds (0 = 10 s or the whole record)");
    v("leads", leads, "leads to draw, in order (empty = all)");
    v("rhythm_lead", rhythm_lead, "lead of the 12-lead rhythm strip");
    v("speed", speed_mm_s, "paper speed in mm/s");
    v("gain", gain_mm_mv, "amplitude scale in mm/mV");
    v("dpi", dpi, "PNG resolution in dots per inch");
    v("title", title, "title line (empty = automatic)");
    v("time_offset", time_offset_s, "time of the record's first sample in the original recording (s)");
    v("total_duration", total_duration_s, "length of the original recording for the title (s)");
  }
  void validate() const;
};

/// True when the library was built with cairo (otherwise plot_ecg throws).
bool plot_supported();

/// Beat annotations (is_beat_code) of `annotations` as markers, sample / fs seconds (times in
/// samples at fs: see io::to_sample_rate).
std::vector<PlotMarker> beat_markers(const std::vector<io::Annotation>& annotations, double fs);
/// EDF+ annotations as markers at their onsets, labelled with their text (cut to `max_chars`
/// characters, "..." marking the cut); annotations without text are left out.
std::vector<PlotMarker> edf_markers(const std::vector<io::EdfAnnotation>& annotations, size_t max_chars = 16);

/// Draws `record` to `path`; the extension picks the format (.svg or .png). Throws
/// ConfigError for bad options, DataError when the window holds no samples or a requested
/// lead is missing, Error when the file cannot be written.
void plot_ecg(const io::Record& record, const std::string& path, const EcgPlotOptions& options = {});

}  // namespace cardiotorch::report
