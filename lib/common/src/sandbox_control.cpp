#include "faas/sandbox_control.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "faas/scm_rights.hpp"
#include "faas/timing.hpp"

namespace faas {

namespace {

// Waits until fd is ready for events by deadline: false when it passed.
Result<bool> wait_ready(int fd, short events, std::uint64_t deadline_ns) {
  for (;;) {
    std::uint64_t now = now_ns();
    if (now >= deadline_ns) return false;
    pollfd p{fd, events, 0};
    int ms = static_cast<int>((deadline_ns - now + 999999) / 1000000);
    int r = ::poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return sys_error("poll");
    if (r > 0) return true;
  }
}

}  // namespace

Result<ControlSession> ControlSession::start(const std::string& control, std::span<const int> fds,
                                             const std::string& request_id, std::uint64_t deadline_ms,
                                             const std::string& root) {
  ControlSession s;
  s.sock_ = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.sock_) return sys_error("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (control.size() >= sizeof addr.sun_path)
    return Error(Exit::software, "control socket path too long: `" + control + "`");
  std::memcpy(addr.sun_path, control.c_str(), control.size() + 1);
  if (::connect(s.sock_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == ECONNREFUSED || err == ENOENT)
      return sys_error(err, "connect to the control socket (the sandbox is gone)", Exit::temp)
          .with_status(Exit::temp);
    return sys_error(err, "connect to the control socket");
  }
  nlohmann::json payload{{"request_id", request_id}, {"deadline_ms", deadline_ms}};
  if (!root.empty()) payload["root"] = root;
  FAAS_TRY_CTX(send_fds(s.sock_.get(), fds, payload.dump()), "send the client connection");
  return s;
}

Result<std::string> ControlSession::read_line(std::uint64_t deadline_ns) {
  for (;;) {
    auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    FAAS_TRY_ASSIGN(bool ready, wait_ready(sock_.get(), POLLIN, deadline_ns));
    if (!ready) return Error(Exit::temp, "deadline passed waiting for faas-init");
    char tmp[256];
    ssize_t n = ::read(sock_.get(), tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("read the control socket", Exit::io);
    if (n == 0) return Error(Exit::temp, "faas-init closed the control connection (the sandbox died?)");
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

Result<std::optional<std::string>> ControlSession::try_read_line() {
  for (;;) {
    auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return std::optional<std::string>(std::move(line));
    }
    char tmp[256];
    ssize_t n = ::recv(sock_.get(), tmp, sizeof tmp, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::optional<std::string>();
    if (n < 0) return sys_error("read the control socket", Exit::io);
    if (n == 0) return Error(Exit::temp, "faas-init closed the control connection (the sandbox died?)");
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

Result<long> ControlSession::wait_forked(std::uint64_t deadline_ns) {
  FAAS_TRY_ASSIGN(auto line, read_line(deadline_ns));
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_object() && j.contains("pid") && j["pid"].is_number_integer()) return j["pid"].get<long>();
  if (j.is_object() && j.contains("error"))
    return Error(Exit::data, "faas-init refused the request: " + j["error"].value("message", line));
  return Error(Exit::data, "faas-init: unexpected reply `" + line + "`");
}

Result<int> ControlSession::wait_exited(std::uint64_t deadline_ns) {
  FAAS_TRY_ASSIGN(auto line, read_line(deadline_ns));
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_object() && j.contains("status") && j["status"].is_number_integer()) return j["status"].get<int>();
  return Error(Exit::data, "faas-init: unexpected reply `" + line + "`");
}

Result<void> read_until_eof(int fd, std::string& out, std::size_t cap, std::uint64_t deadline_ns) {
  char tmp[16384];
  for (;;) {
    FAAS_TRY_ASSIGN(bool ready, wait_ready(fd, POLLIN, deadline_ns));
    if (!ready) return Error(Exit::temp, "deadline passed with " + std::to_string(out.size()) + " bytes read");
    ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    // A handler that exits without reading all of the request resets the
    // connection: what it wrote before is the response.
    if (n < 0 && errno == ECONNRESET && !out.empty()) return {};
    if (n < 0) return sys_error("read the response", Exit::io);
    if (n == 0) return {};
    if (out.size() + static_cast<std::size_t>(n) > cap)
      return Error(Exit::data, "response larger than " + std::to_string(cap) + " bytes");
    out.append(tmp, static_cast<std::size_t>(n));
  }
}

Result<void> write_all(int fd, std::string_view data, std::uint64_t deadline_ns) {
  while (!data.empty()) {
    FAAS_TRY_ASSIGN(bool ready, wait_ready(fd, POLLOUT, deadline_ns));
    if (!ready) return Error(Exit::temp, "deadline passed writing the request");
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("write the request", Exit::io);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace faas
