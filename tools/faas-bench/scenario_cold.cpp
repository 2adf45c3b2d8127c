// Scenario `cold`: a fresh isolated sandbox, started on the spot, to the
// first byte of its HTTP answer.
//
// Every variant runs the same handler (hello-c) in the same busybox rootfs
// (the one examples/make-rootfs.sh makes, plus /faas-init and an empty
// /ctl). Per iteration: a socketpair is the client connection; the variant
// is spawned; it starts faas-init in its sandbox, which gets the client end
// over a unix control socket (SCM_RIGHTS) and runs the handler; the bench
// writes `GET / HTTP/1.0` and reads. Timed: from the spawn to the first
// byte of the response. Untimed after it: the rest of the response, the
// exit of what was spawned, the removal of the sandbox.
//
//   fork+exec        the handler spawned directly, the client end as fd 3:
//                    no isolation at all (the baseline, the floor)
//   native           faaskit's native sandbox from the library, in the
//                    bench's process: spawn_sandbox (new mount, pid, ipc,
//                    uts, net and cgroup namespaces, rootfs, /dev, /proc,
//                    pivot_root, capabilities, seccomp, cgroups) to
//                    faas-init's exec, then the hand-over on its control
//                    socket
//   native-netns     the same, joined to a ready namespace leased from a
//                    faas-netns pool (in the bench's process, timed: the
//                    lease's transaction), as a template with --netns-pool
//                    is: no network namespace is made on the spot
//   native-acquire   `faas-pool acquire POOL --cold`: the same plus one
//                    process start and the state store; the bench hands
//                    the client over to the sandbox of the record
//   native-pipeline  `faas-pool acquire POOL --cold | faas-invoke --http GET /`
//                    to faas-invoke's record (the whole response)
//   unshare+chroot   unshare -mnpuif --mount-proc chroot ROOT faas-init ...
//   bubblewrap       bwrap --unshare-all, the rootfs read-only, /dev, /proc
//   crun, runc       `run` of an OCI bundle made with `crun spec`/`runc spec`
//                    (pid, net, ipc, uts, mount and cgroup namespaces, the
//                    rootfs read-only, no network)
//   docker           `docker run --rm --network none` of the rootfs imported
//                    as an image, on a private dockerd started in prepare()
//
// The peers' faas-init connects to the bench's control socket at /ctl (in
// the rootfs; bound there for docker), the native sandbox's faas-init
// listens on its own: either way one connection and one SCM_RIGHTS message.
//
// crun refuses the v1/v2 hybrid cgroup layout. On such a host the bench
// moves itself into a private mount namespace (a slave copy of the host's)
// and detaches the v2 mount there, before any variant runs: every variant
// runs in that namespace alike. Everything made here (bundles, containers,
// the pool, dockerd and its data, cgroups) is removed in teardown(), after
// a failure too.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "bench.hpp"
#include "faas/holder.hpp"
#include "faas/log.hpp"
#include "faas/netns_pool.hpp"
#include "faas/records.hpp"
#include "faas/sandbox.hpp"
#include "faas/sandbox_control.hpp"
#include "faas/scope_exit.hpp"
#include "faas/state.hpp"
#include "faas/timing.hpp"
#include "faas/wire.h"
#include "pool_fixture.hpp"

namespace faas::bench {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kRequest = "GET / HTTP/1.0\r\n\r\n";
constexpr std::string_view kPayload = R"({"request_id":"cold"})";
constexpr const char* kPool = "bench-cold";
constexpr const char* kNetnsPool = "bench-cold-ns";
constexpr const char* kImage = "faas-bench-cold:latest";
constexpr const char* kCtlInside = "/ctl/control.sock";

enum class Kind { direct, native, native_netns, acquire, pipeline, peer, docker };

struct Plan {
  Kind kind = Kind::peer;
  std::vector<ExecArgs> stages;
  std::string runtime;  // crun, runc: the container IDs are theirs to delete
};

Result<void> write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Error(Exit::cant_create, "write " + q(path));
  return {};
}

// Whether /sys/fs/cgroup is the v1/v2 hybrid crun refuses: a v2 mount at
// /sys/fs/cgroup/unified beside v1 controllers.
bool cgroup_hybrid() {
  struct statfs st {};
  constexpr long kCgroup2Magic = 0x63677270;
  if (::statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == kCgroup2Magic) return false;
  return ::statfs("/sys/fs/cgroup/unified", &st) == 0 && st.f_type == kCgroup2Magic;
}

class ColdScenario final : public Scenario {
 public:
  std::string_view name() const override { return "cold"; }
  std::string_view summary() const override {
    return "a sandbox started on the spot to the first byte of its HTTP answer: faaskit's native "
           "sandbox against crun, runc, docker, bubblewrap, unshare+chroot and fork+exec";
  }
  // Every variant here tears down namespaces, cgroups and mounts, and the
  // kernel finishes that in its workers after the variant's cleanup
  // returns (runc's and docker's the longest): rotated, no variant always
  // runs right after the same one.
  bool rotate_rounds() const override { return true; }

  std::vector<Param> params() const override {
    return {{"docker_iterations", "40", "at most this many timed iterations of docker, a run of ~0.3 s (0: every round)"},
            {"runc_iterations", "0", "at most this many timed iterations of runc (0: every round)"},
            {"dockerd_timeout", "30", "seconds to wait for the private dockerd to answer"}};
  }

  std::vector<Variant> variants(const Context& ctx) override {
    work_ = ctx.work_dir.empty() ? "WORK" : ctx.work_dir;
    fixture_.plan(ctx, kPool);
    rootfs_ = work_ + "/rootfs";
    const std::string no_pool = PoolFixture::unavailable(ctx);
    const bool root = ::geteuid() == 0;
    const std::string no_handler =
        "handler `" + ctx.handler + "` not found (pass --handler PATH or set $FAAS_BENCH_HANDLER)";
    const std::string no_init = "faas-init not found at `" + ctx.faas_init +
                                "` (build it, or pass --faas-init PATH or set $FAAS_INIT)";
    const bool ready = is_executable_file(ctx.handler) && is_executable_file(ctx.faas_init);
    const std::string not_ready = !is_executable_file(ctx.handler) ? no_handler : no_init;
    const std::vector<std::string> init{"/faas-init", "--connect", kCtlInside, "--", "/hello-c"};
    const auto& tool_env = fixture_.env();
    const auto env = child_environment({});

    std::vector<Variant> out;
    plans_.clear();
    auto add = [&](std::string vname, bool peer, Kind kind, std::vector<std::vector<std::string>> stages,
                   std::string skipped, const std::vector<std::string>& penv, std::string runtime = {}) {
      Variant v;
      v.name = vname;
      v.peer = peer;
      v.path = stages.empty() ? std::string() : stages.front().front();
      v.skipped = std::move(skipped);
      Plan plan;
      plan.kind = kind;
      plan.runtime = std::move(runtime);
      for (auto& argv : stages) {
        std::vector<std::string> shown = argv;
        shown[0] = fs::path(shown[0]).filename().string();
        v.command += (v.command.empty() ? "" : " | ") + shell_join(shown);
        plan.stages.emplace_back(std::move(argv), penv);
      }
      plans_[vname] = std::move(plan);
      out.push_back(std::move(v));
    };
    auto peer_reason = [&](const std::string& path, const std::string& missing) -> std::string {
      if (path.empty()) return missing;
      if (!root) return "requires root";
      return ready ? "" : not_ready;
    };

    add("fork+exec", false, Kind::direct, {{ctx.handler}}, is_executable_file(ctx.handler) ? "" : no_handler,
        child_environment({"FAAS_CLIENT_FD=3"}));
    out.back().command = "FAAS_CLIENT_FD=3 " + out.back().command;

    add("native", false, Kind::native, {}, !root ? "requires root" : (ready ? "" : not_ready), {});
    out.back().path = ctx.faas_init;
    out.back().command = "spawn_sandbox() + hand-over on the control socket (in the bench's process)";
    add("native-netns", false, Kind::native_netns, {}, !root ? "requires root" : (ready ? no_pool : not_ready), {});
    out.back().path = ctx.faas_init;
    out.back().command = "a lease from a faas-netns pool + spawn_sandbox() into it + hand-over (in the bench's process)";
    const std::string pool = fixture_.tool("faas-pool"), invoke = fixture_.tool("faas-invoke");
    add("native-acquire", false, Kind::acquire, {{pool, "acquire", kPool, "--cold"}}, no_pool, tool_env);
    out.back().command += " + hand-over by the bench";
    add("native-pipeline", false, Kind::pipeline,
        {{pool, "acquire", kPool, "--cold"}, {invoke, "--http", "GET", "/"}}, no_pool, tool_env);

    std::string unshare = find_in_path(ctx.peer_path, "unshare");
    std::string chroot = find_in_path(ctx.peer_path, "chroot");
    if (chroot.empty()) unshare.clear();
    std::vector<std::string> u{unshare, "-mnpuif", "--mount-proc=" + rootfs_ + "/proc", chroot, rootfs_};
    u.insert(u.end(), init.begin(), init.end());
    add("unshare+chroot", true, Kind::peer, {u},
        peer_reason(unshare, "unshare or chroot not installed (Debian package util-linux, coreutils)"), env);

    std::string bwrap = find_in_path(ctx.peer_path, "bwrap");
    std::vector<std::string> b{bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", rootfs_, "/",
                               "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--"};
    b.insert(b.end(), init.begin(), init.end());
    add("bubblewrap", true, Kind::peer, {b},
        peer_reason(bwrap, "bubblewrap not installed (Debian package bubblewrap)"), env);

    for (const char* rt : {"crun", "runc"}) {
      std::string path = find_in_path(ctx.peer_path, rt);
      // The container ID is appended per iteration.
      add(rt, true, Kind::peer, {{path, "--root", work_ + "/" + rt + "-state", "run", "--bundle", work_ + "/bundle-" + rt}},
          peer_reason(path, std::string(rt) + " not installed (Debian package " + rt + ")"), env, rt);
      runtime_path_[rt] = path;
    }
    if (auto n = ctx.int_param("runc_iterations", 0); n && *n > 0) out.back().max_iterations = static_cast<int>(*n);

    docker_ = find_in_path(ctx.peer_path, "docker");
    dockerd_ = find_in_path(ctx.peer_path, "dockerd");
    if (dockerd_.empty() && is_executable_file("/usr/sbin/dockerd")) dockerd_ = "/usr/sbin/dockerd";
    // dockerd's exec root holds containerd's sockets: a short directory of
    // its own, so that their paths fit sun_path whatever the work dir.
    const char* tmp = std::getenv("TMPDIR");
    docker_dir_ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/faas-bench-docker." +
                  std::to_string(::getpid());
    docker_sock_ = docker_dir_ + "/docker.sock";
    native_run_ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/faas-bench-cold." +
                  std::to_string(::getpid());
    std::vector<std::string> d{docker_, "-H", "unix://" + docker_sock_, "run", "--rm", "--network", "none",
                               "-v", rootfs_ + "/ctl:/ctl", kImage};
    d.insert(d.end(), init.begin(), init.end());
    std::string no_docker = docker_.empty() || dockerd_.empty()
                                ? "docker or dockerd not installed (Debian package docker.io)"
                                : "";
    add("docker", true, Kind::docker, {d}, peer_reason(no_docker.empty() ? docker_ : "", no_docker),
        child_environment({}));
    if (auto n = ctx.int_param("docker_iterations", 40); n && *n > 0) out.back().max_iterations = static_cast<int>(*n);
    return out;
  }

  Result<void> prepare(const Context& ctx) override {
    timeout_ms_ = ctx.timeout_ms;
    faas_init_ = ctx.faas_init;
    FAAS_TRY(ctx.int_param("runc_iterations", 0));
    FAAS_TRY(ctx.int_param("docker_iterations", 40));
    FAAS_TRY_ASSIGN(long long dockerd_s, ctx.int_param("dockerd_timeout", 30));
    devnull_ = Fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull_) return sys_error("open /dev/null");
    if (!is_executable_file(ctx.handler))
      return Error(Exit::no_input, "handler `" + ctx.handler +
                                       "` not found or not executable (pass --handler PATH or set "
                                       "$FAAS_BENCH_HANDLER)");
    log_path_ = work_ + "/peers.log";
    log_ = Fd(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!log_) return sys_error("create " + q(log_path_), Exit::cant_create);
    if (::geteuid() != 0) return {};  // only fork+exec runs: every other variant says why not

    // crun and the hybrid cgroup layout: a private mount namespace for the
    // bench and everything it spawns, without the v2 mount.
    if (cgroup_hybrid()) {
      if (::unshare(CLONE_NEWNS) != 0) return sys_error("unshare(CLONE_NEWNS)");
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)
        return sys_error("make the bench's mounts slaves");
      if (::umount2("/sys/fs/cgroup/unified", MNT_DETACH) != 0)
        return sys_error("detach /sys/fs/cgroup/unified in the bench's mount namespace");
    }

    // The rootfs and the pool (faas-pool's template needs them).
    const bool netns = ctx.wanted("native-netns");
    if (PoolFixture::unavailable(ctx).empty() && (ctx.wanted("native-acquire") || ctx.wanted("native-pipeline") || netns)) {
      FAAS_TRY(fixture_.setup(ctx, 0));
      pool_made_ = true;
      if (netns) FAAS_TRY_CTX(make_netns_pool(), "native-netns");
    } else {
      FAAS_TRY(make_rootfs(ctx));
    }
    std::error_code ec;
    fs::copy_file(ctx.faas_init, rootfs_ + "/faas-init", fs::copy_options::overwrite_existing, ec);
    if (ec) return sys_error(ec.value(), "copy faas-init into the rootfs");
    if (::mkdir((rootfs_ + "/ctl").c_str(), 0755) != 0 && errno != EEXIST) return sys_error("mkdir /ctl");

    for (const char* rt : {"crun", "runc"})
      if (!runtime_path_[rt].empty() && ctx.wanted(rt)) FAAS_TRY_CTX(make_bundle(rt), rt);
    if (!docker_.empty() && !dockerd_.empty() && ctx.wanted("docker")) {
      auto r = start_dockerd(static_cast<int>(dockerd_s));
      if (!r) docker_skipped_ = r.error().what();
    }
    // The control socket, made after the image import so that no socket
    // file is in the image.
    sock_path_ = rootfs_ + "/ctl/control.sock";
    // The native sandboxes' run dir: short, so that their control sockets'
    // paths fit sun_path whatever the work dir.
    if (::mkdir(native_run_.c_str(), 0700) != 0) return sys_error("mkdir " + q(native_run_), Exit::cant_create);
    native_run_made_ = true;
    return listen_control();
  }

  std::string skipped_after_prepare(const Variant& v) const override {
    if (v.name == "docker") return docker_skipped_;
    return {};
  }

  Result<void> recover() override {
    cleanup_containers();
    return listen_control();
  }

  void teardown() override {
    cleanup_containers();
    if (native_id_.size()) (void)destroy_sandbox(native_run_, native_id_, native_pid_, native_start_);
    if (lease_.size() && netns_pools_) (void)netns_pools_->release(lease_);
    lease_.clear();
    netns_pools_.reset();
    stores_.reset();
    if (netns_made_) {
      auto r = fixture_.run({fixture_.tool("faas-netns"), "pool", "rm", kNetnsPool});
      if (!r) log_warn(std::string("remove netns pool ") + kNetnsPool + ": " + r.error().what());
    }
    netns_made_ = false;
    if (native_run_made_) {
      std::error_code ec;
      fs::remove_all(native_run_, ec);
      native_run_made_ = false;
    }
    if (pool_made_) fixture_.teardown();
    pool_made_ = false;
    stop_dockerd();
  }

  Result<std::uint64_t> once(const Variant& v) override {
    Plan& plan = plans_.at(v.name);
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) return sys_error("socketpair");
    Fd client(pair[0]), server(pair[1]);
    switch (plan.kind) {
      case Kind::direct: return direct(plan, std::move(client), std::move(server));
      case Kind::native: return native(std::move(client), std::move(server), false);
      case Kind::native_netns: return native(std::move(client), std::move(server), true);
      case Kind::acquire: return acquire(plan, std::move(client), std::move(server));
      case Kind::pipeline: return pipeline(plan);
      case Kind::peer:
      case Kind::docker: return peer(plan, std::move(client), std::move(server));
    }
    return Error(Exit::software, "unknown variant kind");
  }

 private:
  std::uint64_t deadline() const { return now_ns() + static_cast<std::uint64_t>(timeout_ms_) * 1000000ULL; }

  // Writes the request, reads the first byte (t1), then the rest to EOF.
  Result<std::uint64_t> exchange(int client, std::uint64_t& t1) {
    FAAS_TRY(write_all(client, kRequest, deadline()));
    std::string head;
    FAAS_TRY(read_first(client, head, deadline()));
    t1 = now_ns();
    FAAS_TRY(read_until_eof(client, head, 1 << 20, deadline()));
    if (!head.starts_with("HTTP/1."))
      return Error(Exit::software, "response does not start with `HTTP/1.`: got `" + head.substr(0, 40) + "`");
    return t1;
  }

  static Result<void> read_first(int fd, std::string& out, std::uint64_t deadline_ns) {
    for (;;) {
      std::uint64_t now = now_ns();
      if (now >= deadline_ns) return Error(Exit::software, "no response byte by the deadline");
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>((deadline_ns - now + 999999) / 1000000));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return sys_error("poll the client connection");
      if (r == 0) continue;
      char buf[4096];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return sys_error("read the response");
      if (n == 0) return Error(Exit::software, "the connection closed before any response byte");
      out.append(buf, static_cast<std::size_t>(n));
      return {};
    }
  }

  Result<std::uint64_t> direct(const Plan& plan, Fd client, Fd server) {
    const std::uint64_t t0 = now_ns();
    FAAS_TRY_ASSIGN(Process proc, spawn(plan.stages.front(), SpawnFds{devnull_.get(), devnull_.get(), 2, server.get()}, false));
    server.reset();
    std::uint64_t t1 = 0;
    FAAS_TRY(exchange(client.get(), t1));
    FAAS_TRY(expect_exit(proc, "the handler"));
    return t1 - t0;
  }

  // A faas-netns pool of a few namespaces for native-netns (the tool picks
  // a free subnet), and the run's state store to lease from in-process.
  Result<void> make_netns_pool() {
    FAAS_TRY(fixture_.run({fixture_.tool("faas-netns"), "pool", "create", kNetnsPool, "--size", "2"}));
    netns_made_ = true;
    FAAS_TRY_ASSIGN(Stores st, Stores::open(fixture_.state_dir(), fixture_.run_dir()));
    stores_.emplace(std::move(st));
    FAAS_TRY_ASSIGN(self_, self_holder());
    netns_pools_.emplace(stores_->run(), self_);
    return {};
  }

  // with_netns: the sandbox joins a namespace leased (timed) from the
  // run's faas-netns pool, released untimed after.
  Result<std::uint64_t> native(Fd client, Fd server, bool with_netns) {
    SandboxSpec spec;
    spec.id = new_id();
    spec.rootfs = rootfs_;
    spec.cmd = {"/hello-c"};
    spec.init_binary = faas_init_;
    spec.run_dir = native_run_;
    const std::uint64_t t0 = now_ns();
    if (with_netns) {
      FAAS_TRY_ASSIGN(auto lease, netns_pools_->acquire(kNetnsPool, self_));
      if (!lease) return Error(Exit::software, std::string("netns pool ") + kNetnsPool + " is empty");
      lease_ = lease->id;
      spec.netns_path = lease->path();
    }
    ScopeExit release([&] {
      if (lease_.empty()) return;
      auto r = netns_pools_->release(lease_);
      if (!r) log_warn("release netns " + lease_ + ": " + r.error().what());
      lease_.clear();
    });
    native_id_ = spec.id;
    native_pid_ = 0;
    auto sp = spawn_sandbox(spec, [&](pid_t pid, std::uint64_t start) -> Result<void> {
      native_pid_ = pid;
      native_start_ = start;
      return {};
    });
    if (!sp) {
      native_id_.clear();
      return std::move(sp).error();
    }
    std::array<int, 1> fds{server.get()};
    auto control = ControlSession::start(sp->control.string(), fds, "cold", static_cast<std::uint64_t>(timeout_ms_));
    server.reset();
    std::uint64_t t1 = 0;
    Result<std::uint64_t> r = control ? exchange(client.get(), t1) : Result<std::uint64_t>(std::move(control).error());
    auto d = destroy_sandbox(native_run_, spec.id, sp->pid, sp->pid_start);
    native_id_.clear();
    FAAS_TRY(std::move(r));
    FAAS_TRY_CTX(std::move(d), "destroy the sandbox");
    return t1 - t0;
  }

  Result<std::uint64_t> acquire(const Plan& plan, Fd client, Fd server) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
    Fd r(p[0]), w(p[1]);
    const std::uint64_t t0 = now_ns();
    FAAS_TRY_ASSIGN(Process proc, spawn(plan.stages.front(), SpawnFds{devnull_.get(), w.get(), fixture_.log_fd(), -1}, false));
    w.reset();
    std::string rec;
    FAAS_TRY(read_output(r.get(), rec, deadline(), true));
    Json j = Json::parse(rec.substr(0, rec.find('\n')), nullptr, false);
    std::string id = j.value(Json::json_pointer("/sandbox/id"), std::string());
    if (id.empty()) return Error(Exit::software, "faas-pool acquire: no sandbox in `" + rec.substr(0, 200) + "`");
    // The control socket of that sandbox, from the run dir and the id.
    std::array<int, 1> fds{server.get()};
    auto control = ControlSession::start(sandbox_control(work_ + "/run", id).string(), fds, "cold",
                                         static_cast<std::uint64_t>(timeout_ms_));
    server.reset();
    std::uint64_t t1 = 0;
    Result<std::uint64_t> x = control ? exchange(client.get(), t1) : Result<std::uint64_t>(std::move(control).error());
    auto st = expect_exit(proc, "faas-pool acquire");
    auto rel = fixture_.run({fixture_.tool("faas-pool"), "release", "--destroy", id});
    FAAS_TRY(std::move(x));
    FAAS_TRY(std::move(st));
    FAAS_TRY(std::move(rel));
    return t1 - t0;
  }

  Result<std::uint64_t> pipeline(const Plan& plan) {
    int a[2], b[2];
    if (::pipe2(a, O_CLOEXEC) != 0 || ::pipe2(b, O_CLOEXEC) != 0) return sys_error("pipe");
    Fd ar(a[0]), aw(a[1]), br(b[0]), bw(b[1]);
    const std::uint64_t t0 = now_ns();
    FAAS_TRY_ASSIGN(Process p1, spawn(plan.stages[0], SpawnFds{devnull_.get(), aw.get(), fixture_.log_fd(), -1}, false));
    aw.reset();
    FAAS_TRY_ASSIGN(Process p2, spawn(plan.stages[1], SpawnFds{ar.get(), bw.get(), fixture_.log_fd(), -1}, false));
    ar.reset();
    bw.reset();
    std::string rec;
    FAAS_TRY(read_output(br.get(), rec, deadline(), true));
    const std::uint64_t t1 = now_ns();
    FAAS_TRY(read_output(br.get(), rec, deadline(), false));
    auto s1 = expect_exit(p1, "faas-pool acquire");
    auto s2 = expect_exit(p2, "faas-invoke");
    Json j = Json::parse(rec.substr(0, rec.find('\n')), nullptr, false);
    std::string id = j.value(Json::json_pointer("/sandbox/id"), std::string());
    if (!id.empty()) FAAS_TRY(fixture_.run({fixture_.tool("faas-pool"), "release", "--destroy", id}));
    FAAS_TRY(std::move(s1));
    FAAS_TRY(std::move(s2));
    if (j.value(Json::json_pointer("/invoke/status"), 0) != 200)
      return Error(Exit::software, "no HTTP 200 in the record: `" + rec.substr(0, 200) + "`");
    return t1 - t0;
  }

  // A peer: spawned with its output to the log; its faas-init connects to
  // the control socket, gets the client end, runs the handler.
  Result<std::uint64_t> peer(const Plan& plan, Fd client, Fd server) {
    const ExecArgs* args = &plan.stages.front();
    ExecArgs with_id;
    if (!plan.runtime.empty()) {
      container_ = "faas-bench-cold-" + std::to_string(::getpid()) + "-" + std::to_string(++serial_);
      std::vector<std::string> argv = args->args();
      argv.push_back(container_);
      with_id = ExecArgs(std::move(argv), child_environment({}));
      args = &with_id;
      runtime_ = plan.runtime;
    }
    const std::uint64_t t0 = now_ns();
    FAAS_TRY_ASSIGN(Process proc, spawn(*args, SpawnFds{devnull_.get(), log_.get(), log_.get(), -1}, false));
    FAAS_TRY(hand_over(proc, server.get()));
    server.reset();
    std::uint64_t t1 = 0;
    FAAS_TRY(exchange(client.get(), t1));
    FAAS_TRY(expect_exit(proc, fs::path(args->path()).filename().string()));
    container_.clear();
    return t1 - t0;
  }

  Result<void> expect_exit(Process& proc, const std::string& what) {
    auto status = proc.wait(timeout_ms_);
    if (!status) return std::move(status).error().with_status(Exit::software).wrap(what);
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      std::string tail = log_tail();
      return Error(Exit::software, what + " " + describe_wait_status(*status) + (tail.empty() ? "" : ": " + tail));
    }
    return {};
  }

  std::string log_tail() const {
    std::string t = fixture_.log_tail();
    std::ifstream in(log_path_);
    std::string line, last;
    while (std::getline(in, line))
      if (!line.empty()) last = line;
    return last.empty() ? t : last;
  }

  // Accepts the variant's connection on the control socket (or sees it
  // exit first) and sends it the client end.
  Result<void> hand_over(const Process& proc, int client_end) {
    pollfd p[2] = {{listen_.get(), POLLIN, 0}, {proc.pidfd(), POLLIN, 0}};
    for (;;) {
      int n = ::poll(p, 2, timeout_ms_);
      if (n > 0) break;
      if (n == 0)
        return Error(Exit::software, "no connection on the control socket within " + std::to_string(timeout_ms_) + " ms");
      if (errno != EINTR) return sys_error("poll control socket");
    }
    if ((p[0].revents & POLLIN) == 0) {
      std::string tail = log_tail();
      return Error(Exit::software, "the process exited before connecting to the control socket" +
                                       (tail.empty() ? "" : ": " + tail));
    }
    Fd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return sys_error("accept on the control socket");
    int rc = faas_wire_send(conn.get(), &client_end, 1, kPayload.data(), kPayload.size());
    if (rc < 0) return Error(Exit::software, std::string("send the client connection: ") + faas_wire_strerror(rc));
    return {};
  }

  Result<void> listen_control() {
    listen_.reset();
    if (sock_path_.empty()) return {};
    ::unlink(sock_path_.c_str());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // A work dir deep enough to overflow sun_path (108 bytes) is bound
    // through its directory's descriptor: /proc/self/fd/N/control.sock.
    std::string bind_path = sock_path_;
    Fd dir;
    if (bind_path.size() >= sizeof addr.sun_path) {
      auto slash = sock_path_.rfind('/');
      dir = Fd(::open(sock_path_.substr(0, slash).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!dir) return sys_error("open the control socket's directory", Exit::cant_create);
      bind_path = "/proc/self/fd/" + std::to_string(dir.get()) + sock_path_.substr(slash);
    }
    std::memcpy(addr.sun_path, bind_path.c_str(), bind_path.size() + 1);
    Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) return sys_error("socket");
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
      return sys_error("bind " + q(sock_path_), Exit::cant_create);
    ::chmod(sock_path_.c_str(), 0666);
    if (::listen(s.get(), 16) < 0) return sys_error("listen " + q(sock_path_));
    listen_ = std::move(s);
    return {};
  }

  // Without the pool: the same rootfs as PoolFixture's.
  Result<void> make_rootfs(const Context& ctx) {
    for (const char* d : {"", "/bin", "/dev", "/proc", "/run", "/tmp", "/etc"})
      if (::mkdir((rootfs_ + d).c_str(), 0755) != 0 && errno != EEXIST) return sys_error("mkdir rootfs");
    std::error_code ec;
    fs::copy_file(ctx.handler, rootfs_ + "/hello-c", ec);
    if (ec) return sys_error(ec.value(), "copy the handler into the rootfs");
    if (std::string busybox = find_in_path(ctx.peer_path, "busybox"); !busybox.empty()) {
      fs::copy_file(busybox, rootfs_ + "/bin/busybox", ec);
      if (ec) return sys_error(ec.value(), "copy busybox into the rootfs");
      for (const char* applet : {"sh", "cat", "ls", "echo", "printf", "sleep", "id", "env"})
        fs::create_symlink("busybox", rootfs_ + "/bin/" + applet, ec);
    }
    return {};
  }

  // Runs argv to its end (setup and cleanup, untimed); output to the log.
  Result<void> run_quiet(std::vector<std::string> argv, int in = -1) {
    std::string what = fs::path(argv[0]).filename().string() + (argv.size() > 1 ? " " + argv[1] : "");
    ExecArgs args(std::move(argv), child_environment({}));
    FAAS_TRY_ASSIGN(Process p, spawn(args, SpawnFds{in >= 0 ? in : devnull_.get(), log_.get(), log_.get(), -1}, false));
    auto st = p.wait(60000);
    if (!st) return std::move(st).error().wrap(what);
    if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
      std::string tail = log_tail();
      return Error(Exit::software, what + " " + describe_wait_status(*st) + (tail.empty() ? "" : ": " + tail));
    }
    return {};
  }

  // `crun spec` / `runc spec` in the bundle, then: no terminal, faas-init
  // and the handler, the bench's rootfs read-only, a cgroup namespace too.
  Result<void> make_bundle(const std::string& rt) {
    std::string dir = work_ + "/bundle-" + rt;
    if (::mkdir(dir.c_str(), 0755) != 0) return sys_error("mkdir " + q(dir));
    if (::mkdir((work_ + "/" + rt + "-state").c_str(), 0700) != 0) return sys_error("mkdir state");
    FAAS_TRY(run_quiet({runtime_path_[rt], "spec", "--bundle", dir}));
    std::ifstream in(dir + "/config.json");
    std::stringstream ss;
    ss << in.rdbuf();
    Json c = Json::parse(ss.str(), nullptr, false);
    if (!c.is_object()) return Error(Exit::software, rt + " spec: not JSON");
    c["process"]["terminal"] = false;
    c["process"]["args"] = {"/faas-init", "--connect", kCtlInside, "--", "/hello-c"};
    c["root"] = Json{{"path", rootfs_}, {"readonly", true}};
    c["hostname"] = "faas-bench";
    auto& ns = c["linux"]["namespaces"];
    bool has_cgroup = false;
    for (const auto& n : ns) has_cgroup = has_cgroup || n.value("type", "") == "cgroup";
    if (!has_cgroup) ns.push_back(Json{{"type", "cgroup"}});
    return write_text(dir + "/config.json", c.dump(2));
  }

  void cleanup_containers() {
    if (container_.empty() || runtime_.empty()) return;
    const std::string rt = runtime_;
    (void)run_quiet({runtime_path_[rt], "--root", work_ + "/" + rt + "-state", "delete", "--force", container_});
    container_.clear();
  }

  // A private dockerd: data, exec root and socket under the work dir, no
  // iptables, no bridge, no forwarding; the rootfs imported as kImage.
  Result<void> start_dockerd(int timeout_s) {
    if (::mkdir(docker_dir_.c_str(), 0700) != 0) return sys_error("mkdir " + q(docker_dir_), Exit::cant_create);
    docker_dir_made_ = true;
    std::string data = docker_dir_ + "/data", exec = docker_dir_ + "/exec";
    dockerd_pidfile_ = docker_dir_ + "/dockerd.pid";
    std::string dlog = work_ + "/dockerd.log";
    Fd dlog_fd(::open(dlog.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!dlog_fd) return sys_error("create " + q(dlog), Exit::cant_create);
    cgroup_parent_ = "faas-bench-cold-" + std::to_string(::getpid());
    std::vector<std::string> argv{dockerd_, "--data-root", data, "--exec-root", exec, "-H", "unix://" + docker_sock_,
                                  "--pidfile", dockerd_pidfile_, "--iptables=false", "--ip6tables=false",
                                  "--ip-forward=false", "--ip-masq=false", "--bridge=none",
                                  "--cgroup-parent", "/" + cgroup_parent_, "--log-level", "error"};
    ExecArgs args(std::move(argv), child_environment({}));
    FAAS_TRY_ASSIGN(dockerd_proc_, spawn(args, SpawnFds{devnull_.get(), dlog_fd.get(), dlog_fd.get(), -1}, false));
    auto last_words = [&] {
      std::ifstream in(dlog);
      std::string line, last;
      while (std::getline(in, line))
        if (!line.empty()) last = line;
      return last;
    };
    const std::uint64_t until = now_ns() + static_cast<std::uint64_t>(timeout_s) * 1000000000ULL;
    for (;;) {
      if (run_quiet({docker_, "-H", "unix://" + docker_sock_, "version"})) break;
      pollfd p{dockerd_proc_.pidfd(), POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) return Error(Exit::unavailable, "dockerd exited at start: " + last_words());
      if (now_ns() >= until)
        return Error(Exit::unavailable, "dockerd did not answer within " + std::to_string(timeout_s) + " s");
      sleep_ms(100);
    }
    // tar -C rootfs -c . | docker import - IMAGE
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
    Fd r(p[0]), w(p[1]);
    ExecArgs tar({find_in_path({"/usr/bin", "/bin"}, "tar"), "-C", rootfs_, "-c", "."}, child_environment({}));
    FAAS_TRY_ASSIGN(Process tp, spawn(tar, SpawnFds{devnull_.get(), w.get(), log_.get(), -1}, false));
    w.reset();
    auto imported = run_quiet({docker_, "-H", "unix://" + docker_sock_, "import", "-", kImage}, r.get());
    (void)tp.wait(60000);
    if (!imported) return Error(Exit::unavailable, "docker import: " + imported.error().what());
    return {};
  }

  // Detaches every mount at or under dir in the bench's mount namespace
  // (dockerd's own, left when it dies), deepest first.
  static void unmount_under(const std::string& dir) {
    std::ifstream in("/proc/self/mountinfo");
    std::vector<std::string> points;
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string id, parent, dev, root, point;
      f >> id >> parent >> dev >> root >> point;
      if (point == dir || point.starts_with(dir + "/")) points.push_back(point);
    }
    std::sort(points.rbegin(), points.rend());
    for (const auto& p : points) ::umount2(p.c_str(), MNT_DETACH);
  }

  void stop_dockerd() {
    if (!docker_dir_made_) return;
    docker_dir_made_ = false;
    std::error_code ec;
    if (!dockerd_proc_.running()) {
      fs::remove_all(docker_dir_, ec);
      return;
    }
    (void)run_quiet({docker_, "-H", "unix://" + docker_sock_, "rmi", "-f", kImage});
    ::kill(dockerd_proc_.pid(), SIGTERM);
    if (!dockerd_proc_.wait(20000)) dockerd_proc_.kill_and_reap();
    // What dockerd made and left: its managed containerd (by its pidfile),
    // the cgroup parent, its data.
    std::string cpid = docker_dir_ + "/exec/containerd/containerd.pid";
    std::ifstream in(cpid);
    long pid = 0;
    if (in >> pid && pid > 1) {
      std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
      std::string name;
      if (comm >> name && name == "containerd") ::kill(static_cast<pid_t>(pid), SIGKILL);
    }
    for (const auto& e : fs::directory_iterator("/sys/fs/cgroup", fs::directory_options::skip_permission_denied)) {
      fs::path d = e.path() / cgroup_parent_;
      if (fs::is_directory(d, ec)) ::rmdir(d.c_str());
    }
    unmount_under(docker_dir_);
    fs::remove_all(docker_dir_, ec);
  }

  PoolFixture fixture_;
  std::map<std::string, Plan> plans_;
  std::map<std::string, std::string> runtime_path_;
  std::string work_, rootfs_, sock_path_, log_path_, faas_init_, native_run_;
  std::string docker_, dockerd_, docker_dir_, docker_sock_, dockerd_pidfile_, cgroup_parent_, docker_skipped_;
  std::string container_, runtime_;  // a container that may need deleting
  std::string native_id_;            // a native sandbox that may need destroying
  bool netns_made_ = false;           // the faas-netns pool of native-netns
  std::optional<Stores> stores_;      // the run's state, to lease from
  std::optional<NetnsPools> netns_pools_;
  std::string lease_;                 // a leased namespace to give back
  Holder self_;
  pid_t native_pid_ = 0;
  std::uint64_t native_start_ = 0;
  Process dockerd_proc_;
  Fd listen_, devnull_, log_;
  int timeout_ms_ = 10000;
  long serial_ = 0;
  bool pool_made_ = false;
  bool docker_dir_made_ = false;
  bool native_run_made_ = false;
};

}  // namespace

std::unique_ptr<Scenario> make_cold_scenario() { return std::make_unique<ColdScenario>(); }

}  // namespace faas::bench
