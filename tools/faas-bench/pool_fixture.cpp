#include "pool_fixture.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "faas/log.hpp"
#include "faas/timing.hpp"

extern char** environ;

namespace faas::bench {

namespace fs = std::filesystem;

namespace {

// The environment of the tools: the caller's, with the variables this
// fixture owns (or a client of faas-init would read) replaced.
std::vector<std::string> tool_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("FAAS_CLIENT_FD=") || kv.starts_with("FAAS_CONTROL_SOCK=") ||
        kv.starts_with("FAAS_STATE_DIR=") || kv.starts_with("FAAS_RUN_DIR=") ||
        kv.starts_with("FAAS_INIT="))
      continue;
    env.emplace_back(kv);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

Result<void> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    return sys_error("mkdir `" + path + "`", Exit::cant_create);
  return {};
}

}  // namespace

Result<Fd> input_pipe(const std::string& input) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
  Fd r(p[0]), w(p[1]);
  std::string_view rest(input);
  while (!rest.empty()) {
    ssize_t n = ::write(w.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("write a tool's input", Exit::io);
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  return r;
}

Result<void> read_output(int fd, std::string& out, std::uint64_t deadline_ns, bool stop_at_newline) {
  char buf[4096];
  for (;;) {
    if (stop_at_newline && out.find('\n') != std::string::npos) return {};
    std::uint64_t now = now_ns();
    if (now >= deadline_ns) return Error(Exit::software, "no output by the deadline");
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>((deadline_ns - now + 999999) / 1000000));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return sys_error("poll a tool's output");
    if (r == 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("read a tool's output", Exit::io);
    if (n == 0) return {};
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::string PoolFixture::unavailable(const Context& ctx) {
  if (::geteuid() != 0) return "requires root (namespaces, mounts and cgroups)";
  for (const char* t : {"faas-pool", "faas-fork", "faas-invoke"})
    if (!is_executable_file(ctx.self_dir + "/" + t))
      return std::string(t) + " not found next to faas-bench (build it)";
  if (!is_executable_file(ctx.faas_init))
    return "faas-init not found at `" + ctx.faas_init + "` (build it, or pass --faas-init PATH)";
  if (!is_executable_file(ctx.handler))
    return "handler `" + ctx.handler + "` not found (pass --handler PATH or set $FAAS_BENCH_HANDLER)";
  return {};
}

void PoolFixture::plan(const Context& ctx, std::string pool) {
  self_dir_ = ctx.self_dir;
  work_dir_ = ctx.work_dir.empty() ? "WORK" : ctx.work_dir;
  pool_ = std::move(pool);
  handler_ = ctx.handler;
  faas_init_ = ctx.faas_init;
  timeout_ms_ = ctx.timeout_ms;
  busybox_ = find_in_path(ctx.peer_path, "busybox");
  // --param tmpfs=1: the state and run dirs on a tmpfs setup() mounts;
  // tmpfs=2: the run dir alone (as /run on most hosts), the state dir in
  // the work dir.
  const std::string t = ctx.param("tmpfs", "0");
  mem_ = t.empty() || t == "0" ? std::string() : work_dir_ + "/mem";
  const std::string base = mem_.empty() ? work_dir_ : mem_;
  state_dir_ = (t == "2" ? work_dir_ : base) + "/state";
  run_dir_ = base + "/run";
  rootfs_ = work_dir_ + "/rootfs";
  log_path_ = work_dir_ + "/tools.log";
  env_ = tool_environment({"FAAS_STATE_DIR=" + state_dir_, "FAAS_RUN_DIR=" + run_dir_,
                           "FAAS_INIT=" + faas_init_});
}

Result<void> PoolFixture::setup(const Context& ctx, long long size) {
  plan(ctx, pool_);
  if (!mem_.empty()) {
    FAAS_TRY(make_dir(mem_));
    if (::mount("tmpfs", mem_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=256m") != 0)
      return sys_error("mount a tmpfs at `" + mem_ + "`");
    tmpfs_ = mem_;
  }
  log_ = Fd(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log_) return sys_error("create `" + log_path_ + "`", Exit::cant_create);
  // The rootfs of examples/make-rootfs.sh: busybox, its applets, the handler.
  for (const char* d : {"", "/bin", "/dev", "/proc", "/run", "/tmp", "/etc"})
    FAAS_TRY(make_dir(rootfs_ + d));
  std::error_code ec;
  if (!busybox_.empty()) {
    fs::copy_file(busybox_, rootfs_ + "/bin/busybox", ec);
    if (ec) return sys_error(ec.value(), "copy `" + busybox_ + "` into the rootfs");
    for (const char* applet : {"sh", "cat", "ls", "echo", "printf", "sleep", "id", "env"})
      fs::create_symlink("busybox", rootfs_ + "/bin/" + applet, ec);
  }
  fs::copy_file(handler_, rootfs_ + "/hello-c", ec);
  if (ec) return sys_error(ec.value(), "copy `" + handler_ + "` into the rootfs");
  FAAS_TRY(make_dir(state_dir_));
  FAAS_TRY(make_dir(run_dir_));
  FAAS_TRY(run({tool("faas-pool"), "template", "add", pool_, "--rootfs", rootfs_, "--cmd", "/hello-c"}));
  made_ = true;
  FAAS_TRY(run({tool("faas-pool"), "warm", pool_, "--size", std::to_string(size)}));
  return {};
}

void PoolFixture::teardown() {
  if (made_) {
    made_ = false;
    if (auto r = run({tool("faas-pool"), "pool", "rm", pool_}); !r)
      log_error("pool " + pool_ + ": " + r.error().what());
  }
  if (!tmpfs_.empty() && ::umount2(tmpfs_.c_str(), MNT_DETACH) != 0)
    log_error("unmount `" + tmpfs_ + "`: " + std::strerror(errno));
  tmpfs_.clear();
}

std::string PoolFixture::log_tail() const {
  Fd f(::open(log_path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f) return {};
  struct stat st {};
  if (::fstat(f.get(), &st) != 0 || st.st_size == 0) return {};
  off_t from = st.st_size > 400 ? st.st_size - 400 : 0;
  std::string s(static_cast<std::size_t>(st.st_size - from), '\0');
  ssize_t n = ::pread(f.get(), s.data(), s.size(), from);
  s.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  auto nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

Result<std::string> PoolFixture::run(std::vector<std::string> argv, const std::string& input) {
  const std::string what = shell_join({fs::path(argv[0]).filename().string()}) + " " +
                           (argv.size() > 1 ? argv[1] : "");
  ExecArgs args(std::move(argv), env_);
  FAAS_TRY_ASSIGN(Fd in, input_pipe(input));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
  Fd r(p[0]), w(p[1]);
  FAAS_TRY_ASSIGN(Process proc, spawn(args, SpawnFds{in.get(), w.get(), log_.get(), -1}, false));
  w.reset();
  in.reset();
  std::string out;
  const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(timeout_ms_) * 1000000ULL;
  FAAS_TRY_CTX(read_output(r.get(), out, deadline, false), what);
  FAAS_TRY_ASSIGN(int status, proc.wait(timeout_ms_));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string tail = log_tail();
    return Error(Exit::software,
                 what + ": " + describe_wait_status(status) + (tail.empty() ? "" : ": " + tail));
  }
  return out;
}

}  // namespace faas::bench
