// zram devices through /sys/class/zram-control and /sys/block/zramN: add
// (hot_add, algorithm, disksize, optionally a swap header written here and
// swapon(2)), remove (swapoff first), list. No subprocess, no modprobe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "faas/fd.hpp"
#include "faas/records.hpp"
#include "faas/result.hpp"
#include "faas/sysfs.hpp"

namespace faas {

struct ZramDevice {
  std::string name;  // "zram1"
  int id = -1;
  std::uint64_t disksize = 0;
  std::string algorithm;
  std::vector<std::string> algorithms;  // what this kernel offers
  std::uint64_t orig_bytes = 0;         // mm_stat orig_data_size
  std::uint64_t compr_bytes = 0;        // mm_stat compr_data_size
  std::uint64_t mem_used = 0;           // mm_stat mem_used_total
  bool swap = false;
  // orig / compr (0 when nothing is stored).
  double ratio() const;
};

// "zram3", "/dev/zram3" or "3" -> 3; Exit::usage otherwise.
Result<int> parse_zram_name(std::string_view s);

// The file names of the active swap areas in /proc/swaps text (octal
// escapes such as \040 decoded).
std::vector<std::string> parse_swaps(std::string_view text);

// mm_stat: the first three fields, and same_pages (the sixth: pages filled
// with one repeated value, kept without compressing; 0 when absent).
struct ZramMmStat {
  std::uint64_t orig = 0, compr = 0, mem_used = 0;
  std::uint64_t same_pages = 0;
};
Result<ZramMmStat> parse_mm_stat(std::string_view text);

Result<ZramMmStat> read_mm_stat(const Sysfs& sys, int id);

// Opens /dev/zramN (flags | O_CLOEXEC) after checking it is the block
// device /sys/block/zramN/dev names.
Result<Fd> open_zram(const Sysfs& sys, int id, int flags);

Result<ZramDevice> read_zram(const Sysfs& sys, int id, const std::string& swaps_path = "/proc/swaps");
Result<std::vector<ZramDevice>> list_zram(const Sysfs& sys, const std::string& swaps_path = "/proc/swaps");
// {dev, disksize, algorithm, orig_bytes, compr_bytes, mem_used, ratio, swap}
Json zram_json(const ZramDevice& d);

struct ZramAddOptions {
  std::uint64_t size = 0;
  std::string algorithm;             // empty: the kernel's default
  bool swap = false;
  std::optional<int> priority;       // swap priority 0..32767
  bool dry_run = false;
};

// Adds a device and returns {"zram": {...}, "changes": [...]}. On a failure
// after hot_add the device is removed again. Exit::usage for an algorithm
// the kernel does not offer (listing them), Exit::unavailable without the
// zram module.
Result<Json> zram_add(const Sysfs& sys, const ZramAddOptions& opts);

// swapoff when it is swap, then hot_remove. Exit::no_input for no such
// device, Exit::temp when it is busy (mounted, held open, swapoff lacks
// memory).
Result<Json> zram_remove(const Sysfs& sys, int id, bool dry_run);

// Writes a version-1 swap header (what mkswap writes) for a device or file
// of `size` bytes at the start of fd: bootbits, version, last_page, a random
// UUID, "SWAPSPACE2" at the end of the first page.
Result<void> write_swap_header(int fd, std::uint64_t size, std::size_t page_size);

}  // namespace faas
