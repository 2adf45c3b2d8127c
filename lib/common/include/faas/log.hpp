// Diagnostics on stderr: `faas-<tool>: <message>` as text, or one JSON object
// per line with --log-format=json. stdout carries data only.
#pragma once

#include <string>
#include <string_view>

namespace faas {

enum class LogFormat { text, json };
enum class LogLevel { debug, info, warn, error };

struct LogConfig {
  std::string tool = "faas";
  LogFormat format = LogFormat::text;
  bool debug = false;  // FAAS_DEBUG=1
};

LogConfig& log_config();
void log(LogLevel level, std::string_view msg);
inline void log_error(std::string_view msg) { log(LogLevel::error, msg); }
inline void log_warn(std::string_view msg) { log(LogLevel::warn, msg); }
inline void log_info(std::string_view msg) { log(LogLevel::info, msg); }
inline void log_debug(std::string_view msg) { log(LogLevel::debug, msg); }

}  // namespace faas
