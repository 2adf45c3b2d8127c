// Scenario `netns`: what one ready network namespace costs to make, and what
// taking one from a warm pool and giving it back costs, each as whole
// processes. Not a plain race of latencies (two questions, two kinds of
// row), so the scenario measures itself, in interleaved rounds as the runner
// would (each round runs every variant asked for once), creation first and
// the leases after (see measure()).
//
// Creation (one ready namespace: pinned at /run/netns/NAME, lo up, a veth
// pair with eth0 inside (MTU, MAC, address, up, default route via the
// gateway) and the host side up on a bridge holding the gateway):
//   ip          (baseline, peer) the original design's eight `ip` processes;
//   faas-netns  `faas-netns pool resize create 1` on a pool of size 0: one
//               process that makes one namespace, state included;
//   unshare-n   (peer) `unshare -n /bin/true`: a bare namespace, the floor.
// Untimed after each: the namespace and its veth are removed (`ip`'s by
// netlink from here, faas-netns's by `pool resize create 0`).
//
// Leases, on a pool of `--param pool=N` ready namespaces:
//   acquire     `faas-netns acquire warm`, the lease kept;
//   release     `faas-netns release ID` of that lease (reset included).
// Timed: spawn to reaped, like every faas-bench figure.
//
// Everything lives apart from the operator's pools: a state and a run dir in
// the run's private directory (FAAS_STATE_DIR, FAAS_RUN_DIR), bridges named
// after a random run tag (fq<tag>c, fq<tag>a, fq<tag>b) on a /24 no host
// address overlaps (10.214.0.0/16 unless --param subnet=). At the end, on a
// failure and on SIGINT/SIGTERM/SIGHUP the pools are removed and every
// namespace and link whose name the run made is swept by name.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>

#include "bench.hpp"
#include "faas/ipam.hpp"
#include "faas/log.hpp"
#include "faas/netlink.hpp"
#include "faas/netns.hpp"
#include "faas/scope_exit.hpp"
#include "faas/state.hpp"
#include "faas/timing.hpp"

namespace faas::bench {
namespace {

constexpr unsigned kMtu = 1500;
constexpr const char* kTrue = "/bin/true";
constexpr const char* kCreatePool = "create";
constexpr const char* kWarmPool = "warm";
constexpr const char* kDefaultRange = "10.214.0.0/16";
constexpr double kAcquireGoalUs = 1000;  // acquire p50, whole process
constexpr double kCreateGoalRatio = 3;   // faas-netns at least this much faster than ip

enum class Kind { ip, faas_netns, unshare, acquire, release };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::ip: return "ip";
    case Kind::faas_netns: return "faas-netns";
    case Kind::unshare: return "unshare-n";
    case Kind::acquire: return "acquire";
    case Kind::release: return "release";
  }
  return "?";
}

std::optional<Kind> kind_of(const std::string& name) {
  for (Kind k : {Kind::ip, Kind::faas_netns, Kind::unshare, Kind::acquire, Kind::release})
    if (name == kind_name(k)) return k;
  return std::nullopt;
}

double round_to(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}
std::string num(double x) { return fmt::format("{:.1f}", x); }
// ---- what the run made, swept by name ----------------------------------------

// Name prefixes of every namespace (under /run/netns) and link the run made
// or made a tool make. sweep() deletes whatever still carries one; the
// destructor sweeps too, so a failure anywhere leaves nothing behind.
class Made {
 public:
  Made() = default;
  Made(const Made&) = delete;
  Made& operator=(const Made&) = delete;
  ~Made() { sweep(); }

  void add(std::string prefix) {
    if (std::find(prefixes_.begin(), prefixes_.end(), prefix) == prefixes_.end())
      prefixes_.push_back(std::move(prefix));
  }
  const std::vector<std::string>& prefixes() const { return prefixes_; }

  // Returns what it found (nothing, after a clean run).
  std::vector<std::string> sweep() {
    std::vector<std::string> found;
    if (prefixes_.empty()) return found;
    auto ours = [&](const std::string& n) {
      return std::any_of(prefixes_.begin(), prefixes_.end(),
                         [&](const std::string& p) { return n.rfind(p, 0) == 0; });
    };
    if (DIR* d = ::opendir(kNetnsDir)) {
      std::vector<std::string> names;
      while (dirent* e = ::readdir(d))
        if (ours(e->d_name)) names.emplace_back(e->d_name);
      ::closedir(d);
      for (const auto& n : names) {
        Fd fd(::open(netns_path(n).c_str(), O_RDONLY | O_CLOEXEC));
        if (fd && netns_pinned(n)) (void)kill_netns_processes(fd.get());
        fd.reset();
        auto r = delete_named_netns(n);
        if (!r) log_warn("netns scenario: remove netns " + q(n) + ": " + r.error().what());
        found.push_back("netns " + n);
      }
    }
    auto s = netlink::Socket::open();
    if (!s) {
      log_warn("netns scenario: sweep links: " + s.error().what());
      return found;
    }
    auto links = netlink::list_links(*s);
    if (!links) {
      log_warn("netns scenario: sweep links: " + links.error().what());
      return found;
    }
    // veths before bridges (deleting a veth takes its peer along: ENODEV then).
    std::stable_sort(links->begin(), links->end(), [](const netlink::Link& a, const netlink::Link& b) {
      return (a.kind == "bridge") < (b.kind == "bridge");
    });
    for (const auto& k : *links) {
      if (!ours(k.name)) continue;
      auto r = netlink::delete_link(*s, k.index, k.name);
      if (!r && r.error().err() != ENODEV)
        log_warn("netns scenario: remove link " + q(k.name) + ": " + r.error().what());
      found.push_back("link " + k.name);
    }
    return found;
  }

 private:
  std::vector<std::string> prefixes_;
};

// ---- the scenario ------------------------------------------------------------

struct Slot {
  Variant* variant;
  Kind kind;
  std::vector<double> samples_us;
};

class NetnsScenario final : public Scenario {
 public:
  ~NetnsScenario() override { cleanup(); }

  std::string_view name() const override { return "netns"; }
  std::string_view summary() const override {
    return "one ready network namespace (netns, veth, bridge port, address, route): faas-netns "
           "against the original design's `ip` commands and a bare `unshare -n`; acquire and "
           "release on a warm pool";
  }
  std::vector<Param> params() const override {
    return {{"pool", "4", "ready namespaces in the pool that acquire and release use (1-60)"},
            {"subnet", "",
             "a free /24 for the run's three bridges (default: the first in " +
                 std::string(kDefaultRange) + " no host address overlaps)"},
            {"run_tmpfs", "0", "1: faas-netns's run dir (its run.db) on a tmpfs the scenario mounts, "
             "as /run is on most hosts"}};
  }
  bool self_measured() const override { return true; }

  std::vector<Variant> variants(const Context& ctx) override {
    plan(ctx);
    const bool root = ::geteuid() == 0;
    const std::string not_root = "must run as root (namespaces, links and /run/netns)";
    const std::string no_tool =
        "faas-netns not found at " + q(tool_) + " (build it next to faas-bench)";
    std::vector<Variant> out;
    auto add = [&](Kind k, bool peer, std::string path, std::string skipped) {
      Variant v;
      v.name = kind_name(k);
      v.peer = peer;
      v.path = std::move(path);
      v.skipped = std::move(skipped);
      if (v.skipped.empty() && !root) v.skipped = not_root;
      v.command = command(k);
      out.push_back(std::move(v));
    };
    add(Kind::ip, true, ip_, ip_.empty() ? "ip not installed (Debian package iproute2)" : "");
    add(Kind::faas_netns, false, tool_, is_executable_file(tool_) ? "" : no_tool);
    add(Kind::unshare, true, unshare_,
        unshare_.empty() ? "unshare not installed (Debian package util-linux)" : "");
    add(Kind::acquire, false, tool_, is_executable_file(tool_) ? "" : no_tool);
    add(Kind::release, false, tool_, is_executable_file(tool_) ? "" : no_tool);
    return out;
  }

  Result<void> prepare(const Context& ctx) override {
    if (::geteuid() != 0)
      return Error(Exit::no_perm, "must run as root (namespaces, links and /run/netns)");
    if (!is_executable_file(tool_))
      return Error(Exit::unavailable,
                   "faas-netns not found at " + q(tool_) + " (build it next to faas-bench)");
    FAAS_TRY_ASSIGN(long long pool, ctx.int_param("pool", 4));
    if (pool < 1 || pool > 60) return Error(Exit::usage, "--param pool=" + std::to_string(pool) + ": not 1 to 60");
    pool_size_ = static_cast<int>(pool);
    timeout_ms_ = ctx.timeout_ms;
    FAAS_TRY_ASSIGN(long long run_tmpfs, ctx.int_param("run_tmpfs", 0));
    ScopeExit undo([&] { cleanup(); });

    for (const auto& d : {state_dir_, run_dir_})
      if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST)
        return sys_error("create " + q(d), Exit::cant_create);
    if (run_tmpfs != 0) {
      if (::mount("tmpfs", run_dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700,size=64m") != 0)
        return sys_error("mount a tmpfs at " + q(run_dir_));
      run_tmpfs_ = run_dir_;
    }
    log_path_ = ctx.work_dir + "/netns.log";
    log_.reset(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!log_) return sys_error("create " + q(log_path_), Exit::cant_create);
    devnull_.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull_) return sys_error("open /dev/null");

    // The names are known before anything exists, so that a failure half
    // way is swept too.
    made_.add("fq" + tag_);
    FAAS_TRY(make_pools(ctx));
    FAAS_TRY(make_ip_bridge());
    build_ip_commands();
    undo.release();
    return {};
  }

  Result<std::uint64_t> once(const Variant&) override {
    return Error(Exit::software, "scenario netns measures itself");
  }

  Result<Report> measure(const Context& ctx, const std::vector<Variant*>& wanted) override {
    ScopeExit undo([&] { cleanup(); });
    std::vector<Slot> slots;
    for (Variant* v : wanted) {
      v->command = command(*kind_of(v->name));
      if (v->skipped.empty()) slots.push_back(Slot{v, *kind_of(v->name), {}});
    }
    // Two phases, each in interleaved rounds: the creation variants (compared
    // with each other), then acquire and release (held to their own goal).
    // Removing what a creation step made leaves the kernel's workers
    // milliseconds of teardown (cleanup_net, RCU callbacks), which on this
    // 2-CPU VM ran during the next step: an acquire timed right after the
    // `ip` baseline's cleanup took 1.45 ms instead of 0.85.
    const int rounds = ctx.warmup + ctx.iterations;
    for (bool creation : {true, false}) {
      for (int r = 0; r < rounds; ++r) {
        for (auto& slot : slots) {
          if (is_creation(slot.kind) != creation) continue;
          FAAS_TRY(interrupted());
          auto t = once_kind(slot.kind);
          if (!t) {
            std::string when = r < ctx.warmup ? "warmup iteration " + std::to_string(r + 1)
                                              : "iteration " + std::to_string(r - ctx.warmup + 1);
            return std::move(t).error().wrap("variant " + slot.variant->name + ": " + when);
          }
          if (r >= ctx.warmup) slot.samples_us.push_back(static_cast<double>(*t) / 1000.0);
        }
      }
    }
    FAAS_TRY(release_lease());
    return report(ctx, wanted, slots);
  }

 private:
  // Paths and names, from the context alone (for `ls` as well).
  void plan(const Context& ctx) {
    if (tag_.empty()) tag_ = new_id().substr(0, 5);
    tool_ = ctx.self_dir + "/faas-netns";
    ip_ = find_in_path(ctx.peer_path, "ip");
    unshare_ = find_in_path(ctx.peer_path, "unshare");
    const std::string work = ctx.work_dir.empty() ? "WORK" : ctx.work_dir;
    state_dir_ = work + "/state";
    run_dir_ = work + "/run";
    ip_bridge_ = "fq" + tag_ + "b";
    ip_ns_ = "fq" + tag_ + "i";
    ip_host_ = "fq" + tag_ + "h";
    ip_peer_ = "fq" + tag_ + "p";
    subnet_param_ = ctx.param("subnet", "");
    env_.clear();
    for (auto& e : child_environment({}))
      if (!e.starts_with("FAAS_STATE_DIR=") && !e.starts_with("FAAS_RUN_DIR=")) env_.push_back(e);
    env_.push_back("FAAS_STATE_DIR=" + state_dir_);
    env_.push_back("FAAS_RUN_DIR=" + run_dir_);
  }

  std::string env_prefix() const {
    return "FAAS_STATE_DIR=" + state_dir_ + " FAAS_RUN_DIR=" + run_dir_ + " ";
  }

  std::string command(Kind k) const {
    switch (k) {
      case Kind::ip: {
        std::string out;
        for (const auto& c : ip_commands_) out += (out.empty() ? "" : " && ") + shell_join(c.args());
        return out.empty() ? "ip netns add NS && ip link add HOST type veth peer name PEER ... (8 processes)"
                           : out;
      }
      case Kind::faas_netns:
        return env_prefix() + shell_join({tool_, "pool", "resize", kCreatePool, "1"}) +
               "  # from 0 to 1, then back untimed";
      case Kind::unshare: return shell_join({unshare_.empty() ? "unshare" : unshare_, "-n", kTrue});
      case Kind::acquire: return env_prefix() + shell_join({tool_, "acquire", kWarmPool});
      case Kind::release: return env_prefix() + shell_join({tool_, "release", "ID"});
    }
    return {};
  }

  // ---- running the tools ----

  // Spawns argv with the run's environment, stdout into *out (or
  // /dev/null), stderr appended to the run's log; waits for it. Returns the
  // nanoseconds from spawn to reaped; a failure names the tool's last words.
  Result<std::uint64_t> run(const ExecArgs& args, std::string* out) {
    Fd rd, wr;
    if (out != nullptr) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) return sys_error("pipe");
      rd.reset(p[0]);
      wr.reset(p[1]);
    }
    const std::uint64_t t0 = now_ns();
    FAAS_TRY_ASSIGN(Process proc,
                    spawn(args, SpawnFds{devnull_.get(), out ? wr.get() : devnull_.get(), log_.get(), -1},
                          false));
    auto status = proc.wait(timeout_ms_);
    const std::uint64_t t1 = now_ns();
    const std::string what = q(shell_join(args.args()));
    if (!status) return std::move(status).error().with_status(Exit::software).wrap(what);
    if (out != nullptr) {
      wr.reset();
      out->clear();
      char buf[4096];
      for (;;) {
        ssize_t n = ::read(rd.get(), buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
          if (errno == EINTR) continue;
          return sys_error("read the output of " + what);
        }
        out->append(buf, static_cast<std::size_t>(n));
      }
    }
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      Exit st = WIFEXITED(*status) && WEXITSTATUS(*status) == 75 ? Exit::temp : Exit::software;
      return Error(st, what + " " + describe_wait_status(*status) + ": " + log_tail());
    }
    return t1 - t0;
  }

  Result<std::uint64_t> run_tool(std::vector<std::string> tail, std::string* out = nullptr) {
    tail.insert(tail.begin(), tool_);
    return run(ExecArgs(std::move(tail), env_), out);
  }

  // The last line the tools wrote on stderr.
  std::string log_tail() const {
    Fd f(::open(log_path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!f) return "(no log)";
    struct stat st {};
    if (::fstat(f.get(), &st) != 0) return "(no log)";
    const off_t from = std::max<off_t>(0, st.st_size - 512);
    std::string text(static_cast<std::size_t>(st.st_size - from), '\0');
    ssize_t n = ::pread(f.get(), text.data(), text.size(), from);
    if (n <= 0) return "(nothing on stderr)";
    text.resize(static_cast<std::size_t>(n));
    while (!text.empty() && text.back() == '\n') text.pop_back();
    std::size_t nl = text.rfind('\n');
    return nl == std::string::npos ? text : text.substr(nl + 1);
  }

  // ---- setting up ----

  // The /24 for the run: --param subnet, else the first of kDefaultRange
  // that no host address overlaps (counting from a place that depends on
  // the pid, so that two runs rarely race for the same one).
  Result<std::vector<Ipv4Net>> candidate_nets() {
    std::vector<Ipv4Net> out;
    if (!subnet_param_.empty()) {
      FAAS_TRY_ASSIGN(Ipv4Net n, parse_subnet(subnet_param_));
      if (n.prefix != 24) return Error(Exit::usage, "--param subnet=" + subnet_param_ + ": give a /24");
      out.push_back(n);
      return out;
    }
    FAAS_TRY_ASSIGN(auto s, netlink::Socket::open());
    FAAS_TRY_ASSIGN(auto addrs, netlink::list_addresses(s, AF_INET));
    auto range = parse_subnet(kDefaultRange);
    const unsigned start = static_cast<unsigned>(::getpid()) % 256;
    for (unsigned i = 0; i < 256; ++i) {
      Ipv4Net n{range->network | (((start + i) % 256) << 8), 24};
      bool taken = std::any_of(addrs.begin(), addrs.end(), [&](const netlink::Address& a) {
        if (a.local.size() != 4) return false;
        Ipv4 ip = (Ipv4{a.local[0]} << 24) | (Ipv4{a.local[1]} << 16) | (Ipv4{a.local[2]} << 8) | a.local[3];
        Ipv4Net h{0, a.prefix};
        h.network = ip & h.mask();
        return overlaps(n, h);
      });
      if (!taken) out.push_back(n);
    }
    if (out.empty()) return Error(Exit::unavailable, std::string("no free /24 in ") + kDefaultRange + ": give --param subnet=");
    return out;
  }

  // pool create, reading the pool's tag from its record.
  Result<void> create_pool(const char* pool, int size, const Ipv4Net& net, const std::string& bridge) {
    std::string out;
    FAAS_TRY(run_tool({"pool", "create", pool, "--size", std::to_string(size), "--subnet", net.text(),
                       "--bridge", bridge},
                      &out));
    made_pools_ = true;
    Json rec;
    try {
      rec = Json::parse(out);
    } catch (const Json::exception& e) {
      return Error(Exit::software, "pool create " + std::string(pool) + ": not a record: " + e.what());
    }
    std::string tag;
    if (rec.is_object() && rec.contains("netns_pool") && rec["netns_pool"].is_object())
      tag = rec["netns_pool"].value("tag", std::string());
    if (tag.empty()) return Error(Exit::software, "pool create " + std::string(pool) + ": no netns_pool.tag");
    made_.add("fn" + tag + "-");
    made_.add("fv" + tag + "-");
    return {};
  }

  // Two pools (X.0/26 for creation, X.64/26 warm) and the `ip` variant's
  // bridge on X.128/26. A /24 some other pool took in the meantime (the
  // tool refuses an overlap with 64) makes the next candidate be tried.
  Result<void> make_pools(const Context&) {
    FAAS_TRY_ASSIGN(auto nets, candidate_nets());
    std::optional<Error> last;
    for (std::size_t i = 0; i < nets.size() && i < 8; ++i) {
      const Ipv4Net n = nets[i];
      auto r = create_pool(kCreatePool, 0, Ipv4Net{n.network, 26}, "fq" + tag_ + "c");
      if (r) r = create_pool(kWarmPool, pool_size_, Ipv4Net{n.network + 64, 26}, "fq" + tag_ + "a");
      if (r) {
        net_ = n;
        return {};
      }
      if (r.error().status() != Exit::software || r.error().what().find("overlaps") == std::string::npos)
        return std::move(r).error();
      last = std::move(r).error();
      remove_pools();
    }
    return std::move(*last);
  }

  Ipv4Net ip_net() const { return Ipv4Net{net_.network + 128, 26}; }
  Ipv4 ip_addr() const { return ip_net().gateway() + 1; }

  Result<void> make_ip_bridge() {
    FAAS_TRY_ASSIGN(auto s, netlink::Socket::open());
    host_.emplace(std::move(s));
    FAAS_TRY_ASSIGN(int idx, netlink::create_bridge(*host_, ip_bridge_, kMtu));
    made_ip_bridge_ = true;
    FAAS_TRY(netlink::add_address4(*host_, idx, to_be(ip_net().gateway()), ip_net().prefix));
    return {};
  }

  // The original design's commands for one namespace equal to a faas-netns
  // one: the peer is made in the host namespace under a temporary name,
  // moved in, renamed eth0; lo, eth0 and the host side up; address; route.
  void build_ip_commands() {
    const Ipv4 a = ip_addr();
    char mac[18];
    std::snprintf(mac, sizeof mac, "02:fa:%02x:%02x:%02x:%02x", (a >> 24) & 0xff, (a >> 16) & 0xff,
                  (a >> 8) & 0xff, a & 0xff);
    const std::string mtu = std::to_string(kMtu);
    const std::string cidr = format_ipv4(a) + "/" + std::to_string(ip_net().prefix);
    const std::vector<std::vector<std::string>> cmds{
        {ip_, "netns", "add", ip_ns_},
        {ip_, "link", "add", ip_host_, "mtu", mtu, "type", "veth", "peer", "name", ip_peer_, "mtu", mtu,
         "address", mac},
        {ip_, "link", "set", ip_host_, "master", ip_bridge_, "up"},
        {ip_, "link", "set", ip_peer_, "netns", ip_ns_},
        {ip_, "-n", ip_ns_, "link", "set", ip_peer_, "name", "eth0", "up"},
        {ip_, "-n", ip_ns_, "link", "set", "lo", "up"},
        {ip_, "-n", ip_ns_, "addr", "add", cidr, "dev", "eth0"},
        {ip_, "-n", ip_ns_, "route", "add", "default", "via", format_ipv4(ip_net().gateway()), "dev",
         "eth0", "proto", "static"},
    };
    ip_commands_.clear();
    for (const auto& c : cmds) ip_commands_.emplace_back(c, env_);
  }

  // ---- one iteration ----

  Result<std::uint64_t> once_kind(Kind k) {
    switch (k) {
      case Kind::ip: return once_ip();
      case Kind::faas_netns: {
        FAAS_TRY_ASSIGN(std::uint64_t t, run_tool({"pool", "resize", kCreatePool, "1"}));
        FAAS_TRY_CTX(run_tool({"pool", "resize", kCreatePool, "0"}), "untimed cleanup");
        return t;
      }
      case Kind::unshare:
        return run(ExecArgs({unshare_, "-n", kTrue}, env_), nullptr);
      case Kind::acquire: {
        FAAS_TRY(release_lease());
        std::string out;
        FAAS_TRY_ASSIGN(std::uint64_t t, run_tool({"acquire", kWarmPool}, &out));
        FAAS_TRY(keep_lease(out));
        return t;
      }
      case Kind::release: {
        if (lease_.empty()) {
          std::string out;
          FAAS_TRY_CTX(run_tool({"acquire", kWarmPool}, &out), "untimed acquire");
          FAAS_TRY(keep_lease(out));
        }
        FAAS_TRY_ASSIGN(std::uint64_t t, run_tool({"release", lease_}));
        lease_.clear();
        return t;
      }
    }
    return Error(Exit::software, "unknown variant");
  }

  Result<std::uint64_t> once_ip() {
    std::uint64_t total = 0;
    ScopeExit undo([&] { (void)remove_ip_namespace(); });
    for (const auto& c : ip_commands_) {
      FAAS_TRY_ASSIGN(std::uint64_t t, run(c, nullptr));
      total += t;
    }
    undo.release();
    FAAS_TRY_CTX(remove_ip_namespace(), "untimed cleanup");
    return total;
  }

  // Untimed: the veth (its peer goes with it) and the namespace.
  Result<void> remove_ip_namespace() {
    if (!host_) {
      FAAS_TRY_ASSIGN(auto s, netlink::Socket::open());
      host_.emplace(std::move(s));
    }
    FAAS_TRY(netlink::delete_link_named(*host_, ip_host_));
    FAAS_TRY(netlink::delete_link_named(*host_, ip_peer_));  // if the move failed
    FAAS_TRY(delete_named_netns(ip_ns_));
    return {};
  }

  static bool is_creation(Kind k) { return k == Kind::ip || k == Kind::faas_netns || k == Kind::unshare; }

  Result<void> keep_lease(const std::string& out) {
    try {
      lease_ = Json::parse(out).at("netns").at("id").get<std::string>();
    } catch (const Json::exception& e) {
      return Error(Exit::software, "acquire printed no netns.id: " + std::string(e.what()));
    }
    return {};
  }

  Result<void> release_lease() {
    if (lease_.empty()) return {};
    FAAS_TRY_CTX(run_tool({"release", lease_}), "untimed release");
    lease_.clear();
    return {};
  }

  // ---- the end ----

  void remove_pools() {
    if (!made_pools_) return;
    auto r = run_tool({"pool", "rm", kCreatePool, kWarmPool});
    if (!r) {
      // One of them may not exist (a failed create): each alone.
      for (const char* p : {kCreatePool, kWarmPool}) (void)run_tool({"pool", "rm", p});
    }
    made_pools_ = false;
  }

  // Everything the run made: the pools through faas-netns, then a sweep by
  // name for whatever is left (a tool that failed half way).
  void cleanup() {
    if (done_) return;
    lease_.clear();
    if (log_) remove_pools();
    if (made_ip_bridge_) {
      auto r = remove_ip_namespace();
      if (r) {
        auto b = netlink::delete_link_named(*host_, ip_bridge_);
        if (!b) r = std::move(b).error();
      }
      if (!r) log_warn("netns scenario: remove bridge " + q(ip_bridge_) + ": " + r.error().what());
      made_ip_bridge_ = false;
    }
    host_.reset();
    for (const auto& what : made_.sweep()) log_warn("netns scenario: removed a leftover " + what);
    // After the pools: their rows are in the run dir's database.
    if (!run_tmpfs_.empty() && ::umount2(run_tmpfs_.c_str(), MNT_DETACH) != 0)
      log_warn("netns scenario: unmount " + q(run_tmpfs_) + ": " + std::strerror(errno));
    run_tmpfs_.clear();
    if (!made_.prefixes().empty()) done_ = true;
  }

  // ---- the report ----

  Result<Report> report(const Context& ctx, const std::vector<Variant*>& wanted,
                        const std::vector<Slot>& slots) {
    Report rep;
    rep.columns = {"scenario", "variant", "peer",    "p50_us",    "p90_us", "p99_us",
                   "min_us",   "max_us",  "mean_us", "stddev_us", "vs_ip",  "note"};
    std::optional<Stats> ip;
    for (const auto& s : slots)
      if (s.kind == Kind::ip) ip = compute_stats(s.samples_us);
    std::vector<std::string> names;
    for (const auto& p : made_.prefixes()) names.push_back(p + "*");
    for (Variant* v : wanted) {
      Json b{{"scenario", name()}, {"variant", v->name}, {"peer", v->peer}};
      std::vector<std::string> row{std::string(name()), v->name, v->peer ? "yes" : "no"};
      auto slot = std::find_if(slots.begin(), slots.end(), [&](const Slot& s) { return s.variant == v; });
      if (slot == slots.end()) {
        b["skipped"] = v->skipped;
        row.resize(11);
        row.push_back("skipped: " + v->skipped);
        rep.records.push_back(Json{{"v", kRecordVersion}, {"bench", std::move(b)}});
        rep.rows.push_back(std::move(row));
        continue;
      }
      const Stats s = compute_stats(slot->samples_us);
      b["iterations"] = slot->samples_us.size();
      b["warmup"] = ctx.warmup;
      b["unit"] = "us";
      b["pidns"] = false;
      for (auto [k, x] : {std::pair{"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}, {"min", s.min},
                          {"max", s.max}, {"mean", s.mean}, {"stddev", s.stddev}}) {
        b[k] = round_to(x, 1);
        row.push_back(num(x));
      }
      const bool creation = is_creation(slot->kind);
      std::string vs = "-", note;
      if (creation && ip && ip->p50 > 0) {
        const double ratio = s.p50 / ip->p50;
        b["vs"] = Json{{"baseline", "ip"},
                       {"ratio_p50", round_to(ratio, 3)},
                       {"delta_p50_us", round_to(s.p50 - ip->p50, 1)}};
        vs = slot->kind == Kind::ip ? "baseline" : fmt::format("{:.2f}x {:+.1f}", ratio, s.p50 - ip->p50);
      }
      if (slot->kind == Kind::faas_netns && ip && s.p50 > 0) {
        const double faster = ip->p50 / s.p50;
        const bool met = faster >= kCreateGoalRatio;
        b["goal"] = Json{{"text", fmt::format("at least {:.0f}x faster than ip (p50)", kCreateGoalRatio)},
                         {"met", met}};
        note = fmt::format("{:.1f}x faster than ip: goal {:.0f}x {}", faster, kCreateGoalRatio,
                           met ? "met" : "missed");
      }
      if (slot->kind == Kind::acquire) {
        const bool met = s.p50 <= kAcquireGoalUs;
        b["goal"] = Json{{"text", fmt::format("p50 at most {:.0f} us", kAcquireGoalUs)}, {"met", met}};
        note = fmt::format("goal p50 <= {:.0f} us {}", kAcquireGoalUs, met ? "met" : "missed");
      }
      if (slot->kind == Kind::acquire || slot->kind == Kind::release)
        b["pool_size"] = pool_size_;
      b["command"] = v->command;
      if (slot->kind != Kind::unshare) b["names"] = names;
      row.push_back(vs);
      row.push_back(note);
      rep.records.push_back(Json{{"v", kRecordVersion}, {"bench", std::move(b)}});
      rep.rows.push_back(std::move(row));
    }
    return rep;
  }

  std::string tag_, tool_, ip_, unshare_, state_dir_, run_dir_, log_path_, subnet_param_;
  std::string run_tmpfs_;  // the run dir, while a tmpfs is mounted there
  std::string ip_bridge_, ip_ns_, ip_host_, ip_peer_;
  std::string lease_;
  std::vector<std::string> env_;
  std::vector<ExecArgs> ip_commands_;
  std::optional<netlink::Socket> host_;
  Ipv4Net net_;
  Fd log_, devnull_;
  Made made_;
  int pool_size_ = 4;
  int timeout_ms_ = 10000;
  bool made_pools_ = false;
  bool made_ip_bridge_ = false;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<Scenario> make_netns_scenario() { return std::make_unique<NetnsScenario>(); }

}  // namespace faas::bench
