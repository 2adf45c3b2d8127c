#include "pending.hpp"

namespace faas::bench {

std::unique_ptr<Scenario> make_netns_scenario() { return make_pending_scenario("netns", "network namespaces"); }

}  // namespace faas::bench
