#include "faas/result.hpp"

#include <cstring>

namespace faas {

const char* exit_name(Exit e) {
  switch (e) {
    case Exit::ok: return "ok";
    case Exit::usage: return "usage";
    case Exit::data: return "data";
    case Exit::no_input: return "no_input";
    case Exit::unavailable: return "unavailable";
    case Exit::software: return "software";
    case Exit::os: return "os";
    case Exit::cant_create: return "cant_create";
    case Exit::io: return "io";
    case Exit::temp: return "temp";
    case Exit::no_perm: return "no_perm";
    case Exit::config: return "config";
    case Exit::cant_exec: return "cant_exec";
    case Exit::not_found: return "not_found";
  }
  return "unknown";
}

std::string Error::what() const {
  if (err_ == 0) return msg_;
  std::string s = msg_;
  if (!s.empty()) s += ": ";
  s += std::strerror(err_);
  return s;
}

Error& Error::wrap(const std::string& context) & {
  msg_ = msg_.empty() ? context : context + ": " + msg_;
  return *this;
}

Error&& Error::wrap(const std::string& context) && {
  msg_ = msg_.empty() ? context : context + ": " + msg_;
  return std::move(*this);
}

Exit status_for_errno(int err, Exit fallback) {
  switch (err) {
    case EACCES:
    case EPERM: return Exit::no_perm;
    case ENOENT: return Exit::no_input;
    case ENOSYS:
    case EOPNOTSUPP:
    case ENODEV: return Exit::unavailable;
    case EAGAIN:
    case EBUSY: return Exit::temp;
    default: return fallback;
  }
}

Error sys_error(int err, std::string msg, Exit fallback) {
  return Error(status_for_errno(err, fallback), std::move(msg), err);
}

Error sys_error(std::string msg, Exit fallback) {
  return sys_error(errno, std::move(msg), fallback);
}

}  // namespace faas
