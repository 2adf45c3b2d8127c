#include "faas/sandbox.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "faas/affinity.hpp"
#include "faas/holder.hpp"
#include "faas/ksm.hpp"
#include "faas/netns.hpp"
#include "faas/sandbox_confine.hpp"
#include "faas/scope_exit.hpp"
#include "faas/spare_dirs.hpp"
#include "faas/timing.hpp"
#include "faas/wire.h"

namespace faas {

namespace fs = std::filesystem;

fs::path sandbox_dir(const fs::path& run_dir, const std::string& id) {
  return run_dir / "sandboxes" / id;
}

fs::path sandbox_control(const fs::path& run_dir, const std::string& id) {
  return sandbox_dir(run_dir, id) / "ctl" / "control.sock";
}

namespace {

constexpr const char* kInitInside = "/run/faas-init";

Result<void> do_mount(const std::string& src, const std::string& target, const char* type,
                      unsigned long flags, const char* data = nullptr) {
  if (::mount(src.empty() ? nullptr : src.c_str(), target.c_str(), type, flags, data) != 0)
    return sys_error("mount " + (src.empty() ? std::string(type ? type : "") : q(src)) + " on " + q(target));
  return {};
}

Result<void> bind_ro(const std::string& src, const std::string& target) {
  FAAS_TRY(do_mount(src, target, nullptr, MS_BIND));
  return do_mount("", target, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV);
}

Result<void> touch(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return sys_error("create " + q(path));
  ::close(fd);
  return {};
}

Result<void> make_dir(const std::string& path, mode_t mode = 0755) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return sys_error("mkdir " + q(path));
  return {};
}

Result<void> setup_dev(const std::string& root) {
  std::string dev = root + "/dev";
  // One tmpfs for /dev and /dev/shm (a directory in it), as big as a
  // separate /dev/shm would be: its pages are charged to the sandbox's
  // memory cgroup either way, and a mount costs 30 us.
  FAAS_TRY(do_mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64m"));
  // The host's nodes made again (same device, same mode), not bound: a
  // mknod is a third of a bind mount's cost.
  {
    const mode_t umask_was = ::umask(0);
    ScopeExit restore([&] { ::umask(umask_was); });
    for (const char* n : {"null", "zero", "full", "random", "urandom", "tty"}) {
      std::string host = std::string("/dev/") + n;
      struct stat st {};
      if (::stat(host.c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) continue;
      if (::mknod((dev + "/" + n).c_str(), S_IFCHR | (st.st_mode & 0777), st.st_rdev) != 0)
        return sys_error("mknod " + q(dev + "/" + n));
    }
    FAAS_TRY(make_dir(dev + "/shm", 01777));
  }
  FAAS_TRY(make_dir(dev + "/pts"));
  FAAS_TRY(do_mount("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                    "newinstance,ptmxmode=0666,mode=0620"));
  const std::pair<const char*, const char*> links[] = {{"pts/ptmx", "ptmx"},
                                                      {"/proc/self/fd", "fd"},
                                                      {"/proc/self/fd/0", "stdin"},
                                                      {"/proc/self/fd/1", "stdout"},
                                                      {"/proc/self/fd/2", "stderr"}};
  for (const auto& [to, name] : links)
    if (::symlink(to, (dev + "/" + name).c_str()) != 0) return sys_error("symlink " + q(dev + "/" + name));
  return {};
}

Result<void> setup_proc(const std::string& root) {
  std::string proc = root + "/proc";
  FAAS_TRY(do_mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC));
  // What this kernel does not have is not there to mask (ENOENT).
  for (const char* n : {"kcore", "keys", "sched_debug", "timer_list", "timer_stats", "latency_stats"}) {
    auto r = do_mount("/dev/null", proc + "/" + n, nullptr, MS_BIND);
    if (!r && r.error().err() != ENOENT) return r;
  }
  for (const char* n : {"sys", "sysrq-trigger", "irq", "bus", "fs"}) {
    const std::string p = proc + "/" + n;
    auto r = bind_ro(p, p);
    if (!r && r.error().err() != ENOENT) return r;
  }
  return {};
}

Result<void> setup_run(const std::string& root, const SandboxSpec& spec, const fs::path& dir) {
  std::string run = root + "/run";
  FAAS_TRY(do_mount("tmpfs", run, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m"));
  FAAS_TRY(make_dir(run + "/faas-invocations"));
  FAAS_TRY(do_mount((dir / "invocations").string(), run + "/faas-invocations", nullptr, MS_BIND));
  FAAS_TRY(touch(run + "/faas-init"));
  FAAS_TRY(bind_ro(spec.init_binary.string(), run + "/faas-init"));
  return do_mount("", run, nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0755,size=1m");
}

// The sandbox's control socket, bound and listening before the clone and
// handed to faas-init (--listen-fd 3): a client may connect and send the
// moment spawn_sandbox returns, and faas-init accepts once it runs, rather
// than the caller waiting for faas-init's exec, start and listen (and the
// wake-up of its readiness note). Closed by its last holder, faas-init,
// connections are refused; the path is on the sandbox's tmpfs.
Result<Fd> listen_on(const fs::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.size() >= sizeof addr.sun_path)
    return Error(Exit::cant_create, "control socket " + q(p) + ": longer than a unix socket path may be (" +
                                        std::to_string(sizeof addr.sun_path - 1) + " bytes): use a shorter run dir");
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return sys_error("socket");
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return sys_error("bind " + q(p), Exit::cant_create);
  if (::listen(s.get(), 128) != 0) return sys_error("listen on " + q(p));
  return s;
}

// ---- user namespaces, idmapped mounts, read-only binds, KSM ----

// A detached copy of the tree at `path` (recursive or not) with `attrs`
// set and, with userns_fd, idmapped through that user namespace.
Result<Fd> detached_tree(const std::string& path, bool recursive, std::uint64_t attrs, int userns_fd) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0U);
  Fd tree(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, path.c_str(), flags)));
  if (!tree) return sys_error("open_tree " + q(path));
  mount_attr a{};
  a.attr_set = attrs;
  if (userns_fd >= 0) {
    a.attr_set |= MOUNT_ATTR_IDMAP;
    a.userns_fd = static_cast<std::uint64_t>(userns_fd);
  }
  unsigned at = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0U);
  if (::syscall(SYS_mount_setattr, tree.get(), "", at, &a, sizeof a) != 0)
    return sys_error(std::string(userns_fd >= 0 ? "idmap " : "set attributes of ") + q(path) +
                     (userns_fd >= 0 && errno == EINVAL ? " (no idmapped mounts on its filesystem)" : ""));
  return tree;
}

// Binds host read-only (nosuid, nodev, not recursive) onto dest, a path
// resolved inside root (so a symlink in the rootfs cannot send it
// elsewhere). With userns_fd the bind is idmapped when its filesystem
// allows, so root's files stay root's inside.
Result<void> bind_ro_into(const std::string& root, const fs::path& host, const std::string& dest, int userns_fd) {
  const std::uint64_t attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  auto tree = detached_tree(host.string(), false, attrs, userns_fd);
  if (!tree && userns_fd >= 0) tree = detached_tree(host.string(), false, attrs, -1);
  if (!tree) return std::move(tree).error().wrap("bind-ro");
  Fd rootfd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!rootfd) return sys_error("open " + q(root));
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  Fd target(static_cast<int>(::syscall(SYS_openat2, rootfd.get(), dest.c_str(), &how, sizeof how)));
  if (!target) return sys_error("bind-ro " + q(host.string()) + ": " + q(dest) + " in the rootfs");
  if (::syscall(SYS_move_mount, tree->get(), "", target.get(), "",
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    return sys_error("bind-ro " + q(host.string()) + " on " + q(dest));
  return {};
}

// The rootfs at root: a plain recursive bind, or with userns_fd an idmapped
// one (host uid 0 is the sandbox's root, whose host uid is unprivileged).
Result<void> mount_rootfs(const SandboxSpec& spec, const std::string& root, int userns_fd) {
  if (userns_fd < 0) return do_mount(spec.rootfs.string(), root, nullptr, MS_BIND | MS_REC);
  FAAS_TRY_ASSIGN(Fd tree, detached_tree(spec.rootfs.string(), true, 0, userns_fd));
  if (::syscall(SYS_move_mount, tree.get(), "", AT_FDCWD, root.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return sys_error("mount the idmapped rootfs on " + q(root));
  return {};
}

// Enters the sandbox's user namespace as its root: no supplementary group
// of the host's root survives, uid and gid 0 inside are the mapped range's
// first on the host. Capabilities are those of root in that namespace
// (then dropped by confine_sandbox_process).
Result<void> enter_userns(int userns_fd) {
  if (::setgroups(0, nullptr) != 0) return sys_error("setgroups");
  if (::setns(userns_fd, CLONE_NEWUSER) != 0) return sys_error("setns user namespace");
  if (::setresgid(0, 0, 0) != 0) return sys_error("setresgid 0 in the user namespace");
  if (::setresuid(0, 0, 0) != 0) return sys_error("setresuid 0 in the user namespace");
  return {};
}

// A user namespace mapping 0..count-1 to uid.. (and the same gids), held by
// the returned fd: made by a short-lived child whose maps the caller (root)
// writes; setgroups is denied in it.
Result<Fd> make_userns(std::uint32_t uid, std::uint32_t count) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
  Fd hold_r(p[0]), hold_w(p[1]);
  clone_args ca{};
  ca.flags = CLONE_NEWUSER;
  ca.exit_signal = SIGCHLD;
  long rc = ::syscall(SYS_clone3, &ca, sizeof ca);
  if (rc < 0) return sys_error("clone3(CLONE_NEWUSER)");
  if (rc == 0) {
    ::close(p[1]);
    char c;
    (void)!::read(p[0], &c, 1);
    ::_exit(0);
  }
  auto pid = static_cast<pid_t>(rc);
  hold_r.reset();
  ScopeExit reap([&] {
    hold_w.reset();
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  });
  std::string proc = "/proc/" + std::to_string(pid) + "/";
  std::string map = "0 " + std::to_string(uid) + " " + std::to_string(count) + "\n";
  for (const auto& [file, text] : {std::pair<std::string, std::string>{"uid_map", map}, {"setgroups", "deny"},
                                   {"gid_map", map}}) {
    Fd f(::open((proc + file).c_str(), O_WRONLY | O_CLOEXEC));
    if (!f || ::write(f.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      return sys_error("user namespace: write " + proc + file);
  }
  Fd ns(::open((proc + "ns/user").c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return sys_error("open the user namespace");
  return ns;
}

struct ChildFds {
  int go_r, err_w, listen_fd, log_fd;
  int userns_fd = -1;
  const std::vector<Fd>* cgroup_roots = nullptr;  // SandboxCgroup::open_v1_roots
  const cpu_set_t* cpus = nullptr;  // the CPUs the child may use after the go
};

// Where the child reports a failure: fds.err_w until the descriptors are
// rearranged for faas-init, fd 4 after (close_range closes the original).
// The child has its own copy of memory (no CLONE_VM), so this is its own.
int g_child_err_fd = -1;

// PID 1 of the new namespaces: builds the root, confines itself, execs
// faas-init. Returns only on failure.
//
// The root is built first, while the parent makes the cgroups and records
// the pid (2 CPUs: the two overlap); the parent's word that the cgroups are
// made comes before joining them, and the go before anything that needs
// the pid recorded or the network namespace: the cgroup namespace rooted
// at the cgroups and the exec. A parent that gives up closes its end and
// the child leaves at the next read.
Result<void> child_setup(const SandboxSpec& spec, const fs::path& dir, const ChildFds& fds) {
  ::setsid();
  // Its mount and IPC namespaces made here, not by clone3: copying the
  // host's mount tree and an IPC namespace's mqueue mount and sysctls
  // (50 us) would hold up the parent, whose path (the cgroups, a network
  // namespace) is the longer.
  if (::unshare(CLONE_NEWNS | CLONE_NEWIPC) != 0) return sys_error("unshare(CLONE_NEWNS | CLONE_NEWIPC)");
  const bool fresh_net = spec.netns_path.empty();
  if (!fresh_net) {
    int nfd = ::open(spec.netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (nfd < 0) return sys_error("open netns " + q(spec.netns_path));
    if (::setns(nfd, CLONE_NEWNET) != 0) return sys_error("setns " + q(spec.netns_path));
    ::close(nfd);
  }
  std::string host = "faas-" + spec.id;
  if (::sethostname(host.c_str(), host.size()) != 0) return sys_error("sethostname");
  FAAS_TRY(do_mount("", "/", nullptr, MS_REC | MS_SLAVE));
  std::string root = (dir / "root").string();
  FAAS_TRY(mount_rootfs(spec, root, fds.userns_fd));
  for (const auto& [host_path, dest] : spec.binds_ro) FAAS_TRY(bind_ro_into(root, host_path, dest, fds.userns_fd));
  FAAS_TRY(setup_dev(root));
  FAAS_TRY(setup_proc(root));
  FAAS_TRY(setup_run(root, spec, dir));
  struct stat st{};
  if (::stat((root + "/tmp").c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    FAAS_TRY(do_mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m"));
  FAAS_TRY(do_mount("", root, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV));
  // Into the v1 cgroups as soon as the parent says they are there (the v2
  // one was joined by clone3), and the bounding set dropped: both before
  // the old root's detach below, which waits for an RCU grace period that
  // the parent's making of a network namespace holds up until it is done,
  // so that the work after the go is short.
  {
    char made = 0;
    ssize_t n;
    while ((n = ::read(fds.go_r, &made, 1)) < 0 && errno == EINTR) {
    }
    if (n == 0) ::_exit(1);  // the parent gave up (or died): leave quietly
    if (n < 0) return sys_error("wait for the cgroups");
  }
  FAAS_TRY(SandboxCgroup::attach_self_at(*fds.cgroup_roots, spec.id));
  if (fds.userns_fd < 0) FAAS_TRY(drop_sandbox_bounding_set());
  if (::chdir(root.c_str()) != 0) return sys_error("chdir " + q(root));
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return sys_error("pivot_root");
  if (::umount2(".", MNT_DETACH) != 0) return sys_error("detach the old root");
  if (::chdir("/") != 0) return sys_error("chdir /");

  // The go: one byte, carrying with a fresh network namespace that
  // namespace, made by the parent meanwhile (create_netns).
  {
    int nfd = -1;
    std::size_t nfds = 0, len = 0;
    char go[2];
    int rc = faas_wire_recv(fds.go_r, &nfd, 1, &nfds, go, sizeof go, &len);
    if (rc == FAAS_WIRE_EEOF) ::_exit(1);  // the parent gave up (or died): leave quietly
    if (rc != 0 && rc != FAAS_WIRE_ENOFD)
      return Error(Exit::os, std::string("the go: ") + faas_wire_strerror(rc));
    Fd net(nfds == 1 ? nfd : -1);
    if (fresh_net != static_cast<bool>(net))
      return Error(Exit::software, fresh_net ? "the go: no network namespace" : "the go: an unexpected fd");
    if (net && ::setns(net.get(), CLONE_NEWNET) != 0) return sys_error("setns(the new network namespace)");
  }
  if (fds.cpus != nullptr) (void)::sched_setaffinity(0, sizeof *fds.cpus, fds.cpus);
  // A cgroup namespace rooted at the sandbox's cgroups.
  if (::unshare(CLONE_NEWCGROUP) != 0) return sys_error("unshare(CLONE_NEWCGROUP)");
  if (spec.ksm) FAAS_TRY_CTX(enable_memory_merge(), "--ksm");
  if (fds.userns_fd >= 0) FAAS_TRY(enter_userns(fds.userns_fd));

  // fds: 0 /dev/null, 1 and 2 the log, 3 the control socket (listening),
  // 4 the error pipe (close-on-exec); nothing else crosses the exec.
  int listening = ::fcntl(fds.listen_fd, F_DUPFD_CLOEXEC, 100);
  int err = ::fcntl(fds.err_w, F_DUPFD_CLOEXEC, 100);
  int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (listening < 0 || err < 0 || null < 0) return sys_error("dup");
  if (::dup2(null, 0) < 0 || ::dup2(fds.log_fd, 1) < 0 || ::dup2(fds.log_fd, 2) < 0 ||
      ::dup2(listening, 3) < 0 || ::dup3(err, 4, O_CLOEXEC) < 0)
    return sys_error("dup2");
  g_child_err_fd = 4;
  if (::syscall(SYS_close_range, 5U, ~0U, 0U) != 0) return sys_error("close_range");

  std::vector<std::string> args{"faas-init", "--listen-fd", "3", "--loop", "--"};
  args.insert(args.end(), spec.cmd.begin(), spec.cmd.end());
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                               "HOME=/", "FAAS_SANDBOX_ID=" + spec.id};
  env.insert(env.end(), spec.env.begin(), spec.env.end());
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  FAAS_TRY(confine_sandbox_process());
  ::execve(kInitInside, argv.data(), envp.data());
  return sys_error(std::string("exec ") + kInitInside);
}

[[noreturn]] void child_main(const SandboxSpec& spec, const fs::path& dir, const ChildFds& fds) {
  g_child_err_fd = fds.err_w;
  auto r = child_setup(spec, dir, fds);
  std::string msg = r ? "exec returned" : r.error().what();
  (void)!::write(g_child_err_fd, msg.data(), msg.size());
  ::_exit(1);
}

// Reads fd until EOF, up to deadline (monotonic ns).
// Returns what was read; `timed_out` set when the deadline passed.
std::string read_until(int fd, std::uint64_t deadline_ns, bool& timed_out) {
  std::string out;
  timed_out = false;
  char buf[512];
  for (;;) {
    std::uint64_t now = now_ns();
    if (now >= deadline_ns) {
      timed_out = true;
      return out;
    }
    pollfd p{fd, POLLIN, 0};
    int ms = static_cast<int>((deadline_ns - now) / 1000000) + 1;
    int r = ::poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Kills the process behind pidfd and waits (bounded) for it to exit; reaps
// it when it is this process's child.
void kill_and_wait(int pidfd, int timeout_ms) {
  ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  pollfd p{pidfd, POLLIN, 0};
  while (::poll(&p, 1, timeout_ms) < 0 && errno == EINTR) {
  }
  siginfo_t si{};
  ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED | WNOHANG);
}

// RUN/sandbox-spares, for RUN/sandboxes/ID (see spare_dirs.hpp).
fs::path spares_next_to(const fs::path& dir) { return dir.parent_path().parent_path() / "sandbox-spares"; }

Result<void> remove_host_side(const fs::path& dir) {
  std::string inv = (dir / "invocations").string();
  if (::umount2(inv.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return sys_error("unmount " + q(inv));
  // The sandbox's tmpfs (EINVAL: none there, as for a sandbox whose start
  // failed before it was mounted).
  if (::umount2(dir.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return sys_error("unmount " + q(dir.string()));
  // Empty once its tmpfs is gone: kept for the next sandbox.
  if (leave_spare_dir(dir, spares_next_to(dir))) return {};
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return sys_error(ec.value(), "remove " + q(dir.string()));
  return {};
}

}  // namespace

Result<void> mount_invocation_root(const fs::path& merged, const fs::path& target,
                                   const std::vector<std::pair<fs::path, std::string>>& binds_ro, int userns_fd) {
  FAAS_TRY_ASSIGN(Fd tree, detached_tree(merged.string(), true, 0, -1));
  if (::syscall(SYS_move_mount, tree.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return sys_error("mount " + q(merged.string()) + " on " + q(target.string()));
  for (const auto& [host_path, dest] : binds_ro) FAAS_TRY(bind_ro_into(target.string(), host_path, dest, userns_fd));
  return {};
}

bool sandbox_alive(pid_t pid, std::uint64_t pid_start) {
  if (pid <= 0) return false;
  int fd = pidfd_open(pid);
  if (fd < 0) return false;
  bool alive = holder_alive(Holder{pid, pid_start});
  ::close(fd);
  return alive;
}

Result<SandboxProcess> spawn_sandbox(const SandboxSpec& spec,
                                     const std::function<Result<void>(pid_t, std::uint64_t)>& on_cloned) {
  if (spec.cmd.empty()) return Error(Exit::usage, "sandbox: no command");
  SandboxProcess sp;
  sp.dir = sandbox_dir(spec.run_dir, spec.id);
  sp.control = sandbox_control(spec.run_dir, spec.id);
  if (!take_spare_dir(spares_next_to(sp.dir), sp.dir)) {
    std::error_code ec;
    fs::create_directories(sp.dir.parent_path(), ec);
    if (ec) return sys_error(ec.value(), "create " + q(sp.dir.parent_path().string()), Exit::cant_create);
    if (::mkdir(sp.dir.c_str(), 0700) != 0) return sys_error("mkdir " + q(sp.dir.string()), Exit::cant_create);
  }
  bool cleanup = true;
  SandboxCgroup cg;
  ScopeExit undo([&] {
    if (!cleanup) return;
    (void)cg.remove();
    (void)remove_host_side(sp.dir);
  });
  // The sandbox's host side lives in a small tmpfs of its own: the run dir
  // may be on a disk, where each of the directories and the log below is a
  // journaled metadata update (0.4-1 ms each on a busy ext4).
  FAAS_TRY(do_mount("tmpfs", sp.dir.string(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=16m"));
  for (const char* d : {"ctl", "invocations", "root"}) FAAS_TRY(make_dir((sp.dir / d).string()));
  Fd userns;
  if (spec.userns_count > 0) {
    FAAS_TRY_ASSIGN(userns, make_userns(spec.userns_uid, spec.userns_count));
  }
  FAAS_TRY_ASSIGN(Fd listening, listen_on(sp.control));
  std::string inv = (sp.dir / "invocations").string();
  FAAS_TRY(do_mount(inv, inv, nullptr, MS_BIND));
  FAAS_TRY(do_mount("", inv, nullptr, MS_SHARED));
  // A sandbox is cloned into its v2 cgroup, which must exist first; v1
  // cgroups are made while the child builds its root (child_setup).
  const bool cgroup_first = SandboxCgroup::uses_v2();
  if (cgroup_first) {
    FAAS_TRY_ASSIGN(cg, SandboxCgroup::create(spec.id, spec.limits));
    sp.cgroup = cg.rel();
  }
  FAAS_TRY_ASSIGN(std::vector<Fd> cgroup_roots, SandboxCgroup::open_v1_roots());

  Fd log(::open((sp.dir / "init.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log) return sys_error("create init.log", Exit::cant_create);
  int go[2], err[2];
  // A socket, not a pipe: the go is sent with MSG_NOSIGNAL, as the child
  // may have failed and gone by then.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go) != 0) return sys_error("socketpair");
  Fd go_r(go[0]), go_w(go[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return sys_error("pipe");
  Fd err_r(err[0]), err_w(err[1]);

  int pidfd = -1;
  clone_args ca{};
  ca.flags = CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWUTS;
  ca.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
  ca.exit_signal = SIGCHLD;
  FAAS_TRY_ASSIGN(Fd cg_fd, cg.clone_fd());
  if (cg_fd) {
    ca.flags |= CLONE_INTO_CGROUP;
    ca.cgroup = static_cast<std::uint64_t>(cg_fd.get());
  }
  cpu_set_t cpus, others;
  bool spread = current_cpus(cpus);
  if (spread) {
    others = without_this_cpu(cpus);
    spread = CPU_COUNT(&others) > 0;
  }
  long rc = ::syscall(SYS_clone3, &ca, sizeof ca);
  if (rc < 0) return sys_error("clone3");
  if (rc == 0) {
    ::close(go[1]);
    ::close(err[0]);
    child_main(spec, sp.dir,
               ChildFds{go[0], err[1], listening.get(), log.get(), userns.get(), &cgroup_roots, spread ? &cpus : nullptr});
  }
  sp.pid = static_cast<pid_t>(rc);
  // The child builds its root on another CPU while this one makes the
  // cgroups (and a fresh network namespace): a new task otherwise starts
  // on its parent's CPU and, on a small VM, often waits there until the
  // parent blocks (0.2 ms of serial work). It takes back the parent's CPUs
  // at the go.
  if (spread) (void)::sched_setaffinity(sp.pid, sizeof others, &others);
  Fd pfd(pidfd);
  ScopeExit kill_child([&] { kill_and_wait(pfd.get(), 2000); });
  go_r.reset();
  err_w.reset();
  listening.reset();  // faas-init's now: gone when it is

  cgroup_roots.clear();
  if (!cgroup_first) {
    FAAS_TRY_ASSIGN(cg, SandboxCgroup::create(spec.id, spec.limits));
    sp.cgroup = cg.rel();
  }
  // The cgroups are there: the child joins them while it waits for the go.
  // (Failing, it has gone: its reason is read at the go below.)
  const char made = 'c';
  (void)::send(go_w.get(), &made, 1, MSG_NOSIGNAL);
  FAAS_TRY_ASSIGN(Holder h, holder_of(sp.pid));
  sp.pid_start = h.start_time;
  FAAS_TRY(on_cloned(sp.pid, sp.pid_start));
  std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(spec.ready_timeout_ms) * 1000000ULL;
  bool timed_out = false;
  // A fresh network namespace is made here rather than by clone3
  // (CLONE_NEWNET), which would run copy_net_ns (0.3-0.5 ms: every
  // subsystem's per-namespace set-up) before the child exists: here it
  // overlaps the child building its root, and is sent with the go. Owned
  // by this thread's user namespace, as a clone3's would be.
  Fd net;
  if (spec.netns_path.empty()) {
    FAAS_TRY_ASSIGN(net, create_netns());
  }
  char one = 1;
  int net_fd = net.get();
  if (net ? faas_wire_send(go_w.get(), &net_fd, 1, &one, 1) != 0
          : ::send(go_w.get(), &one, 1, MSG_NOSIGNAL) != 1) {
    // The child failed while building its root: its reason is on err.
    int e = errno;
    std::string why = read_until(err_r.get(), deadline, timed_out);
    if (!why.empty()) return Error(Exit::os, "sandbox " + spec.id + ": " + why);
    return sys_error(e, "start the sandbox");
  }
  go_w.reset();

  std::string msg = read_until(err_r.get(), deadline, timed_out);
  if (timed_out) return Error(Exit::temp, "sandbox " + spec.id + ": setup timed out");
  if (!msg.empty()) return Error(Exit::os, "sandbox " + spec.id + ": " + msg);
  kill_child.release();
  cleanup = false;
  return sp;
}

Result<void> destroy_sandbox(const fs::path& run_dir, const std::string& id, pid_t pid,
                             std::uint64_t pid_start) {
  if (pid > 0) {
    Fd pfd(pidfd_open(pid));
    if (pfd && holder_of(pid).ok() && holder_of(pid).value().start_time == pid_start)
      kill_and_wait(pfd.get(), 2000);
  }
  FAAS_TRY_CTX(SandboxCgroup::find(id).remove(), "sandbox " + id);
  FAAS_TRY_CTX(remove_host_side(sandbox_dir(run_dir, id)), "sandbox " + id);
  return {};
}

}  // namespace faas
