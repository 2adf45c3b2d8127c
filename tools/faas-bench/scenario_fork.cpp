#include "pending.hpp"

namespace faas::bench {

std::unique_ptr<Scenario> make_fork_scenario() { return make_pending_scenario("fork", "copy-on-write rootfs forks"); }

}  // namespace faas::bench
