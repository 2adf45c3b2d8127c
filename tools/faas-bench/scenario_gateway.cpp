// Scenario `gateway`: HTTP requests per second through a gateway, and their
// latency, under a closed-loop load: N connections (--param concurrency),
// each one request at a time on a fresh TCP connection (GET /, read to EOF:
// the handler answers one request per connection), for --param duration
// seconds after --param warmup seconds. Every server listens on 127.0.0.1 on
// a port the kernel picks and runs the same handler (examples/hello-c); the
// rounds are interleaved (--param rounds) so that a disturbance of the
// machine touches every server alike.
//
// Servers: `fork+exec` (the baseline), an accept loop built into the bench
// that spawns the handler per connection with it as fd 3 (clone(CLONE_VM |
// CLONE_VFORK) + execve, as posix_spawn): the least a process per request
// costs. `faas-invoke-serve`: the gateway over the run's own pool of warm
// sandboxes. `gateway.py`: the original design's gateway
// (examples/gateway.py, serial) in front of `faas-init --listen --loop` on
// the host. Each is stopped with SIGTERM (by PID) at the end.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "bench.hpp"
#include "faas/timing.hpp"
#include "gateway_py.hpp"  // kGatewayPy, generated from examples/gateway.py
#include "pool_fixture.hpp"

namespace faas::bench {

namespace {

constexpr std::string_view kRequest = "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
constexpr const char* kPool = "bench-gateway";
constexpr const char* kPython = "/usr/bin/python3";  // never the python3 on PATH

// ---- the load generator -----------------------------------------------------

struct Load {
  std::vector<double> latency_us;  // completed requests, in the window
  std::uint64_t errors = 0;
  double seconds = 0;
};

// One client connection of the closed loop.
struct Conn {
  Fd fd;
  std::uint64_t t0 = 0;
  bool sent = false;
  std::string head;
};

// Closed loop: `concurrency` connections, each connect, send, read to EOF,
// close, again, for `seconds`; what is in flight at the end finishes
// uncounted.
Result<Load> drive(int port, int concurrency, double seconds, int timeout_ms) {
  Fd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) return sys_error("epoll_create1");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<Conn> conns(static_cast<std::size_t>(concurrency));
  Load out;
  const std::uint64_t t_start = now_ns();
  const std::uint64_t t_end = t_start + static_cast<std::uint64_t>(seconds * 1e9);
  std::size_t open = 0;

  auto start = [&](std::size_t i) -> Result<void> {
    Conn& c = conns[i];
    c = Conn{};
    c.fd = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!c.fd) return sys_error("socket");
    c.t0 = now_ns();
    if (::connect(c.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS)
      return sys_error("connect");
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u64 = i;
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, c.fd.get(), &ev) != 0) return sys_error("epoll_ctl");
    ++open;
    return {};
  };
  // Closes connection i; starts the next request on it while in the window.
  auto done = [&](std::size_t i, bool ok) -> Result<void> {
    Conn& c = conns[i];
    const std::uint64_t now = now_ns();
    if (now <= t_end) {
      if (ok)
        out.latency_us.push_back(static_cast<double>(now - c.t0) / 1000.0);
      else
        ++out.errors;
    }
    c.fd.reset();  // also leaves the epoll set
    --open;
    if (now < t_end) return start(i);
    return {};
  };

  for (std::size_t i = 0; i < conns.size(); ++i) FAAS_TRY(start(i));
  std::array<epoll_event, 64> events{};
  char buf[4096];
  while (open > 0) {
    FAAS_TRY(interrupted());
    int n = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), 10);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("epoll_wait");
    for (int k = 0; k < n; ++k) {
      const std::size_t i = events[static_cast<std::size_t>(k)].data.u64;
      Conn& c = conns[i];
      if (!c.fd) continue;
      if (!c.sent) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          FAAS_TRY(done(i, false));
          continue;
        }
        if ((events[static_cast<std::size_t>(k)].events & EPOLLOUT) == 0) continue;
        if (::send(c.fd.get(), kRequest.data(), kRequest.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(kRequest.size())) {
          FAAS_TRY(done(i, false));
          continue;
        }
        c.sent = true;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        ::epoll_ctl(ep.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
        continue;
      }
      for (;;) {
        ssize_t r = ::read(c.fd.get(), buf, sizeof buf);
        if (r > 0) {
          if (c.head.size() < 16) c.head.append(buf, static_cast<std::size_t>(std::min<ssize_t>(r, 16)));
          continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        // EOF (or a reset): the response is complete when it is a 200.
        bool ok = r == 0 && c.head.starts_with("HTTP/1.") && c.head.size() >= 12 &&
                  c.head.compare(9, 3, "200") == 0;
        FAAS_TRY(done(i, ok));
        break;
      }
    }
    // A request past the timeout is an error; its connection starts over.
    const std::uint64_t now = now_ns();
    for (std::size_t i = 0; i < conns.size(); ++i)
      if (conns[i].fd && now - conns[i].t0 > static_cast<std::uint64_t>(timeout_ms) * 1000000ULL)
        FAAS_TRY(done(i, false));
  }
  out.seconds = static_cast<double>(std::min(now_ns(), t_end) - t_start) / 1e9;
  return out;
}

// ---- the fork+exec server ---------------------------------------------------

// The body of the forked server process: accept, spawn the handler with the
// connection as fd 3, reap; SIGTERM stops accepting and waits for handlers.
[[noreturn]] void fork_exec_server(int lfd, const ExecArgs& handler, int devnull, int sfd) {
  std::vector<Process> running;
  bool accepting = true;
  std::vector<pollfd> p;
  while (accepting || !running.empty()) {
    p.clear();
    p.push_back({sfd, POLLIN, 0});
    p.push_back({accepting ? lfd : -1, POLLIN, 0});
    for (const auto& r : running) p.push_back({r.pidfd(), POLLIN, 0});
    if (::poll(p.data(), p.size(), -1) < 0) {
      if (errno == EINTR) continue;
      ::_exit(71);
    }
    if (p[0].revents & POLLIN) {
      signalfd_siginfo si{};
      if (::read(sfd, &si, sizeof si) < 0) {
      }  // one SIGTERM is enough
      accepting = false;
    }
    for (std::size_t k = p.size(); k-- > 2;)
      if (p[k].revents != 0) {
        (void)running[k - 2].wait(0);
        running.erase(running.begin() + static_cast<std::ptrdiff_t>(k - 2));
      }
    if (accepting && (p[1].revents & POLLIN)) {
      for (;;) {
        int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) break;
        auto proc = spawn(handler, SpawnFds{devnull, devnull, 2, c}, false);
        ::close(c);
        if (proc) running.push_back(std::move(*proc));
      }
    }
  }
  ::_exit(0);
}

// ---- the scenario -----------------------------------------------------------

struct Server {
  Process proc;    // the server, stopped with SIGTERM
  Process helper;  // gateway.py's faas-init, stopped after it
  std::vector<Process> workers;  // more accept loops of the fork+exec server
  int port = 0;
  Load total;
  std::string error;
};

Result<double> seconds_param(const Context& ctx, const std::string& key, double fallback,
                             bool zero_ok = false) {
  std::string v = ctx.param(key, "");
  if (v.empty()) return fallback;
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || !(d > 0 || (zero_ok && d == 0)) || d > 3600)
    return Error(Exit::usage, "--param " + key + "=" + v + ": expected seconds (0 < S <= 3600)");
  return d;
}

void stop(Process& p, int timeout_ms) {
  if (!p.running()) return;
  ::syscall(SYS_pidfd_send_signal, p.pidfd(), SIGTERM, nullptr, 0);
  if (!p.wait(timeout_ms)) p.kill_and_reap();
}

// Polls for a file's first line (a port, a record), by deadline.
Result<std::string> first_line(const std::string& path, const Process& proc, int timeout_ms) {
  const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(timeout_ms) * 1000000ULL;
  for (;;) {
    std::ifstream in(path);
    std::string line;
    if (in && std::getline(in, line) && !in.eof()) return line;
    if (in && !line.empty() && path.ends_with(".port")) return line;  // written without a newline
    pollfd p{proc.pidfd(), POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) return Error(Exit::software, "the server exited before it listened");
    if (now_ns() >= deadline) return Error(Exit::software, "the server did not listen in time");
    sleep_ms(2);
  }
}

class GatewayScenario final : public Scenario {
 public:
  std::string_view name() const override { return "gateway"; }
  std::string_view summary() const override {
    return "requests/s and latency through faas-invoke serve over a warm pool, beside "
           "gateway.py and an accept+fork+exec server: closed loop, one connection per request";
  }
  std::vector<Param> params() const override {
    return {{"concurrency", "8", "connections of the closed loop"},
            {"duration", "6", "seconds measured per server (split over the rounds)"},
            {"warmup", "1", "seconds of load before, not measured"},
            {"rounds", "3", "interleaved rounds"},
            {"pool_size", "concurrency", "warm sandboxes in the run's pool"},
            {"max_inflight", "concurrency", "faas-invoke serve --max-inflight"},
            {"tmpfs", "0", "1: the run's state and run dirs on a tmpfs; 2: the run dir alone"}};
  }
  bool self_measured() const override { return true; }

  std::vector<Variant> variants(const Context& ctx) override {
    fixture_.plan(ctx, kPool);
    const bool have_handler = is_executable_file(ctx.handler);
    const std::string no_handler =
        "handler `" + ctx.handler + "` not found (pass --handler PATH or set $FAAS_BENCH_HANDLER)";
    const std::string handler = std::filesystem::path(ctx.handler).filename().string();
    std::vector<Variant> out;
    auto add = [&](std::string vname, bool peer, std::string path, std::string command, std::string skipped) {
      Variant v;
      v.name = std::move(vname);
      v.peer = peer;
      v.path = std::move(path);
      v.command = std::move(command);
      v.skipped = std::move(skipped);
      out.push_back(std::move(v));
    };
    add("fork+exec", false, ctx.handler,
        "accept4, then clone(CLONE_VM|CLONE_VFORK) + execve " + handler +
            " per connection, one accept loop per CPU (built in)",
        have_handler ? "" : no_handler);
    add("faas-invoke-serve", false, fixture_.tool("faas-invoke"),
        "faas-invoke serve --listen 127.0.0.1:0 --pool " + std::string(kPool) + " --max-inflight N",
        PoolFixture::unavailable(ctx));
    std::string py_reason;
    if (!is_executable_file(kPython)) py_reason = std::string(kPython) + " not installed (Debian package python3)";
    else if (!is_executable_file(ctx.faas_init)) py_reason = "faas-init not found at `" + ctx.faas_init + "`";
    else if (!have_handler) py_reason = no_handler;
    add("gateway.py", true, kPython,
        "python3 -S gateway.py SOCK PORT_FILE, faas-init --listen SOCK --loop -- " + handler, py_reason);
    return out;
  }

  Result<void> prepare(const Context& ctx) override {
    ctx_ = &ctx;
    FAAS_TRY_ASSIGN(long long conc, ctx.int_param("concurrency", 8));
    if (conc < 1 || conc > 1024) return Error(Exit::usage, "--param concurrency: 1 to 1024");
    concurrency_ = static_cast<int>(conc);
    FAAS_TRY_ASSIGN(duration_, seconds_param(ctx, "duration", 6));
    FAAS_TRY_ASSIGN(warmup_, seconds_param(ctx, "warmup", 1, true));
    FAAS_TRY_ASSIGN(long long rounds, ctx.int_param("rounds", 3));
    if (rounds < 1) return Error(Exit::usage, "--param rounds: at least 1");
    rounds_ = static_cast<int>(rounds);
    FAAS_TRY_ASSIGN(pool_size_, ctx.int_param("pool_size", conc));
    FAAS_TRY_ASSIGN(max_inflight_, ctx.int_param("max_inflight", conc));
    if (pool_size_ < 1 || max_inflight_ < 1)
      return Error(Exit::usage, "--param pool_size and max_inflight: at least 1");
    devnull_ = Fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull_) return sys_error("open /dev/null");
    if (PoolFixture::unavailable(ctx).empty()) FAAS_TRY(fixture_.setup(ctx, pool_size_));
    return {};
  }

  Result<std::uint64_t> once(const Variant&) override {
    return Error(Exit::software, "scenario gateway is self-measured");
  }

  void teardown() override {
    for (auto& [name, s] : servers_) stop_server(s);
    servers_.clear();
    fixture_.teardown();
  }

  Result<Report> measure(const Context& ctx, const std::vector<Variant*>& wanted) override {
    // Every server up first, then interleaved rounds of load.
    for (Variant* v : wanted) {
      if (!v->skipped.empty()) continue;
      Server& s = servers_[v->name];
      auto started = start_server(ctx, *v, s);
      if (!started) return std::move(started).error().wrap("server " + v->name);
      if (warmup_ > 0) {
        auto w = drive(s.port, concurrency_, warmup_, ctx.timeout_ms);
        if (!w) return std::move(w).error().wrap("server " + v->name + ": warmup");
      }
    }
    for (int r = 0; r < rounds_; ++r)
      for (Variant* v : wanted) {
        if (!v->skipped.empty()) continue;
        Server& s = servers_[v->name];
        FAAS_TRY_ASSIGN(Load l, drive(s.port, concurrency_, duration_ / rounds_, ctx.timeout_ms));
        s.total.latency_us.insert(s.total.latency_us.end(), l.latency_us.begin(), l.latency_us.end());
        s.total.errors += l.errors;
        s.total.seconds += l.seconds;
      }
    std::uint64_t server_errors = 0;
    for (Variant* v : wanted) {
      if (!v->skipped.empty()) continue;
      stop_server(servers_[v->name]);
      if (v->name == "faas-invoke-serve") server_errors = count_server_errors();
    }
    return report(wanted, server_errors);
  }

 private:
  Result<void> start_server(const Context& ctx, const Variant& v, Server& s) {
    if (v.name == "fork+exec") return start_fork_exec(ctx, s);
    if (v.name == "faas-invoke-serve") return start_serve(ctx, s);
    return start_python(ctx, s);
  }

  Result<void> start_fork_exec(const Context& ctx, Server& s) {
    // Non-blocking: the loops share it, and one that lost the race for a
    // connection must not sit in accept4 (deaf to SIGTERM, its handlers unreaped).
    Fd lfd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!lfd) return sys_error("socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(lfd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return sys_error("bind 127.0.0.1:0");
    if (::listen(lfd.get(), 512) != 0) return sys_error("listen");
    socklen_t len = sizeof a;
    if (::getsockname(lfd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) return sys_error("getsockname");
    s.port = ntohs(a.sin_port);
    handler_ = ExecArgs({ctx.handler}, child_environment({"FAAS_CLIENT_FD=3"}));
    // One accept loop per CPU on the shared socket (a spawn blocks its loop
    // until the handler has exec'd): the handlers start on every CPU, as
    // the sandboxes' inits fork theirs.
    long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &term, &old);  // each child reads it from a signalfd
    for (long k = 0; k < std::max(1L, cpus); ++k) {
      pid_t pid = ::fork();
      if (pid == 0) {
        int sfd = ::signalfd(-1, &term, SFD_CLOEXEC);
        if (sfd < 0) ::_exit(71);
        fork_exec_server(lfd.get(), handler_, devnull_.get(), sfd);
      }
      if (pid < 0) {
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        return sys_error("fork the fork+exec server");
      }
      int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      if (pidfd < 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        return sys_error("pidfd_open");
      }
      (k == 0 ? s.proc : s.workers.emplace_back()) = Process(pid, Fd(pidfd));
    }
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    return {};
  }

  Result<void> start_serve(const Context& ctx, Server& s) {
    serve_log_ = ctx.work_dir + "/serve.jsonl";
    Fd out(::open(serve_log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out) return sys_error("create `" + serve_log_ + "`", Exit::cant_create);
    ExecArgs args({fixture_.tool("faas-invoke"), "serve", "--listen", "127.0.0.1:0", "--pool", kPool,
                   "--max-inflight", std::to_string(max_inflight_)},
                  fixture_.env());
    FAAS_TRY_ASSIGN(s.proc, spawn(args, SpawnFds{devnull_.get(), out.get(), fixture_.log_fd(), -1}, false));
    FAAS_TRY_ASSIGN(std::string line, first_line(serve_log_, s.proc, ctx.timeout_ms));
    Json j = Json::parse(line, nullptr, false);
    std::string listen = j.is_object() ? j.value(Json::json_pointer("/serve/listen"), std::string()) : "";
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) return Error(Exit::software, "no serve.listen in `" + line + "`");
    s.port = std::atoi(listen.c_str() + colon + 1);
    return {};
  }

  Result<void> start_python(const Context& ctx, Server& s) {
    const std::string script = ctx.work_dir + "/gateway.py", sock = ctx.work_dir + "/gateway.sock",
                      port_file = ctx.work_dir + "/gateway.port";
    {
      std::ofstream f(script);
      f << kGatewayPy;
      if (!f) return Error(Exit::cant_create, "write `" + script + "`");
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
    Fd ready_r(p[0]), ready_w(p[1]);
    ExecArgs init({ctx.faas_init, "--listen", sock, "--loop", "--notify-fd", "3", "--", ctx.handler},
                  child_environment({}));
    FAAS_TRY_ASSIGN(s.helper, spawn(init, SpawnFds{devnull_.get(), devnull_.get(), 2, ready_w.get()}, false));
    ready_w.reset();
    std::string ready;
    FAAS_TRY_CTX(read_output(ready_r.get(), ready,
                             now_ns() + static_cast<std::uint64_t>(ctx.timeout_ms) * 1000000ULL, true),
                 "faas-init --loop");
    ExecArgs py({kPython, "-S", script, sock, port_file}, child_environment({}));
    FAAS_TRY_ASSIGN(s.proc, spawn(py, SpawnFds{devnull_.get(), devnull_.get(), devnull_.get(), -1}, false));
    FAAS_TRY_ASSIGN(std::string port, first_line(port_file, s.proc, ctx.timeout_ms));
    s.port = std::atoi(port.c_str());
    if (s.port <= 0) return Error(Exit::software, "gateway.py wrote no port");
    return {};
  }

  void stop_server(Server& s) {
    const int t = ctx_ != nullptr ? ctx_->timeout_ms : 10000;
    stop(s.proc, t);
    for (auto& w : s.workers) stop(w, t);
    stop(s.helper, t);
  }

  // Records of faas-invoke serve that carry an error.
  std::uint64_t count_server_errors() const {
    std::ifstream in(serve_log_);
    std::string line;
    std::uint64_t n = 0;
    while (std::getline(in, line)) n += line.find("\"error\":") != std::string::npos;
    return n;
  }

  Report report(const std::vector<Variant*>& wanted, std::uint64_t server_errors) {
    Report rep;
    rep.columns = {"scenario", "variant", "peer", "conns", "requests", "errors", "req_per_s",
                   "p50_us", "p90_us", "p99_us", "max_us", "vs_fork+exec", "note"};
    double base_rps = 0;
    for (Variant* v : wanted) {
      Json b{{"scenario", name()}, {"variant", v->name}, {"peer", v->peer}};
      std::vector<std::string> row{std::string(name()), v->name, v->peer ? "yes" : "no"};
      if (!v->skipped.empty()) {
        b["skipped"] = v->skipped;
        row.resize(12);
        row.push_back("skipped: " + v->skipped);
      } else {
        const Server& s = servers_.at(v->name);
        const double rps = s.total.seconds > 0 ? static_cast<double>(s.total.latency_us.size()) / s.total.seconds : 0;
        if (v == wanted.front()) base_rps = rps;
        b["concurrency"] = concurrency_;
        b["duration_s"] = std::round(s.total.seconds * 100) / 100;
        b["requests"] = s.total.latency_us.size();
        b["errors"] = s.total.errors;
        if (v->name == "faas-invoke-serve") b["server_errors"] = server_errors;
        b["rps"] = std::round(rps * 10) / 10;
        row.insert(row.end(), {std::to_string(concurrency_), std::to_string(s.total.latency_us.size()),
                               std::to_string(s.total.errors), fmt::format("{:.1f}", rps)});
        if (!s.total.latency_us.empty()) {
          Stats st = compute_stats(s.total.latency_us);
          b["iterations"] = s.total.latency_us.size();
          b["unit"] = "us";
          auto r1 = [](double x) { return std::round(x * 10) / 10; };
          b["p50"] = r1(st.p50);
          b["p90"] = r1(st.p90);
          b["p99"] = r1(st.p99);
          b["min"] = r1(st.min);
          b["max"] = r1(st.max);
          b["mean"] = r1(st.mean);
          b["stddev"] = r1(st.stddev);
          for (double x : {st.p50, st.p90, st.p99, st.max}) row.push_back(fmt::format("{:.1f}", x));
        } else {
          row.resize(11, "-");
        }
        if (base_rps > 0) {
          b["vs"] = Json{{"baseline", wanted.front()->name}, {"ratio_rps", std::round(rps / base_rps * 1000) / 1000}};
          row.push_back(v == wanted.front() ? "baseline" : fmt::format("{:.2f}x", rps / base_rps));
        } else {
          row.push_back("-");
        }
        b["command"] = v->command;
        row.push_back("");
      }
      rep.records.push_back(Json{{"v", kRecordVersion}, {"bench", std::move(b)}});
      rep.rows.push_back(std::move(row));
    }
    return rep;
  }

  PoolFixture fixture_;
  std::map<std::string, Server> servers_;
  const Context* ctx_ = nullptr;
  ExecArgs handler_;
  Fd devnull_;
  std::string serve_log_;
  int concurrency_ = 8, rounds_ = 3;
  double duration_ = 6, warmup_ = 1;
  long long pool_size_ = 8, max_inflight_ = 8;
};

}  // namespace

std::unique_ptr<Scenario> make_gateway_scenario() { return std::make_unique<GatewayScenario>(); }

}  // namespace faas::bench
