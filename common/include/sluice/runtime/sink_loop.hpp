#pragma once
// The sink loop: hosts a batch writer and writes a Kafka topic into a target outside Kafka
// exactly once (docs/architecture.md, "Delivery guarantees"). The consumed offsets are stored
// in the target, in the SAME target transaction as the rows; the target is the source of truth
// for where to resume, and the offsets committed to Kafka serve lag monitoring only.
//
// The loop does the Kafka side, the same for every target:
//   - topics created when missing, the DLQ's size limit asked of the broker;
//   - a read_committed consumer in the sink's group (static membership when an instance id is
//     set); on assignment each partition starts at the offset the target stored, or at its
//     first offset when the target has none;
//   - batches of up to batch_size records, written when full, after `linger`, or as soon as a
//     poll comes back empty (the topic is drained for now);
//   - one batch in flight on a writing thread while the next one is judged;
//   - the DLQ: records the writer judged unfit, and rows the target refused inside its
//     transaction, are produced and acknowledged before that transaction commits, so the
//     stored offsets never pass an undelivered DLQ record (a crash in between re-sends it,
//     once, keyed by origin);
//   - rebalances: a revoked partition's open batch is written first; a lost one's is dropped;
//   - outages: a consumer left unusable is rebuilt in-process; a fenced consumer ends the loop
//     only when nothing went wrong before (TroubleMemory: a live twin);
//   - lag, a broker probe for /readyz, end-to-end latency.
//
// The writer (the plug-in) does the target side: judging a record (a row or the DLQ), holding
// the rows of a batch, loading stored offsets, and the one transaction that writes rows and
// offsets. Implementations: pg_sink::PgWriter (a PostgreSQL table).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/duration.hpp"
#include "sluice/core/shutdown.hpp"
#include "sluice/kafka/message.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/obs/metrics.hpp"
#include "sluice/runtime/retry.hpp"
#include "sluice/stages/outcome.hpp"

namespace sluice::runtime {

// The rows of one batch, in the writer's own form. Filled and trimmed on the consuming thread,
// written on the writing thread (never both at once).
class SinkRows {
 public:
  virtual ~SinkRows() = default;
  virtual void Clear() = 0;
  // Keeps only the rows at these indexes (ascending): a lost partition's rows are dropped.
  virtual void Keep(const std::vector<std::size_t>& rows) = 0;
};

// A row the target refused inside its transaction: the DLQ gets the consumed record.
struct SinkRejection {
  std::size_t row = 0;      // index in the batch's rows
  stages::Outcome outcome;  // a reject (e.g. DlqCode::kPgRejected)
  kafka::Headers headers;   // extra DLQ headers (e.g. the SQLSTATE)
};

struct SinkOffset {
  std::int32_t partition = 0;
  std::int64_t next_offset = 0;
};

// Delivers DLQ records for refused rows and waits for their acknowledgement; throws
// core::InfraError when they cannot be delivered.
using SinkDeadLetter = std::function<void(const std::vector<SinkRejection>&)>;

class SinkWriter {
 public:
  virtual ~SinkWriter() = default;
  // Start-up on the target (tables, views, the offsets store), after the topics exist.
  virtual void Prepare() = 0;
  // The next offset to read per partition of `topic`, as stored with the last commit (a
  // partition absent from the result starts at its beginning). Consuming thread, with no batch
  // in flight.
  virtual std::map<std::int32_t, std::int64_t> LoadOffsets(
      const std::string& topic, const std::vector<std::int32_t>& partitions) = 0;
  // Empty rows in the target's current shape; Fits says whether `rows` still has it.
  virtual std::unique_ptr<SinkRows> NewRows() = 0;
  virtual bool Fits(const SinkRows& rows) const = 0;
  // Judges one record (consuming thread). A writer that must change the target's shape before
  // the record can be a row (new columns) calls `flush` first: the open batch is written with
  // the old shape, and the loop starts the next one with NewRows().
  // The verdict: emit (AppendJudged adds it to the batch) or reject (dead-lettered).
  virtual stages::Outcome Judge(std::string_view bytes, const std::function<void()>& flush) = 0;
  // Appends the record just judged a row.
  virtual void AppendJudged(SinkRows& rows) = 0;
  // Writing thread: writes `rows` and saves `offsets` in ONE target transaction; rows the
  // target refuses go to `dead_letter` before the commit. Returns the rows written. Throws
  // core::InfraError when the target stays unreachable.
  virtual std::size_t Write(const SinkRows& rows, const std::vector<SinkOffset>& offsets,
                            const SinkDeadLetter& dead_letter) = 0;
};

struct SinkLoopOptions {
  std::string stage_name;  // the DLQ's stage header, logs
  std::string target = "target";  // what the writer writes to, in logs ("postgresql")
  std::string topic, dlq_topic;
  std::string group_id;
  std::string group_instance_id;  // "" joins as a dynamic member
  std::map<std::string, std::string> librdkafka;  // bootstrap.servers included
  std::size_t batch_size = 10000;
  core::Duration linger{500};
  int partitions = 1;
  int replication = 1;
  std::map<std::string, std::string> topic_configs;
  bool create_topics = true;
  // Also commit the offsets to Kafka after the target's commit, for lag monitoring only.
  bool commit_to_kafka = true;
  core::Duration kafka_timeout{30'000};
  RetryPolicy retry;
};

struct SinkLoopStats {
  std::uint64_t batches = 0;
  std::uint64_t records_in = 0;
  std::uint64_t rows_written = 0;  // rows the writer wrote (duplicates included)
  std::uint64_t records_dlq = 0;   // judged unfit + refused by the target
  std::uint64_t rebuilds = 0;      // consumers rebuilt in-process after an outage
};

// The DLQ record for a consumed record: its bytes and headers, keyed by origin (so the one
// duplicate a crash can cause is recognisable and collapses under compaction), the original
// key in a header, and `extra` headers; cut to `max_bytes`.
kafka::Message ConsumedDlqMessage(const kafka::Message& consumed, const std::string& dlq_topic,
                                  const std::string& stage, const std::string& rule,
                                  const std::string& reason, kafka::Headers extra,
                                  std::size_t max_bytes);

// Lifecycle: construct → Prepare → Run (until shutdown) → destroy. Prepare and Run on one
// thread; Assigned() and BrokerReachable() from any thread; Stats() is thread-safe.
class SinkLoop {
 public:
  SinkLoop(SinkLoopOptions options, SinkWriter& writer, core::ShutdownToken shutdown,
           obs::Logger log, obs::StandardMetrics* metrics = nullptr);
  ~SinkLoop();
  SinkLoop(const SinkLoop&) = delete;
  SinkLoop& operator=(const SinkLoop&) = delete;

  // Topics, the DLQ limit, the writer's Prepare, the consumer.
  void Prepare();
  // Consumes and writes until shutdown: the open batch is written and committed, the consumer
  // closed, then Run returns. Throws core::InfraError when the target (or Kafka) stays
  // unreachable beyond the retry budget, core::FencedError for a live twin.
  void Run();

  bool Assigned() const;
  // The last broker probe (every kafka::kBrokerProbeEvery) reached the broker.
  bool BrokerReachable() const;
  SinkLoopStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::runtime
