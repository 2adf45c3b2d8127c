// faas-invoke serve: the gateway. An epoll loop accepts TCP connections and
// hands each one (SCM_RIGHTS) straight to an idle sandbox the gateway leased
// from the pool; the handler talks to the client directly. The loop reads the
// handler's {"pid"} and {"status"} from the control connection without
// blocking, checks the sandbox clean, and prints one record per request on
// stdout. Sandboxes are acquired once (as connections need them, up to
// --max-inflight) and released to the pool when the gateway drains: a
// request costs no state transaction.
#include "serve.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "faas/fd.hpp"
#include "faas/holder.hpp"
#include "faas/log.hpp"
#include "faas/records.hpp"
#include "faas/sandbox_cgroup.hpp"
#include "faas/sandbox_control.hpp"
#include "faas/sandbox_pool.hpp"
#include "faas/state.hpp"
#include "faas/timing.hpp"
#include "faas/units.hpp"

namespace faas::invoke {

namespace {

namespace fs = std::filesystem;

// "A.B.C.D:PORT" (IPv4); PORT 0 lets the kernel choose.
Result<sockaddr_in> parse_listen(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
    return Error(Exit::usage, "--listen `" + s + "`: expected ADDRESS:PORT (127.0.0.1:8080)");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (::inet_pton(AF_INET, s.substr(0, colon).c_str(), &a.sin_addr) != 1)
    return Error(Exit::usage, "--listen `" + s + "`: not an IPv4 address");
  unsigned long port = 0;
  for (std::size_t i = colon + 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9' || port > 65535)
      return Error(Exit::usage, "--listen `" + s + "`: not a port (0 to 65535)");
    port = port * 10 + static_cast<unsigned long>(s[i] - '0');
  }
  if (port > 65535) return Error(Exit::usage, "--listen `" + s + "`: not a port (0 to 65535)");
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  return a;
}

std::string format_addr(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(a.sin_port));
}

// A sandbox leased from the pool for the gateway's lifetime: acquired once
// (one state transaction), then handed one connection at a time straight
// through its control socket, checked clean after each (its init alone in
// its cgroup), and released to the pool when the gateway drains.
struct Lease {
  SandboxRow row;
  std::string control;  // the control socket, host path
  Fd procs;             // its cgroup's cgroup.procs, read after each request
  bool busy = false;
  std::uint64_t requests = 0;
};

// One request in flight: its leased sandbox and the control connection to it.
struct Request {
  std::string id;
  Lease* lease = nullptr;
  ControlSession session;
  std::string peer;
  std::uint64_t deadline_ns = 0;
  long handler_pid = -1;
  Stopwatch total;
  std::uint64_t acquire_us = 0, send_us = 0, forked_us = 0;
};

// An accepted connection waiting for a sandbox of the lease to be idle.
struct Waiting {
  Fd client;
  std::string peer;
  Stopwatch since;
};

// Number of lines in a cgroup.procs file read from the start (-1: unreadable).
long count_procs(int fd) {
  char buf[512];
  long lines = 0;
  off_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) return lines;
    for (ssize_t i = 0; i < n; ++i) lines += buf[i] == '\n';
    off += n;
  }
}

class Gateway {
 public:
  Gateway(const CommonOptions& c, const Options& o) : c_(c), o_(o) {}

  Result<Exit> run() {
    FAAS_TRY_ASSIGN(sockaddr_in addr, parse_listen(o_.listen));
    if (o_.pool.empty()) return Error(Exit::usage, "serve: give --pool NAME");
    if (o_.max_inflight < 1) return Error(Exit::usage, "serve: --max-inflight must be at least 1");
    FAAS_TRY_ASSIGN(deadline_, parse_duration(o_.deadline));
    FAAS_TRY(open_state());
    FAAS_TRY(pools_->pool_info(o_.pool));  // 69 when there is no such pool
    FAAS_TRY(listen_on(addr));
    FAAS_TRY(setup_loop());
    FAAS_TRY(announce());
    auto r = loop();
    release_leases();  // also after a failure: the sandboxes go back to the pool
    return r;
  }

 private:
  Result<void> open_state() { return open_pools(c_, stores_, pools_, self_); }

  Result<void> listen_on(const sockaddr_in& addr) {
    listen_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!listen_) return sys_error("socket");
    int one = 1;
    ::setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listen_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
      return sys_error("bind " + format_addr(addr), errno == EADDRINUSE ? Exit::temp : Exit::os);
    if (::listen(listen_.get(), 512) != 0) return sys_error("listen");
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    if (::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0)
      return sys_error("getsockname");
    bound_ = format_addr(bound);
    return {};
  }

  Result<void> setup_loop() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return sys_error("sigprocmask");
    ::signal(SIGPIPE, SIG_IGN);
    signals_ = Fd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!signals_) return sys_error("signalfd");
    epoll_ = Fd(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) return sys_error("epoll_create1");
    FAAS_TRY(watch(signals_.get()));
    FAAS_TRY(watch(listen_.get()));
    accepting_ = true;
    return {};
  }

  Result<void> watch(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return sys_error("epoll_ctl");
    return {};
  }

  void unwatch(int fd) { ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

  // The first record says where the gateway listens (the port, with :0).
  Result<void> announce() {
    Json rec = Json::object();
    rec["v"] = kRecordVersion;
    rec["serve"] = Json{{"listen", bound_}, {"pool", o_.pool}, {"max_inflight", o_.max_inflight},
                        {"pid", ::getpid()}};
    return out_.write(std::move(rec));
  }

  std::size_t in_hand() const { return inflight_.size() + waiting_.size(); }
  bool full() const { return in_hand() >= static_cast<std::size_t>(o_.max_inflight); }

  Result<Exit> loop() {
    std::array<epoll_event, 64> events{};
    while (accepting_ || in_hand() > 0) {
      int timeout = next_timeout_ms();
      int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return sys_error("epoll_wait");
      for (int i = 0; i < n; ++i) {
        int fd = events[static_cast<std::size_t>(i)].data.fd;
        if (fd == signals_.get()) {
          drain();
        } else if (fd == listen_.get()) {
          FAAS_TRY(accept_some());
        } else {
          FAAS_TRY(on_control(fd));
        }
      }
      FAAS_TRY(expire());
    }
    log_info("serve: drained, " + std::to_string(served_) + " requests served");
    return Exit::ok;
  }

  // SIGTERM, SIGINT: stop accepting, finish what is in hand.
  void drain() {
    signalfd_siginfo si{};
    while (::read(signals_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    }
    if (!accepting_) return;
    accepting_ = false;
    if (!paused_) unwatch(listen_.get());
    listen_.reset();
  }

  void pause_accept(bool pause) {
    if (!accepting_ || pause == paused_) return;
    paused_ = pause;
    if (pause) {
      unwatch(listen_.get());
    } else {
      (void)watch(listen_.get());
    }
  }

  Result<void> accept_some() {
    while (accepting_ && !full()) {
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      Fd client(::accept4(listen_.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
      if (!client) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) break;
        if (errno == EMFILE || errno == ENFILE) {
          log_error(std::string("serve: accept: ") + std::strerror(errno));
          break;
        }
        return sys_error("accept");
      }
      dispatch(std::move(client), format_addr(peer), Stopwatch{});
    }
    pause_accept(full());
    return {};
  }

  // An idle sandbox of the lease, or a new one acquired from the pool (the
  // only state transaction of a request, and only while the lease grows).
  // nullptr when every leased sandbox is busy and the pool has none left.
  Result<Lease*> idle_lease(std::uint64_t& acquire_us) {
    for (auto& l : leases_)
      if (!l->busy) return l.get();
    if (leases_.size() >= static_cast<std::size_t>(o_.max_inflight)) return nullptr;
    Stopwatch step;
    auto row = pools_->acquire(o_.pool, std::chrono::milliseconds(0), false, self_);
    if (!row) {
      if (row.error().status() == Exit::temp && !leases_.empty()) return nullptr;  // wait for one
      return std::move(row).error();
    }
    auto l = std::make_unique<Lease>();
    l->row = std::move(*row);
    l->control = sandbox_control(pools_->run_dir(), l->row.id).string();
    auto cg = SandboxCgroup::find(l->row.id);
    std::string pick;
    for (const auto& d : cg.dirs())
      if (pick.empty() || d.find("/pids/") != std::string::npos) pick = d;
    if (!pick.empty()) l->procs = Fd(::open((pick + "/cgroup.procs").c_str(), O_RDONLY | O_CLOEXEC));
    acquire_us = step.elapsed_us();
    leases_.push_back(std::move(l));
    return leases_.back().get();
  }

  // Hands the connection to an idle leased sandbox, or keeps it waiting for
  // one; a failure is a record with an `error` (the client sees its
  // connection closed).
  void dispatch(Fd client, const std::string& peer, const Stopwatch& since) {
    for (int attempt = 0;; ++attempt) {
      Request req{new_id(), nullptr, {}, peer, 0, -1, since, 0, 0, 0};
      req.deadline_ns = now_ns() + static_cast<std::uint64_t>(deadline_.count()) * 1000000ULL;
      auto lease = idle_lease(req.acquire_us);
      if (!lease) {
        fail(req, std::move(lease).error());
        return;
      }
      if (*lease == nullptr) {
        waiting_.push_back(Waiting{std::move(client), peer, since});
        return;
      }
      req.lease = *lease;
      Stopwatch step;
      std::array<int, 1> fds{client.get()};
      auto session = ControlSession::start(req.lease->control, fds, req.id,
                                           static_cast<std::uint64_t>(deadline_.count()));
      if (!session) {
        // A leased sandbox whose init died meanwhile: destroyed, and the
        // connection goes to another one (once).
        bool gone = session.error().status() == Exit::temp;
        fail(req, std::move(session).error());
        if (gone && attempt == 0) continue;
        return;
      }
      client.reset();  // the handler holds it now
      req.session = std::move(*session);
      req.send_us = step.elapsed_us();
      req.lease->busy = true;
      int fd = req.session.fd();
      if (auto w = watch(fd); !w) {
        fail(req, std::move(w).error());
        return;
      }
      inflight_.emplace(fd, std::move(req));
      return;
    }
  }

  Result<void> on_control(int fd) {
    auto it = inflight_.find(fd);
    if (it == inflight_.end()) return {};
    Request& req = it->second;
    for (;;) {
      auto line = req.session.try_read_line();
      if (!line) return finish(it, std::move(line).error());
      if (!line->has_value()) return {};
      Json j = Json::parse(**line, nullptr, false);
      if (req.handler_pid < 0) {
        if (!j.is_object() || !j.contains("pid") || !j["pid"].is_number_integer())
          return finish(it, Error(Exit::data, "faas-init: unexpected reply `" + **line + "`"));
        req.handler_pid = j["pid"].get<long>();
        req.forked_us = req.total.elapsed_us();
        continue;
      }
      if (!j.is_object() || !j.contains("status") || !j["status"].is_number_integer())
        return finish(it, Error(Exit::data, "faas-init: unexpected reply `" + **line + "`"));
      return finish(it, j["status"].get<int>());
    }
  }

  // Handlers past their deadline: their sandboxes are destroyed.
  Result<void> expire() {
    const std::uint64_t now = now_ns();
    for (auto it = inflight_.begin(); it != inflight_.end();) {
      auto next = std::next(it);
      if (it->second.deadline_ns <= now) FAAS_TRY(finish(it, Error(Exit::temp, "deadline passed")));
      it = next;
    }
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->since.elapsed_ns() >= static_cast<std::uint64_t>(deadline_.count()) * 1000000ULL) {
        Request req{new_id(), nullptr, {}, it->peer, 0, -1, it->since, 0, 0, 0};
        fail(req, Error(Exit::temp, "deadline passed waiting for an idle sandbox"));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
    return {};
  }

  int next_timeout_ms() const {
    if (in_hand() == 0) return -1;
    std::uint64_t soonest = UINT64_MAX;
    for (const auto& [fd, r] : inflight_) soonest = std::min(soonest, r.deadline_ns);
    std::uint64_t now = now_ns();
    const std::uint64_t dl = static_cast<std::uint64_t>(deadline_.count()) * 1000000ULL;
    for (const auto& w : waiting_) soonest = std::min(soonest, now + dl - std::min(dl, w.since.elapsed_ns()));
    if (soonest <= now) return 0;
    return static_cast<int>((soonest - now + 999999) / 1000000);
  }

  // The sandbox is fit for the next request when its init is alone in its
  // cgroup (the handler left nothing running), as a release would check.
  static bool clean(const Lease& l) { return l.procs && count_procs(l.procs.get()) == 1; }

  // The handler exited (status) or the request failed (error): the sandbox
  // is idle again when clean, else destroyed; the record is printed and a
  // waiting connection, if any, takes the free place.
  Result<void> finish(std::map<int, Request>::iterator it, Result<int> exited) {
    Request req = std::move(it->second);
    unwatch(it->first);
    inflight_.erase(it);
    if (!exited) {
      fail(req, std::move(exited).error());
    } else {
      Lease& l = *req.lease;
      ++l.requests;
      Json rec = Json::object();
      rec["v"] = kRecordVersion;
      Json s = sandbox_json(l.row);
      s["uses"] = l.row.uses - 1 + static_cast<std::int64_t>(l.requests);
      if (clean(l)) {
        l.busy = false;
        s["state"] = "claimed";  // held by the gateway, idle
      } else {
        s["state"] = drop_lease(req.lease) ? "destroyed" : "unknown";
      }
      rec["sandbox"] = std::move(s);
      rec["invoke"] = Json{{"request_id", req.id},   {"peer", req.peer},
                           {"handler_exit", *exited}, {"handler_pid", req.handler_pid},
                           {"start", l.row.start}};
      add_timing(rec, c_.tool, "acquire", req.acquire_us);
      add_timing(rec, c_.tool, "send", req.send_us);
      add_timing(rec, c_.tool, "forked", req.forked_us);
      add_timing(rec, c_.tool, "total", req.total.elapsed_us());
      ++served_;
      FAAS_TRY(out_.write(std::move(rec)));
    }
    while (!waiting_.empty() && std::any_of(leases_.begin(), leases_.end(), [](const auto& x) { return !x->busy; })) {
      Waiting w = std::move(waiting_.front());
      waiting_.pop_front();
      dispatch(std::move(w.client), w.peer, w.since);
    }
    // Nothing idle but room in the lease (a sandbox was destroyed): grow it.
    if (!waiting_.empty() && inflight_.empty()) {
      Waiting w = std::move(waiting_.front());
      waiting_.pop_front();
      dispatch(std::move(w.client), w.peer, w.since);
    }
    pause_accept(full());
    return {};
  }

  // Destroys a leased sandbox and forgets it. false when the destroy failed.
  bool drop_lease(Lease* l) {
    bool ok = true;
    if (auto d = pools_->destroy(l->row.id); !d) {
      log_error("serve: sandbox " + l->row.id + ": destroy: " + d.error().what());
      ok = false;
    }
    leases_.erase(std::remove_if(leases_.begin(), leases_.end(), [&](const auto& x) { return x.get() == l; }),
                  leases_.end());
    return ok;
  }

  // At the end: every leased sandbox back to the pool (recycled when clean,
  // as faas-pool release does), the busy ones of a failed loop destroyed.
  void release_leases() {
    for (auto& l : leases_) {
      auto r = l->busy ? Result<SandboxRow>(Error(Exit::temp, "busy")) : pools_->release(l->row.id, false);
      if (!r) {
        if (auto d = pools_->destroy(l->row.id); !d)
          log_error("serve: sandbox " + l->row.id + ": release: " + d.error().what());
      }
    }
    leases_.clear();
  }

  // A request that failed: logged, printed with an `error`, and its sandbox
  // (when it had one) destroyed rather than recycled.
  void fail(const Request& req, Error e) {
    Json rec = Json::object();
    rec["v"] = kRecordVersion;
    if (req.lease != nullptr) {
      e.wrap("sandbox " + req.lease->row.id);
      rec["sandbox"] = sandbox_json(req.lease->row);
      rec["sandbox"]["state"] = drop_lease(req.lease) ? "destroyed" : "unknown";
    }
    rec["invoke"] = Json{{"request_id", req.id}, {"peer", req.peer}};
    e.wrap("serve: request " + req.id);
    log_error(e.what());
    add_error(rec, c_.tool, e);
    (void)out_.write(std::move(rec));
  }

  const CommonOptions& c_;
  const Options& o_;
  std::chrono::milliseconds deadline_{0};
  std::optional<Stores> stores_;
  std::optional<SandboxPools> pools_;
  Holder self_;
  Fd listen_, signals_, epoll_;
  std::string bound_;
  bool accepting_ = false, paused_ = false;
  std::vector<std::unique_ptr<Lease>> leases_;
  std::map<int, Request> inflight_;  // by control connection fd
  std::deque<Waiting> waiting_;
  std::uint64_t served_ = 0;
  RecordWriter out_;
};

}  // namespace

Result<Exit> serve(const CommonOptions& common, const Options& o) { return Gateway(common, o).run(); }

}  // namespace faas::invoke
