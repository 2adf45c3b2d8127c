// Compiles the sandbox's seccomp filter with libseccomp when faaskit is
// built and writes its BPF program as the body of a C++ array of
// sock_filter: a sandbox's start then loads it as is, rather than every
// process that starts sandboxes paying libseccomp's kernel probing, rule
// building and compiling (0.1 ms) first.
//
//   faas-seccomp-gen OUT.inc
//
// The filter: allow by default; EPERM for every name in
// kSandboxDeniedSyscalls on the native architecture; a system call of
// another architecture kills the process (libseccomp's default). The
// denied numbers as a binary tree rather than a list: the kernel runs a
// filter for every system call number when it is loaded (to cache the
// always-allowed ones), 50 -> 30 us here. A name this libseccomp does not
// know fails the build.
#include <linux/filter.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "faas/sandbox_denied.hpp"

namespace {

int fail(const std::string& what, int rc) {
  std::fprintf(stderr, "faas-seccomp-gen: %s: %s\n", what.c_str(), std::strerror(rc < 0 ? -rc : rc));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: faas-seccomp-gen OUT.inc\n");
    return 64;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return fail("seccomp_init", ENOMEM);
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0) return fail("ask for a binary tree", rc);
  for (const char* name : faas::kSandboxDeniedSyscalls) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return fail(std::string("unknown system call `") + name + "`", EINVAL);
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0); rc < 0)
      return fail(std::string("deny `") + name + "`", rc);
  }
  int fd = memfd_create("faas-seccomp", MFD_CLOEXEC);
  if (fd < 0) return fail("memfd_create", errno);
  if (int rc = seccomp_export_bpf(ctx, fd); rc < 0) return fail("compile the filter", rc);
  seccomp_release(ctx);
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0 ||
      size > static_cast<off_t>(BPF_MAXINSNS * sizeof(sock_filter)))
    return fail("the compiled filter has an odd size", EINVAL);
  std::vector<sock_filter> prog(static_cast<std::size_t>(size) / sizeof(sock_filter));
  if (pread(fd, prog.data(), static_cast<std::size_t>(size), 0) != size) return fail("read the filter", errno);
  close(fd);

  const std::string out = argv[1], tmp = out + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return fail("create " + tmp, errno);
  std::fprintf(f, "// The sandbox's seccomp filter, compiled by libseccomp %u.%u.%u at build time\n"
               "// (lib/common/gen/seccomp_filter.cpp). Generated: do not edit.\n",
               seccomp_version()->major, seccomp_version()->minor, seccomp_version()->micro);
  for (const auto& i : prog) std::fprintf(f, "{0x%04x, %u, %u, 0x%08x},\n", i.code, i.jt, i.jf, i.k);
  if (std::fclose(f) != 0) return fail("write " + tmp, errno);
  if (std::rename(tmp.c_str(), out.c_str()) != 0) return fail("rename " + tmp, errno);
  return 0;
}
