// Named network namespaces without a subprocess: unshare(CLONE_NEWNET) in
// the calling thread, a bind mount of its nsfs file onto /run/netns/NAME
// (a shared mount point, as iproute2 makes it, so `ip netns exec NAME`
// works), and setns back. Plus the processes inside a namespace.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "faas/fd.hpp"
#include "faas/netlink.hpp"
#include "faas/result.hpp"

namespace faas {

inline constexpr const char* kNetnsDir = "/run/netns";

// Makes /run/netns a shared mount point (bind-mounted onto itself when it
// is not a mount point yet), under a lock so concurrent callers agree.
Result<void> ensure_netns_dir();

// NetnsGuard: enters a namespace and returns to the original one at scope
// exit. The calling thread's namespace only.
class NetnsGuard {
 public:
  static Result<NetnsGuard> enter(int netns_fd);
  NetnsGuard(NetnsGuard&&) noexcept = default;
  NetnsGuard& operator=(NetnsGuard&&) = delete;
  NetnsGuard(const NetnsGuard&) = delete;
  ~NetnsGuard();

 private:
  NetnsGuard() = default;
  Fd orig_;
};

struct NamedNetns {
  Fd fd;                    // the namespace (nsfs, O_CLOEXEC)
  netlink::Socket socket;   // an rtnetlink socket inside it
};

// Path of a named namespace: /run/netns/NAME.
std::string netns_path(std::string_view name);
// Names iproute2 accepts and that stay one path component.
bool valid_netns_name(std::string_view name);

// A new network namespace with `lo` up, not pinned anywhere: made by the
// calling thread, which is back in its own when this returns; the fd holds
// it (a process joins it with setns). Owned by the thread's user namespace.
Result<Fd> create_netns();

// Creates a new network namespace pinned at /run/netns/NAME with `lo` up.
// EEXIST is Exit::cant_create. On failure nothing is left behind.
Result<NamedNetns> create_named_netns(std::string_view name);
// Opens a pinned namespace and an rtnetlink socket inside it; Exit::no_input
// when NAME is not a pinned namespace.
Result<NamedNetns> open_named_netns(std::string_view name);
// Unpins: umount2(MNT_DETACH) and unlink. false when there was nothing.
Result<bool> delete_named_netns(std::string_view name);
// Whether /run/netns/NAME is a namespace (an nsfs mount), not a bare file.
bool netns_pinned(std::string_view name);

// An rtnetlink socket inside the namespace of netns_fd.
Result<netlink::Socket> socket_in(int netns_fd);

// The processes whose network namespace is the one of netns_fd.
Result<std::vector<pid_t>> processes_in_netns(int netns_fd);
// SIGKILLs them (through pidfds, so a recycled pid is never hit) and waits
// up to timeout_ms for them to be gone. Returns how many were killed;
// Exit::temp when some outlived the timeout.
Result<int> kill_netns_processes(int netns_fd, int timeout_ms = 2000);

}  // namespace faas
