// Holder identity: a pid plus its start time (field 22 of /proc/PID/stat,
// clock ticks since boot), so a recycled pid is never taken for the holder.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string_view>

#include "faas/result.hpp"

namespace faas {

struct Holder {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
  bool operator==(const Holder&) const = default;
};

// The identity of a live process; Exit::no_input when it does not exist.
Result<Holder> holder_of(pid_t pid);
// The parent of this process (the shell of a pipeline).
Result<Holder> parent_holder();
Result<Holder> self_holder();
// true while that very process (pid and start time) is alive. A zombie
// counts as dead: it has exited and only waits for its parent to reap it.
// When /proc/PID/stat cannot be read (hidepid), a pid that exists counts as
// alive: a live holder must never be taken for dead.
bool holder_alive(const Holder& h);

// Parses the contents of /proc/PID/stat (exposed for tests: comm may hold
// spaces and parentheses). Returns the start time in ticks.
Result<std::uint64_t> parse_stat_start_time(std::string_view stat);

}  // namespace faas
