#pragma once
// The pg-sink stage: `<p>.enriched` → one PostgreSQL table, exactly once
// (docs/architecture.md, "Delivery guarantees"). See README.md in this directory for the
// delivery semantics and failure handling; the pieces are:
//   - SinkColumns (pure): the table's column set, grown when a newer writer schema brings
//     fields the table lacks, and the mapping of a decoded record onto those columns;
//   - RecordRouter (pure apart from schema look-ups): a record's bytes to a row or the DLQ;
//   - PgSink: runtime::SinkLoop (the Kafka side: consumer, batches, DLQ, rebalances, outages)
//     hosting a PostgreSQL writer (pg_sink.cpp, PgWriter): rows written by pg::BatchWriter
//     together with pg::OffsetStore::Save in ONE transaction, offsets loaded on assignment,
//     the table evolved when a writer brings new columns, pg::Connection for outages.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sluice/avro/flat_row.hpp"
#include "sluice/avro/schema.hpp"
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/shutdown.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/obs/metrics.hpp"
#include "sluice/kafka/message.hpp"
#include "sluice/pg/avro_to_pg.hpp"
#include "sluice/pg/row_batch.hpp"
#include "sluice/pg/connection.hpp"
#include "sluice/stages/outcome.hpp"
#include "sluice/pg/table_name.hpp"
#include "sluice/runtime/retry.hpp"
#include "sluice/runtime/serde.hpp"

namespace sluice::pg_sink {

// Everything the sink needs, explicit so tests run it in-process without RunDaemon.
struct PgSinkOptions {
  std::string topic;      // input: <p>.enriched
  std::string dlq_topic;  // <p>.dlq
  std::string group_id;   // sluice-sink-<p>
  // group.instance.id (KIP-345 static membership): <group_id>-<SLUICE_INSTANCE_ID or 0> from
  // the pipeline file; "" joins as a dynamic member.
  std::string group_instance_id;
  std::map<std::string, std::string> librdkafka;  // bootstrap.servers included
  pg::TableName table;
  std::vector<std::string> key;
  avro::Schema table_schema;  // the enriched schema from the pipeline file: the initial table
  std::size_t batch_size = 10000;
  // A record larger than this is dead-lettered as too_large without being decoded.
  std::size_t max_record_bytes = 921'600;
  core::Duration linger{500};
  bool create_table = true;
  bool add_columns = true;
  std::vector<std::filesystem::path> views;  // SQL files run after the table exists
  std::string offsets_table = "sluice_offsets";
  std::string conninfo;  // "" → libpq reads PG*
  runtime::RetryPolicy retry;
  int partitions = 1;
  int replication = 1;
  std::map<std::string, std::string> topic_configs;
  bool create_topics = true;
  // Also commit the offsets to Kafka after the PostgreSQL commit, for lag monitoring only;
  // the sink never reads them back.
  bool commit_to_kafka = true;
  core::Duration kafka_timeout{30'000};
};

// From the pipeline file (topics, sink section, schemas.enriched, retry, endpoints).
// Throws core::ConfigError.
PgSinkOptions SinkOptionsFromConfig(const pipeline::PipelineConfig& config);

// The table's columns as the sink knows them, and where each writer schema's fields land.
// Pure (no I/O); one per sink; not thread-safe.
class SinkColumns {
 public:
  SinkColumns(pg::TableName table, std::vector<std::string> key, const avro::Schema& initial);

  // Per writer schema: its layout, and the columns of its fields that the table lacks (to be
  // added with pg::AddMissingColumns before rows of this writer are written).
  struct Writer {
    std::shared_ptr<const avro::FlatLayout> layout;
    pg::TableSpec spec;                // TableFromAvro of the writer schema
    std::vector<std::string> missing;  // fields not yet columns
  };
  // Describes a writer schema against the current columns. Throws core::DataError when the
  // schema cannot be a table (not a flat record, a key field missing).
  Writer Describe(const avro::Schema& writer) const;
  // Records that the writer's missing columns now exist (after AddMissingColumns).
  void Adopt(const Writer& writer);

  const std::vector<std::string>& Columns() const { return columns_; }
  const pg::TableSpec& Initial() const { return initial_; }
  // For each of Columns(), the index of the writer's field of that name, or nullopt (a column
  // the writer lacks: NULL). Fields that are not columns (add_columns off) are left out.
  std::vector<std::optional<std::size_t>> FieldsOfColumns(const Writer& writer) const;

 private:
  pg::TableName table_;
  std::vector<std::string> key_;
  pg::TableSpec initial_;
  std::vector<std::string> columns_;
  std::set<std::string> known_;
};

// What the sink does with one consumed record's bytes: decode it straight from the wire into
// its writer schema's flat layout and say where it goes (emit: a row; reject: the DLQ with a
// rule and a reason), or that its writer brings new columns first (evolve the table,
// AdoptColumns, route again).
// Pure apart from schema look-ups through the SchemaSource (which may throw
// core::InfraError: the caller retries). The consuming thread's; not thread-safe.
class RecordRouter {
 public:
  // The shared verdict, and what only the sink needs to act on it.
  struct Routed {
    stages::Outcome outcome;      // emit: a row (AppendRoutedRow); reject: the DLQ
    bool new_columns = false;     // emit, but the writer's new columns must exist first
    std::int32_t writer_id = -1;  // emit: the record's writer schema
  };

  RecordRouter(SinkColumns& columns, runtime::SchemaSource& schemas,
               std::size_t max_record_bytes, bool add_columns);

  Routed Route(std::string_view bytes);
  // After a new_columns route, once the table has the writer's new columns.
  void AdoptColumns(std::int32_t writer_id);
  // The writer schema that brought new columns (new_columns), for pg::AddMissingColumns.
  const SinkColumns::Writer& WriterOf(std::int32_t writer_id) const;
  // Appends the record just routed (an emit without new_columns) to `rows`, in the table's
  // current columns.
  void AppendRoutedRow(pg::RowBatch& rows) const;

 private:
  struct KnownWriter {
    SinkColumns::Writer writer;
    std::vector<std::optional<std::size_t>> field_of_column;
    bool adopted = false;  // its missing columns exist (or add_columns is off)
  };
  const KnownWriter* Known(std::int32_t id, std::string* why);

  SinkColumns& columns_;
  runtime::SchemaSource& schemas_;
  runtime::RowSerde serde_;
  std::size_t max_record_bytes_;
  bool add_columns_;
  std::map<std::int32_t, KnownWriter> writers_;
  avro::FlatRow flat_;                       // the record being routed
  const KnownWriter* routed_ = nullptr;      // its writer, after kRow
};

// Counters for tests and logs (the metrics registry has the same numbers).
struct PgSinkStats {
  std::uint64_t batches = 0;
  std::uint64_t records_in = 0;
  std::uint64_t rows_written = 0;    // records whose row was upserted (duplicates included)
  std::uint64_t records_dlq = 0;     // undecodable + refused by the server
  std::uint64_t columns_added = 0;
  std::uint64_t pg_reconnects = 0;
  std::uint64_t rebuilds = 0;  // consumers rebuilt in-process after an outage
};

// See the file comment. Lifecycle: construct → Prepare (table, offsets table, views, topics)
// → Run (until the token is cancelled or an infrastructure failure throws) → destroy.
// Run and Prepare on one thread; DatabaseReachable() and Assigned() may be called from any
// thread; Stats() from the Run thread or after Run returned.
class PgSink {
 public:
  PgSink(PgSinkOptions options, runtime::SchemaSource& schemas, obs::Logger log,
         core::ShutdownToken shutdown, obs::StandardMetrics* metrics = nullptr);
  ~PgSink();
  PgSink(const PgSink&) = delete;
  PgSink& operator=(const PgSink&) = delete;

  void Prepare();
  // Consumes and writes until shutdown: the open batch is written and committed, the consumer
  // closed, then Run returns. Throws core::InfraError when the database (or Kafka) stays
  // unreachable beyond the retry budget.
  void Run();

  // For /readyz: the database answers a ping and partitions are assigned.
  bool DatabaseReachable() const;
  // For /readyz: the last consumer lag query (once a second) reached the broker.
  bool BrokerReachable() const;
  bool Assigned() const;
  PgSinkStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};


}  // namespace sluice::pg_sink
