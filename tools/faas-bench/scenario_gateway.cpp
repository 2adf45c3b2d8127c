#include "pending.hpp"

namespace faas::bench {

std::unique_ptr<Scenario> make_gateway_scenario() { return make_pending_scenario("gateway", "the gateway"); }

}  // namespace faas::bench
