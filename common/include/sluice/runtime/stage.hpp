#pragma once
// The stage contract (docs/architecture.md, "Stage contract"): a stage is pure, records in,
// outcomes out.
// Per-record outcomes are VALUES (stages::Outcome, shared by every stage): emit one or more
// output records, drop with the rule and a reason (accounted for, not forwarded: the runtime
// dead-letters it under `drop`), or reject with the rule and the reason (the runtime routes
// the original bytes and headers to <p>.dlq). Exceptions are only
// for infrastructure failures (core::InfraError) and configuration (core::ConfigError).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sluice/stages/outcome.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::runtime {

using Bytes = std::string;

// One record header; Kafka allows repeated names, so this is a list, not a map.
struct Header {
  std::string name;
  std::string value;
  bool operator==(const Header&) const = default;
};
using Headers = std::vector<Header>;

// Where a record came from, carried into DLQ headers and logs.
struct Origin {
  enum class Kind { kNone, kKafka, kFile, kHttp, kPostgres };
  Kind kind = Kind::kNone;
  std::string topic;       // kKafka
  int32_t partition = -1;  // kKafka
  int64_t offset = -1;     // kKafka
  std::string file;        // kFile: path; kHttp: URL; kPostgres: source name
  int64_t line = 0;        // kFile: 1-based line where the record starts

  static Origin Kafka(std::string topic, int32_t partition, int64_t offset) {
    Origin o;
    o.kind = Kind::kKafka;
    o.topic = std::move(topic);
    o.partition = partition;
    o.offset = offset;
    return o;
  }
  static Origin File(std::string file, int64_t line) {
    Origin o;
    o.kind = Kind::kFile;
    o.file = std::move(file);
    o.line = line;
    return o;
  }
  // "loans.raw/3@1042", "data/loans.csv:17", or "" for kNone.
  std::string ToString() const;
};

using SourceTime = std::chrono::system_clock::time_point;

// One record as stages see it. `value` is either the undecoded bytes (wire format as read)
// or a decoded row; `original` keeps the bytes as read so a reject can ship them to the DLQ
// untouched. Value type: copyable, movable, not shared between threads.
struct Record {
  std::string key;
  std::variant<Bytes, stages::Row> value;
  Headers headers;
  Origin origin;
  std::optional<SourceTime> source_time;  // from the sluice-source-ts header when present
  Bytes original;

  bool IsDecoded() const { return std::holds_alternative<stages::Row>(value); }
  const stages::Row& Row() const { return std::get<stages::Row>(value); }
  stages::Row& Row() { return std::get<stages::Row>(value); }
  const Bytes& RawBytes() const { return std::get<Bytes>(value); }
  // Last header with this name, or nullptr.
  const std::string* FindHeader(const std::string& name) const;
};

// What a transform stage made of one input record: the shared verdict (stages::Outcome) and,
// for an emit, the records to write. Built from an Outcome for anything but an emit, and by
// EmitOne for the common emit. A transform stage never skips: every record it takes in is
// emitted or dead-lettered (rows in = rows loaded + DLQ).
struct StageResult {
  StageResult(stages::Outcome o) : outcome(std::move(o)) {}  // NOLINT: implicit by design
  stages::Outcome outcome;
  std::vector<Record> records;  // emit: one or more
};

inline StageResult EmitOne(Record r) {
  StageResult result(stages::Outcome::Emit());
  result.records.push_back(std::move(r));
  return result;
}

// Header names used on every topic (docs/architecture.md, "Errors"; "Operations").
inline constexpr const char* kHeaderSourceTs = "sluice-source-ts";     // ms since epoch
inline constexpr const char* kHeaderOrigin = "sluice-origin";          // Origin::ToString()
inline constexpr const char* kHeaderStage = "sluice-dlq-stage";        // DLQ: stage that rejected
inline constexpr const char* kHeaderRule = "sluice-dlq-rule";          // DLQ: rule name
inline constexpr const char* kHeaderReason = "sluice-dlq-reason";      // DLQ: reason text

// The value of a kHeaderSourceTs header as ms since the epoch; nullopt unless it is exactly an
// integer.
std::optional<std::int64_t> ParseSourceTsMs(std::string_view value);

// A stage that turns one input record into a StageResult (cleaner, enricher). Called from one
// thread (the runtime's loop); it may keep state (dedupe windows, running statistics).
class TransformStage {
 public:
  virtual ~TransformStage() = default;
  virtual StageResult Process(Record record) = 0;
  // Running state across restarts: when WantsWarm(), the transform loop replays the
  // committed records of the stage's output topic (decoded, in order per partition) through
  // Warm before processing, at start and after an aborted transaction, so that dedupe windows
  // and statistics are those of the records actually emitted. Default: stateless.
  virtual bool WantsWarm() const { return false; }
  virtual void Warm(const Record& emitted) { (void)emitted; }
};

}  // namespace sluice::runtime
