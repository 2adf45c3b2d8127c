#include "faas/sysfs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "faas/fd.hpp"

namespace faas {

bool Choice::has(std::string_view v) const {
  for (const auto& x : values)
    if (x == v) return true;
  return false;
}

std::string Choice::list() const {
  std::string s;
  for (const auto& x : values) {
    if (!s.empty()) s += ", ";
    s += x;
  }
  return s;
}

Choice parse_choice(std::string_view text) {
  Choice c;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\n' && text[j] != '\t') ++j;
    if (j > i) {
      std::string_view w = text.substr(i, j - i);
      if (w.size() >= 2 && w.front() == '[' && w.back() == ']') {
        w = w.substr(1, w.size() - 2);
        c.selected = std::string(w);
      }
      if (!w.empty()) c.values.emplace_back(w);
    }
    i = j;
  }
  return c;
}

bool sysfs_writable(std::string_view rel) {
  if (rel.find("..") != std::string_view::npos) return false;
  return rel.starts_with("kernel/mm/") || rel.starts_with("block/zram") ||
         rel.starts_with("class/zram-control/");
}

bool Sysfs::exists(std::string_view rel) const {
  return ::access(path(rel).c_str(), F_OK) == 0;
}

Result<std::string> read_small_file(const std::filesystem::path& p) {
  Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    if (err == ENOENT)
      return Error(Exit::unavailable, "this kernel has no `" + p.string() + "'");
    return sys_error(err, "open `" + p.string() + "'", Exit::io);
  }
  return read_fd(fd.get(), "`" + p.string() + "'");
}

Result<std::string> read_fd(int fd, const std::string& what) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read " + what, Exit::io);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Result<std::string> Sysfs::read(std::string_view rel) const {
  FAAS_TRY_ASSIGN(std::string s, read_small_file(path(rel)));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Result<std::int64_t> parse_i64(std::string_view s, std::string_view what) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty())
    return Error(Exit::data, std::string(what) + ": not an integer: `" + std::string(s) + "'");
  return v;
}

Result<std::int64_t> Sysfs::read_i64(std::string_view rel) const {
  FAAS_TRY_ASSIGN(std::string s, read(rel));
  return parse_i64(s, path(rel).string());
}

Result<std::uint64_t> Sysfs::read_u64(std::string_view rel) const {
  FAAS_TRY_ASSIGN(std::string s, read(rel));
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty())
    return Error(Exit::data, path(rel).string() + ": not an unsigned integer: `" + s + "'");
  return v;
}

Result<Choice> Sysfs::read_choice(std::string_view rel) const {
  FAAS_TRY_ASSIGN(std::string s, read(rel));
  return parse_choice(s);
}

Result<void> Sysfs::write(std::string_view rel, std::string_view value) const {
  std::string p = path(rel).string();
  if (!sysfs_writable(rel))
    return Error(Exit::software, "refusing to write `" + p + "': not a memory knob");
  Fd fd(::open(p.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));  // as `echo >` does
  if (!fd) {
    int err = errno;
    if (err == ENOENT) return Error(Exit::unavailable, "this kernel has no `" + p + "'");
    return sys_error(err, "open `" + p + "'");
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
  if (static_cast<std::size_t>(n) != value.size())
    return Error(Exit::io, "short write to `" + p + "'");
  return {};
}

Json knob_value(std::string_view text) {
  if (text.find('[') != std::string_view::npos) return parse_choice(text).selected;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && p == text.data() + text.size() && !text.empty()) return v;
  return std::string(text);
}

Result<Json> Sysfs::change(std::string_view rel, std::string_view value, bool dry_run) const {
  FAAS_TRY_ASSIGN(std::string before, read(rel));
  Json rec{{"knob", path(rel).string()}, {"before", knob_value(before)}};
  if (dry_run) {
    rec["after"] = knob_value(value);
    return rec;
  }
  FAAS_TRY(write(rel, value));
  FAAS_TRY_ASSIGN(std::string after, read(rel));
  rec["after"] = knob_value(after);
  return rec;
}

Result<void> require_root(std::string_view what) {
  if (::geteuid() != 0) return Error(Exit::no_perm, std::string(what) + ": requires root");
  return {};
}

}  // namespace faas
