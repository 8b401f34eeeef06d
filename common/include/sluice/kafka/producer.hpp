#pragma once
// RAII Kafka producer: idempotent by default, transactional when "transactional.id" is set.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/kafka/config.hpp"
#include "sluice/kafka/error.hpp"
#include "sluice/kafka/message.hpp"

namespace sluice::kafka {

class GroupMetadata;

// The outcome of one produced record, reported from Poll/Flush/CommitTransaction.
struct DeliveryReport {
  std::string topic;
  std::int32_t partition = kPartitionAny;
  std::int64_t offset = kOffsetInvalid;
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string error_message;  // empty on success
  bool Ok() const { return error == RD_KAFKA_RESP_ERR_NO_ERROR; }
};

struct DeliveryStats {
  std::uint64_t delivered = 0;
  std::uint64_t failed = 0;
};

// Owns one rd_kafka_t producer handle.
// Lifecycle: construct (validates config; throws ConfigError) → [InitTransactions] →
// Produce/transactions → Flush → destroy (the destructor flushes briefly, then destroys; call
// Flush yourself to learn whether everything was delivered; an open transaction is left to
// the coordinator to abort).
// Delivery reports are served by Produce (non-blocking poll), Poll, Flush and
// CommitTransaction on the calling thread; failures are collected (TakeDeliveryFailures),
// never thrown from the callback. A fatal error (e.g. fenced transactional id) makes every
// later call throw KafkaError{kFatal}: the daemon must exit.
// Threading: Produce/Poll/Flush may be called from several threads (librdkafka is
// thread-safe); the transaction calls must come from one thread at a time.
class Producer {
 public:
  // Called for every delivery report, on the thread that polls. Must not throw (exceptions are
  // caught and logged).
  using DeliveryCallback = std::function<void(const DeliveryReport&)>;

  explicit Producer(const Config& config, DeliveryCallback on_delivery = {});
  ~Producer();
  Producer(Producer&&) noexcept;
  Producer& operator=(Producer&&) noexcept;
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  bool Transactional() const;

  // Enqueues the record. When librdkafka's queue is full, serves delivery reports and retries
  // until `max_block` passes (then throws a retriable KafkaError). Partition kPartitionAny uses
  // the partitioner; timestamp.ms 0 means "now" (CreateTime).
  void Produce(const Message& message,
               std::chrono::milliseconds max_block = std::chrono::seconds(30));

  // Serves delivery reports; returns how many were served.
  int Poll(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  // Waits until every queued record is delivered or failed. Throws retriable KafkaError on
  // timeout. Delivery failures are not thrown: check TakeDeliveryFailures().
  void Flush(std::chrono::milliseconds timeout);
  // librdkafka's rd_kafka_outq_len: records awaiting a delivery report plus requests and
  // callbacks not yet served. Zero means nothing is pending.
  int OutQueueLength() const;
  // One metadata round trip to any broker: false when none answers within `timeout` (for
  // readiness of an idle producer).
  bool BrokerReachable(std::chrono::milliseconds timeout);

  // Transactions (only when "transactional.id" is set). Each throws KafkaError whose Kind()
  // says what to do: kRetriable → call again; kAbortable → AbortTransaction and redo the
  // work; kFatal → exit. Follows librdkafka's examples/transactions.c flow.
  void InitTransactions(std::chrono::milliseconds timeout);
  void BeginTransaction();
  // Adds the consumer's offsets (next offsets to read) to the current transaction so they
  // commit or abort together with the produced records.
  void SendOffsetsToTransaction(const std::vector<TopicPartitionOffset>& offsets,
                                const GroupMetadata& group, std::chrono::milliseconds timeout);
  void CommitTransaction(std::chrono::milliseconds timeout);
  void AbortTransaction(std::chrono::milliseconds timeout);
  // AbortTransaction for a caller that is already handling a failure: the abort's own error is
  // returned instead of thrown (nullopt: aborted), so the caller decides what it means. A
  // fatal one (IsFatal) leaves the producer unusable; the caller still handling its original
  // error may just log it.
  [[nodiscard]] std::optional<KafkaError> AbortTransactionBestEffort(
      std::chrono::milliseconds timeout);

  // Delivery failures since the last call (oldest first; capped, see README).
  std::vector<DeliveryReport> TakeDeliveryFailures();
  DeliveryStats Stats() const;

  // The raw handle, for the rare call this wrapper does not cover. Owned by this object.
  rd_kafka_t* Handle() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::kafka
