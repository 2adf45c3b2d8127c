// The host side of a sandbox's control socket (faas-init --listen --loop):
// connect, hand over the client's fds with the request id and deadline, read
// {"pid":P} once the handler is forked and {"status":S} when it has exited.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "faas/fd.hpp"
#include "faas/result.hpp"

namespace faas {

class ControlSession {
 public:
  // Connects to the control socket and sends fds with the flat JSON payload
  // {"request_id":..., "deadline_ms":..., "root":...} (root, the handler's
  // root as the sandbox sees it, only when not empty). A socket nobody
  // listens on (a dead sandbox) is Exit::temp.
  static Result<ControlSession> start(const std::string& control, std::span<const int> fds,
                                      const std::string& request_id, std::uint64_t deadline_ms,
                                      const std::string& root = {});

  // The handler's pid (as faas-init sees it), read by deadline (monotonic ns).
  Result<long> wait_forked(std::uint64_t deadline_ns);
  // The handler's exit status, read by deadline (monotonic ns).
  Result<int> wait_exited(std::uint64_t deadline_ns);

  // For an event loop: the control connection, to wait on for POLLIN, and
  // the next reply line when a whole one has arrived (never blocks).
  int fd() const { return sock_.get(); }
  Result<std::optional<std::string>> try_read_line();

 private:
  Result<std::string> read_line(std::uint64_t deadline_ns);
  Fd sock_;
  std::string buf_;
};

// Reads from fd into out until EOF, at most `cap` bytes, by deadline
// (monotonic ns): Exit::temp when the deadline passes first.
Result<void> read_until_eof(int fd, std::string& out, std::size_t cap, std::uint64_t deadline_ns);
// Writes all of data by deadline.
Result<void> write_all(int fd, std::string_view data, std::uint64_t deadline_ns);

}  // namespace faas
