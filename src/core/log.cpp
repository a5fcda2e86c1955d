#include "cardiotorch/core/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>

namespace cardiotorch {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::mutex g_mutex;

spdlog::level::level_enum to_spd(LogLevel l) {
  switch (l) {
    case LogLevel::kTrace: return spdlog::level::trace;
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
    case LogLevel::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

struct Loggers {
  std::shared_ptr<spdlog::logger> console;
  std::shared_ptr<spdlog::logger> file;
  Loggers() {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    console = std::make_shared<spdlog::logger>("cardiotorch", sink);
    console->set_pattern("%^[%L]%$ %v");
    console->set_level(spdlog::level::trace);
  }
};

Loggers& loggers() {
  static Loggers l;
  return l;
}

}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

void set_log_file(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto& l = loggers();
  if (l.file) l.file->flush();
  l.file.reset();
  if (path.empty()) return;
  try {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
    l.file = std::make_shared<spdlog::logger>("cardiotorch_file", sink);
    l.file->set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] %v");
    l.file->set_level(spdlog::level::debug);
    l.file->flush_on(spdlog::level::info);
  } catch (const spdlog::spdlog_ex& e) {
    throw Error(str_cat(path, ": cannot open log file: ", e.what()));
  }
}

void log_message(LogLevel level, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto& l = loggers();
  if (level >= g_level.load()) l.console->log(to_spd(level), message);
  if (l.file && level >= LogLevel::kDebug) l.file->log(to_spd(level), message);
}

}  // namespace cardiotorch
