#include "sluice/runtime/retry.hpp"

#include "sluice/kafka/error.hpp"
#include "sluice/kafka/producer.hpp"

namespace sluice::runtime {

RetryPolicy RetryPolicy::FromConfig(const config::View& retry_section) {
  RetryPolicy p;
  p.initial_backoff = retry_section.Duration("initial_backoff");
  p.max_backoff = retry_section.Duration("max_backoff");
  p.budget = retry_section.Duration("budget");
  if (p.initial_backoff.count() <= 0) p.initial_backoff = core::Duration(1);
  return p;
}

bool TroubleMemory::FencedByTwin(const kafka::KafkaError& e) {
  if (!e.IsFenced()) return false;
  using Clock = std::chrono::steady_clock;
  const auto now = Clock::now();
  const bool again = last_fence_ != Clock::time_point{} && now - last_fence_ <= kMemory;
  const bool trouble_since = last_ != Clock::time_point{} && last_ > last_fence_;
  if (again && !trouble_since) return true;
  last_fence_ = now;
  return false;
}

void InitTransactions(kafka::Producer& producer, std::chrono::milliseconds timeout) {
  try {
    producer.InitTransactions(timeout);
  } catch (const kafka::KafkaError& e) {
    if (e.IsFatal()) throw core::InfraError(e.what(), core::Retry::kNo);
    throw;
  }
}

void CommitTransactionWithRetry(kafka::Producer& producer, std::chrono::milliseconds timeout,
                                core::Duration budget, const obs::Logger& log) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (;;) {
    try {
      producer.CommitTransaction(timeout);
      return;
    } catch (const kafka::KafkaError& e) {
      if (!e.IsRetriable() || std::chrono::steady_clock::now() > deadline) throw;
      log.Warn("commit transaction: retrying", {{"error", e.what()}});
    }
  }
}

}  // namespace sluice::runtime
