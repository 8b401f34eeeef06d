#pragma once
// Reading a topic (or a range of it) to its end: replaying state, restoring positions,
// loading a compacted log.
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "sluice/kafka/config.hpp"
#include "sluice/kafka/error.hpp"
#include "sluice/kafka/message.hpp"

namespace sluice::kafka {

// A range end meaning "no end": the reader follows the partition as it grows.
inline constexpr std::int64_t kNoEnd = std::numeric_limits<std::int64_t>::max();

// One partition to read, from `start` up to (not including) `end`.
//  start: an offset, kOffsetBeginning or kOffsetEnd.
//  end:   an offset, kOffsetEnd (the partition's end when the reader is constructed) or
//         kNoEnd (follow: never at its end).
struct PartitionRange {
  TopicPartition partition;
  std::int64_t start = kOffsetBeginning;
  std::int64_t end = kOffsetEnd;
};

// Thrown by TopicReader::ReadToEnd when the deadline passes before every partition reached its
// end. Retriable: a new reader may get there (the broker was slow, or a transaction was open).
class ReadDeadlineError : public KafkaError {
 public:
  using KafkaError::KafkaError;
};

struct TopicReaderOptions {
  // Bound of each broker request made at construction (metadata; watermarks, whose retriable
  // errors, such as a partition leader not elected yet, are retried within it).
  std::chrono::milliseconds timeout{10'000};
  // Consumer errors other than fatal ones (broker down, unknown partition, ...). Unset: Read
  // throws them as KafkaError (after handing out every record before them, so calling Read
  // again continues where it stopped). Set: they are passed here and reading goes on
  // (librdkafka retries by itself); the handler may throw to stop. Fatal errors always throw.
  std::function<void(const KafkaError&)> on_error;
};

// Reads partitions from given offsets to their end with a consumer of its own: assigned (no
// group join, no rebalances), committing nothing, read_committed unless the config says
// otherwise, and hands out every record (key, value, headers, partition, offset, timestamp)
// through a callback.
//
// End of a partition. Each range ends at an offset fixed when the reader is constructed:
// kOffsetEnd is resolved then, by asking the partition leader for its end at the reader's
// isolation level: the last stable offset under read_committed (records of transactions still
// open are not "in" the topic yet), the high watermark under read_uncommitted. Records written
// after that are not read, so the read ends even while producers keep writing. A partition is
// at its end when a record at end - 1 (or beyond) has arrived, or when librdkafka reports end
// of partition (enable.partition.eof, always set by the reader) at an offset >= end. The
// second matters for transactional topics: the last offsets before the end are often a commit
// or abort marker, or aborted records, which read_committed never delivers; the fetcher skips
// them and reports end of partition at the stable offset past them. An empty range (end <=
// start, or a partition whose low watermark is its end) is at its end at once and is not
// fetched. Records at offsets >= end that the fetcher brings anyway are dropped, and a
// partition at its end is paused. A transaction left open below a range end keeps the read
// waiting (read_committed cannot pass it) until it is committed, aborted, or the deadline.
//
// Lifecycle: construct (creates the consumer, resolves ends, assigns) → Read / ReadToEnd →
// Close (or destroy). Move-only; one owner of the consumer handle.
// Threading: one thread reads (Read, ReadToEnd, AtEnd, Positions, Ends); QueryEnd may be called
// from any thread at any time. The callback runs on the reading thread, inside Read.
class TopicReader {
 public:
  using RecordCallback = std::function<void(const Message&)>;

  // Every partition of `topic`, from the beginning to its end when reading starts.
  TopicReader(const Config& config, const std::string& topic, TopicReaderOptions options = {});
  // The given ranges (each partition at most once).
  TopicReader(const Config& config, std::vector<PartitionRange> ranges,
              TopicReaderOptions options = {});
  ~TopicReader();
  TopicReader(TopicReader&&) noexcept;
  TopicReader& operator=(TopicReader&&) noexcept;
  TopicReader(const TopicReader&) = delete;
  TopicReader& operator=(const TopicReader&) = delete;

  // Hands up to `max` records to `on_record`, in offset order per partition. Waits up to
  // `timeout` for the first record or event, then takes only what has already arrived.
  // Returns the number of records handed out; 0 at once when AtEnd(). An exception from
  // `on_record` propagates (that record counts as read). Fatal consumer errors throw
  // KafkaError{kFatal}; other consumer errors see TopicReaderOptions::on_error.
  std::size_t Read(const RecordCallback& on_record, std::size_t max,
                   std::chrono::milliseconds timeout);
  // Reads until AtEnd(): true. Returns false as soon as `stop` (checked at least every 200 ms)
  // says so; throws ReadDeadlineError, naming the partitions not at their end, when `deadline`
  // passes first. May be called again after either to go on reading.
  bool ReadToEnd(const RecordCallback& on_record, std::chrono::steady_clock::time_point deadline,
                 const std::function<bool()>& stop = {});

  // Every partition has reached its range end (never with a kNoEnd range).
  bool AtEnd() const;
  // Per partition, the next offset to read: past the last record handed out or skipped, or
  // the end-of-partition offset last reported, whichever is higher; kOffsetInvalid before
  // either (with a kOffsetBeginning start that was not resolved). Ranges' order.
  std::vector<TopicPartitionOffset> Positions() const;
  // Per partition, the resolved range end (kNoEnd for followed partitions). Ranges' order.
  std::vector<TopicPartitionOffset> Ends() const;
  // The partition's end as the broker says now, at the reader's isolation level (last stable
  // offset under read_committed, high watermark under read_uncommitted). Thread-safe.
  std::int64_t QueryEnd(const TopicPartition& partition, std::chrono::milliseconds timeout) const;

  // Stops fetching and closes the consumer. Idempotent; the destructor calls it.
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::kafka
