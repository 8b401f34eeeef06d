#pragma once
// Retrying infrastructure failures with exponential backoff inside a time budget
// (pipeline file `retry:` section). Retryable core::InfraError is retried; anything else
// propagates at once. When the budget is spent, or shutdown is requested while waiting,
// the last error is rethrown as InfraError(kNo) saying so, which RunDaemon turns into exit 1.
#include <chrono>
#include <functional>
#include <string>

#include "sluice/config/view.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/error.hpp"
#include "sluice/core/shutdown.hpp"
#include "sluice/obs/log.hpp"

namespace sluice::kafka {
class KafkaError;
class Producer;
}

namespace sluice::runtime {

struct RetryPolicy {
  core::Duration initial_backoff{200};
  core::Duration max_backoff{30'000};
  core::Duration budget{300'000};

  // From the validated `retry` section of the pipeline file.
  static RetryPolicy FromConfig(const config::View& retry_section);
};

// Calls fn until it returns; see the file comment. `what` names the operation in logs.
template <class Fn>
auto WithRetry(const RetryPolicy& policy, const core::ShutdownToken& shutdown,
               const obs::Logger& log, const std::string& what, Fn&& fn) -> decltype(fn()) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + policy.budget;
  core::Duration backoff = policy.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    try {
      return fn();
    } catch (const core::InfraError& e) {
      if (!e.Retryable()) throw;
      auto now = Clock::now();
      if (now + backoff > deadline) {
        throw core::InfraError(what + ": gave up after " + std::to_string(attempt) +
                                   " attempts within the retry budget of " +
                                   core::FormatDuration(policy.budget) + ": " + e.what(),
                               core::Retry::kNo);
      }
      log.Warn("retrying after an infrastructure error",
               {{"operation", what}, {"attempt", attempt}, {"error", e.what()},
                {"backoff_ms", backoff.count()}});
      if (shutdown.WaitFor(backoff)) {
        throw core::InfraError(what + ": shutdown requested while retrying: " + e.what(),
                               core::Retry::kNo);
      }
      backoff = std::min(backoff * 2, policy.max_backoff);
    }
  }
}

// Like WithRetry, for a stage that is already running and must outlast an outage of any
// length: a retryable core::InfraError is retried with backoff (capped at max_backoff) until fn
// returns, however long that takes; each retry past the budget is logged as an error. Anything
// else propagates. Returns false when shutdown was requested while waiting.
template <class Fn>
bool RetryUntilShutdown(const RetryPolicy& policy, const core::ShutdownToken& shutdown,
                        const obs::Logger& log, const std::string& what, Fn&& fn) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  core::Duration backoff = policy.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    try {
      fn();
      return true;
    } catch (const core::InfraError& e) {
      if (!e.Retryable()) throw;
      const bool past_budget = Clock::now() - start > policy.budget;
      log.Log(past_budget ? obs::LogLevel::kError : obs::LogLevel::kWarn,
              past_budget ? "still failing past the retry budget; retrying until it is back"
                          : "retrying after an infrastructure error",
              {{"operation", what}, {"attempt", attempt}, {"error", e.what()},
               {"backoff_ms", backoff.count()}});
      if (shutdown.WaitFor(backoff)) return false;
      backoff = std::min(backoff * 2, policy.max_backoff);
    }
  }
}

// Tells an outage's after-effects from a live second instance. A static consumer whose session
// expired while the broker was away is "fenced" when it rejoins (librdkafka issue #3437), and a
// transaction the coordinator timed out fences its producer: the first fence is always healed
// by rebuilding the client (a stage blocked in a commit retry may not have seen the outage
// itself). A second fence within kMemory of the first, with no trouble noted in between, means
// another process runs with the same id: the stage must exit. Two live instances therefore
// take the id from each other once before the one fenced twice exits. One per loop; not
// thread-safe.
class TroubleMemory {
 public:
  static constexpr std::chrono::minutes kMemory{10};
  void Note() { last_ = std::chrono::steady_clock::now(); }
  // True for a fenced error that follows another within kMemory with no trouble noted in
  // between. A false answer (heal) records this fence.
  bool FencedByTwin(const kafka::KafkaError& e);

 private:
  std::chrono::steady_clock::time_point last_{};
  std::chrono::steady_clock::time_point last_fence_{};
};

// producer.InitTransactions, a fatal error (the transactional.id cannot be used) turned into a
// non-retryable core::InfraError, so that WithRetry and RetryUntilShutdown stop at it and
// retry the rest (broker unreachable, coordinator loading).
void InitTransactions(kafka::Producer& producer, std::chrono::milliseconds timeout);

// Commits the producer's open transaction, calling CommitTransaction again after a retriable
// KafkaError (librdkafka's rule for commits) until `budget` has passed; any other error, or a
// retriable one past the budget, is thrown for the caller to abort or exit.
void CommitTransactionWithRetry(kafka::Producer& producer, std::chrono::milliseconds timeout,
                                core::Duration budget, const obs::Logger& log);

}  // namespace sluice::runtime
