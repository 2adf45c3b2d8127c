// faas-invoke serve: an epoll gateway handing each TCP connection to a
// sandbox acquired from a pool. See faas-invoke(1).
#pragma once

#include <optional>

#include "faas/cli.hpp"
#include "faas/holder.hpp"
#include "faas/sandbox_pool.hpp"
#include "faas/state.hpp"
#include "faas/result.hpp"
#include "invoke_cmd.hpp"

namespace faas::invoke {

Result<Exit> serve(const CommonOptions& common, const Options& o);

// Opens the state store and the pools over it, as both modes use them:
// the state and run dirs made absolute, this process as the holder.
Result<void> open_pools(const CommonOptions& c, std::optional<Stores>& stores,
                        std::optional<SandboxPools>& pools, Holder& self);

}  // namespace faas::invoke
