// Transparent huge pages: /sys/kernel/mm/transparent_hugepage/{enabled,defrag}.
#pragma once

#include <string_view>

#include "faas/records.hpp"
#include "faas/result.hpp"
#include "faas/sysfs.hpp"

namespace faas {

// {"enabled": "madvise", "defrag": "madvise"}
Result<Json> read_thp(const Sysfs& sys);

// Sets `enabled` or `defrag` to mode. Exit::usage for another knob name, or
// for a mode the kernel does not list (the message lists the kernel's own
// values); Exit::unavailable when the kernel has no THP.
Result<Json> set_thp(const Sysfs& sys, std::string_view knob, std::string_view mode, bool dry_run);

}  // namespace faas
