#include "pg_sink.hpp"

#include <atomic>
#include <functional>
#include <limits>
#include <utility>

#include <pqxx/pqxx>

#include "sluice/core/error.hpp"
#include "sluice/core/file.hpp"
#include "sluice/pg/batch_writer.hpp"
#include "sluice/pg/flat_row_text.hpp"
#include "sluice/pg/offset_store.hpp"
#include "sluice/pg/row_batch.hpp"
#include "sluice/registry/wire_format.hpp"
#include "sluice/runtime/dlq.hpp"
#include "sluice/runtime/sink_loop.hpp"
#include "sluice/runtime/stage.hpp"
#include "sluice/stages/dlq_code.hpp"

namespace sluice::pg_sink {

namespace {

const std::string kStageName(config::IdentityOf(config::Stage::kPgSink).dlq_stage);
constexpr const char* kHeaderSqlState = "sluice-dlq-sqlstate";


}  // namespace

PgSinkOptions SinkOptionsFromConfig(const pipeline::PipelineConfig& config) {
  PgSinkOptions o;
  const config::View sink =
      config.SectionView(std::string(config::IdentityOf(config::Stage::kPgSink).section));
  const pipeline::Topics& topics = config.TopicNames();
  o.topic = topics.enriched;
  o.dlq_topic = topics.dlq;
  o.group_id = config.ConsumerGroup(config::Stage::kPgSink);
  o.group_instance_id = config.GroupInstanceId(config::Stage::kPgSink);
  o.librdkafka = config.Librdkafka(config::Stage::kPgSink);
  o.table.schema = sink.String("schema");
  o.table.name = sink.String("table");
  o.key = sink.Strings("key");
  o.table_schema = config.LoadSchema("enriched");
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

RecordRouter::Routed RecordRouter::Route(std::string_view bytes) {
  routed_ = nullptr;
  Routed v;
  if (bytes.size() > max_record_bytes_) {
    v.outcome = stages::Outcome::Reject(
        stages::DlqCode::kTooLarge, "record of " + std::to_string(bytes.size()) +
                                        " bytes is larger than max_record_bytes (" +
                                        std::to_string(max_record_bytes_) + "); not decoded");
    return v;
  }
  runtime::SerdeResult<std::int32_t> id = serde_.DecodeFlat(bytes, flat_);
  std::string why;
  if (id) {
    if (const KnownWriter* w = Known(*id.value, &why)) {
      v.writer_id = *id.value;
      if (!w->adopted) {
        v.new_columns = true;
        return v;
      }
      routed_ = w;
      return v;
    }
  } else if (auto frame = registry::ParseFrame(bytes)) {
    // Not decodable as a flat row: a known writer that cannot be a table row is "unwritable"
    // (the README's table), anything else stays "undecodable".
    Known(frame->id.value, &why);
  }
  if (!why.empty()) {
    v.outcome = stages::Outcome::Reject(stages::DlqCode::kUnwritable, std::move(why));
  } else {
    v.outcome = stages::Outcome::Reject(
        stages::DlqCode::kUndecodable,
        id ? "writer schema " + std::to_string(*id.value) + " is unknown" : id.error);
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

// ---------------------------------------------------------------------------------------
// PgWriter: the sink loop's plug-in for one PostgreSQL table

namespace {

// One batch's rows, in the table's columns as they were when the batch began. Keys are hashed
// as rows are added (on the consuming thread, while the writer works), for BatchWriter's "all
// keys new?" check.
struct PgRows final : runtime::SinkRows {
  PgRows(std::vector<std::string> columns, const std::vector<std::string>& key)
      : rows(std::move(columns)), key(key) {
    rows.HashKeys(key);
  }
  void Clear() override { rows.Clear(); }
  void Keep(const std::vector<std::size_t>& kept) override {
    pg::RowBatch only(rows.columns());
    only.HashKeys(key);
    for (std::size_t i : kept) only.AppendRows(rows, i, i + 1);
    rows = std::move(only);
  }
  pg::RowBatch rows;
  std::vector<std::string> key;
};

}  // namespace

class PgWriter final : public runtime::SinkWriter {
 public:
  PgWriter(const PgSinkOptions& o, runtime::SchemaSource& schemas, obs::Logger l,
           core::ShutdownToken t)
      : options(o), log(std::move(l)), shutdown(std::move(t)), conn(MakeConnectionOptions()),
        columns(options.table, options.key, options.table_schema),
        writer(pg::BatchWriterOptions{options.table, options.key}),
        offsets(options.offsets_table),
        router(columns, schemas, options.max_record_bytes, options.add_columns) {}

  void Prepare() override {
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
      const std::string sql = core::ReadTextFile(path, "sink.views file");
      conn.Run([&](pqxx::connection& c) {
        pqxx::work tx(c);
        tx.exec(sql);
        tx.commit();
      });
      log.Info("applied views", {{"file", path.string()}});
    }
  }

  std::map<std::int32_t, std::int64_t> LoadOffsets(
      const std::string& topic, const std::vector<std::int32_t>& partitions) override {
    return conn.Run([&](pqxx::connection& c) {
      pqxx::work tx(c);
      auto r = offsets.Load(tx, options.group_id, topic, partitions);
      tx.commit();
      return r;
    });
  }

  std::unique_ptr<runtime::SinkRows> NewRows() override {
    return std::make_unique<PgRows>(columns.Columns(), options.key);
  }
  bool Fits(const runtime::SinkRows& rows) const override {
    return static_cast<const PgRows&>(rows).rows.columns() == columns.Columns();
  }

  // A writer that brings new fields evolves the table first, after the open batch is written
  // with the old columns.
  stages::Outcome Judge(std::string_view bytes, const std::function<void()>& flush) override {
    RecordRouter::Routed v = router.Route(bytes);
    while (v.new_columns) {
      const SinkColumns::Writer& w = router.WriterOf(v.writer_id);
      flush();
      pg::TableChanges ch = conn.Run([&](pqxx::connection& c) {
        pqxx::work tx(c);
        pg::TableChanges r = pg::AddMissingColumns(tx, w.spec);
        tx.commit();
        return r;
      });
      router.AdoptColumns(v.writer_id);
      columns_added += ch.added.size();
      log.Info("schema evolved: columns added",
               {{"writer_id", v.writer_id}, {"added", ch.added},
                {"relaxed_not_null", ch.relaxed_not_null}, {"type_mismatches", ch.type_mismatches}});
      v = router.Route(bytes);
    }
    return std::move(v.outcome);
  }

  void AppendJudged(runtime::SinkRows& rows) override {
    router.AppendRoutedRow(static_cast<PgRows&>(rows).rows);
  }

  std::size_t Write(const runtime::SinkRows& rows, const std::vector<runtime::SinkOffset>& to_save,
                    const runtime::SinkDeadLetter& dead_letter) override {
    const pg::RowBatch& batch = static_cast<const PgRows&>(rows).rows;
    std::vector<pg::PartitionOffset> saved;
    for (const runtime::SinkOffset& o : to_save) saved.push_back({o.partition, o.next_offset});
    const std::uint64_t reconnects_before = conn.Reconnects();
    pg::WriteResult result = conn.Run([&](pqxx::connection& c) {
      pqxx::work tx(c);
      pg::WriteResult r = writer.Write(tx, batch);
      std::vector<runtime::SinkRejection> refused;
      for (const pg::RejectedRow& bad : r.rejected) {
        refused.push_back({bad.index,
                           stages::Outcome::Reject(stages::DlqCode::kPgRejected,
                                                   "SQLSTATE " + bad.sqlstate + ": " + bad.message),
                           {{kHeaderSqlState, bad.sqlstate}}});
      }
      dead_letter(refused);  // before the commit that advances the offsets
      offsets.Save(tx, options.group_id, options.topic, saved);
      tx.commit();
      return r;
    });
    pg_reconnects += conn.Reconnects() - reconnects_before;
    return batch.size() - result.rejected.size();
  }

  bool Reachable() const { return conn.Ping(); }

  std::atomic<std::uint64_t> columns_added{0}, pg_reconnects{0};

 private:
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

  const PgSinkOptions& options;
  obs::Logger log;
  core::ShutdownToken shutdown;
  mutable pg::Connection conn;
  SinkColumns columns;
  pg::BatchWriter writer;
  pg::OffsetStore offsets;
  RecordRouter router;
};

// ---------------------------------------------------------------------------------------
// PgSink

namespace {

runtime::SinkLoopOptions LoopOptions(const PgSinkOptions& o) {
  runtime::SinkLoopOptions l;
  l.stage_name = kStageName;
  l.target = "postgresql";
  l.topic = o.topic;
  l.dlq_topic = o.dlq_topic;
  l.group_id = o.group_id;
  l.group_instance_id = o.group_instance_id;
  l.librdkafka = o.librdkafka;
  l.batch_size = o.batch_size;
  l.linger = o.linger;
  l.partitions = o.partitions;
  l.replication = o.replication;
  l.topic_configs = o.topic_configs;
  l.create_topics = o.create_topics;
  l.commit_to_kafka = o.commit_to_kafka;
  l.kafka_timeout = o.kafka_timeout;
  l.retry = o.retry;
  return l;
}

}  // namespace

struct PgSink::Impl {
  Impl(PgSinkOptions o, runtime::SchemaSource& schemas, obs::Logger log,
       core::ShutdownToken shutdown, obs::StandardMetrics* metrics)
      : options(std::move(o)), writer(options, schemas, log, shutdown),
        loop(LoopOptions(options), writer, shutdown, log, metrics) {}
  PgSinkOptions options;
  PgWriter writer;
  runtime::SinkLoop loop;  // after the writer: it is destroyed first
};

PgSink::PgSink(PgSinkOptions options, runtime::SchemaSource& schemas, obs::Logger log,
               core::ShutdownToken shutdown, obs::StandardMetrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(options), schemas, std::move(log),
                                   std::move(shutdown), metrics)) {}

PgSink::~PgSink() = default;

void PgSink::Prepare() { impl_->loop.Prepare(); }
void PgSink::Run() { impl_->loop.Run(); }
bool PgSink::DatabaseReachable() const { return impl_->writer.Reachable(); }
bool PgSink::BrokerReachable() const { return impl_->loop.BrokerReachable(); }
bool PgSink::Assigned() const { return impl_->loop.Assigned(); }
PgSinkStats PgSink::Stats() const {
  const runtime::SinkLoopStats s = impl_->loop.Stats();
  return {s.batches,  s.records_in, s.rows_written, s.records_dlq,
          impl_->writer.columns_added.load(), impl_->writer.pg_reconnects.load(), s.rebuilds};
}

}  // namespace sluice::pg_sink
