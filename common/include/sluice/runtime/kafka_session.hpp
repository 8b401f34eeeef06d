#pragma once
// What every stage that writes Kafka transactions shares (docs/architecture.md, "Delivery
// guarantees"): the start-up sequence (topics created when missing, the output schema
// registered, the DLQ's size limit asked of the broker), the transactional producer (built with
// batches that fit the DLQ, InitTransactions with fatal errors mapped, rebuilt after an outage),
// the abort that says when it failed, the commit with retries, dead-lettering with the stage's
// name and metrics, and the memory of trouble that tells an outage from a live twin.
//
// The loops (SourceLoop, TransformLoop) own one session each and keep their own shapes: what
// they read, and when a batch begins and ends. Single-threaded: the loop's thread only.
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/avro/schema.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/shutdown.hpp"
#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/config.hpp"
#include "sluice/kafka/error.hpp"
#include "sluice/kafka/producer.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/obs/metrics.hpp"
#include "sluice/runtime/retry.hpp"
#include "sluice/runtime/serde.hpp"
#include "sluice/runtime/stage.hpp"

namespace sluice::runtime {

struct KafkaSessionOptions {
  std::string stage_name;  // the DLQ's stage header, logs
  std::string output_topic, dlq_topic;
  avro::Schema output_schema;            // registered as "<output_topic>-value"
  std::vector<kafka::TopicSpec> topics;  // created at start when missing (empty: none)
  std::string transactional_id;
  std::map<std::string, std::string> librdkafka;  // bootstrap.servers included
  core::Duration kafka_timeout{30'000};
  RetryPolicy retry;
};

class KafkaSession {
 public:
  KafkaSession(KafkaSessionOptions options, RowSerde& serde, core::ShutdownToken shutdown,
               obs::Logger log, obs::StandardMetrics* metrics);

  // Start-up, each step retried within the retry budget: topics, output schema, DLQ limit.
  // Throws core::InfraError(kNo) past the budget or on shutdown; core::ConfigError.
  void Prepare();

  // A new transactional producer, initialised. `until_shutdown` false: InitTransactions is
  // retried within the budget (start-up: a broker that never answers is an error); true: as
  // long as the broker takes to come back (healing). Returns false when shutdown was requested.
  bool BuildProducer(bool until_shutdown);
  // The producer built last. Precondition: BuildProducer returned true.
  kafka::Producer& Producer() { return *producer_; }
  bool HasProducer() const { return producer_ != nullptr; }
  void DropProducer() { producer_.reset(); }

  // Aborts the open transaction. Returns the error when the abort itself failed (timed out
  // while the broker is away, or the producer is unusable): the producer must then be rebuilt,
  // whose InitTransactions aborts the transaction on the coordinator.
  std::optional<kafka::KafkaError> Abort();
  // Commits the open transaction, retrying a retriable commit error within the budget.
  void Commit();

  // One dead-letter record in the open transaction: `record`'s original bytes, key, headers
  // and origin, with this stage's name and the outcome's DLQ rule and reason (cut to fit the
  // DLQ). Precondition: outcome.IsDeadLettered().
  void DeadLetter(const Record& record, const stages::Outcome& outcome);

  kafka::Config ClientConfig() const { return kafka::Config(options_.librdkafka); }
  std::chrono::milliseconds KafkaTimeout() const;
  const KafkaSessionOptions& Options() const { return options_; }
  std::size_t DlqLimit() const { return dlq_limit_; }
  TroubleMemory& Trouble() { return trouble_; }
  const obs::Logger& Log() const { return log_; }

 private:
  KafkaSessionOptions options_;
  RowSerde& serde_;
  core::ShutdownToken shutdown_;
  obs::Logger log_;
  obs::StandardMetrics* metrics_;
  std::unique_ptr<kafka::Producer> producer_;
  std::size_t dlq_limit_;
  TroubleMemory trouble_;
};

}  // namespace sluice::runtime
