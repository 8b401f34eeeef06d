#pragma once
// RAII Kafka group consumer with manual offset storage and rebalance listeners.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <string_view>

#include "sluice/kafka/config.hpp"
#include "sluice/kafka/detail/rdkafka_glue.hpp"
#include "sluice/kafka/error.hpp"
#include "sluice/kafka/message.hpp"

namespace sluice::kafka {

// A consumer's group metadata (group id, generation, member id) for
// Producer::SendOffsetsToTransaction. Owns an rd_kafka_consumer_group_metadata_t; move-only.
// Take a fresh one per transaction: the generation changes on rebalance (KIP-447 fencing).
class GroupMetadata {
 public:
  explicit GroupMetadata(rd_kafka_consumer_group_metadata_t* raw) : raw_(raw) {}
  ~GroupMetadata();
  GroupMetadata(GroupMetadata&& other) noexcept : raw_(other.raw_) { other.raw_ = nullptr; }
  GroupMetadata& operator=(GroupMetadata&& other) noexcept;
  GroupMetadata(const GroupMetadata&) = delete;
  GroupMetadata& operator=(const GroupMetadata&) = delete;
  const rd_kafka_consumer_group_metadata_t* Raw() const { return raw_; }

 private:
  rd_kafka_consumer_group_metadata_t* raw_;
};

// Told about partition assignment changes. Called on the thread inside Consumer::Poll /
// PollBatch / Close, never concurrently. An exception thrown here is caught, the partitions
// are NOT assigned (so nothing is read from a wrong position) and the exception is rethrown
// from the Poll call that triggered the rebalance: close the consumer after that. After a
// fatal error (e.g. fenced by another member with the same group.instance.id) Close calls no
// listener: the partitions belong to someone else.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Partitions about to be assigned. Each offset is kOffsetStored (resume from the group's
  // committed offset); set it to an explicit offset (e.g. one stored in PostgreSQL),
  // kOffsetBeginning or kOffsetEnd to start there instead.
  virtual void OnAssigned(std::vector<TopicPartitionOffset>& partitions) { (void)partitions; }
  // Partitions about to be taken away: finish/commit work for them now.
  virtual void OnRevoked(const std::vector<TopicPartition>& partitions) { (void)partitions; }
  // Partitions already owned by someone else (session timeout, fencing): do not commit for
  // them. Defaults to OnRevoked.
  virtual void OnLost(const std::vector<TopicPartition>& partitions) { OnRevoked(partitions); }
};

// A consumed record left in librdkafka's buffers: reading it copies nothing, ToMessage() makes
// the owning copy. Move-only; every ReceivedMessage must be destroyed before its Consumer
// (librdkafka waits for them when the handle is destroyed).
class ReceivedMessage {
 public:
  explicit ReceivedMessage(detail::MessagePtr m) : m_(std::move(m)) {}

  std::int32_t partition() const { return m_->partition; }
  std::int64_t offset() const { return m_->offset; }
  std::string_view topic() const;
  std::optional<std::string_view> key() const;
  std::optional<std::string_view> value() const;
  // The value of the last header called `name`; nullopt when there is none or its value is
  // null.
  std::optional<std::string_view> LastHeader(const char* name) const;
  Headers headers() const;      // copied
  Timestamp timestamp() const;  // ms 0 when not available
  Message ToMessage() const;

 private:
  detail::MessagePtr m_;
};

// Per assigned partition: low/high watermarks, our position, and the lag (high - position).
struct PartitionLag {
  TopicPartition partition;
  std::int64_t low = kOffsetInvalid;
  std::int64_t high = kOffsetInvalid;
  std::int64_t position = kOffsetInvalid;  // next offset to read; kOffsetInvalid if unknown
  std::int64_t lag = -1;                   // -1 when unknown
};

// How often a stage's readiness asks a broker for real (BrokerReachable), and how long it waits
// for the answer: one cadence for every stage.
inline constexpr std::chrono::seconds kBrokerProbeEvery{3};
inline constexpr std::chrono::milliseconds kBrokerProbeTimeout{1000};

// Owns one rd_kafka_t consumer handle joined to a consumer group ("group.id" required).
// Defaults (see DefaultsFor): no auto commit, no automatic offset store, read_committed,
// cooperative-sticky assignment; the eager strategies ("range", "roundrobin") work too.
// Lifecycle: construct → Subscribe (or Assign) → Poll / StoreOffset / Commit → Close →
// destroy. Close leaves the group (revoke callbacks run) and commits nothing by itself; the
// destructor calls Close if needed, then destroys the handle (close-then-destroy, as
// librdkafka requires).
// With group.instance.id set (static membership, KIP-345) Close does not leave the group: the
// member keeps its partitions until the same instance id rejoins or its session expires.
// Threading: one thread polls and drives the consumer; Lag/Committed/Watermarks may be
// called from another thread. The listener must outlive the consumer.
class Consumer {
 public:
  explicit Consumer(const Config& config);
  ~Consumer();
  Consumer(Consumer&&) noexcept;
  Consumer& operator=(Consumer&&) noexcept;
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  void Subscribe(const std::vector<std::string>& topics, RebalanceListener* listener = nullptr);
  void Unsubscribe();

  // Manual assignment instead of Subscribe: reads exactly these partitions from these offsets
  // (an offset, kOffsetBeginning, kOffsetEnd, or kOffsetStored for the group's committed
  // offset), with no group join and no rebalances. Replaces the whole current assignment. Not
  // for a subscribed consumer (its assignment belongs to the rebalance protocol).
  void Assign(const std::vector<TopicPartitionOffset>& partitions);
  // Drops the whole manual assignment: fetching stops, queued records are discarded.
  void Unassign();

  // One record, or nullopt when none arrived in time. Consumer-level errors that librdkafka
  // recovers from by itself (broker down, ...) are logged and give nullopt; fatal errors
  // throw KafkaError{kFatal}.
  std::optional<Message> Poll(std::chrono::milliseconds timeout);
  // Up to `max` records: returns as soon as `max` are read or `timeout` has passed.
  std::vector<Message> PollBatch(std::size_t max, std::chrono::milliseconds timeout);
  // The same without copying the records out of librdkafka's buffers.
  std::vector<ReceivedMessage> PollReceived(std::size_t max, std::chrono::milliseconds timeout);

  // Marks `message` as handled: its offset + 1 becomes the next committed offset.
  void StoreOffset(const Message& message);
  void StoreOffsets(const std::vector<TopicPartitionOffset>& offsets);
  // Commits `offsets`, or every stored offset when empty. Nothing stored is not an error.
  void Commit(const std::vector<TopicPartitionOffset>& offsets = {}, bool sync = true);
  // The group's committed offsets (kOffsetInvalid where none).
  std::vector<TopicPartitionOffset> Committed(const std::vector<TopicPartition>& partitions,
                                              std::chrono::milliseconds timeout);
  // Moves the fetch position of assigned partitions.
  void Seek(const std::vector<TopicPartitionOffset>& offsets, std::chrono::milliseconds timeout);
  // Seeks every assigned partition back to the group's committed offset (where none is
  // committed: the start chosen by auto.offset.reset). Used after an aborted transaction so
  // the batch is read and processed again (librdkafka's examples/transactions.c).
  void RewindToCommitted(std::chrono::milliseconds timeout);
  // Per partition, the earliest offset whose timestamp is >= the given one (`offset` of each
  // entry holds a time in ms since the epoch); kOffsetEnd where no record is that recent.
  // Needs no assignment (rd_kafka_offsets_for_times).
  std::vector<TopicPartitionOffset> OffsetsForTimes(const std::vector<TopicPartitionOffset>& times,
                                                    std::chrono::milliseconds timeout);
  // Next offset to read per partition (kOffsetInvalid before the first fetch).
  std::vector<TopicPartitionOffset> Position(const std::vector<TopicPartition>& partitions);
  std::vector<TopicPartition> Assignment();
  void Pause(const std::vector<TopicPartition>& partitions);
  void Resume(const std::vector<TopicPartition>& partitions);

  GroupMetadata ConsumerGroupMetadata();
  // "COOPERATIVE", "EAGER" or "NONE" (not joined yet).
  std::string RebalanceProtocol();

  // Low/high watermark from the broker.
  std::pair<std::int64_t, std::int64_t> Watermarks(const TopicPartition& partition,
                                                   std::chrono::milliseconds timeout);
  // Lag of every assigned partition, for the sluice_consumer_lag metric. Uses the watermarks
  // cached from fetches, asking the broker only where none is cached.
  std::vector<PartitionLag> Lag(std::chrono::milliseconds timeout);
  // One metadata round trip to any broker: false when none answers within `timeout`. For
  // readiness, since Lag's cached watermarks do not notice a broker that went away. Stages ask
  // every kBrokerProbeEvery, waiting kBrokerProbeTimeout.
  bool BrokerReachable(std::chrono::milliseconds timeout);

  // Leaves the group. Idempotent.
  void Close();

  rd_kafka_t* Handle() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::kafka
