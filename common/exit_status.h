// Exit statuses of every wideep command (documented in README.md).
#pragma once

namespace wideep {
enum ExitStatus : int {
  kExitOk = 0,
  kExitCheckFailed = 1,  // --check, a checksum, or a fault detected in data
  kExitUsage = 2,        // bad input, before any communication
  kExitTimeout = 3,      // a wait ran past --timeout-s or a peer vanished
  kExitFailure = 4,      // any other runtime failure (a library call failed)
};
}  // namespace wideep
