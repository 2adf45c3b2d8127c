// Passing file descriptors with SCM_RIGHTS plus a small JSON payload
// (see wire.h for the format).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "faas/fd.hpp"
#include "faas/result.hpp"

namespace faas {

struct FdMessage {
  std::vector<Fd> fds;
  std::string payload;
};

// Errors: Exit::data for a message without an fd, truncated control data or
// a payload too large; Exit::io for a closed peer; a failed system call gets
// its status from errno (sys_error). Sending 0 or more than
// FAAS_WIRE_MAX_FDS fds, or a payload over FAAS_WIRE_MAX_PAYLOAD, is a
// caller bug: Exit::software. An empty payload is received as "".
// On any failure every fd that arrived is closed.
Result<void> send_fds(int sock, std::span<const int> fds, std::string_view payload = {});
Result<FdMessage> recv_fds(int sock, std::size_t max_fds = 16);

}  // namespace faas
