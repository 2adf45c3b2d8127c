// Scenario `fork`: a private, writable copy of a rootfs of ~10,000 files,
// made by every faas-fork method and by the commands people use for it.
//
// prepare() makes everything the run needs inside the work dir: a base tree
// (directories, small files, a few larger ones, symlinks, a hard link) on the
// work dir's own filesystem, a btrfs and an XFS (reflink=1) filesystem on
// loop devices (truncate + mkfs + LOOP_CONFIGURE + mount(2)) each holding the
// same tree (on btrfs as a subvolume), and a tmpfs for `cp -a`. faas-fork
// runs with --state-dir/--run-dir in the work dir, never the operator's.
//
// Per iteration: the variant's command is spawned and timed from spawn to
// reaped (the whole process, as the other scenarios do); what it made is then
// removed, untimed, before once() returns. `rm` is the other way round: an
// overlay fork is made untimed, then `faas-fork rm ID` is timed.
//
// Variants that copy the whole tree (reflink, copy and their peers) take
// about a second per iteration with 10,000 files: they run at most
// --param slow_iterations times (one warmup), spread over the run. After
// removing such a copy the filesystem is synced (untimed): deleting 10,000
// files leaves work to the filesystem's workers (XFS's inode inactivation,
// btrfs's delayed references and commit) that would otherwise land on
// whichever variant runs next.
//
// Everything prepare() made (mounts, loop devices, files) goes in teardown(),
// also after a failure; SIGINT and SIGTERM end the current iteration with an
// error so that teardown runs.
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/loop.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench.hpp"
#include "faas/log.hpp"
#include "faas/timing.hpp"

namespace faas::bench {
namespace {

namespace fs = std::filesystem;

constexpr long long kDefaultFiles = 10000;
constexpr long long kDefaultSlow = 3;
constexpr const char* kImageSize = "2G";  // sparse: only what is written takes space
constexpr off_t kImageBytes = 2LL << 30;

bool kernel_has(const std::string& fstype) {
  std::ifstream f("/proc/filesystems");
  std::string line;
  while (std::getline(f, line)) {
    auto tab = line.rfind('\t');
    if ((tab == std::string::npos ? line : line.substr(tab + 1)) == fstype) return true;
  }
  return false;
}

// A tool on the peer path, or in the sbin directories root's PATH has.
std::string find_tool(const Context& ctx, std::string_view name) {
  std::string p = find_in_path(ctx.peer_path, name);
  if (p.empty()) p = find_in_path({"/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"}, name);
  return p;
}

// What one timed spawn gives back.
struct Ran {
  std::uint64_t ns = 0;
  std::string out;  // stdout, when asked for
};

// The kinds of variant, each with its own command and cleanup.
enum class Kind {
  orig_overlay,   // mkdir -p + mount -t overlay, two processes
  fork_create,    // faas-fork --METHOD ...; cleanup: faas-fork rm
  fork_rm,        // untimed faas-fork --overlay, timed faas-fork rm
  btrfs_snapshot, // btrfs subvolume snapshot; cleanup: snapshot destroyed
  cp,             // cp -a [--reflink=always]; cleanup: the copy deleted
};

struct Plan {
  Kind kind;
  std::vector<std::string> args;  // faas-fork method flags, or cp flags
  std::string base;               // the tree forked or copied
  std::string state;              // faas-fork's state dir
  std::string dest;               // where peers put their copies
  bool slow = false;              // copies the whole tree: settle() after
};

class ForkScenario final : public Scenario {
 public:
  ~ForkScenario() override { teardown(); }

  std::string_view name() const override { return "fork"; }
  std::string_view summary() const override {
    return "a writable copy of a ~10,000-file rootfs: faas-fork overlay, btrfs, reflink, copy "
           "and rm, against mkdir+mount -t overlay, btrfs subvolume snapshot, cp -a and "
           "cp -a --reflink=always";
  }

  std::vector<Param> params() const override {
    return {{"files", std::to_string(kDefaultFiles), "entries in the base tree (files, symlinks)"},
            {"state", "workdir",
             "where faas-fork's state and run dirs and the original approach's dirs are: `workdir` "
             "(the work dir's filesystem), `tmpfs` (all on a tmpfs the scenario mounts) or "
             "`run-tmpfs` (the run dir, where the fork rows are, on a tmpfs as /run is on most "
             "hosts; the rest in the work dir)"},
            {"slow_iterations", std::to_string(kDefaultSlow),
             "at most this many timed iterations (and one warmup) of the variants that copy "
             "the whole tree: reflink, copy, cp -a"}};
  }

  std::vector<Variant> variants(const Context& ctx) override {
    const std::string w = ctx.work_dir.empty() ? "WORK" : ctx.work_dir;
    state_on_tmpfs_ = ctx.param("state", "workdir") == "tmpfs";
    run_on_tmpfs_ = ctx.param("state", "workdir") == "run-tmpfs";
    paths(w);
    auto slow_cap = ctx.int_param("slow_iterations", kDefaultSlow);
    const int slow = slow_cap && *slow_cap > 0 ? static_cast<int>(*slow_cap) : 1;
    fork_bin_ = ctx.self_dir + "/faas-fork";
    const bool root = ::geteuid() == 0;
    const std::string mkdir = find_tool(ctx, "mkdir"), mount = find_tool(ctx, "mount"),
                      cp = find_tool(ctx, "cp"), btrfs = find_tool(ctx, "btrfs");
    const bool overlay = kernel_has("overlay");
    const bool loop = ::access("/dev/loop-control", W_OK) == 0;
    std::string no_btrfs, no_xfs;
    if (!kernel_has("btrfs")) no_btrfs = "btrfs not in the kernel (/proc/filesystems)";
    else if (find_tool(ctx, "mkfs.btrfs").empty()) no_btrfs = "mkfs.btrfs not installed (Debian package btrfs-progs)";
    if (!kernel_has("xfs")) no_xfs = "xfs not in the kernel (/proc/filesystems)";
    else if (find_tool(ctx, "mkfs.xfs").empty()) no_xfs = "mkfs.xfs not installed (Debian package xfsprogs)";
    if (!loop) no_btrfs = no_xfs = "no loop devices (/dev/loop-control)";
    want_btrfs_ = root && no_btrfs.empty();
    want_xfs_ = root && no_xfs.empty();
    const std::string no_root = "must run as root (mounts, loop devices)";
    const std::string no_fork =
        is_executable_file(fork_bin_) ? "" : "faas-fork not found at " + q(fork_bin_) + " (build it)";
    const std::string no_overlay = overlay ? "" : "overlayfs not in the kernel (/proc/filesystems)";

    std::vector<Variant> out;
    plans_.clear();
    auto add = [&](std::string vname, bool peer, std::string path, std::string skipped,
                   std::string command, Plan plan, bool is_slow) {
      Variant v;
      v.name = std::move(vname);
      v.peer = peer;
      v.path = std::move(path);
      if (skipped.empty() && !root) skipped = no_root;
      v.skipped = std::move(skipped);
      v.command = std::move(command);
      v.max_iterations = is_slow ? slow : 0;
      plan.slow = is_slow;
      plans_.emplace(v.name, std::move(plan));
      out.push_back(std::move(v));
    };
    auto first = [](std::initializer_list<std::string> reasons) {
      for (const auto& r : reasons)
        if (!r.empty()) return r;
      return std::string();
    };
    auto ff = [&](const std::vector<std::string>& flags, const std::string& base,
                  const std::string& state) {
      std::vector<std::string> argv{fork_bin_};
      argv.insert(argv.end(), flags.begin(), flags.end());
      argv.insert(argv.end(), {"--base", base, "--state-dir", state, "--run-dir", run_});
      return shell_join(argv);
    };
    const std::string no_mkdir = mkdir.empty() ? "mkdir not found (coreutils)" : "";
    const std::string no_mount = mount.empty() ? "mount not found (Debian package mount)" : "";
    const std::string no_cp = cp.empty() ? "cp not found (coreutils)" : "";
    const std::string no_btrfs_tool = btrfs.empty() ? "btrfs not installed (Debian package btrfs-progs)" : "";
    mkdir_ = mkdir;
    mount_ = mount;
    cp_ = cp;
    btrfs_ = btrfs;

    // The original design's fork, the baseline: two processes.
    add("mkdir+mount", true, mount, first({no_overlay, no_mkdir, no_mount}),
        "mkdir -p D/upper D/work D/merged && mount -t overlay overlay -o "
        "lowerdir=" + base_ + ",upperdir=D/upper,workdir=D/work D/merged",
        Plan{Kind::orig_overlay, {}, base_, {}, orig_}, false);
    add("overlay", false, fork_bin_, first({no_overlay, no_fork}),
        ff({"--overlay"}, base_, state_), Plan{Kind::fork_create, {"--overlay"}, base_, state_, {}},
        false);
    add("overlay-tmpfs", false, fork_bin_, first({no_overlay, no_fork}),
        ff({"--overlay", "--upper-tmpfs", "64M"}, base_, state_),
        Plan{Kind::fork_create, {"--overlay", "--upper-tmpfs", "64M"}, base_, state_, {}}, false);
    add("rm", false, fork_bin_, first({no_overlay, no_fork}),
        shell_join({fork_bin_, "rm", "--state-dir", state_, "--run-dir", run_, "ID"}) +
            "  # ID: an overlay fork made untimed",
        Plan{Kind::fork_rm, {}, base_, state_, {}}, false);
    add("btrfs", false, fork_bin_, first({no_btrfs, no_fork}),
        ff({"--btrfs"}, btrfs_base_, btrfs_state_),
        Plan{Kind::fork_create, {"--btrfs"}, btrfs_base_, btrfs_state_, {}}, false);
    add("btrfs-snapshot", true, btrfs, first({no_btrfs, no_btrfs_tool}),
        shell_join({btrfs.empty() ? "btrfs" : btrfs, "-q", "subvolume", "snapshot", btrfs_base_,
                    btrfs_dest_ + "/N"}),
        Plan{Kind::btrfs_snapshot, {}, btrfs_base_, {}, btrfs_dest_}, false);
    add("reflink-btrfs", false, fork_bin_, first({no_btrfs, no_fork}),
        ff({"--reflink"}, btrfs_base_, btrfs_state_),
        Plan{Kind::fork_create, {"--reflink"}, btrfs_base_, btrfs_state_, {}}, true);
    add("cp-reflink-btrfs", true, cp, first({no_btrfs, no_cp}),
        shell_join({cp.empty() ? "cp" : cp, "-a", "--reflink=always", btrfs_base_, btrfs_dest_ + "/N"}),
        Plan{Kind::cp, {"-a", "--reflink=always"}, btrfs_base_, {}, btrfs_dest_}, true);
    add("reflink-xfs", false, fork_bin_, first({no_xfs, no_fork}),
        ff({"--reflink"}, xfs_base_, xfs_state_),
        Plan{Kind::fork_create, {"--reflink"}, xfs_base_, xfs_state_, {}}, true);
    add("cp-reflink-xfs", true, cp, first({no_xfs, no_cp}),
        shell_join({cp.empty() ? "cp" : cp, "-a", "--reflink=always", xfs_base_, xfs_dest_ + "/N"}),
        Plan{Kind::cp, {"-a", "--reflink=always"}, xfs_base_, {}, xfs_dest_}, true);
    // A real copy on both sides: onto a tmpfs (cp -a reflinks by default
    // where it can, and copy_file_range clones within btrfs and XFS).
    add("copy", false, fork_bin_, no_fork, ff({"--copy", "--upper-tmpfs", "2G"}, base_, state_),
        Plan{Kind::fork_create, {"--copy", "--upper-tmpfs", "2G"}, base_, state_, {}}, true);
    add("cp-a", true, cp, no_cp,
        shell_join({cp.empty() ? "cp" : cp, "-a", base_, tmpfs_ + "/N"}) + "  # onto a tmpfs",
        Plan{Kind::cp, {"-a"}, base_, {}, tmpfs_}, true);
    return out;
  }

  Result<void> prepare(const Context& ctx) override {
    timeout_ms_ = ctx.timeout_ms;
    pidns_ = false;  // faas-fork's default holder is its parent: no pid namespace here
    FAAS_TRY_ASSIGN(long long files, ctx.int_param("files", kDefaultFiles));
    FAAS_TRY_ASSIGN(long long slow, ctx.int_param("slow_iterations", kDefaultSlow));
    if (files < 1) return Error(Exit::usage, "--param files must be at least 1");
    if (slow < 1) return Error(Exit::usage, "--param slow_iterations must be at least 1");
    const std::string where = ctx.param("state", "workdir");
    if (where != "workdir" && where != "tmpfs" && where != "run-tmpfs")
      return Error(Exit::usage, "--param state=" + where + ": expected workdir, tmpfs or run-tmpfs");
    state_on_tmpfs_ = where == "tmpfs";
    run_on_tmpfs_ = where == "run-tmpfs";
    work_ = ctx.work_dir;
    paths(work_);
    devnull_ = Fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull_) return sys_error("open /dev/null");

    if (state_on_tmpfs_) FAAS_TRY(mount_fs("tmpfs", "tmpfs", work_ + "/statefs", "mode=0700"));
    if (run_on_tmpfs_) FAAS_TRY(mount_fs("tmpfs", "tmpfs", work_ + "/runfs", "mode=0700"));
    for (const auto& d : {state_, run_, orig_})
      if (::mkdir(d.c_str(), 0700) != 0) return sys_error("mkdir " + q(d), Exit::cant_create);
    FAAS_TRY_CTX(make_tree(base_, files), "base tree " + q(base_));
    FAAS_TRY(mount_fs("tmpfs", "tmpfs", tmpfs_, "size=2g,mode=0700"));
    if (want_btrfs_) {
      FAAS_TRY(make_loop_fs("btrfs", {"-q"}, work_ + "/btrfs"));
      FAAS_TRY(btrfs_subvolume(btrfs_base_));
      FAAS_TRY_CTX(make_tree(btrfs_base_, files), "base tree " + q(btrfs_base_));
      for (const auto& d : {btrfs_state_, btrfs_dest_})
        if (::mkdir(d.c_str(), 0700) != 0) return sys_error("mkdir " + q(d), Exit::cant_create);
    }
    if (want_xfs_) {
      FAAS_TRY(make_loop_fs("xfs", {"-q", "-m", "reflink=1"}, work_ + "/xfs"));
      FAAS_TRY_CTX(make_tree(xfs_base_, files), "base tree " + q(xfs_base_));
      for (const auto& d : {xfs_state_, xfs_dest_})
        if (::mkdir(d.c_str(), 0700) != 0) return sys_error("mkdir " + q(d), Exit::cant_create);
    }
    ::sync();  // what the trees wrote is not flushed inside a timed iteration
    return {};
  }

  Result<std::uint64_t> once(const Variant& v) override {
    FAAS_TRY(interrupted());
    const Plan& p = plans_.at(v.name);
    const std::string n = std::to_string(++seq_);
    switch (p.kind) {
      case Kind::orig_overlay: {
        const std::string d = p.dest + "/" + n;
        std::vector<std::string> mk{mkdir_, "-p", d + "/upper", d + "/work", d + "/merged"};
        std::vector<std::string> mnt{mount_, "-t", "overlay", "overlay", "-o",
                                     "lowerdir=" + p.base + ",upperdir=" + d + "/upper,workdir=" + d + "/work",
                                     d + "/merged"};
        ExecArgs a(mk, child_environment({})), b(mnt, child_environment({}));
        const std::uint64_t t0 = now_ns();
        auto r1 = run(a, false);
        auto r2 = r1 ? run(b, false) : Result<Ran>(r1.error());
        const std::uint64_t t1 = now_ns();
        if (::umount2((d + "/merged").c_str(), 0) != 0) ::umount2((d + "/merged").c_str(), MNT_DETACH);
        std::error_code ec;
        fs::remove_all(d, ec);
        FAAS_TRY(r2);
        return t1 - t0;
      }
      case Kind::fork_create: {
        std::vector<std::string> argv{fork_bin_};
        argv.insert(argv.end(), p.args.begin(), p.args.end());
        argv.insert(argv.end(), {"--base", p.base, "--state-dir", p.state, "--run-dir", run_});
        ExecArgs a(argv, child_environment({}));
        FAAS_TRY_ASSIGN(Ran r, run(a, true));
        FAAS_TRY(fork_rm(p.state, fork_id(r.out)));
        if (p.slow) FAAS_TRY(settle(p.state));
        return r.ns;
      }
      case Kind::fork_rm: {
        ExecArgs mk({fork_bin_, "--overlay", "--base", p.base, "--state-dir", p.state, "--run-dir", run_},
                    child_environment({}));
        FAAS_TRY_ASSIGN(Ran made, run(mk, true));
        FAAS_TRY_ASSIGN(std::string id, fork_id(made.out));
        ExecArgs rm({fork_bin_, "rm", "--state-dir", p.state, "--run-dir", run_, id},
                    child_environment({}));
        FAAS_TRY_ASSIGN(Ran r, run(rm, false));
        return r.ns;
      }
      case Kind::btrfs_snapshot: {
        ExecArgs a({btrfs_, "-q", "subvolume", "snapshot", p.base, p.dest + "/" + n},
                   child_environment({}));
        auto r = run(a, false);
        Result<void> gone = btrfs_destroy(p.dest, n);
        FAAS_TRY_ASSIGN(Ran ran, std::move(r));
        FAAS_TRY(gone);
        return ran.ns;
      }
      case Kind::cp: {
        std::vector<std::string> argv{cp_};
        argv.insert(argv.end(), p.args.begin(), p.args.end());
        argv.insert(argv.end(), {p.base, p.dest + "/" + n});
        ExecArgs a(argv, child_environment({}));
        auto r = run(a, false);
        std::error_code ec;
        fs::remove_all(p.dest + "/" + n, ec);
        FAAS_TRY_ASSIGN(Ran ran, std::move(r));
        if (ec) return sys_error(ec.value(), "remove the copy " + q(p.dest + "/" + n));
        if (p.slow) FAAS_TRY(settle(p.dest));
        return ran.ns;
      }
    }
    return Error(Exit::software, "unknown variant kind");
  }

  // Syncs the filesystem holding dir (see the top of the file).
  static Result<void> settle(const std::string& dir) {
    Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d || ::syncfs(d.get()) != 0) return sys_error("sync the filesystem of " + q(dir));
    return {};
  }

  // Unmounts everything under the work dir (the loop filesystems, the tmpfs,
  // forks an interrupted iteration left), detaches the loop devices and
  // checks that nothing is left; the runner then deletes the work dir.
  void teardown() override {
    if (work_.empty()) return;
    for (int pass = 0; pass < 3; ++pass) {
      auto mounts = mounts_under(work_);
      if (mounts.empty()) break;
      std::sort(mounts.rbegin(), mounts.rend());  // deepest first
      for (const auto& m : mounts)
        if (::umount2(m.c_str(), 0) != 0) ::umount2(m.c_str(), MNT_DETACH);
    }
    for (const auto& m : mounts_under(work_)) log_warn("fork scenario: still mounted: " + m);
    for (auto& l : loops_) {
      l.fd.reset();  // the last reference: LO_FLAGS_AUTOCLEAR detaches it
      std::string backing = "/sys/block/" + l.name + "/loop/backing_file";
      bool gone = false;
      for (int i = 0; i < 200 && !gone; ++i) {
        std::ifstream f(backing);
        std::string b;
        std::getline(f, b);
        gone = !f || b.rfind(work_, 0) != 0;
        if (!gone) sleep_ms(5);
      }
      if (!gone) {
        // Still attached (something else holds it): detach it by hand.
        Fd dev(::open(("/dev/" + l.name).c_str(), O_RDONLY | O_CLOEXEC));
        if (!dev || ::ioctl(dev.get(), LOOP_CLR_FD, 0) != 0)
          log_warn("fork scenario: loop device /dev/" + l.name + " is still attached");
      }
    }
    loops_.clear();
    work_.clear();
  }

 private:
  struct Loop {
    std::string name;  // loopN
    Fd fd;
  };

  void paths(const std::string& w) {
    base_ = w + "/base";
    const std::string s = state_on_tmpfs_ ? w + "/statefs" : w;
    state_ = s + "/state";
    run_ = (run_on_tmpfs_ ? w + "/runfs" : s) + "/run";
    orig_ = s + "/orig";
    tmpfs_ = w + "/tmpfs";
    btrfs_base_ = w + "/btrfs/base";
    btrfs_state_ = w + "/btrfs/state";
    btrfs_dest_ = w + "/btrfs/copies";
    xfs_base_ = w + "/xfs/base";
    xfs_state_ = w + "/xfs/state";
    xfs_dest_ = w + "/xfs/copies";
  }

  // Spawns a and waits for it: stdout to /dev/null or read back.
  Result<Ran> run(const ExecArgs& a, bool capture) {
    int pipefd[2] = {-1, -1};
    if (capture && ::pipe2(pipefd, O_CLOEXEC) != 0) return sys_error("pipe");
    Fd rd(pipefd[0]), wr(pipefd[1]);
    Ran r;
    const std::uint64_t t0 = now_ns();
    FAAS_TRY_ASSIGN(Process proc, spawn(a, SpawnFds{devnull_.get(), capture ? wr.get() : devnull_.get(), 2, -1}, pidns_));
    auto status = proc.wait(timeout_ms_);
    r.ns = now_ns() - t0;
    wr.reset();
    if (!status) return std::move(status).error().with_status(Exit::software).wrap(q(a.args().front()));
    if (capture) {
      char buf[4096];
      ssize_t got;
      while ((got = ::read(rd.get(), buf, sizeof buf)) > 0) r.out.append(buf, static_cast<std::size_t>(got));
    }
    FAAS_TRY(interrupted());
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
      return Error(Exit::software, shell_join(a.args()) + ": " + describe_wait_status(*status));
    return r;
  }

  static Result<std::string> fork_id(const std::string& out) {
    auto rec = Json::parse(out, nullptr, false);
    if (rec.is_object() && rec.contains("fork") && rec["fork"].is_object() &&
        rec["fork"].contains("id") && rec["fork"]["id"].is_string())
      return rec["fork"]["id"].get<std::string>();
    return Error(Exit::software, "faas-fork printed no fork.id: " + q(out.substr(0, 200)));
  }

  Result<void> fork_rm(const std::string& state, Result<std::string> id) {
    FAAS_TRY(id);
    ExecArgs rm({fork_bin_, "rm", "--state-dir", state, "--run-dir", run_, *id}, child_environment({}));
    FAAS_TRY(run(rm, false));
    return {};
  }

  Result<void> mount_fs(const char* source, const char* type, const std::string& at,
                        const std::string& data) {
    if (::mkdir(at.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("mkdir " + q(at), Exit::cant_create);
    if (::mount(source, at.c_str(), type, 0, data.empty() ? nullptr : data.c_str()) != 0)
      return sys_error(std::string("mount ") + type + " at " + q(at));
    return {};
  }

  // truncate + LOOP_CONFIGURE (autoclear) + mkfs + mount at `at`.
  Result<void> make_loop_fs(const std::string& type, const std::vector<std::string>& mkfs_args,
                            const std::string& at) {
    const std::string img = work_ + "/" + type + ".img";
    Fd file(::open(img.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!file) return sys_error("create " + q(img), Exit::cant_create);
    if (::ftruncate(file.get(), kImageBytes) != 0) return sys_error("truncate " + q(img) + " to " + kImageSize);
    Fd ctl(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    if (!ctl) return sys_error("open /dev/loop-control", Exit::unavailable);
    Loop loop;
    for (int attempt = 0;; ++attempt) {
      int n = ::ioctl(ctl.get(), LOOP_CTL_GET_FREE);
      if (n < 0) return sys_error("find a free loop device", Exit::unavailable);
      loop.name = "loop" + std::to_string(n);
      Fd dev(::open(("/dev/" + loop.name).c_str(), O_RDWR | O_CLOEXEC));
      if (!dev) return sys_error("open /dev/" + loop.name);
      loop_config cfg{};
      cfg.fd = static_cast<std::uint32_t>(file.get());
      cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
      std::strncpy(reinterpret_cast<char*>(cfg.info.lo_file_name), img.c_str(), LO_NAME_SIZE - 1);
      if (::ioctl(dev.get(), LOOP_CONFIGURE, &cfg) == 0) {
        loop.fd = std::move(dev);
        break;
      }
      // Another process took it between GET_FREE and CONFIGURE: next one.
      if (errno != EBUSY || attempt >= 20) return sys_error("attach " + q(img) + " to /dev/" + loop.name);
    }
    const std::string dev = "/dev/" + loop.name;
    loops_.push_back(std::move(loop));
    std::vector<std::string> argv{find_tool_any("mkfs." + type)};
    argv.insert(argv.end(), mkfs_args.begin(), mkfs_args.end());
    argv.push_back(dev);
    ExecArgs a(argv, child_environment({}));
    auto r = run(a, false);
    if (!r) return std::move(r).error().wrap("make " + type + " on " + dev);
    return mount_fs(dev.c_str(), type.c_str(), at, "");
  }

  static std::string find_tool_any(const std::string& name) {
    std::string p = find_in_path({"/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"}, name);
    return p.empty() ? name : p;
  }

  static Result<void> btrfs_subvolume(const std::string& path) {
    fs::path p(path);
    Fd parent(::open(p.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!parent) return sys_error("open " + q(p.parent_path().string()));
    btrfs_ioctl_vol_args args{};
    std::strncpy(args.name, p.filename().c_str(), BTRFS_PATH_NAME_MAX);
    if (::ioctl(parent.get(), BTRFS_IOC_SUBVOL_CREATE, &args) != 0)
      return sys_error("create btrfs subvolume " + q(path), Exit::cant_create);
    return {};
  }

  static Result<void> btrfs_destroy(const std::string& dir, const std::string& name) {
    Fd parent(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!parent) return sys_error("open " + q(dir));
    btrfs_ioctl_vol_args args{};
    std::strncpy(args.name, name.c_str(), BTRFS_PATH_NAME_MAX);
    if (::ioctl(parent.get(), BTRFS_IOC_SNAP_DESTROY, &args) != 0 && errno != ENOENT)
      return sys_error("delete btrfs snapshot " + q(dir + "/" + name));
    return {};
  }

  // A rootfs-like tree of `files` entries: nested directories (one per 25
  // entries), small files of 64 B to 8 KiB, four larger ones (1-4 MiB), a
  // symlink in every 20 entries, one hard link, one file with an xattr.
  static Result<void> make_tree(const std::string& root, long long files) {
    if (::mkdir(root.c_str(), 0755) != 0 && errno != EEXIST)
      return sys_error("mkdir " + q(root), Exit::cant_create);
    std::vector<std::string> dirs{""};
    const long long ndirs = std::max<long long>(1, files / 25);
    std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
    auto rnd = [&] {
      seed ^= seed << 13;
      seed ^= seed >> 7;
      seed ^= seed << 17;
      return seed;
    };
    static const char* const kTop[] = {"usr", "etc", "var", "opt", "lib"};
    for (long long i = 0; i < ndirs; ++i) {
      std::string d = i < 5 ? std::string(kTop[i])
                            : dirs[1 + rnd() % (dirs.size() - 1)] + "/d" + std::to_string(i);
      if (::mkdir((root + "/" + d).c_str(), 0755) != 0)
        return sys_error("mkdir " + q(root + "/" + d), Exit::cant_create);
      dirs.push_back(std::move(d));
      FAAS_TRY(interrupted());
    }
    std::string buf(4 << 20, '\0');
    for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
    std::string first_file;
    int large = 0;
    for (long long k = 0; k < files; ++k) {
      FAAS_TRY(interrupted());
      const std::string& d = dirs[static_cast<std::size_t>(k) % dirs.size()];
      std::string rel = (d.empty() ? "" : d + "/") + "f" + std::to_string(k);
      std::string path = root + "/" + rel;
      if (k % 20 == 19 && !first_file.empty()) {
        if (::symlink(("/" + first_file).c_str(), path.c_str()) != 0)
          return sys_error("symlink " + q(path), Exit::cant_create);
        continue;
      }
      if (k == files - 1 && !first_file.empty() && files > 2) {
        if (::link((root + "/" + first_file).c_str(), path.c_str()) != 0)
          return sys_error("link " + q(path), Exit::cant_create);
        continue;
      }
      std::size_t size = 64 + rnd() % 8128;
      if (k % 2500 == 7 && large < 4) size = (std::size_t{1} << 20) * static_cast<std::size_t>(++large);
      Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, k % 10 == 0 ? 0755 : 0644));
      if (!f) return sys_error("create " + q(path), Exit::cant_create);
      std::size_t off = static_cast<std::size_t>(k) % 1024;
      if (::write(f.get(), buf.data() + off, size) != static_cast<ssize_t>(size))
        return sys_error("write " + q(path), Exit::io);
      if (first_file.empty()) {
        first_file = rel;
        (void)::fsetxattr(f.get(), "user.faas", "bench", 5, 0);  // not every fs has user xattrs
      }
    }
    return {};
  }

  static std::vector<std::string> mounts_under(const std::string& dir) {
    std::vector<std::string> out;
    std::ifstream f("/proc/self/mountinfo");
    std::string line;
    const std::string prefix = dir + "/";
    while (std::getline(f, line)) {
      std::istringstream s(line);
      std::string id, parent, devno, root, point;
      s >> id >> parent >> devno >> root >> point;
      // mountinfo escapes space, tab, newline and backslash as \ooo.
      std::string un;
      for (std::size_t i = 0; i < point.size(); ++i) {
        if (point[i] == '\\' && i + 3 < point.size()) {
          un += static_cast<char>(std::stoi(point.substr(i + 1, 3), nullptr, 8));
          i += 3;
        } else {
          un += point[i];
        }
      }
      if (un.rfind(prefix, 0) == 0) out.push_back(un);
    }
    return out;
  }

  std::map<std::string, Plan> plans_;
  std::string work_, base_, state_, run_, orig_, tmpfs_, btrfs_base_, btrfs_state_, btrfs_dest_,
      xfs_base_, xfs_state_, xfs_dest_;
  std::string fork_bin_, mkdir_, mount_, cp_, btrfs_;
  bool want_btrfs_ = false, want_xfs_ = false, state_on_tmpfs_ = false, run_on_tmpfs_ = false;
  std::vector<Loop> loops_;
  Fd devnull_;
  int timeout_ms_ = 10000;
  bool pidns_ = false;
  std::uint64_t seq_ = 0;
};

}  // namespace

std::unique_ptr<Scenario> make_fork_scenario() { return std::make_unique<ForkScenario>(); }

}  // namespace faas::bench
