#pragma once
// The source loop: hosts source plug-ins and writes what they read to the output topic exactly
// once (docs/architecture.md, "Delivery guarantees"). A plug-in reads items from outside Kafka
// (files, an HTTP API, a table) and says where it is with an opaque position; the loop writes,
// in ONE Kafka transaction, a batch of items (rows to the output topic, rejected items to the
// DLQ) and the plug-in's position after them (to the compacted positions topic, keyed
// "<source name>/<position key>"). After a crash, a restart reads the committed positions
// back and hands each plug-in its own: it resumes exactly where the last commit ended, so
// every item is written once.
//
// Per batch: begin; the plug-in's Poll fills the batch; each row is encoded with the output
// schema (unencodable or larger than max_record_bytes: the DLQ); positions produced; commit.
// An infrastructure failure aborts the batch (or rebuilds the producer when the abort itself
// fails), hands the plug-ins the committed positions again and retries with backoff for as
// long as the outage lasts. A fenced producer exits only when nothing went wrong before it
// (TroubleMemory: a live twin with our transactional.id).
//
// Plug-ins are called on the loop's thread only.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sluice/avro/schema.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/shutdown.hpp"
#include "sluice/http/server.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/obs/metrics.hpp"
#include "sluice/runtime/kafka_session.hpp"
#include "sluice/runtime/retry.hpp"
#include "sluice/runtime/serde.hpp"
#include "sluice/runtime/stage.hpp"

namespace sluice::runtime {

// One item a source read: a row for the output topic (outcome emit), or an item for the DLQ
// (outcome reject or drop).
struct SourceItem {
  // Provenance: origin, source time and headers go with the row or the DLQ record. For a row,
  // value holds the decoded row (the output schema's fields) and key the record key. original
  // holds the item's bytes as read: the DLQ record's value, for a row too (one the loop cannot
  // encode, or too large).
  Record record;
  stages::Outcome outcome;  // emit, or dead-lettered with its DlqRule() and DlqReason()
  bool counted = true;      // counted in "rows in" (false for a file's header line)
  // An emit written as a Kafka tombstone: record.key with no value (a postgres_cdc delete with
  // deletes: tombstone). record.value is not encoded.
  bool tombstone = false;
};

// What one Poll read. Positions are written in the same transaction as the items; the loop
// prefixes each key with the source's name.
struct SourceBatch {
  std::vector<SourceItem> items;
  std::map<std::string, std::string> positions;  // position key -> opaque position bytes
  void Clear() {
    items.clear();
    positions.clear();
  }
};

enum class PollStatus {
  kBatch,     // the batch holds something to commit (items, positions or both)
  kIdle,      // nothing now: the loop waits for the poll interval and asks again
  kFinished,  // nothing now or later (a one-shot source read to its end)
};

// A source plug-in. Implementations: producer::CsvFileSource (files, a watched directory).
class Source {
 public:
  virtual ~Source() = default;
  // The name in the pipeline file: the positions' key prefix, the sluice-source header.
  virtual const std::string& Name() const = 0;
  // Called before the first Poll and after every aborted batch, with this source's committed
  // positions (key without the name prefix -> bytes): whatever was read since is forgotten.
  virtual void Restore(const std::map<std::string, std::string>& committed) = 0;
  // Reads up to `max` items into `batch` (empty on entry). Throws core::InfraError for an
  // outage (retried), core::ConfigError to stop the daemon.
  virtual PollStatus Poll(SourceBatch& batch, std::size_t max) = 0;
  // Poll may be called several times before Committed: one transaction takes chunks until it
  // holds batch_size items, has been open for a while, or a Poll returns less than it asked
  // for. Committed then covers every Poll since the last Committed or Restore (the positions
  // of the last one are the committed ones).
  virtual void Committed() {}
  // How long to wait after kIdle.
  virtual core::Duration PollInterval() const { return core::Duration(1000); }
};

struct SourceLoopOptions {
  std::string stage_name = "producer";  // DLQ stage header, logs, readiness check
  std::string output_topic, dlq_topic, positions_topic;
  avro::Schema output_schema;  // registered as "<output_topic>-value"
  std::string transactional_id;
  std::map<std::string, std::string> librdkafka;  // bootstrap.servers included
  std::size_t batch_size = 10000;                 // items per transaction, at most
  std::size_t max_record_bytes = 921'600;         // a larger encoded row is too_large
  int partitions = 1;
  int replication = 1;
  std::map<std::string, std::string> topic_configs;
  core::Duration kafka_timeout{30'000};
  RetryPolicy retry;
};

struct SourceLoopStats {
  std::uint64_t transactions = 0;
  std::uint64_t records_in = 0;   // items counted as rows in
  std::uint64_t records_out = 0;  // rows committed to the output topic
  std::uint64_t records_dlq = 0;  // items committed to the DLQ
  std::uint64_t rebuilds = 0;     // producers rebuilt after an outage
  std::uint64_t aborts = 0;
};

// Reads the positions topic to its end (read_committed): key -> last value, tombstones and
// malformed keys removed. Throws core::InfraError(kYes) when the end is not reached in time.
std::map<std::string, std::string> ReadPositionsTopic(const std::map<std::string, std::string>& librdkafka,
                                                      const std::string& topic,
                                                      std::chrono::milliseconds timeout,
                                                      const obs::Logger& log);

class SourceLoop {
 public:
  SourceLoop(SourceLoopOptions options, std::vector<std::unique_ptr<Source>> sources,
             SchemaSource& schemas, core::ShutdownToken shutdown, obs::Logger log,
             obs::StandardMetrics* metrics = nullptr, http::Server* http = nullptr);
  ~SourceLoop();
  SourceLoop(const SourceLoop&) = delete;
  SourceLoop& operator=(const SourceLoop&) = delete;

  // Start-up, then batches until shutdown or until every source is finished. Throws
  // core::InfraError(kNo), core::ConfigError, core::FencedError.
  void Run();
  SourceLoopStats Stats() const;  // thread-safe

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::runtime
