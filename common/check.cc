// Formatting of wideep::Error messages; the library-specific fail functions live
// in the layer that links each library.
#include "common/check.h"

#include <fmt/format.h>

namespace wideep {
namespace {
int g_error_rank = -1;
}

const char* category_name(ErrorCategory c) {
  switch (c) {
    case ErrorCategory::kInvalidArgument: return "invalid argument";
    case ErrorCategory::kSystem: return "system error";
    case ErrorCategory::kRemote: return "remote error";
    case ErrorCategory::kTimeout: return "timeout";
    case ErrorCategory::kCheckFailed: return "check failed";
    case ErrorCategory::kInternal: return "internal error";
  }
  return "error";
}

void set_error_rank(int rank) { g_error_rank = rank; }
int error_rank() { return g_error_rank; }

void fail_call(ErrorCategory category, const char* library, long code, const std::string& detail,
               const char* call, const char* file, int line) {
  throw Error(category, fmt::format("rank {}: {} {} ({}): {} [{}] at {}:{}", g_error_rank, library,
                                    category_name(category), code, detail, call, file, line));
}

}  // namespace wideep
