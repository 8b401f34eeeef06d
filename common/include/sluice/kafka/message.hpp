#pragma once
// Owned Kafka records and partition/offset value types.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::kafka {

// Bytes are carried in std::string: binary-safe, cheap to move, and what Avro/JSON code
// already passes around. Nothing here assumes text.
using Bytes = std::string;

// One record header. Kafka allows a null value and repeated names; order is significant.
struct Header {
  std::string name;
  std::optional<Bytes> value;
  bool operator==(const Header&) const = default;
};
using Headers = std::vector<Header>;

// The last header called `name` (Kafka's convention for "the" value of a header), or nullptr.
const Header* FindLastHeader(const Headers& headers, std::string_view name);

enum class TimestampType { kNotAvailable, kCreateTime, kLogAppendTime };

struct Timestamp {
  std::int64_t ms = 0;  // milliseconds since the Unix epoch
  TimestampType type = TimestampType::kNotAvailable;
  bool operator==(const Timestamp&) const = default;
};

// Special offsets understood by Seek, assignment start offsets and Commit.
inline constexpr std::int64_t kOffsetBeginning = -2;  // RD_KAFKA_OFFSET_BEGINNING
inline constexpr std::int64_t kOffsetEnd = -1;        // RD_KAFKA_OFFSET_END
inline constexpr std::int64_t kOffsetStored = -1000;  // RD_KAFKA_OFFSET_STORED: committed offset
inline constexpr std::int64_t kOffsetInvalid = -1001; // RD_KAFKA_OFFSET_INVALID: none/unknown
inline constexpr std::int32_t kPartitionAny = -1;     // RD_KAFKA_PARTITION_UA: partitioner picks

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  bool operator==(const TopicPartition&) const = default;
  auto operator<=>(const TopicPartition&) const = default;
};

// A partition with an offset: a start position, a position, or an offset to commit (which,
// as everywhere in Kafka, is the offset of the NEXT record to read).
struct TopicPartitionOffset {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = kOffsetInvalid;
  bool operator==(const TopicPartitionOffset&) const = default;
};

// An owned record, produced or consumed. Copies freely; owns no librdkafka memory.
// For Produce: topic, key, value, headers and timestamp are used; partition may be
// kPartitionAny (the partitioner hashes the key); timestamp.ms == 0 lets librdkafka stamp it.
struct Message {
  std::string topic;
  std::int32_t partition = kPartitionAny;
  std::int64_t offset = kOffsetInvalid;
  std::optional<Bytes> key;
  std::optional<Bytes> value;
  Headers headers;
  Timestamp timestamp;

  // The offset to commit after this record has been handled.
  TopicPartitionOffset NextOffset() const { return {topic, partition, offset + 1}; }
};

// The offsets to commit after handling `messages`: per partition, the highest offset + 1.
// Sorted by topic and partition.
std::vector<TopicPartitionOffset> NextOffsets(const std::vector<Message>& messages);

}  // namespace sluice::kafka
