// The C++ runtime of a tool linked against musl (see src/musl_compat.c):
// locales, iostreams, exceptions (also across threads), thread_local
// destructors, error messages, the heap and CLI11. Linked like a tool, so it uses no
// GoogleTest (libgtest is built for glibc); each check prints what failed.
#include <cerrno>
#include <chrono>
#include <clocale>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <future>
#include <iomanip>
#include <locale>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <pthread.h>

#include "faas/cli.hpp"

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
    ++failures;
  }
}

template <class T>
void check_eq(const T& got, const T& want, const std::string& what) {
  std::ostringstream msg;
  msg << what << ": got `" << got << "`, want `" << want << "`";
  check(got == want, msg.str());
}

void locales() {
  std::locale loc;
  check(std::isspace(' ', loc) && std::isspace('\t', loc) && std::isspace('\n', loc), "isspace(blank, locale)");
  check(!std::isspace('a', loc) && !std::isspace('\0', loc), "!isspace(non-blank, locale)");
  check(std::isalpha('q', loc) && !std::isalpha('7', loc), "isalpha(locale)");
  check(std::isdigit('7', loc) && std::ispunct('!', loc), "isdigit/ispunct(locale)");
  check(!std::isalpha(static_cast<char>(0xe9), loc), "isalpha(0xe9) in the C locale");
  check_eq(std::tolower('Q', loc), 'q', "tolower(locale)");
  check_eq(std::toupper('q', loc), 'Q', "toupper(locale)");
  check_eq(std::tolower('7', loc), '7', "tolower(digit, locale)");
  check_eq(std::locale().name(), std::string("C"), "locale().name()");
  ::setenv("LC_ALL", "C", 1);
  check_eq(std::locale("").name(), std::string("C"), "locale(\"\").name()");
  bool threw = false;
  try {
    std::locale named("de_DE.UTF-8");
  } catch (const std::runtime_error&) {
    threw = true;
  }
  check(threw, "locale(\"de_DE.UTF-8\") throws");

  std::wstring w = L"MiXeD";
  std::use_facet<std::ctype<wchar_t>>(loc).tolower(w.data(), w.data() + w.size());
  check(w == L"mixed", "ctype<wchar_t>::tolower");
  check(std::isspace(L' ', loc) && !std::isspace(L'x', loc), "isspace(wchar_t, locale)");
}

void streams() {
  std::istringstream in("  first second\n3.25 -17 line two\nlast");
  std::string word;
  in >> word;
  check_eq(word, std::string("first"), "istringstream >> string");
  in >> word;
  check_eq(word, std::string("second"), "istringstream >> string (2nd)");
  double d = 0;
  long n = 0;
  in >> d >> n;
  check_eq(d, 3.25, "istringstream >> double");
  check_eq(n, -17L, "istringstream >> long");
  std::string line;
  std::getline(in, line);
  check_eq(line, std::string(" line two"), "getline");
  std::getline(in, line);
  check_eq(line, std::string("last"), "getline (last, no newline)");
  check(!std::getline(in, line), "getline at end of input");

  std::ostringstream out;
  out << 1.5 << ' ' << 1234567 << ' ' << 0.1 << ' ' << std::fixed << std::setprecision(3) << 2.0 / 3;
  check_eq(out.str(), std::string("1.5 1234567 0.1 0.667"), "ostringstream << numbers");
  std::wostringstream wout;
  wout << L"n=" << 42;
  check(wout.str() == L"n=42", "wostringstream");
  check_eq(std::to_string(2.5), std::string("2.500000"), "to_string(double)");
  check_eq(std::stod("6.125"), 6.125, "stod");
  check_eq(fmt::format("{:.2f} {} {:>4}", 1.005, 1e100, "x"), std::string("1.00 1e+100    x"), "fmt::format");
  auto j = nlohmann::json::parse(R"({"a": 1.5, "b": [1, "two"], "c": "\u00e9"})");
  check_eq(j["a"].get<double>(), 1.5, "json double");
  check_eq(j.dump(), std::string(R"({"a":1.5,"b":[1,"two"],"c":"é"})"), "json dump");
  char buf[16];
  std::snprintf(buf, sizeof buf, "%d-%s", 7, "x");
  check_eq(std::string(buf), std::string("7-x"), "snprintf");
}

void errors() {
  check_eq(std::error_code(ENOENT, std::generic_category()).message(), std::string(std::strerror(ENOENT)),
           "error_code::message");
  std::error_code ec;
  check(!std::filesystem::exists(std::filesystem::status("/nonexistent/x/y", ec)), "filesystem::status");
  check_eq(ec.value(), ENOENT, "filesystem::status error");
  try {
    check(std::filesystem::file_size("/nonexistent/x/y") == 0 && false, "filesystem_error thrown");
  } catch (const std::filesystem::filesystem_error& e) {
    check(std::string(e.what()).find(std::strerror(ENOENT)) != std::string::npos,
          std::string("filesystem_error::what: ") + e.what());
  }
  try {
    throw std::system_error(EACCES, std::system_category(), "open");
  } catch (const std::system_error& e) {
    check_eq(std::string(e.what()), std::string("open: ") + std::strerror(EACCES), "system_error::what");
  }
}

int thread_local_destroyed = 0;
struct TlsCounter {
  int n = 0;
  ~TlsCounter() { thread_local_destroyed += n; }
};
thread_local TlsCounter tls_counter;

int guarded_init_count = 0;
int guarded() {
  static int once = [] {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return ++guarded_init_count;
  }();
  return once;
}

void threads() {
  // An exception thrown and caught in another thread, and one carried back.
  std::exception_ptr carried;
  std::thread t([&] {
    try {
      throw std::runtime_error("in thread");
    } catch (const std::runtime_error&) {
    }
    tls_counter.n = 5;
    pthread_attr_t attr;
    std::size_t stack = 0;
    if (::pthread_getattr_np(::pthread_self(), &attr) == 0) {
      ::pthread_attr_getstacksize(&attr, &stack);
      ::pthread_attr_destroy(&attr);
    }
    check(stack >= 4u << 20, "a thread's stack is at least 4 MiB: " + std::to_string(stack));
    try {
      throw std::invalid_argument("carried");
    } catch (...) {
      carried = std::current_exception();
    }
  });
  t.join();
  check_eq(thread_local_destroyed, 5, "thread_local destructor at thread exit");
  try {
    if (carried) std::rethrow_exception(carried);
    check(false, "exception_ptr carried");
  } catch (const std::invalid_argument& e) {
    check_eq(std::string(e.what()), std::string("carried"), "rethrown exception");
  }

  std::future<int> f = std::async(std::launch::async, []() -> int { throw std::out_of_range("async"); });
  try {
    f.get();
    check(false, "future rethrows");
  } catch (const std::out_of_range&) {
  }

  std::vector<std::thread> ts;
  std::mutex m;
  std::condition_variable cv;
  int started = 0;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      check_eq(guarded(), 1, "static init guard");
      std::lock_guard lock(m);
      ++started;
      cv.notify_all();
    });
  {
    std::unique_lock lock(m);
    check(cv.wait_for(lock, std::chrono::seconds(10), [&] { return started == 4; }), "condition_variable::wait_for");
  }
  for (auto& th : ts) th.join();
  check_eq(guarded_init_count, 1, "static initialised once");

  std::random_device rd;
  unsigned a = rd(), b = rd(), c = rd();
  check(a != b || b != c, "random_device");
}

void heap() {
  // Every size class, both sides of each boundary, and the mapped sizes.
  std::vector<std::pair<unsigned char*, std::size_t>> blocks;
  for (std::size_t n = 0; n <= (std::size_t{1} << 20); n = n < 64 ? n + 1 : n * 2 - 1) {
    auto* p = static_cast<unsigned char*>(std::malloc(n));
    check(p != nullptr && reinterpret_cast<std::uintptr_t>(p) % alignof(std::max_align_t) == 0,
          "malloc(" + std::to_string(n) + ") aligned");
    std::memset(p, static_cast<int>(n & 0xff), n);
    blocks.emplace_back(p, n);
  }
  for (auto& [p, n] : blocks) {
    bool intact = true;
    for (std::size_t i = 0; i < n; ++i) intact = intact && p[i] == static_cast<unsigned char>(n & 0xff);
    check(intact, "block of " + std::to_string(n) + " bytes intact");
    std::free(p);
  }
  auto* r = static_cast<char*>(std::malloc(10));
  std::memcpy(r, "abcdefghi", 10);
  r = static_cast<char*>(std::realloc(r, 300000));
  check(std::strcmp(r, "abcdefghi") == 0, "realloc keeps the contents");
  r = static_cast<char*>(std::realloc(r, 5));
  check(std::memcmp(r, "abcde", 5) == 0, "realloc down");
  std::free(r);
  auto* z = static_cast<unsigned char*>(std::calloc(1000, 3));
  bool zero = true;
  for (int i = 0; i < 3000; ++i) zero = zero && z[i] == 0;
  check(zero, "calloc zeroes recycled memory");
  std::free(z);
  for (std::size_t align : {32, 64, 4096}) {
    // C11 wants the size a multiple of the alignment (ASan enforces it).
    const std::size_t size = 3 * align;
    void* a = std::aligned_alloc(align, size);
    check(a && reinterpret_cast<std::uintptr_t>(a) % align == 0, "aligned_alloc(" + std::to_string(align) + ")");
    std::memset(a, 1, size);
    std::free(a);
    void* m = nullptr;
    check(::posix_memalign(&m, align, 200000) == 0 && reinterpret_cast<std::uintptr_t>(m) % align == 0,
          "posix_memalign(" + std::to_string(align) + ")");
    std::free(m);
  }
  struct alignas(64) Line {
    char c[64];
  };
  auto line = std::make_unique<Line>();
  check(reinterpret_cast<std::uintptr_t>(line.get()) % 64 == 0, "new of an over-aligned type");

  // Threads allocating and freeing each other's blocks.
  std::vector<std::thread> ts;
  std::mutex m;
  std::vector<void*> shared;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        void* p = std::malloc(static_cast<std::size_t>((i * 37 + t) % 5000));
        std::lock_guard lock(m);
        shared.push_back(p);
        if (shared.size() > 64) {
          std::free(shared.front());
          shared.erase(shared.begin());
        }
      }
    });
  for (auto& th : ts) th.join();
  for (void* p : shared) std::free(p);
}

void cli11() {
  CLI::App app{"test", "musl-compat"};
  int n = 0;
  std::string name;
  app.add_option("-n,--number", n)->check(CLI::Range(1, 10));
  app.add_option("--name", name);
  app.add_flag("--verbose");
  {
    const char* argv[] = {"musl-compat", "--number", "5", "--name=  spaced  ", "--verbose"};
    try {
      app.parse(5, const_cast<char**>(argv));
    } catch (const CLI::Error& e) {
      check(false, std::string("CLI11 parse: ") + e.what());
    }
    check_eq(n, 5, "CLI11 --number");
    check_eq(name, std::string("  spaced  "), "CLI11 --name");
  }
  const char* bad[][3] = {{"musl-compat", "--bogus", ""}, {"musl-compat", "-n", "11"}, {"musl-compat", "-n", "x1"}};
  for (auto& argv : bad) {
    app.clear();
    bool threw = false;
    try {
      app.parse(argv[2][0] ? 3 : 2, const_cast<char**>(argv));
    } catch (const CLI::ParseError& e) {
      threw = e.get_exit_code() != 0;
    }
    check(threw, std::string("CLI11 rejects ") + argv[1] + " " + argv[2]);
  }

  // The tools' own path: a parse error is exit status 64.
  CLI::App tool{"test", "faas-test"};
  faas::CommonOptions common;
  faas::add_common_options(tool, common);
  const char* argv[] = {"faas-test", "--no-such-flag"};
  std::fflush(stderr);
  int status = faas::run_main(tool, 2, const_cast<char**>(argv), common, [] { return faas::Result<faas::Exit>(faas::Exit::ok); });
  check_eq(status, 64, "run_main on a bad flag");
}

}  // namespace

int main() {
  locales();
  streams();
  errors();
  threads();
  heap();
  cli11();
  if (failures) std::fprintf(stderr, "%d check(s) failed\n", failures);
  else std::printf("all checks passed\n");
  return failures ? 1 : 0;
}
