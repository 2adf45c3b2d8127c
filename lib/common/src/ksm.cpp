#include "faas/ksm.hpp"

#include <sys/personality.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif

namespace faas {

namespace {

constexpr const char* kKsm = "kernel/mm/ksm/";

std::string knob(std::string_view name) { return std::string(kKsm) + std::string(name); }

double round3(double v) { return std::round(v * 1000) / 1000; }

}  // namespace

double KsmStatus::ratio() const {
  if (pages_shared <= 0) return 0;
  return static_cast<double>(pages_sharing) / static_cast<double>(pages_shared);
}

Result<KsmStatus> read_ksm(const Sysfs& sys) {
  if (!sys.exists("kernel/mm/ksm"))
    return Error(Exit::unavailable, "this kernel has no KSM (`" + sys.path("kernel/mm/ksm").string() + "')");
  KsmStatus k;
  struct Field {
    const char* name;
    std::int64_t KsmStatus::*member;
  };
  static constexpr Field fields[] = {
      {"run", &KsmStatus::run},
      {"pages_to_scan", &KsmStatus::pages_to_scan},
      {"sleep_millisecs", &KsmStatus::sleep_millisecs},
      {"pages_shared", &KsmStatus::pages_shared},
      {"pages_sharing", &KsmStatus::pages_sharing},
      {"pages_unshared", &KsmStatus::pages_unshared},
      {"pages_volatile", &KsmStatus::pages_volatile},
      {"full_scans", &KsmStatus::full_scans},
  };
  for (const auto& f : fields) {
    FAAS_TRY_ASSIGN(k.*f.member, sys.read_i64(knob(f.name)));
  }
  if (sys.exists(knob("general_profit"))) {
    FAAS_TRY_ASSIGN(k.general_profit, sys.read_i64(knob("general_profit")));
  }
  k.page_size = ::sysconf(_SC_PAGESIZE);
  return k;
}

Json ksm_json(const KsmStatus& k) {
  return Json{{"run", k.run},
              {"pages_to_scan", k.pages_to_scan},
              {"sleep_millisecs", k.sleep_millisecs},
              {"pages_shared", k.pages_shared},
              {"pages_sharing", k.pages_sharing},
              {"pages_unshared", k.pages_unshared},
              {"pages_volatile", k.pages_volatile},
              {"general_profit", k.general_profit ? Json(*k.general_profit) : Json(nullptr)},
              {"full_scans", k.full_scans},
              {"saved_bytes", k.saved_bytes()},
              {"ratio", round3(k.ratio())}};
}

Result<Json> ksm_set_run(const Sysfs& sys, int run, bool dry_run) {
  if (run < 0 || run > 2) return Error(Exit::usage, "KSM run must be 0, 1 or 2");
  return sys.change(knob("run"), std::to_string(run), dry_run);
}

Result<void> enable_memory_merge() {
  if (::prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) != 0) {
    int err = errno;
    if (err == EINVAL || err == ENOSYS)
      return Error(Exit::unavailable, "prctl(PR_SET_MEMORY_MERGE): this kernel lacks it (Linux 6.4+ with CONFIG_KSM)", err);
    return sys_error(err, "prctl(PR_SET_MEMORY_MERGE)");
  }
  return {};
}

Result<bool> memory_merge_enabled() {
  int r = ::prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0);
  if (r < 0) {
    int err = errno;
    if (err == EINVAL || err == ENOSYS)
      return Error(Exit::unavailable, "prctl(PR_GET_MEMORY_MERGE): this kernel lacks it", err);
    return sys_error(err, "prctl(PR_GET_MEMORY_MERGE)");
  }
  return r == 1;
}

Result<void> disable_address_randomization() {
  int cur = ::personality(0xffffffff);
  if (cur == -1) return sys_error("personality: read the execution domain");
  if (::personality(static_cast<unsigned long>(cur) | ADDR_NO_RANDOMIZE) == -1)
    return sys_error("personality(ADDR_NO_RANDOMIZE)");
  return {};
}

const std::string* KsmKnobs::find(std::string_view name) const {
  for (const auto& [k, v] : values)
    if (k == name) return &v;
  return nullptr;
}

const std::vector<std::string>& ksm_tunables() {
  // `run` first: restore_ksm_knobs writes it last.
  static const std::vector<std::string> names = {
      "run", "pages_to_scan", "sleep_millisecs", "merge_across_nodes", "max_page_sharing",
      "use_zero_pages", "smart_scan", "stable_node_chains_prune_millisecs", "advisor_mode",
      "advisor_max_cpu", "advisor_min_pages_to_scan", "advisor_max_pages_to_scan",
      "advisor_target_scan_time"};
  return names;
}

namespace {

// The value a knob reads as, in the form it is written back: the selected
// word of a choice list, else the text.
Result<std::string> knob_text(const Sysfs& sys, const std::string& rel) {
  FAAS_TRY_ASSIGN(std::string text, sys.read(rel));
  if (text.find('[') != std::string::npos) {
    Choice c = parse_choice(text);
    if (!c.selected.empty()) return c.selected;
  }
  return text;
}

}  // namespace

Result<KsmKnobs> save_ksm_knobs(const Sysfs& sys) {
  if (!sys.exists("kernel/mm/ksm"))
    return Error(Exit::unavailable, "this kernel has no KSM (`" + sys.path("kernel/mm/ksm").string() + "')");
  KsmKnobs saved;
  for (const auto& name : ksm_tunables()) {
    if (!sys.exists(knob(name))) continue;
    FAAS_TRY_ASSIGN(std::string v, knob_text(sys, knob(name)));
    saved.values.emplace_back(name, std::move(v));
  }
  return saved;
}

Result<Json> restore_ksm_knobs(const Sysfs& sys, const KsmKnobs& saved) {
  Json changes = Json::array();
  std::optional<Error> first;
  auto put_back = [&](const std::string& name, const std::string& value) {
    auto now = knob_text(sys, knob(name));
    if (now && *now == value) return;
    auto ch = sys.change(knob(name), value, false);
    if (ch) {
      changes.push_back(std::move(*ch));
    } else if (!first) {
      first = std::move(ch).error().wrap("restore KSM " + name);
    }
  };
  for (const auto& [name, value] : saved.values)
    if (name != "run") put_back(name, value);
  if (const std::string* run = saved.find("run")) put_back("run", *run);
  if (first) return std::move(*first);
  return changes;
}

namespace {

// The "Key:   value kB" lines of /proc/meminfo and smaps_rollup: calls
// f(key, value, in_kb) for each, the value without its " kB"; stops at the
// first error f returns.
template <class F>
Result<void> for_each_field(std::string_view text, F f) {
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view val = line.substr(colon + 1);
    std::size_t kb = val.find("kB");
    if (kb != std::string_view::npos) val = val.substr(0, kb);
    FAAS_TRY(f(line.substr(0, colon), val, kb != std::string_view::npos));
  }
  return {};
}

}  // namespace

Result<ProcMemory> parse_smaps_rollup(std::string_view text) {
  ProcMemory m;
  bool rss = false;
  FAAS_TRY(for_each_field(text, [&](std::string_view key, std::string_view val, bool in_kb) -> Result<void> {
    if (!in_kb) return {};  // the header line has no kB
    std::int64_t* dst = nullptr;
    if (key == "Rss") dst = &m.rss, rss = true;
    else if (key == "Pss") dst = &m.pss;
    else if (key == "Anonymous") dst = &m.anonymous;
    else if (key == "KSM") dst = &m.ksm;
    else if (key == "Swap") dst = &m.swap;
    if (dst == nullptr) return {};
    FAAS_TRY_ASSIGN(std::int64_t v, parse_i64(val, "smaps_rollup " + std::string(key)));
    *dst = v * 1024;
    return {};
  }));
  if (!rss) return Error(Exit::data, "smaps_rollup: no Rss");
  return m;
}

void parse_ksm_stat(std::string_view text, ProcMemory& m) {
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.starts_with("ksm_merging_pages ")) {
      if (auto v = parse_i64(line.substr(18), "ksm_merging_pages")) m.ksm_merging_pages = *v;
    } else if (line.starts_with("ksm_merge_any:")) {
      m.ksm_merge_any = line.find("yes") != std::string_view::npos;
    }
  }
}

Result<ProcMemory> read_proc_memory(pid_t pid, const std::string& proc) {
  std::string dir = proc + "/" + std::to_string(pid);
  FAAS_TRY_ASSIGN(std::string rollup, read_small_file(dir + "/smaps_rollup"));
  FAAS_TRY_ASSIGN(ProcMemory m, parse_smaps_rollup(rollup));
  if (auto st = read_small_file(dir + "/ksm_stat")) parse_ksm_stat(*st, m);
  return m;
}

Result<MemInfo> parse_meminfo(std::string_view text) {
  MemInfo m;
  bool total = false;
  FAAS_TRY(for_each_field(text, [&](std::string_view key, std::string_view val, bool) -> Result<void> {
    std::int64_t* dst = nullptr;
    if (key == "MemTotal") dst = &m.total_kb, total = true;
    else if (key == "MemFree") dst = &m.free_kb;
    else if (key == "MemAvailable") dst = &m.available_kb;
    else if (key == "Buffers") dst = &m.buffers_kb;
    else if (key == "Cached") dst = &m.cached_kb;
    if (dst == nullptr) return {};
    FAAS_TRY_ASSIGN(*dst, parse_i64(val, "meminfo " + std::string(key)));
    return {};
  }));
  if (!total || m.total_kb <= 0) return Error(Exit::data, "meminfo: no MemTotal");
  return m;
}

Result<MemInfo> read_meminfo(const std::string& path) {
  FAAS_TRY_ASSIGN(std::string text, read_small_file(path));
  return parse_meminfo(text);
}

Json KsmTuneDecision::to_json() const {
  return Json{{"reason", reason},
              {"run", run},
              {"pages_to_scan", pages_to_scan},
              {"sleep_millisecs", sleep_millisecs},
              {"total_kb", total_kb},
              {"free_kb", free_kb},
              {"committed_kb", committed_kb},
              {"thres_kb", thres_kb},
              {"ratio", round3(ratio)}};
}

KsmTuneDecision ksm_tune_decide(const KsmTuneConfig& cfg, const MemInfo& mem,
                                const KsmStatus& ksm) {
  KsmTuneDecision d;
  d.total_kb = mem.total_kb;
  d.free_kb = mem.free_kb + mem.buffers_kb + mem.cached_kb;
  d.committed_kb = std::max<std::int64_t>(0, mem.total_kb - mem.available_kb);
  d.thres_kb = std::max(cfg.thres_const_kb, mem.total_kb * cfg.thres_coef / 100);
  d.ratio = ksm.ratio();
  // ksmtuned: KSM_SLEEP_MSEC * 16 GiB / total, at least 10 ms.
  d.sleep_millisecs = std::max<std::int64_t>(
      10, cfg.sleep_msec * 16 * 1024 * 1024 / std::max<std::int64_t>(1, mem.total_kb));
  d.pages_to_scan = ksm.pages_to_scan;
  if (d.committed_kb + d.thres_kb < d.total_kb && d.free_kb > d.thres_kb) {
    d.run = 0;
    d.reason = "idle";
    d.sleep_millisecs = ksm.sleep_millisecs;
    return d;
  }
  d.run = 1;
  std::int64_t step = cfg.npages_decay;
  d.reason = "decay";
  if (d.free_kb < d.thres_kb) {
    step = cfg.npages_boost;
    d.reason = "boost";
  }
  if (ksm.run == 1 && ksm.full_scans >= cfg.min_full_scans && d.ratio < cfg.min_ratio) {
    step = cfg.npages_decay;
    d.reason = "low_ratio";
  }
  d.pages_to_scan = std::clamp(ksm.pages_to_scan + step, cfg.npages_min, cfg.npages_max);
  return d;
}

}  // namespace faas
