/* malloc for the tools linked against musl.
 *
 * Why: musl's malloc (mallocng) maps and unmaps memory for each size class
 * as it fills and empties, so a command that parses its options and reads
 * the state database makes ~40 mmap and ~40 munmap calls and as many extra
 * page faults: ~0.3 ms, most of what musl saves at start-up. The tools are
 * short-lived (or, as servers, allocate in a steady state), so this
 * allocator keeps freed blocks on per-size free lists and never returns
 * small blocks to the kernel, like a glibc arena that never trims.
 *
 * Blocks up to 128 KiB come in power-of-two classes, carved from 1 MiB
 * chunks; larger ones are mapped one by one and unmapped on free. Every
 * block has a 16-byte header in front, so payloads are 16-byte aligned
 * (max_align_t). One mutex guards the lists; fork() takes it, so a child
 * forked while another thread allocates gets a consistent heap.
 *
 * musl supports replacing malloc (since 1.2.1): its own internal
 * allocations use __libc_malloc/__libc_free and never meet these. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define EXPORT __attribute__((visibility("default")))

enum {
  kHeader = 16,
  kMinShift = 4,                  /* 16 bytes */
  kMaxShift = 17,                 /* 128 KiB */
  kClasses = kMaxShift - kMinShift + 1,
  kChunk = 1 << 20,
};

/* In front of every payload. cls: the size class, or kLarge (size is the
 * mapping's length), or kAligned (size is the distance back to the block
 * that holds this aligned payload). */
struct header {
  size_t size;
  size_t cls;
};
#define kLarge ((size_t)-1)
#define kAligned ((size_t)-2)

struct free_block {
  struct free_block *next;
};

static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct free_block *free_lists[kClasses];
static char *chunk_next, *chunk_end;
static int atfork_registered;

static void heap_lock_take(void) { pthread_mutex_lock(&heap_lock); }
static void heap_lock_give(void) { pthread_mutex_unlock(&heap_lock); }
static void heap_lock_reset(void) { pthread_mutex_init(&heap_lock, NULL); }

static struct header *header_of(void *p) { return (struct header *)((char *)p - kHeader); }

static size_t class_of(size_t n) {
  size_t cls = 0;
  while (((size_t)1 << (cls + kMinShift)) < n) ++cls;
  return cls;
}

static void *map(size_t len) {
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static void *alloc_large(size_t n) {
  size_t len = (n + kHeader + 4095) & ~(size_t)4095;
  if (len < n) return NULL;
  struct header *h = map(len);
  if (!h) return NULL;
  h->size = len;
  h->cls = kLarge;
  return (char *)h + kHeader;
}

static void *alloc_small(size_t cls) {
  size_t block = kHeader + ((size_t)1 << (cls + kMinShift));
  heap_lock_take();
  struct free_block *f = free_lists[cls];
  if (f) {
    free_lists[cls] = f->next;
    heap_lock_give();
    return f;
  }
  if ((size_t)(chunk_end - chunk_next) < block) {
    size_t len = block > kChunk ? block : kChunk;
    char *c = map(len);
    if (!c) {
      heap_lock_give();
      return NULL;
    }
    chunk_next = c;
    chunk_end = c + len;
  }
  struct header *h = (struct header *)chunk_next;
  chunk_next += block;
  heap_lock_give();
  h->size = (size_t)1 << (cls + kMinShift);
  h->cls = cls;
  return (char *)h + kHeader;
}

EXPORT void *malloc(size_t n) {
  if (!__atomic_exchange_n(&atfork_registered, 1, __ATOMIC_ACQ_REL))
    pthread_atfork(heap_lock_take, heap_lock_give, heap_lock_reset);
  void *p;
  if (n > ((size_t)1 << kMaxShift)) p = alloc_large(n);
  else p = alloc_small(class_of(n ? n : 1));
  if (!p) errno = ENOMEM;
  return p;
}

EXPORT void free(void *p) {
  if (!p) return;
  struct header *h = header_of(p);
  if (h->cls == kAligned) {
    free((char *)p - h->size);
  } else if (h->cls == kLarge) {
    munmap(h, h->size);
  } else {
    if (h->cls >= kClasses) abort(); /* not a block of this heap */
    struct free_block *f = p;
    heap_lock_take();
    f->next = free_lists[h->cls];
    free_lists[h->cls] = f;
    heap_lock_give();
  }
}

EXPORT size_t malloc_usable_size(void *p) {
  if (!p) return 0;
  struct header *h = header_of(p);
  if (h->cls == kAligned) return malloc_usable_size((char *)p - h->size) - h->size;
  if (h->cls == kLarge) return h->size - kHeader;
  return h->size;
}

EXPORT void *calloc(size_t count, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(count, size, &n)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = malloc(n);
  /* Fresh mappings are zero already; recycled blocks are not. */
  if (p) memset(p, 0, n);
  return p;
}

EXPORT void *realloc(void *p, size_t n) {
  if (!p) return malloc(n);
  size_t have = malloc_usable_size(p);
  if (n <= have && header_of(p)->cls != kLarge) return p;
  void *q = malloc(n);
  if (!q) return NULL;
  memcpy(q, p, have < n ? have : n);
  free(p);
  return q;
}

EXPORT void *aligned_alloc(size_t align, size_t n) {
  if (align == 0 || (align & (align - 1)) != 0) {
    errno = EINVAL;
    return NULL;
  }
  if (align <= kHeader) return malloc(n);
  size_t total;
  if (__builtin_add_overflow(n, align + kHeader, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  char *p = malloc(total);
  if (!p) return NULL;
  char *q = (char *)(((uintptr_t)p + kHeader + align - 1) & ~(uintptr_t)(align - 1));
  struct header *h = header_of(q);
  h->size = (size_t)(q - p);
  h->cls = kAligned;
  return q;
}

EXPORT void *memalign(size_t align, size_t n) { return aligned_alloc(align, n); }

EXPORT int posix_memalign(void **out, size_t align, size_t n) {
  if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
  void *p = aligned_alloc(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

EXPORT void *valloc(size_t n) { return aligned_alloc(4096, n); }
