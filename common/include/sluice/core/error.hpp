#pragma once
// Error vocabulary shared by every module.
//
// - Expected per-record problems are values (see Outcome in the stage contract), never exceptions.
// - Infrastructure failures throw InfraError, which says whether retrying can help.
// - Bad configuration throws ConfigError; daemons turn it into one message and exit code 2.
// - Programmer errors are assertions (SLUICE_ASSERT), never reachable from input.
#include <stdexcept>
#include <string>

namespace sluice::core {

enum class Retry { kYes, kNo };

// A broker, registry or database failure. kYes: transient, retry with backoff.
class InfraError : public std::runtime_error {
 public:
  InfraError(std::string what, Retry retry) : std::runtime_error(std::move(what)), retry_(retry) {}
  bool Retryable() const noexcept { return retry_ == Retry::kYes; }

 private:
  Retry retry_;
};

// Another live process runs with this process's identity (a consumer's group.instance.id, a
// producer's transactional.id): restarting cannot help, so daemons exit 3 and supervisors leave
// them down.
class FencedError : public InfraError {
 public:
  explicit FencedError(std::string what) : InfraError(std::move(what), Retry::kNo) {}
};

// Invalid configuration: the message names the file, the key and the problem.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Malformed input that cannot be attributed to one record (for example a corrupt schema).
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void AssertFail(const char* expr, const char* file, int line, const char* msg);

}  // namespace sluice::core

#define SLUICE_ASSERT(cond, msg) \
  ((cond) ? (void)0 : ::sluice::core::AssertFail(#cond, __FILE__, __LINE__, (msg)))
