// A thin C++ face over wire.c, so faas-init (plain C) and the C++ tools speak
// exactly the same protocol.
#include "faas/scm_rights.hpp"

#include <array>

#include "faas/wire.h"

namespace faas {

namespace {

// Protocol failures are the peer's fault (bad message: data) or a closed
// connection (io); everything else is a failed system call.
Error wire_error(int code, const std::string& what) {
  switch (code) {
    case FAAS_WIRE_ENOFD:
    case FAAS_WIRE_ETRUNC:
    case FAAS_WIRE_ETOOBIG:
    case FAAS_WIRE_ENOTSOCK:
    case FAAS_WIRE_EFEWFDS:
      return Error(Exit::data, what + ": " + faas_wire_strerror(code));
    case FAAS_WIRE_EEOF:
      return Error(Exit::io, what + ": " + faas_wire_strerror(code));
    default:
      return sys_error(-code, what);
  }
}

}  // namespace

Result<void> send_fds(int sock, std::span<const int> fds, std::string_view payload) {
  if (fds.empty() || fds.size() > FAAS_WIRE_MAX_FDS)
    return Error(Exit::software, "send fds: " + std::to_string(fds.size()) +
                                     " file descriptors (1 to " +
                                     std::to_string(FAAS_WIRE_MAX_FDS) + " allowed)");
  if (payload.size() > FAAS_WIRE_MAX_PAYLOAD)
    return Error(Exit::software, "send fds: payload of " + std::to_string(payload.size()) +
                                     " bytes (at most " +
                                     std::to_string(FAAS_WIRE_MAX_PAYLOAD) + ")");
  int rc = faas_wire_send(sock, fds.data(), fds.size(), payload.data(), payload.size());
  if (rc != 0) return wire_error(rc, "send fds");
  return {};
}

Result<FdMessage> recv_fds(int sock, std::size_t max_fds) {
  if (max_fds == 0 || max_fds > FAAS_WIRE_MAX_FDS)
    return Error(Exit::software, "receive fds: max_fds " + std::to_string(max_fds) +
                                     " (1 to " + std::to_string(FAAS_WIRE_MAX_FDS) +
                                     " allowed)");
  std::array<int, FAAS_WIRE_MAX_FDS> raw{};
  std::size_t nfds = 0;
  std::string payload(FAAS_WIRE_MAX_PAYLOAD + 1, '\0');
  std::size_t len = 0;
  int rc = faas_wire_recv(sock, raw.data(), max_fds, &nfds, payload.data(), payload.size(), &len);
  if (rc != 0) return wire_error(rc, "receive fds");
  FdMessage msg;
  msg.fds.reserve(nfds);
  for (std::size_t i = 0; i < nfds; ++i) msg.fds.emplace_back(raw[i]);
  payload.resize(len);
  // An empty payload travels as one NUL byte (a stream message cannot be
  // empty); give it back as the empty string it was.
  if (payload.size() == 1 && payload[0] == '\0') payload.clear();
  msg.payload = std::move(payload);
  return msg;
}

}  // namespace faas
