#include "pending.hpp"

namespace faas::bench {

std::unique_ptr<Scenario> make_mem_scenario() { return make_pending_scenario("mem", "KSM and zram"); }

}  // namespace faas::bench
