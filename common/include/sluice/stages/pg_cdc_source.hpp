#pragma once
// The postgres_cdc source type's settings and its pure logic: the replication protocol's
// framing (XLogData, keepalives, standby status updates), pgoutput v1 messages decoded from
// bytes, LSNs, a change mapped onto the raw schema, and the position a source commits. No I/O:
// the producer's plug-in (producer::PgCdcSource) owns the replication connection and feeds
// the bytes through here. Design and guarantees: services/producer/README.md, "postgres_cdc".
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/config/spec.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/stages/component.hpp"
#include "sluice/stages/csv_source.hpp"
#include "sluice/stages/pg_source.hpp"
#include "sluice/stages/outcome.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::stages {

enum class CdcDeletes { kTombstone, kEvent };
enum class CdcSnapshot { kInitial, kNever };

// Options of one postgres_cdc source (the pipeline file's producer.sources[i]).
struct PgCdcSourceSettings : SourceSettings {
  std::vector<std::string> tables;  // "table" (schema public) or "schema.table"
  std::string slot;                 // logical replication slot (created when missing)
  std::string publication;          // publication FOR TABLE <tables> (created when missing)
  CdcDeletes deletes = CdcDeletes::kEvent;
  CdcSnapshot snapshot = CdcSnapshot::kInitial;
  core::Duration status_interval{10'000};  // standby status updates at least this often
  std::int64_t snapshot_fetch = 1000;      // rows per FETCH while snapshotting
};

// The postgres_cdc type of SourceTypes(): its declaration, examples and factory.
void DeclarePgCdcSource(config::Section& cdc);
const std::vector<std::string>& PgCdcSourceExamples();
std::shared_ptr<SourceSettings> MakePgCdcSource(const ComponentInput& in, const RecordSpec& raw,
                                                const config::View& id);

// Meta fields filled when the raw schema declares them (all optional).
inline constexpr const char* kCdcOpField = "_op";        // c, u, d, r (snapshot read)
inline constexpr const char* kCdcLsnField = "_lsn";      // long, or string "X/Y"
inline constexpr const char* kCdcTableField = "_table";  // "schema.table"

// ---- LSNs ---------------------------------------------------------------------------------

using Lsn = std::uint64_t;
std::string FormatLsn(Lsn lsn);                       // "16/B374D848"
std::optional<Lsn> ParseLsn(std::string_view text);   // the same, nullopt when malformed

// ---- The replication stream's CopyData messages ------------------------------------------

struct XLogData {
  Lsn start = 0, end = 0;
  std::int64_t send_time = 0;  // µs since 2000-01-01
  std::string_view data;       // one pgoutput message (points into the input)
};
struct PrimaryKeepalive {
  Lsn wal_end = 0;
  std::int64_t send_time = 0;
  bool reply_requested = false;
};
struct ReplicationMessage {
  enum class Kind { kXLogData, kKeepalive } kind = Kind::kXLogData;
  XLogData xlog;
  PrimaryKeepalive keepalive;
};
// nullopt + *why for an unknown or short message.
std::optional<ReplicationMessage> DecodeReplicationMessage(std::string_view bytes, std::string* why);
// A Standby Status Update ('r'): written, flushed and applied LSNs, the clock in µs since
// 2000-01-01.
std::string EncodeStandbyStatus(Lsn write, Lsn flush, Lsn apply, std::int64_t now_us, bool reply);
// Microseconds since 2000-01-01 (PostgreSQL's epoch) from Unix milliseconds, and back.
std::int64_t PgEpochMicros(std::int64_t unix_ms);
std::int64_t UnixMillis(std::int64_t pg_micros);

// ---- pgoutput v1 -----------------------------------------------------------------------------

struct PgRelColumn {
  bool key = false;  // part of the replica identity
  std::string name;
  std::uint32_t type_oid = 0;
  std::int32_t type_mod = -1;
};
struct PgRelation {
  std::uint32_t oid = 0;
  std::string schema, name;
  char replica_identity = 'd';  // d default, n nothing, f full, i index
  std::vector<PgRelColumn> columns;
  std::string Display() const { return schema + "." + name; }
};
struct PgDatum {
  char kind = 'n';   // n null, u unchanged TOASTed value (not sent), t text, b binary
  std::string data;  // t, b
};
using PgTuple = std::vector<PgDatum>;

enum class PgOutputKind { kBegin, kCommit, kOrigin, kRelation, kType, kInsert, kUpdate, kDelete, kTruncate, kMessage };

struct PgOutputMessage {
  PgOutputKind kind = PgOutputKind::kBegin;
  Lsn lsn = 0;             // Begin: the commit's LSN (final_lsn); Commit: commit LSN; Origin: origin LSN
  Lsn end_lsn = 0;         // Commit: the end of the transaction
  std::int64_t time = 0;   // Begin, Commit: commit time, µs since 2000-01-01
  std::uint32_t xid = 0;   // Begin
  std::string name;        // Origin: origin name; Type: type name; Message: prefix
  PgRelation relation;     // Relation
  std::uint32_t relation_oid = 0;  // Type: the type's oid; Insert, Update, Delete
  char old_kind = 0;       // Update, Delete: 'K' old key, 'O' old row, 0 none
  PgTuple old_tuple, new_tuple;
  std::vector<std::uint32_t> truncated;  // Truncate: relation oids
  std::uint8_t flags = 0;                // Truncate: 1 CASCADE, 2 RESTART IDENTITY
};
// Decodes one pgoutput (proto_version 1) message. nullopt + *why when malformed (a short
// buffer, an unknown message type, an unknown tuple kind): a protocol error, not a bad row.
std::optional<PgOutputMessage> DecodePgOutput(std::string_view bytes, std::string* why);

// ---- A change onto the raw schema ----------------------------------------------------------

enum class CdcOp { kCreate, kUpdate, kDelete, kRead };
char CdcOpLetter(CdcOp op);  // c u d r

// What one change became: a row (or a tombstone for the key), or a reject (pg_change).
struct CdcRow {
  Outcome outcome;
  Row row;                 // emit: the raw row; a tombstone: the key columns only
  bool tombstone = false;  // deletes: tombstone
  std::string original;    // the change as JSON text (the DLQ value)
};

// Maps changes of the source's tables onto the raw schema: each raw field from the column of
// the same name (text format converted to the field's type), the meta fields, nulls where a
// nullable field has no column. Columns the schema does not name are ignored.
class PgChangeMapper {
 public:
  PgChangeMapper(CdcDeletes deletes, RecordSpec raw);
  // `values`: a column name -> datum for each column of the relation. For kDelete: the old
  // key (or old row); other fields null when nullable.
  CdcRow Map(const PgRelation& rel, const PgTuple& tuple, CdcOp op, Lsn lsn,
             const PgTuple* old_tuple = nullptr) const;
  // A snapshot row: column names and their text (nullopt = SQL NULL).
  CdcRow MapSnapshot(const std::string& table, const std::vector<std::string>& columns,
                     const std::vector<std::optional<std::string>>& values, Lsn lsn) const;
  const RecordSpec& raw() const { return raw_; }

 private:
  struct Cell {
    const std::string* column;
    std::optional<std::string> text;  // nullopt = null
    bool unchanged = false;           // 'u'
  };
  CdcRow Build(const std::string& table, const std::vector<Cell>& cells, CdcOp op, Lsn lsn) const;

  CdcDeletes deletes_;
  RecordSpec raw_;
};


// ---- The position --------------------------------------------------------------------------

// Where a postgres_cdc source is: committed in the same Kafka transaction as its records.
struct PgCdcPosition {
  bool snapshot_done = false;  // the initial snapshot was written whole (or snapshot: never)
  Lsn lsn = 0;                 // end LSN of the last transaction written whole (consistent point after the snapshot)
  Lsn txn = 0;                 // a transaction written in part: its commit LSN (Begin's final_lsn); 0 = none
  std::int64_t index = 0;      // changes of `txn` already written
  std::int64_t changes = 0;    // informational: changes and snapshot rows so far
  // While snapshotting (!snapshot_done): the table being read (index in `tables`) and its
  // rows already written. Meaningful only to the process holding the snapshot: a new process
  // restarts the snapshot (README, "postgres_cdc").
  std::int64_t table = 0;
  std::int64_t rows = 0;
};
std::string EncodePgCdcPosition(const PgCdcPosition& p);
std::optional<PgCdcPosition> DecodePgCdcPosition(const std::string& text, std::string* why);

// "schema.table" or "table" (schema public) split; nullopt when empty or more than one dot
// (quoted names with dots are not supported).
std::optional<std::pair<std::string, std::string>> SplitTableName(const std::string& name);
// A slot or publication name PostgreSQL accepts unquoted: [a-z0-9_], 1-63 characters.
bool ValidReplicationName(const std::string& name);

}  // namespace sluice::stages
