#include "faas/sandbox_pool.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "faas/fork_state.hpp"
#include "faas/ipam.hpp"
#include "faas/netns_pool.hpp"
#include "faas/sandbox_cgroup.hpp"
#include "faas/timing.hpp"

namespace faas {

namespace fs = std::filesystem;

namespace {

constexpr int kBackoffCapMs = 50;
constexpr const char* kRowColumns =
    "id, pool, template, state, start, pid, pid_start, cgroup, control, rootfs, netns, ip, "
    "holder_pid, holder_start, claimed_at, uses, created_at";

SandboxRow row_from(const SqlRow& r) {
  SandboxRow s;
  s.id = sql_text(r[0]);
  s.pool = sql_text(r[1]);
  s.template_name = sql_text(r[2]);
  s.state = sql_text(r[3]);
  s.start = sql_text(r[4]);
  s.pid = static_cast<pid_t>(sql_int(r[5]));
  s.pid_start = static_cast<std::uint64_t>(sql_int(r[6]));
  s.cgroup = sql_text(r[7]);
  s.control = sql_text(r[8]);
  s.rootfs = sql_text(r[9]);
  s.netns = sql_text(r[10]);
  s.ip = sql_text(r[11]);
  s.holder = Holder{static_cast<pid_t>(sql_int(r[12])), static_cast<std::uint64_t>(sql_int(r[13]))};
  s.claimed_at = sql_int(r[14]);
  s.uses = sql_int(r[15]);
  s.created_at = sql_int(r[16]);
  return s;
}

std::vector<std::string> strings_of(const Json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const auto& v : j[key])
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

}  // namespace

Json template_json(const SandboxTemplate& t) {
  Json j = Json::object();
  j["name"] = t.name;
  j["backend"] = t.backend;
  j["rootfs"] = t.rootfs;
  j["cmd"] = t.cmd;
  j["env"] = t.env;
  j["memory"] = t.limits.memory_bytes;
  j["pids"] = t.limits.pids;
  j["cpu_weight"] = t.limits.cpu_weight;
  if (!t.netns_pool.empty()) j["netns_pool"] = t.netns_pool;
  if (!t.binds_ro.empty()) {
    Json b = Json::array();
    for (const auto& x : t.binds_ro) b.push_back(Json{{"host", x.host}, {"dest", x.dest}});
    j["bind_ro"] = std::move(b);
  }
  if (t.ksm) j["ksm"] = true;
  if (t.userns) j["userns"] = Json{{"uid", t.userns_uid}, {"count", t.userns_count}};
  return j;
}

Result<SandboxTemplate> template_from_json(const Json& j) {
  if (!j.is_object()) return Error(Exit::data, "template: not a JSON object");
  SandboxTemplate t;
  try {
    t.name = j.value("name", "");
    t.backend = j.value("backend", "native");
    t.rootfs = j.value("rootfs", "");
    t.cmd = strings_of(j, "cmd");
    t.env = strings_of(j, "env");
    t.limits.memory_bytes = j.value("memory", std::uint64_t{0});
    t.limits.pids = j.value("pids", std::uint64_t{0});
    t.limits.cpu_weight = j.value("cpu_weight", std::uint64_t{0});
    t.netns_pool = j.value("netns_pool", "");
    if (j.contains("bind_ro")) {
      if (!j["bind_ro"].is_array()) return Error(Exit::data, "template: bind_ro: not an array");
      for (const auto& b : j["bind_ro"]) {
        if (!b.is_object()) return Error(Exit::data, "template: bind_ro: not an object");
        std::string host = b.value("host", "");
        t.binds_ro.push_back({host, b.value("dest", host)});
      }
    }
    t.ksm = j.value("ksm", false);
    if (j.contains("userns") && !j["userns"].is_null() && !(j["userns"].is_boolean() && !j["userns"].get<bool>())) {
      t.userns = true;
      if (j["userns"].is_object()) {
        t.userns_uid = j["userns"].value("uid", std::uint32_t{0});
        t.userns_count = j["userns"].value("count", kUsernsRange);
      } else if (j["userns"].is_boolean()) {
        t.userns_count = kUsernsRange;
      } else {
        return Error(Exit::data, "template: userns: true or {\"uid\": N, \"count\": N}");
      }
    }
  } catch (const Json::exception& e) {
    return Error(Exit::data, std::string("template: ") + e.what());
  }
  if (t.name.empty()) return Error(Exit::data, "template: no name");
  if (t.backend != "native") return Error(Exit::data, "template " + t.name + ": backend `" + t.backend + "` is not supported (native)");
  if (t.rootfs.empty() || t.rootfs.front() != '/') return Error(Exit::data, "template " + t.name + ": rootfs must be an absolute path");
  if (t.cmd.empty()) return Error(Exit::data, "template " + t.name + ": no cmd");
  for (const auto& b : t.binds_ro) {
    if (b.host.empty() || b.host.front() != '/' || b.dest.empty() || b.dest.front() != '/')
      return Error(Exit::data, "template " + t.name + ": bind_ro `" + b.host + ":" + b.dest + "`: both paths must be absolute");
    fs::path d = fs::path(b.dest).lexically_normal();
    std::string top = d.has_relative_path() ? d.relative_path().begin()->string() : "";
    if (top.empty() || top == ".." || top == "dev" || top == "proc" || top == "run" || top == "tmp")
      return Error(Exit::data, "template " + t.name + ": bind_ro destination `" + b.dest +
                                   "`: not /, /dev, /proc, /run or /tmp (the sandbox mounts those)");
  }
  if (t.userns) {
    if (t.userns_count == 0 || (t.userns_uid == 0 && t.userns_count != kUsernsRange))
      return Error(Exit::data, "template " + t.name + ": userns count must be at least 1");
    if (t.userns_uid != 0 && std::uint64_t{t.userns_uid} + t.userns_count > 0xFFFFFFFFULL)
      return Error(Exit::data, "template " + t.name + ": userns range past the last uid");
  }
  return t;
}

Json sandbox_json(const SandboxRow& s) {
  Json j = Json::object();
  j["id"] = s.id;
  j["pool"] = s.pool;
  j["template"] = s.template_name;
  j["state"] = s.state;
  j["pid"] = s.pid;
  j["control"] = s.control;
  j["rootfs"] = s.rootfs;
  j["cgroup"] = s.cgroup;
  j["netns"] = s.netns.empty() ? Json(nullptr) : Json(s.netns);
  j["ip"] = s.ip.empty() ? Json(nullptr) : Json(s.ip);
  j["start"] = s.start;
  j["uses"] = s.uses;
  return j;
}

void mark_forks_removed(Json& rec, const std::vector<std::string>& removed) {
  auto f = rec.find("fork");
  if (f == rec.end() || !f->is_object()) return;
  auto id = f->find("id");
  if (id == f->end() || !id->is_string()) return;
  if (std::find(removed.begin(), removed.end(), id->get<std::string>()) != removed.end())
    (*f)["removed"] = true;
}

// ---- templates ----

Result<void> SandboxPools::pick_userns(StateStore& cfg, SandboxTemplate& t) {
  if (!t.userns || t.userns_uid != 0) return {};
  FAAS_TRY_ASSIGN(auto rows, cfg.query("SELECT spec FROM templates"));
  std::vector<bool> used(kUsernsSlots, false);
  for (const auto& r : rows) {
    Json j = Json::parse(sql_text(r[0]), nullptr, false);
    if (!j.is_object() || !j.contains("userns") || !j["userns"].is_object()) continue;
    std::uint64_t uid = j["userns"].value("uid", std::uint64_t{0});
    if (uid >= kUsernsBase && (uid - kUsernsBase) / kUsernsRange < kUsernsSlots)
      used[(uid - kUsernsBase) / kUsernsRange] = true;
  }
  auto free = std::find(used.begin(), used.end(), false);
  if (free == used.end()) return Error(Exit::unavailable, "template " + t.name + ": every user namespace range is taken");
  t.userns_uid = kUsernsBase + static_cast<std::uint32_t>(free - used.begin()) * kUsernsRange;
  t.userns_count = kUsernsRange;
  return {};
}

Result<void> SandboxPools::template_add(SandboxTemplate& t) {
  FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
  Result<void> r = cfg->immediate([&]() -> Result<void> {
    FAAS_TRY(pick_userns(*cfg, t));
    FAAS_TRY(cfg->query("INSERT INTO templates (name, backend, spec, created_at) VALUES (?1, ?2, ?3, ?4)",
                       {t.name, t.backend, template_json(t).dump(), unix_ms()}));
    return {};
  });
  if (!r) {
    if (r.error().status() == Exit::unavailable) return r;
    auto existing = cfg->query("SELECT 1 FROM templates WHERE name = ?1", {t.name});
    if (existing && !existing->empty()) return Error(Exit::cant_create, "template " + t.name + ": exists");
    return std::move(r).error().wrap("template " + t.name);
  }
  return {};
}

Result<SandboxTemplate> SandboxPools::template_get(const std::string& name) {
  FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
  FAAS_TRY_ASSIGN(auto rows, cfg->query("SELECT spec FROM templates WHERE name = ?1", {name}));
  if (rows.empty()) return Error(Exit::no_input, "template " + name + ": not found");
  Json j = Json::parse(sql_text(rows[0][0]), nullptr, false);
  return template_from_json(j);
}

Result<std::vector<SandboxTemplate>> SandboxPools::template_list() {
  FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
  FAAS_TRY_ASSIGN(auto rows, cfg->query("SELECT spec FROM templates ORDER BY name"));
  std::vector<SandboxTemplate> out;
  for (const auto& r : rows) {
    auto t = template_from_json(Json::parse(sql_text(r[0]), nullptr, false));
    if (t) out.push_back(std::move(*t));
  }
  return out;
}

Result<void> SandboxPools::template_rm(const std::string& name) {
  FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
  Result<void> r = cfg->immediate([&]() -> Result<void> {
    FAAS_TRY_ASSIGN(auto t, cfg->query("SELECT 1 FROM templates WHERE name = ?1", {name}));
    if (t.empty()) return Error(Exit::no_input, "template " + name + ": not found");
    FAAS_TRY_ASSIGN(auto used, cfg->query("SELECT name FROM pools WHERE template = ?1", {name}));
    if (!used.empty())
      return Error(Exit::data, "template " + name + ": in use by pool " + sql_text(used[0][0]) +
                                   " (pool rm it first)");
    FAAS_TRY(cfg->query("DELETE FROM templates WHERE name = ?1", {name}));
    return {};
  });
  return r;
}

// ---- pools ----

Result<std::vector<std::string>> SandboxPools::pool_names() {
  FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
  FAAS_TRY_ASSIGN(auto rows, cfg->query("SELECT name FROM pools ORDER BY name"));
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(sql_text(r[0]));
  return out;
}

Result<void> SandboxPools::pool_runtime(PoolInfo& p) {
  FAAS_TRY_ASSIGN(auto stats, db_.query("SELECT hits, misses, last_acquire_at FROM pool_stats WHERE pool = ?1",
                                        {p.name}));
  if (!stats.empty()) {
    p.hits = sql_int(stats[0][0]);
    p.misses = sql_int(stats[0][1]);
    p.last_acquire_ms = sql_int(stats[0][2]);
  }
  FAAS_TRY_ASSIGN(auto counts, db_.query("SELECT state, count(*) FROM sandboxes WHERE pool = ?1 GROUP BY state",
                                         {p.name}));
  for (const auto& c : counts) {
    std::string st = sql_text(c[0]);
    std::int64_t n = sql_int(c[1]);
    if (st == "starting") p.starting = n;
    else if (st == "warm") p.warm = n;
    else if (st == "claimed") p.claimed = n;
    else if (st == "destroying") p.destroying = n;
  }
  return {};
}

Result<PoolInfo> SandboxPools::pool_info(const std::string& pool) {
  FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
  FAAS_TRY_ASSIGN(auto rows, cfg->query("SELECT template, size, idle_ttl_ms, min_warm FROM pools WHERE name = ?1",
                                        {pool}));
  if (rows.empty()) return Error(Exit::unavailable, "pool " + pool + ": not found");
  PoolInfo p;
  p.name = pool;
  p.template_name = sql_text(rows[0][0]);
  p.size = sql_int(rows[0][1]);
  p.idle_ttl_ms = sql_int(rows[0][2]);
  p.min_warm = sql_int(rows[0][3]);
  FAAS_TRY(pool_runtime(p));
  return p;
}

Result<bool> SandboxPools::below_size(const std::string& pool) {
  FAAS_TRY_ASSIGN(auto rows, db_.query("SELECT (SELECT size FROM pool_stats WHERE pool = ?1), "
                                       "(SELECT count(*) FROM sandboxes WHERE pool = ?1 AND state = 'warm')",
                                       {pool}));
  const std::int64_t warm = sql_int(rows[0][1]);
  if (!std::holds_alternative<std::monostate>(rows[0][0])) return warm < sql_int(rows[0][0]);
  // No copy of the size in run.db (a run dir younger than the pool): the
  // configuration's, copied for the next release.
  FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
  FAAS_TRY_ASSIGN(auto size, cfg->query("SELECT size FROM pools WHERE name = ?1", {pool}));
  if (size.empty()) return false;
  FAAS_TRY(db_.query("INSERT INTO pool_stats (pool, size) VALUES (?1, ?2) "
                     "ON CONFLICT (pool) DO UPDATE SET size = excluded.size", {pool, sql_int(size[0][0])}));
  return warm < sql_int(size[0][0]);
}

Result<AcquireStats> SandboxPools::acquire_stats(const std::string& pool) {
  AcquireStats a;
  FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
  FAAS_TRY_ASSIGN(auto exists, cfg->query("SELECT 1 FROM pools WHERE name = ?1", {pool}));
  if (exists.empty()) return Error(Exit::unavailable, "pool " + pool + ": not found");
  FAAS_TRY_ASSIGN(auto p, db_.query("SELECT samples, sample_us_sum FROM pool_stats WHERE pool = ?1", {pool}));
  if (!p.empty()) {
    a.total = sql_int(p[0][0]);
    a.sum_us = sql_int(p[0][1]);
  }
  FAAS_TRY_ASSIGN(auto rows, db_.query("SELECT us FROM acquire_samples WHERE pool = ?1 ORDER BY us", {pool}));
  a.window = static_cast<std::int64_t>(rows.size());
  auto rank = [&](double pct) -> std::int64_t {  // nearest rank
    if (rows.empty()) return 0;
    auto n = static_cast<std::size_t>(std::ceil(pct / 100.0 * static_cast<double>(rows.size())));
    return sql_int(rows[std::clamp<std::size_t>(n, 1, rows.size()) - 1][0]);
  };
  a.p50_us = rank(50);
  a.p90_us = rank(90);
  a.p99_us = rank(99);
  return a;
}

Result<PoolInfo> SandboxPools::pool_set(const std::string& pool, const PoolSettings& s) {
  FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
  Result<void> r = cfg->immediate([&]() -> Result<void> {
    FAAS_TRY_ASSIGN(auto rows, cfg->query("SELECT 1 FROM pools WHERE name = ?1", {pool}));
    if (rows.empty()) return Error(Exit::no_input, "pool " + pool + ": not found");
    if (s.size) FAAS_TRY(cfg->query("UPDATE pools SET size = ?1 WHERE name = ?2", {*s.size, pool}));
    if (s.idle_ttl_ms) FAAS_TRY(cfg->query("UPDATE pools SET idle_ttl_ms = ?1 WHERE name = ?2", {*s.idle_ttl_ms, pool}));
    if (s.min_warm) FAAS_TRY(cfg->query("UPDATE pools SET min_warm = ?1 WHERE name = ?2", {*s.min_warm, pool}));
    return {};
  });
  FAAS_TRY(r);
  if (s.size)
    FAAS_TRY(db_.query("INSERT INTO pool_stats (pool, size) VALUES (?1, ?2) "
                       "ON CONFLICT (pool) DO UPDATE SET size = excluded.size", {pool, *s.size}));
  return pool_info(pool);
}

std::int64_t SandboxPools::warm_target(const PoolInfo& p) const {
  if (p.idle_ttl_ms <= 0) return p.size;
  bool idle = p.last_acquire_ms == 0 || unix_ms() - p.last_acquire_ms > p.idle_ttl_ms;
  return idle ? std::min(p.size, p.min_warm) : p.size;
}

Result<SandboxRow> SandboxPools::start_one(const SandboxTemplate& t, const std::string& id) {
  SandboxSpec spec;
  spec.id = id;
  spec.rootfs = t.rootfs;
  spec.cmd = t.cmd;
  spec.env = t.env;
  spec.init_binary = init_;
  spec.run_dir = run_dir_;
  spec.limits = t.limits;
  for (const auto& b : t.binds_ro) spec.binds_ro.emplace_back(b.host, b.dest);
  spec.ksm = t.ksm;
  if (t.userns) {
    spec.userns_uid = t.userns_uid;
    spec.userns_count = t.userns_count;
  }
  // A namespace of a faas-netns pool: leased by this process while the
  // sandbox starts, then by the sandbox's init (a dead sandbox's lease is
  // reclaimed by faas-netns gc as well as by reap here).
  std::optional<NetnsLease> lease;
  if (!t.netns_pool.empty()) {
    NetnsPools np(db_, self_);
    FAAS_TRY_ASSIGN(lease, np.acquire(t.netns_pool, self_));
    if (!lease) {
      (void)db_.query("DELETE FROM sandboxes WHERE id = ?1", {id});
      return Error(Exit::temp, "netns pool " + t.netns_pool + ": no ready namespace");
    }
    spec.netns_path = lease->path();
  }
  auto on_cloned = [&](pid_t pid, std::uint64_t start) -> Result<void> {
    FAAS_TRY(db_.query("UPDATE sandboxes SET pid = ?1, pid_start = ?2, cgroup = ?3, control = ?4, rootfs = ?5, "
                       "netns = ?6, ip = ?7, spec = ?9 WHERE id = ?8",
                       {std::int64_t{pid}, static_cast<std::int64_t>(start), "faas/" + id,
                        sandbox_control(run_dir_, id).string(), t.rootfs, lease ? lease->id : std::string(),
                        lease ? format_ipv4(lease->ip) : std::string(), id, template_json(t).dump()}));
    if (lease)
      FAAS_TRY(db_.query("UPDATE netns SET holder_pid = ?1, holder_start = ?2 WHERE id = ?3",
                         {std::int64_t{pid}, static_cast<std::int64_t>(start), lease->id}));
    return {};
  };
  auto sp = spawn_sandbox(spec, on_cloned);
  if (!sp) {
    if (lease) (void)release_netns(lease->id);
    (void)db_.query("DELETE FROM sandboxes WHERE id = ?1", {id});
    return std::move(sp).error();
  }
  FAAS_TRY_ASSIGN(auto row, find(id));
  if (!row) return Error(Exit::software, "sandbox " + id + ": row vanished while starting");
  return *row;
}

Result<void> SandboxPools::release_netns(const std::string& lease_id) {
  NetnsPools np(db_, self_);
  FAAS_TRY_ASSIGN(auto l, np.find(lease_id));
  if (!l) return {};  // gone already (faas-netns gc, pool rm)
  FAAS_TRY_CTX(np.release(lease_id), "release netns " + lease_id);
  return {};
}

Result<std::vector<SandboxRow>> SandboxPools::warm(const std::string& pool, std::optional<std::int64_t> size,
                                                   const std::string& template_name, bool idle_policy) {
  std::vector<std::string> ids;
  std::string tname;
  // The configuration first (state.db): the pool made, or its size changed.
  std::int64_t size_now = 0;
  PoolInfo policy;
  FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
  Result<void> configured = cfg->immediate([&]() -> Result<void> {
    FAAS_TRY_ASSIGN(auto rows, cfg->query("SELECT template, size, idle_ttl_ms, min_warm FROM pools "
                                          "WHERE name = ?1", {pool}));
    size_now = size.value_or(1);
    if (rows.empty()) {
      tname = template_name.empty() ? pool : template_name;
      FAAS_TRY_ASSIGN(auto t, cfg->query("SELECT 1 FROM templates WHERE name = ?1", {tname}));
      if (t.empty()) return Error(Exit::no_input, "pool " + pool + ": template " + tname + ": not found");
      FAAS_TRY(cfg->query("INSERT INTO pools (name, template, size, created_at) VALUES (?1, ?2, ?3, ?4)",
                          {pool, tname, size_now, unix_ms()}));
    } else {
      tname = sql_text(rows[0][0]);
      size_now = size.value_or(sql_int(rows[0][1]));
      policy.idle_ttl_ms = sql_int(rows[0][2]);
      policy.min_warm = sql_int(rows[0][3]);
      if (!template_name.empty() && template_name != tname)
        return Error(Exit::data, "pool " + pool + ": uses template " + tname + ", not " + template_name);
      if (size) FAAS_TRY(cfg->query("UPDATE pools SET size = ?1 WHERE name = ?2", {size_now, pool}));
    }
    return {};
  });
  FAAS_TRY(configured);
  // Then the sandboxes to start (run.db), counted and reserved under its
  // write lock, so concurrent warms never overfill the pool.
  Result<void> reserved = db_.immediate([&]() -> Result<void> {
    FAAS_TRY_ASSIGN(auto last, db_.query("INSERT INTO pool_stats (pool, size) VALUES (?1, ?2) "
                                         "ON CONFLICT (pool) DO UPDATE SET size = excluded.size "
                                         "RETURNING last_acquire_at", {pool, size_now}));
    std::int64_t want = size_now;
    if (!size && idle_policy) {
      policy.size = size_now;
      policy.last_acquire_ms = last.empty() ? 0 : sql_int(last[0][0]);
      want = warm_target(policy);
    }
    FAAS_TRY_ASSIGN(auto have, db_.query("SELECT count(*) FROM sandboxes WHERE pool = ?1 AND state IN ('warm', 'starting')", {pool}));
    for (std::int64_t i = sql_int(have[0][0]); i < want; ++i) {
      ids.push_back(new_id());
      FAAS_TRY(db_.query("INSERT INTO sandboxes (id, pool, template, state, start, holder_pid, holder_start, created_at) "
                         "VALUES (?1, ?2, ?3, 'starting', 'warm', ?4, ?5, ?6)",
                         {ids.back(), pool, tname, std::int64_t{self_.pid},
                          static_cast<std::int64_t>(self_.start_time), unix_ms()}));
    }
    return {};
  });
  FAAS_TRY(reserved);
  std::vector<SandboxRow> out;
  if (ids.empty()) return out;
  auto t = template_get(tname);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    Result<SandboxRow> r = t ? start_one(*t, ids[i]) : Result<SandboxRow>(t.error());
    if (r) {
      auto u = db_.query("UPDATE sandboxes SET state = 'warm', holder_pid = 0, holder_start = 0, idle_since = ?2 "
                         "WHERE id = ?1 AND state = 'starting'", {ids[i], unix_ms()});
      if (u) {
        r->state = "warm";
        r->holder = Holder{};
      } else {
        r = std::move(u).error();
      }
    }
    if (!r) {
      for (std::size_t j = i + 1; j < ids.size(); ++j)
        (void)db_.query("DELETE FROM sandboxes WHERE id = ?1 AND state = 'starting'", {ids[j]});
      return std::move(r).error().wrap("warm " + pool);
    }
    out.push_back(std::move(*r));
  }
  return out;
}

Result<std::size_t> SandboxPools::pool_rm(const std::string& pool) {
  FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
  FAAS_TRY_ASSIGN(auto p, cfg->query("SELECT 1 FROM pools WHERE name = ?1", {pool}));
  FAAS_TRY_ASSIGN(auto rows, list(pool));
  if (p.empty() && rows.empty()) return Error(Exit::no_input, "pool " + pool + ": not found");
  std::size_t n = 0;
  for (const auto& r : rows) {
    FAAS_TRY_CTX(destroy(r.id), "pool rm " + pool);
    ++n;
  }
  FAAS_TRY(db_.query("DELETE FROM acquire_samples WHERE pool = ?1", {pool}));
  FAAS_TRY(db_.query("DELETE FROM pool_stats WHERE pool = ?1", {pool}));
  FAAS_TRY(cfg->query("DELETE FROM pools WHERE name = ?1", {pool}));
  return n;
}

// ---- sandboxes ----

Result<std::optional<SandboxRow>> SandboxPools::find(const std::string& id) {
  FAAS_TRY_ASSIGN(auto rows, db_.query(std::string("SELECT ") + kRowColumns + " FROM sandboxes WHERE id = ?1", {id}));
  if (rows.empty()) return std::optional<SandboxRow>{};
  return std::optional<SandboxRow>{row_from(rows[0])};
}

Result<std::vector<SandboxRow>> SandboxPools::list(const std::string& pool) {
  std::string sql = std::string("SELECT ") + kRowColumns + " FROM sandboxes";
  std::vector<SqlValue> params;
  if (!pool.empty()) {
    sql += " WHERE pool = ?1";
    params.emplace_back(pool);
  }
  sql += " ORDER BY pool, created_at, id";
  FAAS_TRY_ASSIGN(auto rows, db_.query(sql, params));
  std::vector<SandboxRow> out;
  for (const auto& r : rows) out.push_back(row_from(r));
  return out;
}

Result<SandboxRow> SandboxPools::acquire(const std::string& pool, std::chrono::milliseconds wait, bool cold,
                                         const Holder& holder) {
  Stopwatch sw;
  // The pool's template, from state.db: read only when no sandbox is
  // claimable (an unknown pool fails then, before any wait), so a warm
  // acquire opens run.db alone.
  std::optional<std::string> tname;
  auto pool_template = [&]() -> Result<void> {
    if (tname) return {};
    FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
    FAAS_TRY_ASSIGN(auto p, cfg->query("SELECT template FROM pools WHERE name = ?1", {pool}));
    if (p.empty()) return Error(Exit::unavailable, "pool " + pool + ": not found");
    tname = sql_text(p[0][0]);
    return {};
  };
  // One sample in the pool's ring (kAcquireSamples) and its counters, inside
  // the caller's transaction; a hit also counts as one and as the last
  // acquire.
  auto record_sample = [&](bool hit, std::int64_t now) -> Result<void> {
    auto us = static_cast<std::int64_t>(sw.elapsed_us());
    FAAS_TRY_ASSIGN(auto n, db_.query("INSERT INTO pool_stats (pool, hits, samples, sample_us_sum, last_acquire_at) "
                                      "VALUES (?1, ?3, 1, ?2, ?4) ON CONFLICT (pool) DO UPDATE SET "
                                      "hits = hits + ?3, samples = samples + 1, sample_us_sum = sample_us_sum + ?2, "
                                      "last_acquire_at = CASE WHEN ?3 THEN ?4 ELSE last_acquire_at END "
                                      "RETURNING samples", {pool, us, std::int64_t{hit ? 1 : 0}, now}));
    if (n.empty()) return {};
    FAAS_TRY(db_.query("INSERT OR REPLACE INTO acquire_samples (pool, slot, us, at) VALUES (?1, ?2, ?3, ?4)",
                       {pool, (sql_int(n[0][0]) - 1) % kAcquireSamples, us, unix_ms()}));
    return {};
  };
  std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(wait.count()) * 1000000ULL;
  int backoff = 1;
  for (;;) {
    // One write transaction per acquire: pick the first warm row, check its
    // init alive (a pidfd, microseconds), claim it and count the hit.
    std::optional<SandboxRow> got, dead;
    Result<void> claimed = db_.immediate([&]() -> Result<void> {
      FAAS_TRY_ASSIGN(auto rows, db_.query(std::string("SELECT ") + kRowColumns +
                                               " FROM sandboxes WHERE pool = ?1 AND state = 'warm' "
                                               "ORDER BY rowid LIMIT 1", {pool}));
      if (rows.empty()) return {};
      SandboxRow row = row_from(rows[0]);
      const std::int64_t now = unix_ms();
      if (!sandbox_alive(row.pid, row.pid_start)) {
        // Never hand out a dead sandbox: claimed for destruction here,
        // cleaned after the commit (by reap should this process die first).
        FAAS_TRY(db_.query("UPDATE sandboxes SET state = 'destroying', holder_pid = ?1, holder_start = ?2, "
                           "claimed_at = ?3 WHERE id = ?4",
                           {std::int64_t{self_.pid}, static_cast<std::int64_t>(self_.start_time), now, row.id}));
        dead = std::move(row);
        return {};
      }
      FAAS_TRY(db_.query("UPDATE sandboxes SET state = 'claimed', holder_pid = ?1, holder_start = ?2, "
                         "claimed_at = ?3, uses = uses + 1, start = 'warm' WHERE id = ?4",
                         {std::int64_t{holder.pid}, static_cast<std::int64_t>(holder.start_time), now, row.id}));
      FAAS_TRY(record_sample(true, now));
      row.state = "claimed";
      row.holder = holder;
      row.claimed_at = now;
      row.uses += 1;
      row.start = "warm";
      got = std::move(row);
      return {};
    });
    FAAS_TRY_CTX(std::move(claimed), "claim a sandbox of pool " + pool);
    if (dead) {
      (void)finish_destroy(*dead);
      continue;
    }
    if (got) return *got;
    FAAS_TRY(pool_template());
    if (now_ns() < deadline) {
      sleep_ms(backoff);
      backoff = std::min(backoff * 2, kBackoffCapMs);
      continue;
    }
    auto count_miss = [&]() -> Result<void> {
      FAAS_TRY(db_.query("INSERT INTO pool_stats (pool, misses, last_acquire_at) VALUES (?1, 1, ?2) "
                         "ON CONFLICT (pool) DO UPDATE SET misses = misses + 1, last_acquire_at = ?2",
                         {pool, unix_ms()}));
      return {};
    };
    if (!cold) {
      FAAS_TRY(count_miss());
      return Error(Exit::temp, "pool " + pool + ": no warm sandbox (warm it, --wait, or --cold)");
    }
    // Started on the spot: the miss and the new row in one transaction,
    // the claim and the sample in another (each a write of run.db's WAL).
    std::string nid = new_id();
    FAAS_TRY_ASSIGN(auto t, template_get(*tname));
    Result<void> inserted = db_.immediate([&]() -> Result<void> {
      FAAS_TRY(count_miss());
      FAAS_TRY(db_.query("INSERT INTO sandboxes (id, pool, template, state, start, holder_pid, holder_start, "
                         "created_at) VALUES (?1, ?2, ?3, 'starting', 'cold', ?4, ?5, ?6)",
                         {nid, pool, *tname, std::int64_t{self_.pid}, static_cast<std::int64_t>(self_.start_time),
                          unix_ms()}));
      return {};
    });
    FAAS_TRY(std::move(inserted));
    FAAS_TRY_ASSIGN(auto row, start_one(t, nid));
    Result<void> claimed_now = db_.immediate([&]() -> Result<void> {
      FAAS_TRY(db_.query("UPDATE sandboxes SET state = 'claimed', holder_pid = ?1, holder_start = ?2, "
                         "claimed_at = ?3, uses = 1 WHERE id = ?4",
                         {std::int64_t{holder.pid}, static_cast<std::int64_t>(holder.start_time), unix_ms(), nid}));
      return record_sample(false, 0);
    });
    FAAS_TRY(std::move(claimed_now));
    row.state = "claimed";
    row.holder = holder;
    row.uses = 1;
    return row;
  }
}

Result<void> SandboxPools::mount_invocation_root(const SandboxRow& row, const fs::path& merged,
                                                const fs::path& target) {
  std::vector<std::pair<fs::path, std::string>> binds;
  Fd userns;
  if (!row.template_name.empty()) {
    // The template the sandbox started from, kept on its row; state.db's
    // only for a row from before the split.
    FAAS_TRY_ASSIGN(auto spec, db_.query("SELECT spec FROM sandboxes WHERE id = ?1", {row.id}));
    std::string text = spec.empty() ? std::string() : sql_text(spec[0][0]);
    auto t = text.empty() ? template_get(row.template_name)
                          : template_from_json(Json::parse(text, nullptr, false));
    if (t) {
      for (const auto& b : t->binds_ro) binds.emplace_back(b.host, b.dest);
      if (t->userns && !binds.empty() && row.pid > 0) {
        // The sandbox's own user namespace, through its init's pidfd-checked pid.
        userns.reset(::open(("/proc/" + std::to_string(row.pid) + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
        if (!userns || !sandbox_alive(row.pid, row.pid_start))
          return Error(Exit::temp, "sandbox " + row.id + ": its init is gone");
      }
    }
  }
  return faas::mount_invocation_root(merged, target, binds, userns.get());
}

Result<bool> SandboxPools::claim_for_destroy(const std::string& id, const std::string& from_state) {
  FAAS_TRY_ASSIGN(auto got, db_.claim("sandboxes", "id = ?1 AND state = ?2", {id, from_state}, "destroying", self_));
  return got.has_value();
}

Result<std::vector<std::string>> SandboxPools::remove_forks(const std::string& id) {
  FAAS_TRY_ASSIGN(ForkRows rows, ForkRows::open(stores_.run_dir()));
  FAAS_TRY_ASSIGN(auto forks, fork_list_of_sandbox(rows, id));
  std::vector<std::string> out;
  for (const auto& f : forks) {
    auto begun = fork_begin_remove(rows, f.id, self_);
    if (!begun && begun.error().status() == Exit::no_input) continue;  // removed meanwhile
    FAAS_TRY_CTX(std::move(begun), "sandbox " + id + ": remove fork " + f.id);
    // Its emptied directory is a spare for the next fork, as with faas-fork rm.
    FAAS_TRY_CTX(remove_fork(forks_root(stores_.state_dir()), fork_dir(stores_.state_dir(), f.id),
                             forks_spares(stores_.state_dir())),
                 "sandbox " + id + ": remove fork " + f.id);
    FAAS_TRY(fork_delete(rows, f.id));
    out.push_back(f.id);
  }
  return out;
}

Result<void> SandboxPools::finish_destroy(const SandboxRow& row) {
  FAAS_TRY(remove_forks(row.id));
  FAAS_TRY(destroy_sandbox(run_dir_, row.id, row.pid, row.pid_start));
  if (!row.netns.empty()) FAAS_TRY_CTX(release_netns(row.netns), "sandbox " + row.id);
  FAAS_TRY(db_.query("DELETE FROM sandboxes WHERE id = ?1", {row.id}));
  return {};
}

Result<void> SandboxPools::destroy(const std::string& id) {
  for (int tries = 0; tries < 5; ++tries) {
    FAAS_TRY_ASSIGN(auto row, find(id));
    if (!row) return Error(Exit::no_input, "sandbox " + id + ": not in state");
    FAAS_TRY_ASSIGN(bool got, claim_for_destroy(id, row->state));
    if (got) return finish_destroy(*row);
  }
  return Error(Exit::temp, "sandbox " + id + ": its state keeps changing");
}

Result<SandboxRow> SandboxPools::release(const std::string& id, bool force_destroy,
                                         std::vector<std::string>* forks_removed) {
  FAAS_TRY_ASSIGN(auto row, find(id));
  if (!row) return Error(Exit::no_input, "sandbox " + id + ": not in state");
  if (row->state != "claimed")
    return Error(Exit::data, "sandbox " + id + ": not claimed (state " + row->state + ")");
  // The invocation's forks go first: the next invocation never sees them.
  FAAS_TRY_ASSIGN(auto removed, remove_forks(id));
  if (forks_removed != nullptr) *forks_removed = std::move(removed);
  bool clean = !force_destroy && sandbox_alive(row->pid, row->pid_start);
  if (clean) {
    auto procs = SandboxCgroup::find(id).procs();
    clean = procs && *procs == 1;
  }
  if (clean) {
    std::error_code ec;
    clean = fs::is_empty(sandbox_dir(run_dir_, id) / "invocations", ec) && !ec;
  }
  if (clean) {
    auto below = below_size(row->pool);
    clean = below && *below;  // a full pool keeps its size
  }
  if (clean) {
    FAAS_TRY_ASSIGN(auto changed, db_.query("UPDATE sandboxes SET state = 'warm', holder_pid = 0, holder_start = 0, "
                                            "claimed_at = 0, idle_since = ?2 WHERE id = ?1 AND state = 'claimed' "
                                            "RETURNING id", {id, unix_ms()}));
    if (!changed.empty()) {
      row->state = "warm";
      return *row;
    }
  }
  FAAS_TRY(destroy(id));
  row->state = "destroyed";
  return *row;
}

Result<std::vector<std::pair<std::string, std::string>>> SandboxPools::reap() {
  FAAS_TRY_ASSIGN(auto rows, list());
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : rows) {
    bool dead = false;
    if (r.state == "warm") dead = !sandbox_alive(r.pid, r.pid_start);
    else if (r.state == "claimed") dead = !sandbox_alive(r.pid, r.pid_start) || !holder_alive(r.holder);
    else if (r.state == "starting" || r.state == "destroying") dead = !holder_alive(r.holder);
    if (!dead) continue;
    FAAS_TRY_ASSIGN(auto got, db_.claim("sandboxes", "id = ?1 AND state = ?2 AND holder_pid = ?3 AND holder_start = ?4",
                                        {r.id, r.state, std::int64_t{r.holder.pid},
                                         static_cast<std::int64_t>(r.holder.start_time)},
                                        "destroying", self_));
    if (!got) continue;
    FAAS_TRY_CTX(finish_destroy(r), "reap");
    out.emplace_back(r.id, "dead");
  }
  // Idle warm sandboxes past their pool's TTL, longest idle first, down to
  // the pool's minimum. Each is claimed (warm -> destroying) in one
  // transaction that counts the warm ones left, so concurrent reaps never
  // go below the minimum and an acquire never gets a sandbox being reaped.
  FAAS_TRY_ASSIGN(StateStore* cfg, stores_.state());
  FAAS_TRY_ASSIGN(auto policies, cfg->query("SELECT name, idle_ttl_ms, min_warm FROM pools "
                                            "WHERE idle_ttl_ms > 0 ORDER BY name"));
  for (const auto& p : policies) {
    const std::string pool = sql_text(p[0]);
    const std::int64_t min_warm = sql_int(p[2]);
    FAAS_TRY_ASSIGN(auto idle, db_.query(
        "SELECT id FROM sandboxes WHERE pool = ?1 AND state = 'warm' "
        "AND ?2 - (CASE WHEN idle_since > 0 THEN idle_since ELSE created_at END) > ?3 "
        "ORDER BY CASE WHEN idle_since > 0 THEN idle_since ELSE created_at END, id",
        {pool, unix_ms(), sql_int(p[1])}));
    for (const auto& i : idle) {
      std::string id = sql_text(i[0]);
      bool got = false;
      FAAS_TRY(db_.immediate([&]() -> Result<void> {
        FAAS_TRY_ASSIGN(auto left, db_.query("SELECT count(*) FROM sandboxes WHERE pool = ?1 AND state = 'warm'",
                                             {pool}));
        if (sql_int(left[0][0]) <= min_warm) return {};
        FAAS_TRY_ASSIGN(auto c, db_.query("UPDATE sandboxes SET state = 'destroying', holder_pid = ?2, "
                                          "holder_start = ?3 WHERE id = ?1 AND state = 'warm' RETURNING id",
                                          {id, std::int64_t{self_.pid}, static_cast<std::int64_t>(self_.start_time)}));
        got = !c.empty();
        return {};
      }));
      if (!got) continue;
      FAAS_TRY_ASSIGN(auto row, find(id));
      if (!row) continue;
      FAAS_TRY_CTX(finish_destroy(*row), "reap");
      out.emplace_back(id, "idle");
    }
  }
  return out;
}

}  // namespace faas
