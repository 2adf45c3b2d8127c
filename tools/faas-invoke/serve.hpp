// faas-invoke serve: an epoll gateway handing each TCP connection to a
// sandbox acquired from a pool. See faas-invoke(1).
#pragma once

#include "faas/cli.hpp"
#include "faas/result.hpp"
#include "invoke_cmd.hpp"

namespace faas::invoke {

Result<Exit> serve(const CommonOptions& common, const Options& o);

}  // namespace faas::invoke
