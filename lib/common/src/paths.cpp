// Default directories and IDs: kept apart from the state store so a tool
// that only parses its command line does not link SQLite.
#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <random>
#include <string>

#include "faas/state.hpp"

namespace faas {
namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : fallback;
}

}  // namespace

std::string default_state_dir() { return env_or("FAAS_STATE_DIR", "/var/lib/faas"); }

std::string default_run_dir() { return env_or("FAAS_RUN_DIR", "/run/faas"); }

std::string new_id() {
  unsigned char bytes[6];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  if (got < sizeof bytes) {
    // getrandom(2) blocked by a seccomp filter or too old a kernel.
    std::random_device rd;
    for (auto& b : bytes) b = static_cast<unsigned char>(rd());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(2 * sizeof bytes);
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 0xf];
  }
  return id;
}

}  // namespace faas
