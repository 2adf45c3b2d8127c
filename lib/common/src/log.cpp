#include "faas/log.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

namespace faas {

LogConfig& log_config() {
  static LogConfig cfg = [] {
    LogConfig c;
    const char* d = std::getenv("FAAS_DEBUG");
    c.debug = d != nullptr && *d != '\0' && *d != '0';
    return c;
  }();
  return cfg;
}

static const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

void log(LogLevel level, std::string_view msg) {
  const LogConfig& cfg = log_config();
  if (level == LogLevel::debug && !cfg.debug) return;
  std::string line;
  if (cfg.format == LogFormat::json) {
    nlohmann::ordered_json j;
    j["level"] = level_name(level);
    j["tool"] = cfg.tool;
    j["msg"] = msg;
    line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  } else {
    line = cfg.tool;
    line += ": ";
    if (level == LogLevel::warn) line += "warning: ";
    if (level == LogLevel::debug) line += "debug: ";
    line += msg;
  }
  line += '\n';
  // One write so concurrent tools never interleave within a line.
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(2, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace faas
