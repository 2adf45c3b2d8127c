// Scenario `warm`: the three-process warm pipeline
//
//   faas-pool acquire POOL | faas-fork --overlay | faas-invoke --http GET / --release
//
// spawned by the bench (no shell), timed from the first spawn to the full
// HTTP response in hand (faas-invoke's record, which carries it); then each
// process reaped. The pool is the run's own: a busybox rootfs with the
// handler, its state and run dirs under the work dir, warmed in prepare()
// and removed at the end.
//
// Beside it, for where the time goes: the pipeline without the fork
// (acquire | invoke --release), and each process alone on a sandbox the
// bench prepared untimed (acquire; fork --overlay on an acquired record;
// invoke --http GET / on an acquired and forked one; release after an
// invocation). The baseline `fork+exec` spawns the handler itself with the
// client connection inherited: the least a process per request costs.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <map>

#include "bench.hpp"
#include "faas/records.hpp"
#include "faas/timing.hpp"
#include "pool_fixture.hpp"

namespace faas::bench {

namespace {

constexpr std::string_view kRequest = "GET / HTTP/1.0\r\n\r\n";
constexpr const char* kPool = "bench-warm";

// What one variant spawns, and what the bench prepares untimed before it.
enum class Kind { exec, chain, acquire, fork, invoke, release };
struct Plan {
  Kind kind = Kind::exec;
  std::vector<ExecArgs> stages;  // a chain: each one's stdout is the next one's stdin
};

class WarmScenario final : public Scenario {
 public:
  std::string_view name() const override { return "warm"; }
  std::string_view summary() const override {
    return "the warm pipeline faas-pool acquire | faas-fork --overlay | faas-invoke --http GET / "
           "--release, spawn to the full HTTP response, with its parts and fork+exec";
  }
  std::vector<Param> params() const override {
    return {{"pool_size", "2", "warm sandboxes in the run's pool"},
            {"tmpfs", "0", "1: the run's state and run dirs on a tmpfs (forks in memory); 2: the run "
             "dir alone, as /run on most hosts"}};
  }

  std::vector<Variant> variants(const Context& ctx) override {
    fixture_.plan(ctx, kPool);
    const std::string no_pool = PoolFixture::unavailable(ctx);
    const bool have_handler = is_executable_file(ctx.handler);
    const auto& env = fixture_.env();
    const std::string pool = fixture_.tool("faas-pool"), fork = fixture_.tool("faas-fork"),
                      invoke = fixture_.tool("faas-invoke");
    const std::vector<std::string> acquire{pool, "acquire", kPool}, overlay{fork, "--overlay"},
        inv{invoke, "--http", "GET", "/"}, inv_release{invoke, "--http", "GET", "/", "--release"},
        release{pool, "release"};

    std::vector<Variant> out;
    plans_.clear();
    auto add = [&](std::string vname, Kind kind, std::vector<std::vector<std::string>> stages,
                   std::string skipped) {
      Variant v;
      v.name = vname;
      v.path = stages.front().front();
      v.skipped = std::move(skipped);
      Plan plan;
      plan.kind = kind;
      for (auto& argv : stages) {
        std::vector<std::string> shown = argv;
        shown[0] = std::filesystem::path(shown[0]).filename().string();
        v.command += (v.command.empty() ? "" : " | ") + shell_join(shown);
        plan.stages.emplace_back(std::move(argv), kind == Kind::exec
                                                      ? child_environment({"FAAS_CLIENT_FD=3"})
                                                      : env);
      }
      if (kind == Kind::exec) v.command = "FAAS_CLIENT_FD=3 " + v.command;
      if (kind == Kind::fork) v.command += "  (on an acquired sandbox)";
      if (kind == Kind::invoke) v.command += "  (on an acquired, forked sandbox)";
      if (kind == Kind::release) v.command += "  (after an invocation)";
      plans_[vname] = std::move(plan);
      out.push_back(std::move(v));
    };
    const std::string no_handler =
        "handler `" + ctx.handler + "` not found (pass --handler PATH or set $FAAS_BENCH_HANDLER)";
    add("fork+exec", Kind::exec, {{ctx.handler}}, have_handler ? "" : no_handler);
    add("pipeline", Kind::chain, {acquire, overlay, inv_release}, no_pool);
    add("pipeline-nofork", Kind::chain, {acquire, inv_release}, no_pool);
    add("acquire", Kind::acquire, {acquire}, no_pool);
    add("fork", Kind::fork, {overlay}, no_pool);
    add("invoke", Kind::invoke, {inv}, no_pool);
    add("release", Kind::release, {release}, no_pool);
    return out;
  }

  Result<void> prepare(const Context& ctx) override {
    timeout_ms_ = ctx.timeout_ms;
    devnull_ = Fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull_) return sys_error("open /dev/null");
    if (!PoolFixture::unavailable(ctx).empty()) return {};  // those variants are skipped
    FAAS_TRY_ASSIGN(long long size, ctx.int_param("pool_size", 2));
    if (size < 1) return Error(Exit::usage, "--param pool_size: at least 1");
    FAAS_TRY(ctx.int_param("tmpfs", 0));  // a number
    return fixture_.setup(ctx, size);
  }

  // A failed iteration may have cost the pool a sandbox: warm it again.
  Result<void> recover() override {
    FAAS_TRY(interrupted());
    return rewarm();
  }

  void teardown() override { fixture_.teardown(); }

  Result<std::uint64_t> once(const Variant& v) override {
    FAAS_TRY(interrupted());
    Plan& plan = plans_.at(v.name);
    switch (plan.kind) {
      case Kind::exec: return direct(plan.stages.front());
      case Kind::chain: {
        FAAS_TRY_ASSIGN(auto t, timed(plan, {}));
        FAAS_TRY(check_invoked(t.output));
        return t.ns;
      }
      case Kind::acquire: {
        FAAS_TRY_ASSIGN(auto t, timed(plan, {}));
        FAAS_TRY(release(t.output));
        return t.ns;
      }
      case Kind::fork: {
        FAAS_TRY_ASSIGN(std::string rec, acquire());
        FAAS_TRY_ASSIGN(auto t, timed(plan, rec));
        FAAS_TRY(release(t.output));
        return t.ns;
      }
      case Kind::invoke: {
        FAAS_TRY_ASSIGN(std::string rec, acquire());
        FAAS_TRY_ASSIGN(rec, fixture_.run({fixture_.tool("faas-fork"), "--overlay"}, rec));
        FAAS_TRY_ASSIGN(auto t, timed(plan, rec));
        FAAS_TRY(check_invoked(t.output, false));
        FAAS_TRY(release(t.output));
        return t.ns;
      }
      case Kind::release: {
        FAAS_TRY_ASSIGN(std::string rec, acquire());
        FAAS_TRY_ASSIGN(rec, fixture_.run({fixture_.tool("faas-fork"), "--overlay"}, rec));
        FAAS_TRY_ASSIGN(rec, fixture_.run({fixture_.tool("faas-invoke"), "--http", "GET", "/"}, rec));
        FAAS_TRY_ASSIGN(auto t, timed(plan, rec));
        FAAS_TRY(check_recycled(t.output));
        return t.ns;
      }
    }
    return Error(Exit::software, "unknown variant kind");
  }

 private:
  struct Timed {
    std::uint64_t ns = 0;
    std::string output;  // the last stage's stdout (its record)
  };

  // Spawns the chain, input on the first stage's stdin; timed from the first
  // spawn to the last stage's first output line; then every stage reaped.
  Result<Timed> timed(const Plan& plan, const std::string& input) {
    const std::size_t n = plan.stages.size();
    Fd first_in;
    if (!input.empty()) {
      FAAS_TRY_ASSIGN(first_in, input_pipe(input));
    }
    std::vector<Fd> reads, writes;
    for (std::size_t i = 0; i < n; ++i) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
      reads.emplace_back(p[0]);
      writes.emplace_back(p[1]);
    }
    std::vector<Process> procs;
    const std::uint64_t t0 = now_ns();
    for (std::size_t i = 0; i < n; ++i) {
      int in = i == 0 ? (first_in ? first_in.get() : devnull_.get()) : reads[i - 1].get();
      FAAS_TRY_ASSIGN(Process p, spawn(plan.stages[i], SpawnFds{in, writes[i].get(), fixture_.log_fd(), -1}, false));
      procs.push_back(std::move(p));
      writes[i].reset();
      if (i > 0) reads[i - 1].reset();
      else first_in.reset();
    }
    Timed t;
    const std::uint64_t deadline = t0 + static_cast<std::uint64_t>(timeout_ms_) * 1000000ULL;
    FAAS_TRY(read_output(reads[n - 1].get(), t.output, deadline, true));
    t.ns = now_ns() - t0;
    FAAS_TRY(read_output(reads[n - 1].get(), t.output, deadline, false));
    for (std::size_t i = 0; i < n; ++i) {
      FAAS_TRY_ASSIGN(int status, procs[i].wait(timeout_ms_));
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string tail = fixture_.log_tail();
        return Error(Exit::software,
                     std::filesystem::path(plan.stages[i].path()).filename().string() + " " +
                         describe_wait_status(status) + (tail.empty() ? "" : ": " + tail));
      }
    }
    if (t.output.empty()) return Error(Exit::software, "no record on stdout");
    return t;
  }

  // The baseline: the handler with the client end of a socketpair as fd 3.
  Result<std::uint64_t> direct(const ExecArgs& args) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) return sys_error("socketpair");
    Fd client(pair[0]), server(pair[1]);
    timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
    if (::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
      return sys_error("setsockopt SO_RCVTIMEO");
    const std::uint64_t t0 = now_ns();
    FAAS_TRY_ASSIGN(Process proc, spawn(args, SpawnFds{devnull_.get(), devnull_.get(), 2, server.get()}, false));
    server.reset();
    if (::send(client.get(), kRequest.data(), kRequest.size(), MSG_NOSIGNAL) < 0 && errno != EPIPE)
      return sys_error("write request");
    std::string head;
    std::array<char, 4096> buf;
    for (;;) {
      ssize_t n = ::read(client.get(), buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return sys_error("read response");
      if (head.size() < 16) head.append(buf.data(), static_cast<std::size_t>(n));
    }
    const std::uint64_t t1 = now_ns();
    FAAS_TRY_ASSIGN(int status, proc.wait(timeout_ms_));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return Error(Exit::software, "the handler " + describe_wait_status(status));
    if (!head.starts_with("HTTP/1.")) return Error(Exit::software, "the handler's response is not HTTP");
    return t1 - t0;
  }

  static Result<Json> parse(const std::string& line) {
    Json j = Json::parse(line.substr(0, line.find('\n')), nullptr, false);
    if (!j.is_object()) return Error(Exit::software, "not a JSON record: `" + line.substr(0, 80) + "`");
    return j;
  }

  // An invocation's record: HTTP 200 from the handler; with --release, the
  // sandbox recycled (else the pool is warmed again, untimed).
  Result<void> check_invoked(const std::string& out, bool released = true) {
    FAAS_TRY_ASSIGN(Json j, parse(out));
    if (j.value(Json::json_pointer("/invoke/status"), 0) != 200)
      return Error(Exit::software, "no HTTP 200 in the record: `" + out.substr(0, 200) + "`");
    if (released) return check_recycled(out);
    return {};
  }

  Result<void> check_recycled(const std::string& out) {
    FAAS_TRY_ASSIGN(Json j, parse(out));
    if (j.value(Json::json_pointer("/sandbox/state"), std::string()) != "warm") return rewarm();
    return {};
  }

  Result<void> rewarm() {
    if (fixture_.log_fd() < 0) return {};
    FAAS_TRY(fixture_.run({fixture_.tool("faas-pool"), "warm", kPool}));
    return {};
  }

  Result<std::string> acquire() {
    return fixture_.run({fixture_.tool("faas-pool"), "acquire", kPool, "--wait", "5s"});
  }

  Result<void> release(const std::string& rec) {
    FAAS_TRY_ASSIGN(std::string out, fixture_.run({fixture_.tool("faas-pool"), "release"}, rec));
    return check_recycled(out);
  }

  PoolFixture fixture_;
  std::map<std::string, Plan> plans_;
  Fd devnull_;
  int timeout_ms_ = 10000;
};

}  // namespace

std::unique_ptr<Scenario> make_warm_scenario() { return std::make_unique<WarmScenario>(); }

}  // namespace faas::bench
