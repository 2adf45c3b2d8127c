// Scenario `init`: the receive-fd-and-exec round trip of an init.
//
// Per iteration: a socketpair is the client connection; the variant is
// spawned; it connects to the bench's control socket and gets the client end
// with SCM_RIGHTS (faas_wire_send, payload {"request_id":"b1"}); the bench
// writes one HTTP request, reads the response to EOF and reaps the variant.
// Timed: spawn to reaped. The baseline `direct` execs the handler itself with
// the client end inherited as fd 3 (FAAS_CLIENT_FD=3), no control socket.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "bench.hpp"
#include "faas/timing.hpp"
#include "faas/wire.h"
#include "python_init.hpp"  // kPythonInit, generated from python_init.py

namespace faas::bench {
namespace {

constexpr std::string_view kRequest = "GET / HTTP/1.0\r\n\r\n";
constexpr std::string_view kPayload = R"({"request_id":"b1"})";
constexpr const char* kPython = "/usr/bin/python3";  // never the python3 on PATH

// A response excerpt for an error message: printable, at most 40 bytes.
std::string excerpt(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) {
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
      out += '?';
    else
      out += c;
  }
  if (s.size() > 40) out += "...";
  return out;
}

class InitScenario final : public Scenario {
 public:
  std::string_view name() const override { return "init"; }
  std::string_view summary() const override {
    return "an init's receive-fd-and-exec round trip: spawn, hand over a client connection, "
           "one HTTP request, reaped";
  }

  std::vector<Variant> variants(const Context& ctx) override {
    const std::string sock = ctx.work_dir.empty() ? "CONTROL_SOCK" : ctx.work_dir + "/control.sock";
    const std::string script =
        ctx.work_dir.empty() ? "python_init.py" : ctx.work_dir + "/python_init.py";
    const bool have_handler = is_executable_file(ctx.handler);
    const bool have_init = is_executable_file(ctx.faas_init);
    const std::string no_handler =
        "handler `" + ctx.handler + "` not found (pass --handler PATH or set $FAAS_BENCH_HANDLER)";
    const std::string no_init = "faas-init not found at `" + ctx.faas_init +
                                "` (build it, or pass --faas-init PATH or set $FAAS_INIT)";
    const std::vector<std::string> chain{ctx.faas_init, "--connect", sock, "--", ctx.handler};
    const auto env = child_environment({});

    std::vector<Variant> out;
    auto add = [&](std::string vname, bool peer, std::string path, std::vector<std::string> argv,
                   std::string skipped, bool handoff) {
      Variant v;
      v.name = std::move(vname);
      v.peer = peer;
      v.path = std::move(path);
      v.skipped = std::move(skipped);
      v.handoff = handoff;
      v.command = (handoff ? "" : "FAAS_CLIENT_FD=3 ") + shell_join(argv);
      v.exec = ExecArgs(std::move(argv), handoff ? env : child_environment({"FAAS_CLIENT_FD=3"}));
      out.push_back(std::move(v));
    };
    // The chain a peer init wraps: faas-init in plain chain-loading mode.
    auto wrapped = [&](std::vector<std::string> prefix) {
      prefix.insert(prefix.end(), chain.begin(), chain.end());
      return prefix;
    };
    auto peer_reason = [&](const std::string& found, const std::string& what) -> std::string {
      if (found.empty()) return what;
      if (!have_init) return no_init;
      if (!have_handler) return no_handler;
      return {};
    };

    add("direct", false, ctx.handler, {ctx.handler}, have_handler ? "" : no_handler, false);
    add("faas-init", false, ctx.faas_init, chain,
        !have_init ? no_init : (!have_handler ? no_handler : ""), true);
    std::string tini = find_in_path(ctx.peer_path, "tini-static");
    if (tini.empty()) tini = find_in_path(ctx.peer_path, "tini");
    add("tini", true, tini, wrapped({tini, "-s", "--"}),
        peer_reason(tini, "tini not installed (Debian package tini)"), true);
    std::string dumb = find_in_path(ctx.peer_path, "dumb-init");
    add("dumb-init", true, dumb, wrapped({dumb, "--"}),
        peer_reason(dumb, "dumb-init not installed (Debian package dumb-init)"), true);
    std::string cata = find_in_path(ctx.peer_path, "catatonit");
    add("catatonit", true, cata, wrapped({cata, "--"}),
        peer_reason(cata, "catatonit not installed (Debian package catatonit)"), true);
    std::string python = is_executable_file(kPython) ? kPython : "";
    std::string py_reason = python.empty()
                                ? std::string(kPython) + " not installed (Debian package python3)"
                                : (!have_handler ? no_handler : "");
    add("python-init", true, python, {kPython, "-S", script, sock, ctx.handler}, py_reason, true);
    return out;
  }

  Result<void> prepare(const Context& ctx) override {
    if (!is_executable_file(ctx.handler))
      return Error(Exit::no_input, "handler `" + ctx.handler +
                                       "` not found or not executable (pass --handler PATH or "
                                       "set $FAAS_BENCH_HANDLER)");
    timeout_ms_ = ctx.timeout_ms;
    pidns_ = ctx.pidns;
    sock_path_ = ctx.work_dir + "/control.sock";
    devnull_ = Fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull_) return sys_error("open /dev/null");
    FAAS_TRY(write_python_init(ctx.work_dir + "/python_init.py"));
    return listen_control();
  }

  Result<void> recover() override { return listen_control(); }

  Result<std::uint64_t> once(const Variant& v) override {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
      return sys_error("socketpair");
    Fd client(pair[0]), server(pair[1]);
    timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
    if (::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
      return sys_error("setsockopt SO_RCVTIMEO");

    const std::uint64_t t0 = now_ns();
    SpawnFds fds{devnull_.get(), devnull_.get(), 2, v.handoff ? -1 : server.get()};
    FAAS_TRY_ASSIGN(Process proc, spawn(v.exec, fds, pidns_));
    if (v.handoff) FAAS_TRY(hand_over(proc, server.get()));
    server.reset();  // the handler holds the only other end now

    ssize_t w = ::send(client.get(), kRequest.data(), kRequest.size(), MSG_NOSIGNAL);
    if (w < 0 && errno != EPIPE && errno != ECONNRESET) return sys_error("write request");
    std::string head;  // the first bytes of the response, for the check
    std::array<char, 16384> buf;
    for (;;) {
      ssize_t n = ::read(client.get(), buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          return Error(Exit::software,
                       "no end of response within " + std::to_string(timeout_ms_) + " ms");
        if (errno == ECONNRESET) break;
        return sys_error("read response");
      }
      if (head.size() < 64) head.append(buf.data(), std::min<std::size_t>(n, 64 - head.size()));
    }
    auto status = proc.wait(timeout_ms_);
    const std::uint64_t t1 = now_ns();
    if (!status)
      return std::move(status).error().with_status(Exit::software).wrap("after EOF, the process");
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
      return Error(Exit::software, "the process " + describe_wait_status(*status) +
                                       " (response: `" + excerpt(head) + "`)");
    if (!head.starts_with("HTTP/1."))
      return Error(Exit::software,
                   "response does not start with `HTTP/1.`: got `" + excerpt(head) + "`");
    return t1 - t0;
  }

 private:
  // Accepts the variant's connection on the control socket (or sees it exit
  // first) and sends it the client end.
  Result<void> hand_over(const Process& proc, int client_end) {
    pollfd p[2] = {{listen_.get(), POLLIN, 0}, {proc.pidfd(), POLLIN, 0}};
    for (;;) {
      int n = ::poll(p, 2, timeout_ms_);
      if (n > 0) break;
      if (n == 0)
        return Error(Exit::software, "no connection on the control socket within " +
                                         std::to_string(timeout_ms_) + " ms");
      if (errno != EINTR) return sys_error("poll control socket");
    }
    if ((p[0].revents & POLLIN) == 0)
      return Error(Exit::software, "the process exited before connecting to the control socket");
    Fd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return sys_error("accept on the control socket");
    int rc = faas_wire_send(conn.get(), &client_end, 1, kPayload.data(), kPayload.size());
    if (rc < 0)
      return Error(Exit::software,
                   std::string("send the client connection: ") + faas_wire_strerror(rc));
    return {};
  }

  Result<void> listen_control() {
    listen_.reset();
    ::unlink(sock_path_.c_str());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (sock_path_.size() >= sizeof addr.sun_path)
      return Error(Exit::cant_create, "control socket path `" + sock_path_ +
                                          "` is too long (use a shorter --run-dir or $TMPDIR)");
    std::memcpy(addr.sun_path, sock_path_.c_str(), sock_path_.size() + 1);
    Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) return sys_error("socket");
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
      return sys_error("bind `" + sock_path_ + "`", Exit::cant_create);
    if (::listen(s.get(), 16) < 0) return sys_error("listen `" + sock_path_ + "`");
    listen_ = std::move(s);
    return {};
  }

  static Result<void> write_python_init(const std::string& path) {
    Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!f) return sys_error("create `" + path + "`", Exit::cant_create);
    std::string_view text(kPythonInit);
    while (!text.empty()) {
      ssize_t n = ::write(f.get(), text.data(), text.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return sys_error("write `" + path + "`", Exit::io);
      }
      text.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  std::string sock_path_;
  Fd listen_;
  Fd devnull_;
  int timeout_ms_ = 10000;
  bool pidns_ = false;
};

}  // namespace

std::unique_ptr<Scenario> make_init_scenario() { return std::make_unique<InitScenario>(); }

}  // namespace faas::bench
