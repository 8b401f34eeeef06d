#pragma once
// The consume-transform-produce loop shared by the cleaner and the enricher
// (docs/architecture.md, "Delivery guarantees"): exactly-once from one Kafka topic to another
// through Kafka transactions.
//
//   - consumer in group config.ConsumerGroup(stage), isolation.level=read_committed, no auto
//     commit; transactional producer with transactional.id "<group>-<instance>" (instance
//     from SLUICE_INSTANCE_ID, default "0"): stable across restarts, so a restarted daemon
//     fences its zombie (InitTransactions aborts the zombie's open transaction), while the
//     consumer group metadata sent with the offsets fences rebalanced zombies (KIP-447);
//   - static group membership (KIP-345): group.instance.id is the same "<group>-<instance>",
//     so a restarted daemon (kill -9 included) gets its partitions back at once instead of
//     after the dead member's session.timeout.ms; two running copies with one instance id
//     fence the older one, which exits with a fatal error (see services/cleaner/README.md);
//   - per transaction (until batch_size records are in, linger has passed since it began, or
//     the input pauses; records are handled as they are polled, so the CPU work overlaps the
//     producer's sends, and the commit is one round trip however many records): begin; decode
//     each record (RowSerde, writer schema by id, resolved to the stage's input schema);
//     TransformStage::Process; Emit -> the output topic, keyed by the record key, headers
//     carried forward (source ts, origin, ...), timestamp kept; Reject -> the DLQ with the
//     rule and reason; Drop -> ALSO the DLQ with rule "drop" and the reason, so that rows in =
//     rows loaded + rows in the DLQ; undecodable bytes -> the DLQ with rule "undecodable";
//     send_offsets_to_transaction; commit;
//   - an abortable error: abort, rewind the consumer to the committed offsets, rebuild the
//     stage from its factory (its running state saw records that were never committed), and
//     redo; a retriable error from commit is retried; fatal: core::InfraError(kNo);
//     infrastructure retries (registry, broker) follow the pipeline's retry policy;
//   - metrics: StandardMetrics (in, out, rejected{reason = rule}, batch and end-to-end
//     seconds, consumer lag{topic,partition}); readiness: partitions assigned and lag known;
//   - the ShutdownToken is checked between batches: the open batch finishes and commits, the
//     consumer closes, Run returns.
// Topics (input, output, DLQ) are created at start when missing, with the pipeline's
// partitions, replication and topic configs.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/avro/schema.hpp"
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/shutdown.hpp"
#include "sluice/http/server.hpp"
#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/message.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/obs/metrics.hpp"
#include "sluice/runtime/daemon.hpp"
#include "sluice/runtime/retry.hpp"
#include "sluice/runtime/serde.hpp"
#include "sluice/runtime/stage.hpp"

namespace sluice::runtime {

// What a bounded run (sluice-replay) reports while it runs: every judged input record, and
// each transaction's end. Called on the loop's thread. Judged() comes inside the open
// transaction: a tally is final only once Committed() follows (Aborted(): the records are
// judged again). In a dry run nothing is written and Committed() follows every batch.
class TransformObserver {
 public:
  virtual ~TransformObserver() = default;
  // One input record and what the stage made of it: emit (with its output records, decoded
  // unless the stage passed bytes through) or a dead letter (too_large, undecodable,
  // unencodable included).
  virtual void Judged(std::int32_t partition, const stages::Outcome& outcome,
                      const std::vector<Record>& emitted) {
    (void)partition, (void)outcome, (void)emitted;
  }
  // Extra records for the open transaction, written with its offsets (`next`: per input
  // partition, the next offset to read once this transaction commits). Not called in a dry run.
  virtual std::vector<kafka::Message> BeforeCommit(const std::map<std::int32_t, std::int64_t>& next) {
    (void)next;
    return {};
  }
  virtual void Committed(const std::map<std::int32_t, std::int64_t>& next) { (void)next; }
  virtual void Aborted() {}
};

// A bounded run over part of the input topic, instead of the live subscription: the loop
// reads the given partitions with an assigned kafka::TopicReader (no group join: the live
// stage's consumers are untouched) from `start` up to `end` (exclusive, both explicit
// offsets), commits the offsets under TransformLoopOptions::group_id in each transaction, and
// Run() returns once every partition reached its end.
struct TransformBounds {
  struct Partition {
    std::int32_t partition = 0;
    std::int64_t start = 0;  // the next offset to read (where a resumed run goes on)
    std::int64_t end = 0;    // exclusive
  };
  std::vector<Partition> partitions;
  bool dry_run = false;   // nothing written: no transaction, no offsets, no topic created
  double max_rate = 0;    // records per second taken in; 0 = no limit
  TransformObserver* observer = nullptr;  // may be null; must outlive Run()
  // Extra topics created at start when missing (the positions topic of a replay).
  std::vector<kafka::TopicSpec> extra_topics;
};

// Everything the loop needs, explicit so tests run it in-process without RunDaemon.
struct TransformLoopOptions {
  std::string stage_name;  // "cleaner": DLQ header, logs
  std::string input_topic, output_topic, dlq_topic;
  avro::Schema input_schema;   // the reader schema records are decoded into
  avro::Schema output_schema;  // registered as "<output_topic>-value"
  std::string group_id;        // consumer group
  std::string transactional_id;
  // group.instance.id (KIP-345 static membership); "" joins as a dynamic member.
  std::string group_instance_id;
  // librdkafka properties (bootstrap.servers included), passed through to every client.
  std::map<std::string, std::string> librdkafka;
  std::size_t batch_size = 10000;
  // A larger input record is dead-lettered as too_large without being decoded.
  std::size_t max_record_bytes = 921'600;
  core::Duration linger{200};
  int partitions = 1;
  int replication = 1;
  std::map<std::string, std::string> topic_configs;
  bool create_topics = true;
  core::Duration kafka_timeout{30'000};  // each transaction call and admin request
  RetryPolicy retry;
  // false: a stage with WantsWarm() is not fed the output topic (a replay decides from what
  // it reads alone: its range's records would otherwise be duplicates of their first run).
  bool warm = true;
  // Set: a bounded run (see TransformBounds) instead of the live subscription.
  std::optional<TransformBounds> bounds;
};

// Builds the options from the pipeline file: topics, schemas, group, librdkafka map, batch
// (cleaner/enricher `batch_size`, `linger` when present), retry policy. `stage` is kCleaner
// (raw -> clean) or kEnricher (clean -> enriched). Throws core::ConfigError.
TransformLoopOptions OptionsFromConfig(const pipeline::PipelineConfig& config, config::Stage stage);

// Counters a loop keeps for tests and logs (the metrics registry has the same numbers).
struct TransformLoopStats {
  std::uint64_t batches = 0;
  std::uint64_t records_in = 0;
  std::uint64_t records_out = 0;
  std::uint64_t records_dlq = 0;
  std::uint64_t aborts = 0;
  std::uint64_t rebuilds = 0;  // Kafka clients rebuilt in-process after an outage
};

// Runs the loop. Construct once; Run() until shutdown or an exception. Single-threaded
// (the loop thread); the readiness check it registers is thread-safe.
class TransformLoop {
 public:
  using StageFactory = std::function<std::unique_ptr<TransformStage>()>;

  // `metrics` and `http` may be null (tests). `schemas` must outlive the loop.
  TransformLoop(TransformLoopOptions options, StageFactory make_stage, SchemaSource& schemas,
                core::ShutdownToken shutdown, obs::Logger log,
                obs::StandardMetrics* metrics = nullptr, http::Server* http = nullptr);
  ~TransformLoop();
  TransformLoop(const TransformLoop&) = delete;
  TransformLoop& operator=(const TransformLoop&) = delete;

  // Creates topics, registers the output schema, initialises transactions, subscribes, then
  // runs batches until shutdown is requested (a bounded run: until every partition reached its
  // end, or shutdown). Throws core::InfraError (kNo after the retry
  // budget, or on a fatal Kafka error) and whatever the stage throws: a stage exception
  // abandons the open transaction (it is aborted; nothing of it becomes visible).
  void Run();

  TransformLoopStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The daemon glue for cleaner and enricher mains: options from ctx.config, the registry as
// SchemaSource, metrics and readiness from ctx; returns on shutdown.
void RunTransformDaemon(DaemonContext& ctx, config::Stage stage,
                        TransformLoop::StageFactory make_stage);

}  // namespace sluice::runtime
