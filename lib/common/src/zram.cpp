#include "faas/zram.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "faas/fd.hpp"
#include "faas/scope_exit.hpp"

namespace faas {

namespace {

constexpr const char* kHotAdd = "class/zram-control/hot_add";
constexpr const char* kHotRemove = "class/zram-control/hot_remove";

// block/zramN/<file>; id -1 spells "zramN" (a dry run knows no number yet).
std::string block(int id, std::string_view file) {
  return "block/zram" + (id < 0 ? std::string("N") : std::to_string(id)) + "/" + std::string(file);
}
std::string dev_path(int id) { return "/dev/zram" + std::to_string(id); }

// The "major:minor" in /sys/block/zramN/dev.
Result<dev_t> sys_dev(const Sysfs& sys, int id) {
  FAAS_TRY_ASSIGN(std::string s, sys.read(block(id, "dev")));
  unsigned maj = 0, min = 0;
  if (std::sscanf(s.c_str(), "%u:%u", &maj, &min) != 2)
    return Error(Exit::data, sys.path(block(id, "dev")).string() + ": not major:minor: `" + s + "'");
  return makedev(maj, min);
}

}  // namespace

Result<Fd> open_zram(const Sysfs& sys, int id, int flags) {
  FAAS_TRY_ASSIGN(dev_t want, sys_dev(sys, id));
  std::string p = dev_path(id);
  Fd fd(::open(p.c_str(), flags | O_CLOEXEC));
  if (!fd) return sys_error("open `" + p + "'");
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return sys_error("stat `" + p + "'");
  if (!S_ISBLK(st.st_mode) || st.st_rdev != want)
    return Error(Exit::unavailable, "`" + p + "' is not the zram" + std::to_string(id) + " block device");
  return fd;
}

namespace {

Result<bool> is_swap(const Sysfs& sys, int id, const std::string& swaps_path) {
  FAAS_TRY_ASSIGN(dev_t want, sys_dev(sys, id));
  FAAS_TRY_ASSIGN(std::string text, read_small_file(swaps_path));
  for (const auto& name : parse_swaps(text)) {
    struct stat st{};
    if (name == dev_path(id)) return true;
    if (::stat(name.c_str(), &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == want) return true;
  }
  return false;
}

Json change(std::string knob, Json before, Json after) {
  return Json{{"knob", std::move(knob)}, {"before", std::move(before)}, {"after", std::move(after)}};
}

}  // namespace

double ZramDevice::ratio() const {
  if (compr_bytes == 0) return 0;
  return std::round(static_cast<double>(orig_bytes) / static_cast<double>(compr_bytes) * 1000) / 1000;
}

Result<int> parse_zram_name(std::string_view s) {
  std::string_view n = s;
  if (n.starts_with("/dev/")) n.remove_prefix(5);
  if (n.starts_with("zram")) n.remove_prefix(4);
  int id = -1;
  auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), id);
  if (n.empty() || ec != std::errc() || p != n.data() + n.size() || id < 0)
    return Error(Exit::usage, "not a zram device: `" + std::string(s) + "' (zramN)");
  return id;
}

std::vector<std::string> parse_swaps(std::string_view text) {
  std::vector<std::string> out;
  bool header = true;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (header) {
      header = false;
      if (line.starts_with("Filename")) continue;
    }
    std::size_t end = line.find_first_of(" \t");
    std::string_view raw = line.substr(0, end);
    if (raw.empty()) continue;
    std::string name;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 3 < raw.size()) {
        int v = 0;
        auto [p, ec] = std::from_chars(raw.data() + i + 1, raw.data() + i + 4, v, 8);
        if (ec == std::errc() && p == raw.data() + i + 4) {
          name += static_cast<char>(v);
          i += 3;
          continue;
        }
      }
      name += raw[i];
    }
    out.push_back(std::move(name));
  }
  return out;
}

Result<ZramMmStat> parse_mm_stat(std::string_view text) {
  ZramMmStat m;
  std::uint64_t* dst[] = {&m.orig, &m.compr, &m.mem_used};
  std::size_t i = 0;
  for (auto* d : dst) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    auto [p, ec] = std::from_chars(text.data() + i, text.data() + text.size(), *d);
    if (ec != std::errc()) return Error(Exit::data, "mm_stat: not numbers: `" + std::string(text) + "'");
    i = static_cast<std::size_t>(p - text.data());
  }
  // Fields 4 and 5 (mem_limit, mem_used_max), then same_pages.
  for (int field = 4; field <= 6; ++field) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data() + i, text.data() + text.size(), v);
    if (ec != std::errc()) break;
    i = static_cast<std::size_t>(p - text.data());
    if (field == 6) m.same_pages = v;
  }
  return m;
}

Result<ZramMmStat> read_mm_stat(const Sysfs& sys, int id) {
  FAAS_TRY_ASSIGN(std::string mm, sys.read(block(id, "mm_stat")));
  return parse_mm_stat(mm);
}

Result<ZramDevice> read_zram(const Sysfs& sys, int id, const std::string& swaps_path) {
  ZramDevice d;
  d.id = id;
  d.name = "zram" + std::to_string(id);
  if (!sys.exists("block/" + d.name))
    return Error(Exit::no_input, "no zram device `" + d.name + "'");
  FAAS_TRY_ASSIGN(d.disksize, sys.read_u64(block(id, "disksize")));
  FAAS_TRY_ASSIGN(Choice c, sys.read_choice(block(id, "comp_algorithm")));
  d.algorithm = c.selected;
  d.algorithms = c.values;
  FAAS_TRY_ASSIGN(std::string mm, sys.read(block(id, "mm_stat")));
  FAAS_TRY_ASSIGN(ZramMmStat m, parse_mm_stat(mm));
  d.orig_bytes = m.orig;
  d.compr_bytes = m.compr;
  d.mem_used = m.mem_used;
  FAAS_TRY_ASSIGN(d.swap, is_swap(sys, id, swaps_path));
  return d;
}

Result<std::vector<ZramDevice>> list_zram(const Sysfs& sys, const std::string& swaps_path) {
  std::vector<int> ids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(sys.path("block"), ec)) {
    std::string n = e.path().filename().string();
    if (!n.starts_with("zram")) continue;
    if (auto id = parse_zram_name(n)) ids.push_back(*id);
  }
  if (ec) return Error(Exit::io, "list `" + sys.path("block").string() + "'", ec.value());
  std::sort(ids.begin(), ids.end());
  std::vector<ZramDevice> out;
  for (int id : ids) {
    FAAS_TRY_ASSIGN(ZramDevice d, read_zram(sys, id, swaps_path));
    out.push_back(std::move(d));
  }
  return out;
}

Json zram_json(const ZramDevice& d) {
  return Json{{"dev", d.name},          {"disksize", d.disksize},
              {"algorithm", d.algorithm}, {"orig_bytes", d.orig_bytes},
              {"compr_bytes", d.compr_bytes}, {"mem_used", d.mem_used},
              {"ratio", d.ratio()},       {"swap", d.swap}};
}

Result<void> write_swap_header(int fd, std::uint64_t size, std::size_t page_size) {
  std::uint64_t pages = size / page_size;
  if (pages < 10) return Error(Exit::usage, "swap area too small: " + std::to_string(size) + " bytes (at least 10 pages)");
  if (pages - 1 > 0xffffffffull) return Error(Exit::usage, "swap area too large for a version-1 header");
  std::vector<unsigned char> page(page_size, 0);
  auto put32 = [&](std::size_t off, std::uint32_t v) { std::memcpy(page.data() + off, &v, 4); };
  put32(1024, 1);                                        // version
  put32(1028, static_cast<std::uint32_t>(pages - 1));    // last_page
  put32(1032, 0);                                        // nr_badpages
  unsigned char uuid[16];
  if (::getrandom(uuid, sizeof uuid, 0) != sizeof uuid) return sys_error("getrandom");
  uuid[6] = static_cast<unsigned char>((uuid[6] & 0x0f) | 0x40);  // RFC 4122 version 4
  uuid[8] = static_cast<unsigned char>((uuid[8] & 0x3f) | 0x80);
  std::memcpy(page.data() + 1036, uuid, sizeof uuid);    // sws_uuid; label stays empty
  std::memcpy(page.data() + page_size - 10, "SWAPSPACE2", 10);
  std::size_t done = 0;
  while (done < page.size()) {
    ssize_t n = ::pwrite(fd, page.data() + done, page.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return sys_error("write swap header", Exit::io);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return sys_error("fsync swap header", Exit::io);
  return {};
}

Result<Json> zram_add(const Sysfs& sys, const ZramAddOptions& opts) {
  if (opts.size == 0) return Error(Exit::usage, "zram add: --size must be more than 0");
  if (opts.priority && (*opts.priority < 0 || *opts.priority > SWAP_FLAG_PRIO_MASK))
    return Error(Exit::usage, "zram add: swap priority must be 0..32767");
  if (!sys.exists(kHotAdd))
    return Error(Exit::unavailable, "this kernel has no `" + sys.path(kHotAdd).string() +
                                        "' (zram not built in or not loaded)");
  std::size_t page_size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  if (opts.swap && opts.size / page_size < 10)
    return Error(Exit::usage, "zram add: a swap device needs at least 10 pages");

  Json changes = Json::array();
  if (opts.dry_run) {
    // Check the algorithm against an existing device's list when there is one.
    if (!opts.algorithm.empty()) {
      if (auto all = list_zram(sys); all && !all->empty() && !all->front().algorithms.empty()) {
        Choice c{all->front().algorithms, all->front().algorithm};
        if (!c.has(opts.algorithm))
          return Error(Exit::usage, "zram add: invalid algorithm `" + opts.algorithm +
                                        "' (this kernel offers: " + c.list() + ")");
      }
    }
    changes.push_back(change(sys.path(kHotAdd).string(), nullptr, "zramN"));
    if (!opts.algorithm.empty())
      changes.push_back(change(sys.path(block(-1, "comp_algorithm")).string(), nullptr, opts.algorithm));
    changes.push_back(change(sys.path(block(-1, "disksize")).string(), 0, opts.size));
    if (opts.swap) {
      Json sw = change("swap", false, true);
      sw["priority"] = opts.priority ? Json(*opts.priority) : Json(nullptr);
      changes.push_back(std::move(sw));
    }
    return Json{{"zram", nullptr}, {"changes", std::move(changes)}};
  }

  FAAS_TRY_ASSIGN(std::string added, sys.read(kHotAdd));
  FAAS_TRY_ASSIGN(std::int64_t id64, parse_i64(added, sys.path(kHotAdd).string()));
  int id = static_cast<int>(id64);
  bool swapped = false;
  ScopeExit undo([&] {
    if (swapped) ::swapoff(dev_path(id).c_str());
    (void)sys.write(kHotRemove, std::to_string(id));
  });
  changes.push_back(change(sys.path(kHotAdd).string(), nullptr, "zram" + std::to_string(id)));

  if (!opts.algorithm.empty()) {
    FAAS_TRY_ASSIGN(Choice c, sys.read_choice(block(id, "comp_algorithm")));
    if (!c.has(opts.algorithm))
      return Error(Exit::usage, "zram add: invalid algorithm `" + opts.algorithm +
                                    "' (this kernel offers: " + c.list() + ")");
    FAAS_TRY_ASSIGN(Json ch, sys.change(block(id, "comp_algorithm"), opts.algorithm, false));
    changes.push_back(std::move(ch));
  }
  FAAS_TRY_ASSIGN(Json ch, sys.change(block(id, "disksize"), std::to_string(opts.size), false));
  changes.push_back(std::move(ch));

  if (opts.swap) {
    {
      FAAS_TRY_ASSIGN(Fd fd, open_zram(sys, id, O_RDWR | O_EXCL));
      FAAS_TRY_CTX(write_swap_header(fd.get(), opts.size, page_size), dev_path(id));
    }
    int flags = SWAP_FLAG_DISCARD;
    if (opts.priority)
      flags |= SWAP_FLAG_PREFER | ((*opts.priority << SWAP_FLAG_PRIO_SHIFT) & SWAP_FLAG_PRIO_MASK);
    if (::swapon(dev_path(id).c_str(), flags) != 0) return sys_error("swapon `" + dev_path(id) + "'");
    swapped = true;
    Json sw = change("swap", false, true);
    sw["priority"] = opts.priority ? Json(*opts.priority) : Json(nullptr);
    changes.push_back(std::move(sw));
  }
  FAAS_TRY_ASSIGN(ZramDevice d, read_zram(sys, id));
  undo.release();
  return Json{{"zram", zram_json(d)}, {"changes", std::move(changes)}};
}

Result<Json> zram_remove(const Sysfs& sys, int id, bool dry_run) {
  FAAS_TRY_ASSIGN(ZramDevice d, read_zram(sys, id));
  Json changes = Json::array();
  if (d.swap) {
    if (!dry_run && ::swapoff(dev_path(id).c_str()) != 0) {
      int err = errno;
      Exit st = (err == EBUSY || err == ENOMEM || err == EINTR) ? Exit::temp : status_for_errno(err, Exit::os);
      return Error(st, "swapoff `" + dev_path(id) + "'", err);
    }
    changes.push_back(change("swap", true, false));
  }
  if (!dry_run) {
    auto r = sys.write(kHotRemove, std::to_string(id));
    if (!r) {
      if (r.error().err() == EBUSY)
        return Error(Exit::temp, "remove " + d.name + ": busy (mounted or held open)", EBUSY);
      return std::move(r).error().wrap("remove " + d.name);
    }
  }
  changes.push_back(change(sys.path(kHotRemove).string(), d.name, nullptr));
  return Json{{"zram", zram_json(d)}, {"changes", std::move(changes)}};
}

}  // namespace faas
