#pragma once
// Levelled logging to the console (stderr) and optionally to a file in the run directory.
// spdlog stays inside src/core/log.cpp; messages are built only when the level is enabled.
#include <string>

#include "cardiotorch/core/error.h"

namespace cardiotorch {

enum class LogLevel { kTrace = 0, kDebug = 1, kInfo = 2, kWarn = 3, kError = 4, kOff = 5 };

void set_log_level(LogLevel level);
LogLevel log_level();
inline bool log_enabled(LogLevel level) { return level >= log_level() && level != LogLevel::kOff; }
/// Also write every message (at debug level and above) to `path`; "" closes the file.
void set_log_file(const std::string& path);
void log_message(LogLevel level, const std::string& message);

}  // namespace cardiotorch

#define CT_LOG(level, ...)                                                                                         \
  do {                                                                                                             \
    if (::cardiotorch::log_enabled(level)) ::cardiotorch::log_message(level, ::cardiotorch::str_cat(__VA_ARGS__)); \
  } while (0)
#define CT_LOG_DEBUG(...) CT_LOG(::cardiotorch::LogLevel::kDebug, __VA_ARGS__)
#define CT_LOG_INFO(...) CT_LOG(::cardiotorch::LogLevel::kInfo, __VA_ARGS__)
#define CT_LOG_WARN(...) CT_LOG(::cardiotorch::LogLevel::kWarn, __VA_ARGS__)
#define CT_LOG_ERROR(...) CT_LOG(::cardiotorch::LogLevel::kError, __VA_ARGS__)
