// Timing: a monotonic stopwatch and `timing["<tool>.<step>"] = microseconds`.
#pragma once

#include <time.h>

#include <cstdint>
#include <string_view>

#include "faas/records.hpp"

namespace faas {

inline std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Monotonic milliseconds: deadlines and backoffs.
inline std::int64_t mono_ms() { return static_cast<std::int64_t>(now_ns() / 1000000); }

class Stopwatch {
 public:
  Stopwatch() : start_(now_ns()) {}
  std::uint64_t elapsed_ns() const { return now_ns() - start_; }
  std::uint64_t elapsed_us() const { return elapsed_ns() / 1000; }
  void restart() { start_ = now_ns(); }

 private:
  std::uint64_t start_;
};

// Wall-clock milliseconds since the epoch: what the state store records.
std::int64_t unix_ms();
// Sleeps ms milliseconds, resuming after a signal.
void sleep_ms(int ms);

// rec["timing"]["<tool>.<step>"] = us (adds to an existing value, so a
// step done twice in one record accumulates).
void add_timing(Json& rec, std::string_view tool, std::string_view step,
                std::uint64_t us);

}  // namespace faas
