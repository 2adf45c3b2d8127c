#include "invoke_cmd.hpp"

#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "faas/fork_state.hpp"
#include "faas/holder.hpp"
#include "faas/log.hpp"
#include "faas/records.hpp"
#include "faas/sandbox_control.hpp"
#include "faas/sandbox_pool.hpp"
#include "faas/state.hpp"
#include "faas/timing.hpp"
#include "faas/units.hpp"
#include "serve.hpp"

namespace faas::invoke {

namespace {

namespace fs = std::filesystem;

struct Response {
  int status = 0;
  std::size_t bytes = 0;
  std::string body;
};

// "HTTP/1.x SSS reason\r\n headers \r\n\r\n body"
Result<Response> parse_response(const std::string& raw) {
  if (raw.empty()) return Error(Exit::data, "malformed response: the handler sent nothing");
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12 || raw[8] != ' ')
    return Error(Exit::data, "malformed response: no HTTP/1.x status line");
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    if (raw[static_cast<std::size_t>(i)] < '0' || raw[static_cast<std::size_t>(i)] > '9')
      return Error(Exit::data, "malformed response: bad status code");
    status = status * 10 + (raw[static_cast<std::size_t>(i)] - '0');
  }
  Response r;
  r.status = status;
  r.bytes = raw.size();
  auto end = raw.find("\r\n\r\n");
  std::size_t skip = 4;
  if (end == std::string::npos) {
    end = raw.find("\n\n");
    skip = 2;
  }
  if (end == std::string::npos) return Error(Exit::data, "malformed response: headers never end");
  r.body = raw.substr(end + skip);
  return r;
}

// Valid UTF-8 for the record (invalid bytes become U+FFFD).
std::string printable(const std::string& s) {
  return Json::parse(Json(s).dump(-1, ' ', false, Json::error_handler_t::replace)).get<std::string>();
}

class Command {
 public:
  Command(const CommonOptions& c, const Options& o) : c_(c), o_(o) {}

  Result<Exit> run() {
    if (o_.http.size() != 2) return Error(Exit::usage, "give --http METHOD PATH");
    if (o_.http[1].empty() || o_.http[1].front() != '/') return Error(Exit::usage, "--http: PATH must start with /");
    for (const auto& h : o_.headers)
      if (h.find(':') == std::string::npos || h.find_first_of("\r\n") != std::string::npos)
        return Error(Exit::usage, "-H `" + h + "`: expected K:V");
    FAAS_TRY_ASSIGN(deadline_, parse_duration(o_.deadline));
    FAAS_TRY(load_body());
    if (!stdin_has_records()) return Error(Exit::usage, "pipe sandbox records on stdin (faas-pool acquire POOL | faas-invoke ...)");
    // The state is opened while the records are still on their way: in a
    // pipeline this overlaps the acquirer's and faas-fork's work instead of
    // following it (readers never block the writer under WAL). Should it
    // fail, it is retried when a record needs it, and reported then.
    if (auto early = open_state(); !early) {
      pools_.reset();
      stores_.reset();
    }
    Exit status = Exit::ok;
    RecordReader in(0);
    for (;;) {
      auto next = in.next();
      if (!next) return std::move(next).error();
      if (!next->has_value()) break;
      Json rec = std::move(**next);
      if (rec.contains("error")) {
        FAAS_TRY(out_.write(std::move(rec)));
        continue;
      }
      auto r = invoke_one(rec);
      if (!r) {
        Error e = std::move(r).error().wrap(in.source() + " line " + std::to_string(in.line()));
        if (!c_.keep_going) return e;
        log_error(e.what());
        add_error(rec, c_.tool, e);
        if (status == Exit::ok) status = e.status();
      }
      FAAS_TRY(out_.write(std::move(rec)));
    }
    return status;
  }

 private:
  Result<void> load_body() {
    if (o_.data.empty() || o_.data.front() != '@') {
      body_ = o_.data;
      return {};
    }
    std::ifstream f(o_.data.substr(1), std::ios::binary);
    if (!f) return Error(Exit::no_input, "--data: cannot read `" + o_.data.substr(1) + "`");
    std::stringstream ss;
    ss << f.rdbuf();
    body_ = ss.str();
    return {};
  }

  Result<void> open_state() {
    Holder self;
    return open_pools(c_, stores_, pools_, self);
  }

  std::string request_text() const {
    std::string req = o_.http[0] + " " + o_.http[1] + " HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n";
    for (const auto& h : o_.headers) req += h + "\r\n";
    if (!body_.empty() || o_.http[0] == "POST" || o_.http[0] == "PUT")
      req += "Content-Length: " + std::to_string(body_.size()) + "\r\n";
    req += "\r\n" + body_;
    return req;
  }

  // One request on one sandbox; on failure the sandbox is destroyed.
  Result<void> invoke_one(Json& rec) {
    auto s = rec.find("sandbox");
    if (s == rec.end() || !s->is_object() || !s->contains("id") || !(*s)["id"].is_string())
      return Error(Exit::data, "the record has no sandbox.id");
    std::string id = (*s)["id"].get<std::string>();
    if (!pools_) FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(auto row, pools_->find(id));
    if (!row) return Error(Exit::no_input, "sandbox " + id + ": not in state");
    if (row->state != "claimed") return Error(Exit::data, "sandbox " + id + ": not acquired (state " + row->state + ")");
    auto r = exchange(rec, *row);
    if (!r) {
      if (auto d = pools_->destroy(id); !d) log_error("sandbox " + id + ": destroy: " + d.error().what());
      else rec["sandbox"]["state"] = "destroyed";
      return std::move(r).error().wrap("sandbox " + id);
    }
    if (o_.release) {
      std::vector<std::string> forks;
      FAAS_TRY_ASSIGN(auto after, pools_->release(id, false, &forks));
      rec["sandbox"]["state"] = after.state;
      mark_forks_removed(rec, forks);
    }
    return {};
  }

  // The record's fork (faas-fork --overlay), found by its id in state, is
  // bound under the sandbox's invocations directory on the host; the shared
  // mount propagates it into the sandbox, where faas-init chroots into it.
  // Returns the root as the sandbox sees it, or "" without a fork.
  Result<std::string> mount_fork(const Json& rec, const SandboxRow& row, const std::string& request_id) {
    auto f = rec.find("fork");
    if (f == rec.end()) return std::string();
    if (!f->is_object() || !f->contains("id") || !(*f)["id"].is_string())
      return Error(Exit::data, "the record's fork has no id");
    std::string fid = (*f)["id"].get<std::string>();
    if (!valid_fork_id(fid)) return Error(Exit::data, "fork id `" + fid + "` is not valid");
    FAAS_TRY_ASSIGN(ForkRows rows, ForkRows::open(stores_->run_dir()));
    FAAS_TRY_ASSIGN(auto frow, fork_find(rows, fid));
    if (!frow) return Error(Exit::no_input, "fork " + fid + ": not in state");
    if (frow->state != "ready") return Error(Exit::temp, "fork " + fid + ": is " + frow->state);
    if (!frow->sandbox.empty() && frow->sandbox != row.id)
      return Error(Exit::data, "fork " + fid + ": made for sandbox " + frow->sandbox + ", not " + row.id);
    fs::path merged = fork_dir(stores_->state_dir(), fid) / "merged";
    fork_target_ = sandbox_dir(pools_->run_dir(), row.id) / "invocations" / request_id;
    if (::mkdir(fork_target_.c_str(), 0755) != 0) return sys_error("mkdir `" + fork_target_.string() + "`");
    if (auto m = pools_->mount_invocation_root(row, merged, fork_target_); !m) {
      auto e = std::move(m).error().wrap("bind fork " + fid + " into the sandbox");
      ::umount2(fork_target_.c_str(), MNT_DETACH);
      ::rmdir(fork_target_.c_str());
      fork_target_.clear();
      return e;
    }
    return "/run/faas-invocations/" + request_id;
  }

  void unmount_fork() {
    if (fork_target_.empty()) return;
    if (::umount2(fork_target_.c_str(), MNT_DETACH) != 0)
      log_error("unmount `" + fork_target_.string() + "`: " + std::strerror(errno));
    ::rmdir(fork_target_.c_str());
    fork_target_.clear();
  }

  Result<void> exchange(Json& rec, const SandboxRow& row) {
    std::string request_id = new_id();
    auto root = mount_fork(rec, row, request_id);
    if (!root) return std::move(root).error();
    auto r = exchange_with(rec, row, request_id, *root);
    unmount_fork();
    return r;
  }

  Result<void> exchange_with(Json& rec, const SandboxRow& row, const std::string& request_id,
                             const std::string& root) {
    Stopwatch total;
    std::uint64_t deadline_ns = now_ns() + static_cast<std::uint64_t>(deadline_.count()) * 1000000ULL;
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) return sys_error("socketpair");
    Fd mine(sp[0]), theirs(sp[1]);
    std::array<int, 1> fds{theirs.get()};
    Stopwatch step;
    FAAS_TRY_ASSIGN(auto session, ControlSession::start(sandbox_control(pools_->run_dir(), row.id).string(), fds,
                                                        request_id, static_cast<std::uint64_t>(deadline_.count()),
                                                        root));
    theirs.reset();
    std::uint64_t send_us = step.elapsed_us();
    FAAS_TRY(write_all(mine.get(), request_text(), deadline_ns));
    FAAS_TRY_ASSIGN(long handler_pid, session.wait_forked(deadline_ns));
    std::uint64_t forked_us = step.elapsed_us();
    std::string raw;
    FAAS_TRY(read_until_eof(mine.get(), raw, o_.max_response, deadline_ns));
    std::uint64_t response_us = step.elapsed_us();
    FAAS_TRY_ASSIGN(int handler_exit, session.wait_exited(deadline_ns));
    FAAS_TRY_ASSIGN(auto resp, parse_response(raw));
    Json inv = Json::object();
    inv["request_id"] = request_id;
    inv["status"] = resp.status;
    inv["bytes"] = resp.bytes;
    inv["handler_exit"] = handler_exit;
    inv["handler_pid"] = handler_pid;
    inv["start"] = row.start;
    if (!root.empty()) inv["root"] = root;
    inv["body"] = printable(resp.body);
    rec["invoke"] = std::move(inv);
    add_timing(rec, c_.tool, "send", send_us);
    add_timing(rec, c_.tool, "forked", forked_us);
    add_timing(rec, c_.tool, "response", response_us);
    add_timing(rec, c_.tool, "total", total.elapsed_us());
    return {};
  }

  const CommonOptions& c_;
  const Options& o_;
  std::chrono::milliseconds deadline_{0};
  std::string body_;
  fs::path fork_target_;  // the fork bound for the current invocation
  std::optional<Stores> stores_;
  std::optional<SandboxPools> pools_;
  RecordWriter out_;
};

}  // namespace

void add_options(CLI::App& app, Options& o) {
  app.add_option("--http", o.http, "The request: METHOD PATH (GET /)")->type_name("METHOD PATH")->expected(2);
  app.add_option("-H,--header", o.headers, "A request header")->type_name("K:V");
  app.add_option("--data", o.data, "The request body, or @FILE to read it from FILE")->type_name("DATA|@FILE");
  app.add_option("--deadline", o.deadline, "Time allowed for the whole invocation (default 10s)")->type_name("DUR");
  app.add_flag("--release", o.release, "Release the sandbox afterwards (recycled when clean)");
  o.serve = app.add_subcommand("serve", "Gateway: hand each TCP connection to a sandbox of a pool");
  o.serve->add_option("--listen", o.listen, "Address to listen on (port 0: the kernel picks one, "
                      "printed in the first record)")->type_name("ADDR:PORT")->required();
  o.serve->add_option("--pool", o.pool, "The pool to lease sandboxes from (held until the gateway drains)")
      ->type_name("NAME")->required();
  o.serve->add_option("--max-inflight", o.max_inflight, "Connections handled at once, and the most sandboxes leased (accept pauses "
                      "beyond; default 64)")->type_name("N");
  o.serve->add_option("--deadline", o.deadline, "Time allowed per request (default 10s)")->type_name("DUR");
  app.require_subcommand(0, 1);
}

Result<Exit> run(const CommonOptions& common, const Options& o) {
  if (o.serve != nullptr && o.serve->parsed()) {
    if (!o.http.empty() || o.release) return Error(Exit::usage, "serve: --http and --release are for records");
    return serve(common, o);
  }
  return Command(common, o).run();
}

Result<void> open_pools(const CommonOptions& c, std::optional<Stores>& stores,
                        std::optional<SandboxPools>& pools, Holder& self) {
  FAAS_TRY_ASSIGN(auto st, open_stores(c));
  stores.emplace(std::move(st));
  FAAS_TRY_ASSIGN(self, self_holder());
  pools.emplace(*stores, fs::path{}, self);
  return {};
}

}  // namespace faas::invoke
