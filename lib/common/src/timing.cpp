#include "faas/timing.hpp"

#include <cerrno>
#include <string>

namespace faas {

std::int64_t unix_ms() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms) {
  timespec ts{ms / 1000, static_cast<long>(ms % 1000) * 1000000L};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void add_timing(Json& rec, std::string_view tool, std::string_view step, std::uint64_t us) {
  std::string key;
  key.reserve(tool.size() + 1 + step.size());
  // "faas-fork" + "mount" -> "fork.mount": the tool prefix is implied.
  if (tool.substr(0, 5) == "faas-") tool.remove_prefix(5);
  key.append(tool).append(".").append(step);
  Json& timing = rec["timing"];
  if (!timing.is_object()) timing = Json::object();
  auto it = timing.find(key);
  // A value set in code (`= 5`) is a signed integer, one parsed from input
  // an unsigned one: both accumulate.
  if (it != timing.end() && it->is_number_integer() && it->get<std::int64_t>() >= 0)
    *it = it->get<std::uint64_t>() + us;
  else
    timing[key] = us;
}

}  // namespace faas
