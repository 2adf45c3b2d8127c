// Scenario `startup`: `<tool> --version` for every faaskit tool installed
// next to faas-bench, against /bin/true (the baseline). Timed: spawn to
// reaped, stdin and stdout on /dev/null.
#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>

#include <algorithm>

#include "bench.hpp"
#include "faas/timing.hpp"

namespace faas::bench {
namespace {

constexpr const char* kTrue = "/bin/true";

class StartupScenario final : public Scenario {
 public:
  std::string_view name() const override { return "startup"; }
  std::string_view summary() const override {
    return "`faas-<tool> --version` for every faaskit tool next to faas-bench, against /bin/true";
  }

  std::vector<Variant> variants(const Context& ctx) override {
    std::vector<Variant> out;
    auto add = [&](std::string vname, std::vector<std::string> argv, std::string skipped) {
      Variant v;
      v.name = std::move(vname);
      v.path = argv.front();
      v.skipped = std::move(skipped);
      v.command = shell_join(argv);
      v.exec = ExecArgs(std::move(argv), child_environment({}));
      out.push_back(std::move(v));
    };
    add("true", {kTrue},
        is_executable_file(kTrue) ? "" : "/bin/true not found (Debian package coreutils)");
    for (const auto& tool : tools(ctx.self_dir))
      add(tool, {ctx.self_dir + "/" + tool, "--version"}, "");
    return out;
  }

  Result<void> prepare(const Context& ctx) override {
    timeout_ms_ = ctx.timeout_ms;
    pidns_ = ctx.pidns;
    devnull_ = Fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull_) return sys_error("open /dev/null");
    return {};
  }

  Result<std::uint64_t> once(const Variant& v) override {
    const std::uint64_t t0 = now_ns();
    FAAS_TRY_ASSIGN(Process proc,
                    spawn(v.exec, SpawnFds{devnull_.get(), devnull_.get(), 2, -1}, pidns_));
    auto status = proc.wait(timeout_ms_);
    const std::uint64_t t1 = now_ns();
    if (!status) return std::move(status).error().with_status(Exit::software).wrap("the process");
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
      return Error(Exit::software, "the process " + describe_wait_status(*status));
    return t1 - t0;
  }

 private:
  // The faas-* executables in dir, sorted.
  static std::vector<std::string> tools(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return names;
    while (const dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.starts_with("faas-") && is_executable_file(dir + "/" + n)) names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  Fd devnull_;
  int timeout_ms_ = 10000;
  bool pidns_ = false;
};

}  // namespace

std::unique_ptr<Scenario> make_startup_scenario() { return std::make_unique<StartupScenario>(); }

}  // namespace faas::bench
