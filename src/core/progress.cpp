#include "cardiotorch/core/progress.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>

namespace cardiotorch {
namespace {
std::atomic<int> g_force_tty{-1};
std::atomic<bool> g_enabled{true};
}  // namespace

void ProgressBar::force_tty(int mode) { g_force_tty = mode; }
void ProgressBar::set_enabled(bool enabled) { g_enabled = enabled; }

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
  const int f = g_force_tty.load();
  tty_ = f < 0 ? ::isatty(STDERR_FILENO) != 0 : f == 1;
}

ProgressBar::~ProgressBar() {
  if (!finished_) finish();
}

void ProgressBar::set_postfix(const std::string& text) { postfix_ = text; }

void ProgressBar::tick(int64_t n) {
  done_ += n;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if ((tty_ && since >= 0.1) || (!tty_ && since >= plain_interval_s_)) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

std::string ProgressBar::format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = static_cast<int64_t>(std::llround(s));
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(t / 3600),
                  static_cast<long long>((t % 3600) / 60));
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(t / 60), static_cast<long long>(t % 60));
  else std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(t));
  return buf;
}

std::string ProgressBar::render(double elapsed) const {
  const double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  char counts[128];
  std::string line = label_ + " ";
  if (total_ > 0) {
    const double frac = std::min(1.0, static_cast<double>(done_) / total_);
    if (tty_) {
      const int width = 24, filled = static_cast<int>(frac * width);
      line += "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    }
    const double eta = rate > 0 ? (total_ - done_) / rate : NAN;
    std::snprintf(counts, sizeof counts, "%3.0f%% %lld/%lld %s, %.1f %s/s, elapsed %s, ETA %s", frac * 100,
                  static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(), rate, unit_.c_str(),
                  format_duration(elapsed).c_str(), format_duration(eta).c_str());
  } else {
    std::snprintf(counts, sizeof counts, "%lld %s, %.1f %s/s, elapsed %s", static_cast<long long>(done_), unit_.c_str(),
                  rate, unit_.c_str(), format_duration(elapsed).c_str());
  }
  line += counts;
  if (!postfix_.empty()) line += " | " + postfix_;
  return line;
}

void ProgressBar::draw(bool final_line) {
  if (!g_enabled) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::string line = render(elapsed);
  if (tty_) std::fprintf(stderr, "\r\033[2K%s%s", line.c_str(), final_line ? "\n" : "");
  else std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace cardiotorch
