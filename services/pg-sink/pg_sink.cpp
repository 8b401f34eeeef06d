#include "pg_sink.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <future>
#include <limits>
#include <mutex>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "sluice/core/error.hpp"
#include "sluice/http/client.hpp"
#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/consumer.hpp"
#include "sluice/kafka/error.hpp"
#include "sluice/kafka/producer.hpp"
#include "sluice/pg/batch_writer.hpp"
#include "sluice/pg/flat_row_text.hpp"
#include "sluice/pg/offset_store.hpp"
#include "sluice/pg/row_batch.hpp"
#include "sluice/registry/wire_format.hpp"
#include "sluice/runtime/dlq.hpp"
#include "sluice/runtime/stage.hpp"

namespace sluice::pg_sink {

namespace {

using Clock = std::chrono::steady_clock;

const std::string kStageName(config::IdentityOf(config::Stage::kPgSink).dlq_stage);
// An open batch is written when no record arrives for this long (the sink has caught up).
constexpr std::chrono::milliseconds kIdleFlush{20};
// The broker holds an empty fetch this long at most (librdkafka's default is 500 ms). One fetch
// is in flight per broker, so a drained partition's long poll delays the others' next records;
// a pipeline file can still set fetch.wait.max.ms.
constexpr const char* kFetchWaitMaxMs = "100";
constexpr const char* kRulePgRejected = "pg_rejected";
constexpr const char* kRuleUnwritable = "unwritable";
constexpr const char* kHeaderSqlState = "sluice-dlq-sqlstate";
constexpr const char* kHeaderOriginalKey = "sluice-dlq-original-key";

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::ConfigError("sink.views: cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<std::int64_t> SourceTsMs(const kafka::ReceivedMessage& m) {
  const std::optional<std::string_view> h = m.LastHeader(runtime::kHeaderSourceTs);
  return h ? runtime::ParseSourceTsMs(*h) : std::nullopt;
}

}  // namespace

PgSinkOptions SinkOptionsFromConfig(const config::PipelineConfig& config) {
  PgSinkOptions o;
  const config::View sink =
      config.SectionView(std::string(config::IdentityOf(config::Stage::kPgSink).section));
  const config::Topics& topics = config.TopicNames();
  o.topic = topics.enriched;
  o.dlq_topic = topics.dlq;
  o.group_id = config.ConsumerGroup(config::Stage::kPgSink);
  o.group_instance_id = config.GroupInstanceId(config::Stage::kPgSink);
  o.librdkafka = config.Librdkafka(config::Stage::kPgSink);
  o.table.schema = sink.String("schema");
  o.table.name = sink.String("table");
  o.key = sink.Strings("key");
  const std::filesystem::path schema_path = config.SchemaPath("enriched");
  if (schema_path.empty()) throw core::ConfigError("schemas.enriched: the sink needs a schema");
  try {
    o.table_schema = avro::ParseSchema(ReadFile(schema_path));
  } catch (const core::DataError& e) {
    throw core::ConfigError(schema_path.string() + ": " + e.what());
  }
  o.batch_size = static_cast<std::size_t>(sink.Int("batch_size"));
  o.max_record_bytes = static_cast<std::size_t>(sink.Int("max_record_bytes"));
  o.linger = sink.Duration("batch_linger");
  o.create_table = sink.Bool("create_table");
  o.add_columns = sink.Bool("add_columns");
  const std::filesystem::path base = config.File().parent_path();
  for (const std::string& v : sink.Strings("views")) {
    std::filesystem::path p(v);
    o.views.push_back(p.is_absolute() ? p : base / p);
  }
  o.offsets_table = sink.String("offsets_table");
  o.conninfo = config.Endpoint().pg_conninfo;
  o.retry = runtime::RetryPolicy::FromConfig(config.SectionView("retry"));
  o.partitions = topics.partitions;
  o.replication = topics.replication;
  o.topic_configs = topics.configs;
  return o;
}

// ---------------------------------------------------------------------------------------
// SinkColumns

SinkColumns::SinkColumns(pg::TableName table, std::vector<std::string> key,
                         const avro::Schema& initial)
    : table_(std::move(table)), key_(std::move(key)),
      initial_(pg::TableFromAvro(initial, table_, key_)) {
  for (const pg::ColumnSpec& c : initial_.columns) {
    columns_.push_back(c.name);
    known_.insert(c.name);
  }
}

SinkColumns::Writer SinkColumns::Describe(const avro::Schema& writer) const {
  if (auto why = avro::FlatLayout::WhyNotFlat(writer)) {
    throw core::DataError("writer schema is not a flat record: " + *why);
  }
  Writer w;
  w.layout = avro::FlatLayout::Compile(writer);
  try {
    w.spec = pg::TableFromAvro(writer, table_, key_);
  } catch (const core::ConfigError& e) {
    // A key field missing from a writer schema is a property of that record's schema.
    throw core::DataError(e.what());
  }
  for (const pg::ColumnSpec& c : w.spec.columns) {
    if (known_.count(c.name) == 0) w.missing.push_back(c.name);
  }
  return w;
}

void SinkColumns::Adopt(const Writer& writer) {
  for (const std::string& name : writer.missing) {
    if (known_.insert(name).second) columns_.push_back(name);
  }
}

std::vector<std::optional<std::size_t>> SinkColumns::FieldsOfColumns(const Writer& writer) const {
  std::vector<std::optional<std::size_t>> out(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) out[c] = writer.layout->FieldIndex(columns_[c]);
  return out;
}

// ---------------------------------------------------------------------------------------
// RecordRouter

RecordRouter::RecordRouter(SinkColumns& columns, runtime::SchemaSource& schemas,
                           std::size_t max_record_bytes, bool add_columns)
    : columns_(columns), schemas_(schemas), serde_(schemas),
      max_record_bytes_(max_record_bytes), add_columns_(add_columns) {}

RecordRouter::Verdict RecordRouter::Route(std::string_view bytes) {
  routed_ = nullptr;
  Verdict v;
  if (bytes.size() > max_record_bytes_) {
    v.rule = runtime::kRuleTooLarge;
    v.reason = "record of " + std::to_string(bytes.size()) +
               " bytes is larger than max_record_bytes (" + std::to_string(max_record_bytes_) +
               "); not decoded";
    return v;
  }
  runtime::SerdeResult<std::int32_t> id = serde_.DecodeFlat(bytes, flat_);
  std::string why;
  if (id) {
    if (const KnownWriter* w = Known(*id.value, &why)) {
      v.writer_id = *id.value;
      if (!w->adopted) {
        v.kind = Verdict::Kind::kNewColumns;
        return v;
      }
      routed_ = w;
      v.kind = Verdict::Kind::kRow;
      return v;
    }
  } else if (auto frame = registry::ParseFrame(bytes)) {
    // Not decodable as a flat row: a known writer that cannot be a table row is "unwritable"
    // (the README's table), anything else stays "undecodable".
    Known(frame->id.value, &why);
  }
  if (!why.empty()) {
    v.rule = kRuleUnwritable;
    v.reason = std::move(why);
  } else {
    v.rule = runtime::kRuleUndecodable;
    v.reason = id ? "writer schema " + std::to_string(*id.value) + " is unknown" : id.error;
  }
  return v;
}

const RecordRouter::KnownWriter* RecordRouter::Known(std::int32_t id, std::string* why) {
  if (auto it = writers_.find(id); it != writers_.end()) return &it->second;
  auto text = schemas_.SchemaText(id);
  if (!text) return nullptr;
  KnownWriter known;
  try {
    known.writer = columns_.Describe(avro::ParseSchema(*text));
  } catch (const core::DataError& e) {
    // Not cached: the verdict is per id, and a failed parse is cheap to repeat.
    *why = "writer schema " + std::to_string(id) + " cannot be a table row: " + e.what();
    return nullptr;
  }
  known.adopted = known.writer.missing.empty() || !add_columns_;
  known.field_of_column = columns_.FieldsOfColumns(known.writer);
  return &writers_.emplace(id, std::move(known)).first->second;
}

const SinkColumns::Writer& RecordRouter::WriterOf(std::int32_t writer_id) const {
  return writers_.at(writer_id).writer;
}

void RecordRouter::AdoptColumns(std::int32_t writer_id) {
  KnownWriter& known = writers_.at(writer_id);
  columns_.Adopt(known.writer);
  known.adopted = true;
  for (auto& [id, w] : writers_) w.field_of_column = columns_.FieldsOfColumns(w.writer);
}

void RecordRouter::AppendRoutedRow(pg::RowBatch& rows) const {
  SLUICE_ASSERT(routed_ != nullptr, "AppendRoutedRow needs a record routed to a row");
  pg::AppendFlatRow(rows, flat_, routed_->field_of_column);
}

kafka::Message SinkDlqMessage(const kafka::Message& consumed, const std::string& dlq_topic,
                              const std::string& rule, const std::string& reason,
                              const std::string& sqlstate, std::size_t max_bytes) {
  runtime::Record r;
  r.original = consumed.value.value_or("");
  r.headers = runtime::FromKafkaHeaders(consumed.headers);
  r.origin = runtime::Origin::Kafka(consumed.topic, consumed.partition, consumed.offset);
  r.key = r.origin.ToString();
  kafka::Headers extra;
  if (consumed.key) extra.push_back({kHeaderOriginalKey, *consumed.key});
  if (!sqlstate.empty()) extra.push_back({kHeaderSqlState, sqlstate});
  return runtime::MakeDlqMessage(dlq_topic, r, {kStageName, rule, reason}, max_bytes, extra);
}

// ---------------------------------------------------------------------------------------
// PgSink

struct PgSink::Impl : kafka::RebalanceListener {
  // One consumed record waiting for the batch's commit.
  struct Pending {
    kafka::ReceivedMessage message;
    bool in_batch = false;  // false: dead-lettered by the writing thread, for dlq_rule
    std::optional<std::int64_t> source_ts_ms;  // the sluice-source-ts header
    // Set when the consuming thread judged the record (too_large, undecodable, unwritable).
    // The DLQ record is produced by the writing thread with the rest of its batch, so every
    // DLQ write, its delivery check and the offsets that pass it belong to one batch.
    std::string dlq_rule;
    std::string dlq_reason;
  };
  // The records consumed since the last hand-off, and the rows of those that are in_batch.
  struct OpenBatch {
    // Keys are hashed as rows are added (on the consuming thread, while the writer works), for
    // BatchWriter's "all keys new?" check.
    OpenBatch(std::vector<std::string> columns, const std::vector<std::string>& key)
        : rows(std::move(columns)) {
      rows.HashKeys(key);
    }
    std::vector<Pending> pending;
    pg::RowBatch rows;
    Clock::time_point started{};
  };
  // Counters shared by the consuming thread and the writing thread.
  struct Counters {
    std::atomic<std::uint64_t> batches{0}, records_in{0}, rows_written{0}, records_dlq{0},
        columns_added{0}, pg_reconnects{0}, rebuilds{0};
  };

  Impl(PgSink& owner, PgSinkOptions o, runtime::SchemaSource& s, obs::Logger l,
       core::ShutdownToken t, obs::StandardMetrics* m)
      : self(owner), options(std::move(o)), schemas(s), log(std::move(l)),
        shutdown(std::move(t)), metrics(m), conn(MakeConnectionOptions()),
        columns(options.table, options.key, options.table_schema),
        writer(pg::BatchWriterOptions{options.table, options.key}),
        offsets(options.offsets_table),
        router(columns, schemas, options.max_record_bytes, options.add_columns),
        open(columns.Columns(), options.key) {}

  pg::ConnectionOptions MakeConnectionOptions() {
    pg::ConnectionOptions c;
    c.conninfo = options.conninfo;
    c.application_name = "sluice-pg-sink";
    // A running sink waits for PostgreSQL as long as it takes (/readyz says it is unreachable
    // meanwhile): an outage of any length ends in the rows being written, not in an exit.
    // Past the pipeline's retry budget each retry is logged as an error.
    c.budget.until_stopped = true;
    c.budget.max_elapsed = options.retry.budget;
    c.budget.max_attempts = std::numeric_limits<int>::max();
    c.budget.initial_backoff = options.retry.initial_backoff;
    c.budget.max_backoff = options.retry.max_backoff;
    core::ShutdownToken token = shutdown;
    c.sleep = [token](core::Duration d) {
      if (token.WaitFor(d)) {
        throw core::InfraError("shutdown requested while waiting for PostgreSQL",
                               core::Retry::kNo);
      }
    };
    return c;
  }

  // --- start-up -------------------------------------------------------------------------

  void Prepare() {
    if (options.create_topics) EnsureTopics();
    dlq_limit = runtime::WithRetry(options.retry, shutdown, log, "DLQ topic limit", [&] {
      return runtime::DlqMessageLimit(options.librdkafka, options.dlq_topic, options.kafka_timeout);
    });
    log.Info("DLQ message limit", {{"topic", options.dlq_topic}, {"bytes", dlq_limit},
                                   {"max_record_bytes", options.max_record_bytes}});
    conn.Run([&](pqxx::connection& c) {
      pqxx::work tx(c);
      offsets.EnsureTable(tx);
      if (options.create_table) {
        pg::TableChanges ch = pg::EnsureTable(tx, columns.Initial());
        if (ch.created) log.Info("created table", {{"table", options.table.Display()}});
        for (const auto& m : ch.type_mismatches) {
          log.Warn("column type differs from the schema", {{"detail", m}});
        }
      }
      tx.commit();
    });
    for (const auto& path : options.views) {
      const std::string sql = ReadFile(path);
      conn.Run([&](pqxx::connection& c) {
        pqxx::work tx(c);
        tx.exec(sql);
        tx.commit();
      });
      log.Info("applied views", {{"file", path.string()}});
    }
    kafka::Config pc;
    for (const auto& [k, v] : options.librdkafka) pc.Set(k, v);
    runtime::FitBatchesToDlq(pc, dlq_limit);
    producer = std::make_unique<kafka::Producer>(pc);
    consumer = MakeConsumer();
  }

  std::unique_ptr<kafka::Consumer> MakeConsumer() const {
    kafka::Config cc;
    for (const auto& [k, v] : options.librdkafka) cc.Set(k, v);
    cc.Set("group.id", options.group_id);
    if (options.librdkafka.count("fetch.wait.max.ms") == 0) cc.Set("fetch.wait.max.ms", kFetchWaitMaxMs);
    cc.Set("enable.auto.commit", "false");
    cc.Set("isolation.level", "read_committed");
    // A restarted sink gets its partitions back at once (no rebalance), and OnAssigned still
    // runs for them, so it still starts from the offsets stored in PostgreSQL.
    if (!options.group_instance_id.empty()) cc.Set("group.instance.id", options.group_instance_id);
    return std::make_unique<kafka::Consumer>(cc);
  }

  // A consumer left unusable by an outage (fenced on rejoin after its session expired while the
  // broker was away) is replaced in-process: the batch in flight finishes, the open one is
  // dropped unwritten, and the new consumer starts from the offsets stored in PostgreSQL.
  void RebuildConsumer(const std::string& why) {
    log.Error("rebuilding the Kafka consumer", {{"reason", why}});
    abandoned = true;  // the old consumer's revoke callback writes nothing
    self.assigned_ = 0;
    try {
      WaitForWriter();
    } catch (const core::InfraError& e) {
      log.Warn("the batch in flight failed; it is read again", {{"error", e.what()}});
    }
    open = OpenBatch(columns.Columns(), options.key);
    spare.reset();
    try {
      consumer->Close();
    } catch (const std::exception& e) {
      log.Warn("closing the old consumer failed", {{"error", e.what()}});
    }
    consumer = MakeConsumer();
    abandoned = false;
    consumer->Subscribe({options.topic}, this);
    ++stats.rebuilds;
  }

  void EnsureTopics() {
    kafka::Config ac;
    for (const auto& [k, v] : options.librdkafka) ac.Set(k, v);
    kafka::Admin admin(ac);
    for (const std::string& t : {options.topic, options.dlq_topic}) {
      try {
        admin.PartitionCount(t, options.kafka_timeout);
        continue;  // exists: leave its settings alone
      } catch (const kafka::KafkaError&) {
      }
      admin.CreateTopics({{t, options.partitions, options.replication, options.topic_configs}},
                         options.kafka_timeout);
      log.Info("created topic", {{"topic", t}});
    }
  }

  // --- rebalance --------------------------------------------------------------------------

  void OnAssigned(std::vector<kafka::TopicPartitionOffset>& parts) override {
    WaitForWriter();  // the connection is the writing thread's while a batch is in flight
    std::vector<std::int32_t> ids;
    for (const auto& p : parts) ids.push_back(p.partition);
    auto stored = conn.Run([&](pqxx::connection& c) {
      pqxx::work tx(c);
      auto r = offsets.Load(tx, options.group_id, options.topic, ids);
      tx.commit();
      return r;
    });
    for (auto& p : parts) {
      auto it = stored.find(p.partition);
      // PostgreSQL is the source of truth: Kafka-committed offsets are never read back.
      p.offset = it != stored.end() ? it->second : StartOf({p.topic, p.partition});
      log.Info("partition assigned", {{"topic", p.topic}, {"partition", p.partition},
                                      {"start_offset", p.offset},
                                      {"from", it != stored.end() ? "postgresql" : "beginning"}});
    }
    self.assigned_ += static_cast<int>(parts.size());
  }

  // The first offset of a partition the sink has never written. An explicit offset starts the
  // fetch at once, where kOffsetBeginning makes librdkafka look it up first, and that lookup
  // can wait half a second behind other partitions' fetches.
  std::int64_t StartOf(const kafka::TopicPartition& tp) {
    try {
      return consumer->Watermarks(tp, options.kafka_timeout).first;
    } catch (const kafka::KafkaError& e) {
      log.Debug("low watermark unknown, librdkafka looks it up", {{"error", e.what()}});
      return kafka::kOffsetBeginning;
    }
  }

  void OnRevoked(const std::vector<kafka::TopicPartition>& parts) override {
    // Still ours: commit what we have so the next owner starts after it. Not after a failure
    // (Abandon): the next owner re-reads from the offsets stored with the last commit.
    if (!abandoned) Flush();
    self.assigned_ -= static_cast<int>(parts.size());
  }

  void OnLost(const std::vector<kafka::TopicPartition>& parts) override {
    // Someone else may already write these partitions: writing our older rows now could
    // overwrite theirs. Forget them; the new owner re-reads from the stored offsets.
    auto lost = [&](const Pending& p) {
      return std::any_of(parts.begin(), parts.end(), [&](const kafka::TopicPartition& tp) {
        return tp.partition == p.message.partition() && tp.topic == p.message.topic();
      });
    };
    // A batch already handed to the writing thread commits: the loss is only learnt here, and
    // a batch committed a moment before it would be the same.
    self.assigned_ -= static_cast<int>(parts.size());
    if (abandoned) return;
    WaitForWriter();
    OpenBatch kept(columns.Columns(), options.key);
    kept.started = open.started;
    std::size_t row = 0;
    for (Pending& p : open.pending) {
      if (p.in_batch) ++row;
      if (lost(p)) continue;
      if (p.in_batch) kept.rows.AppendRows(open.rows, row - 1, row);
      kept.pending.push_back(std::move(p));
    }
    open = std::move(kept);
  }

  // --- per record -------------------------------------------------------------------------

  void Accept(kafka::ReceivedMessage m) {
    ++stats.records_in;
    if (metrics) metrics->records_in.Inc();
    RecordRouter::Verdict v = Route(m.value().value_or(std::string_view()));
    // Route may have written the open batch (new columns): the clock starts with this record.
    if (open.pending.empty()) open.started = Clock::now();
    Pending p{std::move(m)};
    if (metrics) p.source_ts_ms = SourceTsMs(p.message);
    if (v.kind == RecordRouter::Verdict::Kind::kRow) {
      router.AppendRoutedRow(open.rows);
      p.in_batch = true;
    } else {
      p.dlq_rule = std::move(v.rule);
      p.dlq_reason = std::move(v.reason);
    }
    open.pending.push_back(std::move(p));
  }

  // Routes one record, retrying registry look-ups. A writer that brings new fields evolves the
  // table first, after writing the open batch with the old columns.
  RecordRouter::Verdict Route(std::string_view bytes) {
    auto route = [&] {
      // As long as the registry takes to come back (not ready meanwhile: nothing is written).
      RecordRouter::Verdict v;
      if (!runtime::RetryUntilShutdown(options.retry, shutdown, log, "schema registry",
                                       [&] { v = router.Route(bytes); })) {
        throw core::InfraError("shutdown requested while waiting for the schema registry",
                               core::Retry::kNo);
      }
      return v;
    };
    RecordRouter::Verdict v = route();
    if (v.kind != RecordRouter::Verdict::Kind::kNewColumns) return v;
    const SinkColumns::Writer& w = router.WriterOf(v.writer_id);
    Flush();
    pg::TableChanges ch = conn.Run([&](pqxx::connection& c) {
      pqxx::work tx(c);
      pg::TableChanges r = pg::AddMissingColumns(tx, w.spec);
      tx.commit();
      return r;
    });
    router.AdoptColumns(v.writer_id);
    open = OpenBatch(columns.Columns(), options.key);
    stats.columns_added += ch.added.size();
    log.Info("schema evolved: columns added",
             {{"writer_id", v.writer_id}, {"added", ch.added},
              {"relaxed_not_null", ch.relaxed_not_null}, {"type_mismatches", ch.type_mismatches}});
    return route();
  }

  kafka::Message DlqMessageFor(const kafka::ReceivedMessage& received, const std::string& rule,
                               const std::string& reason, const std::string& sqlstate) const {
    return SinkDlqMessage(received.ToMessage(), options.dlq_topic, rule, reason, sqlstate,
                          dlq_limit);
  }

  // Produces `records` to the DLQ and waits until each is acknowledged. A refused delivery is
  // an infrastructure failure: all of them are produced again (keyed by origin, so a repeat
  // is recognisable) within the retry budget; the batch's offsets never pass an undelivered
  // DLQ record. Writing thread only: the DLQ producer's delivery reports belong to one batch.
  void DeliverToDlq(const std::vector<kafka::Message>& records) {
    if (records.empty()) return;
    const bool delivered = runtime::RetryUntilShutdown(options.retry, shutdown, log, "DLQ delivery", [&] {
      for (const kafka::Message& m : records) producer->Produce(m);
      producer->Flush(options.kafka_timeout);
      auto failures = producer->TakeDeliveryFailures();
      if (!failures.empty()) {
        throw core::InfraError("DLQ delivery failed for " + std::to_string(failures.size()) +
                                   " record(s): " + failures.front().error_message,
                               core::Retry::kYes);
      }
    });
    if (!delivered) {
      throw core::InfraError("shutdown requested before the DLQ records were delivered; "
                             "offsets not advanced",
                             core::Retry::kNo);
    }
    for (const kafka::Message& m : records) {
      const kafka::Header* rule = kafka::FindLastHeader(m.headers, runtime::kHeaderRule);
      const kafka::Header* reason = kafka::FindLastHeader(m.headers, runtime::kHeaderReason);
      const std::string rule_name = rule && rule->value ? *rule->value : "";
      ++stats.records_dlq;
      if (metrics) metrics->records_rejected.With({rule_name}).Inc();
      log.Warn("record sent to the DLQ",
               {{"origin", m.key.value_or("")}, {"rule", rule_name},
                {"reason", reason && reason->value ? *reason->value : ""}});
    }
  }

  // After a failure that ends Run: the writing thread is waited for (its own failure, if
  // any, is the same story), and the consumer is closed without writing what is open; the
  // next owner of the partitions re-reads from the offsets stored with the last commit.
  void Abandon() noexcept {
    abandoned = true;
    self.assigned_ = 0;
    try {
      WaitForWriter();
    } catch (const std::exception& e) {
      log.Warn("the batch in flight failed too", {{"error", e.what()}});
    }
    try {
      if (consumer) consumer->Close();
    } catch (const std::exception& e) {
      log.Warn("consumer close after a failure", {{"error", e.what()}});
    }
  }

  // --- per batch --------------------------------------------------------------------------

  // Hands the open batch to the writing thread, after the previous one is committed: decoding
  // the next batch overlaps writing this one. One batch in flight at a time keeps the order of
  // commits (and so of stored offsets) the order of consumption.
  void Handoff() {
    std::shared_ptr<OpenBatch> done = WaitForWriter();
    if (open.pending.empty()) return;
    // Buffers of the batch before last keep their capacity.
    std::shared_ptr<OpenBatch> job = std::move(spare);
    if (!job || job->rows.columns() != columns.Columns()) {
      job = std::make_shared<OpenBatch>(columns.Columns(), options.key);
    }
    std::swap(*job, open);
    in_flight_job = job;
    in_flight = std::async(std::launch::async, [this, job] { Write(*job); });
    // While the new batch is written: the committed one's records go back to librdkafka.
    if (done) {
      done->pending.clear();
      done->rows.Clear();
      spare = std::move(done);
    }
  }

  // Waits for the batch in flight, if any, and returns it; rethrows its failure
  // (core::InfraError).
  std::shared_ptr<OpenBatch> WaitForWriter() {
    if (!in_flight.valid()) return nullptr;
    in_flight.get();
    return std::move(in_flight_job);
  }

  // Writes the open batch and waits for its commit (rebalance, schema change, shutdown).
  void Flush() {
    Handoff();
    WaitForWriter();
  }

  // One batch: rows, DLQ records for refused rows, and offsets in one PostgreSQL transaction.
  // Runs on the writing thread (or with it idle).
  void Write(const OpenBatch& job) {
    const std::vector<Pending>& pending = job.pending;
    const pg::RowBatch& batch = job.rows;
    const auto started = Clock::now();
    std::vector<std::size_t> batch_to_pending;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (pending[i].in_batch) batch_to_pending.push_back(i);
    }
    std::map<std::int32_t, std::int64_t> next;
    for (const Pending& p : pending) {
      auto& n = next[p.message.partition()];
      n = std::max(n, p.message.offset() + 1);
    }
    std::vector<pg::PartitionOffset> to_save;
    for (const auto& [part, off] : next) to_save.push_back({part, off});

    // Records judged while consuming: dead-lettered once, before the transaction.
    std::vector<kafka::Message> judged;
    for (const Pending& p : pending) {
      if (!p.in_batch) judged.push_back(DlqMessageFor(p.message, p.dlq_rule, p.dlq_reason, ""));
    }
    DeliverToDlq(judged);
    std::set<std::size_t> dlq_sent;  // survives re-runs of the unit of work
    const std::uint64_t reconnects_before = conn.Reconnects();
    pg::WriteResult result = conn.Run([&](pqxx::connection& c) {
      pqxx::work tx(c);
      pg::WriteResult r = writer.Write(tx, batch);
      std::vector<kafka::Message> refused;
      for (const pg::RejectedRow& bad : r.rejected) {
        if (!dlq_sent.insert(bad.index).second) continue;
        refused.push_back(DlqMessageFor(pending[batch_to_pending[bad.index]].message,
                                        kRulePgRejected,
                                        "SQLSTATE " + bad.sqlstate + ": " + bad.message,
                                        bad.sqlstate));
      }
      // Before the commit that advances the offsets: a DLQ record is never lost (a crash
      // between this delivery and the commit re-sends it, once, keyed by origin).
      DeliverToDlq(refused);
      offsets.Save(tx, options.group_id, options.topic, to_save);
      tx.commit();
      return r;
    });
    stats.pg_reconnects += conn.Reconnects() - reconnects_before;
    const std::size_t written = batch.size() - result.rejected.size();
    stats.rows_written += written;
    ++stats.batches;
    const auto now_sys = std::chrono::system_clock::now();
    if (metrics) {
      metrics->records_out.Inc(static_cast<double>(written));
      metrics->batch_seconds.Observe(
          std::chrono::duration<double>(Clock::now() - started).count());
      const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                      now_sys.time_since_epoch())
                                      .count();
      for (const Pending& p : pending) {
        if (p.source_ts_ms) {
          metrics->end_to_end_seconds.Observe(static_cast<double>(now_ms - *p.source_ts_ms) /
                                              1000.0);
        }
      }
    }
    if (options.commit_to_kafka) {
      // Monitoring only (consumer-group lag tools); PostgreSQL stays the source of truth.
      std::vector<kafka::TopicPartitionOffset> tpo;
      for (const auto& po : to_save) tpo.push_back({options.topic, po.partition, po.next_offset});
      try {
        consumer->Commit(tpo, /*sync=*/false);
      } catch (const kafka::KafkaError& e) {
        log.Debug("kafka offset commit (monitoring only) failed", {{"error", e.what()}});
      }
    }
    log.Debug("batch committed", {{"records", pending.size()}, {"rows", written},
                                  {"rejected", result.rejected.size()}});
  }

  void UpdateLag() {
    try {
      for (const kafka::PartitionLag& l : consumer->Lag(std::chrono::milliseconds(500))) {
        if (l.lag < 0 || metrics == nullptr) continue;
        metrics->consumer_lag.With({l.partition.topic, std::to_string(l.partition.partition)})
            .Set(static_cast<double>(l.lag));
      }
      // Lag reads cached watermarks: a real round trip tells whether the broker is there.
      const auto now = std::chrono::steady_clock::now();
      if (now - last_probe >= kafka::kBrokerProbeEvery) {
        last_probe = now;
        broker_ok = consumer->BrokerReachable(kafka::kBrokerProbeTimeout);
      }
      if (!broker_ok) trouble.Note();
    } catch (const kafka::KafkaError& e) {
      broker_ok = false;
      trouble.Note();  // the broker is away: a "fenced" on rejoin is its after-effect
      log.Debug("lag unavailable", {{"error", e.what()}});
    }
  }

  void Run() {
    try {
      Consume();
    } catch (...) {
      Abandon();
      throw;
    }
  }

  void Consume() {
    consumer->Subscribe({options.topic}, this);
    log.Info("consuming", {{"topic", options.topic}, {"group", options.group_id},
                           {"group_instance_id", options.group_instance_id}});
    auto last_lag = Clock::now();
    while (!shutdown.Requested()) {
      // With a batch open, a short poll: coming back empty means the topic is drained for now,
      // and the batch is written at once instead of lingering for records that are not there.
      auto timeout = std::chrono::milliseconds(200);
      if (!open.pending.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            open.started + options.linger - Clock::now());
        timeout = std::clamp(left, std::chrono::milliseconds(1), kIdleFlush);
      }
      const std::size_t room =
          options.batch_size - std::min(options.batch_size, open.pending.size());
      std::vector<kafka::ReceivedMessage> got;
      try {
        got = consumer->PollReceived(std::max<std::size_t>(room, 1), timeout);
      } catch (const kafka::KafkaError& e) {
        if (!e.IsFatal()) throw;
        if (trouble.FencedByTwin(e)) throw core::FencedError(e.what());
        RebuildConsumer(e.what());
        continue;
      }
      for (kafka::ReceivedMessage& m : got) Accept(std::move(m));
      if (open.pending.size() >= options.batch_size ||
          (!open.pending.empty() &&
           (got.empty() || Clock::now() - open.started >= options.linger))) {
        Handoff();
      }
      if (Clock::now() - last_lag >= std::chrono::seconds(1)) {
        UpdateLag();
        last_lag = Clock::now();
      }
    }
    log.Info("shutdown: writing the open batch", {{"records", open.pending.size()}});
    Flush();
    consumer->Close();  // revoke → Flush of nothing
    producer->Flush(options.kafka_timeout);
  }

  PgSink& self;
  PgSinkOptions options;
  runtime::SchemaSource& schemas;
  obs::Logger log;
  core::ShutdownToken shutdown;
  obs::StandardMetrics* metrics;
  pg::Connection conn;
  SinkColumns columns;
  pg::BatchWriter writer;
  pg::OffsetStore offsets;
  RecordRouter router;
  std::unique_ptr<kafka::Producer> producer;
  std::unique_ptr<kafka::Consumer> consumer;
  OpenBatch open;
  std::shared_ptr<OpenBatch> in_flight_job;  // the batch the writing thread is committing
  std::shared_ptr<OpenBatch> spare;          // the last one committed, emptied for reuse
  std::future<void> in_flight;
  Counters stats;
  std::size_t dlq_limit = runtime::kNoDlqLimit;  // from the broker, in Prepare
  bool abandoned = false;  // Run failed: revoke and loss no longer write (consuming thread)
  runtime::TroubleMemory trouble;  // when the broker was last unreachable (consuming thread)
  std::atomic<bool> broker_ok{true};  // the last lag query reached the broker (for /readyz)
  std::chrono::steady_clock::time_point last_probe{};  // the last BrokerReachable round trip

  ~Impl() {
    // Before any member goes: the consumer's close runs the revoke callback, which must find
    // the batches and the writing thread it touches still alive.
    if (!abandoned) Abandon();
  }
};

PgSink::PgSink(PgSinkOptions options, runtime::SchemaSource& schemas, obs::Logger log,
               core::ShutdownToken shutdown, obs::StandardMetrics* metrics)
    : impl_(std::make_unique<Impl>(*this, std::move(options), schemas, std::move(log),
                                   std::move(shutdown), metrics)) {}

PgSink::~PgSink() = default;

void PgSink::Prepare() { impl_->Prepare(); }
void PgSink::Run() { impl_->Run(); }
bool PgSink::DatabaseReachable() const { return impl_->conn.Ping(); }
bool PgSink::BrokerReachable() const { return impl_->broker_ok.load(); }
PgSinkStats PgSink::Stats() const {
  const auto& c = impl_->stats;
  return {c.batches.load(), c.records_in.load(), c.rows_written.load(), c.records_dlq.load(),
          c.columns_added.load(), c.pg_reconnects.load(), c.rebuilds.load()};
}

}  // namespace sluice::pg_sink
