// The one error type of wideep and every check macro. A failed library call
// (MPI, NCCL, CUDA, cuBLAS, hwloc) becomes a wideep::Error that names the call,
// the rank, the file and the line. Bad user input is a UsageError (exit 2).
#pragma once

#include <stdexcept>
#include <string>

namespace wideep {

enum class ErrorCategory {
  kInvalidArgument,  // bad user input: options, files, shapes (exit status 2)
  kSystem,           // a library or OS call failed
  kRemote,           // a peer misbehaved (wrong data, died)
  kTimeout,          // a wait ran past --timeout-s
  kCheckFailed,      // a correctness check (--check, checksums) failed
  kInternal,         // a broken invariant of wideep itself
};

const char* category_name(ErrorCategory c);

class Error : public std::runtime_error {
 public:
  Error(ErrorCategory category, const std::string& what)
      : std::runtime_error(what), category_(category) {}
  ErrorCategory category() const { return category_; }

 private:
  ErrorCategory category_;
};

// Bad input: the message names the option or file. Raised before any communication.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(ErrorCategory::kInvalidArgument, what) {}
};

// The rank named in error messages; set once after the launcher is known.
void set_error_rank(int rank);
int error_rank();

[[noreturn]] void fail_call(ErrorCategory category, const char* library, long code,
                            const std::string& detail, const char* call, const char* file,
                            int line);

// Defined by the layer that links the library (comm/ for MPI and NCCL,
// kernels/ for CUDA and cuBLAS, runtime/ for hwloc), so this header needs none of them.
namespace detail {
[[noreturn]] void mpi_fail(int code, const char* call, const char* file, int line);
[[noreturn]] void nccl_fail(int code, const char* call, const char* file, int line);
[[noreturn]] void cuda_fail(int code, const char* call, const char* file, int line);
[[noreturn]] void cublas_fail(int code, const char* call, const char* file, int line);
[[noreturn]] void hwloc_fail(int code, const char* call, const char* file, int line);
}  // namespace detail

}  // namespace wideep

#define WIDEEP_MPI_CHECK(call)                                                       \
  do {                                                                               \
    int wideep_rc_ = (call);                                                         \
    if (wideep_rc_ != 0) ::wideep::detail::mpi_fail(wideep_rc_, #call, __FILE__, __LINE__); \
  } while (0)

#define WIDEEP_NCCL_CHECK(call)                                                      \
  do {                                                                               \
    int wideep_rc_ = static_cast<int>(call);                                         \
    if (wideep_rc_ != 0) ::wideep::detail::nccl_fail(wideep_rc_, #call, __FILE__, __LINE__); \
  } while (0)

#define WIDEEP_CUDA_CHECK(call)                                                      \
  do {                                                                               \
    int wideep_rc_ = static_cast<int>(call);                                         \
    if (wideep_rc_ != 0) ::wideep::detail::cuda_fail(wideep_rc_, #call, __FILE__, __LINE__); \
  } while (0)

#define WIDEEP_CUBLAS_CHECK(call)                                                    \
  do {                                                                               \
    int wideep_rc_ = static_cast<int>(call);                                         \
    if (wideep_rc_ != 0) ::wideep::detail::cublas_fail(wideep_rc_, #call, __FILE__, __LINE__); \
  } while (0)

// hwloc calls return -1 (or NULL, checked by the caller) and set errno.
#define WIDEEP_HWLOC_CHECK(call)                                                     \
  do {                                                                               \
    int wideep_rc_ = (call);                                                         \
    if (wideep_rc_ < 0) ::wideep::detail::hwloc_fail(wideep_rc_, #call, __FILE__, __LINE__); \
  } while (0)

// A broken invariant of wideep itself (not for input validation: use UsageError).
#define WIDEEP_ASSERT(cond, msg)                                                     \
  do {                                                                               \
    if (!(cond))                                                                     \
      ::wideep::fail_call(::wideep::ErrorCategory::kInternal, "wideep", 0, (msg), #cond, \
                          __FILE__, __LINE__);                                       \
  } while (0)
