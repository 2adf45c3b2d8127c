#include "netns_cmd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/neighbour.h>
#include <net/if.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "faas/holder.hpp"
#include "faas/log.hpp"
#include "faas/netlink.hpp"
#include "faas/netns_pool.hpp"
#include "faas/records.hpp"
#include "faas/state.hpp"
#include "faas/table.hpp"
#include "faas/timing.hpp"
#include "faas/units.hpp"

namespace faas::netns {

namespace {

namespace fs = std::filesystem;

// acquire --wait: the pool is polled with a backoff doubling from 1 ms up
// to this.
constexpr int kAcquireBackoffCapMs = 50;
// neigh --wait: besides netlink events, the neighbour table is dumped again
// with a backoff doubling from 10 ms up to this (events can be lost).
constexpr int kNeighPollCapMs = 1000;

class Command {
 public:
  Command(const CommonOptions& c, const Options& o) : c_(c), o_(o) {}

  Result<Exit> run() {
    if (parsed(o_.pool_create)) return pool_create();
    if (parsed(o_.pool_resize)) return pool_resize();
    if (parsed(o_.pool_rm)) return pool_rm();
    if (parsed(o_.pool_ls)) return pool_ls();
    if (o_.quick == Options::Quick::acquire || parsed(o_.acquire)) return acquire();
    if (o_.quick == Options::Quick::release || parsed(o_.release)) return release();
    if (parsed(o_.ls)) return ls();
    if (parsed(o_.gc)) return gc();
    if (parsed(o_.neigh)) return neigh();
    if (parsed(o_.pool_cmd))
      return Error(Exit::usage, "pool: give create, resize, rm or ls (see pool --help)");
    return Error(Exit::usage, "give a command: pool, acquire, release, ls, gc or neigh (see --help)");
  }

 private:
  // Only the subcommand named on the command line is built (add_commands).
  static bool parsed(const CLI::App* sub) { return sub != nullptr && sub->parsed(); }

  static Result<void> require_root(const char* what) {
    if (::geteuid() != 0)
      return Error(Exit::no_perm, std::string(what) +
                                      ": must be root (namespaces, links and /run/netns need "
                                      "CAP_SYS_ADMIN and CAP_NET_ADMIN)");
    return {};
  }

  Result<void> open_state() {
    // Pools, namespaces and leases are all in run.db.
    FAAS_TRY_ASSIGN(auto st, open_stores(c_));
    stores_.emplace(std::move(st));
    FAAS_TRY_ASSIGN(Holder self, self_holder());
    pools_.emplace(stores_->run(), self);
    return {};
  }

  Result<void> write_text(const std::string& text) {
    if (::write(1, text.data(), text.size()) < 0) return sys_error("write", Exit::io);
    return {};
  }

  static Json record(const char* key, Json obj) {
    Json rec = Json::object();
    rec["v"] = kRecordVersion;
    rec[key] = std::move(obj);
    return rec;
  }

  // ---- pools ----

  Result<Exit> print_pool(const NetnsPool& p) {
    if (c_.output() == OutputMode::table) {
      Table t({"pool", "subnet", "bridge", "size", "ready", "leased", "state"});
      t.add({p.name, p.subnet.text(), p.bridge, std::to_string(p.size), std::to_string(p.ready),
             std::to_string(p.leased), p.state});
      FAAS_TRY(write_text(t.render()));
      return Exit::ok;
    }
    FAAS_TRY(out_.write(record("netns_pool", netns_pool_json(p))));
    return Exit::ok;
  }

  Result<Exit> pool_create() {
    FAAS_TRY(require_root("pool create"));
    FAAS_TRY(open_state());
    Stopwatch sw;
    NetnsPoolSpec spec{o_.pool, o_.size, o_.subnet, o_.bridge, o_.mtu};
    FAAS_TRY_ASSIGN(NetnsPool p, pools_->create_pool(spec));
    log_debug("pool " + q(p.name) + " created in " + std::to_string(sw.elapsed_us()) + " us");
    return print_pool(p);
  }

  Result<Exit> pool_resize() {
    FAAS_TRY(require_root("pool resize"));
    FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(NetnsPool p, pools_->resize_pool(o_.pool, o_.size));
    return print_pool(p);
  }

  Result<Exit> pool_rm() {
    FAAS_TRY(require_root("pool rm"));
    FAAS_TRY(open_state());
    Exit status = Exit::ok;
    for (const auto& name : o_.pools) {
      auto r = pools_->remove_pool(name);
      if (!r) {
        Error e = std::move(r).error().wrap("pool rm");
        if (!c_.keep_going) return e;
        log_error(e.what());
        if (status == Exit::ok) status = e.status();
        continue;
      }
      if (c_.output() == OutputMode::json) FAAS_TRY(out_.write(record("netns_pool", netns_pool_json(*r))));
    }
    return status;
  }

  Result<Exit> pool_ls() {
    FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(auto pools, pools_->list_pools());
    if (c_.output() == OutputMode::table) {
      Table t({"pool", "subnet", "bridge", "size", "ready", "leased", "state"});
      for (const auto& p : pools)
        t.add({p.name, p.subnet.text(), p.bridge, std::to_string(p.size), std::to_string(p.ready),
               std::to_string(p.leased), p.state});
      FAAS_TRY(write_text(t.render()));
      return Exit::ok;
    }
    for (const auto& p : pools) FAAS_TRY(out_.write(record("netns_pool", netns_pool_json(p))));
    return Exit::ok;
  }

  // ---- leases ----

  Result<Exit> acquire() {
    std::optional<std::int64_t> wait_ms;
    if (!o_.wait.empty()) {
      auto d = parse_duration(o_.wait);
      if (d) wait_ms = d->count();
      if (!wait_ms) return Error(Exit::usage, "--wait " + q(o_.wait) + ": not a duration (500ms, 5s, 1m)");
    }
    FAAS_TRY(require_root("acquire"));
    Stopwatch total;
    Holder holder;
    if (o_.holder > 0) {
      FAAS_TRY_ASSIGN(holder, holder_of(o_.holder));
    } else {
      FAAS_TRY_ASSIGN(holder, parent_holder());
    }
    FAAS_TRY(open_state());
    const std::int64_t deadline = mono_ms() + wait_ms.value_or(0);
    int backoff = 1;
    for (;;) {
      FAAS_TRY_ASSIGN(auto lease, pools_->acquire(o_.pool, holder));
      if (lease) {
        Json rec = record("netns", netns_json(*lease));
        add_timing(rec, c_.tool, "acquire", total.elapsed_us());
        FAAS_TRY(out_.write(std::move(rec)));
        return Exit::ok;
      }
      const std::int64_t left = deadline - mono_ms();
      if (left <= 0)
        return Error(Exit::temp, "pool " + q(o_.pool) + " is empty" +
                                     (wait_ms ? " after waiting " + o_.wait : std::string()));
      sleep_ms(static_cast<int>(std::min<std::int64_t>(backoff, left)));
      backoff = std::min(backoff * 2, kAcquireBackoffCapMs);
    }
  }

  // A record's netns keys are information: when they disagree with the
  // state, the record is refused rather than believed.
  static Result<void> check_record(const NetnsLease& l, const Json& n) {
    const std::pair<const char*, std::string> known[] = {
        {"name", l.name}, {"path", l.path()}, {"pool", l.pool}, {"host_if", l.host_if}};
    for (const auto& [key, want] : known) {
      auto it = n.find(key);
      if (it == n.end() || it->is_null()) continue;
      if (!it->is_string() || it->get<std::string>() != want)
        return Error(Exit::data, "netns " + q(l.id) + ": the record's netns." + key + " " +
                                     q(it->dump()) + " is not this namespace's " + q(want) +
                                     ": refusing the record");
    }
    return {};
  }

  Result<void> release_one(const std::string& id, Json& n) {
    Stopwatch sw;
    FAAS_TRY_ASSIGN(auto found, pools_->find(id));
    if (!found) return Error(Exit::no_input, "netns " + q(id) + " not found in state");
    FAAS_TRY(check_record(*found, n));
    FAAS_TRY_ASSIGN(auto r, pools_->release(id));
    if (n.size() <= 1) n = netns_json(*found);
    n["released"] = true;
    if (r.replaced) n["replaced"] = true;
    if (r.removed) n["removed"] = true;
    release_us_ = sw.elapsed_us();
    return {};
  }

  Result<Exit> release() {
    const bool from_stdin = o_.ids.empty();
    if (from_stdin && !(::fcntl(0, F_GETFD) >= 0 && stdin_has_records()))
      return Error(Exit::usage, "release: give netns IDs or pipe records on stdin");
    FAAS_TRY(require_root("release"));
    FAAS_TRY(open_state());
    Exit status = Exit::ok;
    auto fail = [&](Json& rec, Error e) -> Result<void> {
      if (!c_.keep_going) return e;
      log_error(e.what());
      add_error(rec, c_.tool, e);
      if (status == Exit::ok) status = e.status();
      return {};
    };
    if (!from_stdin) {
      for (const auto& id : o_.ids) {
        Json rec = record("netns", Json{{"id", id}});
        auto r = release_one(id, rec["netns"]);
        if (!r) {
          FAAS_TRY(fail(rec, std::move(r).error().wrap("release")));
        } else {
          add_timing(rec, c_.tool, "release", release_us_);
        }
        if (c_.output() == OutputMode::json) FAAS_TRY(out_.write(std::move(rec)));
      }
      return status;
    }
    RecordReader in(0);
    for (;;) {
      auto next = in.next();
      Json rec = Json::object();
      Result<void> r;
      if (!next) {
        r = std::move(next).error();  // names the line already
      } else if (!next->has_value()) {
        break;
      } else {
        rec = std::move(**next);
        if (rec.contains("error")) {
          FAAS_TRY(out_.write(std::move(rec)));
          continue;
        }
        auto n = rec.find("netns");
        if (n == rec.end() || !n->is_object() || !n->contains("id") || !(*n)["id"].is_string()) {
          r = Error(Exit::data, "the record has no netns.id");
        } else {
          r = release_one((*n)["id"].get<std::string>(), *n);
        }
        if (!r) r.error().wrap(in.source() + " line " + std::to_string(in.line()));
      }
      if (!r) {
        FAAS_TRY(fail(rec, std::move(r).error()));
      } else {
        add_timing(rec, c_.tool, "release", release_us_);
      }
      FAAS_TRY(out_.write(std::move(rec)));
    }
    return status;
  }

  Result<Exit> ls() {
    FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(auto rows, pools_->list(o_.pool));
    if (c_.output() == OutputMode::table) {
      Table t({"id", "pool", "name", "ip", "host_if", "state", "holder"});
      for (const auto& l : rows) {
        std::string holder = l.holder.pid > 0 ? std::to_string(l.holder.pid) +
                                                    (holder_alive(l.holder) ? "" : " (gone)")
                                              : "-";
        t.add({l.id, l.pool, l.name, format_ipv4(l.ip), l.host_if, l.state, holder});
      }
      FAAS_TRY(write_text(t.render()));
      return Exit::ok;
    }
    for (const auto& l : rows) {
      Json n = netns_json(l);
      n["state"] = l.state;
      if (l.holder.pid > 0) {
        n["holder"] = Json{{"pid", l.holder.pid}, {"start_time", l.holder.start_time}};
        n["holder_alive"] = holder_alive(l.holder);
      }
      FAAS_TRY(out_.write(record("netns", std::move(n))));
    }
    return Exit::ok;
  }

  Result<Exit> gc() {
    FAAS_TRY(require_root("gc"));
    FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(auto actions, pools_->gc());
    if (c_.output() == OutputMode::table) {
      Table t({"what", "name", "reason"});
      for (const auto& a : actions) {
        const bool pool = a.contains("netns_pool");
        const Json& o = pool ? a["netns_pool"] : a["netns"];
        std::string name = o.value("name", o.value("host_if", std::string("?")));
        t.add({pool ? "pool" : "netns", name, o.value("gc", std::string())});
      }
      if (!t.empty()) FAAS_TRY(write_text(t.render()));
      return Exit::ok;
    }
    for (auto& a : actions) FAAS_TRY(out_.write(std::move(a)));
    return Exit::ok;
  }

  // ---- neigh ----

  struct Wanted {
    std::vector<std::uint8_t> ip;  // 4 or 16 bytes
    std::optional<netlink::Mac> mac;
  };

  // Multicast groups the bridge joined are not neighbours on it.
  static bool multicast(const netlink::Neighbour& n) {
    if (n.dst.size() == 4) return (n.dst[0] & 0xf0) == 0xe0;
    return n.dst.size() == 16 && n.dst[0] == 0xff;
  }

  static bool usable(const netlink::Neighbour& n) {
    return n.lladdr.has_value() &&
           (n.state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP));
  }

  static bool matches(const netlink::Neighbour& n, const Wanted& w) {
    if (!usable(n)) return false;
    if (w.mac) return *n.lladdr == *w.mac;
    return n.dst == w.ip;
  }

  static std::string state_name(std::uint16_t s) {
    if (s & NUD_PERMANENT) return "permanent";
    if (s & NUD_NOARP) return "noarp";
    if (s & NUD_REACHABLE) return "reachable";
    if (s & NUD_STALE) return "stale";
    if (s & NUD_DELAY) return "delay";
    if (s & NUD_PROBE) return "probe";
    if (s & NUD_INCOMPLETE) return "incomplete";
    if (s & NUD_FAILED) return "failed";
    return "none";
  }

  Json neigh_json(const netlink::Neighbour& n) const {
    Json j = Json::object();
    j["ip"] = n.ip();
    j["mac"] = n.lladdr ? Json(netlink::format_mac(*n.lladdr)) : Json(nullptr);
    char name[IF_NAMESIZE] = {};
    j["dev"] = ::if_indextoname(static_cast<unsigned>(n.index), name) ? std::string(name)
                                                                       : std::to_string(n.index);
    j["state"] = state_name(n.state);
    return record("neigh", std::move(j));
  }

  // The interfaces to look at: --dev, or every pool's bridge.
  Result<std::vector<int>> neigh_devices() {
    std::vector<std::string> names;
    if (!o_.dev.empty()) {
      names.push_back(o_.dev);
    } else {
      FAAS_TRY(open_state());
      FAAS_TRY_ASSIGN(auto pools, pools_->list_pools());
      for (const auto& p : pools) names.push_back(p.bridge);
      if (names.empty()) return Error(Exit::no_input, "neigh: no pool in state: give --dev IFNAME");
    }
    std::vector<int> out;
    for (const auto& n : names) {
      unsigned idx = ::if_nametoindex(n.c_str());
      if (idx == 0) return Error(Exit::no_input, "neigh: no interface " + q(n));
      out.push_back(static_cast<int>(idx));
    }
    return out;
  }

  Result<std::vector<netlink::Neighbour>> neighbours(netlink::Socket& s, const std::vector<int>& devs) {
    std::vector<netlink::Neighbour> out;
    for (int family : {AF_INET, AF_INET6}) {
      FAAS_TRY_ASSIGN(auto all, netlink::list_neighbours(s, family));
      for (auto& n : all)
        if (!multicast(n) && std::find(devs.begin(), devs.end(), n.index) != devs.end())
          out.push_back(std::move(n));
    }
    return out;
  }

  Result<Exit> neigh() {
    std::optional<Wanted> want;
    if (!o_.neigh_wait.empty()) {
      Wanted w;
      unsigned char buf[16];
      if (auto mac = netlink::parse_mac(o_.neigh_wait)) {
        w.mac = mac;
      } else if (::inet_pton(AF_INET, o_.neigh_wait.c_str(), buf) == 1) {
        w.ip.assign(buf, buf + 4);
      } else if (::inet_pton(AF_INET6, o_.neigh_wait.c_str(), buf) == 1) {
        w.ip.assign(buf, buf + 16);
      } else {
        return Error(Exit::usage, "--wait " + q(o_.neigh_wait) + ": not an IP or MAC address");
      }
      want = std::move(w);
    }
    auto timeout_d = parse_duration(o_.timeout);
    std::optional<std::int64_t> timeout;
    if (timeout_d) timeout = timeout_d->count();
    if (!timeout) return Error(Exit::usage, "--timeout " + q(o_.timeout) + ": not a duration (500ms, 5s, 1m)");
    FAAS_TRY_ASSIGN(auto devs, neigh_devices());

    if (!want) {
      FAAS_TRY_ASSIGN(auto sock, netlink::Socket::open());
      FAAS_TRY_ASSIGN(auto all, neighbours(sock, devs));
      if (c_.output() == OutputMode::table) {
        Table t({"ip", "mac", "dev", "state"});
        for (const auto& n : all) {
          Json j = neigh_json(n)["neigh"];
          t.add({j["ip"].get<std::string>(), j["mac"].is_null() ? "-" : j["mac"].get<std::string>(),
                 j["dev"].get<std::string>(), j["state"].get<std::string>()});
        }
        FAAS_TRY(write_text(t.render()));
        return Exit::ok;
      }
      for (const auto& n : all) FAAS_TRY(out_.write(neigh_json(n)));
      return Exit::ok;
    }

    // Subscribe first, then look: an entry made in between is seen either way.
    auto events = netlink::Socket::open(RTMGRP_NEIGH);
    if (!events) log_warn("neigh: no netlink events (" + events.error().what() + "): polling only");
    FAAS_TRY_ASSIGN(auto dumper, netlink::Socket::open());
    const std::int64_t deadline = mono_ms() + *timeout;
    int backoff = 10;
    bool dump = true;
    for (;;) {
      if (dump) {
        FAAS_TRY_ASSIGN(auto all, neighbours(dumper, devs));
        for (const auto& n : all)
          if (matches(n, *want)) {
            FAAS_TRY(out_.write(neigh_json(n)));
            return Exit::ok;
          }
      }
      const std::int64_t left = deadline - mono_ms();
      if (left <= 0) break;
      const int wait = static_cast<int>(std::min<std::int64_t>(backoff, left));
      if (!events) {
        sleep_ms(wait);
        dump = true;
      } else {
        auto got = events->receive(wait);
        if (!got) {
          if (got.error().status() != Exit::temp) return std::move(got).error();
          dump = true;  // events were lost: look at the table again
          continue;
        }
        if (got->empty()) {
          dump = true;  // the fallback poll, in case an event was missed
        } else {
          dump = false;
          std::optional<netlink::Neighbour> hit;
          auto walked = netlink::for_each_message(*got, [&](const nlmsghdr& h) -> Result<bool> {
            if (h.nlmsg_type != RTM_NEWNEIGH) return true;
            auto n = netlink::parse_neighbour(h);
            if (!n) return true;
            if (std::find(devs.begin(), devs.end(), n->index) == devs.end()) return true;
            if (!matches(*n, *want)) return true;
            hit = std::move(*n);
            return false;
          });
          if (!walked) return std::move(walked).error();
          if (hit) {
            FAAS_TRY(out_.write(neigh_json(*hit)));
            return Exit::ok;
          }
          continue;  // not ours: keep waiting without growing the backoff
        }
      }
      backoff = std::min(backoff * 2, kNeighPollCapMs);
    }
    return Error(Exit::temp, "neigh: " + o_.neigh_wait + " did not show up within " + o_.timeout);
  }

  const CommonOptions& c_;
  const Options& o_;
  std::optional<Stores> stores_;
  std::optional<NetnsPools> pools_;
  RecordWriter out_{1};
  std::uint64_t release_us_ = 0;
};

// The subcommands: words a lease's id can never be.
constexpr std::string_view kCommands[] = {"pool", "acquire", "release", "ls", "gc", "neigh"};

}  // namespace

std::string_view named_command(int argc, char** argv) {
  // The common options that take the next word as their value.
  static constexpr std::string_view kWithValue[] = {"--state-dir", "--run-dir", "--log-format"};
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") return {};
    if (a.starts_with("-")) {
      if (std::find(std::begin(kWithValue), std::end(kWithValue), a) != std::end(kWithValue)) ++i;
      continue;
    }
    auto it = std::find(std::begin(kCommands), std::end(kCommands), a);
    return it == std::end(kCommands) ? std::string_view() : *it;
  }
  return {};
}

bool parse_quick(int argc, char** argv, CommonOptions& common, Options& opts) {
  if (argc < 3) return false;
  const std::string_view command = argv[1];
  CommonOptions c;
  Options o;
  QuickCommon qc(c, "faas-netns");
  std::vector<std::string> words;
  if (command == "acquire") {
    std::string holder;
    if (!faas::parse_quick(argc, argv, 2,
                           {{"--wait", nullptr, &o.wait}, {"--holder", nullptr, &holder}, qc.state_dir(),
                            qc.run_dir(), qc.json(), qc.table(), qc.keep_going(), qc.log_format()},
                           &words, kCommands) ||
        words.size() != 1)
      return false;
    if (!holder.empty() && !quick_pid(holder, o.holder)) return false;
    o.pool = std::move(words.front());
    o.quick = Options::Quick::acquire;
  } else if (command == "release") {
    if (!faas::parse_quick(argc, argv, 2,
                           {qc.state_dir(), qc.run_dir(), qc.json(), qc.table(), qc.keep_going(),
                            qc.log_format()},
                           &o.ids, kCommands) ||
        o.ids.empty())
      return false;
    o.quick = Options::Quick::release;
  } else {
    return false;
  }
  if (!qc.finish()) return false;
  common = std::move(c);
  opts = std::move(o);
  return true;
}

void add_commands(CLI::App& app, Options& o, std::string_view only) {
  auto wanted = [&](std::string_view name) { return only.empty() || only == name; };
  if (wanted("pool")) {
    auto* pool = app.add_subcommand("pool", "Create, resize, remove and list pools");
    pool->require_subcommand(0, 1);  // none: 64 from run(), so a bad flag is named first
    o.pool_cmd = pool;
    o.pool_create = pool->add_subcommand("create", "Create a pool: a bridge and SIZE ready namespaces");
    o.pool_create->add_option("NAME", o.pool, "Pool name (a-z 0-9 - _ .)")->required();
    o.pool_create->add_option("--size", o.size, "Namespaces kept ready")->required()->type_name("N");
    o.pool_create->add_option("--subnet", o.subnet, "IPv4 subnet (default: a free /24 in 10.213.0.0/16)")
        ->type_name("CIDR");
    o.pool_create->add_option("--bridge", o.bridge, "Name of the bridge to create (default fb<tag>)")
        ->type_name("IFNAME");
    o.pool_create->add_option("--mtu", o.mtu, "MTU of the bridge and veths (default 1500)")->type_name("N");
    o.pool_resize = pool->add_subcommand("resize", "Grow or shrink a pool to N namespaces");
    o.pool_resize->add_option("NAME", o.pool, "Pool name")->required();
    o.pool_resize->add_option("N", o.size, "New size")->required();
    o.pool_rm = pool->add_subcommand("rm", "Remove pools: every namespace, veth, bridge and row");
    o.pool_rm->add_option("NAME", o.pools, "Pool names")->required();
    o.pool_ls = pool->add_subcommand("ls", "List pools (a table on a terminal, JSON lines otherwise)");
  }
  if (wanted("acquire")) {
    o.acquire = app.add_subcommand("acquire", "Take a ready namespace of POOL and print its record");
    o.acquire->add_option("POOL", o.pool, "Pool name")->required();
    o.acquire->add_option("--wait", o.wait, "Wait up to DUR when the pool is empty (500ms, 5s)")
        ->type_name("DUR");
    o.acquire->add_option("--holder", o.holder, "Who holds the lease (default: the parent process)")
        ->type_name("PID")->check(CLI::PositiveNumber);
  }
  if (wanted("release")) {
    o.release = app.add_subcommand("release", "Reset namespaces and return them to their pool");
    o.release->add_option("ID", o.ids, "Namespace IDs (default: the records on stdin)");
  }
  if (wanted("ls")) {
    o.ls = app.add_subcommand("ls", "List namespaces (a table on a terminal, JSON lines otherwise)");
    o.ls->add_option("--pool", o.pool, "Only this pool's")->type_name("NAME");
  }
  if (wanted("gc")) o.gc = app.add_subcommand("gc", "Repair what killed processes and dead holders left");
  if (wanted("neigh")) {
    o.neigh = app.add_subcommand("neigh", "The host's neighbour table on the pools' bridges");
    o.neigh->add_option("--dev", o.dev, "This interface instead of every pool's bridge")->type_name("IFNAME");
    o.neigh->add_option("--wait", o.neigh_wait, "Wait until this IP or MAC appears, print it")
        ->type_name("IP|MAC");
    o.neigh->add_option("--timeout", o.timeout, "How long --wait waits (default 10s)")->type_name("DUR");
  }
  app.require_subcommand(0, 1);
}

Result<Exit> run(const CommonOptions& common, const Options& o) { return Command(common, o).run(); }

}  // namespace faas::netns
