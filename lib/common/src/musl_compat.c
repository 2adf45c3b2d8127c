/* The glibc ABI pieces a C++ tool needs when it is compiled against glibc's
 * headers and libstdc++ but linked statically with musl's libc.a.
 *
 * Why: a static glibc program spends ~0.3 ms before main probing the CPU
 * (init_cpu_features runs ~30 cpuid instructions, each a VM exit under a
 * hypervisor); musl's start-up does none of that. musl keeps most of glibc's
 * x86_64 ABI (FILE's buffer pointers, the ctype tables, struct layouts, the
 * __isoc99_ and LFS64 aliases), and this file supplies the rest:
 *
 *   - locale objects laid out like glibc's struct __locale_struct, which
 *     libstdc++'s "gnu" locale model reads field by field;
 *   - symbols glibc has and musl 1.2.3 lacks (__libc_single_threaded,
 *     _dl_find_object (libgcc's unwinder needs a real answer), __cxa_thread_atexit_impl, arc4random, fcntl64,
 *     close_range, renameat2, pthread_cond_clockwait, ...);
 *   - the _FORTIFY_SOURCE entry points (__*_chk), with glibc's bounds checks;
 *   - strerror_r with glibc's GNU signature (returns char *), which every
 *     object compiled under _GNU_SOURCE (libstdc++ included) expects.
 *
 * Where this file defines a symbol musl also defines, it defines every
 * symbol of that musl archive member, so the member is never pulled in.
 * Built only for the musl link (see faas_tool in the top CMakeLists.txt),
 * without _FORTIFY_SOURCE: it implements those checks. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* ---- fortify failure ---------------------------------------------------- */

static _Noreturn void chk_fail(void) {
  static const char msg[] = "*** buffer overflow detected ***: terminated\n";
  (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
  abort();
}

EXPORT _Noreturn void __chk_fail(void) { chk_fail(); }

/* ---- locale: glibc's layout, musl's C locale ---------------------------- */

/* glibc's struct __locale_struct (locale/xlocale.h). musl's own locale_t is
 * struct { const struct __locale_map *cat[6]; } and reads cat[i] from the
 * same offsets; NULL there means the C locale to musl, so this one object is
 * a valid C locale to both libstdc++ (which reads __ctype_b, __ctype_tolower,
 * __ctype_toupper) and musl's *_l functions and uselocale. */
struct glibc_locale {
  void *locales[13];
  const unsigned short *ctype_b;
  const int32_t *ctype_tolower;
  const int32_t *ctype_toupper;
  const char *names[13];
};

extern const unsigned short **__ctype_b_loc(void);
extern const int32_t **__ctype_tolower_loc(void);
extern const int32_t **__ctype_toupper_loc(void);

static struct glibc_locale c_locale = {
  .names = {"C", "C", "C", "C", "C", "C", "C", "C", "C", "C", "C", "C", "C"},
};
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void) {
  c_locale.ctype_b = *__ctype_b_loc();
  c_locale.ctype_tolower = *__ctype_tolower_loc();
  c_locale.ctype_toupper = *__ctype_toupper_loc();
}

/* "" stands for the environment's locale; C.UTF-8 (Debian's default) has the
 * C locale's character classes for every byte the tools classify. */
static int is_c_locale_name(const char *name) {
  return strcmp(name, "C") == 0 || strcmp(name, "POSIX") == 0 || name[0] == '\0' ||
         strcmp(name, "C.UTF-8") == 0 || strcmp(name, "C.utf8") == 0;
}

/* Only the C locale exists: the tools never select another one. */
EXPORT void *__newlocale(int mask, const char *name, void *base) {
  (void)mask;
  (void)base;
  if (!name) {
    errno = EINVAL;
    return NULL;
  }
  if (!is_c_locale_name(name)) {
    errno = ENOENT;
    return NULL;
  }
  pthread_once(&c_locale_once, c_locale_init);
  return &c_locale;
}
EXPORT void *newlocale(int mask, const char *name, void *base) {
  return __newlocale(mask, name, base);
}
/* Also defined by musl's newlocale.o, used by its freelocale. */
EXPORT int __loc_is_allocated(void *loc) {
  (void)loc;
  return 0;
}

EXPORT void *__duplocale(void *loc) {
  (void)loc;
  pthread_once(&c_locale_once, c_locale_init);
  return &c_locale;
}
EXPORT void *duplocale(void *loc) { return __duplocale(loc); }

EXPORT void __freelocale(void *loc) { (void)loc; }
EXPORT void freelocale(void *loc) { (void)loc; }

/* ---- strerror_r: glibc's GNU variant ------------------------------------ */

/* glibc's strerror_r is the GNU one (returns the message, which may not be
 * buf); musl's is the XSI one (returns an int), and libstdc++'s
 * error_code::message() would take that 0 for a pointer. musl's strerror()
 * returns a static, immutable string, so handing it back is safe. */
EXPORT char *strerror_r(int err, char *buf, size_t len) {
  (void)buf;
  (void)len;
  return strerror(err);
}
EXPORT int __xpg_strerror_r(int err, char *buf, size_t len) {
  const char *msg = strerror(err);
  size_t n = strlen(msg);
  if (n >= len) {
    if (len) {
      memcpy(buf, msg, len - 1);
      buf[len - 1] = '\0';
    }
    return ERANGE;
  }
  memcpy(buf, msg, n + 1);
  return 0;
}

/* ---- libstdc++ and libgcc runtime hooks --------------------------------- */

/* glibc keeps it 1 until the first thread is created, and libstdc++ skips
 * atomic reference counting while it is. musl has no such flag: 0 means
 * "maybe threaded", which is always correct, just not the shortcut. */
EXPORT char __libc_single_threaded = 0;

/* glibc 2.35's lookup of the object holding a code address, which libgcc's
 * unwinder (GCC 12) uses instead of dl_iterate_phdr when glibc has it: it
 * takes a failure here for "no unwind tables", so it gets a real answer,
 * found with musl's dl_iterate_phdr. */
struct find_object {
  uintptr_t pc;
  struct dl_find_object *result;
  int found;
};

static int find_object_in(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  struct find_object *f = arg;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  const void *eh_frame_hdr = NULL;
  int contains = 0;
  for (size_t i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD) {
      if (f->pc >= start && f->pc - start < ph->p_memsz) contains = 1;
      if (start < lo) lo = start;
      if (start + ph->p_memsz > hi) hi = start + ph->p_memsz;
    } else if (ph->p_type == PT_GNU_EH_FRAME) {
      eh_frame_hdr = (const void *)start;
    }
  }
  if (!contains) return 0;
  memset(f->result, 0, sizeof *f->result);
  f->result->dlfo_map_start = (void *)lo;
  f->result->dlfo_map_end = (void *)hi;
  f->result->dlfo_eh_frame = (void *)eh_frame_hdr;
  f->found = 1;
  return 1;
}

EXPORT int _dl_find_object(void *pc, struct dl_find_object *result) {
  struct find_object f = {(uintptr_t)pc, result, 0};
  dl_iterate_phdr(find_object_in, &f);
  return f.found && result->dlfo_eh_frame ? 0 : -1;
}

/* Destructors of thread_local objects: run when the thread exits (through a
 * pthread key destructor), or at exit() for the thread that calls it. Last
 * registered, first run, as with glibc. */
struct tls_dtor {
  void (*fn)(void *);
  void *obj;
  struct tls_dtor *next;
};
static __thread struct tls_dtor *tls_dtors;
static pthread_key_t tls_dtor_key;
static pthread_once_t tls_dtor_once = PTHREAD_ONCE_INIT;

static void run_tls_dtors(void *unused) {
  (void)unused;
  struct tls_dtor *d;
  while ((d = tls_dtors)) {
    tls_dtors = d->next;
    d->fn(d->obj);
    free(d);
  }
}
static void run_tls_dtors_at_exit(void) { run_tls_dtors(NULL); }
static void tls_dtor_init(void) {
  if (pthread_key_create(&tls_dtor_key, run_tls_dtors) != 0) abort();
  atexit(run_tls_dtors_at_exit);
}

EXPORT int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj, void *dso) {
  (void)dso;
  pthread_once(&tls_dtor_once, tls_dtor_init);
  struct tls_dtor *d = malloc(sizeof *d);
  if (!d) return -1;
  d->fn = fn;
  d->obj = obj;
  d->next = tls_dtors;
  tls_dtors = d;
  pthread_setspecific(tls_dtor_key, (void *)1); /* non-NULL: the key's destructor runs */
  return 0;
}

/* std::random_device's default source. Like glibc's, it cannot fail: it
 * falls back to /dev/urandom and aborts if there is no randomness at all. */
EXPORT uint32_t arc4random(void) {
  uint32_t v;
  size_t got = 0;
  while (got < sizeof v) {
    ssize_t n = getrandom((char *)&v + got, sizeof v - got, 0);
    if (n > 0) {
      got += (size_t)n;
    } else if (n < 0 && errno != EINTR) {
      int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
      if (fd < 0) abort();
      while (got < sizeof v) {
        n = read(fd, (char *)&v + got, sizeof v - got);
        if (n > 0) got += (size_t)n;
        else if (n == 0 || errno != EINTR) abort();
      }
      close(fd);
    }
  }
  return v;
}

/* ---- glibc 2.28+ system call wrappers musl 1.2.3 lacks ------------------ */

EXPORT int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return fcntl(fd, cmd, arg);
}

EXPORT int close_range(unsigned first, unsigned last, int flags) {
  return (int)syscall(SYS_close_range, first, last, flags);
}

/* musl has renameat2 from 1.2.5 on. */
EXPORT int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                     unsigned flags) {
  return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

/* glibc 2.36's wrappers of the new mount API (Linux 5.2). */
EXPORT int fsopen(const char *fs_name, unsigned flags) {
  return (int)syscall(SYS_fsopen, fs_name, flags);
}

EXPORT int fsconfig(int fd, unsigned cmd, const char *key, const void *value, int aux) {
  return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

EXPORT int fsmount(int fd, unsigned flags, unsigned attr_flags) {
  return (int)syscall(SYS_fsmount, fd, flags, attr_flags);
}

EXPORT int move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned flags) {
  return (int)syscall(SYS_move_mount, from_dfd, from_path, to_dfd, to_path, flags);
}

/* glibc 2.32: a signal's name without "SIG", NULL when it has none (as for
 * the real-time signals). */
EXPORT const char *sigabbrev_np(int sig) {
  static const char *const names[] = {
      NULL,   "HUP",  "INT",  "QUIT", "ILL",  "TRAP", "ABRT",   "BUS",  "FPE",   "KILL", "USR1",
      "SEGV", "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN",
      "TTOU", "URG",  "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO",  "PWR",  "SYS",
  };
  if (sig < 0 || (size_t)sig >= sizeof names / sizeof names[0]) return NULL;
  return names[sig];
}

/* glibc 2.30's timed wait against a chosen clock (std::condition_variable
 * waits on steady_clock with it). musl's condition variable times out
 * against its own clock (CLOCK_REALTIME unless set in its attributes), so the
 * deadline is carried over to that clock; a wait that ends early is a
 * spurious wake-up, which every caller handles (libstdc++ re-reads its clock). */
EXPORT int pthread_cond_clockwait(pthread_cond_t *cond, pthread_mutex_t *mutex, clockid_t clock,
                                  const struct timespec *abstime) {
  if (clock == CLOCK_REALTIME) return pthread_cond_timedwait(cond, mutex, abstime);
  if (clock != CLOCK_MONOTONIC) return EINVAL;
  struct timespec now, real;
  clock_gettime(CLOCK_MONOTONIC, &now);
  clock_gettime(CLOCK_REALTIME, &real);
  long long sec = (long long)abstime->tv_sec - now.tv_sec + real.tv_sec;
  long nsec = abstime->tv_nsec - now.tv_nsec + real.tv_nsec;
  while (nsec < 0) {
    nsec += 1000000000L;
    --sec;
  }
  while (nsec >= 1000000000L) {
    nsec -= 1000000000L;
    ++sec;
  }
  struct timespec deadline = {(time_t)sec, nsec};
  return pthread_cond_timedwait(cond, mutex, &deadline);
}

/* ---- _FORTIFY_SOURCE entry points --------------------------------------- */

/* open(2) without a mode, checked: O_CREAT or O_TMPFILE need one. */
EXPORT int __open_2(const char *path, int flags) {
  if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) chk_fail();
  return open(path, flags);
}

EXPORT void *__memcpy_chk(void *dst, const void *src, size_t len, size_t dstlen) {
  if (dstlen < len) chk_fail();
  return memcpy(dst, src, len);
}

EXPORT void *__memset_chk(void *dst, int c, size_t len, size_t dstlen) {
  if (dstlen < len) chk_fail();
  return memset(dst, c, len);
}

EXPORT int __vsnprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *fmt, va_list ap) {
  (void)flag;
  if (slen < maxlen) chk_fail();
  return vsnprintf(s, maxlen, fmt, ap);
}

EXPORT int __snprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = __vsnprintf_chk(s, maxlen, flag, slen, fmt, ap);
  va_end(ap);
  return r;
}

EXPORT int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap) {
  (void)flag;
  return vfprintf(f, fmt, ap);
}

EXPORT int __fprintf_chk(FILE *f, int flag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = __vfprintf_chk(f, flag, fmt, ap);
  va_end(ap);
  return r;
}

EXPORT int __vprintf_chk(int flag, const char *fmt, va_list ap) {
  (void)flag;
  return vprintf(fmt, ap);
}

EXPORT int __printf_chk(int flag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = __vprintf_chk(flag, fmt, ap);
  va_end(ap);
  return r;
}
