#pragma once
// Progress reporting for long loops. On a terminal: a redrawn bar with rate and ETA.
// Otherwise (CI logs, pipes): a plain line at most every `plain_interval_s` seconds
// and at the end, so logs stay readable.
#include <chrono>
#include <cstdint>
#include <string>

namespace cardiotorch {

class ProgressBar {
 public:
  /// total <= 0 means unknown (no percentage or ETA).
  ProgressBar(std::string label, int64_t total, std::string unit = "it");
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void tick(int64_t n = 1);
  /// Extra text shown after the counters (e.g. "loss 0.123").
  void set_postfix(const std::string& text);
  void finish();

  /// Overrides terminal detection (tests); by default isatty(stderr) decides.
  static void force_tty(int mode);  // -1 auto, 0 plain, 1 tty
  /// Silences all bars (used by -q).
  static void set_enabled(bool enabled);

  /// "1h02m", "3m05s", "12s"
  static std::string format_duration(double seconds);
  /// Renders the status line without printing it (tests).
  std::string render(double elapsed_s) const;

 private:
  void draw(bool final_line);
  std::string label_, unit_, postfix_;
  int64_t total_, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool tty_, finished_ = false;
  double plain_interval_s_ = 5.0;
};

}  // namespace cardiotorch
