#include "faas/sandbox_cgroup.hpp"
#include "faas/timing.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace faas {

namespace {

namespace fs = std::filesystem;

constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

Result<void> write_file(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("open `" + path + "`");
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n < 0) return sys_error(err, "write `" + value + "` to `" + path + "`");
  return {};
}

bool v2_has(const std::string& controller) {
  std::ifstream in(std::string(kCgroupRoot) + "/cgroup.controllers");
  std::string word;
  while (in >> word)
    if (word == controller) return true;
  return false;
}

bool v1_has(const std::string& controller) {
  return fs::exists(std::string(kCgroupRoot) + "/" + controller + "/tasks");
}

struct Place {
  std::string controller;
  std::string base;  // the hierarchy's root directory
  bool v2;
};

// Where each controller lives; the unified hierarchy counts once.
// Read once per process: a sandbox's start asks three times (uses_v2,
// open_v1_roots, create), each a read of cgroup.controllers per controller.
const std::vector<Place>& places() {
  static const std::vector<Place> found = [] {
    std::vector<Place> out;
    bool unified = false;
    for (const char* c : {"memory", "pids", "cpu"}) {
      if (v2_has(c)) {
        if (!unified) out.push_back({c, kCgroupRoot, true});
        unified = true;
      } else if (v1_has(c)) {
        out.push_back({c, std::string(kCgroupRoot) + "/" + c, false});
      }
    }
    return out;
  }();
  return found;
}

}  // namespace

Result<SandboxCgroup> SandboxCgroup::create(const std::string& id, const CgroupLimits& limits) {
  SandboxCgroup cg;
  cg.rel_ = "faas/" + id;
  const auto& ps = places();
  if (ps.empty())
    return Error(Exit::unavailable, "cgroups: no memory, pids or cpu controller under /sys/fs/cgroup");
  for (const auto& p : ps) {
    std::string parent = p.base + "/faas";
    if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST)
      return sys_error("cgroup: mkdir `" + parent + "`");
    if (p.v2) {
      // Delegate the controllers to faas/ and its children (best effort:
      // a controller missing from the root's list is simply not limited).
      for (const char* c : {"memory", "pids", "cpu"})
        if (v2_has(c)) {
          (void)write_file(p.base + "/cgroup.subtree_control", std::string("+") + c);
          (void)write_file(parent + "/cgroup.subtree_control", std::string("+") + c);
        }
    }
    std::string dir = parent + "/" + id;
    if (::mkdir(dir.c_str(), 0755) != 0) {
      auto e = sys_error("cgroup: mkdir `" + dir + "`", Exit::cant_create);
      (void)cg.remove(0);
      return e;
    }
    cg.dirs_.push_back(dir);
    if (p.v2) cg.v2_dir_ = dir;
    Result<void> r;
    if (p.v2) {
      if (limits.memory_bytes && r) r = write_file(dir + "/memory.max", std::to_string(limits.memory_bytes));
      if (limits.memory_bytes && r && fs::exists(dir + "/memory.swap.max"))
        r = write_file(dir + "/memory.swap.max", "0");
      if (limits.pids && r) r = write_file(dir + "/pids.max", std::to_string(limits.pids));
      if (limits.cpu_weight && r) r = write_file(dir + "/cpu.weight", std::to_string(limits.cpu_weight));
    } else if (p.controller == "memory" && limits.memory_bytes) {
      r = write_file(dir + "/memory.limit_in_bytes", std::to_string(limits.memory_bytes));
    } else if (p.controller == "pids" && limits.pids) {
      r = write_file(dir + "/pids.max", std::to_string(limits.pids));
    } else if (p.controller == "cpu" && limits.cpu_weight) {
      r = write_file(dir + "/cpu.shares", std::to_string(limits.cpu_weight * 1024 / 100));
    }
    if (!r) {
      (void)cg.remove(0);
      return std::move(r).error().wrap("cgroup " + cg.rel_);
    }
  }
  return cg;
}

SandboxCgroup SandboxCgroup::find(const std::string& id) {
  SandboxCgroup cg;
  cg.rel_ = "faas/" + id;
  for (const auto& p : places()) {
    std::string dir = p.base + "/faas/" + id;
    if (!fs::exists(dir)) continue;
    cg.dirs_.push_back(dir);
    if (p.v2) cg.v2_dir_ = dir;
  }
  return cg;
}

Result<void> SandboxCgroup::attach(pid_t pid) const {
  for (const auto& d : dirs_) FAAS_TRY_CTX(write_file(d + "/cgroup.procs", std::to_string(pid)), "cgroup attach");
  return {};
}

bool SandboxCgroup::uses_v2() {
  for (const auto& p : places())
    if (p.v2) return true;
  return false;
}

Result<std::vector<Fd>> SandboxCgroup::open_v1_roots() {
  std::vector<Fd> out;
  for (const auto& p : places()) {
    if (p.v2) continue;
    Fd fd(::open(p.base.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return sys_error("cgroup: open `" + p.base + "`");
    out.push_back(std::move(fd));
  }
  return out;
}

Result<void> SandboxCgroup::attach_self_at(const std::vector<Fd>& roots, const std::string& id) {
  const std::string tasks = "faas/" + id + "/tasks";
  for (const auto& r : roots) {
    Fd fd(::openat(r.get(), tasks.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return sys_error("cgroup attach: open `" + tasks + "`");
    if (::write(fd.get(), "0", 1) != 1) return sys_error("cgroup attach: write 0 to `" + tasks + "`");
  }
  return {};
}

Result<Fd> SandboxCgroup::clone_fd() const {
  if (v2_dir_.empty()) return Fd();
  Fd fd(::open(v2_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return sys_error("cgroup: open `" + v2_dir_ + "`");
  return fd;
}

Result<std::size_t> SandboxCgroup::procs() const {
  if (dirs_.empty()) return Error(Exit::no_input, "cgroup " + rel_ + ": not found");
  std::string pick = dirs_.front();
  for (const auto& d : dirs_)
    if (d.find("/pids/") != std::string::npos) pick = d;
  std::ifstream in(pick + "/cgroup.procs");
  if (!in) return sys_error("open `" + pick + "/cgroup.procs`");
  std::size_t n = 0;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) ++n;
  return n;
}

Result<void> SandboxCgroup::remove(int timeout_ms) const {
  int waited = 0, step = 1;
  for (const auto& d : dirs_) {
    while (::rmdir(d.c_str()) != 0) {
      if (errno == ENOENT) break;
      if (errno != EBUSY || waited >= timeout_ms) return sys_error("cgroup: rmdir `" + d + "`");
      sleep_ms(step);
      waited += step;
      step = std::min(step * 2, 50);
    }
  }
  return {};
}

}  // namespace faas
