// Memory limits of sandbox cgroups, on cgroup v2 and v1.
//
// Sandbox cgroups live under the `faas` directory of the memory hierarchy
// (/sys/fs/cgroup/faas on v2, /sys/fs/cgroup/memory/faas on v1). A sandbox ID
// is resolved through the state store's `sandboxes` table (column `cgroup`,
// the path from the hierarchy root, e.g. "faas/web/3f2a9c"); a path is never
// taken from the command line or a record, and every open stays beneath
// <hierarchy>/faas (openat2 RESOLVE_BENEATH, no symlinks).
//
//   v2              v1
//   memory.current  memory.usage_in_bytes
//   memory.max      memory.limit_in_bytes
//   memory.high     memory.soft_limit_in_bytes (the nearest: a reclaim target
//                   under pressure, not a throttle)
//   memory.swap.max memory.memsw.limit_in_bytes - memory.limit_in_bytes
//   memory.reclaim  limit_in_bytes lowered to usage - BYTES, then restored
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "faas/fd.hpp"
#include "faas/records.hpp"
#include "faas/result.hpp"

namespace faas {

inline constexpr const char* kSandboxCgroupParent = "faas";

enum class CgroupVersion { v1, v2 };

struct MemoryHierarchy {
  std::filesystem::path mount;  // /sys/fs/cgroup or /sys/fs/cgroup/memory
  CgroupVersion version = CgroupVersion::v2;
};

// Where the memory controller is: a cgroup2 mount whose cgroup.controllers
// lists memory, else a v1 mount with the memory option. `controllers_of`
// reads a cgroup2 mount's cgroup.controllers (a parameter for tests).
Result<MemoryHierarchy> parse_memory_hierarchy(
    std::string_view mountinfo,
    const std::function<std::string(const std::filesystem::path&)>& controllers_of);
Result<MemoryHierarchy> find_memory_hierarchy(const std::string& mountinfo = "/proc/self/mountinfo");

// A memory limit: a byte count, or std::nullopt for none ("max").
using MemLimit = std::optional<std::uint64_t>;
Json limit_json(const MemLimit& l);            // 1048576 or "max"
Result<MemLimit> parse_limit(std::string_view s);  // "max", "512M", "1073741824"

struct MemLimitsRequest {
  std::optional<MemLimit> max, high, swap_max;  // unset: leave as is
  bool empty() const { return !max && !high && !swap_max; }
};

struct MemCgroupUsage {
  std::uint64_t current = 0;
  MemLimit max, high, swap_max;
  std::optional<std::uint64_t> swap;  // swap in use, when the kernel counts it
};

class MemCgroup {
 public:
  // Opens <hierarchy>/<rel>; rel must start with "faas/" and name a
  // directory beneath it. Exit::data for a path that leaves it,
  // Exit::no_input when it does not exist.
  static Result<MemCgroup> open(const MemoryHierarchy& h, std::string_view rel);

  const std::filesystem::path& dir() const { return dir_; }
  CgroupVersion version() const { return version_; }

  Result<MemCgroupUsage> read() const;
  // Writes the requested limits, each change {"knob", "before", "after"}.
  Result<Json> set_limits(const MemLimitsRequest& req, bool dry_run) const;
  // Reclaims about `bytes`: {"requested", "before", "after", "reclaimed",
  // "complete", "method"}; "complete" false when the kernel could not.
  Result<Json> reclaim(std::uint64_t bytes, bool dry_run) const;

 private:
  MemCgroup(Fd fd, std::filesystem::path dir, CgroupVersion v)
      : fd_(std::move(fd)), dir_(std::move(dir)), version_(v) {}
  Result<std::string> read_file(const char* name) const;
  Result<void> write_file(const char* name, std::string_view value) const;
  bool has(const char* name) const;
  Result<MemLimit> read_limit(const char* name) const;
  Result<std::uint64_t> read_u64(const char* name) const;

  Fd fd_;
  std::filesystem::path dir_;
  CgroupVersion version_;
};

Json usage_json(const MemCgroupUsage& u);  // {current, max, high, swap_max, swap}

// A sandbox's cgroup as the state store records it.
struct SandboxCgroup {
  std::string id;
  std::string cgroup;  // from the hierarchy root: "faas/web/3f2a9c"
};

// The sandboxes with a cgroup in the run dir's database, run.db (read-only;
// empty when there is no database or no `sandboxes` table yet).
Result<std::vector<SandboxCgroup>> list_sandbox_cgroups(const std::filesystem::path& run_dir);
// Exit::no_input: "no sandbox `ID' in <run_dir>".
Result<SandboxCgroup> find_sandbox_cgroup(const std::filesystem::path& run_dir, std::string_view id);

}  // namespace faas
