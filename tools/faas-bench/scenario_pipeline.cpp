#include "pending.hpp"

namespace faas::bench {

std::unique_ptr<Scenario> make_cold_scenario() { return make_pending_scenario("cold", "a cold sandbox"); }

std::unique_ptr<Scenario> make_warm_scenario() { return make_pending_scenario("warm", "the warm pipeline"); }

}  // namespace faas::bench
