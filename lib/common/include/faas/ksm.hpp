// Kernel samepage merging: its counters under /sys/kernel/mm/ksm, turning it
// on and off, the ksmtuned algorithm, and making a process mergeable
// (prctl PR_SET_MEMORY_MERGE, which faas-pool's --ksm templates reuse).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "faas/records.hpp"
#include "faas/result.hpp"
#include "faas/sysfs.hpp"

namespace faas {

struct KsmStatus {
  std::int64_t run = 0;
  std::int64_t pages_to_scan = 0;
  std::int64_t sleep_millisecs = 0;
  std::int64_t pages_shared = 0;    // distinct merged pages kept
  std::int64_t pages_sharing = 0;   // further mappings of them: the saving
  std::int64_t pages_unshared = 0;
  std::int64_t pages_volatile = 0;
  std::int64_t full_scans = 0;
  std::optional<std::int64_t> general_profit;  // Linux 6.7+
  std::int64_t page_size = 4096;

  std::int64_t saved_bytes() const { return pages_sharing * page_size; }
  // pages_sharing / pages_shared: how many mappings each kept page serves
  // beyond its own (0 when nothing is merged).
  double ratio() const;
};

Result<KsmStatus> read_ksm(const Sysfs& sys);
// {run, pages_to_scan, ..., general_profit, full_scans, saved_bytes, ratio}
Json ksm_json(const KsmStatus& k);

// KSM `run`: 0 stops scanning (merged pages stay merged), 1 runs, 2 stops
// and unmerges everything.
Result<Json> ksm_set_run(const Sysfs& sys, int run, bool dry_run);

// Marks every present and future anonymous mapping of the calling process
// (and its children, and across execve) mergeable. Exit::unavailable when
// the kernel lacks PR_SET_MEMORY_MERGE (before Linux 6.4).
Result<void> enable_memory_merge();
Result<bool> memory_merge_enabled();

// personality(ADDR_NO_RANDOMIZE) for the calling process: from its next
// execve on, stack, heap (brk) and mmap bases are no longer randomised, so
// identical processes lay out their heaps at the same addresses and the
// pointers inside them match: pages KSM can merge. It weakens the exploit
// mitigation ASLR gives, and is inherited by children.
Result<void> disable_address_randomization();

// The KSM tunables a run may change, saved to be put back: each of
// ksm_tunables() the kernel has, as the value to write (the selected word
// of a choice knob such as advisor_mode).
struct KsmKnobs {
  std::vector<std::pair<std::string, std::string>> values;  // {name, value}
  const std::string* find(std::string_view name) const;
};
// run, pages_to_scan, sleep_millisecs, merge_across_nodes, max_page_sharing,
// use_zero_pages, smart_scan, stable_node_chains_prune_millisecs and the
// advisor knobs.
const std::vector<std::string>& ksm_tunables();
Result<KsmKnobs> save_ksm_knobs(const Sysfs& sys);
// Writes back every saved knob whose value differs now, `run` last, and
// returns the changes ({knob, before, after}); keeps going past a failed
// write and returns the first error once every knob was tried.
Result<Json> restore_ksm_knobs(const Sysfs& sys, const KsmKnobs& saved);

// A process's memory as /proc/PID/smaps_rollup and /proc/PID/ksm_stat give
// it, in bytes.
struct ProcMemory {
  std::int64_t rss = 0;
  std::int64_t pss = 0;
  std::int64_t anonymous = 0;
  std::int64_t ksm = 0;                // "KSM:": mapped KSM pages (6.1+)
  std::int64_t swap = 0;
  std::int64_t ksm_merging_pages = 0;  // ksm_stat, 0 when absent
  bool ksm_merge_any = false;          // ksm_stat: PR_SET_MEMORY_MERGE is on
};
// Parses smaps_rollup text (Rss is required; "kB" values).
Result<ProcMemory> parse_smaps_rollup(std::string_view text);
// Adds ksm_stat's ksm_merging_pages and ksm_merge_any to m.
void parse_ksm_stat(std::string_view text, ProcMemory& m);
Result<ProcMemory> read_proc_memory(pid_t pid, const std::string& proc = "/proc");

struct MemInfo {
  std::int64_t total_kb = 0;
  std::int64_t free_kb = 0;
  std::int64_t available_kb = 0;
  std::int64_t buffers_kb = 0;
  std::int64_t cached_kb = 0;
};
Result<MemInfo> parse_meminfo(std::string_view text);
Result<MemInfo> read_meminfo(const std::string& path = "/proc/meminfo");

// ksmtuned's constants (its defaults), plus the dedup-ratio rule.
struct KsmTuneConfig {
  std::int64_t npages_boost = 300;
  std::int64_t npages_decay = -50;
  std::int64_t npages_min = 64;
  std::int64_t npages_max = 1250;
  std::int64_t thres_coef = 20;      // percent of MemTotal
  std::int64_t thres_const_kb = 2048;
  std::int64_t sleep_msec = 10;      // per 16 GiB of memory
  double min_ratio = 1.5;            // below it after min_full_scans: decay
  std::int64_t min_full_scans = 2;
};

struct KsmTuneDecision {
  int run = 0;                     // the value for `run`
  std::int64_t pages_to_scan = 0;  // unchanged when stopping
  std::int64_t sleep_millisecs = 0;
  std::string reason;              // idle, boost, decay, low_ratio
  std::int64_t total_kb = 0, free_kb = 0, committed_kb = 0, thres_kb = 0;
  double ratio = 0;
  Json to_json() const;
};

// One step of ksmtuned's adjust(): sleep_millisecs scaled to memory size;
// stop when committed + thres < total and free > thres; otherwise boost
// pages_to_scan when free < thres, else decay. The ratio rule: once KSM has
// run min_full_scans full scans and pages_sharing/pages_shared is below
// min_ratio, scanning does not pay for itself, so decay instead of boost.
// "committed" is MemTotal - MemAvailable; "free" is MemFree + Buffers +
// Cached, as in ksmtuned.
KsmTuneDecision ksm_tune_decide(const KsmTuneConfig& cfg, const MemInfo& mem,
                                const KsmStatus& ksm);

}  // namespace faas
