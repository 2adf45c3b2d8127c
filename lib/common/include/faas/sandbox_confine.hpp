// Confinement of a sandbox's PID 1 just before it execs faas-init:
// capabilities, no_new_privs and the seccomp filter.
//
// Capabilities kept (bounding, permitted, effective, inheritable):
// CAP_SYS_CHROOT only, which faas-init needs to chroot(2) into an
// invocation's root. faas-init runs as root inside; signalling and reaping
// its own children needs no capability. Every other capability is dropped
// from the bounding set, so no exec regains it; CapEff is 0x40000.
//
// The seccomp filter (compiled by libseccomp when faaskit is built, see
// gen/seccomp_filter.cpp; the native architecture only, a system call of
// another architecture kills the process) returns EPERM for the system
// calls named in faas/sandbox_denied.hpp (the list is kept there alone;
// faas-pool(1) gives it to users).
#pragma once

#include <cstdint>

#include "faas/result.hpp"
#include "faas/sandbox_denied.hpp"

namespace faas {

inline constexpr int kSandboxKeptCaps[] = {18 /* CAP_SYS_CHROOT */};

// Drops every capability but kSandboxKeptCaps from the bounding set only:
// the process keeps its effective capabilities for now. One prctl per
// capability, each a new set of credentials (40-50 us in all), so the
// sandbox's PID 1 does it while it would otherwise wait. Entering a user
// namespace gives a full bounding set again: call it after that.
Result<void> drop_sandbox_bounding_set();

// Drops capabilities to kSandboxKeptCaps (what is left of the bounding set
// first), sets no_new_privs and loads the filter. Called in the sandbox's
// PID 1, after its mounts are done.
Result<void> confine_sandbox_process();

}  // namespace faas
