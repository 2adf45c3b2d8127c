#include "faas/netns.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "faas/scope_exit.hpp"

namespace faas {

namespace {

// lo is ifindex 1 in every new namespace.
constexpr int kLoopbackIndex = 1;

Result<Fd> open_self_netns() {
  Fd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!fd) return sys_error("open /proc/thread-self/ns/net");
  return fd;
}

// Whether path is a mount point of this mount namespace (mountinfo's fifth
// field; st_dev cannot tell a bind mount of the same filesystem).
bool is_mount_point(const char* path) {
  std::string target(path);
  FILE* f = std::fopen("/proc/self/mountinfo", "re");
  if (f == nullptr) return false;
  char* line = nullptr;
  std::size_t cap = 0;
  bool found = false;
  while (::getline(&line, &cap, f) > 0) {
    // id parent major:minor root mountpoint ...
    char mnt[4096];
    if (std::sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 && target == mnt) found = true;
  }
  std::free(line);
  std::fclose(f);
  return found;
}

// Makes a new network namespace for the calling thread, runs `inside`
// there and returns the thread to its own; the new namespace's fd. Not
// coming back cannot happen with the privilege the unshare just had, and a
// thread left in an empty namespace would misdirect every later step: the
// process aborts then.
Result<Fd> in_new_netns(const std::function<Result<void>()>& inside) {
  FAAS_TRY_ASSIGN(Fd orig, open_self_netns());
  if (::unshare(CLONE_NEWNET) != 0) return sys_error("unshare(CLONE_NEWNET)");
  ScopeExit back([&] {
    if (::setns(orig.get(), CLONE_NEWNET) != 0) {
      std::fprintf(stderr, "faaskit: cannot return to the network namespace: %s\n", std::strerror(errno));
      std::abort();
    }
  });
  FAAS_TRY_ASSIGN(Fd made, open_self_netns());
  FAAS_TRY(inside());
  return made;
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_send_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

}  // namespace

Result<void> ensure_netns_dir() {
  if (::mkdir(kNetnsDir, 0755) != 0 && errno != EEXIST)
    return sys_error(std::string("create ") + q(kNetnsDir), Exit::cant_create);
  Fd dir(::open(kNetnsDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return sys_error(std::string("open ") + q(kNetnsDir));
  if (::flock(dir.get(), LOCK_EX) != 0) return sys_error(std::string("lock ") + q(kNetnsDir));
  // MS_SHARED on an existing mount point is cheap and idempotent; EINVAL
  // means it is not one yet: bind it onto itself first (iproute2 does this).
  if (::mount("", kNetnsDir, "none", MS_SHARED | MS_REC, nullptr) == 0) return {};
  if (errno != EINVAL) return sys_error(std::string("make ") + q(kNetnsDir) + " shared");
  if (!is_mount_point(kNetnsDir)) {
    if (::mount(kNetnsDir, kNetnsDir, "none", MS_BIND | MS_REC, nullptr) != 0)
      return sys_error(std::string("bind mount ") + q(kNetnsDir));
  }
  if (::mount("", kNetnsDir, "none", MS_SHARED | MS_REC, nullptr) != 0)
    return sys_error(std::string("make ") + q(kNetnsDir) + " shared");
  return {};
}

Result<NetnsGuard> NetnsGuard::enter(int netns_fd) {
  NetnsGuard g;
  FAAS_TRY_ASSIGN(g.orig_, open_self_netns());
  if (::setns(netns_fd, CLONE_NEWNET) != 0) return sys_error("setns into a network namespace");
  return g;
}

NetnsGuard::~NetnsGuard() {
  if (orig_ && ::setns(orig_.get(), CLONE_NEWNET) != 0) {
    // Staying in the wrong namespace would misdirect every later step.
    std::abort();
  }
}

std::string netns_path(std::string_view name) {
  return std::string(kNetnsDir) + "/" + std::string(name);
}

bool valid_netns_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool netns_pinned(std::string_view name) {
  struct statfs sf {};
  std::string p = netns_path(name);
  return ::statfs(p.c_str(), &sf) == 0 && sf.f_type == NSFS_MAGIC;
}

Result<netlink::Socket> socket_in(int netns_fd) {
  FAAS_TRY_ASSIGN(auto guard, NetnsGuard::enter(netns_fd));
  return netlink::Socket::open();
}

Result<NamedNetns> create_named_netns(std::string_view name) {
  if (!valid_netns_name(name)) return Error(Exit::software, "bad netns name " + q(name));
  std::string path = netns_path(name);
  {
    Fd f(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
    if (!f) return sys_error("create " + q(path), Exit::cant_create).with_status(Exit::cant_create);
  }
  ScopeExit unlink_file([&] { ::unlink(path.c_str()); });

  NamedNetns out;
  FAAS_TRY_ASSIGN(out.fd, in_new_netns([&]() -> Result<void> {
    FAAS_TRY_ASSIGN(out.socket, netlink::Socket::open());
    if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0)
      return sys_error("bind mount the namespace on " + q(path));
    ScopeExit unmount([&] { ::umount2(path.c_str(), MNT_DETACH); });
    FAAS_TRY_CTX(netlink::set_link(out.socket, kLoopbackIndex, true), "bring lo up in " + q(name));
    unmount.release();
    return {};
  }));
  unlink_file.release();
  return out;
}

Result<Fd> create_netns() {
  // lo up by ioctl: with no other use for an rtnetlink socket, opening one
  // and a RTM_NEWLINK round trip cost 50-60 us more (a sandbox's start
  // makes one of these on its longer path).
  return in_new_netns([]() -> Result<void> {
    Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s) return sys_error("socket");
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) return sys_error("lo: SIOCGIFFLAGS");
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) return sys_error("lo: SIOCSIFFLAGS");
    return {};
  });
}

Result<NamedNetns> open_named_netns(std::string_view name) {
  if (!valid_netns_name(name) || !netns_pinned(name))
    return Error(Exit::no_input, "network namespace " + q(name) + " is not pinned in " +
                                     std::string(kNetnsDir));
  std::string path = netns_path(name);
  NamedNetns out;
  out.fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!out.fd) return sys_error("open " + q(path));
  FAAS_TRY_ASSIGN(out.socket, socket_in(out.fd.get()));
  return out;
}

Result<bool> delete_named_netns(std::string_view name) {
  if (!valid_netns_name(name)) return false;
  std::string path = netns_path(name);
  bool had = false;
  // A path mounted more than once (a racing creator) needs one umount each.
  while (::umount2(path.c_str(), MNT_DETACH) == 0) had = true;
  if (errno != EINVAL && errno != ENOENT) return sys_error("unmount " + q(path));
  if (::unlink(path.c_str()) == 0) had = true;
  else if (errno != ENOENT) return sys_error("remove " + q(path));
  return had;
}

Result<std::vector<pid_t>> processes_in_netns(int netns_fd) {
  struct stat ns {};
  if (::fstat(netns_fd, &ns) != 0) return sys_error("stat a network namespace");
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return sys_error("open /proc");
  ScopeExit close_dir([&] { ::closedir(d); });
  const pid_t self = ::getpid();
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || pid <= 1 || pid == self) continue;
    std::string p = "/proc/" + std::string(e->d_name) + "/ns/net";
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) continue;  // gone, or a kernel thread
    if (st.st_ino == ns.st_ino && st.st_dev == ns.st_dev) out.push_back(static_cast<pid_t>(pid));
  }
  return out;
}

Result<int> kill_netns_processes(int netns_fd, int timeout_ms) {
  FAAS_TRY_ASSIGN(auto pids, processes_in_netns(netns_fd));
  std::vector<Fd> fds;
  for (pid_t p : pids) {
    Fd fd(pidfd_open(p));
    if (!fd) continue;  // already gone
    if (pidfd_send_signal(fd.get(), SIGKILL) != 0 && errno != ESRCH)
      return sys_error("kill pid " + std::to_string(p) + " inside the namespace");
    fds.push_back(std::move(fd));
  }
  // A pidfd polls readable once its process has exited.
  for (auto& fd : fds) {
    pollfd pfd{fd.get(), POLLIN, 0};
    int r;
    do {
      r = ::poll(&pfd, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return Error(Exit::temp, "a process inside the namespace outlived SIGKILL");
  }
  return static_cast<int>(fds.size());
}

}  // namespace faas
