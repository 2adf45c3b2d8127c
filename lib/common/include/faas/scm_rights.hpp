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

// Errors: Exit::data for a message without an fd or truncated control data,
// Exit::io for a closed peer, Exit::os otherwise.
Result<void> send_fds(int sock, std::span<const int> fds, std::string_view payload = {});
Result<FdMessage> recv_fds(int sock, std::size_t max_fds = 16);

}  // namespace faas
