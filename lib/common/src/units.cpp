#include "faas/units.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

namespace faas {

namespace {

// Splits "1.5GiB" into 1.5 and "GiB"; false when no number leads.
bool split_number(std::string_view s, double& num, std::string_view& unit) {
  std::size_t i = 0;
  bool digits = false;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) != 0 || s[i] == '.')) {
    digits = digits || s[i] != '.';
    ++i;
  }
  if (!digits) return false;
  std::string n(s.substr(0, i));
  char* end = nullptr;
  num = std::strtod(n.c_str(), &end);
  if (end != n.c_str() + n.size()) return false;
  unit = s.substr(i);
  return true;
}

}  // namespace

Result<std::uint64_t> parse_bytes(std::string_view s) {
  double num = 0;
  std::string_view unit;
  if (!split_number(s, num, unit))
    return Error(Exit::usage, "invalid size `" + std::string(s) + "' (e.g. 4096, 64K, 512M, 2G)");
  std::string u;
  for (char c : unit) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (u.size() > 1 && u.back() == 'B') u.pop_back();          // "MB", "MiB"
  if (u.size() == 2 && u.back() == 'I') u.pop_back();         // "MI" from "MiB"
  double mult = 0;
  if (u.empty()) mult = 1;
  else if (u == "K") mult = 1024.0;
  else if (u == "M") mult = 1024.0 * 1024;
  else if (u == "G") mult = 1024.0 * 1024 * 1024;
  else if (u == "T") mult = 1024.0 * 1024 * 1024 * 1024;
  else
    return Error(Exit::usage, "invalid size `" + std::string(s) + "': unknown unit `" +
                                  std::string(unit) + "' (K, M, G, T)");
  double bytes = std::floor(num * mult);
  if (bytes >= 18446744073709551615.0)
    return Error(Exit::usage, "invalid size `" + std::string(s) + "': too large");
  return static_cast<std::uint64_t>(bytes);
}

Result<std::chrono::milliseconds> parse_duration(std::string_view s) {
  double num = 0;
  std::string_view unit;
  if (!split_number(s, num, unit))
    return Error(Exit::usage, "invalid duration `" + std::string(s) + "' (e.g. 500ms, 2s, 1m)");
  double ms = 0;
  if (unit == "ms") ms = num;
  else if (unit.empty() || unit == "s") ms = num * 1000;
  else if (unit == "m") ms = num * 60000;
  else if (unit == "h") ms = num * 3600000;
  else
    return Error(Exit::usage, "invalid duration `" + std::string(s) + "': unknown unit `" +
                                  std::string(unit) + "' (ms, s, m, h)");
  if (ms > 1e12) return Error(Exit::usage, "invalid duration `" + std::string(s) + "': too long");
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::string format_bytes(std::uint64_t bytes) {
  static const char* units[] = {"", "K", "M", "G", "T", "P"};
  double v = static_cast<double>(bytes);
  std::size_t i = 0;
  while (v >= 1024 && i + 1 < std::size(units)) {
    v /= 1024;
    ++i;
  }
  char buf[32];
  if (i == 0) std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(bytes));
  else if (v < 10 && v != std::floor(v)) std::snprintf(buf, sizeof buf, "%.1f%s", v, units[i]);
  else std::snprintf(buf, sizeof buf, "%.0f%s", v, units[i]);
  return buf;
}

}  // namespace faas
