#pragma once
// The `_schemas` log: the record vocabulary (keys and values as bytes) and the transport the
// registry reads and appends through. The Kafka transport lives in kafka_schemas_log.hpp; the
// in-memory one here lets unit tests drive several writers against one log without a broker.
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::schema_registry {

// kIdFloor is Sluice's own: written with each permanent delete, it keeps the highest id
// ever assigned alive in the compacted log, so ids of hard-deleted schemas are never reused
// for different schemas (consumers may still hold data written with them).
enum class KeyType { kSchema, kConfig, kMode, kDeleteSubject, kIdFloor, kNoop, kUnknown };

// A parsed `_schemas` key. seq/node are Sluice's optimistic-write stamp: the offset the writer
// expected its record to land at, and the writer's random node id. Keys written by Confluent
// carry neither and are applied unconditionally.
struct LogKey {
  KeyType type = KeyType::kUnknown;
  std::optional<std::string> subject;  // nullopt: global (config/mode)
  int version = 0;                     // SCHEMA only
  std::optional<std::int64_t> seq;
  std::optional<std::int64_t> node;
};

// The one canonical byte form of a key: compact JSON, fixed member order
// keytype, subject, version (SCHEMA only), magic, seq, node.
std::string SerializeKey(const LogKey& key);
// Parses any member order; nullopt when the bytes are not a JSON object with a keytype.
std::optional<LogKey> ParseKey(const std::string& bytes);

struct SchemaReference {
  std::string name;
  std::string subject;
  int version = 0;
  bool operator==(const SchemaReference&) const = default;
};

// The value of a SCHEMA record (Confluent's member names).
struct SchemaValue {
  std::string subject;
  int version = 0;
  int id = 0;
  std::string schema_type = "AVRO";
  std::vector<SchemaReference> references;
  std::string schema;
  bool deleted = false;
};

std::string SerializeSchemaValue(const SchemaValue& value);
// Throws nlohmann::json::exception on malformed values (callers skip such records).
SchemaValue ParseSchemaValue(const std::string& bytes);
nlohmann::json ReferencesToJson(const std::vector<SchemaReference>& refs);

// One record as read from or appended to the log. A null value is a tombstone.
struct LogRecord {
  std::int64_t offset = -1;
  std::string key;
  std::optional<std::string> value;
};

// Where records go and come from. One reader position per transport (the registry reads the
// log from the beginning, in order). Implementations throw core::InfraError on broker trouble.
// Threading: Read is called by one thread at a time (the store serialises readers); Append and
// EndOffset may be called concurrently with Read.
class SchemasLog {
 public:
  virtual ~SchemasLog() = default;
  // The offset the next appended record will get, as the broker says now (high watermark).
  virtual std::int64_t EndOffset() = 0;
  // Records after the reader's position, waiting up to timeout_ms for the first one.
  virtual std::vector<LogRecord> Read(int timeout_ms) = 0;
  // The reader's next offset (records below it were returned or compacted away).
  virtual std::int64_t Position() = 0;
  // Appends one record and waits for it to be durable; returns its offset.
  virtual std::int64_t Append(const std::string& key, const std::optional<std::string>& value) = 0;
};

// An in-memory log shared by several MemoryLogReader views (one per simulated instance).
// Thread-safe. Compact() removes what Kafka compaction would, to test that state rebuilt from
// a compacted log equals the state from the full log.
class MemoryLogStore {
 public:
  std::int64_t End() const;
  std::int64_t Append(const std::string& key, const std::optional<std::string>& value);
  std::vector<LogRecord> From(std::int64_t offset, std::size_t max) const;
  // Keeps only the newest record per key and drops tombstones whose key has no older record.
  void Compact(bool drop_tombstones);
  std::vector<LogRecord> All() const;

 private:
  mutable std::mutex mu_;
  std::vector<LogRecord> records_;  // ascending offsets, gaps after compaction
  std::int64_t next_ = 0;
};

// One instance's view of a MemoryLogStore: its own reader position.
class MemoryLog : public SchemasLog {
 public:
  explicit MemoryLog(MemoryLogStore& store) : store_(store) {}
  std::int64_t EndOffset() override { return store_.End(); }
  std::vector<LogRecord> Read(int timeout_ms) override;
  std::int64_t Position() override;
  std::int64_t Append(const std::string& key, const std::optional<std::string>& value) override {
    return store_.Append(key, value);
  }

 private:
  MemoryLogStore& store_;
  std::mutex mu_;
  std::int64_t position_ = 0;
};

}  // namespace sluice::schema_registry
