// Exit statuses of every faaskit tool (sysexits.h numbering).
#pragma once

namespace faas {

enum class Exit : int {
  ok = 0,
  usage = 64,        // bad command line
  data = 65,         // bad input data (a record, a message)
  no_input = 66,     // a named input (ID, file) does not exist
  unavailable = 69,  // kernel feature or peer unavailable
  software = 70,     // internal error: a bug
  os = 71,           // a system call failed
  cant_create = 73,  // cannot create an output
  io = 74,           // input/output error
  temp = 75,         // temporary failure (pool empty, lock timeout): retry
  no_perm = 77,      // permission denied
  config = 78,       // configuration error
  cant_exec = 126,   // a command was found but could not be executed
  not_found = 127,   // a command was not found
};

constexpr int to_int(Exit e) { return static_cast<int>(e); }

// A short name for an exit status, for logs and `error.status_name`.
const char* exit_name(Exit e);

}  // namespace faas
