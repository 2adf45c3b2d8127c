// faas-bench run mem: what KSM saves on many identical Python processes, and
// what zram makes of their memory. Not a race of latencies: the scenario
// measures itself (one row per variant, one per zram algorithm).
//
// KSM: `processes` python3 processes import the same modules, started the
// way the variant says (plain; under `faas-memtune ksm merge`, optionally
// with --no-aslr and PYTHONHASHSEED=0; forked from one template process).
// Their RSS and PSS are read from /proc/PID/smaps_rollup; then KSM runs
// until its full scans settle (pages_sharing unchanged over two full scans,
// bounded by settle_timeout) and the saving is pages_sharing's growth.
//
// zram: the anonymous resident pages of the baseline's processes (found
// with /proc/PID/pagemap, read from /proc/PID/mem) are written to a fresh
// zram device per algorithm the kernel offers, with O_DIRECT; mm_stat gives
// orig/compr/mem_used, the clock gives write and read throughput.
//
// Every KSM knob is put back, every zram device made here removed and every
// process started here killed (by PID), also when a step fails or SIGINT,
// SIGTERM or SIGHUP arrives.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>

#include "bench.hpp"
#include "faas/child.hpp"
#include "faas/ksm.hpp"
#include "faas/log.hpp"
#include "faas/scope_exit.hpp"
#include "faas/sysfs.hpp"
#include "faas/timing.hpp"
#include "faas/zram.hpp"

namespace faas::bench {
namespace {

// The worker: imports the modules (argv[1], comma-separated) and collects
// garbage once; with argv[2] = N > 0 it is the template and forks N
// children, each of which collects garbage once (as a child's first
// collection would) and stands in for a worker. A worker prints its PID and
// blocks reading stdin: end of file (faas-bench gone) ends it.
constexpr char kWorker[] = R"py(import gc, importlib, os, sys
for m in sys.argv[1].split(","):
    importlib.import_module(m)
gc.collect()
def serve():
    os.write(1, b"%d\n" % os.getpid())
    sys.stdin.buffer.read()
    os._exit(0)
n = int(sys.argv[2])
if n == 0:
    serve()
for _ in range(n):
    if os.fork() == 0:
        gc.collect()
        serve()
os._exit(0)
)py";

// Standard-library modules every Debian python3 (3.11) has, from small
// (json) to large (asyncio, email, unittest): what a web handler imports.
constexpr const char* kDefaultModules =
    "json,decimal,email.parser,http.client,xml.etree.ElementTree,sqlite3,asyncio,"
    "urllib.request,logging,argparse,datetime,uuid,csv,ssl,hashlib,typing,dataclasses,unittest";

constexpr double kGoalShare = 0.35;     // of the processes' RSS, saved by KSM
constexpr double kPublishedLz4 = 2.6;   // the ratio the original design quotes

struct MemVariant {
  const char* name;
  bool merge;      // under `faas-memtune ksm merge`
  bool no_aslr;    // ... --no-aslr
  bool hash_seed;  // PYTHONHASHSEED=0 (else unset: random)
  bool fork;       // forked from one template process
  const char* what;
};

constexpr MemVariant kVariants[] = {
    {"plain", false, false, false, false, "independent processes, not mergeable"},
    {"merge", true, false, false, false, "each under `faas-memtune ksm merge`"},
    {"merge-hashseed", true, false, true, false, "ksm merge, PYTHONHASHSEED=0"},
    {"merge-noaslr", true, true, false, false, "ksm merge --no-aslr"},
    {"merge-noaslr-hashseed", true, true, true, false, "ksm merge --no-aslr, PYTHONHASHSEED=0"},
    {"fork", false, false, false, true, "forked from one template, not mergeable"},
    {"fork-merge", true, false, false, true, "forked from one template under ksm merge"},
};
constexpr const char* kZram = "zram";

const MemVariant* find_variant(const std::string& name) {
  for (const auto& v : kVariants)
    if (name == v.name) return &v;
  return nullptr;
}

Result<void> pause_ms(int ms) {
  FAAS_TRY(interrupted());
  sleep_ms(ms);
  FAAS_TRY(interrupted());
  return {};
}

double mib(std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }
double round_to(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}
double seconds_since(std::uint64_t t0) { return static_cast<double>(now_ns() - t0) / 1e9; }

// ---- the worker processes -------------------------------------------------------

// The processes of one variant. Destroying it closes their stdin and kills
// each by PID (pidfd), then reaps it: the exec'd workers are our children,
// the forked ones are ours once their template exited (we are their
// subreaper).
class Workers {
 public:
  Workers() = default;
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;
  Workers(Workers&&) = default;
  Workers& operator=(Workers&&) = default;
  ~Workers() { stop(); }

  const std::vector<pid_t>& pids() const { return pids_; }

  void stop() {
    stdin_.reset();
    children_.clear();  // Child's destructor kills (SIGKILL) and reaps
    for (auto& [pid, fd] : orphans_) {
      if (fd) ::syscall(SYS_pidfd_send_signal, fd.get(), SIGKILL, nullptr, 0);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    orphans_.clear();
    pids_.clear();
  }

  static Result<Workers> start(const Context& ctx, const MemVariant& v, const std::string& python,
                               const std::string& memtune, const std::string& modules, int n);

 private:
  Fd stdin_;                                   // the write end: EOF ends every worker
  std::vector<Child> children_;                // exec'd workers, or the template
  std::vector<std::pair<pid_t, Fd>> orphans_;  // forked workers: pid, pidfd
  std::vector<pid_t> pids_;
};

std::vector<std::string> worker_argv(const MemVariant& v, const std::string& python,
                                     const std::string& memtune, const std::string& modules,
                                     const std::string& script, int forks) {
  std::vector<std::string> argv;
  if (v.merge) {
    argv = {memtune, "ksm", "merge"};
    if (v.no_aslr) argv.push_back("--no-aslr");
    argv.push_back("--");
  }
  for (std::string a : {python, std::string("-c"), script, modules, std::to_string(forks)})
    argv.push_back(std::move(a));
  return argv;
}

// The command line of a variant for the record, the script shown as $WORKER.
std::string variant_command(const MemVariant& v, const std::string& python,
                            const std::string& memtune, const std::string& modules, int n) {
  std::string env = v.hash_seed ? "PYTHONHASHSEED=0 " : "";
  std::string cmd = env + shell_join(worker_argv(v, python, memtune, modules, "WORKER", v.fork ? n : 0));
  std::size_t at = cmd.find("WORKER");
  if (at != std::string::npos) cmd.replace(at, 6, "\"$WORKER\"");
  if (!v.fork) cmd += fmt::format("  # x{}", n);
  return cmd;
}

Result<Workers> Workers::start(const Context& ctx, const MemVariant& v, const std::string& python,
                               const std::string& memtune, const std::string& modules, int n) {
  Workers w;
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return sys_error("pipe");
  Fd in_r(in[0]);
  w.stdin_.reset(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return sys_error("pipe");
  Fd out_r(out[0]), out_w(out[1]);

  // Their stderr (faas-memtune's warning that KSM is not running yet, a
  // failed import) goes to a file in the run's directory, quoted on failure.
  const std::string err_path = ctx.work_dir + "/workers.stderr";
  Fd err(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600));
  if (!err) return sys_error("create `" + err_path + "'");
  auto last_error = [&] {
    auto text = read_small_file(err_path);
    if (!text || text->empty()) return std::string();
    std::string t = *text;
    while (!t.empty() && t.back() == '\n') t.pop_back();
    return ": " + t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
  };

  SpawnOptions so;
  so.env = {v.hash_seed ? "PYTHONHASHSEED=0" : "PYTHONHASHSEED"};
  so.fds = {{in_r.get(), 0}, {out_w.get(), 1}, {err.get(), 2}};
  const int spawns = v.fork ? 1 : n;
  for (int i = 0; i < spawns; ++i) {
    FAAS_TRY_ASSIGN(Child c, Child::spawn(worker_argv(v, python, memtune, modules, kWorker,
                                                      v.fork ? n : 0), so));
    w.children_.push_back(std::move(c));
  }
  out_w.reset();

  // One line per worker: its PID, once its imports are done.
  std::string buf;
  const std::uint64_t t0 = now_ns();
  while (static_cast<int>(w.pids_.size()) < n) {
    FAAS_TRY(interrupted());
    int left = ctx.timeout_ms - static_cast<int>((now_ns() - t0) / 1000000);
    if (left <= 0)
      return Error(Exit::temp, fmt::format("{} of {} workers ready after {} ms (--timeout)",
                                           w.pids_.size(), n, ctx.timeout_ms));
    pollfd p{out_r.get(), POLLIN, 0};
    int r = ::poll(&p, 1, std::min(left, 100));
    if (r < 0 && errno != EINTR) return sys_error("poll the workers");
    if (r <= 0) continue;
    char chunk[512];
    ssize_t got = ::read(out_r.get(), chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return sys_error("read the workers' PIDs");
    if (got == 0)
      return Error(Exit::software, fmt::format("the workers exited with {} of {} ready{}",
                                               w.pids_.size(), n, last_error()));
    buf.append(chunk, static_cast<std::size_t>(got));
    for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
      FAAS_TRY_ASSIGN(std::int64_t pid, parse_i64(buf.substr(0, nl), "worker PID"));
      w.pids_.push_back(static_cast<pid_t>(pid));
      if (v.fork) {
        Fd fd(static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0)));
        if (!fd) return sys_error(fmt::format("pidfd_open worker {}", pid));
        w.orphans_.emplace_back(static_cast<pid_t>(pid), std::move(fd));
      }
    }
  }
  if (v.fork) {
    // The template exits once it forked: its children become ours.
    FAAS_TRY_ASSIGN(auto st, w.children_.front().wait_for(ctx.timeout_ms));
    if (!st) return Error(Exit::temp, "the template did not exit after forking");
    w.children_.clear();
  }
  return w;
}

// ---- KSM ------------------------------------------------------------------------

struct Totals {
  std::int64_t rss = 0, pss = 0, anonymous = 0, ksm = 0, merging_pages = 0;
  int merge_any = 0;
  Json merging_per_process = Json::array();  // ksm_merging_pages of each
};

Result<Totals> read_totals(const std::vector<pid_t>& pids) {
  Totals t;
  for (pid_t pid : pids) {
    FAAS_TRY_ASSIGN(ProcMemory m, read_proc_memory(pid));
    t.rss += m.rss;
    t.pss += m.pss;
    t.anonymous += m.anonymous;
    t.ksm += m.ksm;
    t.merging_pages += m.ksm_merging_pages;
    t.merging_per_process.push_back(m.ksm_merging_pages);
    t.merge_any += m.ksm_merge_any ? 1 : 0;
  }
  return t;
}

struct Settle {
  double seconds = 0;
  bool settled = false;
  std::int64_t full_scans = 0;
  KsmStatus before, after;
};

// Runs KSM until pages_sharing has stayed the same for `scans` full scans
// (and at least three full scans ran), or timeout_ms.
Result<Settle> settle_ksm(const Sysfs& sys, int scans, int timeout_ms) {
  Settle s;
  FAAS_TRY_ASSIGN(s.before, read_ksm(sys));
  FAAS_TRY(sys.write("kernel/mm/ksm/run", "1"));
  const std::uint64_t t0 = now_ns();
  std::int64_t sharing = s.before.pages_sharing, since = s.before.full_scans;
  for (;;) {
    FAAS_TRY(pause_ms(50));
    FAAS_TRY_ASSIGN(KsmStatus k, read_ksm(sys));
    s.after = k;
    if (k.pages_sharing != sharing) {
      sharing = k.pages_sharing;
      since = k.full_scans;  // changed during a scan up to this one
    } else if (k.full_scans - s.before.full_scans >= 3 && k.full_scans - since >= scans) {
      s.settled = true;
      break;
    }
    if (seconds_since(t0) * 1000 >= timeout_ms) break;
  }
  s.seconds = seconds_since(t0);
  s.full_scans = s.after.full_scans - s.before.full_scans;
  return s;
}

// After the workers are gone KSM drops their rmap items as it scans their
// dead mm: wait for pages_shared/pages_sharing to fall back, so the next
// variant starts from clean counters.
void await_ksm_drop(const Sysfs& sys, const KsmStatus& before, int timeout_ms) {
  const std::uint64_t t0 = now_ns();
  while (seconds_since(t0) * 1000 < timeout_ms) {
    auto k = read_ksm(sys);
    if (!k) return;
    if (k->pages_sharing <= before.pages_sharing && k->pages_shared <= before.pages_shared) return;
    if (!pause_ms(50)) return;
  }
  log_warn("mem: KSM still counts merged pages of the stopped workers after " +
           std::to_string(timeout_ms) + " ms");
}

struct KsmRow {
  const MemVariant* v;
  Totals before, after;
  std::optional<Settle> settle;
  std::int64_t saved = 0;
  double ready_s = 0;
  std::string command;
};

// ---- zram -----------------------------------------------------------------------

// Page-aligned anonymous memory (O_DIRECT needs the alignment).
class PageBuffer {
 public:
  explicit PageBuffer(std::size_t cap) : cap_(cap) {
    void* p = ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) data_ = static_cast<char*>(p);
  }
  ~PageBuffer() {
    if (data_ != nullptr) ::munmap(data_, cap_);
  }
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;
  bool ok() const { return data_ != nullptr; }
  char* data() { return data_; }
  std::size_t cap() const { return cap_; }
  std::size_t size = 0;

 private:
  char* data_ = nullptr;
  std::size_t cap_;
};

// Appends the anonymous resident pages of pid (pagemap: present, not a
// file page or shared anonymous) to buf, up to its capacity.
Result<void> copy_anon_pages(pid_t pid, PageBuffer& buf) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::string dir = "/proc/" + std::to_string(pid);
  FAAS_TRY_ASSIGN(std::string maps, read_small_file(dir + "/maps"));
  Fd pagemap(::open((dir + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC));
  Fd mem(::open((dir + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
  if (!pagemap || !mem) return sys_error("open " + dir + "/pagemap and mem");
  std::vector<std::uint64_t> entries;
  std::size_t pos = 0;
  while (pos < maps.size() && buf.size + page <= buf.cap()) {
    std::size_t nl = maps.find('\n', pos);
    std::string line = maps.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? maps.size() : nl + 1;
    unsigned long lo = 0, hi = 0;
    char perms[5] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %4s", &lo, &hi, perms) != 3) continue;
    if (perms[0] != 'r' || line.find("[vsyscall]") != std::string::npos ||
        line.find("[vvar") != std::string::npos)
      continue;
    std::size_t pages = (hi - lo) / page;
    entries.resize(pages);
    ssize_t got = ::pread(pagemap.get(), entries.data(), pages * 8,
                          static_cast<off_t>(lo / page * 8));
    if (got < 0) continue;
    pages = static_cast<std::size_t>(got) / 8;
    for (std::size_t i = 0; i < pages && buf.size + page <= buf.cap(); ++i) {
      const std::uint64_t e = entries[i];
      const bool present = (e >> 63) & 1, file_or_shared = (e >> 61) & 1;
      if (!present || file_or_shared) continue;
      if (::pread(mem.get(), buf.data() + buf.size, page, static_cast<off_t>(lo + i * page)) ==
          static_cast<ssize_t>(page))
        buf.size += page;
    }
  }
  return {};
}

struct ZramRow {
  std::string algorithm;
  ZramMmStat mm;
  std::size_t bytes = 0;
  double write_s = 0, read_s = 0;
  std::string skipped;
};

Result<void> transfer(int fd, char* data, std::size_t size, bool write) {
  constexpr std::size_t kChunk = 1 << 20;
  for (std::size_t off = 0; off < size;) {
    std::size_t len = std::min(kChunk, size - off);
    ssize_t n = write ? ::pwrite(fd, data + off, len, static_cast<off_t>(off))
                      : ::pread(fd, data + off, len, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return sys_error(write ? "write the zram device" : "read the zram device", Exit::io);
    off += static_cast<std::size_t>(n);
  }
  return {};
}

// One device with `algorithm` (empty: the kernel's default): the pages
// written and read back with O_DIRECT, compared, mm_stat read, the device
// removed (also on failure). algorithms receives the device's list.
Result<ZramRow> measure_zram(const Sysfs& sys, PageBuffer& pages, const std::string& algorithm,
                             std::vector<std::string>* algorithms) {
  ZramAddOptions opts;
  opts.size = (pages.size + (1 << 20)) & ~std::uint64_t{4095};
  opts.algorithm = algorithm;
  FAAS_TRY_ASSIGN(Json added, zram_add(sys, opts));
  FAAS_TRY_ASSIGN(int id, parse_zram_name(added["zram"]["dev"].get<std::string>()));
  ScopeExit remove([&] {
    if (auto r = zram_remove(sys, id, false); !r) log_error("mem: " + r.error().what());
  });
  FAAS_TRY_ASSIGN(ZramDevice dev, read_zram(sys, id));
  if (algorithms != nullptr) *algorithms = dev.algorithms;
  ZramRow row;
  row.algorithm = dev.algorithm;
  row.bytes = pages.size;
  PageBuffer back(pages.size);
  if (!back.ok()) return sys_error("mmap a read-back buffer");
  {
    FAAS_TRY_ASSIGN(Fd fd, open_zram(sys, id, O_RDWR | O_DIRECT));
    std::uint64_t t0 = now_ns();
    FAAS_TRY(transfer(fd.get(), pages.data(), pages.size, true));
    row.write_s = seconds_since(t0);
    FAAS_TRY_ASSIGN(row.mm, read_mm_stat(sys, id));
    t0 = now_ns();
    FAAS_TRY(transfer(fd.get(), back.data(), pages.size, false));
    row.read_s = seconds_since(t0);
  }
  if (std::memcmp(back.data(), pages.data(), pages.size) != 0)
    return Error(Exit::software, "zram" + std::to_string(id) + ": read back differs from what was written");
  return row;
}

// ---- the scenario ---------------------------------------------------------------

class MemScenario final : public Scenario {
 public:
  std::string_view name() const override { return "mem"; }
  std::string_view summary() const override {
    return "KSM on identical Python processes (plain, no-ASLR, hash seed, forked); zram per algorithm";
  }
  bool self_measured() const override { return true; }
  Result<std::uint64_t> once(const Variant&) override {
    return Error(Exit::software, "scenario mem is self-measured");
  }

  std::vector<Param> params() const override {
    return {
        {"processes", "8", "identical Python processes per variant"},
        {"modules", kDefaultModules, "modules each process imports (comma-separated)"},
        {"settle_timeout", "30", "seconds KSM may run per variant before its scans settle"},
        {"settle_scans", "2", "KSM has settled when pages_sharing stayed the same this many full scans"},
        {"pages_to_scan", "5000", "KSM pages_to_scan while measuring (restored after)"},
        {"sleep_millisecs", "10", "KSM sleep_millisecs while measuring (restored after)"},
        {"smart_scan", "0", "KSM smart_scan while measuring (restored after): 1 skips pages that did "
                            "not merge for up to 8 scans, so pages_sharing can stall and resume"},
        {"zram_mib", "64", "at most this many MiB of the processes' pages go to each zram device"},
        {"python", "/usr/bin/python3", "the interpreter"},
        {"memtune", "", "faas-memtune (default: next to faas-bench, then $PATH)"},
    };
  }

  std::vector<Variant> variants(const Context& ctx) override {
    resolve(ctx);
    const bool ksm = Sysfs().exists("kernel/mm/ksm/run");
    const bool merge_ok = !memtune_.empty();
    std::vector<Variant> out;
    for (const auto& mv : kVariants) {
      Variant v;
      v.name = mv.name;
      v.path = mv.merge ? memtune_ : python_;
      if (!is_executable_file(python_)) v.skipped = "no " + python_;
      else if (!ksm) v.skipped = "this kernel has no KSM (/sys/kernel/mm/ksm)";
      else if (mv.merge && !merge_ok) v.skipped = "faas-memtune not found (--param memtune=PATH)";
      out.push_back(std::move(v));
    }
    Variant z;
    z.name = kZram;
    z.path = "/sys/class/zram-control/hot_add";
    if (!Sysfs().exists("class/zram-control/hot_add"))
      z.skipped = "no zram (/sys/class/zram-control; load the zram module)";
    out.push_back(std::move(z));
    return out;
  }

  Result<void> prepare(const Context& ctx) override {
    FAAS_TRY_ASSIGN(long long n, ctx.int_param("processes", 8));
    if (n < 1 || n > 256) return Error(Exit::usage, "--param processes must be 1..256");
    processes_ = static_cast<int>(n);
    FAAS_TRY_ASSIGN(long long t, ctx.int_param("settle_timeout", 30));
    settle_ms_ = static_cast<int>(std::max(1LL, t) * 1000);
    FAAS_TRY_ASSIGN(long long scans, ctx.int_param("settle_scans", 2));
    if (scans < 1) return Error(Exit::usage, "--param settle_scans must be at least 1");
    settle_scans_ = static_cast<int>(scans);
    FAAS_TRY_ASSIGN(smart_scan_, ctx.int_param("smart_scan", 0));
    if (smart_scan_ > 1) return Error(Exit::usage, "--param smart_scan must be 0 or 1");
    FAAS_TRY_ASSIGN(pages_to_scan_, ctx.int_param("pages_to_scan", 5000));
    FAAS_TRY_ASSIGN(sleep_ms_, ctx.int_param("sleep_millisecs", 10));
    FAAS_TRY_ASSIGN(long long z, ctx.int_param("zram_mib", 64));
    if (z < 1) return Error(Exit::usage, "--param zram_mib must be at least 1");
    zram_bytes_ = static_cast<std::size_t>(z) << 20;
    modules_ = ctx.param("modules", kDefaultModules);
    if (modules_.empty() || modules_.find_first_of(" \t'\"") != std::string::npos)
      return Error(Exit::usage, "--param modules: comma-separated module names");
    return require_root("faas-bench run mem (KSM and zram knobs)");
  }

  Result<Report> measure(const Context& ctx, const std::vector<Variant*>& wanted) override {
    // KSM's knobs and counters are global: one run at a time on a machine.
    Fd lock(::open("/sys/kernel/mm/ksm", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!lock) return sys_error("open /sys/kernel/mm/ksm");
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0)
      return errno == EWOULDBLOCK
                 ? Error(Exit::temp, "another `faas-bench run mem' is running (KSM is global)")
                 : sys_error("flock /sys/kernel/mm/ksm");
    // Forked workers are orphaned when their template exits: adopt them.
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return sys_error("prctl(PR_SET_CHILD_SUBREAPER)");
    ScopeExit unreaper([] { ::prctl(PR_SET_CHILD_SUBREAPER, 0); });

    Sysfs sys;
    FAAS_TRY_ASSIGN(KsmKnobs saved, save_ksm_knobs(sys));
    std::optional<Error> restore_error;
    Json restored;
    auto restore = [&] {
      auto r = restore_ksm_knobs(sys, saved);
      if (r) restored = std::move(*r);
      else restore_error = std::move(r).error();
    };
    ScopeExit put_back(restore);
    if (const std::string* mode = saved.find("advisor_mode"); mode && *mode != "none")
      FAAS_TRY(sys.write("kernel/mm/ksm/advisor_mode", "none"));  // else it owns pages_to_scan
    FAAS_TRY(sys.write("kernel/mm/ksm/pages_to_scan", std::to_string(pages_to_scan_)));
    FAAS_TRY(sys.write("kernel/mm/ksm/sleep_millisecs", std::to_string(sleep_ms_)));
    if (saved.find("smart_scan") != nullptr)
      FAAS_TRY(sys.write("kernel/mm/ksm/smart_scan", std::to_string(smart_scan_)));

    bool want_zram = std::any_of(wanted.begin(), wanted.end(), [](const Variant* v) {
      return v->name == kZram && v->skipped.empty();
    });
    std::vector<std::pair<std::string, std::string>> skipped;
    std::vector<KsmRow> rows;
    PageBuffer pages(zram_bytes_);
    if (!pages.ok()) return sys_error("mmap the zram page buffer");
    for (Variant* v : wanted) {
      if (v->name == kZram) {
        if (!v->skipped.empty()) skipped.emplace_back(v->name, v->skipped);
        continue;
      }
      if (!v->skipped.empty()) {
        skipped.emplace_back(v->name, v->skipped);
        continue;
      }
      const bool capture = want_zram && rows.empty();  // the baseline's pages feed zram
      FAAS_TRY_ASSIGN(KsmRow row, run_variant(ctx, sys, *find_variant(v->name),
                                              capture ? &pages : nullptr));
      rows.push_back(std::move(row));
    }
    std::vector<ZramRow> zram;
    if (want_zram) {
      FAAS_TRY_ASSIGN(zram, run_zram(ctx, sys, pages));
    }

    put_back.release();
    restore();
    if (restore_error) return std::move(*restore_error);
    return report(rows, zram, skipped, saved);
  }

 private:
  void resolve(const Context& ctx) {
    python_ = ctx.param("python", "/usr/bin/python3");
    memtune_ = ctx.param("memtune", "");
    if (memtune_.empty()) {
      memtune_ = ctx.self_dir + "/faas-memtune";
      if (!is_executable_file(memtune_)) memtune_ = find_in_path(ctx.peer_path, "faas-memtune");
    }
  }

  Result<KsmRow> run_variant(const Context& ctx, const Sysfs& sys, const MemVariant& v,
                             PageBuffer* capture) {
    KsmRow row;
    row.v = &v;
    row.command = variant_command(v, python_, memtune_, modules_, processes_);
    // KSM stays off until the workers are ready and measured: otherwise it
    // merges while they import, and the saving escapes the measurement.
    FAAS_TRY(sys.write("kernel/mm/ksm/run", "0"));
    FAAS_TRY_ASSIGN(KsmStatus k0, read_ksm(sys));
    const std::uint64_t t0 = now_ns();
    FAAS_TRY_ASSIGN(Workers w, Workers::start(ctx, v, python_, memtune_, modules_, processes_));
    row.ready_s = seconds_since(t0);
    FAAS_TRY_ASSIGN(row.before, read_totals(w.pids()));
    if (v.merge && row.before.merge_any != processes_)
      return Error(Exit::software, fmt::format("variant {}: {} of {} workers are mergeable "
                                               "(ksm_stat ksm_merge_any)",
                                               v.name, row.before.merge_any, processes_));
    if (capture != nullptr)
      for (pid_t pid : w.pids()) FAAS_TRY(copy_anon_pages(pid, *capture));
    if (v.merge) {
      FAAS_TRY_ASSIGN(row.settle, settle_ksm(sys, settle_scans_, settle_ms_));
      row.saved = (row.settle->after.pages_sharing - row.settle->before.pages_sharing) *
                  row.settle->after.page_size;
    }
    FAAS_TRY_ASSIGN(row.after, read_totals(w.pids()));
    w.stop();
    if (v.merge) await_ksm_drop(sys, k0, settle_ms_);
    FAAS_TRY(sys.write("kernel/mm/ksm/run", "0"));
    return row;
  }

  Result<std::vector<ZramRow>> run_zram(const Context&, const Sysfs& sys, PageBuffer& pages) {
    std::vector<ZramRow> out;
    if (pages.size == 0)
      return Error(Exit::software, "zram: no pages to compress (the baseline variant did not run)");
    std::vector<std::string> algorithms;
    FAAS_TRY_ASSIGN(ZramRow first, measure_zram(sys, pages, "", &algorithms));
    out.push_back(first);
    for (const auto& a : algorithms) {
      if (a == first.algorithm) continue;
      FAAS_TRY(interrupted());
      auto r = measure_zram(sys, pages, a, nullptr);
      if (!r) {
        if (r.error().status() != Exit::usage && r.error().status() != Exit::unavailable)
          return std::move(r).error();
        ZramRow s;
        s.algorithm = a;
        s.skipped = r.error().what();
        out.push_back(std::move(s));
        continue;
      }
      out.push_back(std::move(*r));
    }
    std::sort(out.begin(), out.end(),
              [](const ZramRow& a, const ZramRow& b) { return a.algorithm < b.algorithm; });
    return out;
  }

  Report report(const std::vector<KsmRow>& rows, const std::vector<ZramRow>& zram,
                const std::vector<std::pair<std::string, std::string>>& skipped,
                const KsmKnobs& saved) const {
    Report rep;
    rep.columns = {"variant", "rss_MiB", "pss_MiB", "ksm_saved_MiB", "saved_of_rss",
                   "pss_after_MiB", "pss_after_vs_base", "settle_s", "note"};
    const KsmRow* base = rows.empty() ? nullptr : &rows.front();
    Json modules = Json::array();
    for (std::size_t s = 0, c; s <= modules_.size(); s = c + 1) {
      c = modules_.find(',', s);
      if (c == std::string::npos) c = modules_.size();
      if (c > s) modules.push_back(modules_.substr(s, c - s));
    }
    Json knobs = Json::object();
    for (const auto& [k, val] : saved.values) knobs[k] = knob_value(val);
    knobs["pages_to_scan"] = pages_to_scan_;
    knobs["sleep_millisecs"] = sleep_ms_;
    if (knobs.contains("smart_scan")) knobs["smart_scan"] = smart_scan_;
    knobs.erase("run");
    if (knobs.contains("advisor_mode")) knobs["advisor_mode"] = "none";
    for (const auto& r : rows) {
      const MemVariant& v = *r.v;
      const double share = r.before.rss > 0 ? static_cast<double>(r.saved) / r.before.rss : 0;
      const double vs_base =
          base && base->before.pss > 0 ? static_cast<double>(r.after.pss) / base->before.pss : 0;
      Json b{{"scenario", "mem"},
             {"variant", v.name},
             {"peer", false},
             {"what", v.what},
             {"processes", processes_},
             {"start", v.fork ? "fork" : "exec"},
             {"merge", v.merge},
             {"aslr", !v.no_aslr},
             {"hashseed", v.hash_seed ? "0" : "random"},
             {"modules", modules},
             {"unit", "bytes"},
             {"memory_from", "/proc/PID/smaps_rollup"},
             {"ready_s", round_to(r.ready_s, 2)},
             {"rss_bytes", r.before.rss},
             {"pss_bytes", r.before.pss},
             {"anon_bytes", r.before.anonymous},
             {"pss_after_bytes", r.after.pss},
             {"rss_after_bytes", r.after.rss},
             {"ksm_mapped_after_bytes", r.after.ksm},
             {"ksm_merging_pages", r.after.merging_pages},
             {"ksm_merging_pages_per_process", r.after.merging_per_process},
             {"saved_bytes", r.saved},
             {"saved_share_of_rss", round_to(share, 4)},
             {"pss_after_vs_baseline", round_to(vs_base, 4)},
             {"baseline", base ? base->v->name : ""},
             {"goal", Json{{"saved_share_of_rss", kGoalShare}, {"met", share >= kGoalShare}}},
             {"command", r.command}};
      std::string settle = "-", note;
      if (r.settle) {
        const Settle& s = *r.settle;
        b["ksm"] = Json{{"settled", s.settled},
                        {"settle_s", round_to(s.seconds, 2)},
                        {"full_scans", s.full_scans},
                        {"settle_scans", settle_scans_},
                        {"pages_sharing_before", s.before.pages_sharing},
                        {"pages_sharing_after", s.after.pages_sharing},
                        {"pages_shared_before", s.before.pages_shared},
                        {"pages_shared_after", s.after.pages_shared},
                        {"knobs", knobs}};
        settle = fmt::format("{:.1f}", s.seconds);
        note = fmt::format("{} full scans{}; ", s.full_scans, s.settled ? "" : ", NOT settled");
      } else {
        b["ksm"] = nullptr;
        note = "not mergeable; ";
      }
      note += r.v->merge ? (share >= kGoalShare ? "goal 35% met" : "goal 35% missed") : v.what;
      rep.rows.push_back({v.name, fmt::format("{:.1f}", mib(r.before.rss)),
                          fmt::format("{:.1f}", mib(r.before.pss)), fmt::format("{:.1f}", mib(r.saved)),
                          fmt::format("{:.1f}%", share * 100), fmt::format("{:.1f}", mib(r.after.pss)),
                          fmt::format("{:.2f}", vs_base), settle, note});
      rep.records.push_back(Json{{"v", kRecordVersion}, {"bench", std::move(b)}});
    }
    for (const auto& z : zram) {
      std::string name = std::string(kZram) + " " + z.algorithm;
      Json b{{"scenario", "mem"}, {"variant", name}, {"peer", false}};
      if (z.skipped.empty()) b["unit"] = "bytes";
      if (!z.skipped.empty()) {
        b["skipped"] = z.skipped;
        rep.rows.push_back({name, "-", "-", "-", "-", "-", "-", "-", "skipped: " + z.skipped});
        rep.records.push_back(Json{{"v", kRecordVersion}, {"bench", std::move(b)}});
        continue;
      }
      const double ratio = z.mm.compr > 0 ? static_cast<double>(z.mm.orig) / z.mm.compr : 0;
      const double w = z.write_s > 0 ? mib(static_cast<std::int64_t>(z.bytes)) / z.write_s : 0;
      const double rd = z.read_s > 0 ? mib(static_cast<std::int64_t>(z.bytes)) / z.read_s : 0;
      Json zj{{"algorithm", z.algorithm},
              {"page_mix", "anonymous resident pages of the baseline's processes (/proc/PID/pagemap)"},
              {"bytes_written", z.bytes},
              {"orig_bytes", z.mm.orig},
              {"compr_bytes", z.mm.compr},
              {"mem_used", z.mm.mem_used},
              {"same_pages", z.mm.same_pages},
              {"ratio", round_to(ratio, 3)},
              {"ratio_mem_used", z.mm.mem_used > 0 ? round_to(static_cast<double>(z.mm.orig) / z.mm.mem_used, 3) : 0},
              {"write_mib_s", round_to(w, 1)},
              {"read_mib_s", round_to(rd, 1)}};
      if (z.algorithm == "lz4") zj["published_ratio"] = kPublishedLz4;
      b["zram"] = std::move(zj);
      std::string note = fmt::format("orig {:.1f} compr {:.1f} mem_used {:.1f} MiB, ratio {:.2f}{}, "
                                     "write {:.0f} read {:.0f} MiB/s, {} same-filled pages",
                                     mib(static_cast<std::int64_t>(z.mm.orig)),
                                     mib(static_cast<std::int64_t>(z.mm.compr)),
                                     mib(static_cast<std::int64_t>(z.mm.mem_used)), ratio,
                                     z.algorithm == "lz4" ? " (published 2.6)" : "", w, rd,
                                     z.mm.same_pages);
      rep.rows.push_back({name, "-", "-", "-", "-", "-", "-", "-", note});
      rep.records.push_back(Json{{"v", kRecordVersion}, {"bench", std::move(b)}});
    }
    for (const auto& [name, why] : skipped) {
      rep.rows.push_back({name, "-", "-", "-", "-", "-", "-", "-", "skipped: " + why});
      rep.records.push_back(Json{{"v", kRecordVersion},
                                 {"bench", Json{{"scenario", "mem"}, {"variant", name},
                                                {"peer", false}, {"skipped", why}}}});
    }
    return rep;
  }

  std::string python_, memtune_, modules_;
  int processes_ = 8;
  int settle_ms_ = 30000;
  int settle_scans_ = 2;
  long long smart_scan_ = 0;
  long long pages_to_scan_ = 5000, sleep_ms_ = 10;
  std::size_t zram_bytes_ = 64u << 20;
};

}  // namespace

std::unique_ptr<Scenario> make_mem_scenario() { return std::make_unique<MemScenario>(); }

}  // namespace faas::bench
