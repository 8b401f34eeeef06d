#include "pg_cdc_source.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "provenance.hpp"
#include "sluice/core/error.hpp"
#include "sluice/pg/connection.hpp"
#include "sluice/pg/pg_error.hpp"
#include "sluice/pg/sqlstate.hpp"
#include "sluice/stages/dlq_code.hpp"

namespace sluice::producer {
namespace {

constexpr const char* kPositionKey = "stream";
constexpr const char* kCursor = "sluice_cdc_snapshot";

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

std::string Trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

// One libpq connection; closed by its destructor.
struct PgCdcSource::Conn {
  PGconn* pg = nullptr;
  ~Conn() {
    if (pg) PQfinish(pg);
  }
  bool Healthy() const { return pg && PQstatus(pg) == CONNECTION_OK; }
  std::string Ident(const std::string& name) const {
    char* q = PQescapeIdentifier(pg, name.c_str(), name.size());
    std::string out = q ? q : "\"" + name + "\"";
    PQfreemem(q);
    return out;
  }
  std::string Literal(const std::string& value) const {
    char* q = PQescapeLiteral(pg, value.c_str(), value.size());
    std::string out = q ? q : "''";
    PQfreemem(q);
    return out;
  }
};

PgCdcSource::PgCdcSource(PgCdcSourceOptions options, obs::Logger log)
    : opt_(std::move(options)), log_(std::move(log)), mapper_(opt_.settings.deletes, opt_.raw) {
  if (opt_.conninfo.empty()) opt_.conninfo = pg::ConninfoFromEnv();
}

PgCdcSource::~PgCdcSource() = default;

void PgCdcSource::Fail(const std::string& what, bool retryable) const {
  if (!retryable) throw core::ConfigError("source " + Name() + ": " + what);
  throw core::InfraError("source " + Name() + ": " + what, core::Retry::kYes);
}

namespace {

// Connects; a failure that retrying cannot fix (password, missing database) is a
// configuration error, anything else (refused, starting up) an outage.
std::unique_ptr<PGconn, void (*)(PGconn*)> OpenPg(const std::string& conninfo, bool replication,
                                                 const std::string& app, std::string* error, bool* retryable) {
  const char* keys[] = {"dbname", "replication", "application_name", "connect_timeout", nullptr};
  const char* values[] = {conninfo.empty() ? nullptr : conninfo.c_str(), replication ? "database" : nullptr,
                          app.c_str(), "10", nullptr};
  // A null value ends nothing here: libpq skips null values and reads the PG* variables.
  std::unique_ptr<PGconn, void (*)(PGconn*)> c(PQconnectdbParams(keys, values, 1), PQfinish);
  if (!c || PQstatus(c.get()) != CONNECTION_OK) {
    *error = Trimmed(c ? PQerrorMessage(c.get()) : "out of memory");
    *retryable = pg::DescribeConnectFailure(*error).cls == pg::SqlStateClass::kRetryable;
    return std::unique_ptr<PGconn, void (*)(PGconn*)>(nullptr, PQfinish);
  }
  return c;
}

}  // namespace

namespace {

// Runs one statement; throws through fail() unless its status is `want`. 55006 (a slot in use
// by another process, e.g. the walsender of a killed producer not yet gone) is retryable.
// An error with SQLSTATE `ignored` counts as success.
template <typename FailFn>
Result Exec(PGconn* pg, const std::string& sql, ExecStatusType want, const std::string& what, FailFn fail,
            const char* ignored = nullptr) {
  Result r(PQexec(pg, sql.c_str()));
  if (r && PQresultStatus(r.get()) == want) return r;
  const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state ? state : "";
  if (ignored != nullptr && sqlstate == ignored) return r;
  const std::string message = Trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(pg));
  const bool lost = PQstatus(pg) != CONNECTION_OK || sqlstate.empty() || sqlstate.rfind("08", 0) == 0;
  const bool retryable = lost || sqlstate == "55006" || pg::Classify(sqlstate) == pg::SqlStateClass::kRetryable;
  fail(what + ": " + (message.empty() ? std::string("no result") : message) +
           (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")"),
       retryable);
  return nullptr;
}

}  // namespace

void PgCdcSource::Disconnect() {
  repl_.reset();
  streaming_ = false;
  in_txn_ = false;
  skip_txn_ = false;
  relations_.clear();
}

void PgCdcSource::Restore(const std::map<std::string, std::string>& committed) {
  stages::PgCdcPosition fresh;
  committed_ = fresh;
  if (const auto it = committed.find(kPositionKey); it != committed.end()) {
    std::string why;
    if (auto p = stages::DecodePgCdcPosition(it->second, &why)) {
      committed_ = *p;
    } else {
      log_.Warn("ignoring a malformed position record; starting afresh", {{"source", Name()}, {"error", why}});
    }
  }
  Disconnect();
  prepared_ = false;
  // The snapshot survives an aborted batch when its transaction does: read on from the
  // committed row of the same snapshot.
  if (snap_ && cursor_open_) {
    Result r(PQexec(snap_->pg, (std::string("CLOSE ") + kCursor).c_str()));
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) snap_.reset();
  }
  cursor_open_ = false;
  const bool same_snapshot = snap_ && snap_->Healthy() && PQtransactionStatus(snap_->pg) == PQTRANS_INTRANS &&
                             !committed_.snapshot_done && committed_.lsn == consistent_point_;
  if (!same_snapshot) snap_.reset();
  pos_ = committed_;
  caught_up_ = false;
  if (committed_.lsn != 0 || committed_.snapshot_done) {
    log_.Info("resuming", {{"source", Name()}, {"snapshot_done", committed_.snapshot_done},
                           {"lsn", stages::FormatLsn(committed_.lsn)}, {"txn", stages::FormatLsn(committed_.txn)},
                           {"index", committed_.index}, {"table", committed_.table}, {"rows", committed_.rows}});
  }
}

void PgCdcSource::PrepareServer() {
  const auto& s = opt_.settings;
  std::string error;
  bool retryable = true;
  auto pg = OpenPg(opt_.conninfo, false, "sluice-" + Name(), &error, &retryable);
  if (!pg) Fail("cannot connect to PostgreSQL: " + error, retryable);
  Conn c;
  c.pg = pg.release();
  auto fail = [this](const std::string& w, bool r) { Fail(w, r); };
  prepared_ = true;

  // The publication: created FOR TABLE <tables> when missing, missing tables added.
  std::string list;
  for (const auto& t : s.tables) {
    const auto [schema, name] = *stages::SplitTableName(t);
    if (!list.empty()) list += ", ";
    list += c.Ident(schema) + "." + c.Ident(name);
  }
  Result pub = Exec(c.pg, "SELECT 1 FROM pg_publication WHERE pubname = " + c.Literal(s.publication), PGRES_TUPLES_OK,
                    "looking up the publication", fail);
  if (PQntuples(pub.get()) == 0) {
    // 42710: another process created it meanwhile.
    Exec(c.pg, "CREATE PUBLICATION " + c.Ident(s.publication) + " FOR TABLE " + list, PGRES_COMMAND_OK,
         "creating publication " + s.publication, fail, "42710");
    log_.Info("publication created", {{"source", Name()}, {"publication", s.publication}, {"tables", list}});
  } else {
    for (const auto& t : s.tables) {
      const auto [schema, name] = *stages::SplitTableName(t);
      Result in = Exec(c.pg,
                       "SELECT 1 FROM pg_publication_tables WHERE pubname = " + c.Literal(s.publication) +
                           " AND schemaname = " + c.Literal(schema) + " AND tablename = " + c.Literal(name),
                       PGRES_TUPLES_OK, "reading the publication's tables", fail);
      if (PQntuples(in.get()) == 0) {
        Exec(c.pg, "ALTER PUBLICATION " + c.Ident(s.publication) + " ADD TABLE " + c.Ident(schema) + "." + c.Ident(name),
             PGRES_COMMAND_OK, "adding " + t + " to publication " + s.publication, fail);
        log_.Info("table added to the publication", {{"source", Name()}, {"publication", s.publication}, {"table", t}});
      }
    }
  }

  Result slot = Exec(c.pg,
                     "SELECT plugin, database = current_database() FROM pg_replication_slots WHERE slot_name = " +
                         c.Literal(s.slot),
                     PGRES_TUPLES_OK, "looking up the replication slot", fail);
  const bool slot_exists = PQntuples(slot.get()) == 1;
  if (slot_exists && (std::string(PQgetvalue(slot.get(), 0, 0)) != "pgoutput" || std::string(PQgetvalue(slot.get(), 0, 1)) != "t")) {
    Fail("replication slot " + s.slot + " exists with another plugin or in another database: choose another slot name", false);
  }
  if (!pos_.snapshot_done && s.snapshot == stages::CdcSnapshot::kInitial) {
    if (snap_) return;  // the same snapshot, after an aborted batch
    StartSnapshot();
    return;
  }
  if (!slot_exists) {
    if (pos_.lsn != 0) {
      Fail("replication slot " + s.slot + " is gone (dropped by hand?): the changes after " + stages::FormatLsn(pos_.lsn) +
               " cannot be read any more. To start over with a new snapshot, delete this source's position "
               "(services/producer/README.md, postgres_cdc, \"Slot hygiene\")",
           false);
    }
    std::string err;
    bool retry = true;
    auto rpg = OpenPg(opt_.conninfo, true, "sluice-" + Name(), &err, &retry);
    if (!rpg) Fail("cannot open a replication connection: " + err, retry);
    Conn rc;
    rc.pg = rpg.release();
    Result made = Exec(rc.pg, "CREATE_REPLICATION_SLOT " + rc.Ident(s.slot) + " LOGICAL pgoutput NOEXPORT_SNAPSHOT",
                       PGRES_TUPLES_OK, "creating replication slot " + s.slot, fail);
    log_.Info("replication slot created", {{"source", Name()}, {"slot", s.slot}, {"consistent_point", PQgetvalue(made.get(), 0, 1)}});
  }
  pos_.snapshot_done = true;  // snapshot: never
}

void PgCdcSource::StartSnapshot() {
  const auto& s = opt_.settings;
  auto fail = [this](const std::string& w, bool r) { Fail(w, r); };
  Disconnect();
  snap_.reset();
  std::string error;
  bool retryable = true;
  auto rpg = OpenPg(opt_.conninfo, true, "sluice-" + Name(), &error, &retryable);
  if (!rpg) Fail("cannot open a replication connection: " + error, retryable);
  repl_ = std::make_unique<Conn>();
  repl_->pg = rpg.release();
  // A slot left by an earlier, unfinished snapshot: its snapshot is gone, so start over.
  Result exists = Exec(repl_->pg, "SELECT 1 FROM pg_replication_slots WHERE slot_name = " + repl_->Literal(s.slot),
                       PGRES_TUPLES_OK, "looking up the replication slot", fail);
  if (PQntuples(exists.get()) == 1) {
    Exec(repl_->pg, "DROP_REPLICATION_SLOT " + repl_->Ident(s.slot), PGRES_COMMAND_OK,
         "dropping replication slot " + s.slot + " to snapshot again", fail);
    log_.Warn("replication slot dropped: the snapshot starts over (rows already written are written again)",
              {{"source", Name()}, {"slot", s.slot}});
  }
  // The snapshot rows' source time: the server's clock before the slot exists, so that every
  // change streamed after them (committed after the consistent point) has a later commit time
  // and the sink's version guard never prefers a snapshot row over a newer change.
  Result clock = Exec(repl_->pg, "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint", PGRES_TUPLES_OK,
                      "reading the server's clock", fail);
  snapshot_time_ms_ = std::stoll(PQgetvalue(clock.get(), 0, 0));
  Result made = Exec(repl_->pg, "CREATE_REPLICATION_SLOT " + repl_->Ident(s.slot) + " LOGICAL pgoutput EXPORT_SNAPSHOT",
                     PGRES_TUPLES_OK, "creating replication slot " + s.slot, fail);
  const auto point = stages::ParseLsn(PQgetvalue(made.get(), 0, 1));
  const std::string snapshot_name = PQgetvalue(made.get(), 0, 2);
  if (!point) Fail("CREATE_REPLICATION_SLOT answered no consistent point");
  // Import the snapshot while the replication connection holds it.
  auto spg = OpenPg(opt_.conninfo, false, "sluice-" + Name() + "-snapshot", &error, &retryable);
  if (!spg) Fail("cannot connect to PostgreSQL: " + error, retryable);
  snap_ = std::make_unique<Conn>();
  snap_->pg = spg.release();
  Exec(snap_->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, "starting the snapshot", fail);
  Exec(snap_->pg, "SET TRANSACTION SNAPSHOT " + snap_->Literal(snapshot_name), PGRES_COMMAND_OK, "importing the snapshot", fail);
  // The same order on every read of a table in this snapshot (re-reads after an abort skip rows).
  Exec(snap_->pg, "SET LOCAL synchronize_seqscans = off", PGRES_COMMAND_OK, "starting the snapshot", fail);
  Disconnect();  // the imported snapshot lives in snap_'s transaction
  consistent_point_ = *point;
  pos_ = stages::PgCdcPosition{};
  pos_.lsn = *point;
  pos_.changes = committed_.changes;
  cursor_open_ = false;
  ++counters_.snapshots;
  log_.Info("snapshot started", {{"source", Name()}, {"slot", s.slot}, {"consistent_point", stages::FormatLsn(*point)},
                                 {"tables", static_cast<std::int64_t>(s.tables.size())}});
}

void PgCdcSource::OpenSnapshotCursor() {
  auto fail = [this](const std::string& w, bool r) { Fail(w, r); };
  const std::string& table = opt_.settings.tables[static_cast<std::size_t>(pos_.table)];
  const auto [schema, name] = *stages::SplitTableName(table);
  Exec(snap_->pg,
       std::string("DECLARE ") + kCursor + " NO SCROLL CURSOR FOR SELECT * FROM " + snap_->Ident(schema) + "." + snap_->Ident(name),
       PGRES_COMMAND_OK, "reading " + table + " in the snapshot", fail);
  if (pos_.rows > 0) {
    Exec(snap_->pg, "MOVE FORWARD " + std::to_string(pos_.rows) + " IN " + kCursor, PGRES_COMMAND_OK,
         "skipping the rows of " + table + " already written", fail);
  }
  cursor_open_ = true;
}

runtime::PollStatus PgCdcSource::PollSnapshot(runtime::SourceBatch& batch, std::size_t max) {
  auto fail = [this](const std::string& w, bool r) { Fail(w, r); };
  const auto& tables = opt_.settings.tables;
  if (static_cast<std::size_t>(pos_.table) >= tables.size()) {
    // The snapshot's transaction ends once this position is committed (Committed()): an
    // aborted batch still reads on in it.
    pos_.snapshot_done = true;
    pos_.lsn = consistent_point_;
    pos_.table = pos_.rows = 0;
    log_.Info("snapshot read; streaming changes from its consistent point",
              {{"source", Name()}, {"lsn", stages::FormatLsn(pos_.lsn)}, {"rows", counters_.snapshot_rows}});
    batch.positions[kPositionKey] = stages::EncodePgCdcPosition(pos_);
    return runtime::PollStatus::kBatch;
  }
  if (!cursor_open_) OpenSnapshotCursor();
  const std::string& table = tables[static_cast<std::size_t>(pos_.table)];
  const auto [schema, name] = *stages::SplitTableName(table);
  const std::string display = schema + "." + name;
  const std::size_t want = std::min<std::size_t>(max, static_cast<std::size_t>(opt_.settings.snapshot_fetch));
  Result rows = Exec(snap_->pg, "FETCH " + std::to_string(want) + " FROM " + kCursor, PGRES_TUPLES_OK,
                     "reading " + table + " in the snapshot", fail);
  const int n = PQntuples(rows.get()), cols = PQnfields(rows.get());
  std::vector<std::string> columns;
  for (int j = 0; j < cols; ++j) columns.emplace_back(PQfname(rows.get(), j));
  std::vector<std::optional<std::string>> values(static_cast<std::size_t>(cols));
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < cols; ++j) {
      values[static_cast<std::size_t>(j)] =
          PQgetisnull(rows.get(), i, j) ? std::nullopt
                                        : std::optional<std::string>(std::string(PQgetvalue(rows.get(), i, j),
                                                                                 static_cast<std::size_t>(PQgetlength(rows.get(), i, j))));
    }
    AddChange(batch, mapper_.MapSnapshot(display, columns, values, consistent_point_), display, "r");
    ++pos_.rows;
    ++pos_.changes;
    ++counters_.snapshot_rows;
  }
  if (static_cast<std::size_t>(n) < want) {
    Exec(snap_->pg, std::string("CLOSE ") + kCursor, PGRES_COMMAND_OK, "reading " + table + " in the snapshot", fail);
    cursor_open_ = false;
    log_.Info("snapshot of a table read", {{"source", Name()}, {"table", display}, {"rows", pos_.rows}});
    ++pos_.table;
    pos_.rows = 0;
  }
  batch.positions[kPositionKey] = stages::EncodePgCdcPosition(pos_);
  return runtime::PollStatus::kBatch;
}

void PgCdcSource::StartStreaming() {
  const auto& s = opt_.settings;
  auto fail = [this](const std::string& w, bool r) { Fail(w, r); };
  Disconnect();
  std::string error;
  bool retryable = true;
  auto rpg = OpenPg(opt_.conninfo, true, "sluice-" + Name(), &error, &retryable);
  if (!rpg) Fail("cannot open a replication connection: " + error, retryable);
  repl_ = std::make_unique<Conn>();
  repl_->pg = rpg.release();
  const std::string sql = "START_REPLICATION SLOT " + repl_->Ident(s.slot) + " LOGICAL " + stages::FormatLsn(pos_.lsn) +
                          " (proto_version '1', publication_names " + repl_->Literal(repl_->Ident(s.publication)) + ")";
  Exec(repl_->pg, sql, PGRES_COPY_BOTH, "starting replication from slot " + s.slot, fail);
  streaming_ = true;
  in_txn_ = false;
  last_status_ = Clock::now();
  ++counters_.connects;
  log_.Info("streaming changes", {{"source", Name()}, {"slot", s.slot}, {"publication", s.publication},
                                  {"from", stages::FormatLsn(pos_.lsn)}});
}

runtime::SourceItem PgCdcSource::Provenance(const std::string& table, std::int64_t source_ms) const {
  runtime::SourceItem item;
  runtime::Record& r = item.record;
  r.origin.kind = runtime::Origin::Kind::kPostgres;
  r.origin.file = Name() + ":" + table;
  r.source_time = runtime::SourceTime(std::chrono::milliseconds(source_ms));
  r.headers = {{runtime::kHeaderOrigin, r.origin.ToString()},
               {runtime::kHeaderSourceTs, std::to_string(source_ms)},
               {kHeaderSourceName, Name()},
               {kHeaderSourceTable, table}};
  return item;
}

void PgCdcSource::AddChange(runtime::SourceBatch& batch, stages::CdcRow row, const std::string& table, const char* op) {
  runtime::SourceItem item = Provenance(table, pos_.snapshot_done ? txn_time_ms_ : snapshot_time_ms_);
  item.record.headers.push_back({kHeaderSourceOp, op});
  if (row.outcome.IsEmit()) {
    item.record.key = KeyOf(row.row, opt_.key_fields);
    item.tombstone = row.tombstone;
    item.record.value = std::move(row.row);
  } else {
    item.record.value = row.original;
    item.outcome = std::move(row.outcome);
    log_.Warn("change dead-lettered", {{"source", Name()}, {"table", table}, {"reason", item.outcome.DlqReason()}});
  }
  item.record.original = std::move(row.original);
  batch.items.push_back(std::move(item));
}

void PgCdcSource::Handle(const stages::PgOutputMessage& m, runtime::SourceBatch& batch) {
  using K = stages::PgOutputKind;
  switch (m.kind) {
    case K::kRelation: relations_[m.relation.oid] = m.relation; return;
    case K::kBegin:
      in_txn_ = true;
      txn_lsn_ = m.lsn;
      txn_index_ = 0;
      txn_time_ms_ = stages::UnixMillis(m.time);
      // Committed before the position: written already (the server re-sends from the slot's
      // acknowledged LSN, which may lag the position).
      skip_txn_ = m.lsn < pos_.lsn;
      return;
    case K::kCommit:
      if (!skip_txn_) {
        pos_.lsn = std::max(pos_.lsn, m.end_lsn);
        pos_.txn = 0;
        pos_.index = 0;
      } else {
        ++counters_.skipped;
      }
      in_txn_ = false;
      skip_txn_ = false;
      return;
    case K::kOrigin:
    case K::kType:
    case K::kMessage: return;
    case K::kInsert:
    case K::kUpdate:
    case K::kDelete:
    case K::kTruncate: break;
  }
  if (!in_txn_) Fail("protocol: a change outside a transaction");
  ++txn_index_;
  if (skip_txn_ || (txn_lsn_ == pos_.txn && txn_index_ <= pos_.index)) return;
  pos_.txn = txn_lsn_;
  pos_.index = txn_index_;
  ++pos_.changes;
  ++counters_.changes;
  auto ours = [&](const stages::PgRelation& rel) {
    for (const auto& t : opt_.settings.tables) {
      const auto [schema, name] = *stages::SplitTableName(t);
      if (schema == rel.schema && name == rel.name) return true;
    }
    return false;
  };
  if (m.kind == K::kTruncate) {
    for (std::uint32_t oid : m.truncated) {
      const auto it = relations_.find(oid);
      if (it == relations_.end() || !ours(it->second)) continue;
      stages::CdcRow row;
      row.original = nlohmann::json({{"table", it->second.Display()}, {"op", "truncate"}, {"lsn", stages::FormatLsn(txn_lsn_)}}).dump();
      row.outcome = stages::Outcome::Reject(stages::DlqCode::kPgChange,
                                            "TRUNCATE of " + it->second.Display() + " (commit " + stages::FormatLsn(txn_lsn_) +
                                                "): not replicated; the rows stay downstream until deleted there");
      AddChange(batch, std::move(row), it->second.Display(), "t");
    }
    return;
  }
  const auto it = relations_.find(m.relation_oid);
  if (it == relations_.end()) Fail("protocol: a change of relation " + std::to_string(m.relation_oid) + " before its Relation message");
  const stages::PgRelation& rel = it->second;
  if (!ours(rel)) return;
  const std::string table = rel.Display();
  if (m.kind == K::kInsert) {
    AddChange(batch, mapper_.Map(rel, m.new_tuple, stages::CdcOp::kCreate, txn_lsn_), table, "c");
  } else if (m.kind == K::kDelete) {
    AddChange(batch, mapper_.Map(rel, m.old_tuple, stages::CdcOp::kDelete, txn_lsn_), table, "d");
  } else {
    // An update that changed the replica identity (the key): a delete of the old key, then
    // the new row, as Debezium does.
    bool key_changed = false;
    if (m.old_kind != 0) {
      for (std::size_t i = 0; i < rel.columns.size() && i < m.old_tuple.size() && i < m.new_tuple.size(); ++i) {
        if (!rel.columns[i].key || m.old_tuple[i].kind == 'u' || m.new_tuple[i].kind == 'u') continue;
        if (m.old_tuple[i].kind != m.new_tuple[i].kind || m.old_tuple[i].data != m.new_tuple[i].data) key_changed = true;
      }
    }
    if (key_changed) {
      AddChange(batch, mapper_.Map(rel, m.old_tuple, stages::CdcOp::kDelete, txn_lsn_), table, "d");
      AddChange(batch, mapper_.Map(rel, m.new_tuple, stages::CdcOp::kCreate, txn_lsn_), table, "c");
    } else {
      AddChange(batch, mapper_.Map(rel, m.new_tuple, stages::CdcOp::kUpdate, txn_lsn_, m.old_kind == 'O' ? &m.old_tuple : nullptr),
                table, "u");
    }
  }
}

void PgCdcSource::SendStatus(bool force) {
  if (!streaming_ || !repl_) return;
  const auto now = Clock::now();
  if (!force && now - last_status_ < opt_.settings.status_interval) return;
  const stages::Lsn flush = std::max(committed_.lsn, idle_ack_);
  const std::string msg = stages::EncodeStandbyStatus(flush, flush, flush, stages::PgEpochMicros(NowMs()), false);
  if (PQputCopyData(repl_->pg, msg.data(), static_cast<int>(msg.size())) != 1 || PQflush(repl_->pg) != 0) {
    Fail("sending a standby status update: " + Trimmed(PQerrorMessage(repl_->pg)));
  }
  last_status_ = now;
  ++counters_.acks;
  counters_.acked = flush;
}

runtime::PollStatus PgCdcSource::PollStream(runtime::SourceBatch& batch, std::size_t max) {
  const stages::PgCdcPosition before = pos_;
  bool waited = false;
  while (batch.items.size() < max) {
    char* buf = nullptr;
    const int n = PQgetCopyData(repl_->pg, &buf, 1);
    if (n == 0) {
      if (!batch.items.empty() || waited) break;
      // Nothing buffered: wait a little for the socket, once.
      pollfd p{PQsocket(repl_->pg), POLLIN, 0};
      ::poll(&p, 1, 100);
      waited = true;
      if (PQconsumeInput(repl_->pg) == 0) Fail("the replication connection broke: " + Trimmed(PQerrorMessage(repl_->pg)));
      continue;
    }
    if (n == -1) Fail("the server ended the replication stream");
    if (n < 0) Fail("the replication connection broke: " + Trimmed(PQerrorMessage(repl_->pg)));
    const std::string bytes(buf, static_cast<std::size_t>(n));
    PQfreemem(buf);
    std::string why;
    const auto msg = stages::DecodeReplicationMessage(bytes, &why);
    if (!msg) Fail("protocol: " + why);
    if (msg->kind == stages::ReplicationMessage::Kind::kKeepalive) {
      // Everything the server sent before this keepalive was read; when all of it is
      // committed too, the slot may move up to the keepalive's WAL end (no change of ours lies
      // before it), so idle sources do not hold WAL back.
      if (!in_txn_ && batch.items.empty() && pos_.txn == 0 && pos_.lsn == committed_.lsn && before.lsn == pos_.lsn) {
        idle_ack_ = std::max(idle_ack_, msg->keepalive.wal_end);
        caught_up_ = true;
      }
      if (msg->keepalive.reply_requested) SendStatus(true);
      continue;
    }
    const auto m = stages::DecodePgOutput(msg->xlog.data, &why);
    if (!m) Fail("protocol: " + why + " at " + stages::FormatLsn(msg->xlog.start));
    Handle(*m, batch);
  }
  SendStatus(false);
  const bool moved = pos_.lsn != before.lsn || pos_.txn != before.txn || pos_.index != before.index;
  if (batch.items.empty() && !moved) {
    if (opt_.once && caught_up_) return runtime::PollStatus::kFinished;
    return runtime::PollStatus::kIdle;
  }
  batch.positions[kPositionKey] = stages::EncodePgCdcPosition(pos_);
  return runtime::PollStatus::kBatch;
}

runtime::PollStatus PgCdcSource::Poll(runtime::SourceBatch& batch, std::size_t max) {
  if (!pos_.snapshot_done && !snap_) PrepareServer();
  if (!pos_.snapshot_done) return PollSnapshot(batch, max);
  if (!streaming_) {
    if (!prepared_) PrepareServer();
    StartStreaming();
  }
  return PollStream(batch, max);
}

void PgCdcSource::Committed() {
  committed_ = pos_;
  if (committed_.snapshot_done && snap_) snap_.reset();
  if (!streaming_) return;
  try {
    SendStatus(true);
  } catch (const core::InfraError& e) {
    // Acknowledged with the next status update after reconnecting.
    log_.Warn("could not acknowledge the slot; reconnecting", {{"source", Name()}, {"error", e.what()}});
    Disconnect();
  }
}

}  // namespace sluice::producer
