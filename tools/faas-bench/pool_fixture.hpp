// A private pool of warm sandboxes for the scenarios that time faaskit's own
// tools (warm, gateway): a busybox rootfs with the handler at /hello-c, a
// state and a run dir under the run's work dir (FAAS_STATE_DIR,
// FAAS_RUN_DIR), a template and a warm pool. teardown() removes the pool,
// and with it every sandbox, fork, mount and cgroup it made.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bench.hpp"
#include "faas/fd.hpp"

namespace faas::bench {

class PoolFixture {
 public:
  // Why a pool cannot be made here ("" when it can): root, the tools next
  // to faas-bench, faas-init, the handler.
  static std::string unavailable(const Context& ctx);

  // Paths only (for variants(), before setup): valid once ctx.work_dir is set.
  void plan(const Context& ctx, std::string pool);
  // The rootfs, the dirs, the template and `size` warm sandboxes. With
  // --param tmpfs=1 the state and run dirs are on a tmpfs the fixture
  // mounts (and unmounts): the forks' writable layers then live in memory.
  Result<void> setup(const Context& ctx, long long size);
  // pool rm; safe to call twice, and when setup failed half-way.
  void teardown();

  // A faaskit tool next to faas-bench.
  std::string tool(std::string_view name) const { return self_dir_ + "/" + std::string(name); }
  // The environment every tool gets: the private state and run dirs.
  const std::vector<std::string>& env() const { return env_; }
  const std::string& pool() const { return pool_; }
  const std::string& state_dir() const { return state_dir_; }
  const std::string& run_dir() const { return run_dir_; }
  // Where the tools' stderr goes (appended); its tail names a failure.
  int log_fd() const { return log_.get(); }
  std::string log_tail() const;

  // Runs a tool to its exit: input on stdin, returns stdout. A non-zero
  // exit is an error with the tool's last words.
  Result<std::string> run(std::vector<std::string> argv, const std::string& input = {});

 private:
  std::string self_dir_, work_dir_, pool_, handler_, faas_init_, busybox_;
  std::string state_dir_, run_dir_, rootfs_, log_path_;
  std::vector<std::string> env_;
  Fd log_;
  int timeout_ms_ = 10000;
  bool made_ = false;
  std::string mem_;    // where the tmpfs goes (--param tmpfs=1), else empty
  std::string tmpfs_;  // mounted by setup(), unmounted by teardown()
};


// Feeds input to a pipe and returns its read end (input fits the pipe).
Result<Fd> input_pipe(const std::string& input);
// Reads fd until EOF (or, with stop_at_newline, a whole first line) by
// deadline (monotonic ns); Exit::software when the deadline passes.
Result<void> read_output(int fd, std::string& out, std::uint64_t deadline_ns, bool stop_at_newline);

}  // namespace faas::bench
