#include "faas/cgroup_mem.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sqlite3.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "faas/state.hpp"
#include "faas/sysfs.hpp"
#include "faas/units.hpp"

namespace faas {

namespace {

// v1 reports "no limit" as PAGE_COUNTER_MAX pages: 0x7ffffffffffff000 on
// 4 KiB pages. Anything past 2^62 is no limit.
constexpr std::uint64_t kV1Unlimited = 1ull << 62;

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    std::size_t p = s.find(sep);
    out.push_back(s.substr(0, p));
    if (p == std::string_view::npos) break;
    s = s.substr(p + 1);
  }
  return out;
}

std::string unescape_octal(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 4, v, 8);
      if (ec == std::errc() && p == s.data() + i + 4) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

bool has_word(std::string_view list, std::string_view word, char sep) {
  for (auto w : split(list, sep))
    if (w == word) return true;
  return false;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Json change(std::string knob, Json before, Json after) {
  return Json{{"knob", std::move(knob)}, {"before", std::move(before)}, {"after", std::move(after)}};
}

}  // namespace

Result<MemoryHierarchy> parse_memory_hierarchy(
    std::string_view mountinfo,
    const std::function<std::string(const std::filesystem::path&)>& controllers_of) {
  std::optional<MemoryHierarchy> v1;
  for (auto line : split(mountinfo, '\n')) {
    if (line.empty()) continue;
    std::size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    auto left = split(line.substr(0, dash), ' ');
    auto right = split(line.substr(dash + 3), ' ');
    if (left.size() < 5 || right.size() < 3) continue;
    std::filesystem::path mnt = unescape_octal(left[4]);
    if (right[0] == "cgroup2") {
      std::string ctl = trim(controllers_of(mnt));
      for (auto w : split(ctl, ' '))
        if (w == "memory") return MemoryHierarchy{mnt, CgroupVersion::v2};
    } else if (right[0] == "cgroup" && !v1 && has_word(right[2], "memory", ',')) {
      v1 = MemoryHierarchy{mnt, CgroupVersion::v1};
    }
  }
  if (v1) return *v1;
  return Error(Exit::unavailable, "no cgroup hierarchy with the memory controller is mounted");
}

Result<MemoryHierarchy> find_memory_hierarchy(const std::string& mountinfo) {
  FAAS_TRY_ASSIGN(std::string text, read_small_file(mountinfo));
  return parse_memory_hierarchy(text, [](const std::filesystem::path& p) {
    auto r = read_small_file(p / "cgroup.controllers");
    return r ? *r : std::string();
  });
}

Json limit_json(const MemLimit& l) { return l ? Json(*l) : Json("max"); }

Result<MemLimit> parse_limit(std::string_view s) {
  if (s == "max" || s == "none" || s == "-1") return MemLimit();
  FAAS_TRY_ASSIGN(std::uint64_t b, parse_bytes(s));
  return MemLimit(b);
}

Result<MemCgroup> MemCgroup::open(const MemoryHierarchy& h, std::string_view rel) {
  while (rel.starts_with('/')) rel.remove_prefix(1);
  std::string prefix = std::string(kSandboxCgroupParent) + "/";
  if (!rel.starts_with(prefix))
    return Error(Exit::data, "cgroup `" + std::string(rel) + "' is not beneath `" + prefix + "'");
  std::string_view below = rel.substr(prefix.size());
  while (!below.empty() && below.back() == '/') below.remove_suffix(1);
  if (below.empty()) return Error(Exit::data, "cgroup `" + std::string(rel) + "' names no sandbox cgroup");
  for (auto part : split(below, '/'))
    if (part.empty() || part == "." || part == "..")
      return Error(Exit::data, "cgroup `" + std::string(rel) + "': `" + std::string(part) +
                                   "' is not allowed in a cgroup path");
  std::filesystem::path parent = h.mount / kSandboxCgroupParent;
  Fd pfd(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!pfd) {
    if (errno == ENOENT) return Error(Exit::no_input, "no sandbox cgroup parent `" + parent.string() + "'");
    return sys_error("open `" + parent.string() + "'");
  }
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  std::string sub(below);
  int fd = static_cast<int>(::syscall(SYS_openat2, pfd.get(), sub.c_str(), &how, sizeof how));
  std::filesystem::path dir = parent / sub;
  if (fd < 0) {
    if (errno == ENOENT) return Error(Exit::no_input, "no cgroup `" + dir.string() + "'");
    return sys_error("open cgroup `" + dir.string() + "'");
  }
  return MemCgroup(Fd(fd), dir, h.version);
}

bool MemCgroup::has(const char* name) const {
  return ::faccessat(fd_.get(), name, F_OK, 0) == 0;
}

Result<std::string> MemCgroup::read_file(const char* name) const {
  // O_PATH directory fds serve openat() lookups.
  Fd fd(::openat(fd_.get(), name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  std::string p = (dir_ / name).string();
  if (!fd) {
    if (errno == ENOENT) return Error(Exit::unavailable, "this kernel has no `" + p + "'");
    return sys_error("open `" + p + "'");
  }
  FAAS_TRY_ASSIGN(std::string out, read_fd(fd.get(), "`" + p + "'"));
  return trim(out);
}

Result<void> MemCgroup::write_file(const char* name, std::string_view value) const {
  std::string p = (dir_ / name).string();
  Fd fd(::openat(fd_.get(), name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return Error(Exit::unavailable, "this kernel has no `" + p + "'");
    return sys_error("open `" + p + "'");
  }
  ssize_t n;
  do n = ::write(fd.get(), value.data(), value.size());
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    std::string what = "write `" + std::string(value) + "' to `" + p + "'";
    if (err == EINVAL) return Error(Exit::usage, what, err);
    return sys_error(err, what);
  }
  return {};
}

Result<std::uint64_t> MemCgroup::read_u64(const char* name) const {
  FAAS_TRY_ASSIGN(std::string s, read_file(name));
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    return Error(Exit::data, (dir_ / name).string() + ": not a number: `" + s + "'");
  return v;
}

Result<MemLimit> MemCgroup::read_limit(const char* name) const {
  FAAS_TRY_ASSIGN(std::string s, read_file(name));
  if (s == "max") return MemLimit();
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    return Error(Exit::data, (dir_ / name).string() + ": not a limit: `" + s + "'");
  if (version_ == CgroupVersion::v1 && v >= kV1Unlimited) return MemLimit();
  return MemLimit(v);
}

Result<MemCgroupUsage> MemCgroup::read() const {
  MemCgroupUsage u;
  if (version_ == CgroupVersion::v2) {
    FAAS_TRY_ASSIGN(u.current, read_u64("memory.current"));
    FAAS_TRY_ASSIGN(u.max, read_limit("memory.max"));
    FAAS_TRY_ASSIGN(u.high, read_limit("memory.high"));
    if (has("memory.swap.max")) {
      FAAS_TRY_ASSIGN(u.swap_max, read_limit("memory.swap.max"));
      FAAS_TRY_ASSIGN(u.swap, read_u64("memory.swap.current"));
    }
    return u;
  }
  FAAS_TRY_ASSIGN(u.current, read_u64("memory.usage_in_bytes"));
  FAAS_TRY_ASSIGN(u.max, read_limit("memory.limit_in_bytes"));
  FAAS_TRY_ASSIGN(u.high, read_limit("memory.soft_limit_in_bytes"));
  if (has("memory.memsw.limit_in_bytes")) {
    FAAS_TRY_ASSIGN(MemLimit memsw, read_limit("memory.memsw.limit_in_bytes"));
    FAAS_TRY_ASSIGN(std::uint64_t memsw_usage, read_u64("memory.memsw.usage_in_bytes"));
    if (memsw && u.max) u.swap_max = *memsw > *u.max ? *memsw - *u.max : 0;
    u.swap = memsw_usage > u.current ? memsw_usage - u.current : 0;
  }
  return u;
}

Json usage_json(const MemCgroupUsage& u) {
  return Json{{"current", u.current},
              {"max", limit_json(u.max)},
              {"high", limit_json(u.high)},
              {"swap_max", limit_json(u.swap_max)},
              {"swap", u.swap ? Json(*u.swap) : Json(nullptr)}};
}

Result<Json> MemCgroup::set_limits(const MemLimitsRequest& req, bool dry_run) const {
  Json changes = Json::array();
  auto text = [&](const MemLimit& l) {
    if (!l) return std::string(version_ == CgroupVersion::v2 ? "max" : "-1");
    return std::to_string(*l);
  };
  // Writes one limit file, recording before and after as the kernel reads them.
  auto apply = [&](const char* file, const MemLimit& want) -> Result<void> {
    FAAS_TRY_ASSIGN(MemLimit before, read_limit(file));
    Json ch = change((dir_ / file).string(), limit_json(before), limit_json(want));
    if (!dry_run) {
      FAAS_TRY(write_file(file, text(want)));
      FAAS_TRY_ASSIGN(MemLimit after, read_limit(file));
      ch["after"] = limit_json(after);
    }
    changes.push_back(std::move(ch));
    return {};
  };

  if (version_ == CgroupVersion::v2) {
    if (req.swap_max && !has("memory.swap.max"))
      return Error(Exit::unavailable, "this kernel has no `" + (dir_ / "memory.swap.max").string() +
                                          "' (swap accounting off)");
    if (req.high) FAAS_TRY(apply("memory.high", *req.high));
    if (req.max) FAAS_TRY(apply("memory.max", *req.max));
    if (req.swap_max) FAAS_TRY(apply("memory.swap.max", *req.swap_max));
    return Json{{"changes", std::move(changes)}};
  }

  // v1: memsw.limit (memory + swap) must stay >= limit at every step.
  bool memsw = has("memory.memsw.limit_in_bytes");
  if (req.swap_max && !memsw)
    return Error(Exit::unavailable, "this kernel has no `" +
                                        (dir_ / "memory.memsw.limit_in_bytes").string() +
                                        "' (swap accounting off: boot with swapaccount=1)");
  FAAS_TRY_ASSIGN(MemCgroupUsage now, read());
  if (req.high) FAAS_TRY(apply("memory.soft_limit_in_bytes", *req.high));
  if (!req.max && !req.swap_max) return Json{{"changes", std::move(changes)}};
  MemLimit new_max = req.max ? *req.max : now.max;
  FAAS_TRY_ASSIGN(MemLimit old_memsw, memsw ? read_limit("memory.memsw.limit_in_bytes") : MemLimit());
  if (!memsw || (!req.swap_max && !old_memsw)) {  // no swap limit to keep in step
    FAAS_TRY(apply("memory.limit_in_bytes", new_max));
    return Json{{"changes", std::move(changes)}};
  }
  MemLimit swap_allow = req.swap_max ? *req.swap_max : now.swap_max;
  MemLimit new_memsw;
  if (new_max && swap_allow) new_memsw = *new_max + *swap_allow;
  // The kernel keeps memsw >= limit at every step: write memsw first when
  // it does not go below the current limit, else the limit first.
  bool memsw_first = !new_memsw || (now.max && *new_memsw >= *now.max);
  if (memsw_first) {
    FAAS_TRY(apply("memory.memsw.limit_in_bytes", new_memsw));
    FAAS_TRY(apply("memory.limit_in_bytes", new_max));
  } else {
    FAAS_TRY(apply("memory.limit_in_bytes", new_max));
    FAAS_TRY(apply("memory.memsw.limit_in_bytes", new_memsw));
  }
  return Json{{"changes", std::move(changes)}};
}

Result<Json> MemCgroup::reclaim(std::uint64_t bytes, bool dry_run) const {
  FAAS_TRY_ASSIGN(MemCgroupUsage before, read());
  Json out{{"requested", bytes}, {"before", before.current}};
  if (version_ == CgroupVersion::v2) {
    out["method"] = "memory.reclaim";
    if (!has("memory.reclaim"))
      return Error(Exit::unavailable, "this kernel has no `" + (dir_ / "memory.reclaim").string() +
                                          "' (Linux 5.19+)");
    bool complete = true;
    if (!dry_run) {
      auto r = write_file("memory.reclaim", std::to_string(bytes));
      if (!r) {
        if (r.error().err() != EAGAIN) return std::move(r).error();
        complete = false;  // the kernel reclaimed less than asked
      }
    }
    FAAS_TRY_ASSIGN(MemCgroupUsage after, read());
    out["after"] = after.current;
    out["reclaimed"] = before.current > after.current ? before.current - after.current : 0;
    out["complete"] = complete;
    return out;
  }
  // v1 has no memory.reclaim: lower limit_in_bytes to usage - BYTES, which
  // makes the kernel reclaim down to it (EBUSY when it cannot), then put
  // the old limit back.
  out["method"] = "memory.limit_in_bytes";
  std::uint64_t target = before.current > bytes ? before.current - bytes : 0;
  bool complete = true;
  if (!dry_run && bytes > 0) {
    FAAS_TRY_ASSIGN(std::string old_limit, read_file("memory.limit_in_bytes"));
    auto r = write_file("memory.limit_in_bytes", std::to_string(target));
    auto restore = write_file("memory.limit_in_bytes", old_limit);
    if (!restore) return std::move(restore).error().wrap("restore the memory limit");
    if (!r) {
      if (r.error().err() != EBUSY) return std::move(r).error();
      complete = false;
    }
  }
  FAAS_TRY_ASSIGN(MemCgroupUsage after, read());
  out["after"] = after.current;
  out["reclaimed"] = before.current > after.current ? before.current - after.current : 0;
  out["complete"] = complete;
  return out;
}

// run.db's `sandboxes` table, read-only: this never creates the
// database or the table (faas-pool owns them).
namespace {

struct Db {
  sqlite3* db = nullptr;
  ~Db() { sqlite3_close(db); }
};
struct St {
  sqlite3_stmt* st = nullptr;
  ~St() { sqlite3_finalize(st); }
};

// Rows of (id, cgroup), optionally for one id; empty without a table.
Result<std::vector<SandboxCgroup>> query_sandboxes(const std::filesystem::path& run_dir,
                                                   const std::string* id) {
  std::vector<SandboxCgroup> out;
  std::filesystem::path file = run_dir / kRunDbName;
  if (::access(file.c_str(), F_OK) != 0) return out;
  Db db;
  if (sqlite3_open_v2(file.c_str(), &db.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    return Error(Exit::io, "open state `" + file.string() + "': " +
                               (db.db ? sqlite3_errmsg(db.db) : "out of memory"));
  sqlite3_busy_timeout(db.db, 5000);
  {
    St st;
    const char* q = "SELECT 1 FROM pragma_table_info('sandboxes') WHERE name = 'cgroup'";
    if (sqlite3_prepare_v2(db.db, q, -1, &st.st, nullptr) != SQLITE_OK)
      return Error(Exit::io, "state `" + file.string() + "': " + sqlite3_errmsg(db.db));
    int rc = sqlite3_step(st.st);
    if (rc == SQLITE_BUSY) return Error(Exit::temp, "state `" + file.string() + "': busy");
    if (rc != SQLITE_ROW) return out;  // no sandboxes table with cgroups yet
  }
  St st;
  std::string q = "SELECT id, cgroup FROM sandboxes WHERE cgroup IS NOT NULL AND cgroup != ''";
  if (id != nullptr) q += " AND id = ?1";
  q += " ORDER BY id";
  if (sqlite3_prepare_v2(db.db, q.c_str(), -1, &st.st, nullptr) != SQLITE_OK)
    return Error(Exit::io, "state `" + file.string() + "': " + sqlite3_errmsg(db.db));
  if (id != nullptr) sqlite3_bind_text(st.st, 1, id->c_str(), -1, SQLITE_TRANSIENT);
  int rc;
  while ((rc = sqlite3_step(st.st)) == SQLITE_ROW) {
    auto col = [&](int i) {
      const unsigned char* t = sqlite3_column_text(st.st, i);
      return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
    };
    out.push_back({col(0), col(1)});
  }
  if (rc == SQLITE_BUSY) return Error(Exit::temp, "state `" + file.string() + "': busy");
  if (rc != SQLITE_DONE) return Error(Exit::io, "state `" + file.string() + "': " + sqlite3_errmsg(db.db));
  return out;
}

}  // namespace

Result<std::vector<SandboxCgroup>> list_sandbox_cgroups(const std::filesystem::path& run_dir) {
  return query_sandboxes(run_dir, nullptr);
}

Result<SandboxCgroup> find_sandbox_cgroup(const std::filesystem::path& run_dir, std::string_view id) {
  std::string s(id);
  FAAS_TRY_ASSIGN(auto rows, query_sandboxes(run_dir, &s));
  if (rows.empty())
    return Error(Exit::no_input, "no sandbox `" + s + "' with a cgroup in `" + run_dir.string() + "'");
  return rows.front();
}

}  // namespace faas
