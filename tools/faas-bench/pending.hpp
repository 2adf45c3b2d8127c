// A scenario whose measurement is not written yet: listed, never run.
#pragma once

#include "bench.hpp"

namespace faas::bench {

std::unique_ptr<Scenario> make_pending_scenario(std::string name, std::string summary);

}  // namespace faas::bench
