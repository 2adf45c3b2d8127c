// Result<T>: a value or an Error carrying an exit status, an errno and a
// message that gains context on its way up:
//   mount overlay at `/x`: Invalid argument
//   fork 3f2a: mount overlay at `/x`: Invalid argument
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "faas/exit_status.hpp"

namespace faas {

class Error {
 public:
  Error(Exit status, std::string msg, int err = 0)
      : status_(status), err_(err), msg_(std::move(msg)) {}

  Exit status() const { return status_; }
  int err() const { return err_; }          // errno, 0 when none
  const std::string& msg() const { return msg_; }
  // The full one-line text: "<msg>: <strerror(err)>".
  std::string what() const;

  // Prepends context: wrap("fork 3f2a") gives "fork 3f2a: <msg>".
  Error& wrap(const std::string& context) &;
  Error&& wrap(const std::string& context) &&;
  Error& with_status(Exit s) & { status_ = s; return *this; }
  Error&& with_status(Exit s) && { status_ = s; return std::move(*this); }

 private:
  Exit status_;
  int err_;
  std::string msg_;
};

// A name, path or value as messages quote it: `s`.
inline std::string q(std::string_view s) { return "`" + std::string(s) + "`"; }
inline std::string q(const std::string& s) { return "`" + s + "`"; }
inline std::string q(const char* s) { return q(std::string_view(s)); }

// An Error from the current errno, with a status chosen from it
// (EACCES/EPERM: no_perm, ENOENT: no_input, ENOSYS/EOPNOTSUPP: unavailable,
// EAGAIN/EBUSY: temp, else `fallback`).
Error sys_error(std::string msg, Exit fallback = Exit::os);
Error sys_error(int err, std::string msg, Exit fallback = Exit::os);
Exit status_for_errno(int err, Exit fallback);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  explicit operator bool() const { return v_.index() == 0; }
  bool ok() const { return v_.index() == 0; }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }

  Error& error() & { return std::get<1>(v_); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT

  explicit operator bool() const { return ok_; }
  bool ok() const { return ok_; }
  Error& error() & { return err_; }
  const Error& error() const& { return err_; }
  Error&& error() && { return std::move(err_); }

 private:
  Error err_{Exit::ok, {}};
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace faas

#define FAAS_CONCAT_(a, b) a##b
#define FAAS_CONCAT(a, b) FAAS_CONCAT_(a, b)

// FAAS_TRY(expr): return the error of a failed Result.
#define FAAS_TRY(expr)                                  \
  do {                                                  \
    auto&& faas_try_r_ = (expr);                        \
    if (!faas_try_r_) return std::move(faas_try_r_).error(); \
  } while (0)

// FAAS_TRY_CTX(expr, context): the same, prepending context to the message.
#define FAAS_TRY_CTX(expr, context)                                  \
  do {                                                               \
    auto&& faas_try_r_ = (expr);                                     \
    if (!faas_try_r_) return std::move(faas_try_r_).error().wrap(context); \
  } while (0)

// FAAS_TRY_ASSIGN(auto x, expr): declare x from a Result's value or return
// its error.
#define FAAS_TRY_ASSIGN(lhs, expr) \
  FAAS_TRY_ASSIGN_(FAAS_CONCAT(faas_try_v_, __LINE__), lhs, expr)
#define FAAS_TRY_ASSIGN_(tmp, lhs, expr)                \
  auto tmp = (expr);                                    \
  if (!tmp) return std::move(tmp).error();              \
  lhs = std::move(tmp).value()
