#include "faas/thp.hpp"

#include <string>

namespace faas {

namespace {
constexpr const char* kThp = "kernel/mm/transparent_hugepage/";
}

Result<Json> read_thp(const Sysfs& sys) {
  Json j = Json::object();
  for (const char* k : {"enabled", "defrag"}) {
    FAAS_TRY_ASSIGN(Choice c, sys.read_choice(std::string(kThp) + k));
    j[k] = c.selected;
  }
  return j;
}

Result<Json> set_thp(const Sysfs& sys, std::string_view knob, std::string_view mode, bool dry_run) {
  if (knob != "enabled" && knob != "defrag")
    return Error(Exit::usage, "thp: unknown knob `" + std::string(knob) + "' (enabled, defrag)");
  std::string rel = std::string(kThp) + std::string(knob);
  FAAS_TRY_ASSIGN(Choice c, sys.read_choice(rel));
  if (!c.has(mode))
    return Error(Exit::usage, "thp " + std::string(knob) + ": invalid mode `" + std::string(mode) +
                                  "' (this kernel offers: " + c.list() + ")");
  return sys.change(rel, mode, dry_run);
}

}  // namespace faas
