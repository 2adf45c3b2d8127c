// Reading and writing kernel knobs under a sysfs root ("/sys"; unit tests
// point it at a fake tree to test parsing).
//
// Reads name the file when the kernel lacks it (Exit::unavailable). Writes
// are refused outside the knobs faaskit tunes: kernel/mm/, block/zram*/ and
// class/zram-control/ (cgroup files go through cgroup_mem.hpp instead).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "faas/records.hpp"
#include "faas/result.hpp"

namespace faas {

// A kernel multiple-choice knob: "always [madvise] never", or zram's
// "lzo [lz4] zstd".
struct Choice {
  std::vector<std::string> values;
  std::string selected;  // empty when nothing is bracketed
  bool has(std::string_view v) const;
  std::string list() const;  // "always, madvise, never"
};
Choice parse_choice(std::string_view text);

class Sysfs {
 public:
  explicit Sysfs(std::filesystem::path root = "/sys") : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path path(std::string_view rel) const { return root_ / rel; }
  bool exists(std::string_view rel) const;

  // The file's contents without the trailing newline.
  Result<std::string> read(std::string_view rel) const;
  Result<std::uint64_t> read_u64(std::string_view rel) const;
  Result<std::int64_t> read_i64(std::string_view rel) const;
  Result<Choice> read_choice(std::string_view rel) const;

  // One write(2) of value. Exit::software for a path outside the allowed
  // knobs, Exit::unavailable when the kernel lacks the knob, Exit::usage
  // when it rejects the value (EINVAL), Exit::temp when busy.
  Result<void> write(std::string_view rel, std::string_view value) const;

  // Reads the knob, writes value unless dry_run, reads it back:
  // {"knob": "/sys/...", "before": B, "after": A} where B and A are the
  // selected word of a choice knob, a number, or the text. On a dry run
  // "after" is the value that would be written.
  Result<Json> change(std::string_view rel, std::string_view value, bool dry_run) const;

 private:
  std::filesystem::path root_;
};

// A knob's text as a record value: the bracketed word of a choice list, a
// number when it is one, else the text.
Json knob_value(std::string_view text);

// true for the sysfs paths (relative to the root) faaskit may write.
bool sysfs_writable(std::string_view rel);

// Exit::no_perm unless the effective user is root: "<what>: requires root".
Result<void> require_root(std::string_view what);

// Reads a whole small file (procfs, sysfs). ENOENT: Exit::unavailable.
Result<std::string> read_small_file(const std::filesystem::path& p);
// Reads fd to its end; a failure is "read <what>: ..." (Exit::io).
Result<std::string> read_fd(int fd, const std::string& what);

// Parses a decimal integer (surrounding blanks allowed); Exit::data otherwise.
Result<std::int64_t> parse_i64(std::string_view s, std::string_view what);

}  // namespace faas
